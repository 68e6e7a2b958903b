"""The board's widget: an anywidget view the browser draws, its controls, and its recordings.

Data flows one way: the board's view (:mod:`fanout_kit.view`) turns the model into a *frame*, a
small JSON-able dict; :meth:`BoardWidget.draw` sends it (the board's loop calls it at most ten
times a second) and records it in a bounded ring. The browser side (``static/board.js``) draws
the frame, sizes itself to the output area and reports back how many message cells fit per
lane (:attr:`BoardWidget.capacity`), slides the cursor marks, keeps its own history for the
time-travel slider, and speaks a short summary to screen readers.

Frame schema (``v`` 1; the board's view builds it, ``board.js`` draws it)::

    {"v": 1, "stream": "EVENTS", "t": 12.3,
     "status": {"connection": "connected", "board": "live", "mode": "detail",
                "banners": ["..."]},
     "head": {"first": 1, "last": 53, "stored": 53, "api_calls": 12, "cluster": None},
     "lo": 1, "hi": 53, "stream_lane": "ssss...",
     "lanes": [{"name": "analytics", "filters": ["events.order.>"], "note": None,
                "cells": "AAAI...", "marks": [[13, 2]], "start": 1, "floor": 12,
                "cursor": 15, "focus": None, "numbers": {"Last Delivered": 15, ...},
                "lag": [0, 3, 7], "worker": "running",
                "paused_until": None}],   # or "2026-11-30T14:05:31.582Z": paused on the server
     "lag_max": 40, "hidden_lanes": 0, "summary": "...", "legend": [...]}

The legend (:func:`fanout_kit.palette.legend`) travels once, in its own trait; a frame that
carries one updates it.

The controls are plain ipywidgets under the board. They never talk to NATS: each calls the
:class:`BoardController` it was given (the :class:`~fanout_kit.board.Board`), then asks it for
a fresh frame so the effect shows within one frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import re
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any, Protocol

import anywidget
import ipywidgets as widgets
import traitlets

from . import palette
from .errors import KitTypeError, KitValueError
from .report import COLUMNS

__all__ = [
    "BoardController",
    "BoardControls",
    "BoardWidget",
    "ExportError",
    "ExportTypeError",
    "FrameRing",
    "WorkerControl",
    "player_html",
    "write_player",
]

STATIC = Path(__file__).resolve().parent / "static"

Frame = dict[str, Any]
"""One frame: plain JSON-able data (schema in the module docstring)."""


def _static(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


class ExportError(KitValueError):
    """Recording or export was given something it cannot use (``export()`` a path it cannot
    write a player to); ``param`` names the parameter."""


class ExportTypeError(ExportError, KitTypeError):
    """An export parameter of the wrong type (also a ``TypeError``)."""


# --------------------------------------------------------------------------- recording


class FrameRing:
    """The frames a board drew, oldest first, bounded by count and by approximate size.

    The size is estimated from the cell strings (what grows with lanes and window), so
    recording costs no JSON encoding on the board's drawing path.
    """

    def __init__(self, max_frames: int = 600, max_bytes: int = 32_000_000) -> None:
        if max_frames < 1:
            raise ExportError(
                f"max_frames must be at least 1, got {max_frames!r}", param="max_frames"
            )
        if max_bytes < 1:
            raise ExportError(f"max_bytes must be at least 1, got {max_bytes!r}", param="max_bytes")
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self._frames: deque[tuple[Frame, int]] = deque()
        self._bytes = 0
        self.dropped = 0
        """Frames dropped from the front to stay within the bounds."""

    @staticmethod
    def size_of(frame: Frame) -> int:
        """An estimate of ``frame``'s JSON size in bytes (cells plus ~300 bytes a lane)."""
        lanes = frame.get("lanes") or []
        size = 400 + len(frame.get("stream_lane") or "")
        for lane in lanes:
            focus = lane.get("focus") or {}
            size += 300 + len(lane.get("cells") or "") + len(focus.get("cells") or "")
            size += 12 * (len(lane.get("marks") or []) + len(lane.get("lag") or []))
            size += sum(len(f) + 4 for f in lane.get("filters") or [])
        return size

    def append(self, frame: Frame) -> None:
        size = self.size_of(frame)
        self._frames.append((frame, size))
        self._bytes += size
        while len(self._frames) > 1 and (
            len(self._frames) > self.max_frames or self._bytes > self.max_bytes
        ):
            _, old = self._frames.popleft()
            self._bytes -= old
            self.dropped += 1

    def frames(self) -> list[Frame]:
        return [f for f, _ in self._frames]

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def approx_bytes(self) -> int:
        return self._bytes


