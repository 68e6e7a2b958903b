"""A durable moved back with ``js.reset_consumer`` keeps its start on the board.

After a reset the server reports ``delivered.consumer_seq == 0`` and ``delivered.stream_seq`` =
the reset sequence - 1, exactly what a consumer that has delivered nothing yet reports. A board
that first meets the consumer then must not take that for its start: a deliver-all or
start-sequence consumer's start is in its config (lesson 04 resets ``processor`` under a board
opened after it had delivered).
"""

from __future__ import annotations

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

import fanout_kit

from .conftest import fresh_stream

STREAM = "RESETBOARD"


async def test_a_reset_durable_keeps_its_start_on_a_board_opened_later(
    nc: Client, js: JetStreamContext
) -> None:
    await fresh_stream(js, STREAM, ("reset.>",))
    for i in range(10):
        await js.publish("reset.order", f"{i}".encode())
    await js.add_consumer(STREAM, ConsumerConfig(durable_name="all"))
    await js.add_consumer(
        STREAM,
        ConsumerConfig(
            durable_name="from3",
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=3,
        ),
    )
    for name in ("all", "from3"):
        await fanout_kit.drain(js, STREAM, name)
    board = await fanout_kit.Board.watch(nc, STREAM, reconcile_interval=None)
    try:
        await js.reset_consumer(STREAM, "all", 6)
        await js.reset_consumer(STREAM, "from3", 6)
        snap = await board.settle()
        cells = board.cells()
        assert snap["all"]["delivered"] == 5 and snap["all"]["num_pending"] == 5
        assert [cells["all"][s] for s in (1, 5, 6, 10)] == [
            "acked",
            "acked",
            "not yet delivered",
            "not yet delivered",
        ]
        assert [cells["from3"][s] for s in (2, 3, 5, 6)] == [
            "before this consumer's start",
            "acked",
            "acked",
            "not yet delivered",
        ]
    finally:
        await board.close()
        await js.delete_stream(STREAM)
