"""Lesson 00's checker against a real server: stub, each wrong answer with its hint, solution."""

from __future__ import annotations

import pytest

from fanout_kit.checks import welcome

from .conftest import fresh_stream
from .solutions import load_solution


@pytest.fixture(autouse=True)
async def _welcome_stream(js):  # type: ignore[no-untyped-def]
    await fresh_stream(js, "WELCOME", ("welcome.>",))
    await js.publish("welcome.first", b"hello")
    yield
    await js.delete_stream("WELCOME")


async def test_the_stub_is_not_attempted(js) -> None:  # type: ignore[no-untyped-def]
    async def stub(js):  # type: ignore[no-untyped-def]
        raise NotImplementedError("your code here")

    result = await welcome.publish_three(js, stub)
    assert result.status == "not attempted"
    assert "raise NotImplementedError" in repr(result)


async def test_not_a_list_of_three(js) -> None:  # type: ignore[no-untyped-def]
    async def one(js):  # type: ignore[no-untyped-def]
        return [await js.publish("welcome.a", b"a")]

    result = await welcome.publish_three(js, one)
    assert result.status == "wrong" and "three PubAck objects in a list" in result.message


async def test_core_publish_is_not_stored(nc, js) -> None:  # type: ignore[no-untyped-def]
    async def core(js):  # type: ignore[no-untyped-def]
        return [await nc.publish(f"welcome.{s}", b"x") for s in "abc"]

    result = await welcome.publish_three(js, core)
    assert result.status == "wrong" and "forget `await`" in result.message


async def test_wrong_subjects(js) -> None:  # type: ignore[no-untyped-def]
    async def backwards(js):  # type: ignore[no-untyped-def]
        return [await js.publish(f"welcome.{s}", b"x") for s in "cba"]

    result = await welcome.publish_three(js, backwards)
    assert result.status == "wrong" and "welcome.a, welcome.b" in result.message


async def test_gaps_in_the_sequences(js) -> None:  # type: ignore[no-untyped-def]
    async def extra(js):  # type: ignore[no-untyped-def]
        acks = []
        for s in "abc":
            await js.publish("welcome.extra", b"x")
            acks.append(await js.publish(f"welcome.{s}", b"x"))
        return acks

    result = await welcome.publish_three(js, extra)
    assert result.status == "wrong" and "three in a row" in result.message


async def test_the_solution_is_correct(js) -> None:  # type: ignore[no-untyped-def]
    result = await welcome.publish_three(js, load_solution("00-welcome").publish_three)
    assert result.ok, result
    assert repr(result) == "✅ Correct: 3 messages stored in WELCOME at sequences 2..4."