# --------------------------------------------------------------------------- the view


class BoardWidget(anywidget.AnyWidget):
    """The board as the browser draws it. Set frames with :meth:`draw`; read
    :attr:`capacity` (message cells that fit per lane, reported by the browser; 0 until a
    browser has shown the widget)."""

    _esm = _static("board.js")
    _css = _static("board.css")

    frame = traitlets.Dict().tag(sync=True)
    """The frame on screen (the newest one drawn)."""
    legend: traitlets.List[dict[str, str]] = traitlets.List().tag(sync=True)
    """The legend, from :func:`fanout_kit.palette.legend` unless a frame brought one."""
    columns: traitlets.List[str] = traitlets.List(list(COLUMNS)).tag(sync=True)
    """The numbers table's columns, the CLI's names (:data:`fanout_kit.report.COLUMNS`)."""
    capacity = traitlets.Int(0).tag(sync=True)
    """Message cells that fit in one lane after the name column (set by the browser)."""
    history_limit = traitlets.Int(600).tag(sync=True)
    """How many received frames the browser keeps for its time-travel slider."""

    def __init__(
        self, *, history_limit: int = 600, ring: FrameRing | None = None, **kwargs: Any
    ) -> None:
        if history_limit < 1:
            raise ExportError(
                f"history_limit must be at least 1 frame, got {history_limit!r}",
                param="history_limit",
            )
        super().__init__(legend=palette.legend(), history_limit=history_limit, **kwargs)
        self.ring = ring if ring is not None else FrameRing(max_frames=max(history_limit, 1))
        self.sends = 0
        """Frames sent to the browser."""

    def __repr__(self) -> str:
        return f"BoardWidget(frames={len(self.ring)}, capacity={self.capacity})"

    def draw(self, frame: Frame) -> None:
        """Send ``frame`` to the browser (one state message) and record it for export."""
        legend = frame.get("legend")
        if legend is not None:
            frame = {k: v for k, v in frame.items() if k != "legend"}
            if legend != self.legend:
                self.legend = list(legend)
        self.ring.append(frame)
        with self.hold_sync():
            self.frame = frame
        self.sends += 1

    def export(self, path: str | PathLike[str], *, title: str | None = None) -> Path:
        """Write the recorded frames as one self-contained HTML player; returns its path."""
        return write_player(path, self.ring.frames(), self.legend, title=title)


# --------------------------------------------------------------------------- export


_MARKERS = re.compile(r"__FK_TITLE__|/\*__FK_CSS__\*/|__FK_DATA__|/\*__FK_JS__\*/")


