"""The board against a real server: settle equals the server, close cleans up, draws are capped,
controls show within one frame, bad input is refused before anything starts."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from fanout_kit import view
from fanout_kit.board import Board, BoardError
from fanout_kit.boardargs import BoardTypeError
from fanout_kit.errors import FanoutKitError, KitTypeError, KitValueError
from fanout_kit.observe import MsgState
from fanout_kit.server import NatsServer, get_json

from .conftest import async_wait_until

KEYS = ("delivered", "ack_floor", "num_pending", "num_ack_pending", "num_redelivered")


async def server_numbers(js: Any, stream: str, name: str) -> dict[str, int]:
    ci = await js.consumer_info(stream, name)
    return {
        "delivered": ci.delivered.stream_seq,
        "ack_floor": ci.ack_floor.stream_seq,
        "num_pending": ci.num_pending,
        "num_ack_pending": ci.num_ack_pending,
        "num_redelivered": ci.num_redelivered,
    }


@pytest.fixture
async def stream(js: Any) -> AsyncIterator[str]:
    name = f"EV{uuid.uuid4().hex[:8]}".upper()
    await js.add_stream(StreamConfig(name=name, subjects=[f"{name.lower()}.>"]))
    for durable, filt in (("analytics", None), ("audit", None), ("orders", "orders")):
        await js.add_consumer(
            name,
            ConsumerConfig(
                durable_name=durable,
                ack_policy=AckPolicy.EXPLICIT,
                filter_subject=f"{name.lower()}.{filt}" if filt else None,
            ),
        )
    yield name
    await js.delete_stream(name)


async def publish(js: Any, stream: str, n: int) -> None:
    for i in range(n):
        kind = "orders" if i % 3 == 0 else "users"
        await js.publish(f"{stream.lower()}.{kind}", f'{{"n": {i}}}'.encode())


async def server_subjects(server: NatsServer, nc: Client) -> set[str]:
    """The subscriptions the *server* holds for ``nc``'s connection (``/connz?subs=1``)."""
    doc = await get_json(f"{server.monitoring_url}/connz?subs=1&cid={nc.client_id}")
    (conn,) = [c for c in doc["connections"] if c["cid"] == nc.client_id]
    return set(conn.get("subscriptions_list") or [])


def tap_subjects(stream: str) -> set[str]:
    """What the per-message wiretap subscribes to for ``stream`` (besides its subjects)."""
    return {"_INBOX.>", f"$JS.ACK.{stream}.>", f"$JS.ACK.*.*.{stream}.>"}


async def test_settle_snapshot_equals_consumer_info(nc: Client, js: Any, stream: str) -> None:
    board = await Board.watch(nc, stream, reconcile_interval=None)
    try:
        await publish(js, stream, 30)
        analytics = await js.pull_subscribe_bind("analytics", stream=stream)
        msgs = await analytics.fetch(10, timeout=2)
        for m in msgs[:4] + msgs[6:]:
            await m.ack()
        await msgs[4].nak()
        orders = await js.pull_subscribe_bind("orders", stream=stream)
        got = await orders.fetch(5, timeout=2)
        await got[0].term()
        await got[1].ack()
        snap = await board.settle()
        assert sorted(snap) == ["analytics", "audit", "orders"]
        for name in snap:
            assert {k: snap[name][k] for k in KEYS} == await server_numbers(js, stream, name)
        assert snap["audit"]["num_pending"] == 30
        assert snap["orders"]["num_pending"] == 10 - len(got)
        table = board.table()
        assert table.rows["analytics"]["Ack Floor"] == snap["analytics"]["ack_floor"]
        assert repr(table).startswith(f"stream {stream}\nconsumer ")
    finally:
        await board.close()


async def test_live_numbers_without_polling(nc: Client, js: Any, stream: str) -> None:
    board = await Board.watch(nc, stream, reconcile_interval=None)
    try:
        calls = board.api_calls
        await publish(js, stream, 12)
        audit = await js.pull_subscribe_bind("audit", stream=stream)
        for m in await audit.fetch(12, timeout=2):
            await m.ack()
        await nc.flush()
        await async_wait_until(
            lambda: board.snapshot()["audit"]["ack_floor"] == 12, what="acks seen live"
        )
        # Only the message gets the filtered lane needs (subjects the tap already knew: none).
        assert board.api_calls == calls, "live numbers came from traffic, not API calls"
        await board.settle()
        assert board.api_calls > calls, "settle reconciles, and counts its calls"
    finally:
        await board.close()


