"""Hand-built board frames for the browser tests: every state, marks, focus, long filter
lists, a deleted and a recreated lane, a consumer paused on the server, an overload banner, a
lost connection.

Frames follow the schema in :mod:`fanout_kit.widget`; nothing here talks to a server. The
drawing is checked against these frames (what the DOM must say), not against NATS.
"""

from __future__ import annotations

from typing import Any

from fanout_kit import palette

LONG_FILTERS = [
    "events.order.created",
    "events.order.paid",
    "events.order.cancelled.by-customer",
    "events.payment.>",
    "events.shipping.label.printed",
    "events.customer.*.address-changed",
    "events.inventory.*.low-stock",
]
PAUSED_UNTIL = "2026-11-30T14:05:31.582Z"
CONSUMERS = ["analytics", "audit", "billing-with-a-rather-long-name", "late-report", "old", "redo"]


def _cells(name: str, lo: int, hi: int, step: int) -> str:
    """A deterministic picture that uses every consumer state somewhere."""
    out = []
    for s in range(lo, hi + 1):
        if s % 29 == 0:
            out.append("G")
        elif name == "analytics":
            out.append("F" if s % 5 == 0 else "A" if s < hi - 8 else "IRNW?ATXU"[s % 9])
        elif name == "audit":
            out.append("ARNITXFB?UWD"[(s + step) % 12])
        elif name.startswith("billing"):
            out.append("D" if s < hi - 3 else "U")
        elif name == "late-report":
            out.append("B" if s < lo + 30 else "U")
        elif name == "old":
            out.append("A")
        else:
            out.append("U" if s > hi - 20 else "A")
    return "".join(out)


def make_frame(lo: int, hi: int, step: int = 0, *, problems: bool = True) -> dict[str, Any]:
    """One frame for messages ``lo..hi``; ``step`` moves the cursors (time travel)."""
    lanes = []
    for name in CONSUMERS:
        cells = _cells(name, lo, hi, step)
        cursor = {"analytics": hi - 2 - step, "audit": hi - step, "late-report": lo + 40}.get(
            name, hi - 4
        )
        floor = cursor - {"analytics": 6, "audit": 3}.get(name, 0)
        lane: dict[str, Any] = {
            "name": name,
            "filters": {"analytics": ["events.order.>"], "audit": LONG_FILTERS}.get(name, []),
            "note": {"old": "deleted", "redo": "recreated"}.get(name),
            "cells": cells,
            "marks": [[s, 2 + (s % 3)] for s in range(lo, hi + 1) if s % 11 == 0],
            "start": {"late-report": lo + 30}.get(name, 1),
            "floor": floor,
            "cursor": cursor,
            "focus": None,
            "numbers": {
                "Last Delivered": cursor,
                "Ack Floor": floor,
                "Outstanding Acks": f"{cursor - floor} of 1,000",
                "Redelivered": 2 + step,
                "Unprocessed": hi - cursor,
                "Waiting Pulls": 1,
            },
            "lag": [0, 3, 7 + step, 4, 9, 2, hi - cursor],
            "worker": {"analytics": "running", "audit": "3 workers: 2 running, 1 paused"}.get(name),
            # Paused on the server (js.pause_consumer) until then, UTC.
            "paused_until": {"late-report": PAUSED_UNTIL}.get(name),
        }
        if name == "billing-with-a-rather-long-name":
            lane["cursor"], lane["floor"] = lo - 500, lo - 520
            lane["numbers"]["Last Delivered"] = lo - 500
            lane["numbers"]["Ack Floor"] = lo - 520
            lane["focus"] = {
                "lo": lo - 520,
                "cells": "A" * 20 + "IIRN" + "U" * 16,
                "marks": [[lo - 498, 3]],
            }
        lanes.append(lane)
    stream_lane = "".join("G" if s % 29 == 0 else "s" for s in range(lo, hi + 1))
    return {
        "v": 1,
        "stream": "EVENTS",
        "t": round(0.5 * step, 1),
        "status": {
            "connection": "disconnected, reconnecting" if problems else "connected",
            "board": "live",
            "mode": "overload" if problems else "detail",
            "banners": [
                "more than 5,000 events/s (about 12,345/s): showing the server's consumer info "
                "twice a second instead of every message. Grey cells were delivered and are in "
                "flight or acked: the board does not know which."
            ]
            if problems
            else [],
        },
        "head": {
            "first": 1,
            "last": hi,
            "stored": hi - lo + 1,
            "api_calls": 12 + step,
            # A clustered stream: electing a leader while the connection is in trouble.
            "cluster": {
                "leader": None if problems else "n1",
                "replicas": [
                    {"name": "n2", "current": False, "lag": 7, "offline": False},
                    {"name": "n3", "current": True, "lag": 0, "offline": False},
                ],
            },
        },
        "lo": lo,
        "hi": hi,
        "stream_lane": stream_lane,
        "lanes": lanes,
        "lag_max": 40,
        "hidden_lanes": 2 if problems else 0,
        "summary": f"analytics: Ack Floor {lanes[0]['floor']}; audit: 1 nak'd (seq {hi - 3})",
        "legend": palette.legend(),
    }


def expected_cells(frame: dict[str, Any]) -> dict[str, dict[int, str]]:
    """What the DOM must carry for ``frame``: consumer ("" = stream) -> seq -> state word."""
    word = {s.code: s.word for s in palette.STATES}
    lo = frame["lo"]
    out: dict[str, dict[int, str]] = {
        "": {lo + i: word[c] for i, c in enumerate(frame["stream_lane"])}
    }
    for lane in frame["lanes"]:
        out[lane["name"]] = {lo + i: word[c] for i, c in enumerate(lane["cells"])}
    return out
