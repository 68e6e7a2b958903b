"""An independent oracle for the board's cells: what the server stores and what the clients did.

Nothing here uses the board's code: the server is read with plain nats-py calls (message gets,
consumer info), the clients' actions are recorded by the test as it makes them (:class:`Record`),
and the expected legend word for each (consumer, sequence) is worked out from those alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nats.js.errors import NotFoundError

REMOVED = "removed from the stream"
FILTERED = "not matching the filter"
BEFORE = "before this consumer's start"
UNDELIVERED = "not yet delivered"
IN_FLIGHT = "in flight"
REDELIVERED = "redelivered, in flight"
NAKED = "nak'd, waiting for redelivery"
ACKED = "acked"
DELIVERED = "delivered (no ack)"
TERMINATED = "terminated"
EXHAUSTED = "max deliveries reached"
UNKNOWN = "delivered before the board watched"
STORED = "stored"
LOST = "delivered to a client the test never saw it reach"
"""The server delivered it (it is at or below Last Delivered) but the test's client gave up
waiting before it arrived: outstanding, whatever the test recorded."""

OUTSTANDING = {IN_FLIGHT, REDELIVERED, NAKED}
FINISHED = {ACKED, TERMINATED}


def matches(subject: str, pattern: str) -> bool:
    st, pt = subject.split("."), pattern.split(".")
    for i, p in enumerate(pt):
        if p == ">":
            return len(st) > i
        if i >= len(st) or (p != "*" and p != st[i]):
            return False
    return len(st) == len(pt)


@dataclass
class Seen:
    """What the clients of one consumer did with one message."""

    deliveries: int = 0
    action: str | None = None  # "ack", "nak", "term" (the last one)


@dataclass
class Record:
    """Every delivery and ack the test's own clients made, by (consumer, stream sequence)."""

    seen: dict[tuple[str, int], Seen] = field(default_factory=dict)
    starts: dict[str, int] = field(default_factory=dict)
    """First sequence each consumer could deliver, as the test made it (default 1)."""
    exhausted: set[tuple[str, int]] = field(default_factory=set)

    def delivered(self, consumer: str, seq: int, count: int) -> None:
        s = self.seen.setdefault((consumer, seq), Seen())
        if count > s.deliveries:
            s.deliveries, s.action = count, None  # delivered again: what was done is past

    def acted(self, consumer: str, seq: int, action: str) -> None:
        self.seen.setdefault((consumer, seq), Seen()).action = action

    async def msg(self, consumer: str, m: Any, action: str | None) -> None:
        """Record a nats-py message delivered to ``consumer`` and do ``action`` to it."""
        seq = m.metadata.sequence.stream
        self.delivered(consumer, seq, m.metadata.num_delivered)
        if action == "ack":
            await m.ack()
        elif action == "nak":
            await m.nak()
        elif action == "term":
            await m.term()
        if action is not None:
            self.acted(consumer, seq, action)


async def server_facts(js: Any, stream: str, lo: int, hi: int) -> dict[int, str | None]:
    """Each sequence's subject, or None where the server has no message (removed)."""
    out: dict[int, str | None] = {}
    for seq in range(lo, hi + 1):
        try:
            out[seq] = (await js.get_msg(stream, seq)).subject
        except NotFoundError:
            out[seq] = None
    return out


def expected(
    record: Record,
    consumer: str,
    info: Any,
    subjects: dict[int, str | None],
) -> dict[int, str]:
    """The true state of every sequence for ``consumer`` (nats-py ConsumerInfo ``info``)."""
    cfg = info.config
    filters = list(cfg.filter_subjects or []) or (
        [cfg.filter_subject] if cfg.filter_subject else []
    )
    ack_none = str(getattr(cfg.ack_policy, "value", cfg.ack_policy)) == "none"
    out: dict[int, str] = {}
    for seq, subject in subjects.items():
        if subject is None:
            out[seq] = REMOVED
        elif filters and not any(matches(subject, f) for f in filters):
            out[seq] = FILTERED
        elif seq < record.starts.get(consumer, 1):
            out[seq] = BEFORE
        elif (consumer, seq) in record.exhausted:
            out[seq] = EXHAUSTED
        else:
            s = record.seen.get((consumer, seq))
            if (s is None or s.deliveries == 0) and seq <= info.delivered.stream_seq:
                out[seq] = LOST
            elif s is None or s.deliveries == 0:
                out[seq] = UNDELIVERED
            elif ack_none:
                out[seq] = DELIVERED
            elif s.action == "ack":
                out[seq] = ACKED
            elif s.action == "term":
                out[seq] = TERMINATED
            elif s.action == "nak":
                out[seq] = NAKED
            else:
                out[seq] = REDELIVERED if s.deliveries > 1 else IN_FLIGHT
    return out


def true_of(drawn: str, truth: str, *, watched: bool, expiry: bool = False) -> bool:
    """Whether a drawn state is true of what happened. A board that watched everything must
    say exactly what happened; one that started late may say "in flight" of any outstanding
    message, "acked" of any finished one, and "delivered before the board watched" of either
    (the server cannot tell which). With ``expiry`` (a short ack wait), an outstanding message
    may have been redelivered to a fetch the test's client had stopped waiting for."""
    if drawn == truth:
        return True
    if truth == LOST:
        return drawn in OUTSTANDING or (drawn == UNKNOWN and not watched)
    if expiry and truth in OUTSTANDING and drawn == REDELIVERED:
        return True
    if watched:
        return False
    if drawn == IN_FLIGHT:
        return truth in OUTSTANDING
    if drawn == ACKED:
        return truth in FINISHED
    return drawn == UNKNOWN and truth in OUTSTANDING | FINISHED


def compare(
    cells: dict[str, dict[int, str]],
    truths: dict[str, dict[int, str]],
    *,
    watched: bool,
    expiry: bool = False,
) -> list[str]:
    """Every drawn cell that is not true, as readable lines (empty: all true)."""
    wrong = []
    for consumer, truth in truths.items():
        drawn = cells[consumer]
        assert set(drawn) == set(truth), (consumer, sorted(drawn), sorted(truth))
        for seq in sorted(truth):
            if not true_of(drawn[seq], truth[seq], watched=watched, expiry=expiry):
                wrong.append(f"{consumer} seq {seq}: drawn {drawn[seq]!r}, true {truth[seq]!r}")
    return wrong
