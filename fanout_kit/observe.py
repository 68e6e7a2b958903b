"""What a stream's consumers are doing, worked out from the server's own traffic.

This module is the board's brain and it is *pure*: no NATS, no asyncio, no widgets. Parsed
events go in (a delivery, an ack, a publish acknowledgement, an advisory, a reconcile from
consumer info), state comes out (per consumer numbers under the ``nats`` CLI's names, and a
state for every message). That keeps it testable without a server and keeps the one rule the
board must never break in one place: **never show a consumer ahead of the server**.

Where the events come from (see :mod:`fanout_kit.board` for the wiretap):

* a delivery is any message whose reply subject is the consumer's ack subject
  ``$JS.ACK.<stream>.<consumer>.<delivered>.<stream_seq>.<consumer_seq>.<ts_ns>.<pending>``
  (a pull delivery goes to the fetcher's ``_INBOX``; a push delivery to its deliver subject;
  either way a third party subscribed to that subject sees it with the *original* subject);
* an ack is a message published to that ack subject: empty or ``+ACK``, ``-NAK``, ``+WPI``
  (in progress), ``+TERM``, ``+NXT``;
* a publish acknowledgement ``{"stream": ..., "seq": N}`` tells the stream grew to ``N``.

The ack floor follows the server's own rule (``processAckMsg`` in nats-server): it moves only
when the acked message is the one just above the floor, then up to just below the next message
still pending, or to the delivered cursor when nothing is pending. Anything the model has not
seen for itself (state from before it started watching, or events it missed) is counted as
*unknown* and holds the floor still until a reconcile, so the model errs towards "behind".
"""

from __future__ import annotations

import bisect
import enum
import json
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

__all__ = [
    "AckKind",
    "AckSubject",
    "ConsumerModel",
    "MsgState",
    "StreamModel",
    "parse_ack_kind",
    "parse_ack_subject",
    "parse_puback",
    "subject_matches",
]

_ACK_PREFIX = "$JS.ACK."


@dataclass(frozen=True, slots=True)
class AckSubject:
    """The fields of a JetStream ack subject (the reply subject of every delivery)."""

    stream: str
    consumer: str
    delivered: int
    """How many times this message has been delivered to this consumer (1 = first time)."""
    stream_seq: int
    consumer_seq: int
    timestamp_ns: int
    """When the message was stored in the stream."""
    pending: int
    """The consumer's num_pending just after this delivery."""
    domain: str | None = None
    account_hash: str | None = None


def parse_ack_subject(subject: str) -> AckSubject | None:
    """Parse an ack subject in either token layout; ``None`` if it is not one.

    * v1 (nats-server 2.x today, 9 tokens):
      ``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>``
    * v2 (ADR-15, 11 or 12 tokens):
      ``$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>
      .<pending>[.<random>]``; a domain of ``_`` means none.
    """
    if not subject.startswith(_ACK_PREFIX):
        return None
    tokens = subject.split(".")
    if len(tokens) == 9:
        at, domain, account = 2, None, None
    elif len(tokens) in (11, 12):
        at, domain, account = 4, (None if tokens[2] == "_" else tokens[2]), tokens[3]
    else:
        return None
    stream, consumer = tokens[at], tokens[at + 1]
    try:
        numbers = [int(t) for t in tokens[at + 2 : at + 7]]
    except ValueError:
        return None
    return AckSubject(stream, consumer, *numbers, domain=domain, account_hash=account)


class AckKind(enum.Enum):
    """What an ack message says (its payload)."""

    ACK = "ack"
    NAK = "nak"
    PROGRESS = "progress"
    TERM = "term"


def parse_ack_kind(payload: bytes) -> AckKind | None:
    """``b""``/``+ACK``/``+NXT`` ack, ``-NAK`` nak, ``+WPI`` in progress, ``+TERM`` term."""
    if not payload or payload.startswith((b"+ACK", b"+NXT")):
        return AckKind.ACK
    if payload.startswith(b"-NAK"):
        return AckKind.NAK
    if payload.startswith(b"+WPI"):
        return AckKind.PROGRESS
    if payload.startswith(b"+TERM"):
        return AckKind.TERM
    return None


