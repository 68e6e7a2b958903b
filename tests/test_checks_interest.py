"""Lesson 06's checker against a real server: each wrong answer and its hint
(stub, solution and learner exceptions: test_checks_contract.py)."""

from __future__ import annotations

import asyncio

import pytest
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy

from fanout_kit import reset_streams
from fanout_kit.checks import interest

from .conftest import assert_wrong
from .solutions import load_solution


def _solution():
    return load_solution("06-interest-retention")


@pytest.fixture(autouse=True)
async def _clean(js):
    yield
    await reset_streams(js, "INVOICES")


def _maker(
    *,
    retention=RetentionPolicy.INTEREST,
    subjects=("invoices.>",),
    consumers=("billing", "audit"),
    ack_policy=AckPolicy.EXPLICIT,
    filters=None,
    deliver_subject=None,
    publish="after",
    stream=True,
):
    """A learner's answer: the solution's steps, with one thing changed."""

    async def setup(js):
        if stream:
            await js.add_stream(name="INVOICES", subjects=list(subjects), retention=retention)
        if publish == "before":
            await js.publish("invoices.created", b"early")
        for name in consumers:
            config = ConsumerConfig(durable_name=name, ack_policy=ack_policy)
            if filters and name in filters:
                config.filter_subject = filters[name]
            if deliver_subject and name == "audit":
                config.deliver_subject = deliver_subject
            await js.add_consumer("INVOICES", config)
        if publish == "after":
            await js.publish("invoices.created", b"invoice")

    return setup


async def test_the_plain_maker_is_accepted(js) -> None:
    """The wrong answers below differ from this one by a single change."""
    assert (await interest.invoices_kept_for_both(js, _maker())).ok


@pytest.mark.parametrize(
    ("changes", "hint"),
    [
        ({"retention": RetentionPolicy.LIMITS}, "retention='limits'"),
        # two unfiltered consumers on a work queue: the server refuses the second (10099)
        ({"retention": RetentionPolicy.WORK_QUEUE}, "retention='workqueue'"),
        ({"consumers": ("billing",)}, "['audit'] are missing"),
        ({"consumers": ()}, "['billing', 'audit'] are missing"),
        ({"publish": "before"}, "published before the consumers existed"),
        ({"publish": None}, "Nothing was published"),
        ({"ack_policy": AckPolicy.NONE}, "ack_policy='none'"),
        ({"ack_policy": AckPolicy.ALL}, "ack_policy='all'"),
        ({"filters": {"audit": "invoices.paid"}}, "has the filter ['invoices.paid']"),
        ({"deliver_subject": "deliver.audit"}, "push consumer"),
        ({"subjects": ("invoices.*",)}, "['invoices.>']"),
        ({"stream": False, "consumers": (), "publish": None}, "no stream named 'INVOICES'"),
    ],
)
async def test_wrong_answers_get_their_hint(js, changes, hint) -> None:
    result = await interest.invoices_kept_for_both(js, _maker(**changes))
    assert_wrong(result, [hint])


async def test_ack_none_really_loses_the_invoice_on_delivery(js) -> None:
    """The hint's claim, checked: an ack-none consumer removes its interest when it is handed
    the message, before any code could have processed it."""
    await _maker(ack_policy=AckPolicy.NONE, consumers=("billing",))(js)
    assert (await js.stream_info("INVOICES")).state.messages == 1
    sub = await js.pull_subscribe_bind(durable="billing", stream="INVOICES")
    assert len(await sub.fetch(1, timeout=2)) == 1
    await sub.unsubscribe()
    stored = {"messages": 1}

    async def refresh() -> None:
        stored["messages"] = (await js.stream_info("INVOICES")).state.messages

    deadline = asyncio.get_running_loop().time() + 5
    while stored["messages"] and asyncio.get_running_loop().time() < deadline:
        await refresh()
    assert stored["messages"] == 0


async def test_server_refusal_is_reported(js) -> None:
    async def both_filters(js):
        await js.add_stream(
            name="INVOICES", subjects=["invoices.>"], retention=RetentionPolicy.INTEREST
        )
        config = ConsumerConfig(
            durable_name="billing",
            ack_policy=AckPolicy.EXPLICIT,
            filter_subject="invoices.>",
            filter_subjects=["invoices.created"],
        )
        await js.add_consumer("INVOICES", config)

    result = await interest.invoices_kept_for_both(js, both_filters)
    assert_wrong(result, ["The server refused a request"])
