"""The live board: every consumer of a stream, message by message, from the server's own traffic.

``board = await Board.watch(nc, "EVENTS")`` as a cell's last line shows it. The board is a
facade over four parts, along the data flow::

    server traffic -> feed (I/O, tasks) -> model (pure) -> view (pure frame) -> widget (browser)

:mod:`fanout_kit.feed` listens and reconciles, :mod:`fanout_kit.observe` keeps the state,
:mod:`fanout_kit.view` turns it into a frame at most ten times a second (on the feed's tick,
only when something changed), and :mod:`fanout_kit.widget` draws it in the browser, with the
controls under it. The controls call this board, never NATS.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from nats.aio.client import Client

from . import view
from .boardargs import BoardError, check_client, check_options, check_stream, feed_options
from .cells import known_capacity
from .demo import publish_demo
from .feed import DETAIL_LIMIT, Feed
from .observe import StreamModel
from .report import ConsumerTable
from .topology import validate_name
from .widget import BoardControls, BoardWidget, board_box
from .workers import Worker, live_workers

NOT_STARTED = "not started"
"""The worker column of a board worker made with ``start=False`` and not started since."""

__all__ = ["DETAIL_LIMIT", "Board", "BoardError"]

Publisher = Callable[[int], Awaitable[Any]]
CAPACITY = (10, 400)
"""The window the browser may ask for (message cells per lane), clamped."""


class Board:
    """A live view of one stream's consumers. Make one with :meth:`Board.watch`."""

    def __init__(self, nc: Client, stream: str, options: dict[str, Any]) -> None:
        self.nc, self.stream = nc, stream
        self.window: int = options["window"]
        self.max_lanes: int = options["max_lanes"]
        self.publisher: Publisher | None = options["publish"]
        self.subject: str | None = options["subject"]
        self.feed = Feed(nc, stream, on_tick=self.draw, **feed_options(options))
        self.feed.workers_busy = self._workers_busy
        self.workers: dict[str, Worker] = {}
        """The workers this board started (:meth:`attach_worker`), by consumer."""
        self.sends = 0
        """Frames sent to the browser (at most one per tick, plus forced ones)."""
        self.published = 0
        self._closed = False
        self._born = time.monotonic()
        self._drawn: tuple[Any, ...] = ()
        self._last: dict[str, Any] | None = None
        self.widget = BoardWidget()
        # The browser's report of how many cells fit redraws at once, a closed board too.
        self.widget.observe(lambda _change: self.draw(), names="capacity")
        self.controls = BoardControls(self) if options["controls"] else None
        self._box = board_box(self.widget, self.controls)

    # --- lifecycle -----------------------------------------------------------------------
    @classmethod
    async def watch(cls, nc: Client, stream: str, **options: Any) -> Board:
        """Start watching ``stream`` through ``nc`` (a connected nats-py client).

        The options and their defaults are listed in :mod:`fanout_kit.boardargs`. Bad input
        raises :class:`BoardError` (or ``BoardTypeError``) before anything starts.
        """
        check_client(nc)
        opts = check_options(options)
        checked = await check_stream(nc, stream)
        board = cls(nc, stream, opts)
        board.feed.api.calls += checked  # the check's stream info is the board's request too
        try:
            await board.feed.start()
        except BaseException:
            await board.close()
            raise
        board.draw(force=True)
        return board

    async def close(self) -> None:
        """Stop every task, subscription and attached worker; the board then says "closed"
        (in the same frame). Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        await self.feed.stop()
        for worker in list(self.workers.values()):
            await worker.stop()
        if self.controls is not None:
            await self.controls.close()
        self.draw(force=True)

    @property
    def closed(self) -> bool:
        """Closed by :meth:`close`, or its client was closed (it stopped following then)."""
        return self._closed or self.nc.is_closed

    async def settle(self, timeout: float = 10.0) -> dict[str, dict[str, int]]:
        """Wait for quiet, reconcile exactly, redraw, and return :meth:`snapshot`.

        Quiet: no traffic for ``quiet`` seconds and no attached worker holding messages.
        Afterwards every number and every drawn cell equals the server. The frame is sent
        from here (the foreground), so a headless run (nbval) saves the settled board.
        Raises :class:`~fanout_kit.errors.ConnectError` while the server is unreachable.
        """
        self.draw(force=True)  # "settling"
        try:
            await self.feed.settle(timeout)
        finally:
            self.draw(force=True)
        return self.snapshot()

    # --- reading -------------------------------------------------------------------------
    @property
    def model(self) -> StreamModel:
        return self.feed.model

    @property
    def consumers(self) -> list[str]:
        return sorted(self.model.consumers)

    @property
    def api_calls(self) -> int:
        """JetStream API requests the board made (stream info, consumer list, message gets)."""
        return self.feed.api.calls

    @property
    def mode(self) -> str:
        """``detail`` (every delivery and ack observed) or ``overload`` (consumer info only)."""
        return self.feed.overload.mode

    @property
    def mode_switches(self) -> int:
        return self.feed.overload.switches

    @property
    def ticks(self) -> int:
        return self.feed.ticks

    @property
    def capacity(self) -> int:
        """Message cells per lane: what the browser reported fits, else ``window``; a closed
        board's only as far back as what it recorded can tell (it asks the server nothing)."""
        lo, hi = CAPACITY
        fits = max(lo, min(hi, self.widget.capacity or self.window))
        return known_capacity(self.model, fits, self.max_lanes) if self.closed else fits

    def snapshot(self) -> dict[str, dict[str, int]]:
        """Per consumer: ``delivered``, ``ack_floor`` (stream sequences), ``num_pending``,
        ``num_ack_pending``, ``num_redelivered``, ``num_waiting``, ... as plain ints."""
        return self.model.snapshot()

    def cells(self) -> dict[str, dict[int, str]]:
        """For the drawn window: ``{consumer: {seq: legend word}}``, ``""`` the stream lane."""
        return view.cells(self.model, self.capacity, self.max_lanes)

    def table(self) -> ConsumerTable:
        """The numbers under the CLI's names (the same type as ``consumer_table``)."""
        return view.table(self.model)

    def export(self, path: str | Path) -> Path:
        """Write one self-contained HTML file that replays what the board drew."""
        return self.widget.export(path, title=f"fanout-kit board: {self.stream}")

    def __repr__(self) -> str:
        """Stable text (nbval compares it): durable names, a count of the others."""
        named = [n for n in self.consumers if self.model.consumers[n].durable]
        others = len(self.consumers) - len(named)
        extra = f", ephemeral={others}" if others else ""
        return f"Board(stream={self.stream!r}, consumers={named!r}{extra})"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = dict(self._box._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = repr(self)
        return bundle

    # --- drawing -------------------------------------------------------------------------
    def status(self) -> view.Status:
        feed = self.feed
        state = "closed" if self.closed else "settling" if feed.settling else "live"
        banners = tuple(feed.banners())
        return view.Status(feed.connection_now(), state, feed.overload.mode, banners)

    def _worker_states(self) -> dict[str, str]:
        """The worker column: who works on each consumer now, or needs a look (running,
        paused, waiting, crashed): every live worker on this stream
        (:func:`~fanout_kit.workers.live_workers`: the board's, a pool's, a lesson's own). A
        stopped worker leaves it, the board's as a pool's; a board worker never started reads
        ``not started`` (Start / resume starts it)."""
        column = view.worker_column(self.stream, live_workers(self.stream))
        for name, worker in self.workers.items():
            if not worker.started:
                column.setdefault(name, NOT_STARTED)
        return column

    def draw(self, *, force: bool = False) -> bool:
        """Send a frame if anything changed (or ``force``); True if one was sent."""
        if self.controls is not None:
            self.controls.sync_consumers(self.consumers)
        capacity = self.capacity
        if self.widget.capacity and capacity != self.feed.capacity:
            self.feed.resize(capacity)  # a closed feed asks the server nothing
        status, workers = self.status(), self._worker_states()
        key = (self.model.version, status, tuple(workers.items()), capacity, self.api_calls)
        if not force and key == self._drawn:
            return False
        self._drawn = key
        frame = view.build_frame(
            self.model,
            status,
            capacity=capacity,
            t=time.monotonic() - self._born,
            api_calls=self.api_calls,
            workers=workers,
            max_lanes=self.max_lanes,
            previous=self._last,
            with_legend=False,
        )
        self.widget.draw(frame)
        self._last = frame
        self.sends += 1
        return True

    def redraw(self) -> None:
        """Draw now (the controls call this: a control's effect shows within one frame)."""
        self.draw(force=True)

    # --- workers and publishing ----------------------------------------------------------
    def _workers_busy(self) -> bool:
        return any(w.active and not w.paused and w.holding for w in self.workers.values())

    async def attach_worker(
        self, consumer: str, *, batch: int = 10, delay: float = 0.0, start: bool = True
    ) -> Worker:
        """A :class:`~fanout_kit.workers.Worker` on ``consumer`` the controls can drive."""
        validate_name(consumer, "consumer")
        worker = self.workers.get(consumer)
        if worker is None:
            if self.nc.connected_url is None:
                raise BoardError("the board's client is not connected: no server to start on")
            # Every server the client knows (a cluster's nodes): the worker fails over too.
            urls = dict.fromkeys(f"{u.scheme}://{u.hostname}:{u.port}" for u in self.nc.servers)
            worker = Worker(
                ",".join(urls),
                self.stream,
                consumer,
                batch=batch,
                delay=delay,
            )
            self.workers[consumer] = worker
        if start:
            await worker.start()
        self.draw(force=True)
        return worker

    async def publish(self, n: int) -> None:
        """Publish ``n`` demo shop events on the stream's own subjects (or through the
        ``publish`` the board was given). A stream they cannot fit raises BoardError."""
        if self.publisher is not None:
            await self.publisher(n)
        else:
            self.published += 1
            patterns = self.model.subject_filters
            await publish_demo(
                self.nc, patterns, n, seed=1000 + self.published, subject=self.subject
            )
        self.draw(force=True)
