"""Lesson 00's checker against a real server: each wrong answer and its hint
(stub, solution and learner exceptions: test_checks_contract.py)."""

from __future__ import annotations

import pytest

from fanout_kit.checks import welcome

from .conftest import assert_wrong, fresh_stream


@pytest.fixture(autouse=True)
async def _welcome_stream(js):
    await fresh_stream(js, "WELCOME", ("welcome.>",))
    await js.publish("welcome.first", b"hello")
    yield
    await js.delete_stream("WELCOME")


async def test_not_a_list_of_three(js) -> None:
    async def one(js):
        return [await js.publish("welcome.a", b"a")]

    result = await welcome.publish_three(js, one)
    assert_wrong(result, ["expects the three PubAcks, one per publish"])


async def test_core_publish_is_not_stored(nc, js) -> None:
    async def core(js):
        return [await nc.publish(f"welcome.{s}", b"x") for s in "abc"]

    result = await welcome.publish_three(js, core)
    assert_wrong(result, ["not PubAcks (NoneType, NoneType, NoneType)"])


async def test_wrong_subjects(js) -> None:
    async def backwards(js):
        return [await js.publish(f"welcome.{s}", b"x") for s in "cba"]

    result = await welcome.publish_three(js, backwards)
    assert_wrong(result, ["welcome.a, welcome.b"])


async def test_gaps_in_the_sequences(js) -> None:
    async def extra(js):
        acks = []
        for s in "abc":
            await js.publish("welcome.extra", b"x")
            acks.append(await js.publish(f"welcome.{s}", b"x"))
        return acks

    result = await welcome.publish_three(js, extra)
    assert_wrong(result, ["three in a row"])
