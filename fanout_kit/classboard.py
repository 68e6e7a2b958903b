"""The instructor's class board: every seat by every exercise, passed / tried / not started.

``board = await fanout_kit.class_board(nc)``, with ``nc`` connected with the instructor's
environment from ``seats.json``, shows a table that updates live as attendees run their
checks. Data flows one way: check results arrive on ``classroom.progress.<seat>`` (the
classroom's imports put the seat's name in the subject) -> :class:`ClassModel` (pure, no I/O)
-> an HTML view, redrawn at most :data:`REFRESH` times a second by one task on the kernel's
loop. It reads the instructor's ``CLASSROOM`` stream from the start, so a board opened late
(or after a kernel restart) shows everything so far, and the roster, so seats that have not
started yet are listed too.

Readable in light and dark JupyterLab themes: translucent fills under the theme's own text
colours, and every state has its own mark (✓ passed, ✗ tried, · not started, in the page and in the
text), so colour is never the only signal. ``repr(board)`` is the same table as text.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from nats.js.errors import NotFoundError

from .classroom import CLASSROOM_STREAM, PROGRESS_SUBJECT, ROSTER_SUBJECT
from .errors import KitTypeError
from .progress import EXERCISES, Exercise
from .validate import describe

__all__ = ["REFRESH", "ClassBoard", "ClassModel", "class_board"]

BOLD = "font-weight:bold;"
REFRESH = 4.0
"""Redraws per second at most: results arrive in bursts when a class runs a check together."""

State = Literal["passed", "tried", "not started"]
_MARKS: dict[State, str] = {"passed": "✓", "tried": "✗", "not started": "·"}
#: In the HTML view: plain text marks every font has (emoji fonts are not everywhere).
_HTML_MARKS: dict[State, str] = {"passed": "✓", "tried": "✗", "not started": "·"}


@dataclass
class _Cell:
    passed: bool = False
    wrong: int = 0

    @property
    def state(self) -> State:
        return "passed" if self.passed else "tried" if self.wrong else "not started"


@dataclass
class ClassModel:
    """Seats by exercises, from check-result records. Pure: no NATS, no drawing."""

    seats: list[str] = field(default_factory=list)
    exercises: tuple[Exercise, ...] = EXERCISES
    cells: dict[tuple[str, str], _Cell] = field(default_factory=dict)
    version: int = 0  # bumped on every change, so the view redraws only when needed

    def set_roster(self, seats: Iterable[str]) -> None:
        for seat in seats:
            self._seat(seat)

    def _seat(self, seat: str) -> None:
        if seat not in self.seats:
            self.seats.append(seat)
            self.seats.sort()
            self.version += 1

    def apply(self, seat: str, record: dict[str, Any]) -> bool:
        """Take one result record (``{"exercise", "status", ...}``) from ``seat``; False if
        it is not one the board knows (another kit version's exercise, a foreign message)."""
        key, status = record.get("exercise"), record.get("status")
        if not any(ex.key == key for ex in self.exercises) or not isinstance(status, str):
            return False
        self._seat(seat)
        cell = self.cells.setdefault((seat, str(key)), _Cell())
        if status == "correct":
            cell.passed = True
        elif status == "wrong":
            cell.wrong += 1
        else:
            return False  # "not attempted": the stub ran, nothing tried yet
        self.version += 1
        return True

    def state(self, seat: str, key: str) -> State:
        cell = self.cells.get((seat, key))
        return cell.state if cell else "not started"

    def totals(self, seat: str) -> tuple[int, int]:
        """(passed, tried) exercises for ``seat``."""
        states = [self.state(seat, ex.key) for ex in self.exercises]
        return states.count("passed"), states.count("tried")

    def text(self) -> str:
        """The board as a text table (lesson numbers across, seats down)."""
        width = max([len(s) for s in self.seats] + [4])
        head = " ".join(ex.lesson for ex in self.exercises)
        lines = [f"{'seat':<{width}}  {head}  passed"]
        for seat in self.seats:
            row = " ".join(f"{_MARKS[self.state(seat, ex.key)]:<2}" for ex in self.exercises)
            passed, _ = self.totals(seat)
            lines.append(f"{seat:<{width}}  {row}  {passed}/{len(self.exercises)}")
        if not self.seats:
            lines.append("(no seats yet)")
        lines.append("✓ passed  ✗ tried, not passed yet  · not started")
        return "\n".join(lines)

    def html(self) -> str:
        """The board as an HTML table styled with JupyterLab's theme variables."""
        # Translucent fills read on light and dark themes alike, under the theme's own text.
        cells = {
            "passed": "background:rgba(46,160,67,0.28)",
            "tried": "background:rgba(218,54,51,0.25)",
            "not started": "color:var(--jp-ui-font-color2,#757575)",
        }
        th = "padding:2px 6px;border-bottom:1px solid var(--jp-border-color1,#999);"
        head = "".join(
            f'<th style="{th}" title="{html.escape(ex.title)}">{ex.lesson}</th>'
            for ex in self.exercises
        )
        rows = []
        for seat in self.seats:
            tds = []
            for ex in self.exercises:
                state = self.state(seat, ex.key)
                cell = self.cells.get((seat, ex.key))
                tip = f"{ex.lesson} {ex.title}: {state}"
                if cell and cell.wrong:
                    tip += f" ({cell.wrong} wrong)"
                tds.append(
                    f'<td style="text-align:center;padding:2px 6px;{BOLD}{cells[state]}" '
                    f'title="{html.escape(tip)}">{_HTML_MARKS[state]}</td>'
                )
            passed, tried = self.totals(seat)
            rows.append(
                f'<tr><th style="text-align:left;padding:2px 6px">{html.escape(seat)}</th>'
                + "".join(tds)
                + f'<td style="padding:2px 8px">{passed}/{len(self.exercises)}'
                + (f" ({tried} tried)" if tried else "")
                + "</td></tr>"
            )
        if not rows:
            rows.append(f'<tr><td colspan="{len(self.exercises) + 2}">No seats yet.</td></tr>')
        return (
            '<div class="fanout-kit-class-board" style="color:var(--jp-ui-font-color1);'
            'font-family:var(--jp-ui-font-family);font-size:var(--jp-ui-font-size1,13px)">'
            '<table style="border-collapse:collapse">'
            f'<thead><tr><th style="{th}text-align:left">seat</th>{head}'
            f'<th style="{th}">passed</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>"
            '<div style="margin-top:4px;color:var(--jp-ui-font-color2)">✓ passed · ✗ tried, '
            "not passed yet · <b>·</b> not started · hover a cell for the exercise</div></div>"
        )


class ClassBoard:
    """A live class board: ``model`` (the data), ``widget`` (an ipywidgets HTML view, made
    when ipywidgets is there), ``await stop()`` to stop listening. Shown by Jupyter as the
    widget; ``repr()`` is the text table."""

    def __init__(self, nc: Client, model: ClassModel | None = None) -> None:
        self.nc = nc
        self.model = model or ClassModel()
        self.widget: Any = None
        self._drawn = -1
        self._sub: Any = None
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return self.model.text()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        if self.widget is None:
            return {"text/plain": self.model.text(), "text/html": self.model.html()}
        bundle: dict[str, Any] = self.widget._repr_mimebundle_(**kwargs) or {}
        bundle["text/plain"] = self.model.text()
        return bundle

    async def _on_message(self, msg: Msg) -> None:
        seat = msg.subject[len(PROGRESS_SUBJECT) + 1 :]
        with contextlib.suppress(ValueError, AttributeError):
            record = json.loads(msg.data)
            if seat and isinstance(record, dict):
                self.model.apply(seat, record)

    def redraw(self) -> None:
        """Send the table to the view if it changed since the last send."""
        if self.widget is not None and self._drawn != self.model.version:
            self._drawn = self.model.version
            self.widget.value = self.model.html()

    async def _draw_loop(self) -> None:
        while True:
            self.redraw()
            await asyncio.sleep(1 / REFRESH)

    async def start(self) -> ClassBoard:
        js = self.nc.jetstream()
        with contextlib.suppress(NotFoundError):
            roster = await js.get_last_msg(CLASSROOM_STREAM, ROSTER_SUBJECT)
            self.model.set_roster(json.loads(roster.data or b"{}").get("seats", []))
        subject = f"{PROGRESS_SUBJECT}.>"
        try:
            self._sub = await js.subscribe(
                subject,
                stream=CLASSROOM_STREAM,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.ALL,
                cb=self._on_message,
            )
        except NotFoundError:  # no CLASSROOM stream: live results only, from now on
            self._sub = await self.nc.subscribe(subject, cb=self._on_message)
        try:
            import ipywidgets

            self.widget = ipywidgets.HTML(value=self.model.html())
        except ImportError:
            self.widget = None
        self._task = asyncio.get_running_loop().create_task(self._draw_loop())
        return self

    async def stop(self) -> None:
        """Stop listening and drawing (the last state stays on screen)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
        self.redraw()


async def class_board(nc: Client) -> ClassBoard:
    """The live class board, on ``nc`` connected with the instructor's environment.

    ``board = await fanout_kit.class_board(nc)`` then ``board`` in a cell shows it; it keeps
    updating while the kernel runs. ``await board.stop()`` stops it.
    """
    if not isinstance(nc, Client):
        raise KitTypeError(
            f"nc={describe(nc)} is a {type(nc).__name__}; it must be a connected nats-py "
            "client. Fix: e.g. nc = await fanout_kit.connect() with the instructor's "
            "environment from seats.json, then class_board(nc).",
            param="nc",
        )
    return await ClassBoard(nc).start()
