"""Lesson 11's checker against a real 3-node cluster: stub, each wrong answer with its hint,
the solution, and the single-server mistake."""

from __future__ import annotations

import asyncio
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from nats.js.api import ConsumerConfig, StorageType, StreamConfig
from nats.js.errors import NotFoundError

import fanout_kit
from fanout_kit.checks import cluster, forget_stream
from fanout_kit.server import NatsServer, get_json

from .conftest import assert_wrong
from .solutions import load_solution

NAMES = ("n1", "n2", "n3")


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


async def _start_cluster(store: str) -> list[NatsServer]:
    ports = _free_ports(len(NAMES))
    servers: list[NatsServer] = []
    try:
        for name, port in zip(NAMES, ports, strict=True):
            routes = ",".join(f"nats://127.0.0.1:{p}" for p in ports if p != port)
            servers.append(
                await fanout_kit.start_server(
                    name=name,
                    store_dir=f"{store}/{name}",
                    extra_args=[
                        "--cluster_name",
                        "fanout-kit-tests",
                        "--cluster",
                        f"nats://127.0.0.1:{port}",
                        "--routes",
                        routes,
                    ],
                )
            )
        deadline = time.monotonic() + 20
        while True:
            for srv in servers:
                meta = (await get_json(srv.monitoring_url + "/jsz")).get("meta_cluster", {})
                peers = meta.get("replicas") or []
                if meta.get("leader") == srv.name and len(peers) == 2:
                    if all(p.get("current") for p in peers):
                        return servers
            if time.monotonic() > deadline:
                raise AssertionError("the 3-node cluster elected no JetStream meta leader in 20 s")
            await asyncio.sleep(0.05)
    except BaseException:
        for srv in servers:
            await srv.stop()
        raise


@pytest.fixture(scope="module")
def nodes() -> Iterator[list[NatsServer]]:
    with tempfile.TemporaryDirectory(prefix="fanout-kit-cluster-") as store:
        servers = asyncio.run(_start_cluster(store))
        try:
            yield servers
        finally:
            for srv in servers:
                asyncio.run(srv.stop())


@pytest.fixture
async def cjs(nodes: list[NatsServer]) -> AsyncIterator:  # type: ignore[type-arg]
    client = await fanout_kit.connect(",".join(s.url for s in nodes))
    js = client.jetstream()
    yield js
    await forget_stream(js, cluster.STREAM)
    await client.close()


def _solution():  # type: ignore[no-untyped-def]
    return load_solution("11-beyond-one-machine")


def _maker(stream: dict | None = None, consumer: dict | None = None):  # type: ignore[no-untyped-def]
    """A learner function creating ORDERS_R3 and its consumer with the given overrides."""
    stream_cfg = {"name": "ORDERS_R3", "subjects": ["orders.>"], "num_replicas": 3}
    stream_cfg.update(stream or {})
    consumer_cfg = {"durable_name": "order-processor"}
    consumer_cfg.update(consumer or {})

    async def create(js):  # type: ignore[no-untyped-def]
        await js.add_stream(StreamConfig(**stream_cfg))
        if consumer_cfg:
            await js.add_consumer("ORDERS_R3", ConsumerConfig(**consumer_cfg))

    return create


WRONG = {
    "one replica": ({"num_replicas": 1}, None, ["num_replicas=1", "num_replicas=3"]),
    "two replicas": ({"num_replicas": 2}, None, ["num_replicas=2", "quorum of 2 is 2"]),
    "memory storage": (
        {"storage": StorageType.MEMORY},
        None,
        ["memory storage", "StorageType.FILE"],
    ),
    "wrong subjects": ({"subjects": ["order.>"]}, None, ["['order.>']", 'subjects=["orders.>"]']),
    "ephemeral consumer": (
        None,
        {"durable_name": None, "name": "order-processor"},
        ["ephemeral", "durable_name='order-processor'"],
    ),
    "consumer on one node": (
        None,
        {"num_replicas": 1},
        ["num_replicas=1 on a stream with 3", "Leave `num_replicas` out"],
    ),
    "consumer in memory": (None, {"mem_storage": True}, ["mem_storage=True"]),
    "wrong consumer name": (
        None,
        {"durable_name": "order_processor"},
        ["no consumer named 'order-processor'", "order_processor"],
    ),
}


@pytest.mark.parametrize("case", list(WRONG))
async def test_wrong_answers_get_their_hint(cjs, case: str) -> None:  # type: ignore[no-untyped-def]
    stream, consumer, phrases = WRONG[case]
    result = await cluster.orders_r3(cjs, _maker(stream, consumer))
    assert_wrong(result, phrases)


async def test_missing_stream_is_explained(cjs) -> None:  # type: ignore[no-untyped-def]
    async def forgot_await(js):  # type: ignore[no-untyped-def]
        js.add_stream(name="ORDERS_R3", subjects=["orders.>"], num_replicas=3).close()

    result = await cluster.orders_r3(cjs, forgot_await)
    assert_wrong(result, ["no stream named ORDERS_R3"])


async def test_server_refusal_is_reported(cjs) -> None:  # type: ignore[no-untyped-def]
    result = await cluster.orders_r3(cjs, _maker({"num_replicas": 5}))
    assert_wrong(result, ["The server refused"])


async def test_single_server_is_explained(js) -> None:  # type: ignore[no-untyped-def]
    """The learner passes the shared single server's js: the server's 10074, explained."""
    result = await cluster.orders_r3(js, _solution().make_orders_r3)
    assert_wrong(result, ["single server, not to the cluster"])
    with pytest.raises(NotFoundError):
        await js.stream_info("ORDERS_R3")
