"""Demo events that fit a stream: what the board's Publish control sends.

Publish sends the demo shop events of :func:`fanout_kit.events.demo_events` on the stream's
own subjects: as they are when the stream takes them (``events.>``), else under the stream's
own prefix (``notify.>`` gets ``notify.order.created`` ...), and only those a subject of the
stream matches. A stream none of them can fit gets a message saying so, never a made-up event
a lesson's service could not parse.
"""

from __future__ import annotations

from collections.abc import Sequence

from nats.aio.client import Client

from .acks import subject_matches
from .boardargs import BoardError, BoardTypeError
from .events import DEFAULT_KINDS, KINDS, Event, demo_events, publish_events

__all__ = ["fit_demo_events", "publish_demo"]

MOST = 100_000
"""Events one Publish may send."""

SHOP_KINDS = tuple(k for k in KINDS if k != "sensor")
DEVICES = ("dev-01", "dev-02", "dev-03", "dev-04")


def _fits(subject: str, patterns: Sequence[str]) -> bool:
    return any(subject_matches(subject, p) for p in patterns)


def _plan(patterns: Sequence[str]) -> tuple[str, tuple[str, ...]] | None:
    """(prefix for shop events, kinds) whose demo subjects a stream pattern takes, or None."""
    for prefix in ("events", *(_literal_prefix(p) for p in patterns)):
        if not prefix:
            continue
        kinds = [
            k for k in SHOP_KINDS if any(_fits(f"{prefix}.{k}.{e}", patterns) for e in KINDS[k])
        ]
        if any(_fits(f"sensors.{d}.{m}", patterns) for d in DEVICES for m in KINDS["sensor"]):
            kinds.append("sensor")
        if prefix != "events":
            kinds = [k for k in kinds if k in DEFAULT_KINDS]  # a stream of its own: shop events
        if kinds:
            return prefix, tuple(kinds)
    return None


def _literal_prefix(pattern: str) -> str:
    tokens = pattern.split(".")
    head = []
    for t in tokens[:-1]:
        if t in ("*", ">"):
            break
        head.append(t)
    return ".".join(head)


def fit_demo_events(patterns: Sequence[str], n: int, seed: int) -> list[Event] | str:
    """``n`` demo events on subjects the stream takes (``patterns``: its subjects), or a
    sentence saying why none fit."""
    plan = _plan(patterns)
    if plan is None:
        listed = ", ".join(patterns) or "none"
        return (
            f"Publish: the demo shop events do not fit this stream's subjects ({listed}). "
            "Publish your own: `await js.publish(subject, data)`."
        )
    prefix, kinds = plan
    made = n
    while True:
        batch = demo_events(made, seed=seed, kinds=kinds, prefix=prefix)
        fitting = [e for e in batch if _fits(e.subject, patterns)]
        if len(fitting) >= n or made >= 20 * n + 100:
            return fitting[:n]
        made *= 4


async def publish_demo(
    nc: Client, patterns: Sequence[str], n: int, *, seed: int, subject: str | None = None
) -> None:
    """Publish ``n`` demo events fitted to ``patterns`` (or all on ``subject``), awaiting
    their acks; a stream they cannot fit, or a bad ``n``, raises BoardError (nothing sent)."""
    fits = f"n must be a whole number of events from 1 to {MOST}, got {n!r}"
    if not isinstance(n, int) or isinstance(n, bool):
        raise BoardTypeError(fits, param="n")
    if not 1 <= n <= MOST:
        raise BoardError(fits, param="n")
    if subject is not None:
        events: list[Event] | str = [Event(subject, e.data) for e in demo_events(n, seed=seed)]
    else:
        events = fit_demo_events(patterns, n, seed)
    if isinstance(events, str):
        raise BoardError(events)
    await publish_events(nc.jetstream(), events, progress=False)
