"""Lesson 11's checker against a real 3-node cluster (conftest's `cjs`): each wrong answer with
its hint, and the single-server mistake."""

from __future__ import annotations

import pytest
from nats.js.api import ConsumerConfig, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from fanout_kit.checks import cluster

from .conftest import assert_wrong
from .solutions import load_solution


def _solution():
    return load_solution("11-beyond-one-machine")


def _maker(stream: dict | None = None, consumer: dict | None = None):
    """A learner function creating ORDERS_R3 and its consumer with the given overrides."""
    stream_cfg = {"name": "ORDERS_R3", "subjects": ["orders.>"], "num_replicas": 3}
    stream_cfg.update(stream or {})
    consumer_cfg = {"durable_name": "order-processor"}
    consumer_cfg.update(consumer or {})

    async def create(js):
        await js.add_stream(StreamConfig(**stream_cfg))
        if consumer_cfg:
            await js.add_consumer("ORDERS_R3", ConsumerConfig(**consumer_cfg))

    return create


WRONG = {
    "one replica": ({"num_replicas": 1}, None, ["num_replicas=1", "num_replicas=3"]),
    "two replicas": ({"num_replicas": 2}, None, ["num_replicas=2", "quorum of 2 is 2"]),
    "memory storage": (
        {"storage": StorageType.MEMORY},
        None,
        ["memory storage", "StorageType.FILE"],
    ),
    "wrong subjects": ({"subjects": ["order.>"]}, None, ["['order.>']", 'subjects=["orders.>"]']),
    "ephemeral consumer": (
        None,
        {"durable_name": None, "name": "order-processor"},
        ["ephemeral", "durable_name='order-processor'"],
    ),
    "consumer on one node": (
        None,
        {"num_replicas": 1},
        ["num_replicas=1 on a stream with 3", "Leave `num_replicas` out"],
    ),
    "consumer in memory": (None, {"mem_storage": True}, ["mem_storage=True"]),
    "wrong consumer name": (
        None,
        {"durable_name": "order_processor"},
        ["no consumer named 'order-processor'", "order_processor"],
    ),
}


@pytest.mark.parametrize("case", list(WRONG))
async def test_wrong_answers_get_their_hint(cjs, case: str) -> None:
    stream, consumer, phrases = WRONG[case]
    result = await cluster.orders_r3(cjs, _maker(stream, consumer))
    assert_wrong(result, phrases)


async def test_missing_stream_is_explained(cjs) -> None:
    async def forgot_await(js):
        js.add_stream(name="ORDERS_R3", subjects=["orders.>"], num_replicas=3).close()

    result = await cluster.orders_r3(cjs, forgot_await)
    assert_wrong(result, ["no stream named 'ORDERS_R3'"])


async def test_server_refusal_is_reported(cjs) -> None:
    result = await cluster.orders_r3(cjs, _maker({"num_replicas": 5}))
    assert_wrong(result, ["The server refused"])


async def test_single_server_is_explained(js) -> None:
    """The learner passes the shared single server's js: the server's 10074, explained."""
    result = await cluster.orders_r3(js, _solution().make_orders_r3)
    assert_wrong(result, ["single server, not to the cluster"])
    with pytest.raises(NotFoundError):
        await js.stream_info("ORDERS_R3")
