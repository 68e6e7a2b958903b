"""The board against a real server: settle equals the server, close cleans up, draws are capped."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from fanout_kit.board import Board
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
        # audit: never fetched
        snap = await board.settle()
        assert sorted(snap) == ["analytics", "audit", "orders"]
        for name in snap:
            assert {k: snap[name][k] for k in KEYS} == await server_numbers(js, stream, name)
        assert snap["audit"]["num_pending"] == 30
        assert snap["orders"]["num_pending"] == 10 - len(got)
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
        assert board.api_calls == calls, "live numbers came from traffic, not API calls"
        await board.settle()
        assert board.api_calls > calls, "settle reconciles, and counts its calls"
    finally:
        await board.close()


async def test_close_leaves_no_tasks_or_subscriptions(nc: Client, stream: str) -> None:
    before = set(nc._subs)
    board = await Board.watch(nc, stream, reconcile_interval=0.2)
    await board.attach_worker("audit")
    assert set(nc._subs) - before, "the wiretap subscribed"
    tasks = list(board._tasks)
    await board.close()
    await board.close()  # idempotent
    assert set(nc._subs) == before
    assert all(t.done() for t in tasks)
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("fanout-kit-")]
    assert board.workers["audit"].state == "stopped"


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
        sent = _count_comm_messages(board._body)
        ticks0, events0 = board.ticks, board.model.events
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
        events = board.model.events - events0
        assert events >= 6000, "2000 pubacks, deliveries and acks reached the model"
        assert sent[0] <= ticks, f"{sent[0]} state sends in {ticks} ticks"
        assert sent[0] == board.sends - 1  # the first draw happened in watch()
    finally:
        await board.close()


async def test_controls_publish_pause_nak(nc: Client, js: Any, stream: str) -> None:
    board = await Board.watch(nc, stream, reconcile_interval=None, subject=f"{stream.lower()}.x")
    try:
        worker = await board.attach_worker("analytics", batch=5)
        board.refresh(force=True)
        board._who.value = "analytics"
        board._click_nak(None)
        board._click_publish(None)  # 10 events
        await async_wait_until(
            lambda: worker.acked == 10 and worker.naked == 1, what="nak'd once, then all acked"
        )
        snap = await board.settle()
        assert snap["analytics"]["ack_floor"] == 10
        assert snap["analytics"]["num_redelivered"] == 0
        board._click_pause(None)
        await board.publish(4)
        snap = await board.settle()
        # A fetch already waiting when the pause came may still take a few; then it stops.
        assert snap["analytics"]["num_pending"] == 4 - (worker.acked - 10) > 0
        assert {k: snap["analytics"][k] for k in KEYS} == await server_numbers(
            js, stream, "analytics"
        )
        board._click_resume(None)
        await async_wait_until(lambda: worker.acked == 14, what="resumed worker catching up")
    finally:
        await board.close()


def tap_subjects(stream: str) -> set[str]:
    """What the per-message wiretap subscribes to for ``stream`` (besides its subjects)."""
    return {"_INBOX.>", f"$JS.ACK.{stream}.>", f"$JS.ACK.*.*.{stream}.>"}


def client_subjects(nc: Client) -> set[str]:
    return {sub.subject for sub in nc._subs.values()}


async def server_subjects(server: NatsServer, nc: Client) -> set[str]:
    """The subscriptions the *server* holds for ``nc``'s connection (``/connz?subs=1``)."""
    doc = await get_json(f"{server.monitoring_url}/connz?subs=1&cid={nc.client_id}")
    (conn,) = [c for c in doc["connections"] if c["cid"] == nc.client_id]
    return set(conn.get("subscriptions_list") or [])


async def test_overload_mode_drops_the_wiretap_and_comes_back(
    server: NatsServer, nc: Client, js: Any, stream: str
) -> None:
    """Above ``detail_limit`` events/s the board stops receiving per-message copies (the
    server no longer holds those subscriptions), says so, and reads consumer info instead;
    after the burst it follows every message again and settles exactly."""
    board = await Board.watch(nc, stream, reconcile_interval=None, detail_limit=200)
    taps = tap_subjects(stream)
    assert taps <= client_subjects(nc) and taps <= await server_subjects(server, nc)
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
        await async_wait_until(
            lambda: board.mode == "overload" and not taps & client_subjects(nc),
            what="overload mode, wiretap unsubscribed in the client",
        )
        assert board.mode_switches == 1
        deadline = asyncio.get_running_loop().time() + 10
        while taps & await server_subjects(server, nc):
            assert asyncio.get_running_loop().time() < deadline, "server still has the wiretap"
            await asyncio.sleep(0.01)
        assert f"$JS.EVENT.ADVISORY.STREAM.*.{stream}" in await server_subjects(server, nc)
        page = board.render_html()
        assert "fk-banner" in page and "more than 200 events/s" in page
        assert "consumer info twice a second instead of every message" in page
        calls = board.api_calls
        await async_wait_until(lambda: board.api_calls > calls, what="an overview read")
        snap = board.snapshot()["analytics"]
        truth = await server_numbers(js, stream, "analytics")
        assert snap["delivered"] <= truth["delivered"] and snap["ack_floor"] <= truth["ack_floor"]
    finally:
        stop.set()
        await task
    try:
        await async_wait_until(lambda: board.mode == "detail", what="back to detail")
        assert board.mode_switches >= 2 and board.mode_switches % 2 == 0
        assert taps <= client_subjects(nc) and taps <= await server_subjects(server, nc)
        assert "fk-banner" not in board.render_html()
        snap = await board.settle()
        for name in snap:
            assert {k: snap[name][k] for k in KEYS} == await server_numbers(js, stream, name)
        assert board.mode == "detail"
    finally:
        await board.close()
    assert not taps & client_subjects(nc)


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


def test_board_keeps_running_after_blocking_run(server: NatsServer, tmp_path: Any) -> None:
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
            assert board.ticks >= ticks + 5, "render loop stalled"
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