def parse_puback(payload: bytes, stream: str) -> int | None:
    """The sequence in a publish acknowledgement for ``stream``, else ``None``."""
    if not payload.startswith(b'{"stream":'):
        return None
    try:
        doc = json.loads(payload)
    except ValueError:
        return None
    if doc.get("stream") != stream or "error" in doc:
        return None
    seq = doc.get("seq")
    return seq if isinstance(seq, int) else None


@lru_cache(maxsize=8192)
def subject_matches(subject: str, pattern: str) -> bool:
    """NATS subject matching: ``*`` matches one token, ``>`` one or more at the end."""
    if pattern == subject or pattern == ">":
        return True
    st = subject.split(".")
    pt = pattern.split(".")
    for i, p in enumerate(pt):
        if p == ">":
            return len(st) > i
        if i >= len(st) or (p != "*" and p != st[i]):
            return False
    return len(st) == len(pt)


class MsgState(enum.StrEnum):
    """The state of one stream message as seen by one consumer (and the legend's words)."""

    UNDELIVERED = "not yet delivered"
    IN_FLIGHT = "in flight"
    REDELIVERED = "redelivered, in flight"
    NAKED = "nak'd, waiting for redelivery"
    ACKED = "acked"
    TERMINATED = "terminated"
    EXHAUSTED = "max deliveries reached"
    FILTERED = "not matching the filter"
    REMOVED = "removed from the stream"
    UNKNOWN = "delivered before the board watched"
    """Also: delivered while the board was in overload mode (in flight or acked, unknown)."""


@dataclass(slots=True)
class _Pending:
    orig_cseq: int | None
    delivered: int
    naked: bool = False
    progress: bool = False


@dataclass
class ConsumerModel:
    """One consumer: its cursor, its ack floor, what is in flight, and its history nearby."""

    name: str
    filters: tuple[str, ...] = ()
    ack_policy: str = "explicit"
    max_ack_pending: int = 0
    max_deliver: int = -1
    deliver_subject: str | None = None
    durable: bool = True
    """Has a durable name; ephemeral and ordered consumers get random names from the server."""
    config_known: bool = False
    cursor: int = 0
    """Stream sequence of the last message delivered for the first time (Last Delivered)."""
    cseq: int = 0
    floor_s: int = 0
    floor_c: int = 0
    pending: dict[int, _Pending] = field(default_factory=dict)
    rdc: dict[int, int] = field(default_factory=dict)
    done: dict[int, MsgState] = field(default_factory=dict)
    skipped: list[tuple[int, int]] = field(default_factory=list)
    unknown_pending: int = 0
    unknown_below: int = 0
    nonmatch_above: int = 0
    np_adjust: int = 0
    nrd_adjust: int = 0
    num_waiting: int = 0
    lag_history: deque[int] = field(default_factory=lambda: deque(maxlen=60))

    def matches(self, subject: str) -> bool:
        """Whether a message on ``subject`` is for this consumer (no filter: every message)."""
        return not self.filters or any(subject_matches(subject, f) for f in self.filters)

    @property
    def num_ack_pending(self) -> int:
        """Outstanding Acks: delivered, not yet acked (nak'd ones included)."""
        return len(self.pending) + self.unknown_pending

    @property
    def num_redelivered(self) -> int:
        """Redelivered: messages delivered more than once, counted as the server does."""
        return max(0, len(self.rdc) + self.nrd_adjust)


