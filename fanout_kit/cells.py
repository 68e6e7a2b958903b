"""Each drawn cell's state: the board's truth rules, applied in order (pure).

For a stream sequence ``s`` in the drawn window and a consumer ``c``:

1. ``s`` removed from the stream (below the first sequence, in the deleted details, "no
   message found", or acked by every interested consumer of an interest stream) -> removed;
2. ``s``'s subject does not match ``c``'s filters -> not matching the filter;
3. ``s`` before ``c``'s start -> before this consumer's start (from the start the board saw,
   the deliver policy, ``opt_start_seq``, or ``created``/``opt_start_time`` against each
   message's stored time; ``last_per_subject`` is honestly unknown);
4. in flight / nak'd / redelivered / in progress as the wiretap saw it;
5. after Last Delivered -> not yet delivered;
6. an AckNone consumer's delivered messages -> delivered (no ack), never acked;
7. acked / terminated / max deliveries reached as the wiretap saw it;
8. at or below the Ack Floor -> acked;
9. between the Ack Floor and Last Delivered and not seen: the first matching stored message
   above the floor is in flight (else the floor would be higher); then, with ``n`` of the
   Outstanding Acks not accounted for, the rest are acked if ``n`` is 0, in flight if ``n``
   equals how many they are, and otherwise "delivered before the board watched".
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field

from .observe import ConsumerModel, MsgState, StreamModel

__all__ = [
    "FOCUS_CELLS",
    "MAX_LANES",
    "Lane",
    "Truth",
    "drawn_names",
    "known_capacity",
    "window",
]

MAX_LANES = 30
"""Consumer lanes drawn by default; the rest are counted (and the first few named)."""

FOCUS_CELLS = 20
"""Cells drawn around the cursor of a consumer whose Last Delivered is left of the window."""
SCAN_LIMIT = 5000
"""Rule 9 counts over at most this many sequences between Ack Floor and Last Delivered."""


def window(m: StreamModel, capacity: int) -> tuple[int, int]:
    """The newest ``capacity`` sequences (inclusive bounds); a limits stream's removed head
    is not drawn, an interest stream's is (its removals are the lesson)."""
    hi = m.last_seq
    floor = m.first_seq if m.retention == "limits" else 1
    return max(1, floor, hi - capacity + 1), hi


def drawn_names(m: StreamModel, max_lanes: int = MAX_LANES) -> tuple[list[str], list[str]]:
    """(drawn, hidden) consumer names: live and deleted lanes by name, ``max_lanes`` drawn."""
    names = sorted({*m.consumers, *m.gone})
    return names[:max_lanes], names[max_lanes:]


def known_capacity(m: StreamModel, capacity: int, max_lanes: int = MAX_LANES) -> int:
    """The widest window, up to ``capacity`` cells, whose every cell the model can tell
    without asking the server (a closed board widens only as far as what it recorded):
    every subject and stored time the rules need is known above its oldest sequence."""
    lo, hi = window(m, capacity)
    names = drawn_names(m, max_lanes)[0]
    wanted = Truth(m, lo, hi).needs(m.consumers[n] for n in names if n in m.consumers)
    unknown = [s for s in wanted if lo <= s <= hi]
    if not unknown:
        return capacity
    return max(hi - max(unknown), min(capacity, 10))


@dataclass
class Lane:
    """One consumer's cells for ``lo..hi``, its delivery-count marks, and its focus."""

    states: list[MsgState]
    marks: list[tuple[int, int]]
    start: int | None = None
    """First sequence the consumer can deliver, where the board can tell."""
    focus_lo: int | None = None
    focus: list[MsgState] = field(default_factory=list)
    focus_marks: list[tuple[int, int]] = field(default_factory=list)


