"""Lesson 10's checker against a real server: each wrong answer and its hint
(stub, solution and learner exceptions: test_checks_contract.py)."""

from __future__ import annotations

import asyncio
import json

import nats.errors
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from fanout_kit.checks import architecture
from fanout_kit.events import demo_events, publish_events

from .conftest import assert_wrong, fresh_stream
from .solutions import load_solution

BOTH = ["events.order.created", "events.order.shipped"]


def _solution():
    return load_solution("10-event-driven-architecture")


@pytest.fixture(autouse=True)
async def _events(js, monkeypatch):
    # Wrong answers that never catch up make the check wait out its timeouts: keep them short.
    monkeypatch.setattr(architecture, "IDLE_TIMEOUT", 1.0)
    monkeypatch.setattr(architecture, "STOP_TIMEOUT", 1.0)
    await fresh_stream(js)
    await publish_events(js, demo_events(60, seed=38))
    yield
    await js.delete_stream("EVENTS")


def _service(
    key=lambda msg, event: event["type"],
    ack=True,
    run=True,
    swallow_cancel=False,
    **config,
):
    """A service like the solution's, with one thing changed."""

    async def service(js, counts):
        cfg = ConsumerConfig(**{"durable_name": "inventory", **config})
        await js.add_consumer("EVENTS", cfg)
        if not run:
            return  # set up, never served
        name = cfg.durable_name or cfg.name
        sub = await js.pull_subscribe_bind(durable=name, stream="EVENTS")
        try:
            while True:
                try:
                    msgs = await sub.fetch(10, timeout=0.5)
                except TimeoutError:
                    continue
                except asyncio.CancelledError:
                    if swallow_cancel:
                        continue
                    raise
                for msg in msgs:
                    counts[key(msg, json.loads(msg.data))] += 1
                    if ack:
                        await msg.ack()
        finally:
            await sub.unsubscribe()

    return service


async def _expected(js) -> dict[str, int]:
    stored = (await js.stream_info("EVENTS", subjects_filter="events.order.*")).state.subjects
    return {s[7:]: stored[s] for s in BOTH}


WRONG = {
    "no filter": ({}, ["no filter", "payments", "payment.authorized", "filter_subjects"]),
    "one of the two": (
        {"filter_subject": "events.order.created"},
        ["does not cover ['events.order.shipped']", "filter_subjects"],
    ),
    "too wide": (
        {"filter_subject": "events.order.>"},
        ["also lets through ['events.order.paid']"],
    ),
    "ephemeral": (
        {"durable_name": None, "name": "inventory", "filter_subjects": BOTH},
        ["ephemeral", 'durable_name="inventory"'],
    ),
    "deliver new": (
        {"filter_subjects": BOTH, "deliver_policy": DeliverPolicy.NEW},
        ["deliver_policy='new'", "DeliverPolicy.ALL"],
    ),
    "ack none": (
        {"filter_subjects": BOTH, "ack_policy": AckPolicy.NONE},
        ["ack_policy='none'", "AckPolicy.EXPLICIT"],
    ),
    "not acking": (
        {"filter_subjects": BOTH, "ack": False},
        ["still waiting for an ack", "Outstanding Acks", "await msg.ack()"],
    ),
    "keyed by subject": (
        {"filter_subjects": BOTH, "key": lambda msg, event: msg.subject},
        ["keyed by subject", '"type"'],
    ),
    "counted wrong": (
        {"filter_subjects": BOTH, "key": lambda msg, event: "order.created"},
        ["Your service counted {'order.created': 16}", "'order.shipped': 6"],
    ),
    "returns after setup": (
        {"filter_subjects": BOTH, "run": False},
        ["returned instead of running", "while True"],
    ),
    "wrong name": (
        {"durable_name": "inventry", "filter_subjects": BOTH},
        ["no consumer named 'inventory'"],
    ),
    "ignores cancel": (
        {"filter_subjects": BOTH, "swallow_cancel": True},
        ["did not stop", "CancelledError"],
    ),
}


@pytest.mark.parametrize("case", list(WRONG))
async def test_wrong_answers_get_their_hint(js, case: str) -> None:
    config, phrases = WRONG[case]
    result = await architecture.inventory(js, _service(**config))
    assert_wrong(result, phrases)


async def test_crash_on_an_empty_fetch_is_explained(js) -> None:
    def service(js, counts):
        raise nats.errors.TimeoutError

    result = await architecture.inventory(js, service)
    assert_wrong(result, ["except TimeoutError: continue"])


async def test_server_refusal_is_reported(js) -> None:
    async def both_fields(js, counts):
        await js.add_consumer(
            "EVENTS",
            ConsumerConfig(
                durable_name="inventory",
                filter_subject="events.order.created",
                filter_subjects=BOTH,
            ),
        )

    result = await architecture.inventory(js, both_fields)
    assert_wrong(result, ["The server refused your consumer"])


async def test_missing_stream_is_explained(js) -> None:
    await js.delete_stream("EVENTS")
    result = await architecture.inventory(js, _solution().inventory_service)
    assert_wrong(result, ["no EVENTS stream"])
    await js.add_stream(name="EVENTS", subjects=["events.>"])  # for the fixture's cleanup