async def test_close_leaves_no_tasks_or_subscriptions_and_says_closed(
    server: NatsServer, nc: Client, stream: str
) -> None:
    before = await server_subjects(server, nc)
    board = await Board.watch(nc, stream, reconcile_interval=0.2)
    await board.attach_worker("audit")
    assert tap_subjects(stream) <= await server_subjects(server, nc), "the wiretap subscribed"
    await board.close()
    await board.close()  # idempotent
    await nc.flush()
    assert await server_subjects(server, nc) == before
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("fanout-kit-board")]
    assert board.workers["audit"].state == "stopped"
    assert board.closed
    frame = board.widget.frame
    assert frame["status"]["board"] == "closed", "the last frame says closed"
    # Stopped, the board's worker leaves the column as a stopped pool's does: nobody works.
    assert frame["lanes"][1]["worker"] is None


async def test_a_closed_board_redraws_once_at_the_capacity_the_browser_reports(
    nc: Client, js: Any, stream: str
) -> None:
    """A board closed before the browser said how wide it is (Run All) widens when the report
    comes: one frame, from what it recorded, asking the server nothing; only as far back as
    the recording tells (a filtered lane needs subjects the board never learned)."""
    await publish(js, stream, 60)  # before the board: it asks for the window's subjects only
    board = await Board.watch(nc, stream, window=10, reconcile_interval=None)
    try:
        await publish(js, stream, 30)  # seen by the wiretap: every subject known
        await board.settle()
    finally:
        await board.close()
    assert board.widget.frame["status"]["board"] == "closed"
    assert (board.widget.frame["lo"], board.widget.frame["hi"]) == (81, 90)
    sends, calls = board.sends, board.api_calls
    board.widget.capacity = 35  # what the browser's report does (a synced trait)
    assert board.sends == sends + 1, "one frame, at once: no tick runs on a closed board"
    frame = board.widget.frame
    assert (frame["lo"], frame["hi"]) == (56, 90) and len(frame["stream_lane"]) == 35
    assert frame["status"]["board"] == "closed"
    cells = board.cells()
    assert sorted(cells[""]) == list(range(56, 91)), "cells() is what the frame draws"
    lane = next(x for x in frame["lanes"] if x["name"] == "orders")
    assert lane["cells"] == "".join(view.CODES[MsgState(w)] for w in cells["orders"].values())
    # Wider than what the board learned: it stops where the "orders" filter needs a subject
    # it never saw (21..50: before the watch, outside its first window and the focus).
    board.widget.capacity = 400
    assert (board.widget.frame["lo"], board.widget.frame["hi"]) == (51, 90)
    assert all(s in board.model.subjects for s in range(51, 91))
    assert board.api_calls == calls, "a closed board asks the server nothing"


async def test_a_board_whose_client_is_closed_says_so(server: NatsServer, stream: str) -> None:
    import fanout_kit

    own = await fanout_kit.connect(server.url)
    board = await Board.watch(own, stream)
    await own.close()
    await async_wait_until(
        lambda: board.widget.frame["status"]["connection"] == "closed", what="closed in a frame"
    )
    frame = board.widget.frame
    assert frame["status"]["board"] == "closed" and board.closed
    assert any("was closed" in b for b in frame["status"]["banners"])
    await async_wait_until(
        lambda: not [t for t in asyncio.all_tasks() if t.get_name().startswith("fanout-kit-b")],
        what="its tasks stopped by themselves",
    )
    with pytest.raises(FanoutKitError, match="closed"):
        await board.settle()
    await board.close()


async def test_a_stream_deleted_under_the_board_is_said(nc: Client, js: Any) -> None:
    name = f"GONE{uuid.uuid4().hex[:6]}".upper()
    await js.add_stream(StreamConfig(name=name, subjects=[f"{name.lower()}.>"]))
    board = await Board.watch(nc, name, reconcile_interval=0.2)
    try:
        await js.delete_stream(name)
        await async_wait_until(
            lambda: any("was not found" in b for b in board.widget.frame["status"]["banners"]),
            what="a banner saying the stream is gone",
        )
        with pytest.raises(FanoutKitError, match="stream not found"):
            await board.settle()
    finally:
        await board.close()


