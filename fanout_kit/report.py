"""Consumer numbers under the names the `nats` CLI uses: one type for the report, the board's
model and its view, and a small table of them.

Lessons print :func:`consumer_table` after waiting for a quiet state, so the saved output is
deterministic; ``board.table()`` gives the same table from the board's model.

| name here          | consumer info field       | what it means
|--------------------|---------------------------|-------------------------------------------------
| Last Delivered     | delivered.stream_seq      | stream sequence of the newest message handed out
| Ack Floor          | ack_floor.stream_seq      | every message up to here is acked
| Outstanding Acks   | num_ack_pending / max     | delivered, not yet acked (in flight)
| Redelivered        | num_redelivered           | messages delivered more than once, not yet acked
| Unprocessed        | num_pending               | matching messages not yet delivered: the lag
| Waiting Pulls      | num_waiting               | fetch requests waiting at the server
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo
from nats.js.errors import NotFoundError

from .topology import TopologyError, consumers_of, validate_name
from .validate import bad_type, bad_value, check_js

__all__ = ["COLUMNS", "ConsumerNumbers", "ConsumerTable", "consumer_numbers", "consumer_table"]

COLUMNS = (
    "Last Delivered",
    "Ack Floor",
    "Outstanding Acks",
    "Redelivered",
    "Unprocessed",
    "Waiting Pulls",
)


@dataclass(frozen=True, slots=True)
class ConsumerNumbers:
    """One consumer's numbers as plain ints (stream sequences for the two cursors)."""

    last_delivered: int
    ack_floor: int
    outstanding: int
    max_ack_pending: int
    redelivered: int
    unprocessed: int
    waiting: int
    delivered_consumer_seq: int = 0
    ack_floor_consumer_seq: int = 0

    @classmethod
    def from_info(cls, info: ConsumerInfo | Mapping[str, Any]) -> ConsumerNumbers:
        """From nats-py's ``ConsumerInfo`` or the API's / ``/jsz``'s JSON for one consumer."""
        if isinstance(info, ConsumerInfo):
            d, f = info.delivered, info.ack_floor
            return cls(
                last_delivered=(d.stream_seq or 0) if d else 0,
                ack_floor=(f.stream_seq or 0) if f else 0,
                outstanding=info.num_ack_pending or 0,
                max_ack_pending=info.config.max_ack_pending or 0,
                redelivered=info.num_redelivered or 0,
                unprocessed=info.num_pending or 0,
                waiting=info.num_waiting or 0,
                delivered_consumer_seq=(d.consumer_seq or 0) if d else 0,
                ack_floor_consumer_seq=(f.consumer_seq or 0) if f else 0,
            )
        dd, ff = info.get("delivered") or {}, info.get("ack_floor") or {}
        return cls(
            last_delivered=int(dd.get("stream_seq", 0)),
            ack_floor=int(ff.get("stream_seq", 0)),
            outstanding=int(info.get("num_ack_pending", 0)),
            max_ack_pending=int((info.get("config") or {}).get("max_ack_pending", 0) or 0),
            redelivered=int(info.get("num_redelivered", 0)),
            unprocessed=int(info.get("num_pending", 0)),
            waiting=int(info.get("num_waiting", 0)),
            delivered_consumer_seq=int(dd.get("consumer_seq", 0)),
            ack_floor_consumer_seq=int(ff.get("consumer_seq", 0)),
        )

    @property
    def outstanding_text(self) -> str:
        """Outstanding Acks as the CLI shows it: ``1 of 1000`` (``of unlimited`` for -1)."""
        top = self.max_ack_pending
        return f"{self.outstanding} of {top if top > 0 else 'unlimited'}"

    def cli(self) -> dict[str, int | str]:
        """Keyed by :data:`COLUMNS` (Outstanding Acks as text: ``x of max``)."""
        return {
            "Last Delivered": self.last_delivered,
            "Ack Floor": self.ack_floor,
            "Outstanding Acks": self.outstanding_text,
            "Redelivered": self.redelivered,
            "Unprocessed": self.unprocessed,
            "Waiting Pulls": self.waiting,
        }

    def snapshot(self) -> dict[str, int]:
        """The keys of consumer info (``board.snapshot()``'s shape, which lessons read)."""
        return {
            "delivered": self.last_delivered,
            "ack_floor": self.ack_floor,
            "num_pending": self.unprocessed,
            "num_ack_pending": self.outstanding,
            "num_redelivered": self.redelivered,
            "num_waiting": self.waiting,
            "delivered_consumer_seq": self.delivered_consumer_seq,
            "ack_floor_consumer_seq": self.ack_floor_consumer_seq,
            "max_ack_pending": self.max_ack_pending,
        }


def consumer_numbers(info: ConsumerInfo) -> dict[str, int | str]:
    """One consumer's numbers keyed by the CLI's names (Outstanding Acks as ``x of max``)."""
    return ConsumerNumbers.from_info(info).cli()


