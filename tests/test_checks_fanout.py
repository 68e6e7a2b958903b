"""Lesson 02's checker against a real server: each wrong answer and its hint
(stub, solution and learner exceptions: test_checks_contract.py)."""

from __future__ import annotations

import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from fanout_kit.checks import fanout

from .conftest import assert_wrong, fresh_stream
from .solutions import load_solution


def _solution():
    return load_solution("02-basic-fan-out")


@pytest.fixture(autouse=True)
async def events(js):
    """A fresh EVENTS with 10 messages; removed afterwards."""
    await fresh_stream(js)
    for i in range(10):
        await js.publish("events.order.created", f"order {i}".encode())
    yield
    await js.delete_stream("EVENTS")


def _learner(
    n_fetch: int = 4,
    n_ack: int = 4,
    durable: str | None = "billing",
    deliver_policy: DeliverPolicy = DeliverPolicy.ALL,
    ack_policy: AckPolicy = AckPolicy.EXPLICIT,
    finish: str = "ack",
    **extra,
):
    async def create_billing(js):
        if durable is None:  # an ephemeral consumer: no durable name
            sub = await js.pull_subscribe("events.>", stream="EVENTS")
        else:
            config = ConsumerConfig(
                durable_name=durable, deliver_policy=deliver_policy, ack_policy=ack_policy, **extra
            )
            await js.add_consumer("EVENTS", config)
            sub = await js.pull_subscribe_bind(durable=durable, stream="EVENTS")
        if n_fetch:
            msgs = await sub.fetch(n_fetch, timeout=2)
            for msg in msgs[:n_ack]:
                await getattr(msg, finish)()  # fire-and-forget, as learners often write it

    return create_billing


async def test_fire_and_forget_acks_are_accepted(js) -> None:
    result = await fanout.billing_consumer(js, _learner())
    assert result.ok, result


async def test_start_sequence_one_counts_as_from_the_start(js) -> None:
    learner = _learner(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=1)
    assert (await fanout.billing_consumer(js, learner)).ok


@pytest.mark.parametrize(
    ("kwargs", "hint"),
    [
        ({"deliver_policy": DeliverPolicy.NEW, "n_fetch": 0}, "deliver_policy='new'"),
        ({"deliver_policy": DeliverPolicy.LAST, "n_fetch": 1, "n_ack": 1}, "deliver_policy='last'"),
        (
            {"deliver_policy": DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": 5},
            "starts at stream sequence 5",
        ),
        ({"durable": None}, "EPHEMERAL"),
        ({"durable": "Billing"}, "durable named 'Billing'"),
        ({"ack_policy": AckPolicy.NONE}, "ack_policy='none'"),
        ({"ack_policy": AckPolicy.ALL}, "ack_policy='all'"),
        ({"n_fetch": 0}, "nothing was fetched"),
        ({"n_fetch": 5, "n_ack": 4}, "5 messages but 1 is still Outstanding Acks"),
        ({"n_fetch": 6, "n_ack": 4}, "6 messages but 2 are still Outstanding Acks"),
        ({"finish": "term"}, "term() on 4 messages (stream seq 1, 2, 3, 4)"),
        ({"deliver_subject": "billing.push"}, "'billing' is a push consumer"),
        ({"n_fetch": 3, "n_ack": 3}, "acked 3 messages"),
        ({"n_fetch": 6, "n_ack": 6}, "acked 6 messages"),
    ],
)
async def test_wrong_answers_get_their_hint(js, kwargs, hint) -> None:
    result = await fanout.billing_consumer(js, _learner(**kwargs))
    assert_wrong(result, [hint])


async def test_one_term_among_acks_is_named(js) -> None:
    async def create_billing(js):
        await js.add_consumer("EVENTS", ConsumerConfig(durable_name="billing"))
        sub = await js.pull_subscribe_bind(durable="billing", stream="EVENTS")
        msgs = await sub.fetch(4, timeout=2)
        for msg in msgs[:3]:
            await msg.ack()
        await msgs[3].term()

    result = await fanout.billing_consumer(js, create_billing)
    assert_wrong(result, ["term() on 1 message (stream seq 4)"])


async def test_missing_stream_is_explained(js) -> None:
    await js.delete_stream("EVENTS")

    async def create_billing(js):
        return None

    result = await fanout.billing_consumer(js, create_billing)
    assert "no consumer named 'billing'" not in result.hints
    await js.add_stream(name="EVENTS", subjects=["events.>"])  # for the fixture's teardown
    assert_wrong(result, ["no EVENTS stream", "Run All Above"])


async def test_forgot_to_create_is_named(js) -> None:
    async def create_billing(js):
        return None  # e.g. built a ConsumerConfig but never called js.add_consumer

    result = await fanout.billing_consumer(js, create_billing)
    assert_wrong(result, ["no consumer named 'billing'"])


async def test_server_refusal_is_reported(js) -> None:
    learner = _learner(deliver_policy=DeliverPolicy.BY_START_SEQUENCE)  # no opt_start_seq
    result = await fanout.billing_consumer(js, learner)
    assert_wrong(result, ["The server refused a request"])
