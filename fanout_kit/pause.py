"""A consumer paused on the server (``js.pause_consumer``): what the board learns of it (pure).

While a consumer is paused the server delivers nothing from it, to any worker, until its
``pause_until`` time or a ``js.resume_consumer``. The board learns it from two places, both
verified on nats-server 2.15.1:

* **consumer info** (and the consumer list, and ``/jsz``): ``"paused": true`` and
  ``pause_remaining`` while paused, both left out otherwise; ``config.pause_until`` is the
  deadline, and *stays* in the config after the pause has ended (so only ``paused`` says
  whether it is on). ``ts`` is the server's time of the answer.
* the **advisory** ``$JS.EVENT.ADVISORY.CONSUMER.PAUSE.<stream>.<consumer>``
  (``io.nats.jetstream.advisory.v1.consumer_pause``: ``stream``, ``consumer``, ``paused``,
  ``pause_until``, ``timestamp``), sent at once on a pause, on a resume (``paused: false``,
  ``pause_until`` the zero time ``1970-01-01T00:00:00Z``), on a pause whose deadline is already
  past (``paused: false``), on a consumer *created* paused (after its ``CREATED``), and when a
  pause ends by itself at ``pause_until`` (``paused: false``, the old deadline).

Each fact carries the server's time, and the lane keeps the newest: a consumer info answered
before a pause but read after its advisory does not undo it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from .acks import parse_time_ns
from .consumer_state import ConsumerModel
from .observe import StreamModel

__all__ = ["from_advisory", "from_info", "learn", "utc_text"]


def _ns(text: object) -> int:
    """An RFC 3339 time -> ns since the epoch; 0 when missing or not a time."""
    try:
        return max(0, parse_time_ns(str(text))) if text else 0
    except ValueError:
        return 0


def learn(c: ConsumerModel, paused: bool, until_ns: int, at_ns: int) -> bool:
    """One fact from the server, stamped ``at_ns`` (server time; 0: unknown, taken as new):
    ``c`` is paused until ``until_ns`` (ns since the epoch), or not paused. A fact older than
    the one the lane has is ignored. Returns whether the lane changed."""
    if at_ns and at_ns < c.pause_at:
        return False
    c.pause_at = max(c.pause_at, at_ns)
    new = until_ns if paused and until_ns > 0 else None
    if new == c.paused_until:
        return False
    c.paused_until = new
    return True


def from_info(c: ConsumerModel, info: Mapping[str, Any]) -> bool:
    """Consumer info (API, consumer list or ``/jsz`` shape) into ``c``'s pause."""
    config = info.get("config") or {}
    until = _ns(config.get("pause_until"))
    return learn(c, bool(info.get("paused")), until, _ns(info.get("ts")))


def from_advisory(m: StreamModel, data: bytes) -> bool:
    """A ``CONSUMER.PAUSE`` advisory's payload into the model (a consumer the model does not
    know yet is left to the consumer info its ``CREATED`` advisory fetches). Returns whether a
    lane changed (the next frame shows it)."""
    try:
        doc = json.loads(data)
        name, at = str(doc["consumer"]), _ns(doc["timestamp"])
        paused, until = bool(doc.get("paused")), _ns(doc.get("pause_until"))
    except (ValueError, KeyError, TypeError):
        return False
    c = m.consumers.get(name)
    if c is None or not learn(c, paused, until, at):
        return False
    m.version += 1
    return True


def utc_text(ns: int) -> str:
    """``ns`` since the epoch as the frame carries a time: UTC, milliseconds, ``Z``
    (``2026-11-30T14:05:31.582Z``; every browser's ``Date`` reads it)."""
    seconds, rest = divmod(ns, 1_000_000_000)
    when = dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{when}.{rest // 1_000_000:03d}Z"
