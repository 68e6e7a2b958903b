"""wait_for: sync and async conditions, the value back, a timeout that names what it waited for."""

from __future__ import annotations

import asyncio

import pytest

import fanout_kit
from fanout_kit import BadArgument
from fanout_kit.waiting import WaitTimeout, wait_for


async def test_returns_the_first_truthy_value_of_a_sync_condition() -> None:
    calls: list[int] = []

    def ready() -> list[int] | None:
        calls.append(1)
        return calls if len(calls) >= 3 else None

    assert await wait_for(ready, 10, "three calls") == [1, 1, 1]


async def test_awaits_an_async_condition_and_other_tasks_keep_running() -> None:
    ticks: list[int] = []

    async def ticker() -> None:
        while True:
            ticks.append(1)
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    try:

        async def enough() -> int:
            return len(ticks) if len(ticks) > 20 else 0

        assert await wait_for(enough, 10, "the ticker") > 20
    finally:
        task.cancel()


async def test_timeout_names_what_and_the_last_value_seen() -> None:
    with pytest.raises(WaitTimeout) as caught:
        await wait_for(lambda: 0, 0.05, "the consumer to drain")
    err = caught.value
    assert isinstance(err, TimeoutError) and isinstance(err, fanout_kit.FanoutKitError)
    assert "the consumer to drain" in str(err) and "last seen: 0" in str(err)
    assert err.what == "the consumer to drain" and err.last == 0


async def test_a_check_still_running_at_the_deadline_is_cancelled() -> None:
    cancelled = asyncio.Event()

    async def hangs() -> bool:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return True

    with pytest.raises(WaitTimeout, match="still running"):
        await wait_for(hangs, 0.05, "a hanging check")
    assert cancelled.is_set()


async def test_ignored_exceptions_mean_not_yet_others_propagate() -> None:
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("no leader yet")
        return "done"

    assert await wait_for(flaky, 10, "a leader", ignore=ConnectionError) == "done"

    def never() -> bool:
        raise ConnectionError("no leader yet")

    with pytest.raises(WaitTimeout, match="ConnectionError: no leader yet"):
        await wait_for(never, 0.05, "a leader", ignore=(ConnectionError,))

    def broken() -> bool:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        await wait_for(broken, 10, "a bug")


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"condition": 5}, "condition"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": "10"}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"what": ""}, "what"),
        ({"ignore": "TimeoutError"}, "ignore"),
    ],
)
async def test_bad_arguments_name_the_parameter(kwargs: dict[str, object], parameter: str) -> None:
    args: dict[str, object] = {"condition": lambda: True, "timeout": 1.0, "what": "x"}
    args.update(kwargs)
    with pytest.raises(BadArgument) as caught:
        await wait_for(**args)
    assert caught.value.param == parameter
    assert f"{parameter}=" in str(caught.value)
    assert isinstance(caught.value, ValueError | TypeError) and "Fix: e.g." in str(caught.value)
