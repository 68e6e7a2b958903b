"""publish_paced against real servers: stamps, ids, the record, retries through a restart."""

from __future__ import annotations

import asyncio
import json

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from fanout_kit import BadArgument
from fanout_kit.events import PublishError, demo_events
from fanout_kit.load import SENT_HEADER, publish_paced
from fanout_kit.waiting import wait_for

from .conftest import fresh_stream


async def test_every_message_is_stamped_and_recorded(js: JetStreamContext) -> None:
    await fresh_stream(js, "EVENTS", ("events.>",))
    record = await publish_paced(js, rate=2000, n=50, seed=7, run_id="t1")
    assert record.counts == {"sent": 50, "acked": 50, "duplicate": 0, "failed": 0, "retried": 0}
    assert record.seqs == list(range(1, 51)) and record.streams == ("EVENTS",)
    assert all(p.latency is not None and p.latency >= 0 for p in record.publishes)
    assert record.latency(0.5) is not None and sum(n for _, n in record.sends_per_second()) == 50

    expected = demo_events(50, seed=7)
    msg = await js.get_msg("EVENTS", 3)
    assert msg.headers is not None
    assert msg.headers["Nats-Msg-Id"] == "t1-3"
    sent_ns = int(msg.headers[SENT_HEADER])
    assert abs(sent_ns / 1e9 - record.publishes[2].sent_at) < 60
    assert msg.subject == expected[2].subject
    assert json.loads(msg.data or b"") == expected[2].data  # lesson services can parse it

    again = await publish_paced(js, rate=2000, n=50, seed=7, run_id="t1")
    assert again.counts["duplicate"] == 50 and again.seqs == record.seqs  # stored once
    assert "duplicate 50" in repr(again)


async def test_subjects_in_turn_and_a_rate_it_cannot_hold(js: JetStreamContext) -> None:
    await fresh_stream(js, "EVENTS", ("events.>",))
    record = await publish_paced(js, rate=1_000_000, n=3000, subjects=["events.a", "events.b"])
    assert [p.subject for p in record.publishes[:3]] == ["events.a", "events.b", "events.a"]
    assert not record.held  # no Python client sends a million a second
    assert "could NOT hold 1,000,000/s" in repr(record)
    assert record.counts["acked"] == 3000


async def test_nothing_is_sent_to_a_subject_no_stream_stores(js: JetStreamContext) -> None:
    await fresh_stream(js, "EVENTS", ("events.>",))
    with pytest.raises(PublishError, match="No stream stores subject 'nowhere.x'"):
        await publish_paced(js, rate=100, n=5, subjects=["events.a", "nowhere.x"])
    assert (await js.stream_info("EVENTS")).state.messages == 0


async def test_a_failed_publish_is_retried_with_the_same_id(
    nc: Client, js: JetStreamContext
) -> None:
    await fresh_stream(js, "EVENTS", ("events.>",))
    sent: dict[str, int] = {}  # every copy on the wire, by Nats-Msg-Id (a core subscription)

    async def count(msg: Msg) -> None:
        key = (msg.headers or {}).get("Nats-Msg-Id", "?")
        sent[key] = sent.get(key, 0) + 1

    wire = await nc.subscribe("events.>", cb=count)
    try:
        run = asyncio.create_task(publish_paced(js, rate=200, n=200, timeout=0.5))
        await wait_for(lambda: len(sent) >= 20, 30, "20 publishes on the wire")
        await js.delete_stream("EVENTS")  # no stream: publishes fail (no responders)
        await wait_for(lambda: any(n > 1 for n in sent.values()), 30, "a publish sent again")
        await js.add_stream(name="EVENTS", subjects=["events.>"])
        record = await run
    finally:
        await wire.unsubscribe()
    assert record.counts["failed"] == 0
    again = [p for p in record.retried if p.outcome == "acked"]
    assert again and all(sent[p.msg_id] == p.attempts for p in record.retried)
    # The error that caused the retry is kept (a timeout here: the test's own subscription
    # counts as a responder, so the server does not answer "no responders").
    assert all(p.error and "Timeout" in p.error for p in again)
    assert "retried" in repr(record)
    stored = (await js.stream_info("EVENTS")).state.messages
    ids = set()
    for seq in range(1, stored + 1):
        msg = await js.get_msg("EVENTS", seq)
        ids.add((msg.headers or {})["Nats-Msg-Id"])
    assert len(ids) == stored  # each stored message a different publish


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"rate": 0}, "rate"),
        ({"rate": "fast"}, "rate"),
        ({"n": None}, "seconds"),  # neither
        ({"seconds": 1}, "seconds"),  # both
        ({"n": 0}, "n"),
        ({"subjects": "events.>"}, "subjects"),
        ({"subjects": []}, "subjects"),
        ({"events": ["x"]}, "events"),
        ({"seed": "a"}, "seed"),
        ({"timeout": 0}, "timeout"),
        ({"retries": -1}, "retries"),
        ({"in_flight": 0}, "in_flight"),
    ],
)
async def test_bad_arguments_name_the_parameter(
    js: JetStreamContext, kwargs: dict[str, object], parameter: str
) -> None:
    args: dict[str, object] = {"rate": 100, "n": 10}
    args.update(kwargs)
    with pytest.raises(BadArgument) as caught:
        await publish_paced(js, **args)
    assert caught.value.param == parameter
    with pytest.raises(BadArgument, match="js="):
        await publish_paced("js", rate=1, n=1)
