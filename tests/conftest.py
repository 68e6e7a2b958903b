"""Shared fixtures: one real bundled nats-server for the whole test session.

Tests that need a server of their own (restart, kill, config) start one with
``fanout_kit.start_server()`` and stop it themselves.

`make test` runs the suite in parallel (pytest-xdist, ``-n``): each worker is a pytest process of
its own, with its own session fixtures (server, cluster) and its own kit runtime folder (below),
so tests on different workers share no server, store, port or folder. Tests marked ``slow`` are
collected first, so the scheduler starts them before the short ones.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from xdist.remote import Producer
from xdist.scheduler import LoadScopeScheduling, Scheduling

import fanout_kit
from fanout_kit import progress, reset_streams
from fanout_kit.checks import CheckResult
from fanout_kit.server import NatsServer

_RUNTIME_ENV = "FANOUT_KIT_RUNTIME_DIR"
_runtime_before: str | None = None
_own_runtime: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    """This pytest process keeps its kit servers' run folders in a runtime folder of its own.

    The default (``$TMPDIR/fanout-kit-<uid>``) is shared by every run of the kit for this user:
    parallel workers, another test run, a learner's lab. Tests that check "nothing is left
    behind" compare that folder's listing before and after, so another process's server
    appearing there in between must not be possible. Labs, kernels and nbval runs that tests
    start inherit it through the environment."""
    global _runtime_before, _own_runtime
    _runtime_before = os.environ.get(_RUNTIME_ENV)
    _own_runtime = tempfile.mkdtemp(prefix="fanout-kit-tests-runtime-")  # private: 0700
    os.environ[_RUNTIME_ENV] = _own_runtime


def pytest_unconfigure(config: pytest.Config) -> None:
    if _own_runtime is not None:
        shutil.rmtree(_own_runtime, ignore_errors=True)
    if _runtime_before is None:
        os.environ.pop(_RUNTIME_ENV, None)
    else:
        os.environ[_RUNTIME_ENV] = _runtime_before


#: Modules whose tests share one costly module fixture (a lab and a browser): under xdist one
#: worker runs each of them whole, instead of every worker starting its own.
ONE_WORKER_MODULES = ("tests/test_board_browser.py",)


class _OneTestOrOneModule(LoadScopeScheduling):
    """xdist's scheduling, a test at a time in collection order, except that the tests of a
    module in :data:`ONE_WORKER_MODULES` go to one worker together. (``--dist loadgroup`` with
    an ``xdist_group`` mark would say the same, but pytest-xdist 3.8 cannot pass the group on
    from a pytest 9.2 worker: it is silently ignored.)"""

    def _split_scope(self, nodeid: str) -> str:
        module = nodeid.split("::", 1)[0]
        return module if module in ONE_WORKER_MODULES else nodeid


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Producer) -> Scheduling | None:
    """``-n N`` (xdist's default ``--dist load``): the scheduling above; other ``--dist`` modes
    are xdist's own."""
    if config.getvalue("dist") != "load":
        return None
    config.option.loadscopereorder = False  # keep the slow-first collection order (below)
    return _OneTestOrOneModule(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``slow(seconds)`` first, the longest first, then the rest in their usual
    order: xdist hands tests out in collection order, so a long test started last would keep
    one worker busy after all the others are done."""

    def seconds(item: pytest.Item) -> float:
        mark = item.get_closest_marker("slow")
        return float(mark.args[0]) if mark and mark.args else 0.0

    items.sort(key=seconds, reverse=True)


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
async def js(nc: Client) -> JetStreamContext:
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
def _own_progress_file(tmp_path: Path) -> Iterator[Path | None]:
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


# A 3-node JetStream cluster on loopback, for lesson 11's checker (started once per worker, when
# a test first asks for it). The kit's start_cluster: every node picks its own ports.
CLUSTER_NAMES = ("n1", "n2", "n3")


@pytest.fixture(scope="session")
def cluster_nodes() -> Iterator[list[NatsServer]]:
    async def start() -> fanout_kit.Cluster:
        return await fanout_kit.start_cluster(len(CLUSTER_NAMES), name="fanout-kit-tests")

    cluster = asyncio.run(start())
    try:
        assert tuple(cluster.nodes) == CLUSTER_NAMES
        yield list(cluster.nodes.values())
    finally:
        asyncio.run(cluster.close())


@pytest.fixture
async def cjs(cluster_nodes: list[NatsServer]) -> AsyncIterator[JetStreamContext]:
    """JetStream on a connection to all three cluster nodes; ORDERS_R3 removed afterwards."""
    client = await fanout_kit.connect(",".join(s.url for s in cluster_nodes))
    js = client.jetstream()
    yield js
    await reset_streams(js, "ORDERS_R3")
    await client.close()
