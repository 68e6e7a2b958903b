"""audit: publish records against a real stream and what each consumer received."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, RetentionPolicy, StreamConfig

from fanout_kit import BadArgument, reset_streams
from fanout_kit.audit import Received, audit, seq_ranges
from fanout_kit.load import publish_paced
from fanout_kit.server import NatsServer
from fanout_kit.waiting import wait_for
from fanout_kit.workers import CONSUMER_GONE, Worker

STREAM = "AUDITED"


@pytest.fixture
async def interest(js: JetStreamContext) -> AsyncIterator[str]:
    await reset_streams(js, STREAM)
    await js.add_stream(
        StreamConfig(name=STREAM, subjects=["audit.>"], retention=RetentionPolicy.INTEREST)
    )
    yield STREAM
    await reset_streams(js, STREAM)


async def drained(js: JetStreamContext, *names: str) -> bool:
    for name in names:
        info = await js.consumer_info(STREAM, name)
        if info.num_pending or info.num_ack_pending:
            return False
    return True


def test_seq_ranges() -> None:
    assert seq_ranges([3, 1, 2, 7, 10, 11, 12, 7]) == "1-3, 7, 10-12"
    assert seq_ranges([]) == "none"
    assert seq_ranges(range(0, 40, 2), limit=2) == "0, 2, ... (18 more ranges)"


async def test_a_consumer_deleted_and_recreated_on_an_interest_stream(
    server: NatsServer, nc: Client, js: JetStreamContext, interest: str
) -> None:
    for name in ("a", "b"):
        await js.add_consumer(interest, ConsumerConfig(durable_name=name))
    received = await Received.tap(nc, interest)
    a = await Worker(server.url, interest, "a").start()
    b = await Worker(server.url, interest, "b").start()
    b.nak_next(3)  # three redeliveries for b
    try:
        first = await publish_paced(js, rate=1000, n=20, subjects="audit.orders")
        await wait_for(lambda: drained(js, "a", "b"), 20, "a and b to ack 1-20")

        await js.delete_consumer(interest, "b")
        await wait_for(lambda: b.state == CONSUMER_GONE, 20, "b's worker to notice")
        second = await publish_paced(js, rate=1000, n=20, subjects="audit.orders")
        await wait_for(lambda: drained(js, "a"), 20, "a to ack 21-40")

        await js.add_consumer(interest, ConsumerConfig(durable_name="b"))  # b's worker resumes
        third = await publish_paced(js, rate=1000, n=20, subjects="audit.orders")
        await wait_for(lambda: drained(js, "a", "b"), 20, "a and b to ack 41-60")

        report = await audit(nc, [first, second, third], received)
    finally:
        await a.stop()
        await b.stop()
        await received.stop()

    assert report.published == 60 and report.acked == 60 and not report.lost
    assert report.stored == 0 and len(report.removed) == 60  # interest: acked by all, gone
    assert "interest retention" in report.removal_reason
    ca, cb = report.consumers["a"], report.consumers["b"]
    assert (ca.expected, ca.received, ca.never_got) == (60, 60, 0)
    assert (cb.expected, cb.received) == (60, 40)
    assert seq_ranges(cb.removed_before_delivery) == "21-40"
    assert len(cb.redelivered) == 3 and not cb.not_yet_delivered and not cb.not_acked
    assert report.ok
    text = repr(report)
    assert "removed before delivery (interest retention" in text and "21-40" in text
    assert "verdict: OK" in text
    assert "<table>" in report._repr_html_()


async def test_lost_behind_and_processed_twice(
    server: NatsServer, nc: Client, js: JetStreamContext, interest: str
) -> None:
    await js.add_consumer(interest, ConsumerConfig(durable_name="idle"))
    await js.add_consumer(interest, ConsumerConfig(durable_name="twice"))
    received = Received(interest)
    record = await publish_paced(js, rate=1000, n=5, subjects="audit.orders")
    sub = await js.pull_subscribe_bind("twice", stream=interest)
    msgs = await sub.fetch(5, timeout=5)
    assert len(msgs) == 5
    record_twice = received.handler("twice")
    for msg in msgs:
        await record_twice(msg)
        await msg.ack_sync()
    await record_twice(msgs[0])  # the handler ran twice for seq 1 (say, an ack lost)
    # A publish the publisher saw acked at a sequence the stream never reached: lost.
    ghost = dataclasses.replace(record.publishes[-1], seq=999, msg_id="ghost")
    record = dataclasses.replace(record, publishes=(*record.publishes, ghost))

    report = await audit(nc, record, received, settle=0)
    assert report.lost == [999]
    idle, twice = report.consumers["idle"], report.consumers["twice"]
    assert idle.received == 0 and seq_ranges(idle.not_yet_delivered) == "1-5"
    assert twice.duplicated == [1] and twice.never_got == 0
    assert not report.ok and "NOT OK" in repr(report)


@pytest.mark.parametrize(
    ("args", "parameter"),
    [
        ({"nc": "nats://x"}, "nc"),
        ({"record": 5}, "record"),
        ({"record": []}, "record"),
        ({"received": {}}, "received"),
        ({"settle": -1}, "settle"),
    ],
)
async def test_bad_arguments(
    nc: Client, js: JetStreamContext, args: dict[str, object], parameter: str
) -> None:
    await reset_streams(js, STREAM)
    await js.add_stream(name=STREAM, subjects=["audit.>"])
    record = await publish_paced(js, rate=1000, n=1, subjects="audit.x")
    call: dict[str, object] = {"nc": nc, "record": record, "received": Received(STREAM)}
    call.update(args)
    with pytest.raises(BadArgument) as caught:
        await audit(**call)
    assert caught.value.param == parameter
    await reset_streams(js, STREAM)
