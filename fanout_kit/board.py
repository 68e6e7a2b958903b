"""The live board: every consumer of a stream, message by message, from the server's own traffic.

``board = await Board.watch(nc, "EVENTS")`` as a cell's last line shows it. Underneath:

* a **wiretap** of core subscriptions on the client you pass: deliveries (any message whose
  reply is an ack subject of the stream: ``_INBOX.>`` for pulls, deliver subjects for push),
  acks (``$JS.ACK.<stream>.>``), publish acknowledgements, the stream's own subjects (to learn
  each message's subject) and consumer advisories. Each event goes straight into the pure
  model of :mod:`fanout_kit.observe`; nothing polls.
* a **reconcile** from the JetStream API (stream info, consumer list) at a low rate and on
  :meth:`Board.settle`, counted in :attr:`Board.api_calls` so a lesson can show what polling
  costs;
* a **render loop** on the kernel's event loop, decoupled from the data (dask's progress bar,
  rich's Live): at most ``1 / refresh_interval`` draws a second, one widget state send per
  draw, and only when something changed. Drawing is O(window), however long the stream.
* an **overload mode**. The wiretap receives two extra messages per delivery (its copy of the
  delivery and the ack) and spends a few microseconds of Python on each, on the same event
  loop as the learner's consumers: at tens of thousands of deliveries a second that alone
  would cost them a third of their throughput. So the render tick also measures the wiretap's
  event rate; above ``detail_limit`` events a second the board unsubscribes its per-message
  subscriptions (the server stops sending the copies) and shows consumer info read
  ``overview_rate`` times a second instead, saying so in a banner. When consumer info shows
  the traffic has dropped below half the limit, it re-subscribes and reconciles exactly.
  :attr:`Board.mode` and :attr:`Board.mode_switches` show what it did.

Widgets never talk to NATS; the controls call the board, which calls workers and publishers.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import ipywidgets as widgets
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from .observe import MsgState, StreamModel, parse_ack_kind, parse_ack_subject, parse_puback
from .report import COLUMNS
from .workers import Worker

__all__ = ["Board"]

Publisher = Callable[[int], Awaitable[Any]]
Mode = Literal["detail", "overload"]

DETAIL_LIMIT = 5_000
"""Default wiretap events a second above which the board switches to overload mode."""

_COLOURS: dict[MsgState, str] = {
    MsgState.UNDELIVERED: "#e8eaed",
    MsgState.IN_FLIGHT: "#f9ab00",
    MsgState.REDELIVERED: "#e8710a",
    MsgState.NAKED: "#d93025",
    MsgState.ACKED: "#1e8e3e",
    MsgState.TERMINATED: "#3c4043",
    MsgState.EXHAUSTED: "#a142f4",
    MsgState.FILTERED: "#ffffff",
    MsgState.REMOVED: "#ffffff",
    MsgState.UNKNOWN: "#9aa0a6",
}
_CLASS = {state: f"fk-{i}" for i, state in enumerate(MsgState)}
_STYLE = (
    "<style>"
    ".fk-board{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace;color:#202124}"
    ".fk-board table{border-collapse:collapse}"
    ".fk-board td,.fk-board th{padding:2px 6px;text-align:right;white-space:nowrap}"
    ".fk-board th.n,.fk-board td.n{text-align:left}"
    ".fk-cells{display:flex;gap:1px;align-items:center}"
    ".fk-cells i{display:inline-block;width:7px;height:14px;border:1px solid #dadce0}"
    ".fk-s{background:#4285f4}.fk-gone{background:#fff;border-style:dashed!important}"
    + "".join(
        f".{_CLASS[s]}{{background:{c}}}"
        + (
            f".{_CLASS[s]}{{border-style:dashed!important}}"
            if s in (MsgState.REMOVED, MsgState.FILTERED)
            else ""
        )
        for s, c in _COLOURS.items()
    )
    + ".fk-more{color:#5f6368;padding-right:4px}"
    "</style>"
)


def _legend_html() -> str:
    items = "".join(
        f'<span style="margin-right:10px"><i class="{_CLASS[s]}" style="display:inline-block;'
        f'width:9px;height:12px;border:1px solid #dadce0;vertical-align:middle"></i> '
        f"{html.escape(s.value)}</span>"
        for s in MsgState
    )
    return (
        f'{_STYLE}<div class="fk-board" style="margin-top:4px">{items}<br>'
        "Last Delivered and Ack Floor are stream sequences; Outstanding Acks is delivered and "
        "not yet acked (of max_ack_pending); Unprocessed is num_pending, the lag line; "
        "Waiting Pulls is as of the last reconcile.</div>"
    )


def _sparkline(values: list[int], width: int = 90, height: int = 18) -> str:
    if len(values) < 2:
        return f'<svg width="{width}" height="{height}"></svg>'
    top = max(values) or 1
    step = width / (len(values) - 1)
    points = " ".join(
        f"{i * step:.1f},{height - 1 - (v / top) * (height - 2):.1f}" for i, v in enumerate(values)
    )
    return (
        f'<svg width="{width}" height="{height}"><polyline fill="none" stroke="#1a73e8" '
        f'stroke-width="1.5" points="{points}"/></svg>'
    )


def _times(rate: float) -> str:
    """``2.0`` -> "twice a second"."""
    words = {1.0: "once a second", 2.0: "twice a second"}
    return words.get(rate, f"{rate:g} times a second")


class Board:
    """A live view of one stream's consumers. Make one with :meth:`Board.watch`."""

    def __init__(
        self,
        client: Client,
        stream: str,
        *,
        window: int = 60,
        reconcile_interval: float | None = 5.0,
        refresh_interval: float = 0.1,
        quiet: float = 0.25,
        publish: Publisher | None = None,
        subject: str | None = None,
        detail_limit: float | None = DETAIL_LIMIT,
        overview_rate: float = 2.0,
    ) -> None:
        if window < 1:
            raise ValueError(f"window must be at least 1 message, got {window!r}")
        if refresh_interval < 0.1:
            raise ValueError("refresh_interval below 0.1 s would draw more than 10 times a second")
        if detail_limit is not None and detail_limit <= 0:
            raise ValueError(f"detail_limit must be positive or None, got {detail_limit!r}")
        if not 0 < overview_rate <= 10:
            raise ValueError(f"overview_rate must be in (0, 10] reads a second: {overview_rate!r}")
        self.client = client
        self.stream = stream
        self.window = window
        self.reconcile_interval = reconcile_interval
        self.refresh_interval = refresh_interval
        self.quiet = quiet
        self.model = StreamModel(stream)
        self.api_calls = 0
        """JetStream API requests the board has made (stream info, consumer list/info)."""
        self.ticks = 0
        self.renders = 0
        self.sends = 0
        """Widget state sends made by the render loop and settle (one per changed draw)."""
        self.workers: dict[str, Worker] = {}
        self._publish = publish
        self._subject = subject
        self.detail_limit = detail_limit
        self.overview_rate = overview_rate
        self.mode: Mode = "detail"
        """``detail`` (every delivery and ack observed) or ``overload`` (consumer info only)."""
        self.mode_switches = 0
        """How many times the board changed mode (into overload and back each count one)."""
        self.tap_events = 0
        """Messages the per-message wiretap has received (counted in its callbacks)."""
        self.event_rate = 0.0
        """Wiretap events a second: measured per render tick in detail mode, estimated from
        consumer info movement in overload mode."""
        self._subs: list[Subscription] = []
        """Cheap subscriptions kept in both modes (advisories)."""
        self._taps: list[Subscription] = []
        """Per-message subscriptions (deliveries, acks, publishes): dropped in overload mode."""
        self._push_subjects: set[str] = set()
        self._rate_mark = (0, time.monotonic())
        self._switching = False
        self._settling = False
        self._mode_lock = asyncio.Lock()
        self._server_totals: tuple[float, dict[str, int]] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._last_event = time.monotonic()
        self._drawn_version = -1
        self._lag_events = -1
        self._pub_subjects: OrderedDict[str, str] = OrderedDict()
        self._early_acks: OrderedDict[str, int] = OrderedDict()
        self._ack_prefix = f"$JS.ACK.{stream}."
        self._consumer_names: tuple[str, ...] = ()
        self._reconcile_lock = asyncio.Lock()
        self._build_widget()

    # --- lifecycle -----------------------------------------------------------------------
    @classmethod
    async def watch(
        cls,
        client: Client,
        stream: str,
        *,
        window: int = 60,
        reconcile_interval: float | None = 5.0,
        refresh_interval: float = 0.1,
        quiet: float = 0.25,
        publish: Publisher | None = None,
        subject: str | None = None,
        detail_limit: float | None = DETAIL_LIMIT,
        overview_rate: float = 2.0,
    ) -> Board:
        """Start watching ``stream`` through ``client`` (a connected nats-py client).

        ``window``: how many of the newest messages get a cell each.
        ``reconcile_interval``: seconds between reconciles with consumer info while running
        (``None`` turns them off; :meth:`settle` always reconciles).
        ``refresh_interval``: seconds between draws (0.1 at least: 10 draws a second).
        ``quiet``: how long without traffic counts as settled.
        ``publish``: async ``publish(n)`` used by the Publish control; without it the control
        publishes small JSON events to ``subject`` (default: one made from the stream's first
        subject).
        ``detail_limit``: wiretap events a second above which the board stops following every
        message and shows consumer info ``overview_rate`` times a second instead (overload
        mode, see the module docstring); ``None`` follows every message however fast.
        """
        board = cls(
            client,
            stream,
            window=window,
            reconcile_interval=reconcile_interval,
            refresh_interval=refresh_interval,
            quiet=quiet,
            publish=publish,
            subject=subject,
            detail_limit=detail_limit,
            overview_rate=overview_rate,
        )
        try:
            await board.reconcile(exact=True)
            await board._subscribe()
            await board.reconcile(exact=False)
        except BaseException:
            await board.close()
            raise
        board.refresh(force=True)
        board._spawn(board._render_loop(), "render")
        if reconcile_interval:
            board._spawn(board._reconcile_loop(), "reconcile")
        return board

    def _spawn(self, coro: Any, what: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"fanout-kit-board-{what}")
        self._tasks.add(task)

    async def close(self) -> None:
        """Stop every task, subscription and attached worker. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        tasks, self._tasks = list(self._tasks), set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        subs, self._subs, self._taps = self._subs + self._taps, [], []
        for sub in subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        for worker in list(self.workers.values()):
            await worker.stop()
        self._status.value = "closed"

    @property
    def closed(self) -> bool:
        return self._closed

    # --- the wiretap ---------------------------------------------------------------------
    async def _subscribe(self) -> None:
        nc, s = self.client, self.stream
        self._subs += [
            await nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.>", cb=self._on_advisory),
            await nc.subscribe(f"$JS.EVENT.ADVISORY.STREAM.*.{s}", cb=self._on_advisory),
        ]
        await self._subscribe_taps()

    async def _subscribe_taps(self) -> None:
        """The per-message wiretap: deliveries, acks and publishes (flushed: live on return)."""
        nc, s = self.client, self.stream
        self._taps += [
            await nc.subscribe(f"$JS.ACK.{s}.>", cb=self._on_ack),
            await nc.subscribe(f"$JS.ACK.*.*.{s}.>", cb=self._on_ack),
            await nc.subscribe("_INBOX.>", cb=self._on_inbox),
        ]
        for subject in self.model.subject_filters:
            self._taps.append(await nc.subscribe(subject, cb=self._on_publish))
        await self._follow_push_consumers()
        await nc.flush()

    async def _unsubscribe_taps(self) -> None:
        """Drop the per-message wiretap: the server stops sending the board its copies."""
        taps, self._taps = self._taps, []
        self._push_subjects.clear()
        for sub in taps:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        with contextlib.suppress(Exception):
            await self.client.flush()

    async def _follow_push_consumers(self) -> None:
        if self._closed or not self._taps:
            return  # no wiretap (overload mode): push deliveries are not followed either
        for c in list(self.model.consumers.values()):
            subj = c.deliver_subject
            if subj and not subj.startswith("_INBOX.") and subj not in self._push_subjects:
                self._push_subjects.add(subj)
                self._taps.append(await self.client.subscribe(subj, cb=self._on_inbox))

    def _event(self) -> None:
        self._last_event = time.monotonic()

    async def _on_ack(self, msg: Msg) -> None:
        self.tap_events += 1
        a = parse_ack_subject(msg.subject)
        kind = parse_ack_kind(msg.data)
        if a is not None and kind is not None and a.stream == self.stream:
            self.model.on_ack(a, kind)
            self._event()

    async def _on_inbox(self, msg: Msg) -> None:
        self.tap_events += 1
        reply = msg.reply
        if reply:
            if reply.startswith(self._ack_prefix) or reply.startswith("$JS.ACK."):
                a = parse_ack_subject(reply)
                if a is not None and a.stream == self.stream:
                    self.model.on_delivery(msg.subject, a)
                    self._event()
            return
        data = msg.data
        if data.startswith(b'{"stream":'):
            seq = parse_puback(data, self.stream)
            if seq is not None:
                subject = self._pub_subjects.pop(msg.subject, None)
                if subject is None:
                    self._remember(self._early_acks, msg.subject, seq)
                self.model.on_published(seq, subject)
                self._event()

    async def _on_publish(self, msg: Msg) -> None:
        """A publish on one of the stream's subjects: its puback will say which sequence."""
        self.tap_events += 1
        if not msg.reply:
            return
        seq = self._early_acks.pop(msg.reply, None)
        if seq is not None:
            self.model.on_published(seq, msg.subject)
        else:
            self._remember(self._pub_subjects, msg.reply, msg.subject)

    @staticmethod
    def _remember(table: OrderedDict[str, Any], key: str, value: Any) -> None:
        table[key] = value
        if len(table) > 10_000:
            table.popitem(last=False)

    async def _on_advisory(self, msg: Msg) -> None:
        tokens = msg.subject.split(".")
        kind = tokens[4] if len(tokens) > 4 else ""
        if tokens[3] == "STREAM":
            self._spawn(self._safe_reconcile(exact=False), "advisory")
            return
        if len(tokens) < 7 or tokens[5] != self.stream:
            return
        name = tokens[6]
        if kind == "CREATED":
            self._spawn(self._fetch_consumer(name), "advisory")
        elif kind == "DELETED":
            self.model.on_consumer_deleted(name)
            self._event()
        elif kind == "MAX_DELIVERIES":
            with contextlib.suppress(ValueError):
                doc = json.loads(msg.data)
                self.model.on_max_deliveries(name, int(doc["stream_seq"]))
                self._event()

    # --- reconcile -----------------------------------------------------------------------
    async def _api(self, subject: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        self.api_calls += 1
        body = json.dumps(payload).encode() if payload is not None else b""
        reply = await self.client.request(subject, body, timeout=2.0)
        doc: dict[str, Any] = json.loads(reply.data)
        if "error" in doc:
            err = doc["error"]
            raise RuntimeError(f"{subject}: {err.get('description')} ({err.get('err_code')})")
        return doc

    async def _fetch_consumer(self, name: str) -> None:
        with contextlib.suppress(Exception):
            info = await self._api(f"$JS.API.CONSUMER.INFO.{self.stream}.{name}")
            if self.mode == "overload":
                self.model.apply_overview(info)
            else:
                self.model.apply_consumer_info(info, exact=False)
            await self._follow_push_consumers()

    async def reconcile(self, *, exact: bool = True) -> None:
        """Read stream info and every consumer's info (API calls, counted) into the model.

        ``exact``: take the server's numbers as they are (right when the stream is quiet);
        otherwise merge only what can only move forward, so the board never runs ahead (in
        overload mode: :meth:`~fanout_kit.observe.StreamModel.apply_overview`). The stream is
        read before its consumers, so the last sequence the board knows is never newer than
        the consumers' numbers.
        """
        async with self._reconcile_lock:
            stream = await self._api(f"$JS.API.STREAM.INFO.{self.stream}")
            infos: list[dict[str, Any]] = []
            offset = 0
            while True:
                page = await self._api(f"$JS.API.CONSUMER.LIST.{self.stream}", {"offset": offset})
                infos += page.get("consumers") or []
                offset += int(page.get("limit") or 0) or len(page.get("consumers") or [])
                if offset >= int(page.get("total", 0)) or not page.get("consumers"):
                    break
            self._server_totals = (time.monotonic(), self._movement(stream, infos))
            overview = not exact and self.mode == "overload"
            self.model.apply_stream_info(stream, exact=exact)
            for info in infos:
                if overview:
                    self.model.apply_overview(info)
                else:
                    self.model.apply_consumer_info(info, exact=exact)
            if exact:
                self.model.forget_consumers_except(i["name"] for i in infos)
        if self._taps:
            await self._follow_push_consumers()

    @staticmethod
    def _movement(stream: dict[str, Any], infos: list[dict[str, Any]]) -> dict[str, int]:
        """Monotonic counters from the server that grow by about one per wiretap event.

        Per consumer, deliveries (the delivered consumer sequence counts redeliveries too)
        plus acks (the ack floor's consumer sequence); for the stream, publishes twice (the
        publish and its acknowledgement both reach the wiretap).
        """
        totals = {"$stream": 2 * int((stream.get("state") or {}).get("last_seq", 0))}
        for info in infos:
            delivered = int((info.get("delivered") or {}).get("consumer_seq", 0))
            acked = int((info.get("ack_floor") or {}).get("consumer_seq", 0))
            totals[str(info.get("name"))] = delivered + acked
        return totals

    async def _safe_reconcile(self, *, exact: bool) -> None:
        with contextlib.suppress(Exception):
            await self.reconcile(exact=exact)

    async def _reconcile_loop(self) -> None:
        assert self.reconcile_interval
        while True:
            await asyncio.sleep(self.reconcile_interval)
            if self.mode == "overload" or self._switching:
                continue  # the overview loop reads consumer info; no tap events mean nothing
            quiet = time.monotonic() - self._last_event >= self.quiet
            before = self.model.events
            try:
                await self.reconcile(exact=quiet)
            except Exception:  # a reconcile is an optimisation: the next one may work
                continue
            if quiet and self.model.events != before:
                continue

    async def _drain(self, timeout: float) -> None:
        """Wait until the server has sent us everything and every callback has run."""
        await self.client.flush(timeout=max(timeout, 0.1))
        deadline = time.monotonic() + timeout
        while (
            any(sub.pending_msgs for sub in (*self._subs, *self._taps))
            and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.005)
        await asyncio.sleep(0)

    def _workers_busy(self) -> bool:
        return any(w.active and not w.paused and w.holding for w in self.workers.values())

    async def settle(self, timeout: float = 10.0) -> dict[str, dict[str, int]]:
        """Wait for quiet, reconcile from consumer info, redraw, and return :meth:`snapshot`.

        Quiet: no new traffic for ``quiet`` seconds and no attached worker holding messages.
        Afterwards ``snapshot()`` equals the server's numbers. The full widget state is sent
        again from here (the foreground), so a headless run (nbval, nbconvert) saves the
        settled board, not its first frame.

        In overload mode there is no traffic to watch, so quiet means consumer info that has
        stopped moving; then the board leaves overload mode (re-subscribes the wiretap) and
        settles as usual. While settle runs the board does not enter overload mode.
        """
        deadline = time.monotonic() + timeout
        self._settling = True
        try:
            if self.mode == "overload":
                await self._wait_still(deadline)
                await self._leave_overload()
            await self._settle_detail(deadline)
        finally:
            self._settling = False
        self.model.record_lag()
        self.refresh(force=True)
        self._body.send_state()
        self.sends += 1
        return self.snapshot()

    async def _wait_still(self, deadline: float) -> None:
        """Overload mode: read consumer info until two reads ``quiet`` s apart agree."""
        previous: dict[str, int] | None = None
        while time.monotonic() < deadline:
            await self.reconcile(exact=False)
            totals = self._server_totals[1] if self._server_totals else {}
            if totals == previous and not self._workers_busy():
                return
            previous = totals
            await asyncio.sleep(max(0.05, min(self.quiet, deadline - time.monotonic())))

    async def _settle_detail(self, deadline: float) -> None:
        """Detail mode: wait for ``quiet`` s without wiretap events, then reconcile exactly."""
        while True:
            await self._drain(max(0.1, deadline - time.monotonic()))
            now = time.monotonic()
            waited = now - self._last_event
            if (waited >= self.quiet and not self._workers_busy()) or now >= deadline:
                before = self.model.events
                await self.reconcile(exact=True)
                await self._drain(1.0)
                if self.model.events == before or time.monotonic() >= deadline:
                    break
                continue
            await asyncio.sleep(min(self.quiet - waited, 0.05) if waited < self.quiet else 0.05)

    # --- overload mode ---------------------------------------------------------------------
    def _measure_rate(self) -> None:
        """Render tick, detail mode: wiretap events a second since the last tick; too many
        and the board switches to overload mode (not while settling, not with no limit)."""
        now = time.monotonic()
        count, since = self._rate_mark
        if now - since < 0.9 * self.refresh_interval:
            return  # a window shorter than a tick (just back from overload) is too noisy
        self.event_rate = (self.tap_events - count) / (now - since)
        self._rate_mark = (self.tap_events, now)
        limit = self.detail_limit
        if (
            limit is not None
            and self.event_rate > limit
            and self.mode == "detail"
            and not self._switching
            and not self._settling
        ):
            self._switching = True
            self._spawn(self._enter_overload(), "overload")

    async def _enter_overload(self) -> None:
        """Stop following every message: unsubscribe the wiretap, read consumer info instead."""
        try:
            async with self._mode_lock:
                if self.mode != "detail" or self._closed or self._settling:
                    return
                self.mode = "overload"
                self.mode_switches += 1
                await self._unsubscribe_taps()
                self.model.version += 1  # redraw: the banner
                self._server_totals = None
        finally:
            self._switching = False
        self._spawn(self._overview_loop(), "overview")

    async def _overview_loop(self) -> None:
        """Overload mode: read consumer info ``overview_rate`` times a second (counted in
        ``api_calls``); estimate the event rate from how far the server's counters moved, and
        go back to per-message detail once it is below half of ``detail_limit``."""
        interval = 1.0 / self.overview_rate
        stint = self.mode_switches  # a later stint in overload mode runs its own loop
        while self.mode == "overload" and self.mode_switches == stint and not self._closed:
            before = self._server_totals
            try:
                await self.reconcile(exact=False)
            except Exception:  # the next read may work
                await asyncio.sleep(interval)
                continue
            after = self._server_totals
            if before is not None and after is not None and after[0] > before[0]:
                moved = sum(max(0, v - before[1][k]) for k, v in after[1].items() if k in before[1])
                self.event_rate = moved / (after[0] - before[0])
                limit = self.detail_limit
                if limit is None or self.event_rate < limit / 2:
                    if not self._settling:
                        await self._leave_overload()
                    return
            await asyncio.sleep(interval)

    async def _leave_overload(self) -> None:
        """Back to per-message detail, the way :meth:`watch` starts: an exact reconcile, then
        the wiretap, then a forward-only merge of what moved in between. Events the wiretap
        missed show up as gaps in the consumer sequence and hold the floor still, so the
        board is behind, never ahead, until the next reconcile."""
        async with self._mode_lock:
            if self.mode != "overload" or self._closed:
                return
            await self.reconcile(exact=True)
            await self._subscribe_taps()
            self.mode = "detail"  # only now: the wiretap is live
            self.mode_switches += 1
            self._rate_mark = (self.tap_events, time.monotonic())
            self._event()  # not quiet just because the wiretap was off
            await self.reconcile(exact=False)

    # --- reading -------------------------------------------------------------------------
    def snapshot(self) -> dict[str, dict[str, int]]:
        """Per consumer: ``delivered``, ``ack_floor`` (stream sequences), ``num_pending``,
        ``num_ack_pending``, ``num_redelivered`` and a few more, as plain ints."""
        return self.model.snapshot()

    @property
    def consumers(self) -> list[str]:
        return sorted(self.model.consumers)

    def __repr__(self) -> str:
        """Stable text (nbval compares it): durable names, and only a count of the others,
        whose names the server makes up afresh each run."""
        named = [n for n in self.consumers if self.model.consumers[n].durable]
        others = len(self.consumers) - len(named)
        extra = f", ephemeral={others}" if others else ""
        return f"Board(stream={self.stream!r}, consumers={named!r}{extra})"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = repr(self)
        return bundle

    # --- workers and controls ------------------------------------------------------------
    def _server_url(self) -> str:
        url = self.client.connected_url
        if url is None:
            raise RuntimeError("the board's client is not connected")
        return f"{url.scheme}://{url.hostname}:{url.port}"

    async def attach_worker(
        self, consumer: str, *, batch: int = 10, delay: float = 0.0, start: bool = True
    ) -> Worker:
        """A :class:`~fanout_kit.workers.Worker` on ``consumer`` the controls can drive."""
        worker = self.workers.get(consumer)
        if worker is None:
            worker = Worker(self._server_url(), self.stream, consumer, batch=batch, delay=delay)
            self.workers[consumer] = worker
        if start:
            await worker.start()
        self._drawn_version = -1
        return worker

    async def publish(self, n: int) -> None:
        """Publish ``n`` demo events (through ``publish`` if the board was given one)."""
        if self._publish is not None:
            await self._publish(n)
            return
        subject = self._subject or self._default_subject()
        js = self.client.jetstream()
        for i in range(n):
            await js.publish(subject, json.dumps({"kind": "demo", "n": i}).encode())

    def _default_subject(self) -> str:
        first = self.model.subject_filters[0] if self.model.subject_filters else self.stream
        return ".".join("demo" if t in ("*", ">") else t for t in first.split("."))

    def _build_widget(self) -> None:
        self._body = widgets.HTML(value="")
        legend = widgets.HTML(value=_legend_html())
        self._count = widgets.BoundedIntText(value=10, min=1, max=100_000, description="events")
        self._who = widgets.Dropdown(options=[], description="consumer")
        self._status = widgets.Label(value="")
        buttons = {
            "Publish": self._click_publish,
            "Start / resume worker": self._click_resume,
            "Pause worker": self._click_pause,
            "Crash worker": self._click_crash,
            "Nak next": self._click_nak,
            "Settle": self._click_settle,
        }
        row: list[widgets.Widget] = [self._count]
        for label, handler in buttons.items():
            button = widgets.Button(description=label, layout=widgets.Layout(width="auto"))
            button.on_click(handler)
            row.append(button)
            if label == "Publish":
                row.append(self._who)
        # Controls go under the board, wrapping: beside it they pushed the numbers out of a
        # default-width JupyterLab window.
        controls = widgets.HBox(
            [*row, self._status], layout=widgets.Layout(flex_flow="row wrap", margin="6px 0 0 0")
        )
        self._body.layout = widgets.Layout(overflow="auto", max_width="100%")
        self.widget = widgets.VBox([self._body, legend, controls])

    def _run(self, coro: Awaitable[Any], done: str) -> None:
        async def go() -> None:
            try:
                await coro
                self._status.value = done
            except Exception as exc:
                self._status.value = f"{type(exc).__name__}: {exc}"

        self._spawn(go(), "control")

    def _selected_worker(self) -> Worker | None:
        name = self._who.value
        if not name:
            self._status.value = "no consumer selected"
            return None
        worker = self.workers.get(name)
        if worker is None:
            self._status.value = f"no worker on {name}: press Start"
        return worker

    def _click_publish(self, _: Any) -> None:
        n = int(self._count.value)
        self._run(self.publish(n), f"published {n}")

    def _click_resume(self, _: Any) -> None:
        name = self._who.value
        if not name:
            self._status.value = "no consumer selected"
            return
        worker = self.workers.get(name)
        if worker is not None and worker.active:
            worker.resume()
            self._status.value = f"{name}: resumed"
        else:
            self._run(self.attach_worker(name), f"{name}: worker started")

    def _click_pause(self, _: Any) -> None:
        if (worker := self._selected_worker()) is not None:
            worker.pause()
            self._status.value = f"{worker.consumer}: paused"

    def _click_crash(self, _: Any) -> None:
        if (worker := self._selected_worker()) is not None:
            self._run(worker.crash(), f"{worker.consumer}: crashed, unacked messages wait")

    def _click_nak(self, _: Any) -> None:
        if (worker := self._selected_worker()) is not None:
            worker.nak_next()
            self._status.value = f"{worker.consumer}: will nak the next message"

    def _click_settle(self, _: Any) -> None:
        self._run(self.settle(), "settled: the numbers equal the server's")

    # --- drawing ---------------------------------------------------------------------------
    async def _render_loop(self) -> None:
        lag_every = max(1, round(0.5 / self.refresh_interval))
        while True:
            await asyncio.sleep(self.refresh_interval)
            self.ticks += 1
            if self.mode == "detail":
                self._measure_rate()
            moved = self.model.events + self.api_calls
            if self.ticks % lag_every == 0 and moved != self._lag_events:
                self._lag_events = moved
                self.model.record_lag()
            if self.ticks % 50 == 0:
                self.model.trim(self.model.last_seq - 4 * self.window)
            self.refresh()

    def refresh(self, *, force: bool = False) -> bool:
        """Draw now if anything changed; one widget state send at most. True if it sent."""
        names = tuple(self.consumers)
        if names != self._consumer_names:
            self._consumer_names = names
            self._who.options = list(names)
        if not force and self.model.version == self._drawn_version:
            return False
        self._drawn_version = self.model.version
        self.renders += 1
        body = self.render_html()
        if body == self._body.value:
            return False
        with self._body.hold_sync():
            self._body.value = body
        self.sends += 1
        return True

    def render_html(self) -> str:
        """The board as HTML: O(window x consumers), whatever the stream's length."""
        m = self.model
        last = m.last_seq
        lo = max(m.first_seq if m.retention == "limits" else 1, last - self.window + 1, 1)
        seqs = range(lo, last + 1)
        earlier = max(0, lo - 1)
        esc = html.escape
        head = (
            f"<b>{esc(self.stream)}</b> · last sequence {last:,} · first {m.first_seq:,}"
            + (f" · {m.messages:,} stored at last reconcile" if m.messages is not None else "")
            + f" · showing the newest {len(seqs)}"
            + f" · board API calls: {self.api_calls}"
        )
        if self.mode == "overload":
            head += (
                '<div class="fk-banner" style="background:#fef7e0;border-left:3px solid #f9ab00;'
                'padding:2px 6px;margin:2px 0">'
                f"more than {self.detail_limit or 0:,.0f} events/s (about "
                f"{self.event_rate:,.0f}/s): showing the server's consumer info "
                f"{_times(self.overview_rate)} instead of every message. Grey cells were "
                "delivered and are in flight or acked: the board does not know which.</div>"
            )
        more = f'<span class="fk-more">…{earlier:,}</span>' if earlier else ""
        strip = "".join(
            f'<i class="{"fk-gone" if m.removed(s) else "fk-s"}" '
            f'title="#{s} {esc(m.subjects.get(s, ""))}"></i>'
            for s in seqs
        )
        cols = (*COLUMNS, "lag", "worker")
        # The numbers come first and the message strip last: in a narrow window the strip
        # scrolls sideways, and the numbers (what the CLI shows) stay in view.
        rows = [
            '<tr><th class="n">stream</th>'
            + "".join(f"<th>{c}</th>" for c in cols)
            + f'<td class="n"><div class="fk-cells">{more}{strip}</div></td></tr>'
        ]
        for name in self.consumers:
            c = m.consumers[name]
            nums = m.consumer_numbers(name)
            cells = "".join(
                f'<i class="{_CLASS[st]}" title="#{s} {st.value}"></i>'
                for s in seqs
                for st in (m.cell_state(name, s),)
            )
            below = sum(1 for s in c.pending if s < lo)
            prefix = f'<span class="fk-more">{below} in flight…</span>' if below else more
            filt = ", ".join(c.filters) if c.filters else "all subjects"
            worker = self.workers.get(name)
            mx = c.max_ack_pending
            rows.append(
                f'<tr><th class="n">{esc(name)}<br><small>{esc(filt)}</small></th>'
                f"<td>{nums['delivered']:,}</td><td>{nums['ack_floor']:,}</td>"
                f"<td>{nums['num_ack_pending']:,}{f' of {mx:,}' if mx > 0 else ''}</td>"
                f"<td>{nums['num_redelivered']:,}</td><td>{nums['num_pending']:,}</td>"
                f"<td>{nums['num_waiting']:,}</td><td>{_sparkline(list(c.lag_history))}</td>"
                f"<td>{worker.state if worker else '—'}</td>"
                f'<td class="n"><div class="fk-cells">{prefix}{cells}</div></td></tr>'
            )
        return (
            f'<div class="fk-board"><div>{head}</div><table>{"".join(rows)}</table></div>'
            if self.model.consumers or last
            else f'<div class="fk-board"><div>{head}</div><i>no consumers yet</i></div>'
        )