class StreamModel:
    """A stream and its consumers, updated only by the ``on_*`` and ``apply_*`` methods.

    ``version`` goes up on every change, so a view can skip drawing when nothing moved.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.consumers: dict[str, ConsumerModel] = {}
        self.first_seq = 1
        self.last_seq = 0
        self.messages: int | None = None
        self.retention = "limits"
        self.subject_filters: tuple[str, ...] = ()
        self.max_msgs = -1
        self.subjects: dict[int, str] = {}
        self._reconciled_last = 0
        self.version = 0
        self.events = 0

    # --- helpers -------------------------------------------------------------------------
    def _touch(self) -> None:
        """Traffic changed the model (``events`` counts traffic; ``version`` any change)."""
        self.version += 1
        self.events += 1

    def _changed(self) -> None:
        """A reconcile changed the model: not traffic, so ``events`` stays."""
        self.version += 1

    def consumer(self, name: str) -> ConsumerModel:
        """The consumer called ``name``, created (config unknown) if the model has not met it."""
        c = self.consumers.get(name)
        if c is None:
            c = self.consumers[name] = ConsumerModel(name)
            c.cursor = c.floor_s = 0
        return c

    def _counted(self, c: ConsumerModel, seq: int) -> bool:
        subject = self.subjects.get(seq)
        return subject is None or c.matches(subject)

    def _grow(self, seq: int) -> None:
        """The stream holds at least ``seq`` messages' worth of sequences."""
        if seq > self.last_seq:
            self.last_seq = seq
            if self.max_msgs > 0:
                self.first_seq = max(self.first_seq, seq - self.max_msgs + 1)

    def _learn_subject(self, seq: int, subject: str) -> None:
        if seq in self.subjects or seq < self.first_seq:
            return
        self.subjects[seq] = subject
        for c in self.consumers.values():
            if seq > c.cursor and not c.matches(subject):
                c.nonmatch_above += 1
                if seq <= self._reconciled_last:
                    c.np_adjust = min(0, c.np_adjust + 1)

    def _advance_cursor(self, c: ConsumerModel, to: int, *, skipped: bool) -> None:
        """Move the cursor to ``to``; sequences jumped over no longer count as pending."""
        lo = c.cursor + 1
        if to <= c.cursor:
            return
        subjects = self.subjects
        for s in range(max(lo, self.first_seq), to + 1):
            subject = subjects.get(s)
            if subject is not None and not c.matches(subject):
                c.nonmatch_above -= 1
            elif subject is None and s < to and s <= self._reconciled_last and skipped:
                c.np_adjust = min(0, c.np_adjust + 1)
        if skipped and to - lo > 0:
            c.skipped.append((lo, to - 1))
        elif not skipped and to - lo > 0:
            # Some jumped-over sequences may have been compensated non-matching ones; which,
            # the model cannot tell, so drop the compensation: over-count, never under-count.
            c.np_adjust = 0
        c.cursor = to
        c.nonmatch_above = max(0, c.nonmatch_above)

    def num_pending(self, c: ConsumerModel) -> int:
        """Unprocessed: messages after the cursor that match the filter (an upper bound)."""
        if self.first_seq - 1 > c.cursor:
            # Messages after the cursor were removed from the stream (limits): count afresh.
            nonmatch = sum(
                1
                for s, subj in self.subjects.items()
                if s >= self.first_seq and not c.matches(subj)
            )
            return max(0, self.last_seq - self.first_seq + 1 - nonmatch)
        base = self.last_seq - c.cursor
        return max(0, base - c.nonmatch_above + c.np_adjust)

    def _set_floor_all_done(self, c: ConsumerModel) -> None:
        if c.cursor > c.floor_s or c.cseq > c.floor_c:
            c.floor_s, c.floor_c = max(c.floor_s, c.cursor), max(c.floor_c, c.cseq)

    def _drop_below_floor(self, c: ConsumerModel) -> None:
        for s in [s for s in c.pending if s <= c.floor_s]:
            del c.pending[s]
            c.done.setdefault(s, MsgState.ACKED)
        if c.unknown_below <= c.floor_s:
            c.unknown_pending = 0

    # --- events from the wire ----------------------------------------------------------
    def on_published(self, seq: int, subject: str | None = None) -> None:
        """A publish acknowledgement (or a publish the tap correlated) for sequence ``seq``."""
        self._grow(seq)
        if subject is not None:
            self._learn_subject(seq, subject)
        self._touch()

    def on_delivery(self, subject: str, ack: AckSubject) -> None:
        """A message was delivered to ``ack.consumer`` (its reply subject was ``ack``)."""
        c = self.consumer(ack.consumer)
        s = ack.stream_seq
        self._grow(s + ack.pending)
        self._learn_subject(s, subject)
        if c.ack_policy == "none":
            if s > c.cursor:
                self._advance_cursor(c, s, skipped=ack.consumer_seq == c.cseq + 1)
            c.cseq = max(c.cseq, ack.consumer_seq)
            c.floor_s, c.floor_c = max(c.floor_s, s), max(c.floor_c, ack.consumer_seq)
            c.done[s] = MsgState.ACKED
            self._touch()
            return
        if ack.delivered == 1 and s > c.cursor:
            consecutive = ack.consumer_seq == c.cseq + 1
            if not consecutive and ack.consumer_seq > c.cseq + 1:
                # Deliveries the model did not see: each may still be pending somewhere below.
                c.unknown_pending += ack.consumer_seq - c.cseq - 1
                c.unknown_below = max(c.unknown_below, s - 1)
            self._advance_cursor(c, s, skipped=consecutive)
            c.pending[s] = _Pending(ack.consumer_seq, 1)
        else:
            p = c.pending.get(s)
            if p is not None:
                p.delivered = max(p.delivered, ack.delivered)
                p.naked = p.progress = False
            elif s > c.floor_s:
                if c.unknown_pending > 0 and s <= c.unknown_below:
                    c.unknown_pending -= 1
                c.pending[s] = _Pending(None, ack.delivered)
                c.done.pop(s, None)
            if ack.delivered > 1 and s > c.floor_s:
                c.rdc[s] = ack.delivered - 1
        c.cseq = max(c.cseq, ack.consumer_seq)
        self._touch()

    def on_ack(self, ack: AckSubject, kind: AckKind) -> None:
        """An ack, nak, in-progress or term for one delivery."""
        c = self.consumers.get(ack.consumer)
        if c is None:
            return
        s = ack.stream_seq
        self._touch()
        if kind is AckKind.PROGRESS or kind is AckKind.NAK:
            p = c.pending.get(s)
            if p is not None:
                if kind is AckKind.NAK:
                    p.naked = True
                else:
                    p.progress = True
            return
        state = MsgState.TERMINATED if kind is AckKind.TERM else MsgState.ACKED
        if c.ack_policy == "all" and kind is AckKind.ACK:
            if s <= c.floor_s:
                return
            for x in [x for x in c.pending if x <= s]:
                del c.pending[x]
                c.rdc.pop(x, None)
                c.done[x] = state
            if c.unknown_below <= s:
                c.unknown_pending = 0
            c.floor_s, c.floor_c = s, max(c.floor_c, ack.consumer_seq)
            return
        p = c.pending.pop(s, None)
        if p is None:
            if c.unknown_pending > 0 and c.floor_s < s <= c.unknown_below and s not in c.done:
                c.unknown_pending -= 1
                c.done[s] = state
                c.rdc.pop(s, None)
                if not c.pending and c.unknown_pending == 0:
                    self._set_floor_all_done(c)
            return
        c.rdc.pop(s, None)
        c.done[s] = state
        if not c.pending and c.unknown_pending == 0:
            self._set_floor_all_done(c)
        elif p.orig_cseq is not None and p.orig_cseq == c.floor_c + 1:
            c.floor_s, c.floor_c = s, p.orig_cseq
            unknown = c.unknown_pending > 0
            for ss in range(s + 1, c.cursor + 1):
                q = c.pending.get(ss)
                if q is not None:
                    if q.orig_cseq is not None:
                        c.floor_s, c.floor_c = ss - 1, q.orig_cseq - 1
                    break
                if unknown and ss <= c.unknown_below and ss not in c.done:
                    break  # maybe still pending: stay at or below the server's floor

    def on_max_deliveries(self, consumer: str, stream_seq: int) -> None:
        """The server gave up on a message (max_deliver reached): no longer pending.

        The server neither moves the floor nor forgets the redelivery count here.
        """
        c = self.consumers.get(consumer)
        if c is None:
            return
        if c.pending.pop(stream_seq, None) is not None:
            c.done[stream_seq] = MsgState.EXHAUSTED
        self._touch()

    def on_consumer_deleted(self, name: str) -> None:
        """The consumer is gone (advisory)."""
        if self.consumers.pop(name, None) is not None:
            self._touch()

    # --- reconcile ----------------------------------------------------------------------
    def apply_stream_info(self, info: Mapping[str, Any], *, exact: bool = True) -> None:
        """Stream info as the JetStream API or ``/jsz`` reports it (``config`` and ``state``)."""
        config = info.get("config") or {}
        state = info.get("state") or {}
        self.retention = str(config.get("retention", self.retention))
        self.subject_filters = tuple(config.get("subjects") or ())
        self.max_msgs = int(config.get("max_msgs", -1) or -1)
        last = int(state.get("last_seq", 0))
        first = int(state.get("first_seq", 1)) or 1
        if exact:
            self.last_seq = last
            self.first_seq = first
            self.messages = int(state.get("messages", 0))
            self._reconciled_last = last
            for s in [s for s in self.subjects if s < first]:
                del self.subjects[s]
        else:
            self._grow(last)
            self.first_seq = max(self.first_seq, first)
        self._changed()

    def _apply_config(self, info: Mapping[str, Any]) -> ConsumerModel:
        """The consumer named in ``info``, its configuration (filters, policies) taken in."""
        config = info.get("config") or {}
        name = str(info.get("name") or config.get("durable_name") or config.get("name"))
        c = self.consumer(name)
        filters = config.get("filter_subjects") or (
            [config["filter_subject"]] if config.get("filter_subject") else []
        )
        if tuple(filters) != c.filters or not c.config_known:
            c.filters = tuple(filters)
            c.nonmatch_above = sum(
                1 for s, subj in self.subjects.items() if s > c.cursor and not c.matches(subj)
            )
        c.config_known = True
        c.ack_policy = str(config.get("ack_policy", "explicit"))
        c.max_ack_pending = int(config.get("max_ack_pending", 0) or 0)
        c.max_deliver = int(config.get("max_deliver", -1) or -1)
        c.deliver_subject = config.get("deliver_subject") or None
        c.durable = bool(config.get("durable_name"))
        return c

    def apply_consumer_info(self, info: Mapping[str, Any], *, exact: bool = True) -> None:
        """Consumer info (API or ``/jsz`` shape). ``exact``: the stream is quiet, so take the
        server's numbers as they are; otherwise only merge what can only move forward."""
        c = self._apply_config(info)
        delivered = info.get("delivered") or {}
        floor = info.get("ack_floor") or {}
        d_s, d_c = int(delivered.get("stream_seq", 0)), int(delivered.get("consumer_seq", 0))
        f_s, f_c = int(floor.get("stream_seq", 0)), int(floor.get("consumer_seq", 0))
        c.num_waiting = int(info.get("num_waiting", 0))
        if exact:
            self._advance_cursor(c, d_s, skipped=False)
            c.cursor, c.cseq = d_s, d_c
            c.floor_s, c.floor_c = f_s, f_c
            self._drop_below_floor(c)
            for s in [s for s in c.pending if s > c.cursor]:
                del c.pending[s]
            server_nap = int(info.get("num_ack_pending", 0))
            if len(c.pending) > server_nap:
                c.pending.clear()
            c.unknown_pending = server_nap - len(c.pending)
            c.unknown_below = c.cursor if c.unknown_pending else 0
            c.nrd_adjust = int(info.get("num_redelivered", 0)) - len(c.rdc)
            c.nonmatch_above = sum(
                1 for s, subj in self.subjects.items() if s > c.cursor and not c.matches(subj)
            )
            c.np_adjust = 0
            c.np_adjust = int(info.get("num_pending", 0)) - self.num_pending(c)
        else:
            if d_s > c.cursor:
                self._advance_cursor(c, d_s, skipped=False)
                c.cseq = max(c.cseq, d_c)
            if f_s > c.floor_s:
                c.floor_s, c.floor_c = f_s, max(c.floor_c, f_c)
                self._drop_below_floor(c)
        self._changed()

    def apply_overview(self, info: Mapping[str, Any]) -> None:
        """Consumer info while nobody follows the traffic message by message (overload mode).

        Why this exists: above a few thousand events a second, watching every delivery and
        ack costs the learner's own consumers too much of the process (the board shares their
        event loop), so the board stops listening per message and reads consumer info a few
        times a second instead. Then the only per-message truth left is what consumer info
        implies: everything up to the ack floor is acked, everything after Last Delivered is
        not delivered yet, and in between is *unknown* (in flight or acked, the board cannot
        tell which). This method makes the model say exactly that and no more:

        * Last Delivered and Ack Floor only move forward (an answer is never newer than now,
          so taking it can put the board behind the server but never ahead of it);
        * per-message detail above the floor (in flight, nak'd, redelivered) is dropped: it
          went stale the moment the board stopped listening;
        * Outstanding Acks and Redelivered are the server's counts as of the answer;
        * Unprocessed is the server's count as of the answer, measured against the stream's
          last sequence the board knows (read *before* the consumers), so it grows again as
          the stream grows: it errs high, never low.
        """
        c = self._apply_config(info)
        delivered = info.get("delivered") or {}
        floor = info.get("ack_floor") or {}
        d_s, d_c = int(delivered.get("stream_seq", 0)), int(delivered.get("consumer_seq", 0))
        f_s, f_c = int(floor.get("stream_seq", 0)), int(floor.get("consumer_seq", 0))
        c.num_waiting = int(info.get("num_waiting", 0))
        if d_s > c.cursor:
            self._advance_cursor(c, d_s, skipped=False)
        c.cseq = max(c.cseq, d_c)
        if f_s > c.floor_s:
            c.floor_s, c.floor_c = f_s, max(c.floor_c, f_c)
        c.pending.clear()
        c.rdc.clear()
        for s in [s for s in c.done if s > c.floor_s]:
            del c.done[s]
        c.unknown_pending = max(0, int(info.get("num_ack_pending", 0)))
        c.unknown_below = c.cursor if c.unknown_pending else 0
        c.nrd_adjust = int(info.get("num_redelivered", 0))
        if c.cursor == d_s:
            # The server's count is about the same cursor: take it (relative to the known
            # last sequence, so later growth of the stream adds to it).
            c.np_adjust = 0
            c.np_adjust = int(info.get("num_pending", 0)) - self.num_pending(c)
        self._changed()

    def forget_consumers_except(self, names: Iterable[str]) -> None:
        """Drop consumers the server no longer has (a reconcile listed every consumer)."""
        keep = set(names)
        for name in [n for n in self.consumers if n not in keep]:
            del self.consumers[name]
            self._changed()

    # --- reading -------------------------------------------------------------------------
    def removed(self, seq: int) -> bool:
        """Whether message ``seq`` is known to be gone from the stream."""
        if seq < self.first_seq:
            return True
        if self.retention in ("interest", "workqueue") and self.consumers:
            subject = self.subjects.get(seq)
            if subject is None:
                return False
            for c in self.consumers.values():
                if not c.config_known:
                    return False
                if c.matches(subject) and not (
                    seq <= c.floor_s or c.done.get(seq) in (MsgState.ACKED, MsgState.TERMINATED)
                ):
                    return False
            return True
        return False

    def cell_state(self, name: str, seq: int) -> MsgState:
        """The state of message ``seq`` for consumer ``name`` (for drawing one cell)."""
        c = self.consumers[name]
        p = c.pending.get(seq)
        if p is not None:
            if p.naked:
                return MsgState.NAKED
            return MsgState.REDELIVERED if p.delivered > 1 else MsgState.IN_FLIGHT
        subject = self.subjects.get(seq)
        if subject is not None and not c.matches(subject):
            return MsgState.FILTERED
        if seq > c.cursor:
            return MsgState.REMOVED if self.removed(seq) else MsgState.UNDELIVERED
        state = c.done.get(seq)
        if state is not None:
            return state
        i = bisect.bisect_right(c.skipped, (seq, float("inf"))) - 1
        if i >= 0 and c.skipped[i][0] <= seq <= c.skipped[i][1]:
            return MsgState.FILTERED
        if seq > c.floor_s and c.unknown_pending > 0 and seq <= c.unknown_below:
            return MsgState.UNKNOWN
        return MsgState.ACKED

    def consumer_numbers(self, name: str) -> dict[str, int]:
        """One consumer's numbers; ``delivered``/``ack_floor`` are stream sequences."""
        c = self.consumers[name]
        return {
            "delivered": c.cursor,
            "ack_floor": c.floor_s,
            "num_pending": self.num_pending(c),
            "num_ack_pending": c.num_ack_pending,
            "num_redelivered": c.num_redelivered,
            "num_waiting": c.num_waiting,
            "delivered_consumer_seq": c.cseq,
            "ack_floor_consumer_seq": c.floor_c,
            "max_ack_pending": c.max_ack_pending,
        }

    def snapshot(self) -> dict[str, dict[str, int]]:
        """Plain data, one entry per consumer, sorted by name."""
        return {name: self.consumer_numbers(name) for name in sorted(self.consumers)}

    def record_lag(self) -> None:
        """Append every consumer's Unprocessed count to its lag history (one sample)."""
        for c in self.consumers.values():
            c.lag_history.append(self.num_pending(c))
        self.version += 1

    def trim(self, below: int) -> None:
        """Forget per-message detail under ``below`` that no view or count still needs."""
        keep_subjects = min([below, *(c.cursor + 1 for c in self.consumers.values())])
        for s in [s for s in self.subjects if s < keep_subjects]:
            del self.subjects[s]
        for c in self.consumers.values():
            for s in [s for s in c.done if s < below]:
                del c.done[s]
            c.skipped = [(lo, hi) for lo, hi in c.skipped if hi >= below]
