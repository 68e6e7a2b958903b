"""Pull workers you can pause, crash and make nak, for experiments and the board's controls.

A :class:`Worker` is the loop every JetStream consumer application runs: fetch a batch from a
durable pull consumer, handle each message, ack it. It has its own connection, so crashing it
is real: the connection closes with messages fetched and not acked, and the server redelivers
them once ``ack_wait`` runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

__all__ = ["Worker"]

Handler = Callable[[Msg], Awaitable[None]]


class Worker:
    """One pull worker on ``stream``/``consumer`` (a durable pull consumer that exists).

    ``batch``: messages per fetch. ``delay``: seconds spent "working" on each message, so a
    person can watch messages sit in flight. ``handler``: an async function called with each
    message before it is acked. Use :meth:`start`; the flags below take effect between messages.
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
        self._nak_next = 0
        self._crash_after: int | None = None
        self._running = asyncio.Event()
        self._running.set()
        self._nc: Client | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def active(self) -> bool:
        """Started, not stopped or crashed."""
        return self._task is not None and not self._task.done()

    @property
    def state(self) -> str:
        """``running``, ``paused``, ``crashed`` or ``stopped``."""
        if self.crashed:
            return "crashed"
        if not self.active:
            return "stopped"
        return "paused" if self.paused else "running"

    async def start(self) -> Worker:
        """Connect (a connection of its own) and start fetching. Restarts a crashed worker."""
        if self.active:
            return self
        from .connect import connect

        self._nc = await connect(self.url, name=f"fanout-kit-worker-{self.consumer}")
        sub = await self._nc.jetstream().pull_subscribe_bind(self.consumer, stream=self.stream)
        self.crashed = False
        self._crash_after = None
        self._task = asyncio.create_task(self._loop(sub), name=f"fanout-kit-worker-{self.consumer}")
        return self

    def pause(self) -> None:
        """Stop fetching after the message in hand (a paused consumer falls behind)."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def nak_next(self, n: int = 1) -> None:
        """Nak the next ``n`` messages instead of acking them (the server redelivers them)."""
        self._nak_next += n

    async def crash(self, after: int | None = None) -> None:
        """Disconnect without acking. ``after``: ack that many more messages first.

        With ``after=None`` the worker dies at once, holding whatever it fetched.
        """
        if after is not None:
            self._crash_after = after
            return
        await self._die(crashed=True)

    async def stop(self) -> None:
        """Stop the loop and close the connection (messages in hand stay unacked)."""
        await self._die(crashed=False)

    async def _die(self, *, crashed: bool) -> None:
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
        self.crashed = crashed

    async def _loop(self, sub) -> None:  # type: ignore[no-untyped-def]
        while True:
            await self._running.wait()
            try:
                msgs = await sub.fetch(self.batch, timeout=self.fetch_timeout)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except nats.errors.ConnectionClosedError:
                return
            self.holding = len(msgs)
            for msg in msgs:
                if self._crash_after is not None and self._crash_after <= 0:
                    asyncio.get_running_loop().create_task(self._die(crashed=True))
                    return
                if self.delay:
                    await asyncio.sleep(self.delay)
                if self._nc is None or self._nc.is_closed:
                    return
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
