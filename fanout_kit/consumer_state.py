"""What the board knows of one consumer, and the words for each message's state (pure data).

:class:`ConsumerModel` holds one consumer's configuration, its cursors (Last Delivered, Ack
Floor), what the wiretap saw in flight, and the history a lane draws (acks, delivery counts,
lag samples). :class:`MsgState` is the legend: the words ``board.cells()``, the frame (through
the palette's codes) and the DOM's ``data-state`` use. :mod:`fanout_kit.observe` changes them.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

from .acks import AckKind, subject_matches
from .report import ConsumerNumbers

__all__ = ["LAG_SAMPLES", "ConsumerModel", "MsgState", "Pending"]


class MsgState(enum.StrEnum):
    """The state of one stream message for one consumer: the legend's words (the palette
    gives each a code, a colour and a cue; ``board.cells()`` and the DOM carry the words)."""

    UNDELIVERED = "not yet delivered"
    IN_FLIGHT = "in flight"
    REDELIVERED = "redelivered, in flight"
    NAKED = "nak'd, waiting for redelivery"
    WORKING = "in progress (working)"
    ACKED = "acked"
    DELIVERED = "delivered (no ack)"
    TERMINATED = "terminated"
    EXHAUSTED = "max deliveries reached"
    FILTERED = "not matching the filter"
    BEFORE_START = "before this consumer's start"
    REMOVED = "removed from the stream"
    UNKNOWN = "delivered before the board watched"
    """Also: delivered while the board was in overload mode (in flight or acked, unknown)."""
    STORED = "stored"
    """The stream lane's own state (its removed messages are ``REMOVED``)."""


LAG_SAMPLES = 60
"""Unprocessed samples kept per consumer (the feed samples every other tick, when something
moved: 12 s at 5 a second; each sample keeps the peak since the one before, so a burst
between two samples still shows)."""


@dataclass(slots=True)
class Pending:
    """One delivered, not yet acked message of one consumer, as the wiretap saw it."""

    orig_cseq: int | None
    delivered: int
    naked: bool = False
    progress: bool = False


@dataclass
class ConsumerModel:
    """One consumer: configuration, cursors, what is in flight, and its history nearby."""

    name: str
    filters: tuple[str, ...] = ()
    ack_policy: str = "explicit"
    deliver_policy: str = "all"
    opt_start_seq: int = 0
    opt_start_time_ns: int = 0
    created: str = ""
    created_ns: int = 0
    start: int | None = None
    """First stream sequence this consumer can deliver, when the board knows it exactly (it
    saw the consumer before its first delivery: Last Delivered + 1 then)."""
    max_ack_pending: int = 0
    max_deliver: int = -1
    deliver_subject: str | None = None
    durable: bool = True
    config_known: bool = False
    cursor: int = 0
    """Last Delivered: stream sequence of the newest message delivered for the first time."""
    cseq: int = 0
    floor_s: int = 0
    floor_c: int = 0
    pending: dict[int, Pending] = field(default_factory=dict)
    rdc: dict[int, int] = field(default_factory=dict)
    done: dict[int, MsgState] = field(default_factory=dict)
    acked_dc: dict[int, int] = field(default_factory=dict)
    """For acked or terminated sequences: which delivery (its count) the ack was for."""
    early: dict[int, tuple[int, AckKind]] = field(default_factory=dict)
    """Acks that reached the board before their delivery did (each subscription has its own
    queue): applied when the delivery arrives."""
    trace: dict[int, int] = field(default_factory=dict)
    """Most deliveries seen per stream sequence (kept after the ack: fast events leave a mark)."""
    skipped: list[tuple[int, int]] = field(default_factory=list)
    unknown_pending: int = 0
    unknown_below: int = 0
    nonmatch_above: int = 0
    np_adjust: int = 0
    """Server's Unprocessed minus the model's count, as of the last sequence ``np_upto``."""
    np_upto: int = 0
    nrd_adjust: int = 0
    num_waiting: int = 0
    lag: deque[int] = field(default_factory=lambda: deque(maxlen=LAG_SAMPLES))
    peak: int = 0
    """Highest Unprocessed a delivery reported since the last lag sample (a burst consumed
    between two samples still shows as a spike)."""
    paused_until: int | None = None
    """Paused on the server (``js.pause_consumer``) until this time (ns since the epoch, the
    server's ``pause_until``); ``None``: not paused (:mod:`fanout_kit.pause`)."""
    pause_at: int = 0
    """Server time (ns) of the newest pause fact taken in: older ones are ignored."""
    note: str | None = None
    """``"deleted"`` (lane kept, numbers frozen) or ``"recreated"`` (same name, new consumer)."""
    note_at: float = 0.0
    frozen: ConsumerNumbers | None = None

    def matches(self, subject: str) -> bool:
        """Whether a message on ``subject`` is for this consumer (no filter: every message)."""
        return not self.filters or any(subject_matches(subject, f) for f in self.filters)

    @property
    def num_ack_pending(self) -> int:
        """Outstanding Acks: delivered, not yet acked (nak'd ones included)."""
        return len(self.pending) + self.unknown_pending

    @property
    def num_redelivered(self) -> int:
        return max(0, len(self.rdc) + self.nrd_adjust)
