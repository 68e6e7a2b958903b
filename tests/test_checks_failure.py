"""Lesson 12's checker against a real server: each wrong answer and its hint
(stub, solution, ladder and learner exceptions: test_checks_contract.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StreamConfig

from fanout_kit.checks import CheckResult, failure
from fanout_kit.topology import reset_streams

from .conftest import assert_wrong
from .solutions import load_solution

DEAD_LETTERS = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.REFUNDS.*"


@pytest.fixture(autouse=True)
async def cleanup(js: JetStreamContext) -> AsyncIterator[None]:
    """Every stream these tests make is removed afterwards."""
    yield
    for name in ("REFUNDS_DLQ", "REFUNDS", "ORDERS_DLQ"):
        await reset_streams(js, name)


def consumer(**kw: Any) -> ConsumerConfig:
    base: dict[str, Any] = {"durable_name": "refunder", "ack_policy": AckPolicy.EXPLICIT}
    base.update(kw)
    return ConsumerConfig(**base)


def dlq(subjects: list[str] | None = None, **kw: Any) -> StreamConfig:
    return StreamConfig(name="REFUNDS_DLQ", subjects=subjects or [DEAD_LETTERS], **kw)


def learner(cons: ConsumerConfig | None, dead: StreamConfig | None) -> Any:
    """A learner's dead_letters(js) making the given consumer and dead-letter stream."""

    async def dead_letters(js: JetStreamContext) -> None:
        if cons is not None:
            await js.add_consumer("REFUNDS", cons)
        if dead is not None:
            await js.add_stream(dead)

    return dead_letters


async def check(js: JetStreamContext, fn: Any, reveal: bool = False) -> CheckResult:
    return await failure.dead_letters(js, fn, reveal=reveal)


async def test_the_solution_keeps_exactly_one_dead_letter(js: JetStreamContext) -> None:
    result = await check(js, load_solution("12-when-a-message-keeps-failing").dead_letters)
    assert result.ok, result
    info = await js.stream_info("REFUNDS_DLQ")
    assert info.state.messages == 1
    letter = await js.get_msg("REFUNDS_DLQ", info.state.first_seq)
    assert letter.subject == "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.REFUNDS.refunder"


async def test_a_variant_without_deliver_policy_or_max_age_is_accepted(
    js: JetStreamContext,
) -> None:
    assert (await check(js, learner(consumer(max_deliver=3), dlq()))).ok


async def test_a_stub_leaves_no_stream_behind(js: JetStreamContext) -> None:
    async def dead_letters(js: JetStreamContext) -> None:
        raise NotImplementedError("your code here")

    result = await check(js, dead_letters)
    assert result.status == "not attempted"
    assert [s.config.name for s in await js.streams_info() if "REFUNDS" in s.config.name] == []


async def test_unlimited_max_deliver_symptom_first_then_the_default_then_the_fix(
    js: JetStreamContext,
) -> None:
    fn = learner(consumer(), dlq())
    first = await check(js, fn)
    assert_wrong(first, [f"delivered {failure.GIVE_UP_AFTER} times", "still hands it out"])
    assert first.rung == 1 and "unlimited" not in first.message
    second = await check(js, fn)
    assert second.rung == 2 and "unlimited, the default" in second.message
    assert "max_deliver=3" not in second.message
    shown = await check(js, fn, reveal=True)
    assert shown.rung == 3 and "`max_deliver=3`" in shown.message