async def test_repr_is_stable_names_only(nc: Client, js: Any, stream: str) -> None:
    board = await Board.watch(nc, stream, reconcile_interval=None)
    try:
        expected = f"Board(stream={stream!r}, consumers=['analytics', 'audit', 'orders'])"
        assert repr(board) == expected
        await publish(js, stream, 5)
        await board.settle()
        bundle = board._repr_mimebundle_()
        assert bundle["text/plain"] == expected
        assert "application/vnd.jupyter.widget-view+json" in bundle
        # An ordered consumer gets a new random name each run: counted, not named.
        sub = await js.subscribe(f"{stream.lower()}.>", ordered_consumer=True)
        await board.settle()
        assert len(board.consumers) == 4
        assert repr(board) == expected[:-1] + ", ephemeral=1)"
        await sub.unsubscribe()
    finally:
        await board.close()


def _count_comm_messages(widget: Any) -> list[int]:
    """Wrap the (dummy, no kernel) comm of ``widget`` to count the messages it would send."""
    counter = [0]
    publish_msg = widget.comm.publish_msg

    def counting(*args: Any, **kwargs: Any) -> Any:
        counter[0] += 1
        return publish_msg(*args, **kwargs)

    widget.comm.publish_msg = counting
    return counter


async def test_draws_are_capped_one_send_per_tick(nc: Client, js: Any, stream: str) -> None:
    # Per-message all the way (no overload mode): every event reaches the model.
    board = await Board.watch(nc, stream, reconcile_interval=None, detail_limit=None)
    try:
        sent = _count_comm_messages(board.widget)
        ticks0, events0, sends0 = board.ticks, board.model.events, board.sends
        pending = [await js.publish_async(f"{stream.lower()}.users", b"{}") for _ in range(2000)]
        await asyncio.gather(*pending)
        analytics = await js.pull_subscribe_bind("analytics", stream=stream)
        acked = 0
        while acked < 2000:
            for m in await analytics.fetch(200, timeout=2):
                await m.ack()
                acked += 1
        await nc.flush()
        await async_wait_until(
            lambda: board.snapshot()["analytics"]["ack_floor"] == 2000, what="acks seen"
        )
        await async_wait_until(lambda: board.ticks >= ticks0 + 3, what="three more ticks")
        ticks = board.ticks - ticks0
        assert board.model.events - events0 >= 6000, "pubacks, deliveries and acks modelled"
        assert board.sends - sends0 <= ticks, f"{board.sends - sends0} frames in {ticks} ticks"
        assert sent[0] <= board.sends - sends0, "one state message per frame"
    finally:
        await board.close()


async def test_controls_publish_pause_nak_within_one_frame(
    nc: Client, js: Any, stream: str
) -> None:
    board = await Board.watch(nc, stream, reconcile_interval=None, subject=f"{stream.lower()}.x")
    controls = board.controls
    assert controls is not None
    try:
        assert controls.consumer.value == "analytics", "a consumer is selected by default"
        worker = await board.attach_worker("analytics", batch=5)
        controls.buttons["Nak next"].click()
        controls.buttons["Publish"].click()  # 10 events
        await async_wait_until(
            lambda: worker.acked == 10 and worker.naked == 1, what="nak'd once, then all acked"
        )
        snap = await board.settle()
        assert snap["analytics"]["ack_floor"] == 10
        assert snap["analytics"]["num_redelivered"] == 0
        lane = next(x for x in board.widget.frame["lanes"] if x["name"] == "analytics")
        assert [m[1] for m in lane["marks"]] == [2], "the nak'd message keeps its mark"
        sends = board.sends
        controls.buttons["Pause worker"].click()
        assert board.sends == sends + 1, "the click itself drew a frame"
        lane = next(x for x in board.widget.frame["lanes"] if x["name"] == "analytics")
        assert lane["worker"] == "paused"
        await board.publish(12)
        snap = await board.settle()
        # A fetch already waiting when the pause came may still take one batch; then it stops.
        assert snap["analytics"]["num_pending"] == 12 - (worker.acked - 10) >= 12 - 5
        assert {k: snap["analytics"][k] for k in KEYS} == await server_numbers(
            js, stream, "analytics"
        )
        controls.buttons["Start / resume worker"].click()
        await async_wait_until(lambda: worker.acked == 22, what="resumed worker catching up")
    finally:
        await board.close()


