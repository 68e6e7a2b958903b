"""``board.api_calls`` counts every JetStream API request the board makes, the check that the
stream exists included: on a server nobody else talks to, it equals the server's own count
(``/jsz`` ``api.total``) over watch, settle and close. Lesson 09 prints both side by side."""

from __future__ import annotations

from nats.js.api import AckPolicy, ConsumerConfig

import fanout_kit


async def test_board_api_calls_equal_the_servers_count() -> None:
    async with await fanout_kit.start_server() as srv:
        nc = await fanout_kit.connect(srv.url)
        try:
            js = nc.jetstream()
            await js.add_stream(name="COUNTED", subjects=["counted.>"])
            await js.add_consumer(
                "COUNTED", ConsumerConfig(durable_name="reader", ack_policy=AckPolicy.EXPLICIT)
            )
            before = (await srv.monitor("jsz"))["api"]["total"]
            board = await fanout_kit.Board.watch(nc, "COUNTED", reconcile_interval=None)
            try:
                await board.settle()
            finally:
                await board.close()
            counted = (await srv.monitor("jsz"))["api"]["total"] - before
            assert board.api_calls > 0
            assert board.api_calls == counted, (
                f"board.api_calls {board.api_calls}, server counted {counted}"
            )
        finally:
            await nc.close()
