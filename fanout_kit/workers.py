"""Pull workers you can pause, crash and make nak, that survive what a real system goes through.

A :class:`Worker` is the loop every JetStream consumer application runs: fetch a batch from a
durable pull consumer, handle each message, ack it. It has its own connection, so crashing it
is real: the connection closes with messages fetched and not acked, and the server redelivers
them once ``ack_wait`` runs out.

It also behaves like a service you would deploy: when its consumer is deleted, its server
restarts, its connection drops or a cluster elects a new leader, it does not die. It says what
it is waiting for in :attr:`Worker.state`, keeps the error in :attr:`Worker.last_error`, retries
with a capped backoff (0.1 s doubling to 2 s) and carries on by itself once the consumer, server
or leader is back. Its task never ends with an exception nobody sees: anything unexpected (a
handler that raises) ends the worker as ``crashed`` with the error recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import weakref
from collections.abc import Awaitable, Callable, Iterator
from typing import Final

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from .errors import ConnectError
from .topology import validate_name
from .validate import bad_type, check_int, check_seconds, check_str

__all__ = [
    "CONSUMER_GONE",
    "CRASHED",
    "NO_LEADER",
    "PAUSED",
    "RUNNING",
    "STATES",
    "STOPPED",
    "UNREACHABLE",
    "Worker",
    "WorkerPool",
    "live_workers",
]

Handler = Callable[[Msg], Awaitable[None]]

RUNNING: Final = "running"
PAUSED: Final = "paused"
CONSUMER_GONE: Final = "waiting: consumer gone"
NO_LEADER: Final = "waiting: no leader"
UNREACHABLE: Final = "waiting: server unreachable"
CRASHED: Final = "crashed"
STOPPED: Final = "stopped"

STATES: Final = (RUNNING, PAUSED, CONSUMER_GONE, NO_LEADER, UNREACHABLE, CRASHED, STOPPED)
"""Every state a worker can be in, in the order counts of them are listed."""

FIRST_BACKOFF = 0.1  # seconds before the first retry
MAX_BACKOFF = 2.0  # the longest pause between retries: a worker resumes within 2 s
INFO_TIMEOUT = 1.0  # seconds for the consumer-info call that tells why a fetch failed


_LIVE: weakref.WeakKeyDictionary[Worker, int] = weakref.WeakKeyDictionary()
"""Workers started and not stopped (crashed ones included), each with when its start() was
called, for the board's worker column (weak: a worker nobody holds any more is forgotten)."""
_STARTS = itertools.count()


