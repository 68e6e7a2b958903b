"""Consumer numbers as a small table, under the names the `nats` CLI uses.

Lessons print this after waiting for a quiet state, so the saved output is deterministic.
It reads consumer info: the server's own numbers, one API call per consumer.

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

from collections.abc import Iterable
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo

__all__ = ["COLUMNS", "ConsumerTable", "consumer_numbers", "consumer_table"]

COLUMNS = (
    "Last Delivered",
    "Ack Floor",
    "Outstanding Acks",
    "Redelivered",
    "Unprocessed",
    "Waiting Pulls",
)


def consumer_numbers(info: ConsumerInfo) -> dict[str, int | str]:
    """One consumer's numbers keyed by the CLI's names (Outstanding Acks as ``x of max``)."""
    max_ack = info.config.max_ack_pending
    outstanding = f"{info.num_ack_pending} of {max_ack if max_ack and max_ack > 0 else 'unlimited'}"
    return {
        "Last Delivered": info.delivered.stream_seq if info.delivered else 0,
        "Ack Floor": info.ack_floor.stream_seq if info.ack_floor else 0,
        "Outstanding Acks": outstanding,
        "Redelivered": info.num_redelivered or 0,
        "Unprocessed": info.num_pending or 0,
        "Waiting Pulls": info.num_waiting or 0,
    }


@dataclass(frozen=True)
class ConsumerTable:
    """Rows of consumer numbers; its repr is a fixed-width text table."""

    stream: str
    rows: dict[str, dict[str, int | str]]

    def __repr__(self) -> str:
        names = list(self.rows)
        width = max([len("consumer"), *map(len, names)])
        cols = [max(len(c), *(len(str(r[c])) for r in self.rows.values())) for c in COLUMNS]
        head = (
            "consumer".ljust(width)
            + "  "
            + "  ".join(c.rjust(w) for c, w in zip(COLUMNS, cols, strict=True))
        )
        lines = [f"stream {self.stream}", head]
        for name in names:
            row = self.rows[name]
            lines.append(
                name.ljust(width)
                + "  "
                + "  ".join(str(row[c]).rjust(w) for c, w in zip(COLUMNS, cols, strict=True))
            )
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle: bool) -> None:  # type: ignore[no-untyped-def]
        p.text(repr(self))


async def consumer_table(
    js: JetStreamContext, stream: str, names: Iterable[str] | None = None
) -> ConsumerTable:
    """Read consumer info for ``names`` (default: every consumer of ``stream``, sorted).

    One API call per named consumer, or a single consumer-list call for all of them.
    """
    if names is None:  # one API call for all of them
        infos = {info.name: info for info in await js.consumers_info(stream)}
        return ConsumerTable(stream, {n: consumer_numbers(infos[n]) for n in sorted(infos)})
    rows = {name: consumer_numbers(await js.consumer_info(stream, name)) for name in names}
    return ConsumerTable(stream, rows)
