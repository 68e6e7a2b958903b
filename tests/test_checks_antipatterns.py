"""Lesson 09's checker against a real server: each wrong setup and its hint
(stub, solution and learner exceptions: test_checks_contract.py)."""

from __future__ import annotations

import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, RetentionPolicy

from fanout_kit import reset_streams
from fanout_kit.checks import antipatterns

from .conftest import assert_wrong
from .solutions import load_solution

WEEK = 7 * 24 * 3600
BILLING = {"durable_name": "billing", "filter_subject": "events.payment.>"}


def _solution():
    return load_solution("09-anti-patterns")


@pytest.fixture(autouse=True)
async def _clean(js):
    yield
    await reset_streams(js, "EVENTS")


def _setup(stream=None, consumer=None):
    """A learner function creating EVENTS with ``stream`` options and ``consumer`` config."""
    stream = {"max_age": WEEK} if stream is None else stream
    consumer = BILLING if consumer is None else consumer

    async def setup(js):
        opts = dict(stream)
        await js.add_stream(name="EVENTS", subjects=opts.pop("subjects", ["events.>"]), **opts)
        if consumer:
            await js.add_consumer("EVENTS", ConsumerConfig(**consumer))

    return setup


async def test_a_longer_age_and_a_size_cap_are_accepted(js) -> None:
    setup = _setup({"max_age": 30 * 24 * 3600, "max_bytes": 1 << 30})
    result = await antipatterns.fix_billing(js, setup)
    assert result.ok, result
    assert "30 days" in result.message


WRONG = {
    "the risky setup": (
        # the notebook's risky_setup: unbounded stream, named ephemeral
        _setup({}, {"name": "billing", "filter_subject": "events.payment.>"}),
        ["still has no limit", "max_age=7 * 24 * 3600"],
    ),
    "wrong subjects": (_setup({"subjects": ["events.payment.>"], "max_age": WEEK}), ["events.>"]),
    "interest retention": (
        _setup({"retention": RetentionPolicy.INTEREST, "max_age": WEEK}),
        ["retention='interest'", "RetentionPolicy.LIMITS"],
    ),
    "size cap only": (
        _setup({"max_bytes": 1 << 20}),
        ["bounded (max_bytes=1048576) but has no max_age", "max_age=7 * 24 * 3600"],
    ),
    "per-subject limit": (
        _setup({"max_age": WEEK, "max_msgs_per_subject": 10}),
        ["keeps only 10 message(s) per subject", "last-value"],
    ),
    "max age too short": (
        _setup({"max_age": 24 * 3600}),
        ["max_age=86400 s (1 day): too short to replay", "(seconds)."],
    ),
    "max age in days, not seconds": (
        _setup({"max_age": 7}),
        ["max_age=7 s: too short", "Did you mean 7 days?"],
    ),
    "no billing consumer": (_setup(consumer={}), ["no consumer named 'billing'"]),
    "misnamed billing": (
        _setup(consumer={**BILLING, "durable_name": "Billing"}),
        ["no consumer named 'billing'"],
    ),
    "unnamed ephemeral": (
        _setup(consumer={"filter_subject": "events.payment.>", "inactive_threshold": 5.0}),
        ["only an ephemeral one with a random name", 'durable_name="billing"'],
    ),
    "named ephemeral": (
        _setup(consumer={"name": "billing", "filter_subject": "events.payment.>"}),
        ["still ephemeral", 'durable_name="billing"'],
    ),
    "durable with inactive threshold": (
        _setup(consumer={**BILLING, "inactive_threshold": 3600.0}),
        ["inactive_threshold=3600 s", "Leave inactive_threshold out"],
    ),
    "no filter": (
        _setup(consumer={"durable_name": "billing"}),
        ["filters on nothing", 'filter_subject="events.payment.>"'],
    ),
    "wrong filter": (
        _setup(consumer={**BILLING, "filter_subject": "events.order.>"}),
        ["['events.order.>']", 'filter_subject="events.payment.>"'],
    ),
    "ack none": (
        _setup(consumer={**BILLING, "ack_policy": AckPolicy.NONE}),
        ["ack_policy='none'", "AckPolicy.EXPLICIT"],
    ),
    "ack all": (
        _setup(consumer={**BILLING, "ack_policy": AckPolicy.ALL}),
        ["ack_policy='all'", "AckPolicy.EXPLICIT"],
    ),
    "deliver new": (
        _setup(consumer={**BILLING, "deliver_policy": DeliverPolicy.NEW}),
        ["deliver_policy='new'", "DeliverPolicy.ALL"],
    ),
}


@pytest.mark.parametrize("case", list(WRONG))
async def test_wrong_setups_get_their_hint(js, case: str) -> None:
    setup, phrases = WRONG[case]
    result = await antipatterns.fix_billing(js, setup)
    assert_wrong(result, phrases)


async def test_server_refusal_is_reported(js) -> None:
    # both filter fields set: the server refuses the consumer (10136)
    setup = _setup(consumer={**BILLING, "filter_subjects": ["events.payment.>"]})
    result = await antipatterns.fix_billing(js, setup)
    assert_wrong(result, ["The server refused your setup"])


async def test_missing_stream_is_explained(js) -> None:
    async def nothing(js):
        return None

    result = await antipatterns.fix_billing(js, nothing)
    assert_wrong(result, ["no stream named 'EVENTS'", "deletes EVENTS before"])


async def test_the_check_replaces_an_earlier_events_stream(js) -> None:
    await js.add_stream(name="EVENTS", subjects=["events.>"])
    await js.publish("events.payment.captured", b"{}")
    result = await antipatterns.fix_billing(js, _solution().safe_setup)
    assert result.ok, result
    assert "(seq 1 and 3)" in result.message
