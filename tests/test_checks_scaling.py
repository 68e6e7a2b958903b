"""Lesson 07's checker against a real server: each wrong answer and its hint
(stub, solution and learner exceptions: test_checks_contract.py)."""

from __future__ import annotations

import asyncio

import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from fanout_kit import reset_streams
from fanout_kit.checks import scaling

from .conftest import assert_wrong, fresh_stream
from .solutions import load_solution

EVENTS = 50  # more than max_ack_pending=20, so a worker that never acks stalls


def _solution():
    return load_solution("07-scaling-consumers")


@pytest.fixture(autouse=True)
async def events(js):
    """A fresh EVENTS with 50 messages; removed afterwards."""
    await fresh_stream(js)
    for i in range(EVENTS):
        await js.publish("events.order.created", f"order {i}".encode())
    yield
    await reset_streams(js, "EVENTS")


def _learner(
    *,
    durable: str | None = "thumbnailer",
    bind: str = "shared",
    max_ack_pending: int | None = 20,
    ack_wait: float | None = 2,
    ack_policy: AckPolicy = AckPolicy.EXPLICIT,
    deliver_policy: DeliverPolicy = DeliverPolicy.ALL,
    ack: bool = True,
    loop: bool = True,
    catch: bool = True,
    fetch: bool = True,
    nak_every: int = 0,
    returns: str = "seqs",
    **extra,
):
    """A worker like the ones learners write, with one thing wrong (or nothing)."""
    counter = iter(range(1000))

    async def thumbnail_worker(js):
        me = next(counter)
        if bind == "ephemeral":  # a consumer per call: fan-out
            sub = await js.pull_subscribe("events.>", stream="EVENTS")
        else:
            name = f"{durable}-{me}" if bind == "own" else durable
            await js.add_consumer(
                "EVENTS",
                ConsumerConfig(
                    durable_name=name,
                    deliver_policy=deliver_policy,
                    ack_policy=ack_policy,
                    max_ack_pending=max_ack_pending,
                    ack_wait=ack_wait,
                    **extra,
                ),
            )
            sub = await js.pull_subscribe_bind(durable=name, stream="EVENTS")
        done: list[int] = []
        while fetch:
            try:
                msgs = await sub.fetch(10, timeout=0.5)
            except TimeoutError:  # both nats-py's and the builtin one
                if not catch:
                    raise
                break
            for msg in msgs:
                done.append(msg.metadata.sequence.stream)
                if (
                    nak_every
                    and msg.metadata.num_delivered == 1
                    and msg.metadata.sequence.stream % nak_every == 0
                ):
                    await msg.nak()  # "failed": recorded already, comes back
                elif ack and ack_policy != AckPolicy.NONE:
                    await msg.ack()
            if not loop:
                break
        await sub.unsubscribe()
        return {"seqs": done, "none": None, "count": len(done)}[returns]

    return thumbnail_worker


async def _check(js, learner):
    return await scaling.shared_thumbnailer(js, learner)


async def test_a_correct_variant_is_accepted(js) -> None:
    assert (await _check(js, _learner())).ok


@pytest.mark.parametrize(
    ("kwargs", "hints"),
    [
        ({"bind": "ephemeral"}, ["(ephemeral)", "fan-out", "pull_subscribe_bind"]),
        ({"bind": "own"}, ["each worker made a consumer of its own", "fan-out"]),
        ({"durable": "Thumbnailer"}, ["durable named 'Thumbnailer'"]),
        ({"ack_policy": AckPolicy.NONE}, ["ack_policy='none'", "redelivered"]),
        ({"ack_policy": AckPolicy.ALL}, ["ack_policy='all'", "OTHER worker"]),
        ({"deliver_policy": DeliverPolicy.NEW}, ["deliver_policy='new'"]),
        ({"max_ack_pending": None}, ["max_ack_pending is 1000 (the default)"]),
        ({"max_ack_pending": 5}, ["max_ack_pending is 5;"]),
        ({"ack_wait": None}, ["ack_wait=30 s"]),
        ({"ack_wait": 2000}, ["ack_wait=2000 s", "not milliseconds"]),
        ({"returns": "none"}, ["returned None", "metadata.sequence.stream"]),
        ({"returns": "count"}, ["list of STREAM sequences"]),
        ({"ack": False}, ["Outstanding Acks 20 of 20", "max_ack_pending"]),
        ({"nak_every": 5}, ["nak'd", "processed twice"]),
        ({"loop": False}, ["stopped too early", "Unprocessed 30"]),
        ({"catch": False}, ["thumbnail_worker raised TimeoutError", "except TimeoutError: break"]),
        ({"fetch": False}, ["nothing was fetched"]),
    ],
)
async def test_wrong_answers_get_their_hint(js, kwargs, hints) -> None:
    assert_wrong(await _check(js, _learner(**kwargs)), hints)


async def test_consumers_made_by_the_learner_are_removed(js) -> None:
    await _check(js, _learner(bind="ephemeral"))
    assert [c.name for c in await js.consumers_info("EVENTS")] == []


async def test_workers_that_never_return_are_stopped(js, monkeypatch) -> None:
    monkeypatch.setattr(scaling, "LEARNER_TIMEOUT", 0.5)
    never = asyncio.Event()

    async def thumbnail_worker(js):
        await js.add_consumer(
            "EVENTS", ConsumerConfig(durable_name="thumbnailer", max_ack_pending=20, ack_wait=2)
        )
        await never.wait()  # e.g. `while True:` around a fetch that never breaks out

    result = await _check(js, thumbnail_worker)
    assert_wrong(result, ["had not returned after 0.5 s"])


async def test_missing_stream_is_explained(js) -> None:
    await js.delete_stream("EVENTS")
    result = await _check(js, _learner())
    assert_wrong(result, ["run the lesson's cells from the top"])


async def test_forgot_to_create_is_named(js) -> None:
    async def thumbnail_worker(js):
        return []

    result = await _check(js, thumbnail_worker)
    assert_wrong(result, ["no consumer named 'thumbnailer'"])


async def test_server_refusal_is_reported(js) -> None:
    learner = _learner(deliver_policy=DeliverPolicy.BY_START_SEQUENCE)  # no opt_start_seq
    result = await _check(js, learner)
    assert_wrong(result, ["The server refused a request"])
