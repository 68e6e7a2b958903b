"""Lesson 03's checker against a real server: each wrong answer and its hint
(stub, solution and learner exceptions: test_checks_contract.py)."""

from __future__ import annotations

import asyncio

import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy

from fanout_kit.checks import consume, filters
from fanout_kit.events import demo_events, publish_events

from .conftest import assert_wrong, fresh_stream
from .solutions import load_solution


def _solution():
    return load_solution("03-filtered-fan-out")


@pytest.fixture(autouse=True)
async def _events(js):
    await fresh_stream(js)
    await publish_events(js, demo_events(50, seed=3))
    yield
    await js.delete_stream("EVENTS")


def _maker(**config):
    async def create(js):
        await js.add_consumer("EVENTS", ConsumerConfig(**config))

    return create


WRONG = {
    "overlapping filters": (
        {
            "durable_name": "fraud-watch",
            "filter_subjects": ["events.payment.>", "events.payment.failed", "events.auth.login"],
        },
        ["error 10138", "contains another"],
    ),
    "both fields set": (
        {
            "durable_name": "fraud-watch",
            "filter_subject": "events.payment.failed",
            "filter_subjects": ["events.auth.login"],
        },
        ["error 10136", "leave filter_subject out"],
    ),
    "a list in filter_subject": (
        {
            "durable_name": "fraud-watch",
            "filter_subject": ["events.payment.failed", "events.auth.login"],
        },
        ["error 10025", "filter_subject got a list"],
    ),
    "two subjects in one string": (
        {
            "durable_name": "fraud-watch",
            "filter_subject": "events.payment.failed,events.auth.login",
        },
        ["does not split it at commas", "filter_subjects"],
    ),
    "only one subject": (
        {"durable_name": "fraud-watch", "filter_subject": "events.payment.failed"},
        ["never receives 'events.auth.login'", "filter_subject holds a single subject"],
    ),
    "missing one of the list": (
        {"durable_name": "fraud-watch", "filter_subjects": ["events.auth.login"]},
        ["never receives 'events.payment.failed'", "filter_subjects a list of several"],
    ),
    "wrong subject tokens": (
        {
            "durable_name": "fraud-watch",
            "filter_subjects": ["events.payments.failed", "events.auth.login"],
        },
        ["'events.payments.failed' matches no subject", "singular kind"],
    ),
    "too broad": (
        {"durable_name": "fraud-watch", "filter_subjects": ["events.payment.>", "events.auth.>"]},
        ["also let through", "events.auth.logout", "events.payment.captured"],
    ),
    "no filter": ({"durable_name": "fraud-watch"}, ["has no filter"]),
    "ephemeral": (
        {"name": "fraud-watch", "filter_subjects": ["events.payment.failed", "events.auth.login"]},
        ["ephemeral", 'durable_name="fraud-watch"'],
    ),
    "deliver new": (
        {
            "durable_name": "fraud-watch",
            "deliver_policy": DeliverPolicy.NEW,
            "filter_subjects": ["events.payment.failed", "events.auth.login"],
        },
        ["deliver_policy='new'", "DeliverPolicy.ALL"],
    ),
    "start past the first message": (
        {
            "durable_name": "fraud-watch",
            "deliver_policy": DeliverPolicy.BY_START_SEQUENCE,
            "opt_start_seq": 20,
            "filter_subjects": ["events.payment.failed", "events.auth.login"],
        },
        ["opt_start_seq=20, past the stream's first message 1", "skips the failures"],
    ),
    "push consumer": (
        {
            "durable_name": "fraud-watch",
            "deliver_subject": "fraud.inbox",
            "filter_subjects": ["events.payment.failed", "events.auth.login"],
        },
        ["push consumer (deliver_subject='fraud.inbox')", "pull_subscribe_bind"],
    ),
    "wrong name": (
        {
            "durable_name": "fraud_watch",
            "filter_subjects": ["events.payment.failed", "events.auth.login"],
        },
        ["no consumer named 'fraud-watch'"],
    ),
}


async def test_start_at_sequence_one_is_the_same_as_all(js) -> None:
    learner = _maker(
        durable_name="fraud-watch",
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=1,
        filter_subjects=["events.payment.failed", "events.auth.login"],
    )
    result = await filters.fraud_watch(js, learner)
    assert result.ok, result


async def test_a_push_durable_with_correct_filters_does_not_hang(js) -> None:
    async def push(js):
        config = ConsumerConfig(
            durable_name="fraud-watch",
            deliver_subject="fraud.inbox",
            filter_subjects=["events.payment.failed", "events.auth.login"],
        )
        await js.add_consumer("EVENTS", config)
        await js.subscribe_bind("EVENTS", config, "fraud-watch")  # someone IS listening

    async with asyncio.timeout(20):  # a hang guard, not a measurement
        result = await filters.fraud_watch(js, push)
    assert_wrong(result, ["push consumer"])


async def test_consuming_a_push_durable_ends_with_nothing(js) -> None:
    """Even past the hint, the checks' consume loop gives up on a push consumer."""
    await js.add_consumer("EVENTS", ConsumerConfig(durable_name="pushed", deliver_subject="p.in"))
    async with asyncio.timeout(20):  # a hang guard, not a measurement
        assert await consume(js, "EVENTS", "pushed", 5) == []


@pytest.mark.parametrize("case", list(WRONG))
async def test_wrong_answers_get_their_hint(js, case: str) -> None:
    config, phrases = WRONG[case]
    result = await filters.fraud_watch(js, _maker(**config))
    assert_wrong(result, phrases)


async def test_missing_stream_is_explained(js) -> None:
    await js.delete_stream("EVENTS")
    result = await filters.fraud_watch(js, _solution().make_fraud_watch)
    assert_wrong(result, ["no EVENTS stream"])
    await js.add_stream(name="EVENTS", subjects=["events.>"])  # for the fixture's teardown