async def test_worker_column_counts_every_worker_on_a_durable(
    server: NatsServer, nc: Client, stream: str
) -> None:
    """A WorkerPool started outside the board (as lesson 07 does) counts on its durable's
    lane, next to the board's own worker, and follows pause, crash and stop by itself."""
    from fanout_kit.workers import WorkerPool, live_workers

    board = await Board.watch(nc, stream, reconcile_interval=None)
    pool = WorkerPool(server.url, stream, "audit", count=3, batch=2)

    def column() -> dict[str, str | None]:
        return {x["name"]: x["worker"] for x in board.widget.frame["lanes"]}

    try:
        await board.attach_worker("analytics")
        await pool.start()
        assert sorted(id(w) for w in live_workers(stream, "audit")) == sorted(map(id, pool))
        # No redraw asked for: the board's own tick sees the pool.
        await async_wait_until(
            lambda: (
                column()
                == {"analytics": "running", "audit": "3 workers: 3 running", "orders": None}
            ),
            what="the pool counted on its lane",
        )
        pool[2].pause()
        await async_wait_until(
            lambda: column()["audit"] == "3 workers: 2 running, 1 paused", what="pause shown"
        )
        await pool[0].crash()
        await async_wait_until(
            lambda: column()["audit"] == "3 workers: 1 running, 1 paused, 1 crashed",
            what="crash shown",
        )
        await pool.stop()
        assert live_workers(stream, "audit") == []
        await async_wait_until(lambda: column()["audit"] is None, what="stopped pool gone")
        assert column()["analytics"] == "running"
    finally:
        await pool.stop()
        await board.close()
    assert live_workers(stream) == [], "close() stopped the board's own worker"


async def test_worker_column_says_not_started_and_forgets_stopped_workers_alike(
    server: NatsServer, nc: Client, stream: str
) -> None:
    """A board worker made with ``start=False`` reads ``not started`` (not ``stopped``); once
    stopped, the board's own worker and a pool's both leave the column (``—``)."""
    from fanout_kit.workers import WorkerPool

    board = await Board.watch(nc, stream, reconcile_interval=None)
    pool = WorkerPool(server.url, stream, "audit", count=2)

    def column() -> dict[str, str | None]:
        return {x["name"]: x["worker"] for x in board.widget.frame["lanes"]}

    try:
        worker = await board.attach_worker("analytics", start=False)
        assert column()["analytics"] == "not started"
        await board.attach_worker("analytics")
        await pool.start()
        await async_wait_until(
            lambda: (
                column()["analytics"] == "running" and column()["audit"] == "2 workers: 2 running"
            ),
            what="both running",
        )
        await worker.stop()
        await pool.stop()
        await async_wait_until(
            lambda: column()["analytics"] is None and column()["audit"] is None,
            what="both stopped workers gone from the column",
        )
    finally:
        await pool.stop()
        await board.close()


async def test_publish_sends_demo_events_on_the_streams_subjects(nc: Client, js: Any) -> None:
    name = f"SH{uuid.uuid4().hex[:6]}".upper()
    await js.add_stream(StreamConfig(name=name, subjects=["notify.>"]))
    await js.add_stream(StreamConfig(name=name + "L", subjects=["literal"]))
    board = await Board.watch(nc, name)
    other = await Board.watch(nc, name + "L")
    try:
        await board.publish(6)
        await board.settle()
        for seq in range(1, 7):
            msg = await js.get_msg(name, seq)
            assert msg.subject.startswith("notify.") and b'"id"' in (msg.data or b"")
        with pytest.raises(BoardError, match="do not fit"):
            await other.publish(3)
        assert (await js.stream_info(name + "L")).state.messages == 0, "nothing sent"
    finally:
        await board.close()
        await other.close()
        await js.delete_stream(name)
        await js.delete_stream(name + "L")


async def test_watch_refuses_bad_input_before_starting(nc: Client, js: Any, stream: str) -> None:
    tasks = set(asyncio.all_tasks())
    T, V = KitTypeError, KitValueError
    cases: list[tuple[tuple[Any, ...], dict[str, Any], type[Exception], str, str]] = [
        ((js, stream), {}, T, "nc", r"pass the client `nc`, not `nc\.jetstream\(\)`"),
        (("nats://x", stream), {}, T, "nc", "connected nats-py client"),
        ((nc, ""), {}, V, "stream", "stream is empty"),
        ((nc, "A.B"), {}, V, "stream", "contains '\\.'"),
        ((nc, "NOPE_NOT_HERE"), {}, V, "stream", f"streams there: .*{stream}"),
        ((nc, stream), {"window": 5}, V, "window", "window must be a number from 10 to 400"),
        ((nc, stream), {"window": "60"}, T, "window", "window must be a whole number"),
        ((nc, stream), {"refresh_interval": 0.01}, V, "refresh_interval", "refresh_interval"),
        ((nc, stream), {"detail_limit": -1}, V, "detail_limit", "detail_limit"),
        ((nc, stream), {"overview_rate": 50}, V, "overview_rate", "overview_rate"),
        ((nc, stream), {"publish": 3}, T, "publish", "publish must be an async function"),
        ((nc, stream), {"subject": "a.*"}, V, "subject", "literal subject"),
        ((nc, stream), {"colour": "red"}, T, "colour", "unknown option"),
    ]
    for args, options, kind, param, message in cases:
        with pytest.raises(kind, match=message) as caught:
            await Board.watch(*args, **options)
        assert isinstance(caught.value, BoardError | BoardTypeError), caught.value
        assert caught.value.param == param, (caught.value, caught.value.param)
    assert set(asyncio.all_tasks()) == tasks, "nothing left running"


