"""The feed's overload mode: stop following every message when that costs too much.

The wiretap receives two extra messages per delivery (its copy of the delivery and the ack) and
spends a few microseconds of Python on each, on the same event loop as the learner's consumers:
at tens of thousands of deliveries a second that alone would cost them a third of their
throughput. So the feed's tick measures the wiretap's event rate; above ``detail_limit`` events
a second (more than that many within one second: a burst of a few hundred messages, gone in
a tenth of a second, is not a rate) the feed unsubscribes its per-message subscriptions (the
server stops sending the copies) and reads stream and consumer info ``overview_rate`` times a
second instead, saying so in a banner. When consumer info shows the traffic fell below half the
limit, it subscribes again and reconciles exactly. Settling never enters overload mode and
always leaves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .feed import Feed

__all__ = ["WINDOW", "Overload", "movement"]

WINDOW = 1.0
"""Seconds the detail-mode rate is measured over: overload means more than ``detail_limit``
events within one second, never a short burst scaled up to a rate."""


def _times(rate: float) -> str:
    return {1.0: "once a second", 2.0: "twice a second"}.get(rate, f"{rate:g} times a second")


def movement(stream: dict[str, Any], infos: list[dict[str, Any]]) -> dict[str, int]:
    """Monotonic server counters that grow by about one per wiretap event: per consumer,
    deliveries (the delivered consumer sequence counts redeliveries) plus acks (the ack floor's
    consumer sequence); for the stream, publishes twice (the publish and its puback)."""
    totals = {"$stream": 2 * int((stream.get("state") or {}).get("last_seq", 0))}
    for info in infos:
        delivered = int((info.get("delivered") or {}).get("consumer_seq", 0))
        acked = int((info.get("ack_floor") or {}).get("consumer_seq", 0))
        totals[str(info.get("name"))] = delivered + acked
    return totals


class Overload:
    """Detail or overload mode for one feed, and the switches between them."""

    def __init__(self, feed: Feed, detail_limit: float | None, overview_rate: float) -> None:
        self.feed = feed
        self.detail_limit = detail_limit
        self.overview_rate = overview_rate
        self.active = False
        self.switching = False
        self.switches = 0
        """Mode changes so far (into overload mode and back count one each)."""
        self.event_rate = 0.0
        """Wiretap events a second: measured per tick in detail mode, estimated from consumer
        info movement in overload mode."""
        self.totals: tuple[float, dict[str, int]] | None = None
        self._samples: deque[tuple[float, int]] = deque([(time.monotonic(), 0)])
        """(time, wiretap events) at each measure within the last :data:`WINDOW` seconds."""
        self._lock = asyncio.Lock()

    @property
    def mode(self) -> str:
        """``overload`` from the moment the switch is decided (the wiretap may still be
        unsubscribing: what happens meanwhile is not followed message by message), else
        ``detail``."""
        return "overload" if self.active or self.switching else "detail"

    def banner(self) -> str | None:
        if not self.active:
            return None
        return (
            f"More than {self.detail_limit or 0:,.0f} events a second (about "
            f"{self.event_rate:,.0f}/s): the board shows the server's consumer info "
            f"{_times(self.overview_rate)} instead of every message. Cells between Ack Floor "
            "and Last Delivered are in flight or acked; the board cannot tell which."
        )

    def note_totals(self, stream: dict[str, Any], infos: list[dict[str, Any]]) -> None:
        self.totals = (time.monotonic(), movement(stream, infos))

    def measure(self, now: float) -> None:
        """Detail mode, each tick (or at once when the wiretap's alarm rings): how many events
        arrived within the last second; more than ``detail_limit`` -> overload mode. The alarm
        is then set to ring as soon as that many arrive within the (sliding) second, so a
        sustained rate far above the limit is caught long before the second is over."""
        if self.active:
            return
        feed = self.feed
        events = feed.tap.events
        samples = self._samples
        samples.append((now, events))
        while now - samples[0][0] > WINDOW:
            samples.popleft()  # the newest sample (now) always stays
        since, base = samples[0]
        self.event_rate = (events - base) / max(now - since, feed.tick)
        limit = self.detail_limit
        if limit is None:
            return
        most = int(limit * WINDOW)  # events allowed within one second
        feed.tap.alarm = base + most + 1
        if events - base > most and not self.switching:
            if not feed.settling and not feed.closed:
                self.switching = True
                feed.spawn(self.enter(), "overload")

    def ring(self) -> None:
        """The wiretap's alarm: measure now rather than at the next tick."""
        self.measure(time.monotonic())

    async def enter(self) -> None:
        """Stop following every message: unsubscribe the wiretap, read consumer info instead."""
        feed = self.feed
        try:
            async with self._lock:
                if self.active or feed.closed or feed.settling:
                    return
                self.active = True
                self.switches += 1
                await feed.tap.unsubscribe()
                feed.model.version += 1  # redraw: the banner
                self.totals = None
        finally:
            self.switching = False
        feed.spawn(self._overview_loop(), "overview")

    async def _overview_loop(self) -> None:
        """Read stream and consumer info ``overview_rate`` times a second (counted); estimate
        the event rate from how far the server's counters moved; leave below half the limit."""
        feed, interval = self.feed, 1.0 / self.overview_rate
        stint = self.switches  # a later stint in overload mode runs its own loop
        while self.active and self.switches == stint and not feed.closed:
            before = self.totals
            try:
                await feed.reconcile(exact=False)
            except Exception:  # the server may be away: the next read may work
                await asyncio.sleep(interval)
                continue
            after = self.totals
            if before is not None and after is not None and after[0] > before[0]:
                moved = sum(max(0, v - before[1][k]) for k, v in after[1].items() if k in before[1])
                self.event_rate = moved / (after[0] - before[0])
                limit = self.detail_limit
                if (limit is None or self.event_rate < limit / 2) and not feed.settling:
                    await self.leave()
                    return
            await asyncio.sleep(interval)

    async def leave(self) -> None:
        """Back to per-message detail the way the feed starts: an exact reconcile, the
        wiretap, then a forward-only merge of what moved in between (behind, never ahead)."""
        feed = self.feed
        async with self._lock:
            if not self.active or feed.closed:
                return
            await feed.reconcile(exact=True)
            await feed.tap.subscribe()
            self.active = False  # only now: the wiretap is live
            self.switches += 1
            self._samples.clear()  # counts from before overload mode say nothing now
            self.measure(time.monotonic())
            feed.tap.last_event = time.monotonic()  # not quiet just because it was off
            with contextlib.suppress(Exception):
                await feed.reconcile(exact=False)

    async def wait_still(self, deadline: float) -> None:
        """Overload mode, settling: read consumer info until two reads ``quiet`` s apart agree."""
        feed = self.feed
        previous: dict[str, int] | None = None
        while time.monotonic() < deadline:
            await feed.reconcile(exact=False)
            totals = self.totals[1] if self.totals else {}
            if totals == previous and not feed.workers_busy():
                return
            previous = totals
            await asyncio.sleep(max(0.05, min(feed.quiet, deadline - time.monotonic())))