WRONG = {
    "max_deliver too high": (
        learner(consumer(max_deliver=5), dlq()),
        ["after 5 deliveries", "asks for 3"],
    ),
    "max_deliver too low": (learner(consumer(max_deliver=2), dlq()), ["after 2 deliveries"]),
    "max_deliver far too high": (
        learner(consumer(max_deliver=20), dlq()),
        [f"delivered {failure.GIVE_UP_AFTER} times", "its max_deliver is 20"],
    ),
    "no dead-letter stream": (
        learner(consumer(max_deliver=3), None),
        ["no stream REFUNDS_DLQ", "MAX_DELIVERIES.REFUNDS.refunder", "add_stream"],
    ),
    "CONSUMER token missing": (
        learner(consumer(max_deliver=3), dlq(["$JS.EVENT.ADVISORY.MAX_DELIVERIES.REFUNDS.*"])),
        ["do not match", "holds 0 dead letters", "token by token"],
    ),
    "consumer token missing": (
        learner(
            consumer(max_deliver=3), dlq(["$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.REFUNDS"])
        ),
        ["do not match", "put `*` where the consumer's name goes"],
    ),
    "the other advisory kind": (
        learner(
            consumer(max_deliver=3), dlq(["$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.REFUNDS.*"])
        ),
        ["do not match", "holds 0 dead letters"],
    ),
    "interest retention": (
        learner(consumer(max_deliver=3), dlq(retention=RetentionPolicy.INTEREST)),
        ["holds 0 messages", "retention is interest", "limits retention"],
    ),
    "every advisory kind": (
        learner(consumer(max_deliver=3), dlq(["$JS.EVENT.ADVISORY.CONSUMER.*.REFUNDS.*"])),
        ["not dead letters", "MSG_NAKED", "literal token"],
    ),
    "dead letters of every stream": (
        learner(consumer(max_deliver=3), dlq(["$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>"])),
        ["every stream on the server", "write REFUNDS there"],
    ),
    "no consumer": (learner(None, dlq()), ["no consumer named 'refunder'", "durable_name"]),
    "wrong consumer name": (
        learner(consumer(durable_name="refunds", max_deliver=3), dlq()),
        ["no consumer named 'refunder'", "['refunds']"],
    ),
    "ephemeral consumer": (
        learner(ConsumerConfig(name="refunder", max_deliver=3), dlq()),
        ["no durable_name", "ephemeral", "restarts"],
    ),
    "push consumer": (
        learner(consumer(max_deliver=3, deliver_subject="push.refunds"), dlq()),
        ["push consumer", "deliver_subject='push.refunds'"],
    ),
    "no acks": (
        learner(consumer(max_deliver=3, ack_policy=AckPolicy.NONE), dlq()),
        ["ack_policy none", "explicit acks"],
    ),
    "a filter that misses the refunds": (
        learner(consumer(max_deliver=3, filter_subject="refunds.approved"), dlq()),
        ["never the poisoned one", "filter and start"],
    ),
    "a backoff longer than max_deliver": (
        learner(consumer(max_deliver=1, backoff=[1, 2]), dlq()),
        ["error 10116", "needs no backoff"],
    ),
}


@pytest.mark.parametrize(("fn", "hints"), WRONG.values(), ids=WRONG.keys())
async def test_wrong_answers_get_their_hint(
    js: JetStreamContext, fn: Any, hints: list[str]
) -> None:
    assert_wrong(await check(js, fn), hints)


async def test_the_stream_the_check_makes_is_not_the_learners(js: JetStreamContext) -> None:
    async def dead_letters(js: JetStreamContext) -> None:
        await js.add_stream(name="REFUNDS", subjects=["refunds.>"], max_age=60)

    first = await check(js, dead_letters)
    assert_wrong(first, ["error 10058", "the check creates it"])
    assert "the check creates it" not in first.message  # the symptom first ...
    second = await check(js, dead_letters)
    assert "the check creates it" in second.message  # ... then why


async def test_overlap_with_the_lessons_orders_dlq_is_a_refusal_with_a_reason(
    js: JetStreamContext,
) -> None:
    await js.add_stream(
        StreamConfig(
            name="ORDERS_DLQ", subjects=["$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.ORDERS.*"]
        )
    )
    everything = learner(
        consumer(max_deliver=3), dlq(["$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>"])
    )
    assert_wrong(await check(js, everything), ["error 10065", "ORDERS_DLQ"])
    assert (await check(js, learner(consumer(max_deliver=3), dlq()))).ok


async def test_a_learners_type_error_gets_this_exercises_hint(js: JetStreamContext) -> None:
    async def dead_letters(js: JetStreamContext) -> None:
        await js.add_consumer("REFUNDS", durable="refunder")

    result = await check(js, dead_letters)
    assert_wrong(result, ["raised TypeError", "keyword arguments", "are coroutines"])
    assert 'await js.add_consumer("REFUNDS", durable="refunder")' in result.message
