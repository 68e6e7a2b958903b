"""What a stream's consumers are doing, worked out from the server's own traffic.

This module is the board's model and it is *pure*: no NATS, no asyncio, no widgets, no clock
(the feed sets :attr:`StreamModel.now`). Parsed events go in (a delivery, an ack, a publish
acknowledgement, an advisory, a reconcile from the JetStream API), state comes out: per
consumer numbers (:class:`~fanout_kit.report.ConsumerNumbers`) and the facts the cell rules of
:mod:`fanout_kit.cells` read. The one rule the live model never breaks: **never show a consumer
ahead of the server**.

Where the events come from (:mod:`fanout_kit.feed` is the wiretap):

* a delivery is any message whose reply subject is an ack subject of the stream (parsed by
  :func:`~fanout_kit.acks.parse_ack_subject`, the kit's one parser);
* an ack is a message published to that ack subject: empty or ``+ACK``, ``-NAK``, ``+WPI``
  (in progress), ``+TERM``, ``+NXT``;
* a publish acknowledgement ``{"stream": ..., "seq": N}`` tells the stream grew to ``N``.

The ack floor follows the server's rule (``processAckMsg`` in nats-server): it moves only when
the acked message is the one just above the floor, then up to just below the next message still
pending, or to Last Delivered when nothing is pending. What the model has not seen for itself is
counted as *unknown* (``unknown_pending``) and holds the floor still until a reconcile.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .acks import (
    AckKind,
    AckSubject,
    parse_ack_kind,
    parse_ack_subject,
    parse_puback,
    parse_time_ns,
    subject_matches,
)
from .consumer_state import LAG_SAMPLES, ConsumerModel, MsgState, Pending
from .report import ConsumerNumbers

__all__ = [
    "LAG_SAMPLES",
    "NOTE_SECONDS",
    "AckKind",
    "AckSubject",
    "ConsumerModel",
    "MsgState",
    "Pending",
    "StreamModel",
    "parse_ack_kind",
    "parse_ack_subject",
    "parse_puback",
    "parse_time_ns",
    "subject_matches",
]

NOTE_SECONDS = 10.0
"""How long a deleted lane stays on the board (unless :meth:`settle` comes first) and how long
a recreated consumer is marked."""


class StreamModel:
    """A stream and its consumers, changed only by the ``on_*`` and ``apply_*`` methods.

    ``version`` goes up on every change, so a view can skip drawing when nothing moved;
    ``events`` counts traffic only (a reconcile is not traffic).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.consumers: dict[str, ConsumerModel] = {}
        self.gone: dict[str, ConsumerModel] = {}
        """Consumers deleted while watched, drawn greyed until the next settle or ~10 s."""
        self.first_seq = 1
        self.last_seq = 0
        self.messages: int | None = None
        self.num_deleted = 0
        self.retention = "limits"
        self.subject_filters: tuple[str, ...] = ()
        self.max_msgs = -1
        self.cluster: dict[str, Any] | None = None
        self.subjects: dict[int, str] = {}
        self.times: dict[int, int] = {}
        self.deleted: set[int] = set()
        """Sequences known to be gone from inside the stream (deleted details, message gets)."""
        self.version = 0
        self.events = 0
        self.now = 0.0
        self._filtered: list[ConsumerModel] | None = None

    # --- helpers -------------------------------------------------------------------------
    def _touch(self) -> None:
        self.version += 1
        self.events += 1

    def consumer(self, name: str) -> ConsumerModel:
        """The consumer called ``name``, created (config unknown) if the model has not met it."""
        c = self.consumers.get(name)
        if c is None:
            c = self.consumers[name] = ConsumerModel(name)
            self._filtered = None
        return c

    def filtered(self) -> list[ConsumerModel]:
        """The consumers with a filter (only they can skip a message: with a thousand
        unfiltered consumers a publish costs nothing per consumer)."""
        if self._filtered is None:
            self._filtered = [c for c in self.consumers.values() if c.filters]
        return self._filtered

    def consumers_changed(self) -> None:
        """A consumer came, went or changed its filters."""
        self._filtered = None

    def grow(self, seq: int) -> None:
        """The stream holds sequences up to ``seq`` (the stored count grows with it, capped
        by ``max_msgs``; interest removals show at the next reconcile)."""
        if seq > self.last_seq:
            if self.messages is not None:
                self.messages += seq - self.last_seq
                if self.max_msgs > 0:
                    self.messages = min(self.messages, self.max_msgs)
            self.last_seq = seq
            if self.max_msgs > 0:
                self.first_seq = max(self.first_seq, seq - self.max_msgs + 1)

    def learn_subject(self, seq: int, subject: str) -> None:
        if seq in self.subjects or seq < self.first_seq:
            return
        self.subjects[seq] = subject
        for c in self.filtered():
            if seq > c.cursor and not c.matches(subject):
                c.nonmatch_above += 1
                if seq <= c.np_upto:  # the server's count already left it out
                    c.np_adjust += 1

    def advance_cursor(self, c: ConsumerModel, to: int, *, skipped: bool) -> None:
        """Move Last Delivered to ``to``; sequences jumped over no longer count as pending."""
        lo = c.cursor + 1
        if to <= c.cursor:
            return
        for s in range(max(lo, self.first_seq), to + 1):
            subject = self.subjects.get(s)
            if subject is not None and not c.matches(subject):
                c.nonmatch_above -= 1
            elif subject is None and s < to and s <= c.np_upto and skipped:
                c.np_adjust += 1  # jumped over: not matching, which the server knew
        if skipped and to - lo > 0:
            c.skipped.append((lo, to - 1))
        elif not skipped and to - lo > 0:
            c.np_adjust = c.np_upto = 0  # which were compensated is unknown: over-count
        c.cursor = to
        c.nonmatch_above = max(0, c.nonmatch_above)

    def num_pending(self, c: ConsumerModel) -> int:
        """Unprocessed: messages after Last Delivered that match the filter (an upper bound)."""
        if self.first_seq - 1 > c.cursor:
            nonmatch = sum(
                1 for s, sub in self.subjects.items() if s >= self.first_seq and not c.matches(sub)
            )
            return max(0, self.last_seq - self.first_seq + 1 - nonmatch)
        return max(0, self.last_seq - c.cursor - c.nonmatch_above + c.np_adjust)

    def floor_to_cursor(self, c: ConsumerModel) -> None:
        if not c.pending and c.unknown_pending == 0:
            c.floor_s, c.floor_c = max(c.floor_s, c.cursor), max(c.floor_c, c.cseq)

    def drop_below_floor(self, c: ConsumerModel) -> None:
        for s in [s for s in c.pending if s <= c.floor_s]:
            del c.pending[s]
            c.done.setdefault(s, MsgState.ACKED)
        if c.unknown_below <= c.floor_s:
            c.unknown_pending = 0

    # --- events from the wire ------------------------------------------------------------
    def on_published(self, seq: int, subject: str | None = None) -> None:
        """A publish acknowledgement (or a publish the tap correlated) for sequence ``seq``."""
        self.grow(seq)
        if subject is not None:
            self.learn_subject(seq, subject)
        self._touch()

    def on_delivery(self, subject: str, ack: AckSubject) -> None:
        """A message was delivered to ``ack.consumer`` (its reply subject was ``ack``)."""
        c = self.consumer(ack.consumer)
        s = ack.stream_seq
        self.grow(s + ack.pending)
        self.learn_subject(s, subject)
        self.times.setdefault(s, ack.timestamp_ns)
        c.peak = max(c.peak, ack.pending + 1)  # Unprocessed just before this delivery
        if ack.delivered > 1:
            c.trace[s] = max(c.trace.get(s, 1), ack.delivered)
        if c.ack_policy == "none":
            if s > c.cursor:
                self.advance_cursor(c, s, skipped=ack.consumer_seq == c.cseq + 1)
            c.cseq = max(c.cseq, ack.consumer_seq)
            c.floor_s, c.floor_c = max(c.floor_s, s), max(c.floor_c, ack.consumer_seq)
            self._touch()
            return
        settled = c.acked_dc.get(s, 0) >= ack.delivered and s in c.done
        if ack.delivered == 1 and s > c.cursor:
            consecutive = ack.consumer_seq == c.cseq + 1
            if not consecutive and ack.consumer_seq > c.cseq + 1:
                c.unknown_pending += ack.consumer_seq - c.cseq - 1  # deliveries not seen
                c.unknown_below = max(c.unknown_below, s - 1)
            self.advance_cursor(c, s, skipped=consecutive)
            if not settled:
                c.pending[s] = Pending(ack.consumer_seq, 1)
        elif settled:
            pass  # its ack (or max deliveries) reached the board first: it stays done
        else:
            p = c.pending.get(s)
            if p is not None:
                p.delivered = max(p.delivered, ack.delivered)
                p.naked = p.progress = False
            elif s > c.floor_s:
                if c.unknown_pending > 0 and s <= c.unknown_below:
                    c.unknown_pending -= 1
                c.pending[s] = Pending(None, ack.delivered)
                c.done.pop(s, None)
            if ack.delivered > 1 and s > c.floor_s:
                c.rdc[s] = ack.delivered - 1
        c.cseq = max(c.cseq, ack.consumer_seq)
        self._touch()
        early = c.early.pop(s, None)
        if early is not None and early[0] >= ack.delivered:
            self.on_ack(ack, early[1])  # the ack that came before its delivery

    def on_ack(self, ack: AckSubject, kind: AckKind) -> None:
        """An ack, nak, in-progress or term for one delivery."""
        c = self.consumers.get(ack.consumer)
        if c is None:
            return
        s = ack.stream_seq
        self._touch()
        if ack.delivered > 1:
            c.trace[s] = max(c.trace.get(s, 1), ack.delivered)
        if s > c.cursor and c.ack_policy != "none":
            c.early[s] = (ack.delivered, kind)  # its delivery has not reached the board yet
            return
        if kind is AckKind.PROGRESS or kind is AckKind.NAK:
            p = c.pending.get(s)
            if p is not None:
                p.naked, p.progress = kind is AckKind.NAK, kind is AckKind.PROGRESS
            return
        state = MsgState.TERMINATED if kind is AckKind.TERM else MsgState.ACKED
        if c.ack_policy == "all" and kind is AckKind.ACK:
            if s <= c.floor_s:
                return
            for x in [x for x in c.pending if x <= s]:
                del c.pending[x]
                c.rdc.pop(x, None)
                c.done[x] = state
                c.acked_dc[x] = ack.delivered
            if c.unknown_below <= s:
                c.unknown_pending = 0
            c.floor_s, c.floor_c = s, max(c.floor_c, ack.consumer_seq)
            return
        p = c.pending.pop(s, None)
        if p is None:
            if c.unknown_pending > 0 and c.floor_s < s <= c.unknown_below and s not in c.done:
                c.unknown_pending -= 1
                c.done[s], c.acked_dc[s] = state, ack.delivered
                c.rdc.pop(s, None)
                self.floor_to_cursor(c)
            return
        c.rdc.pop(s, None)
        c.done[s], c.acked_dc[s] = state, ack.delivered
        if not c.pending and c.unknown_pending == 0:
            self.floor_to_cursor(c)
        elif p.orig_cseq is not None and p.orig_cseq == c.floor_c + 1:
            c.floor_s, c.floor_c = s, p.orig_cseq
            for ss in range(s + 1, c.cursor + 1):
                q = c.pending.get(ss)
                if q is not None:
                    if q.orig_cseq is not None:
                        c.floor_s, c.floor_c = ss - 1, q.orig_cseq - 1
                    break
                if c.unknown_pending > 0 and ss <= c.unknown_below and ss not in c.done:
                    break  # maybe still pending: stay at or below the server's floor

    def on_max_deliveries(self, consumer: str, stream_seq: int, deliveries: int = 0) -> None:
        """The server gave up on a message after ``deliveries`` (max_deliver reached): no
        longer pending. (The advisory can be handled before the last delivery's copy: that
        copy is then ignored.)"""
        c = self.consumers.get(consumer)
        if c is not None and c.ack_policy != "none":
            c.pending.pop(stream_seq, None)
            c.done[stream_seq] = MsgState.EXHAUSTED
            c.acked_dc[stream_seq] = max(deliveries, c.acked_dc.get(stream_seq, 0))
            if deliveries > 1:  # the server still counts it as redelivered
                c.trace[stream_seq] = max(c.trace.get(stream_seq, 1), deliveries)
                c.rdc[stream_seq] = deliveries - 1
        self._touch()

    def on_consumer_deleted(self, name: str) -> None:
        """The consumer is gone: its lane stays, greyed with frozen numbers, for a while."""
        c = self.consumers.pop(name, None)
        if c is not None:
            self._filtered = None
            c.frozen, c.note, c.note_at = self.numbers(c), "deleted", self.now
            self.gone[name] = c
            self._touch()

    def expire_notes(self, now: float) -> None:
        """Drop deleted lanes and "recreated" marks older than :data:`NOTE_SECONDS`."""
        for name in [n for n, c in self.gone.items() if now - c.note_at >= NOTE_SECONDS]:
            del self.gone[name]
            self.version += 1
        for c in self.consumers.values():
            if c.note and now - c.note_at >= NOTE_SECONDS:
                c.note = None
                self.version += 1

    def clear_gone(self) -> None:
        """A settle: the board equals the server, which has no deleted consumers."""
        if self.gone:
            self.gone.clear()
            self.version += 1

    # --- message facts from the API ------------------------------------------------------
    def apply_message(self, seq: int, subject: str | None, time_ns: int | None) -> None:
        """A message get: its subject and stored time, or ``None``: "no message found"."""
        if subject is None:
            if seq <= self.last_seq:
                self.deleted.add(seq)
        else:
            self.learn_subject(seq, subject)
            if time_ns is not None:
                self.times[seq] = time_ns
        self.version += 1

    def removed(self, seq: int) -> bool:
        """Whether message ``seq`` is known to be gone from the stream."""
        if seq < self.first_seq or seq in self.deleted:
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

    # --- reading -------------------------------------------------------------------------
    def numbers(self, c: ConsumerModel) -> ConsumerNumbers:
        """One consumer's numbers (the type the report, the view and ``snapshot`` share)."""
        if c.frozen is not None:
            return c.frozen
        return ConsumerNumbers(
            last_delivered=c.cursor,
            ack_floor=c.floor_s,
            outstanding=c.num_ack_pending,
            max_ack_pending=c.max_ack_pending,
            redelivered=c.num_redelivered,
            unprocessed=self.num_pending(c),
            waiting=c.num_waiting,
            delivered_consumer_seq=c.cseq,
            ack_floor_consumer_seq=c.floor_c,
        )

    def snapshot(self) -> dict[str, dict[str, int]]:
        """Plain data, one entry per consumer (the server's, not deleted ones), by name."""
        return {n: self.numbers(self.consumers[n]).snapshot() for n in sorted(self.consumers)}

    def sample_lag(self) -> None:
        """Append every consumer's Unprocessed count to its lag line (one sample)."""
        for c in self.consumers.values():
            c.lag.append(max(self.num_pending(c), c.peak))
            c.peak = 0
        self.version += 1

    def trim(self, below: int) -> None:
        """Forget per-message detail under ``below`` that no view or count still needs."""
        keep = min([below, *(c.cursor + 1 for c in self.consumers.values())])
        for table in (self.subjects, self.times):
            for s in [s for s in table if s < keep]:
                del table[s]
        self.deleted = {s for s in self.deleted if s >= min(below, self.first_seq)}
        for c in (*self.consumers.values(), *self.gone.values()):
            for per_seq in (c.done, c.trace, c.acked_dc, c.early):
                for s in [s for s in per_seq if s < below]:
                    del per_seq[s]
            c.skipped = [(lo, hi) for lo, hi in c.skipped if hi >= below]

    def forget_consumers_except(self, names: Iterable[str]) -> None:
        """Consumers the server no longer lists become deleted lanes."""
        keep = set(names)
        for name in [n for n in self.consumers if n not in keep]:
            self.on_consumer_deleted(name)