def player_html(
    frames: Sequence[Frame], legend: Sequence[Mapping[str, Any]], *, title: str | None = None
) -> str:
    """One HTML page that replays ``frames`` with a slider: board.js and board.css inlined,
    the frames embedded as JSON, nothing loaded from the network."""
    if not frames:
        raise ExportError(
            "frames is empty: the board has drawn nothing to export yet", param="frames"
        )
    stream = str(frames[-1].get("stream", "board"))
    name = title or f"fanout-kit board: {stream}"
    data = json.dumps(
        {"frames": list(frames), "legend": list(legend), "columns": list(COLUMNS)},
        separators=(",", ":"),
    ).replace("<", "\\u003c")
    esm = _static("board.js")
    if "</script" in esm.lower():
        raise RuntimeError("board.js must not contain '</script' (it is inlined)")
    parts = {
        "__FK_TITLE__": html.escape(name),
        "/*__FK_CSS__*/": _static("board.css"),
        "__FK_DATA__": data,
        "/*__FK_JS__*/": esm,
    }
    # One pass, so text inside one part (a banner, a name) is never taken for a marker.
    return _MARKERS.sub(lambda m: parts[m.group(0)], _static("player.html"))


def write_player(
    path: str | PathLike[str],
    frames: Sequence[Frame],
    legend: Sequence[Mapping[str, Any]] | None = None,
    *,
    title: str | None = None,
) -> Path:
    """Write :func:`player_html` to ``path`` (which must end in ``.html``); returns it."""
    if not isinstance(path, (str, PathLike)):
        raise ExportTypeError(
            f"path must be a file name like 'board.html', got {path!r}", param="path"
        )
    target = Path(path)
    if target.suffix.lower() not in (".html", ".htm"):
        raise ExportError(
            f"path must end in .html (one self-contained page), got {str(path)!r}", param="path"
        )
    if not target.parent.is_dir():
        raise ExportError(
            f"path {str(path)!r}: folder {str(target.parent)!r} does not exist", param="path"
        )
    page = player_html(frames, legend if legend is not None else palette.legend(), title=title)
    target.write_text(page, encoding="utf-8")
    return target


# --------------------------------------------------------------------------- controls


class WorkerControl(Protocol):
    """What the controls need from a worker (:class:`fanout_kit.workers.Worker` fits)."""

    @property
    def active(self) -> bool: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def nak_next(self, n: int = 1) -> None: ...

    async def crash(self, after: int | None = None) -> None: ...


class BoardController(Protocol):
    """What the controls call (the :class:`~fanout_kit.board.Board` provides it)."""

    @property
    def consumers(self) -> list[str]: ...

    @property
    def workers(self) -> Mapping[str, WorkerControl]: ...

    async def attach_worker(self, consumer: str) -> WorkerControl: ...

    async def publish(self, n: int) -> object: ...

    async def settle(self) -> object: ...

    def redraw(self) -> None:
        """Draw a frame now (a control's effect shows within one frame)."""


