"""Everything the board learns from the server, and the tasks that learn it.

The feed owns the I/O; the model (:mod:`fanout_kit.observe`) owns the state; the view draws.

* The **wiretap** (:mod:`fanout_kit.wiretap`): deliveries, acks, publishes and advisories
  straight into the model, no polling.
* A **reconcile** from the JetStream API (stream info with its deleted sequences, the consumer
  list) at a low rate, on reconnect and on :meth:`Feed.settle`, plus **message gets** for the
  drawn window where the wiretap was not listening (subjects and stored times the cell rules
  need; each sequence asked once). All counted in ``api.calls``.
* A **tick** (``tick`` seconds): measure the event rate (overload mode,
  :mod:`fanout_kit.overload`), sample lag, trim, expire deleted lanes, read the connection
  state, then call ``on_tick`` (the board draws there). The tick never draws itself, and the
  view never changes the model: this is the only place time moves it.
* The **connection**: ``connected``, ``disconnected, reconnecting`` or ``closed``, read from the
  client each tick; back from an outage it reconciles. :meth:`settle` during an outage raises
  :class:`~fanout_kit.errors.ConnectError` ("unreachable").
* A **clustered stream's leader** (:mod:`fanout_kit.leader`): stream info once a second,
  because nothing else tells when a leader dies; "no leader" until an answer names one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import nats.errors
from nats.aio.client import Client

from . import reconcile as apply
from .cells import FOCUS_CELLS, MAX_LANES, Truth, drawn_names, window
from .cluster import ClusterNotReady
from .jsapi import STREAM_NOT_FOUND, Api, ApiError, unreachable
from .leader import LeaderCheck, passing
from .observe import StreamModel
from .overload import Overload
from .wiretap import Wiretap

__all__ = ["DETAIL_LIMIT", "Feed"]

DETAIL_LIMIT = 5_000
"""Default wiretap events a second above which the feed switches to overload mode."""
DELETED_DETAILS_MAX = 20_000
"""Ask for the deleted sequences only while the stream has at most this many."""


class Feed:
    """The board's link to the server for one stream (make it, then :meth:`start`)."""

    def __init__(
        self,
        nc: Client,
        stream: str,
        *,
        capacity: int = 60,
        max_lanes: int = MAX_LANES,
        reconcile_interval: float | None = 5.0,
        tick: float = 0.1,
        quiet: float = 0.25,
        detail_limit: float | None = DETAIL_LIMIT,
        overview_rate: float = 2.0,
        on_tick: Callable[[], object] = lambda: None,
    ) -> None:
        self.nc, self.stream = nc, stream
        self.model = StreamModel(stream)
        self.api = Api(nc, stream)
        self.tap = Wiretap(nc, self.model, on_consumer=self._created, on_stream=self._changed)
        self.capacity, self.max_lanes = capacity, max_lanes
        self.reconcile_interval, self.tick, self.quiet = reconcile_interval, tick, quiet
        self.on_tick = on_tick
        self.overload = Overload(self, detail_limit, overview_rate)
        self.tap.on_alarm = self.overload.ring
        self.ticks = 0
        self.settling = False
        self.closed = False
        self.stream_missing = False
        self.client_closed = False
        """The client was closed while the board watched (not by the board's close())."""
        self.read_error: str | None = None
        """Why the last reconcile failed, while the client was connected (else None)."""
        self.connection = "connected"
        self.error: str | None = None
        """The last unexpected failure of a background task (shown in a banner)."""
        self.workers_busy: Callable[[], bool] = lambda: False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._lock = asyncio.Lock()
        self._asked: set[int] = set()
        self._sampled = -1
        self.leader = LeaderCheck(self.api, self.model)

    # --- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        """Reconcile exactly, subscribe, catch up on what moved meanwhile, start the tick."""
        self.model.now = time.monotonic()
        await self.reconcile(exact=True)
        await self.tap.listen()
        await self.tap.subscribe()
        self.overload.measure(time.monotonic())  # arms the wiretap's alarm
        await self.reconcile(exact=False)
        await self.fill()
        self.spawn(self._tick_loop(), "tick")
        if self.reconcile_interval:
            self.spawn(self._reconcile_loop(), "reconcile")

    def spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"fanout-kit-board-{what}")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        """A background task ended: a failure is kept and shown, never lost."""
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            self.error = f"{task.get_name()}: {type(exc).__name__}: {exc}"
            self.model.version += 1

    async def stop(self) -> None:
        """Cancel every task and drop every subscription. Safe to call twice."""
        self.closed = True  # every loop also checks this
        tasks, self._tasks = [t for t in self._tasks if t is not asyncio.current_task()], set()
        while tasks:
            # Cancel again until done: Python 3.11's wait_for (inside nats-py's request) can
            # swallow a cancellation that meets a reply arriving at the same moment.
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=0.1)
            tasks = [t for t in tasks if not t.done()]
        await self.tap.unsubscribe(everything=True)

    @property
    def last_event(self) -> float:
        return self.tap.last_event

    def banners(self) -> list[str]:
        """What is wrong with the feed's view of the server, in words (empty: nothing)."""
        out = [b for b in (self.overload.banner(),) if b]
        connection = self.connection_now()
        if connection == "disconnected, reconnecting":
            out.append(
                "The server is unreachable: the numbers are as of the connection loss. "
                "The board reconnects and reconciles by itself when the server is back."
            )
        elif connection == "closed" and self.client_closed:
            out.append(
                "The client this board watches through was closed, so the board stopped. "
                "Connect again and watch with the new client."
            )
        cluster = self.model.cluster
        if self.stream_missing:
            out.append(f"Stream {self.stream!r} was not found at the last reconcile.")
        elif cluster is not None and cluster["leader"] is None and connection == "connected":
            out.append(
                f"No leader: publishes fail. Stream {self.stream!r} has no leader right now (its "
                "replicas are electing one, which takes a few seconds, or too few of them run); "
                "the numbers are as of its last answer."
            )
        elif self.read_error and connection == "connected":
            out.append(
                f"The server did not answer the board's last reconcile ({self.read_error}): "
                "the numbers are as of the reconcile before (a cluster electing a leader?)."
            )
        if self.error:
            out.append(f"A background task of the board failed: {self.error}")
        return out

    # --- reconcile and message gets ------------------------------------------------------
    def _created(self, name: str) -> None:
        self.spawn(self._quietly(functools.partial(self._fetch_consumer, name)), "advisory")

    def _changed(self) -> None:
        self.spawn(self._quietly(functools.partial(self.reconcile, exact=False)), "advisory")

    async def _fetch_consumer(self, name: str) -> None:
        info = await self.api.consumer(name)
        if self.overload.active:
            apply.apply_overview(self.model, info)
        else:
            apply.apply_consumer_info(self.model, info, exact=False)
        await self.tap.follow_push()

    async def reconcile(self, *, exact: bool = True, insist: bool = False) -> bool:
        """Stream info, then every consumer's info, into the model (API calls, counted).

        ``exact``: take the server's numbers as they are (right when the stream is quiet);
        otherwise merge only what can only move forward (in overload mode: the overview).
        The stream is read before its consumers, so the last sequence the board knows is
        never newer than the consumers' numbers. An exact reconcile during which the wiretap
        saw traffic is merged forward only (the answers may be older or newer than what it
        saw), unless ``insist``. Returns whether the answers were taken exactly.
        """
        async with self._lock:
            if exact and self.tap.on:
                await self._run_queued(1.0)
            before = self.model.events
            details = self.model.num_deleted <= DELETED_DETAILS_MAX
            stream: dict[str, Any] | None = None
            try:
                stream = await self.api.stream_info(deleted_details=details)
                infos = await self.api.consumers()
            except Exception as exc:
                missing = isinstance(exc, ApiError) and exc.err_code == STREAM_NOT_FOUND
                self.stream_missing = missing
                self.read_error = None if missing else f"{type(exc).__name__}: {exc}".strip()
                if stream is None:
                    self.leader.stream_info_failed(exc)
                self.model.version += 1
                raise
            self.stream_missing, self.read_error = False, None
            if exact and self.tap.on:
                await self._run_queued(1.0)  # what arrived before the answers goes first
                exact = insist or self.model.events == before
            self.overload.note_totals(stream, infos)
            overview = not exact and self.overload.active
            apply.apply_stream_info(self.model, stream, exact=exact)
            for info in infos:
                if overview:
                    apply.apply_overview(self.model, info)
                else:
                    apply.apply_consumer_info(self.model, info, exact=exact)
            if exact:
                self.model.forget_consumers_except(i["name"] for i in infos)
        await self.tap.follow_push()
        return exact

    def window(self) -> tuple[int, int]:
        return window(self.model, self.capacity)

    def resize(self, capacity: int) -> None:
        """The browser fits ``capacity`` cells a lane now: learn what the new window needs."""
        self.capacity = capacity
        if self.connection == "connected" and not self.closed:
            self.spawn(self._quietly(functools.partial(self.fill, limit=capacity)), "fill")

    async def fill(self, limit: int = 1000) -> int:
        """Message gets for what the drawn window's rules need and nobody told the board (at
        most ``limit`` a round; each sequence asked once). Returns how many were asked."""
        m = self.model
        lo, hi = self.window()
        names = drawn_names(m, self.max_lanes)[0]
        want = Truth(m, lo, hi).needs(m.consumers[n] for n in names if n in m.consumers)
        todo = sorted(want - self._asked, reverse=True)[:limit]
        self._asked.update(todo)
        answers = await asyncio.gather(*(self.api.message(s) for s in todo), return_exceptions=True)
        for seq, answer in zip(todo, answers, strict=True):
            if isinstance(answer, BaseException):
                self._asked.discard(seq)  # ask again next round
            else:
                m.apply_message(seq, *answer)
        return len(todo)

    async def _quietly(self, read: Callable[[], Awaitable[object]]) -> None:
        """A background read: failing is fine (the server may be away), the next one may work.
        (Given as a function, so a read cancelled before it starts is never left unawaited.)"""
        with contextlib.suppress(Exception):
            await read()

    async def _reconcile_loop(self) -> None:
        assert self.reconcile_interval
        while not self.closed:
            await asyncio.sleep(self.reconcile_interval)
            if self.overload.active or self.overload.switching or self.connection != "connected":
                continue  # the overview loop reads consumer info; no traffic means nothing
            exact = time.monotonic() - self.last_event >= self.quiet
            await self._quietly(functools.partial(self.reconcile, exact=exact))

    # --- the tick ------------------------------------------------------------------------
    async def _tick_loop(self) -> None:
        while not self.closed:
            await asyncio.sleep(self.tick)
            self.ticks += 1
            now = self.model.now = time.monotonic()
            self._read_connection()
            self.overload.measure(now)
            if self.ticks % 2 == 0 and self.model.version != self._sampled:
                self.model.sample_lag()
                self._sampled = self.model.version
            self.model.expire_notes(now)
            if self.ticks % 50 == 0:
                self._trim()
            every = 10 if self.overload.active else 3  # overload: new messages every round
            if self.ticks % every == 0 and self.connection == "connected" and not self.settling:
                read = functools.partial(self.fill, limit=self.capacity)
                self.spawn(self._quietly(read), "fill")
            if self.leader.due(self.ticks, self.tick) and self.connection == "connected":
                self.spawn(self._quietly(self.leader.check), "leader")
            if self.nc.is_closed:  # closed under the board: it says so, and stops
                self.client_closed = True
                self.on_tick()
                await self.stop()
                return
            self.on_tick()

    def connection_now(self) -> str:
        """``connected``, ``disconnected, reconnecting`` or ``closed``, as the client is now."""
        nc = self.nc
        if nc.is_closed:
            return "closed"
        return "connected" if nc.is_connected else "disconnected, reconnecting"

    def _read_connection(self) -> None:
        state = self.connection_now()
        if state == self.connection:
            return
        self.connection = state
        self.model.version += 1
        if state == "connected":  # back: forward now, exact once quiet (or at settle)
            self.tap.last_event = time.monotonic()
            self.spawn(self._quietly(functools.partial(self.reconcile, exact=False)), "back")

    def _trim(self) -> None:
        lo, _ = self.window()
        behind = [c.cursor - FOCUS_CELLS for c in self.model.consumers.values() if c.cursor < lo]
        below = min([lo, *behind]) - self.capacity
        self.model.trim(below)
        self._asked = {s for s in self._asked if s >= below}

    # --- settle --------------------------------------------------------------------------
    async def settle(self, timeout: float) -> None:
        """Wait for quiet, reconcile exactly, get what the window needs. Raises ConnectError
        when the server is unreachable (there is nothing to settle against)."""
        if not self.nc.is_connected:
            raise unreachable(self.nc)
        deadline = time.monotonic() + timeout
        self.settling = True
        try:
            if self.overload.active:
                await self.overload.wait_still(deadline)
                await self.overload.leave()
            await self._settle_detail(deadline)
            await self.fill()
            self.model.clear_gone()
            self.model.sample_lag()
            self._sampled = self.model.version
        except (nats.errors.Error, TimeoutError, ApiError) as exc:
            if not self.nc.is_connected:  # the server went away while settling
                raise unreachable(self.nc, type(exc).__name__) from None
            if self.model.cluster is not None and passing(exc, self.nc.is_connected):
                raise ClusterNotReady(
                    f"Stream {self.stream!r} or one of its consumers had no leader for "
                    f"{timeout:g} s (an election, or too few replicas running): the server did "
                    "not answer, so the board cannot settle against it. Settle again once the "
                    "board names a leader, or with a longer timeout."
                ) from None
            raise
        finally:
            self.settling = False

    async def drain(self, timeout: float) -> None:
        """Wait until the server has sent us everything and every callback has run."""
        await self.nc.flush(timeout=max(1, math.ceil(timeout)))
        await self._run_queued(timeout)

    async def _run_queued(self, timeout: float) -> None:
        """Let the wiretap's callbacks take every message already received (bounded)."""
        deadline = time.monotonic() + timeout
        subs = self.tap.subscriptions()
        while any(s.pending_msgs for s in subs) and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0)

    async def _settle_detail(self, deadline: float) -> None:
        """Wait for ``quiet`` s without wiretap events, then reconcile exactly; again while
        traffic arrives during the reconcile (at the deadline, exactly regardless)."""
        while True:
            await self.drain(max(0.1, deadline - time.monotonic()))
            now = time.monotonic()
            waited = now - self.last_event
            if (waited >= self.quiet and not self.workers_busy()) or now >= deadline:
                try:
                    if await self.reconcile(exact=True, insist=now >= deadline):
                        return
                except (nats.errors.Error, TimeoutError, ApiError) as exc:
                    # No answer (a stream's or a consumer's leader being elected): again,
                    # until the deadline.
                    if not passing(exc, self.nc.is_connected) or time.monotonic() >= deadline:
                        raise
                    await asyncio.sleep(0.1)
                continue
            await asyncio.sleep(min(self.quiet - waited, 0.05) if waited < self.quiet else 0.05)
