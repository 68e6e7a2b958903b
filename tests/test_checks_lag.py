"""Lesson 08's checker against a real server: each wrong answer and its hint
(stub, solution and learner exceptions: test_checks_contract.py)."""

from __future__ import annotations

import pytest

from fanout_kit import reset_streams
from fanout_kit.checks import lag
from fanout_kit.events import demo_events, publish_events

from .conftest import assert_wrong, fresh_stream
from .solutions import load_solution


@pytest.fixture(autouse=True)
async def _events(js):
    await fresh_stream(js)
    await publish_events(js, demo_events(30))
    yield
    await reset_streams(js, "EVENTS")


async def _no_check_consumer(js) -> bool:
    return lag.CONSUMER not in [c.name for c in await js.consumers_info("EVENTS")]


async def test_an_async_answer_is_accepted(js) -> None:
    async def newest(msgs):
        return max(msgs, key=lambda m: m.metadata.sequence.consumer).metadata.num_pending

    assert (await lag.lag_from_metadata(js, newest)).ok


def _api_answers(js):
    async def poll_consumer_info(msgs):
        return (await js.consumer_info("EVENTS", lag.CONSUMER)).num_pending

    async def stream_minus_seq(msgs):
        last_seq = (await js.stream_info("EVENTS")).state.last_seq
        return last_seq - msgs[-1].metadata.sequence.stream

    async def fetch_more(msgs):
        sub = await js.pull_subscribe_bind(durable=lag.CONSUMER, stream="EVENTS")
        more = await sub.fetch(1, timeout=2)
        await sub.unsubscribe()
        return more[-1].metadata.num_pending

    return {
        "consumer info poll": (
            poll_consumer_info,
            ["1 x $JS.API.CONSUMER.INFO", "anti-pattern", "metadata"],
        ),
        "stream last_seq minus seq": (
            stream_minus_seq,
            ["1 x $JS.API.STREAM.INFO", "filter 'events.payment.>'", "counts only"],
        ),
        "fetches more itself": (fetch_more, ["CONSUMER.MSG.NEXT", "fetched more messages"]),
    }


@pytest.mark.parametrize(
    "case", ["consumer info poll", "stream last_seq minus seq", "fetches more itself"]
)
async def test_api_requests_are_caught(js, case: str) -> None:
    answer, phrases = _api_answers(js)[case]
    result = await lag.lag_from_metadata(js, answer)
    assert_wrong(result, phrases)
    assert await _no_check_consumer(js)


WRONG = {
    "num_delivered": (lambda msgs: msgs[-1].metadata.num_delivered, ["num_delivered is how many"]),
    "batch size": (lambda msgs: len(msgs), ["size of the batch"]),
    "plus one": (lambda msgs: msgs[-1].metadata.num_pending + 1, ["Off by one", "AFTER"]),
    "minus one": (lambda msgs: msgs[-1].metadata.num_pending - 1, ["Off by one", "AFTER"]),
    "first message": (lambda msgs: msgs[0].metadata.num_pending, ["FIRST message"]),
    "sum of num_pending": (
        lambda msgs: sum(m.metadata.num_pending for m in msgs),
        ["added up num_pending"],
    ),
    "stream sequence": (lambda msgs: msgs[-1].metadata.sequence.stream, ["sequence number"]),
    "returns None": (lambda msgs: None, ["returned None (NoneType)", "as an int"]),
    "returns a string": (lambda msgs: str(msgs[-1].metadata.num_pending), ["returned '15' (str)"]),
    "raises": (lambda msgs: msgs[-1].metadata.pending, ["raised AttributeError", ".num_pending"]),
    "a constant": (lambda msgs: 1000, ["returned 1000", "has 15 unprocessed"]),
}


@pytest.mark.parametrize("case", list(WRONG))
async def test_wrong_answers_get_their_hint(js, case: str) -> None:
    answer, phrases = WRONG[case]
    result = await lag.lag_from_metadata(js, answer)
    assert_wrong(result, phrases)
    assert await _no_check_consumer(js)


async def test_no_stream(js) -> None:
    await js.delete_stream("EVENTS")
    result = await lag.lag_from_metadata(js, load_solution("08-monitoring-lag").lag_from_messages)
    assert_wrong(result, ["no EVENTS stream"])


async def test_stream_without_events_subjects(js) -> None:
    await js.delete_stream("EVENTS")
    await js.add_stream(name="EVENTS", subjects=["other.>"])
    result = await lag.lag_from_metadata(js, load_solution("08-monitoring-lag").lag_from_messages)
    assert_wrong(result, ['must capture "events.>"'])


async def test_a_refusal_of_the_checks_own_request_is_explained_not_counted(js) -> None:
    from fanout_kit import progress

    await js.delete_stream("EVENTS")
    await js.add_stream(name="EVENTS", subjects=["events.>"], max_consumers=1)
    await js.add_consumer(
        "EVENTS", durable_name="other"
    )  # the check's own consumer is one too many
    result = await lag.lag_from_metadata(js, lambda msgs: 0)
    assert_wrong(result, ["The check could not finish", "maximum consumers limit reached"])
    assert progress.attempts() == [], "the learner did nothing wrong: not a try"
