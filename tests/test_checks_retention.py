"""Lesson 01's checker against a real server: each wrong answer and its hint
(stub, solution and learner exceptions: test_checks_contract.py)."""

from __future__ import annotations

import pytest
from nats.js.api import DiscardPolicy, RetentionPolicy

from fanout_kit import reset_streams
from fanout_kit.checks import retention

from .conftest import assert_wrong
from .solutions import load_solution


def _solution():
    return load_solution("01-streams-and-retention")


@pytest.fixture(autouse=True)
async def _clean(js):
    yield
    await reset_streams(js, "BOUNDED")


def _maker(**overrides):
    config = {
        "name": "BOUNDED",
        "subjects": ["bounded.>"],
        "max_msgs": 100,
        "discard": DiscardPolicy.NEW,
    }
    config.update(overrides)

    async def create(js):
        await js.add_stream(**{k: v for k, v in config.items() if v is not None})

    return create


@pytest.mark.parametrize(
    ("overrides", "hint"),
    [
        ({"discard": None}, "discard='old'"),
        ({"discard": DiscardPolicy.OLD}, "OLDEST"),
        ({"max_msgs": None}, "no limit (-1)"),
        ({"max_msgs": 10}, "max_msgs is 10"),
        ({"max_msgs": None, "max_msgs_per_subject": 100}, "max_msgs_per_subject=100"),
        ({"max_msgs": None, "max_bytes": 10_000}, "You limited bytes"),
        ({"subjects": ["bounded.*"]}, "['bounded.>']"),
        ({"subjects": ["bounded"]}, "['bounded.>']"),
        ({"retention": RetentionPolicy.WORK_QUEUE}, "retention='workqueue'"),
        ({"retention": RetentionPolicy.INTEREST}, "retention='interest'"),
    ],
)
async def test_wrong_answers_get_their_hint(js, overrides, hint) -> None:
    result = await retention.bounded_stream(js, _maker(**overrides))
    assert_wrong(result, [hint])


async def test_missing_stream_is_named(js) -> None:
    async def forgot(js):
        return None  # e.g. built a StreamConfig but never called js.add_stream

    result = await retention.bounded_stream(js, forgot)
    assert_wrong(result, ["no stream named 'BOUNDED'"])


async def test_server_refusal_is_reported(js) -> None:
    overlapping = _maker(subjects=["bounded.>", "bounded.x"])
    result = await retention.bounded_stream(js, overlapping)
    assert_wrong(result, ["The server refused your stream"])


@pytest.mark.parametrize("published", [30, 100])
async def test_messages_the_learner_published_do_not_break_the_check(js, published) -> None:
    solve = _solution().create_bounded_stream

    async def create_and_try(js):
        await solve(js)
        for i in range(published):
            await js.publish("bounded.test", str(i).encode())

    result = await retention.bounded_stream(js, create_and_try)
    assert result.ok, result
    assert "kept 100 messages" in result.message


async def test_a_tighter_second_limit_is_named(js) -> None:
    result = await retention.bounded_stream(js, _maker(max_bytes=1000))
    assert_wrong(result, ["refused message", "of 100", "max_bytes"])
