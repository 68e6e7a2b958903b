"""drain and take against the real session server."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from nats.aio.msg import Msg

from fanout_kit.consume import ConsumeReport, Delivery, drain, take
from fanout_kit.events import demo_events, publish_events
from fanout_kit.topology import TopologyError, ensure_consumer, ensure_stream, reset_streams


@pytest.fixture
async def loaded(js) -> AsyncIterator[tuple[str, str, list]]:
    """A fresh stream holding 60 demo events; yields (stream, subject root, events)."""
    tag = uuid.uuid4().hex[:10]
    name, root = f"D_{tag}", f"d{tag}"
    await ensure_stream(js, name, f"{root}.>", storage="memory")
    events = demo_events(60, prefix=root)
    await publish_events(js, events)
    yield name, root, events
    await reset_streams(js, name)


async def test_drain_everything_and_ack(js, loaded) -> None:
    name, _, events = loaded
    await ensure_consumer(js, name, "audit")
    report = await drain(js, name, "audit", batch=7, keep_msgs=True)
    assert isinstance(report, ConsumeReport)
    assert repr(report) == f"ConsumeReport({name}/audit: 60 messages, seq 1..60, acked)"
    assert (report.count, report.first_seq, report.last_seq, report.pending) == (60, 1, 60, 0)
    assert report.subjects == dict(sorted(Counter(e.subject for e in events).items()))
    assert [d.stream_seq for d in report.deliveries] == list(range(1, 61))
    assert report.deliveries[0] == Delivery(1, 1, events[0].subject, 1, 59)
    assert all(isinstance(m, Msg) for m in report.msgs)
    assert [m.data for m in report.msgs] == [e.payload for e in events]
    # The kit's own parse of the ack subjects agrees with nats-py's metadata.
    for m, d in zip(report.msgs, report.deliveries, strict=True):
        md = m.metadata
        assert d == (
            md.sequence.stream,
            md.sequence.consumer,
            m.subject,
            md.num_delivered,
            md.num_pending,
        )
    # Acks are confirmed before drain returns: consumer info is already current.
    info = await js.consumer_info(name, "audit")
    assert (info.ack_floor.stream_seq, info.num_ack_pending, info.num_pending) == (60, 0, 0)


async def test_drain_empty_consumer_returns_at_once(js, loaded) -> None:
    name, _, _ = loaded
    await ensure_consumer(js, name, "audit")
    await drain(js, name, "audit")
    # timeout=60 would make this test hang for a minute if drain waited for a fetch timeout.
    again = await drain(js, name, "audit", timeout=60)
    assert repr(again) == f"ConsumeReport({name}/audit: 0 messages)"
    assert (again.count, again.first_seq, again.subjects, again.timed_out) == (0, None, {}, False)
    assert again.msgs == () and again.deliveries == ()


async def test_fan_out_each_durable_sees_everything(js, loaded) -> None:
    name, _, _ = loaded
    reports = []
    for durable in ("order-processor", "analytics", "audit"):
        await ensure_consumer(js, name, durable)
        reports.append(await drain(js, name, durable))
    assert [r.count for r in reports] == [60, 60, 60]
    assert reports[0].deliveries == reports[2].deliveries


async def test_drain_with_filters(js, loaded) -> None:
    name, root, events = loaded
    await ensure_consumer(js, name, "orders", filter_subject=f"{root}.order.>")
    await ensure_consumer(js, name, "people", filter_subjects=[f"{root}.user.>", f"{root}.auth.>"])
    orders = await drain(js, name, "orders", batch=4)
    people = await drain(js, name, "people")
    want_orders = [i for i, e in enumerate(events, 1) if ".order." in e.subject]
    want_people = [
        i for i, e in enumerate(events, 1) if e.subject.split(".")[1] in ("user", "auth")
    ]
    assert [d.stream_seq for d in orders.deliveries] == want_orders
    assert [d.stream_seq for d in people.deliveries] == want_people
    assert orders.count == len(want_orders) and people.count == len(want_people)
    assert all(s.startswith(f"{root}.order.") for s in orders.subjects)
    assert sum(orders.subjects.values()) == orders.count
    # Consumer sequences count only what the filter passes.
    assert [d.consumer_seq for d in orders.deliveries] == list(range(1, orders.count + 1))


async def test_max_messages_and_resume(js, loaded) -> None:
    name, _, _ = loaded
    await ensure_consumer(js, name, "audit")
    first = await drain(js, name, "audit", max_messages=25, batch=10)
    assert (first.count, first.first_seq, first.last_seq, first.pending) == (25, 1, 25, 35)
    rest = await drain(js, name, "audit")
    assert (rest.count, rest.first_seq, rest.last_seq, rest.pending) == (35, 26, 60, 0)


async def test_drain_without_ack_leaves_outstanding_acks(js, loaded) -> None:
    name, _, _ = loaded
    await ensure_consumer(js, name, "slow", ack_wait=3600)
    report = await drain(js, name, "slow", max_messages=10, ack=False, keep_msgs=True)
    assert repr(report) == f"ConsumeReport({name}/slow: 10 messages, seq 1..10, not acked)"
    info = await js.consumer_info(name, "slow")
    assert (info.num_ack_pending, info.ack_floor.stream_seq, info.delivered.stream_seq) == (
        10,
        0,
        10,
    )
    for msg in report.msgs[:3]:
        await msg.ack_sync()
    info = await js.consumer_info(name, "slow")
    assert (info.num_ack_pending, info.ack_floor.stream_seq) == (7, 3)


async def test_take(js, loaded) -> None:
    name, _, events = loaded
    await ensure_consumer(js, name, "audit", ack_wait=3600)
    msgs = await take(js, name, "audit", 3, ack=False)
    assert [m.metadata.sequence.stream for m in msgs] == [1, 2, 3]
    assert [m.data for m in msgs] == [e.payload for e in events[:3]]
    info = await js.consumer_info(name, "audit")
    assert (info.num_ack_pending, info.ack_floor.stream_seq) == (3, 0)
    await msgs[1].ack_sync()  # a gap: the ack floor cannot move past seq 1
    assert (await js.consumer_info(name, "audit")).ack_floor.stream_seq == 0
    acked = await take(js, name, "audit", 2)
    assert [m.metadata.sequence.stream for m in acked] == [4, 5]
    assert (await js.consumer_info(name, "audit")).num_ack_pending == 2
    rest = await take(js, name, "audit", 500, timeout=60)  # fewer pending: no waiting
    assert len(rest) == 55


async def test_max_ack_pending_stall_is_reported(js, loaded) -> None:
    """The silent stall of the lessons: unacked messages at max_ack_pending stop delivery."""
    name, _, _ = loaded
    await ensure_consumer(js, name, "stuck", max_ack_pending=5, ack_wait=3600)
    report = await drain(js, name, "stuck", ack=False, timeout=0.5)
    assert report.count == 5
    assert report.timed_out and report.pending == 55
    assert repr(report) == (
        f"ConsumeReport({name}/stuck: 5 messages, seq 1..5, not acked, "
        "stopped with 55 pending (fetch timed out))"
    )


async def test_missing_consumer_and_validation(js, loaded) -> None:
    name, _, _ = loaded
    with pytest.raises(TopologyError) as exc:
        await drain(js, name, "nobody")
    assert "ensure_consumer" in str(exc.value) and "Fix" in str(exc.value)
    with pytest.raises(TopologyError):
        await drain(js, "bad.stream", "audit")
    await ensure_consumer(js, name, "audit")
    for kwargs in ({"batch": 0}, {"timeout": 0}, {"max_messages": -1}):
        with pytest.raises(ValueError):
            await drain(js, name, "audit", **kwargs)
    with pytest.raises(ValueError):
        await take(js, name, "audit", 0)