class Truth:
    """The rules for one drawn window of one model state (removals computed once)."""

    def __init__(self, m: StreamModel, lo: int, hi: int) -> None:
        self.m, self.lo, self.hi = m, lo, hi
        self._removed: dict[int, bool] = {}

    def removed(self, s: int) -> bool:
        r = self._removed.get(s)
        if r is None:
            r = self._removed[s] = self.m.removed(s)
        return r

    def stream_lane(self) -> list[MsgState]:
        return [
            MsgState.REMOVED if self.removed(s) else MsgState.STORED
            for s in range(self.lo, self.hi + 1)
        ]

    def lane(self, c: ConsumerModel) -> Lane:
        rules = _Rules(self, c)
        states = [rules.state(s) for s in range(self.lo, self.hi + 1)]
        lane = Lane(states, _marks(c, self.lo, self.hi), rules.start)
        if self.lo > 1 and c.cursor < self.lo and self.m.last_seq:
            flo = max(1, c.cursor - FOCUS_CELLS * 3 // 4 + 1)
            fhi = min(flo + FOCUS_CELLS - 1, self.hi)
            lane.focus_lo = flo
            lane.focus = [rules.state(s) for s in range(flo, fhi + 1)]
            lane.focus_marks = _marks(c, flo, fhi)
        return lane

    def needs(self, consumers: Iterable[ConsumerModel]) -> set[int]:
        """Sequences of the window (and focus) whose subject or stored time the rules need
        and the model does not know: what the feed asks the server for (message gets)."""
        m = self.m
        want: set[int] = set()
        for c in consumers:
            time_based = c.start is None and c.deliver_policy not in ("all", "by_start_sequence")
            if not (c.filters or time_based):
                continue
            spans = [(self.lo, self.hi)]
            if c.cursor < self.lo:
                spans.append((max(1, c.cursor - FOCUS_CELLS), c.cursor + FOCUS_CELLS))
            for lo, hi in spans:
                for s in range(max(lo, m.first_seq), min(hi, m.last_seq) + 1):
                    if s in m.deleted:
                        continue
                    if (c.filters and s not in m.subjects) or (
                        time_based and s <= c.cursor and s not in m.times
                    ):
                        want.add(s)
        return want


def _marks(c: ConsumerModel, lo: int, hi: int) -> list[tuple[int, int]]:
    return sorted((s, n) for s, n in c.trace.items() if lo <= s <= hi and n > 1)


class _Rules:
    """The nine rules for one consumer; what needs scanning is worked out once."""

    def __init__(self, truth: Truth, c: ConsumerModel) -> None:
        self.t, self.m, self.c = truth, truth.m, c
        self.last_before, self.first_after = self._time_bounds()
        self.start = self._start()
        self.unseen: dict[int, MsgState] = {}
        self.rest = MsgState.UNKNOWN
        if c.ack_policy != "none" and c.cursor > c.floor_s:
            self._count_unseen()

    # --- rule 3: where the consumer starts --------------------------------------------------
    def _time_bounds(self) -> tuple[int | None, int | None]:
        """For time-based starts: the newest sequence stored before the cut-off time and the
        oldest stored at or after it, among those whose time is known (times only grow)."""
        c = self.c
        if c.start is not None or c.deliver_policy in ("all", "by_start_sequence"):
            return None, None
        if c.deliver_policy == "by_start_time":
            cut, strict = c.opt_start_time_ns, True
        else:
            cut, strict = c.created_ns, False
        if not cut:
            return None, None
        before = [s for s, t in self.m.times.items() if (t < cut if strict else t <= cut)]
        after = [s for s, t in self.m.times.items() if (t >= cut if strict else t > cut)]
        return (max(before) if before else None), (min(after) if after else None)

    def _start(self) -> int | None:
        """The first sequence the consumer can deliver, where it can be told; else None."""
        c, m = self.c, self.m
        if c.start is not None:
            return c.start
        policy = c.deliver_policy
        if policy == "all":
            return 1
        if policy == "by_start_sequence":
            return max(1, c.opt_start_seq)
        lb, fa = self.last_before, self.first_after
        if policy not in ("new", "by_start_time", "last") or lb is None:
            return None
        end = fa if fa is not None else m.last_seq + 1
        if end - lb > SCAN_LIMIT or not all(self.t.removed(s) for s in range(lb + 1, end)):
            return None  # messages between the two whose time is not known
        return lb if policy == "last" else end

    def before_start(self, s: int) -> bool | None:
        if self.start is not None:
            return s < self.start
        lb, fa = self.last_before, self.first_after
        if self.c.deliver_policy in ("new", "by_start_time"):
            if lb is not None and s <= lb:
                return True
            if fa is not None and s >= fa:
                return False
        return None

    # --- rule 9 --------------------------------------------------------------------------
    def _count_unseen(self) -> None:
        c, t, m = self.c, self.t, self.m
        f, d = c.floor_s, c.cursor
        left = c.unknown_pending
        if d - f > SCAN_LIMIT:
            self.rest = MsgState.ACKED if left <= 0 else MsgState.UNKNOWN
            return
        candidates: list[int] = []
        complete, first_found = True, False
        for s in range(f + 1, d + 1):
            if t.removed(s):
                continue
            subject = m.subjects.get(s)
            if subject is not None and not c.matches(subject):
                continue
            if self._skipped(s) or self.before_start(s):
                continue
            if c.filters and subject is None:
                complete = False
                continue
            if s in c.pending or s in c.done:
                first_found = True
                continue
            if not first_found and complete:
                self.unseen[s] = MsgState.IN_FLIGHT  # the floor would be higher otherwise
                left -= 1
            else:
                candidates.append(s)
            first_found = True
        if left <= 0:
            outcome = MsgState.ACKED
        elif complete and left == len(candidates):
            outcome = MsgState.IN_FLIGHT
        else:
            outcome = MsgState.UNKNOWN
        for s in candidates:
            self.unseen[s] = outcome
        self.rest = MsgState.ACKED if left <= 0 else MsgState.UNKNOWN

    def _skipped(self, s: int) -> bool:
        sk = self.c.skipped
        i = bisect.bisect_right(sk, (s, float("inf"))) - 1
        return i >= 0 and sk[i][0] <= s <= sk[i][1]

    # --- the rules in order ----------------------------------------------------------------
    def state(self, s: int) -> MsgState:
        c, m = self.c, self.m
        if self.t.removed(s):
            return MsgState.REMOVED
        subject = m.subjects.get(s)
        if subject is not None and not c.matches(subject):
            return MsgState.FILTERED
        if self.before_start(s):
            return MsgState.BEFORE_START
        p = c.pending.get(s)
        if p is not None:
            if p.naked:
                return MsgState.NAKED
            if p.progress:
                return MsgState.WORKING
            return MsgState.REDELIVERED if p.delivered > 1 else MsgState.IN_FLIGHT
        if s > c.cursor:
            return MsgState.UNDELIVERED
        if self._skipped(s):
            return MsgState.FILTERED
        done = c.done.get(s)
        if c.deliver_policy == "last_per_subject" and done is None and self._lps_unsure(s):
            return MsgState.UNKNOWN
        if c.ack_policy == "none":
            return MsgState.DELIVERED
        if done is not None:
            return done
        if s <= c.floor_s:
            return MsgState.ACKED
        return self.unseen.get(s, self.rest)

    def _lps_unsure(self, s: int) -> bool:
        """``last_per_subject`` delivers one message per subject of those stored when it was
        made: which ones, the board does not work out (it says "unknown")."""
        t = self.m.times.get(s)
        return t is None or not self.c.created_ns or t <= self.c.created_ns
