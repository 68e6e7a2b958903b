"""Worker and WorkerPool against real servers: the controls, and surviving churn and restarts."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats.errors
import pytest
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, StreamConfig

import fanout_kit
from fanout_kit import BadArgument
from fanout_kit.audit import Received, audit
from fanout_kit.cluster import start_cluster
from fanout_kit.load import publish_paced
from fanout_kit.server import NatsServer
from fanout_kit.topology import TopologyError
from fanout_kit.waiting import wait_for
from fanout_kit.workers import (
    CONSUMER_GONE,
    CRASHED,
    PAUSED,
    RUNNING,
    STOPPED,
    UNREACHABLE,
    Worker,
    WorkerPool,
    live_workers,
)

from .conftest import fresh_stream

STREAM = "WORKERS"


@pytest.fixture
async def unhandled() -> AsyncIterator[list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    old = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    yield seen
    gc.collect()  # an unretrieved task exception is reported when the task is collected
    await asyncio.sleep(0)
    loop.set_exception_handler(old)


@pytest.fixture
async def stream(js: JetStreamContext) -> AsyncIterator[str]:
    await fresh_stream(js, STREAM, ("work.>",))
    yield STREAM
    await js.delete_stream(STREAM)


async def publish(js: JetStreamContext, n: int) -> None:
    for i in range(n):
        await js.publish("work.item", str(i).encode())


async def test_the_controls_keep_working(
    server: NatsServer, js: JetStreamContext, stream: str, unhandled: list[Any]
) -> None:
    await js.add_consumer(stream, ConsumerConfig(durable_name="c", ack_wait=2))
    worker = Worker(server.url, stream, "c", batch=5)
    assert worker.state == STOPPED and not worker.active
    await worker.start()
    assert worker.state == RUNNING and worker.active
    await publish(js, 10)
    await wait_for(lambda: worker.acked == 10, 10, "10 acks")

    worker.pause()
    assert worker.state == PAUSED and worker.paused
    await publish(js, 3)
    worker.nak_next(2)
    worker.resume()
    await wait_for(lambda: worker.acked == 13 and worker.naked == 2, 10, "3 acks, 2 naks")

    await worker.crash(after=1)
    await publish(js, 3)
    await wait_for(lambda: worker.crashed, 10, "the crash after one more ack")
    assert worker.state == CRASHED and not worker.active and worker.acked == 14
    await worker.start()  # a crashed worker restarts
    assert worker.state == RUNNING

    async def all_acked() -> bool:
        info = await js.consumer_info(stream, "c")
        return info.num_pending == 0 and info.num_ack_pending == 0 and worker.acked >= 16

    await wait_for(all_acked, 30, "the crash's held messages, redelivered and acked")
    await worker.crash()
    assert worker.state == CRASHED and worker.holding == 0
    await worker.start()
    await worker.stop()
    assert worker.state == STOPPED and not worker.crashed
    assert unhandled == []


async def test_consumer_deleted_and_recreated_under_a_running_worker(
    server: NatsServer, js: JetStreamContext, stream: str, unhandled: list[Any]
) -> None:
    worker = await Worker(server.url, stream, "churn").start()  # before its consumer exists
    try:
        await wait_for(lambda: worker.state == CONSUMER_GONE, 10, "the worker to wait")
        await js.add_consumer(stream, ConsumerConfig(durable_name="churn"))
        await publish(js, 5)
        await wait_for(lambda: worker.acked == 5, 10, "5 acks")
        await js.delete_consumer(stream, "churn")
        await wait_for(lambda: worker.state == CONSUMER_GONE, 10, "the worker to notice")
        assert worker.active and worker.last_error

        await js.add_consumer(stream, ConsumerConfig(durable_name="churn"))  # delivers all 5 again
        await publish(js, 2)
        await wait_for(lambda: worker.acked == 12, 20, "the worker resuming by itself")
        assert worker.state == RUNNING
        assert worker.retries > 0
    finally:
        await worker.stop()
    assert unhandled == []


async def test_server_killed_and_restarted_under_a_running_worker(
    tmp_path: Path, unhandled: list[Any]
) -> None:
    srv = await fanout_kit.start_server(store_dir=tmp_path / "store")
    nc = await fanout_kit.connect(srv.url, max_reconnect_attempts=-1)
    js = nc.jetstream()
    seen: set[int] = set()

    async def note(msg: Msg) -> None:
        seen.add(msg.metadata.sequence.stream)

    worker = Worker(srv.url, STREAM, "survivor", handler=note)
    try:
        await js.add_stream(name=STREAM, subjects=["work.>"])
        await js.add_consumer(STREAM, ConsumerConfig(durable_name="survivor"))
        await worker.start()
        await publish(js, 5)
        await wait_for(lambda: worker.acked == 5, 10, "5 acks")

        srv.kill()
        await wait_for(lambda: worker.state == UNREACHABLE, 20, "the worker to notice")
        await srv.restart()  # same ports, same store: stream and consumer come back
        await wait_for(lambda: nc.is_connected, 20, "the test's client to reconnect")
        await publish(js, 3)
        # A SIGKILL can lose the last acks the server had not written yet, so 1..5 may come
        # again: wait for the new messages, whatever else is redelivered.
        await wait_for(lambda: {6, 7, 8} <= seen, 30, "the worker resuming by itself")
        assert worker.state == RUNNING and worker.last_error
    finally:
        await worker.stop()
        await nc.close()
        await srv.stop()
    assert unhandled == []


async def test_a_handler_that_raises_crashes_the_worker_visibly(
    server: NatsServer, js: JetStreamContext, stream: str, unhandled: list[Any]
) -> None:
    await js.add_consumer(stream, ConsumerConfig(durable_name="fragile"))

    async def handler(msg: Msg) -> None:
        if msg.data == b"2":
            raise ValueError("cannot parse order 2")

    worker = await Worker(server.url, stream, "fragile", handler=handler).start()
    await publish(js, 5)
    await wait_for(lambda: worker.crashed, 10, "the crash")
    assert worker.state == CRASHED
    assert worker.last_error == "ValueError: cannot parse order 2"
    assert worker.acked == 2  # 0 and 1; 2 is held unacked
    info = await js.consumer_info(stream, "fragile")
    assert info.ack_floor.stream_seq == 2
    await worker.stop()
    assert unhandled == []


async def test_a_pool_shares_one_durable(
    server: NatsServer, js: JetStreamContext, stream: str
) -> None:
    await js.add_consumer(stream, ConsumerConfig(durable_name="shared"))
    seen: list[int] = []

    async def note(msg: Msg) -> None:
        seen.append(msg.metadata.sequence.stream)

    pool = await WorkerPool(server.url, stream, "shared", count=3, batch=2, handler=note).start()
    try:
        assert len(pool) == 3 and pool.active == 3 and pool.state == RUNNING
        await publish(js, 30)
        await wait_for(lambda: pool.acked == 30, 10, "30 acks")
        assert sorted(seen) == list(range(1, 31))  # each message once, across the pool
        await pool[0].crash()
        assert pool.state == "2 running, 1 crashed" and pool.active == 2
        pool.pause()
        assert pool.states.count(PAUSED) == 2
    finally:
        await pool.stop()
    assert pool.state == STOPPED


async def test_the_board_counts_a_pool_started_without_it(
    server: NatsServer, nc: Any, js: JetStreamContext, stream: str
) -> None:
    """Workers a lesson starts itself are live (until stopped) and in the board's worker
    column, crashed ones included; a stopped one leaves both."""
    await js.add_consumer(stream, ConsumerConfig(durable_name="shared"))
    pool = WorkerPool(server.url, stream, "shared", count=3)
    assert not set(pool) & set(live_workers())  # not started: not live
    board = await fanout_kit.Board.watch(nc, stream, reconcile_interval=None)
    try:
        await pool.start()
        assert set(pool) <= set(live_workers())
        await pool[0].crash()
        await pool[1].stop()
        assert pool[0] in live_workers() and pool[1] not in live_workers()
        board.redraw()
        lanes = {lane["name"]: lane["worker"] for lane in board.widget.frame["lanes"]}
        assert lanes["shared"] == "2 workers: 1 running, 1 crashed"  # in the states' order
    finally:
        await pool.stop()
        await board.close()
    assert not set(pool) & set(live_workers())


@pytest.mark.parametrize(
    ("kwargs", "parameter", "error"),
    [
        ({"url": ""}, "url", BadArgument),
        ({"stream": "A.B"}, "stream", TopologyError),
        ({"consumer": ""}, "consumer", TopologyError),
        ({"batch": 0}, "batch", BadArgument),
        ({"delay": -1}, "delay", BadArgument),
        ({"handler": "print"}, "handler", BadArgument),
        ({"fetch_timeout": 0}, "fetch_timeout", BadArgument),
    ],
)
def test_bad_arguments_name_the_parameter(
    kwargs: dict[str, Any], parameter: str, error: type[Exception]
) -> None:
    args: dict[str, Any] = {"url": "nats://127.0.0.1:4222", "stream": "S", "consumer": "c"}
    args.update(kwargs)
    with pytest.raises(error, match=parameter):
        Worker(**args)
    with pytest.raises(BadArgument, match="count"):
        WorkerPool("nats://127.0.0.1:4222", "S", "c", count=0)


async def test_a_worker_carries_on_when_the_stream_leader_is_killed(unhandled: list[Any]) -> None:
    async with start_cluster(3, name="fk-test-worker") as cluster:
        nc = await fanout_kit.connect(cluster.urls, max_reconnect_attempts=-1)
        js = nc.jetstream()
        received = Received("EVENTS")
        worker = Worker(cluster.urls, "EVENTS", "svc", handler=received.handler("svc"))
        try:
            await js.add_stream(StreamConfig(name="EVENTS", subjects=["events.>"], num_replicas=3))
            await js.add_consumer("EVENTS", ConsumerConfig(durable_name="svc"))
            await worker.start()
            run = asyncio.create_task(publish_paced(js, rate=100, n=300, timeout=1, retries=30))
            await wait_for(lambda: worker.acked >= 50, 60, "50 messages handled")
            cluster.kill(await cluster.leader("EVENTS"))
            record = await run

            async def drained() -> bool:
                info = await js.consumer_info("EVENTS", "svc")
                return bool(info.num_pending == 0 and info.num_ack_pending == 0)

            await wait_for(drained, 60, "svc to catch up", ignore=nats.errors.Error)
            report = await audit(nc, record, received, settle=0)
        finally:
            await worker.stop()
            await nc.close()
    assert record.counts["failed"] == 0, record
    assert not report.lost, report
    svc = report.consumers["svc"]
    assert svc.expected == len(set(record.seqs)) and svc.never_got == 0, report
    assert unhandled == []
