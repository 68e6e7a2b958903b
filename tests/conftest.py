"""Shared fixtures: one real bundled nats-server for the whole test session.

Tests that need a server of their own (restart, kill, config) start one with
``fanout_kit.start_server()`` and stop it themselves.
"""

from __future__ import annotations

import asyncio
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

import fanout_kit
from fanout_kit import progress, reset_streams
from fanout_kit.checks import CheckResult
from fanout_kit.server import NatsServer, get_json


@pytest.fixture(scope="session")
def server() -> Iterator[NatsServer]:
    """The session's shared server (sync fixture: the server is not tied to an event loop)."""
    srv = asyncio.run(fanout_kit.start_server(name="fanout-kit-tests"))
    yield srv
    asyncio.run(srv.stop())


@pytest.fixture
async def nc(server: NatsServer) -> AsyncIterator[Client]:
    client = await fanout_kit.connect(server.url)
    yield client
    await client.close()


@pytest.fixture
async def js(nc: Client):
    return nc.jetstream()


def wait_until(
    predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition"
) -> None:
    """Block until ``predicate()`` is true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.01)


async def async_wait_until(
    predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition"
) -> None:
    """Async twin of :func:`wait_until`, for tests running on an event loop."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.01)


async def fresh_stream(
    js: JetStreamContext, name: str = "EVENTS", subjects: tuple[str, ...] = ("events.>",)
) -> None:
    """A new, empty stream ``name`` on ``subjects``: an earlier one is deleted first."""
    await reset_streams(js, name)
    await js.add_stream(name=name, subjects=list(subjects))


@pytest.fixture(autouse=True)
def _own_progress_file(tmp_path: Path) -> Iterator[Path]:
    """Each test records check results in a file of its own, so every test's hint ladder
    starts at the first rung and no test reads another's progress. In this process only: the
    notebooks and labs a test starts find their own (nbval: none, so its runs are alike)."""
    with progress.recording_to(tmp_path / "progress.jsonl") as path:
        yield path


#: Code the solutions write: none of it may appear in a first wrong try's feedback.
SOLUTION_CODE = (
    'durable_name="',
    "durable_name=",
    "filter_subjects=[",
    "filter_subject=",
    "metadata.num_pending",
    "DeliverPolicy.",
    "AckPolicy.",
    "RetentionPolicy.",
    "DiscardPolicy.",
    "ReplayPolicy.",
    "StorageType.",
    "max_age=7 * 24",
    "max_msgs=100",
    "num_replicas=3",
    "opt_start_time=since",
    "wildcard(1)",
    "pull_subscribe_bind(",
    "except TimeoutError",
    "msg.ack()",
    "return [",
    "json.loads(",
)


def assert_wrong(result: CheckResult, phrases: Iterable[str]) -> None:
    """``result`` is a wrong answer whose hint (all rungs: symptom, concept, fix) contains
    every phrase, and whose first rung gives no solution code away."""
    assert result.status == "wrong", result
    for phrase in phrases:
        assert phrase in result.hints, (phrase, result.hints)
    if result.rung == 1:
        leaked = [code for code in SOLUTION_CODE if code in result.message]
        assert not leaked, f"first try shows solution code {leaked}: {result.message}"
        if result.fix:
            assert "reveal=True" in result.message, result.message


# A 3-node JetStream cluster on loopback, for lesson 11's checker (started once, when a test
# first asks for it).
CLUSTER_NAMES = ("n1", "n2", "n3")


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


async def _start_cluster(store: str) -> list[NatsServer]:
    ports = _free_ports(len(CLUSTER_NAMES))
    servers: list[NatsServer] = []
    try:
        for name, port in zip(CLUSTER_NAMES, ports, strict=True):
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


@pytest.fixture(scope="session")
def cluster_nodes() -> Iterator[list[NatsServer]]:
    with tempfile.TemporaryDirectory(prefix="fanout-kit-cluster-") as store:
        servers = asyncio.run(_start_cluster(store))
        try:
            yield servers
        finally:
            for srv in servers:
                asyncio.run(srv.stop())


@pytest.fixture
async def cjs(cluster_nodes: list[NatsServer]) -> AsyncIterator[JetStreamContext]:
    """JetStream on a connection to all three cluster nodes; ORDERS_R3 removed afterwards."""
    client = await fanout_kit.connect(",".join(s.url for s in cluster_nodes))
    js = client.jetstream()
    yield js
    await reset_streams(js, "ORDERS_R3")
    await client.close()
