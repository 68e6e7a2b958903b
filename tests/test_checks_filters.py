"""Lesson 03's checker against a real server: stub, each wrong answer with its hint, solution."""

from __future__ import annotations

import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from fanout_kit.checks import filters
from fanout_kit.events import demo_events, publish_events

from .solutions import load_solution


def _solution():  # type: ignore[no-untyped-def]
    return load_solution("03-filtered-fan-out")


@pytest.fixture(autouse=True)
async def _events(js):  # type: ignore[no-untyped-def]
    try:
        await js.delete_stream("EVENTS")
    except NotFoundError:
        pass
    await js.add_stream(name="EVENTS", subjects=["events.>"])
    await publish_events(js, demo_events(50, seed=3))
    yield
    await js.delete_stream("EVENTS")


def _maker(**config):  # type: ignore[no-untyped-def]
    async def create(js):  # type: ignore[no-untyped-def]
        await js.add_consumer("EVENTS", ConsumerConfig(**config))

    return create


def test_subject_matches() -> None:
    m = filters.subject_matches
    assert m("events.>", "events.order.created")
    assert m("events.*.failed", "events.payment.failed")
    assert not m("events.*", "events.payment.failed")
    assert not m("events.payment.>", "events.payment")
    assert m("events.auth.login", "events.auth.login")
    assert not m("events.auth.login", "events.auth.logout")


async def test_stub_is_not_attempted(js) -> None:  # type: ignore[no-untyped-def]
    async def stub(js):  # type: ignore[no-untyped-def]
        raise NotImplementedError("your code here")

    result = await filters.fraud_watch(js, stub)
    assert result.status == "not attempted"
    assert "add_consumer" in result.message


async def test_solution_is_accepted(js) -> None:  # type: ignore[no-untyped-def]
    result = await filters.fraud_watch(js, _solution().make_fraud_watch)
    assert result.ok, result
    # seed 3 has 2 failures and 8 logins; the check adds 2 of each
    assert "all 14 matching messages (4 payment failures, 10 logins)" in result.message
    # the check leaves the learner's consumer in place, caught up
    info = await js.consumer_info("EVENTS", "fraud-watch")
    assert info.num_pending == 0 and info.num_ack_pending == 0


async def test_solution_is_accepted_twice(js) -> None:  # type: ignore[no-untyped-def]
    solve = _solution().make_fraud_watch
    assert (await filters.fraud_watch(js, solve)).ok
    assert (await filters.fraud_watch(js, solve)).ok


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
        ["error 10025", "filter_subject takes ONE"],
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
        ["never receives 'events.payment.failed'", "add it to the list"],
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
    "wrong name": (
        {
            "durable_name": "fraud_watch",
            "filter_subjects": ["events.payment.failed", "events.auth.login"],
        },
        ["no consumer named 'fraud-watch'"],
    ),
}


@pytest.mark.parametrize("case", list(WRONG))
async def test_wrong_answers_get_their_hint(js, case: str) -> None:  # type: ignore[no-untyped-def]
    config, phrases = WRONG[case]
    result = await filters.fraud_watch(js, _maker(**config))
    assert result.status == "wrong", result
    for phrase in phrases:
        assert phrase in result.message, (phrase, result.message)


async def test_missing_stream_is_explained(js) -> None:  # type: ignore[no-untyped-def]
    await js.delete_stream("EVENTS")
    result = await filters.fraud_watch(js, _solution().make_fraud_watch)
    assert result.status == "wrong"
    assert "no EVENTS stream" in result.message
    await js.add_stream(name="EVENTS", subjects=["events.>"])  # for the fixture's teardown
