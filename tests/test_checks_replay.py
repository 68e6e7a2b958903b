"""Lesson 04's checker against a real server: each wrong answer and its hint
(stub, solution and learner exceptions: test_checks_contract.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy, ReplayPolicy

from fanout_kit import reset_streams
from fanout_kit.checks import replay
from fanout_kit.events import demo_events, publish_events

from .conftest import assert_wrong, fresh_stream
from .solutions import load_solution


def _solution():
    return load_solution("04-real-time-and-replay")


@pytest.fixture(autouse=True)
async def _events(js):
    await fresh_stream(js)
    await publish_events(js, demo_events(20))
    yield
    await reset_streams(js, "EVENTS")


def _maker(start=lambda since: since, **config):
    async def create(js, since):
        extra = {}
        if config.get("deliver_policy") == DeliverPolicy.BY_START_TIME:
            extra["opt_start_time"] = start(since)
        await js.add_consumer("EVENTS", ConsumerConfig(**config, **extra))

    return create


async def test_solution_is_accepted_on_an_empty_stream(js) -> None:
    """(Accepted twice on the lesson's stream: test_checks_contract.py.)"""
    solve = _solution().make_late_report
    await fresh_stream(js)
    result = await replay.late_report(js, solve)
    assert result.ok, result
    assert "none of the 1 before" in result.message


BST = DeliverPolicy.BY_START_TIME
WRONG = {
    "deliver all": ({"durable_name": "late-report"}, ["deliver_policy='all'", "BY_START_TIME"]),
    "deliver new": (
        {"durable_name": "late-report", "deliver_policy": DeliverPolicy.NEW},
        ["deliver_policy='new'", "BY_START_TIME"],
    ),
    "deliver last": (
        {"durable_name": "late-report", "deliver_policy": DeliverPolicy.LAST},
        ["deliver_policy='last'", "opt_start_time=since"],
    ),
    "replay original": (
        {
            "durable_name": "late-report",
            "deliver_policy": BST,
            "replay_policy": ReplayPolicy.ORIGINAL,
        },
        ["replay_policy='original'", "ReplayPolicy.INSTANT"],
    ),
    "push consumer": (
        {"durable_name": "late-report", "deliver_policy": BST, "deliver_subject": "late.inbox"},
        ["push consumer (deliver_subject='late.inbox')", "pull_subscribe_bind"],
    ),
    "ephemeral": (
        {"name": "late-report", "deliver_policy": BST},
        ["ephemeral", "durable_name='late-report'"],
    ),
    "wrong name": (
        {"durable_name": "late_report", "deliver_policy": BST},
        ["no consumer named 'late-report'"],
    ),
}


@pytest.mark.parametrize("case", list(WRONG))
async def test_wrong_answers_get_their_hint(js, case: str) -> None:
    config, phrases = WRONG[case]
    result = await replay.late_report(js, _maker(**config))
    assert_wrong(result, phrases)


async def test_wrong_start_time_gets_its_hint(js) -> None:
    hour_ago = _maker(
        start=lambda since: since - dt.timedelta(hours=1),
        durable_name="late-report",
        deliver_policy=BST,
    )
    result = await replay.late_report(js, hour_ago)
    assert_wrong(result, ["opt_start_time=since"])


async def test_server_refusal_is_reported(js) -> None:
    async def no_start(js, since):
        await js.add_consumer(
            "EVENTS", ConsumerConfig(durable_name="late-report", deliver_policy=BST)
        )

    result = await replay.late_report(js, no_start)
    assert_wrong(result, ["The server refused your consumer"])


async def test_missing_stream_is_explained(js) -> None:
    await js.delete_stream("EVENTS")
    result = await replay.late_report(js, _solution().make_late_report)
    assert_wrong(result, ["no EVENTS stream"])
