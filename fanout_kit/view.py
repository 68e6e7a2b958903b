"""What the board draws: a model snapshot in, a plain JSON-able frame out (pure).

The frame (schema version 1, ``BOARD_SPEC.md``) is everything the browser needs to draw the
board: a window of stream sequences ``lo..hi``, the stream lane and one lane per consumer as
strings of one-letter codes (the palette's), the cursors, the numbers under the CLI's names, the
lag lines on one shared scale, a consumer's pause on the server (``paused_until``, UTC; the
browser shows it in the learner's local time) and the status. Nothing here does I/O or changes
the model: the same inputs give the same frame, so what a test reads from :func:`cells` is what
the DOM shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import palette, pause
from .cells import MAX_LANES, Lane, Truth, drawn_names, window
from .observe import ConsumerModel, MsgState, StreamModel
from .report import ConsumerNumbers, ConsumerTable
from .workers import STATES as WORKER_STATES

__all__ = [
    "CODES",
    "MAX_LANES",
    "Status",
    "build_frame",
    "cells",
    "table",
    "worker_column",
    "worker_text",
]

CODES: dict[MsgState, str] = {MsgState(s.word): s.code for s in palette.STATES}
"""Legend word -> frame code, from the palette (the one place codes are chosen)."""
HIDDEN_NAMED = 20


@dataclass(frozen=True)
class Status:
    """The board's own state, as the frame's ``status`` carries it."""

    connection: str = "connected"
    board: str = "live"
    mode: str = "detail"
    banners: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {
            "connection": self.connection,
            "board": self.board,
            "mode": self.mode,
            "banners": list(self.banners),
        }


def _consumer(m: StreamModel, name: str) -> ConsumerModel:
    return m.consumers.get(name) or m.gone[name]


class WorkerLike(Protocol):
    stream: str
    consumer: str

    @property
    def state(self) -> str: ...


def worker_column(stream: str, workers: Iterable[WorkerLike]) -> dict[str, str]:
    """Per consumer of ``stream``, its workers in words (each worker counted once)."""
    states: dict[str, list[str]] = {}
    for w in {id(w): w for w in workers}.values():
        if w.stream == stream:
            states.setdefault(w.consumer, []).append(w.state)
    return {name: text for name, s in states.items() if (text := worker_text(s))}


def worker_text(states: Sequence[str]) -> str | None:
    """The worker column: ``None``, one state, or ``3 workers: 2 running, 1 paused`` (the
    states in the workers module's order, so the same workers always read the same)."""
    if not states:
        return None
    if len(states) == 1:
        return states[0]
    counts: dict[str, int] = {}
    for state in states:
        counts[state] = counts.get(state, 0) + 1
    rank = {s: i for i, s in enumerate(WORKER_STATES)}
    order = sorted(counts, key=lambda s: (rank.get(s, len(rank)), s))
    parts = ", ".join(f"{counts[state]} {state}" for state in order)
    return f"{len(states)} workers: {parts}"


def _codes(states: Sequence[MsgState]) -> str:
    return "".join(CODES[s] for s in states)


def _lane(m: StreamModel, truth: Truth, name: str, workers: Mapping[str, str]) -> dict[str, Any]:
    c = _consumer(m, name)
    lane: Lane = truth.lane(c)
    numbers = m.numbers(c)
    focus = None
    if lane.focus_lo is not None:
        focus = {
            "lo": lane.focus_lo,
            "cells": _codes(lane.focus),
            "marks": [list(x) for x in lane.focus_marks],
        }
    return {
        "name": name,
        "filters": list(c.filters),
        "note": c.note,
        "cells": _codes(lane.states),
        "marks": [list(x) for x in lane.marks],
        "start": lane.start,
        "floor": numbers.ack_floor,
        "cursor": numbers.last_delivered,
        "focus": focus,
        "numbers": numbers.cli(),
        "lag": list(c.lag),
        "worker": workers.get(name),
        "paused_until": _paused_until(m, c),
    }


def _paused_until(m: StreamModel, c: ConsumerModel) -> str | None:
    """When the server resumes a consumer paused on it (UTC, RFC 3339), else ``None`` (also
    for a deleted consumer's lane: nothing is paused there)."""
    live = m.consumers.get(c.name) is c
    return pause.utc_text(c.paused_until) if live and c.paused_until is not None else None


def _summary(lanes: list[dict[str, Any]], lo: int, previous: Mapping[str, Any] | None) -> str:
    """What changed since the previous frame, in words (the polite live region)."""
    before = {lane["name"]: lane for lane in (previous or {}).get("lanes", [])}
    parts: list[str] = []
    for lane in lanes:
        old = before.get(lane["name"])
        name = lane["name"]
        if old is None:
            if previous is not None:
                parts.append(f"{name}: new lane")
            continue
        if old["floor"] != lane["floor"]:
            parts.append(f"{name}: Ack Floor {old['floor']} -> {lane['floor']}")
        elif old["cursor"] != lane["cursor"]:
            parts.append(f"{name}: Last Delivered {old['cursor']} -> {lane['cursor']}")
        code = CODES[MsgState.NAKED]
        naks = [lo + i for i, x in enumerate(lane["cells"]) if x == code]
        if naks and len(naks) != old["cells"].count(code):
            seqs = ", ".join(map(str, naks[:3])) + (", ..." if len(naks) > 3 else "")
            parts.append(f"{name}: {len(naks)} nak'd (seq {seqs})")
        if lane["note"] != old["note"] and lane["note"]:
            parts.append(f"{name}: {lane['note']}")
        if bool(lane["paused_until"]) != bool(old.get("paused_until")):
            parts.append(f"{name}: consumer {'paused' if lane['paused_until'] else 'resumed'}")
    return "; ".join(parts[:6]) + ("; ..." if len(parts) > 6 else "")


def build_frame(
    m: StreamModel,
    status: Status,
    *,
    capacity: int,
    t: float = 0.0,
    api_calls: int = 0,
    workers: Mapping[str, str] | None = None,
    max_lanes: int = MAX_LANES,
    previous: Mapping[str, Any] | None = None,
    with_legend: bool = True,
) -> dict[str, Any]:
    """The frame for the model as it is now (see the module docstring and BOARD_SPEC.md)."""
    lo, hi = window(m, capacity)
    truth = Truth(m, lo, hi)
    drawn, hidden = drawn_names(m, max_lanes)
    lanes = [_lane(m, truth, name, workers or {}) for name in drawn]
    frame: dict[str, Any] = {
        "v": 1,
        "stream": m.name,
        "t": round(t, 2),
        "status": status.as_dict(),
        "head": {
            "first": m.first_seq,
            "last": m.last_seq,
            "stored": m.messages,
            "api_calls": api_calls,
            "cluster": m.cluster,
        },
        "lo": lo,
        "hi": hi,
        "stream_lane": _codes(truth.stream_lane()),
        "lanes": lanes,
        "lag_max": max([0, *(v for lane in lanes for v in lane["lag"])]),
        "hidden_lanes": len(hidden),
        "hidden": hidden[:HIDDEN_NAMED],
        "summary": _summary(lanes, lo, previous),
    }
    if with_legend:
        frame["legend"] = palette.legend()
    return frame


def cells(m: StreamModel, capacity: int, max_lanes: int = MAX_LANES) -> dict[str, dict[int, str]]:
    """``{consumer: {seq: legend word}}`` for the drawn window, ``""`` for the stream lane:
    the same states the frame's codes (and the DOM's ``data-state``) carry."""
    lo, hi = window(m, capacity)
    truth = Truth(m, lo, hi)
    seqs = range(lo, hi + 1)
    out: dict[str, dict[int, str]] = {
        "": {s: st.value for s, st in zip(seqs, truth.stream_lane(), strict=True)}
    }
    for name in drawn_names(m, max_lanes)[0]:
        lane = truth.lane(_consumer(m, name))
        out[name] = {s: st.value for s, st in zip(seqs, lane.states, strict=True)}
    return out


def table(m: StreamModel) -> ConsumerTable:
    """The numbers of every consumer the server has, under the CLI's names."""
    numbers: dict[str, ConsumerNumbers] = {
        name: m.numbers(m.consumers[name]) for name in sorted(m.consumers)
    }
    return ConsumerTable.of(m.name, numbers)