class BoardControls:
    """The ipywidgets under the board: events count, Publish, consumer (one selected by
    default), Start / resume worker, Pause worker, Crash worker, Nak next, Settle, and a
    status line that says what happened. Every control is a real button, select or input:
    reachable by Tab, named for screen readers, with a visible focus ring (board.css)."""

    BUTTONS = (
        "Publish",
        "Start / resume worker",
        "Pause worker",
        "Crash worker",
        "Nak next",
        "Settle",
    )

    def __init__(self, controller: BoardController) -> None:
        self.controller = controller
        self._tasks: set[asyncio.Task[None]] = set()
        self.count = widgets.BoundedIntText(
            value=10,
            min=1,
            max=100_000,
            description="events",
            tooltip="How many demo events Publish sends",
            layout=widgets.Layout(width="150px"),
        )
        self.consumer = widgets.Dropdown(
            options=[],
            description="consumer",
            tooltip="The consumer the worker buttons act on",
            layout=widgets.Layout(width="auto"),
        )
        self.status = widgets.HTML(value=self._status_html(""))
        handlers: dict[str, Callable[[], None]] = {
            "Publish": self._publish,
            "Start / resume worker": self._resume,
            "Pause worker": self._pause,
            "Crash worker": self._crash,
            "Nak next": self._nak,
            "Settle": self._settle,
        }
        self.buttons: dict[str, widgets.Button] = {}
        row: list[widgets.Widget] = [self.count]
        for label in self.BUTTONS:
            button = widgets.Button(
                description=label, tooltip=label, layout=widgets.Layout(width="auto")
            )
            button.on_click(lambda _b, go=handlers[label]: go())
            self.buttons[label] = button
            row.append(button)
            if label == "Publish":
                row.append(self.consumer)
        self.box = widgets.HBox(
            [*row, self.status],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center", margin="4px 0 0 0"),
        )
        self.box.add_class("fk-controls")
        self.sync_consumers(controller.consumers)

    # --- state ---------------------------------------------------------------------------
    @staticmethod
    def _status_html(text: str) -> str:
        return (
            f'<span class="fk-status" role="status" aria-live="polite">{html.escape(text)}</span>'
        )

    def say(self, text: str) -> None:
        """Show ``text`` in the status line."""
        self.status.value = self._status_html(text)

    @property
    def status_text(self) -> str:
        value = str(self.status.value)
        inner = value.split(">", 1)[1].rsplit("<", 1)[0] if ">" in value else value
        return html.unescape(inner)

    def sync_consumers(self, names: Iterable[str]) -> None:
        """Offer ``names``; keep the selection if it is still there, else select the first."""
        options = list(names)
        if options == list(self.consumer.options):
            return
        keep = self.consumer.value
        self.consumer.options = options
        self.consumer.value = keep if keep in options else (options[0] if options else None)

    async def close(self) -> None:
        """Cancel control actions still running (the board calls this when it closes)."""
        tasks, self._tasks = list(self._tasks), set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # --- actions -------------------------------------------------------------------------
    def _run(self, coro: Awaitable[object], done: str) -> None:
        async def go() -> None:
            try:
                await coro
                self.say(done)
            except Exception as exc:  # shown to the learner, not raised into the void
                self.say(f"{type(exc).__name__}: {exc}")
            self._redraw()

        task = asyncio.get_running_loop().create_task(go(), name="fanout-kit-board-control")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _redraw(self) -> None:
        with contextlib.suppress(Exception):
            self.controller.redraw()

    def _selected(self) -> str | None:
        name = self.consumer.value
        if not name:
            self.say("no consumer selected")
            return None
        return str(name)

    def _worker(self) -> tuple[str, WorkerControl] | None:
        name = self._selected()
        if name is None:
            return None
        worker = self.controller.workers.get(name)
        if worker is None:
            self.say(f"no worker on {name}: press Start / resume worker")
            return None
        return name, worker

    def _publish(self) -> None:
        n = int(self.count.value)
        self._run(self.controller.publish(n), f"published {n}")

    def _resume(self) -> None:
        name = self._selected()
        if name is None:
            return
        worker = self.controller.workers.get(name)
        if worker is not None and worker.active:
            worker.resume()
            self.say(f"{name}: resumed")
            self._redraw()
        else:
            self._run(self.controller.attach_worker(name), f"{name}: worker started")

    def _pause(self) -> None:
        if (found := self._worker()) is not None:
            name, worker = found
            worker.pause()
            self.say(f"{name}: paused")
            self._redraw()

    def _crash(self) -> None:
        if (found := self._worker()) is not None:
            name, worker = found
            self._run(worker.crash(), f"{name}: crashed, its unacked messages wait")

    def _nak(self) -> None:
        if (found := self._worker()) is not None:
            name, worker = found
            worker.nak_next()
            self.say(f"{name}: will nak the next message")
            self._redraw()

    def _settle(self) -> None:
        self._run(self.controller.settle(), "settled: the numbers equal the server's")


def board_box(view: BoardWidget, controls: BoardControls | None) -> widgets.VBox:
    """The board as a cell shows it: the drawing, then the controls (if any) under it."""
    children: list[widgets.Widget] = [view]
    if controls is not None:
        children.append(controls.box)
    box = widgets.VBox(children, layout=widgets.Layout(width="100%"))
    box.add_class("fk-board-box")
    return box