@dataclass(frozen=True)
class ConsumerTable:
    """Rows of consumer numbers; its repr is a fixed-width text table (stable for nbval)."""

    stream: str
    rows: dict[str, dict[str, int | str]]

    @classmethod
    def of(cls, stream: str, numbers: Mapping[str, ConsumerNumbers]) -> ConsumerTable:
        return cls(stream, {name: n.cli() for name, n in numbers.items()})

    def relabel(self, labels: Mapping[str, str]) -> ConsumerTable:
        """The same numbers with some consumers shown under another name, rows sorted by the
        names shown: an ephemeral consumer's random name as ``"dashboard"``, say, so the text
        is the same on every run. ``labels`` maps names in the table to the names to show."""
        example = "{'QNksfI3K': 'dashboard'}"
        if not isinstance(labels, Mapping):
            fits = "a dict of {name in the table: name to show}"
            raise bad_type("labels", labels, fits, example)
        for name, label in labels.items():
            if name not in self.rows:
                fits = f"a dict with keys among the table's {list(self.rows)}"
                raise bad_value("labels", labels, fits, example)
            if not isinstance(label, str) or not label.strip():
                fits = "a dict of names to show as non-empty strings"
                raise bad_type("labels", labels, fits, example)
        shown = [labels.get(name, name) for name in self.rows]
        if len(set(shown)) != len(shown):
            fits = f"a dict of names that stay distinct, not {shown}"
            raise bad_value("labels", labels, fits, example)
        rows = {labels.get(name, name): row for name, row in self.rows.items()}
        return ConsumerTable(self.stream, {name: rows[name] for name in sorted(rows)})

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns shown: all of :data:`COLUMNS` unless :meth:`without` left some out."""
        if not self.rows:
            return COLUMNS
        return tuple(c for c in COLUMNS if any(c in row for row in self.rows.values()))

    def __repr__(self) -> str:
        names = list(self.rows)
        shown = self.columns
        width = max([len("consumer"), *map(len, names)])
        cols = [max([len(c), *(len(_cell(r[c])) for r in self.rows.values())]) for c in shown]
        titles = (c.rjust(w) for c, w in zip(shown, cols, strict=True))
        head = "consumer".ljust(width) + "  " + "  ".join(titles)
        lines = [f"stream {self.stream}", head]
        for name in names:
            row = self.rows[name]
            cells = (_cell(row[c]).rjust(w) for c, w in zip(shown, cols, strict=True))
            lines.append(name.ljust(width) + "  " + "  ".join(cells))
        if not names:
            lines.append("(no consumers)")
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))

    def _repr_html_(self) -> str:
        """The same table as HTML, as a notebook shows it: header cells (a screen reader reads
        "analytics, Ack Floor, 12") and each column name on two lines (``Last`` /
        ``Delivered``), as the board's own table, so it fits a narrow notebook (the text repr
        is about 100 characters wide)."""
        shown = self.columns
        pad = 'style="padding: 0.25em 0.35em"'  # JupyterLab's 0.5em all round: too wide at 1024
        name_style = 'style="padding: 0.25em 0.35em; text-align: left"'
        heads = "".join(
            f'<th scope="col" {pad}>{"<br>".join(map(html.escape, c.split(" ", 1)))}</th>'
            for c in shown
        )
        rows = [
            f'<tr><th scope="row" {name_style}>{html.escape(name)}</th>'
            + "".join(f"<td {pad}>{html.escape(_cell(row[c]))}</td>" for c in shown)
            + "</tr>"
            for name, row in self.rows.items()
        ]
        if not rows:
            rows.append(f'<tr><td colspan="{len(shown) + 1}">(no consumers)</td></tr>')
        return (
            f'<table class="fanout-kit-consumers">'
            f'<caption style="text-align: left">stream {html.escape(self.stream)}</caption>'
            f'<thead><tr><th scope="col" {name_style}>consumer</th>{heads}</tr>'
            f"</thead><tbody>{''.join(rows)}</tbody></table>"
        )

    def without(self, *columns: str) -> ConsumerTable:
        """The same table without some columns, e.g. ``board.table().without("Waiting
        Pulls")``: for a saved output that must not show a number that changes from moment
        to moment (a running service's parked pull comes and goes as its fetches expire)."""
        for column in columns:
            if column not in COLUMNS:
                raise bad_value(
                    "columns", column, f"a column name among {list(COLUMNS)}", "'Waiting Pulls'"
                )
        rows = {
            name: {c: v for c, v in row.items() if c not in columns}
            for name, row in self.rows.items()
        }
        return ConsumerTable(self.stream, rows)


def _cell(value: int | str) -> str:
    return str(value)


async def consumer_table(
    js: JetStreamContext, stream: str, names: Iterable[str] | None = None
) -> ConsumerTable:
    """Read consumer info for ``names`` (default: every consumer of ``stream``, sorted).

    One API call per named consumer, or one consumer-list call per 256 consumers for all of
    them. A missing stream or consumer is a :class:`~fanout_kit.topology.TopologyError`
    naming it.
    """
    check_js(js)
    validate_name(stream, "stream name")
    if isinstance(names, str):
        names = [names]
    if names is not None:
        names = list(names)
        for name in names:
            validate_name(name, "consumer name")
    try:
        if names is None:  # one API call for all of them (up to 256)
            infos = await consumers_of(js, stream)
            numbers = {n: ConsumerNumbers.from_info(infos[n]) for n in sorted(infos)}
        else:
            numbers = {
                n: ConsumerNumbers.from_info(await js.consumer_info(stream, n)) for n in names
            }
    except NotFoundError as exc:
        what = f"stream {stream!r}" if names is None else f"stream {stream!r} or a consumer of it"
        raise TopologyError(
            f"{what} does not exist on the server ({exc.description}). "
            "Fix: create it first (ensure_stream / ensure_consumer), or check the spelling.",
            field="stream" if names is None else "names",
        ) from None
    return ConsumerTable.of(stream, numbers)