async def test_export_writes_one_html_file(
    nc: Client, js: Any, stream: str, tmp_path: Path
) -> None:
    board = await Board.watch(nc, stream, reconcile_interval=None)
    try:
        await publish(js, stream, 3)
        await board.settle()
        path = board.export(tmp_path / "board.html")
        page = path.read_text()
        assert page.count(f'"stream":"{stream}"') >= 2, "the recorded frames are embedded"
        assert "<script" in page and "http" not in page.split("<script", 1)[1][:200]
    finally:
        await board.close()


async def test_a_short_burst_is_not_a_rate(nc: Client, js: Any, stream: str) -> None:
    """``detail_limit`` is events a second: fewer events than that, however fast they come
    (here 60 messages published at once, fetched and acked at once), never switch modes. (A
    measure over one tick used to scale 50 events in 10 ms up to 5,000 a second.)"""
    board = await Board.watch(nc, stream, reconcile_interval=None, detail_limit=300)
    try:
        sub = await js.pull_subscribe_bind("analytics", stream=stream)
        acks = [await js.publish_async(f"{stream.lower()}.users", b"{}") for _ in range(60)]
        await asyncio.gather(*acks)
        msgs = await sub.fetch(60, timeout=5)
        await asyncio.gather(*(m.ack() for m in msgs))
        await sub.unsubscribe()
        await board.settle()
        # publish + puback + delivery + ack per message: fewer than 300 within any second
        assert board.feed.tap.events == 4 * 60
        assert board.mode_switches == 0 and board.mode == "detail"
    finally:
        await board.close()


async def test_overload_counts_events_within_a_second_not_a_burst_scaled_up(
    nc: Client, stream: str
) -> None:
    """The limit is a count a second: 300 events at once stay under ``detail_limit=300`` (a
    measure over one tick called that 3,000 a second or more), one more within the same
    second is over it."""
    board = await Board.watch(nc, stream, reconcile_interval=None, detail_limit=300)
    try:
        overload, tap = board.feed.overload, board.feed.tap
        tap.events += 300  # as if 300 events had just arrived together
        overload.measure(time.monotonic())
        assert board.mode == "detail" and not overload.switching
        assert tap.alarm <= tap.events + 1, "the next event within the second rings the alarm"
        tap.events += 1
        overload.measure(time.monotonic())
        assert board.mode == "overload"
        await async_wait_until(lambda: overload.active, what="overload mode entered")
    finally:
        await board.close()


async def test_the_mode_says_overload_from_the_moment_the_switch_is_decided(
    nc: Client, stream: str
) -> None:
    """While the wiretap is being dropped, what happens is not followed message by message, so
    nothing may say "detail" then: lesson 02's browser test saw "detail", clicked Nak next, and
    the nak went by unseen (no trace) while the board was in fact entering overload mode."""
    board = await Board.watch(nc, stream, reconcile_interval=None, detail_limit=100)
    try:
        overload = board.feed.overload
        board.feed.tap.events += 101  # as if 101 events arrived within this second
        overload.measure(time.monotonic())
        assert overload.switching and not overload.active, "decided, enter() not run yet"
        assert board.mode == "overload" and board.status().mode == "overload"
        board.redraw()
        assert board.widget.frame["status"]["mode"] == "overload"
        await async_wait_until(lambda: overload.active, what="overload mode entered")
    finally:
        await board.close()


