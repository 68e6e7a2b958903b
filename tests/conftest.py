"""Shared fixtures: one real bundled nats-server for the whole test session.

Tests that need a server of their own (restart, kill, config) start one with
``fanout_kit.start_server()`` and stop it themselves.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

import fanout_kit
from fanout_kit.checks import forget_stream
from fanout_kit.server import NatsServer


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
async def js(nc: Client):  # type: ignore[no-untyped-def]
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
    await forget_stream(js, name)
    await js.add_stream(name=name, subjects=list(subjects))


def assert_wrong(result: Any, phrases: Iterable[str]) -> None:
    """``result`` (a CheckResult) is a wrong answer whose hint contains every phrase."""
    assert result.status == "wrong", result
    for phrase in phrases:
        assert phrase in result.message, (phrase, result.message)