def live_workers(stream: str | None = None, consumer: str | None = None) -> list[Worker]:
    """The workers of this process that were started and not stopped since, in the order
    they were started, on ``stream`` (and ``consumer``) if given: a :class:`WorkerPool`'s,
    the board's and a lesson's own.

    A crashed worker is listed (its state, ``crashed``, is what a reader wants to see) until
    :meth:`Worker.stop` or until nothing refers to it any more (the list holds no reference).
    The board's worker column counts these, so three pool workers on one durable show as
    ``3 workers: 2 running, 1 paused``.
    """
    ordered = sorted(_LIVE, key=_LIVE.__getitem__)  # a pool connects its workers concurrently
    return [
        w
        for w in ordered
        if (stream is None or w.stream == stream) and (consumer is None or w.consumer == consumer)
    ]


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Worker:
    """One pull worker on ``stream``/``consumer`` (a durable pull consumer).

    ``url``: the server, or several comma-separated (a cluster's ``urls``). ``batch``: messages
    per fetch. ``delay``: seconds spent "working" on each message, so a person can watch
    messages sit in flight. ``handler``: an async function called with each message before it
    is acked (if it raises, the worker crashes, holding that message unacked, and keeps the
    error in :attr:`last_error`). ``fetch_timeout``: how long one fetch waits for messages.

    Use :meth:`start`; :meth:`pause`, :meth:`nak_next` and ``crash(after=)`` take effect
    between messages.
    """

    def __init__(
        self,
        url: str,
        stream: str,
        consumer: str,
        *,
        batch: int = 10,
        delay: float = 0.0,
        handler: Handler | None = None,
        fetch_timeout: float = 0.5,
    ) -> None:
        check_str(url, "url", example="'nats://127.0.0.1:4222' or url=cluster.urls")
        validate_name(stream, "stream")
        validate_name(consumer, "consumer")
        check_int(batch, "batch", low=1, example="10")
        check_seconds(delay, "delay", "0.05", zero_ok=True)
        if handler is not None and not callable(handler):
            fits = "an async function taking one message, or None"
            raise bad_type("handler", handler, fits, "handle")
        check_seconds(fetch_timeout, "fetch_timeout", "0.5")
        self.url = url
        self.stream = stream
        self.consumer = consumer
        self.batch = batch
        self.delay = delay
        self.handler = handler
        self.fetch_timeout = fetch_timeout
        self.acked = 0
        self.naked = 0
        self.crashed = False
        self.holding = 0
        """Messages fetched and not yet acked or nak'd (``0`` between batches)."""
        self.last_error: str | None = None
        """The most recent error the worker met (kept after it recovers), or ``None``."""
        self.retries = 0
        """How many times a fetch or ack failed and was retried after a pause."""
        self._waiting: str | None = None
        self._nak_next = 0
        self._crash_after: int | None = None
        self._running = asyncio.Event()
        self._running.set()
        self._nc: Client | None = None
        self._sub: JetStreamContext.PullSubscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._closing: set[asyncio.Task[None]] = set()
        self.started = False
        """Whether :meth:`start` ever succeeded (a worker made and not started yet is not
        ``stopped`` to a reader: the board's worker column says ``not started``)."""

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def active(self) -> bool:
        """Started, not stopped or crashed."""
        return self._task is not None and not self._task.done()

    @property
    def state(self) -> str:
        """``running``, ``paused``, ``waiting: consumer gone``, ``waiting: no leader``,
        ``waiting: server unreachable``, ``crashed`` or ``stopped``."""
        if self.crashed:
            return CRASHED
        if not self.active:
            return STOPPED
        if self._waiting is not None:
            return self._waiting
        return PAUSED if self.paused else RUNNING

    def __repr__(self) -> str:
        error = f", last error {self.last_error}" if self.last_error else ""
        return (
            f"<Worker {self.consumer} on {self.stream}: {self.state}, acked {self.acked}, "
            f"naked {self.naked}{error}>"
        )

    async def start(self) -> Worker:
        """Connect (a connection of its own) and start fetching. Restarts a crashed worker.

        Raises :class:`~fanout_kit.ConnectError` if no server answers at ``url``. A consumer
        that does not exist yet is waited for (state ``waiting: consumer gone``).
        """
        if self.active:
            return self
        started = next(_STARTS)
        await self._connect()
        self.crashed = False
        self._crash_after = None
        self._waiting = None
        self._stopping = False
        task = asyncio.create_task(self._loop(), name=f"fanout-kit-worker-{self.consumer}")
        task.add_done_callback(self._on_done)
        self._task = task
        self.started = True
        _LIVE[self] = started
        return self

    async def _connect(self) -> None:
        from .connect import connect

        # Never give up reconnecting: a worker outlives a server restart or a failover.
        nc = await connect(
            self.url, name=f"fanout-kit-worker-{self.consumer}", max_reconnect_attempts=-1
        )
        self._nc = nc
        self._sub = await nc.jetstream().pull_subscribe_bind(self.consumer, stream=self.stream)

    def pause(self) -> None:
        """Stop fetching after the message in hand (a paused consumer falls behind)."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def nak_next(self, n: int = 1) -> None:
        """Nak the next ``n`` messages instead of acking them (the server redelivers them)."""
        self._nak_next += check_int(n, "n", low=1, example="1")

    async def crash(self, after: int | None = None) -> None:
        """Disconnect without acking. ``after``: ack that many more messages first.

        With ``after=None`` the worker dies at once, holding whatever it fetched.
        """
        if after is not None:
            self._crash_after = check_int(after, "after", low=0, example="5")
            return
        await self._die(crashed=True)

    async def stop(self) -> None:
        """Stop the loop and close the connection (messages in hand stay unacked); the
        worker leaves :func:`live_workers`."""
        _LIVE.pop(self, None)
        await self._die(crashed=False)

    async def _die(self, *, crashed: bool) -> None:
        self._stopping = True  # a fetch that swallows the cancel must not reconnect
        task, self._task = self._task, None
        nc, self._nc = self._nc, None
        if task is not None and not task.done():
            task.cancel()
        if nc is not None:
            # Closing also ends a fetch that swallowed the cancellation (nats-py's fetch
            # sits in asyncio.wait_for, which can lose a cancel under Python 3.11).
            with contextlib.suppress(Exception):
                await nc.close()
        if task is not None and task is not asyncio.current_task():
            await asyncio.wait({task}, timeout=5)
        self.holding = 0
        self._waiting = None
        self.crashed = crashed

    def _on_done(self, task: asyncio.Task[None]) -> None:
        """Record how the loop ended; the exception is retrieved here, never lost."""
        if task.cancelled() or self._stopping:
            return  # stop() or crash(): _die records the outcome
        exc = task.exception()
        if exc is None and self._crash_after is None:
            return
        if exc is not None:
            self.last_error = _describe(exc)
        self.crashed = True
        self.holding = 0
        self._waiting = None
        if task is self._task and self._nc is not None:
            nc, self._nc = self._nc, None
            closing = asyncio.get_running_loop().create_task(self._close_quietly(nc))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close_quietly(nc: Client) -> None:
        with contextlib.suppress(Exception):
            await nc.close()

    def _wait(self, state: str | None, exc: BaseException) -> None:
        if self._stopping:
            return  # the error is stop() closing the connection, not news
        self._waiting = state
        self.last_error = _describe(exc)
        self.retries += 1

    async def _why(self, exc: BaseException) -> str | None:
        """Which waiting state a failed fetch or ack means (``None``: a passing hiccup)."""
        nc = self._nc
        if nc is None or not nc.is_connected:
            return UNREACHABLE
        try:
            info = await nc.jetstream().consumer_info(
                self.stream, self.consumer, timeout=INFO_TIMEOUT
            )
        except nats.js.errors.NotFoundError:
            return CONSUMER_GONE  # the consumer, or its whole stream, was deleted
        except (TimeoutError, nats.errors.Error):
            # JetStream did not answer for the consumer: an election, or a server starting.
            return NO_LEADER if nc.is_connected else UNREACHABLE
        if info.cluster is not None and info.cluster.name and not info.cluster.leader:
            return NO_LEADER
        return None

    async def _loop(self) -> None:
        pause = FIRST_BACKOFF
        while not self._stopping:
            await self._running.wait()
            if self._nc is None or self._nc.is_closed or self._sub is None:
                try:
                    await self._connect()
                except ConnectError as exc:
                    self._wait(UNREACHABLE, exc)
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, MAX_BACKOFF)
                    continue
            nc, sub = self._nc, self._sub
            assert nc is not None and sub is not None
            try:
                msgs = await sub.fetch(self.batch, timeout=self.fetch_timeout)
            except TimeoutError as exc:  # nothing to fetch, or no answer at all
                if nc.is_connected:
                    self._waiting = None
                    pause = FIRST_BACKOFF
                    continue
                self._wait(UNREACHABLE, exc)
            except nats.errors.Error as exc:
                self._wait(await self._why(exc), exc)
            else:
                self._waiting = None
                pause = FIRST_BACKOFF
                try:
                    if await self._handle(msgs):
                        return  # crash(after=) reached: _on_done records it
                    continue
                except nats.errors.Error as exc:
                    self.holding = 0  # what is left is redelivered after ack_wait
                    self._wait(await self._why(exc), exc)
            if self._stopping:
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, MAX_BACKOFF)

    async def _handle(self, msgs: list[Msg]) -> bool:
        """Handle and ack one batch; True when ``crash(after=)`` says to die now."""
        self.holding = len(msgs)
        for msg in msgs:
            if self._crash_after is not None and self._crash_after <= 0:
                return True
            if self.delay:
                await asyncio.sleep(self.delay)
            if self._nak_next > 0:
                self._nak_next -= 1
                await msg.nak()
                self.naked += 1
            else:
                if self.handler is not None:
                    await self.handler(msg)
                await msg.ack()
                self.acked += 1
                if self._crash_after is not None:
                    self._crash_after -= 1
            self.holding -= 1
        return False


class WorkerPool:
    """``count`` :class:`Worker` s sharing one durable: work sharing, not fan-out.

    Each worker has its own connection, so the server splits the consumer's messages between
    them. The pool starts, pauses, resumes and stops them together; ``workers`` holds them for
    anything per worker (``pool.workers[0].crash()``).
    """

    def __init__(
        self,
        url: str,
        stream: str,
        consumer: str,
        *,
        count: int = 2,
        batch: int = 10,
        delay: float = 0.0,
        handler: Handler | None = None,
        fetch_timeout: float = 0.5,
    ) -> None:
        check_int(count, "count", low=1, example="3")
        self.consumer = consumer
        self.workers = [
            Worker(
                url,
                stream,
                consumer,
                batch=batch,
                delay=delay,
                handler=handler,
                fetch_timeout=fetch_timeout,
            )
            for _ in range(count)
        ]

    def __len__(self) -> int:
        return len(self.workers)

    def __iter__(self) -> Iterator[Worker]:
        return iter(self.workers)

    def __getitem__(self, index: int) -> Worker:
        return self.workers[index]

    async def start(self) -> WorkerPool:
        """Start every worker that is not running (their connections open concurrently)."""
        await asyncio.gather(*(w.start() for w in self.workers))
        return self

    async def stop(self) -> None:
        await asyncio.gather(*(w.stop() for w in self.workers))

    def pause(self) -> None:
        for w in self.workers:
            w.pause()

    def resume(self) -> None:
        for w in self.workers:
            w.resume()

    @property
    def acked(self) -> int:
        return sum(w.acked for w in self.workers)

    @property
    def naked(self) -> int:
        return sum(w.naked for w in self.workers)

    @property
    def holding(self) -> int:
        return sum(w.holding for w in self.workers)

    @property
    def active(self) -> int:
        """How many workers are started and not stopped or crashed."""
        return sum(w.active for w in self.workers)

    @property
    def states(self) -> list[str]:
        return [w.state for w in self.workers]

    @property
    def state(self) -> str:
        """One word when all agree (``running``), else counts: ``2 running, 1 crashed``."""
        states = self.states
        counts = {s: states.count(s) for s in STATES if s in states}
        if len(counts) == 1:
            return next(iter(counts))
        return ", ".join(f"{n} {s}" for s, n in counts.items())

    def __repr__(self) -> str:
        return (
            f"<WorkerPool {self.consumer}: {len(self)} workers, {self.state}, acked {self.acked}>"
        )