async def test_overload_mode_drops_the_wiretap_and_comes_back(
    server: NatsServer, nc: Client, js: Any, stream: str
) -> None:
    """Above ``detail_limit`` events/s the board stops receiving per-message copies (the
    server no longer holds those subscriptions), says so, and reads consumer info instead;
    its header's stored/last figures stay current; after the burst it follows every message
    again and settles exactly."""
    board = await Board.watch(nc, stream, reconcile_interval=None, detail_limit=200)
    taps = tap_subjects(stream)
    assert taps <= await server_subjects(server, nc)
    stop = asyncio.Event()

    async def burst() -> None:
        sub = await js.pull_subscribe_bind("analytics", stream=stream)
        while not stop.is_set():
            acks = [await js.publish_async(f"{stream.lower()}.users", b"{}") for _ in range(50)]
            await asyncio.gather(*acks)
            try:
                for m in await sub.fetch(50, timeout=1):
                    await m.ack()
            except TimeoutError:
                pass
        await sub.unsubscribe()

    task = asyncio.create_task(burst())
    try:
        await async_wait_until(lambda: board.mode == "overload", what="overload mode")
        deadline = asyncio.get_running_loop().time() + 10
        while taps & await server_subjects(server, nc):
            assert asyncio.get_running_loop().time() < deadline, "server still has the wiretap"
            await asyncio.sleep(0.01)
        assert f"$JS.EVENT.ADVISORY.STREAM.*.{stream}" in await server_subjects(server, nc)
        await async_wait_until(
            lambda: any(
                "200 events a second" in b for b in board.widget.frame["status"]["banners"]
            ),
            what="the banner drawn",
        )
        assert board.widget.frame["status"]["mode"] == "overload"
        stored = (await js.stream_info(stream)).state.messages
        await async_wait_until(
            lambda: (board.widget.frame["head"]["stored"] or 0) >= stored > 0,
            what="the header's stored count kept current by the overview reads",
        )
        snap = board.snapshot()["analytics"]
        truth = await server_numbers(js, stream, "analytics")
        assert snap["delivered"] <= truth["delivered"] and snap["ack_floor"] <= truth["ack_floor"]
    finally:
        stop.set()
        await task
    try:
        await async_wait_until(lambda: board.mode == "detail", what="back to detail")
        assert board.mode_switches >= 2 and board.mode_switches % 2 == 0
        assert taps <= await server_subjects(server, nc)
        snap = await board.settle()
        for name in snap:
            assert {k: snap[name][k] for k in KEYS} == await server_numbers(js, stream, name)
        assert board.widget.frame["status"]["banners"] == []
    finally:
        await board.close()


async def test_settle_leaves_overload_mode_and_is_exact(nc: Client, js: Any, stream: str) -> None:
    """A board forced into overload mode (a limit no traffic can stay under) still settles
    exactly: settle waits for consumer info to stop moving, then follows every message."""
    board = await Board.watch(nc, stream, reconcile_interval=None, detail_limit=1e-9)
    try:
        await publish(js, stream, 20)
        await async_wait_until(lambda: board.mode == "overload", what="overload mode")
        audit = await js.pull_subscribe_bind("audit", stream=stream)
        for m in (await audit.fetch(8, timeout=2))[:5]:
            await m.ack()
        snap = await board.settle()
        assert board.mode == "detail"
        for name in snap:
            assert {k: snap[name][k] for k in KEYS} == await server_numbers(js, stream, name)
    finally:
        await board.close()


def test_board_keeps_running_after_blocking_run(server: NatsServer) -> None:
    """``fanout_kit.run`` applies nest-asyncio to a running loop; the board must not stall.

    In a subprocess, so the nest-asyncio patch does not leak into other tests.
    """
    script = textwrap.dedent(
        f"""
        import asyncio, time
        import fanout_kit
        from fanout_kit.board import Board
        from nats.js.api import StreamConfig

        async def main():
            nc = await fanout_kit.connect({server.url!r})
            js = nc.jetstream()
            await js.add_stream(StreamConfig(name="NEST", subjects=["nest.>"]))
            board = await Board.watch(nc, "NEST", reconcile_interval=0.2)
            fanout_kit.run(js.publish("nest.a", b"1"))  # blocking call inside a running loop
            ticks, calls = board.ticks, board.api_calls
            deadline = time.monotonic() + 10
            while (board.ticks < ticks + 5 or board.api_calls <= calls) and (
                time.monotonic() < deadline
            ):
                await asyncio.sleep(0.05)
            assert board.ticks >= ticks + 5, "tick stalled"
            assert board.api_calls > calls, "reconcile loop stalled"
            assert board.model.last_seq == 1
            await board.close()
            await js.delete_stream("NEST")
            await nc.close()
            print("ok")

        asyncio.run(main())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NATS_URL": server.url},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
