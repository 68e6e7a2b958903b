"""A server outage under a watching board: it says so within a frame, refuses to settle while
the server is away, and is exact again once the server is back on the same store."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

import fanout_kit
from fanout_kit.board import Board
from fanout_kit.errors import ConnectError

from . import board_oracle as oracle
from .conftest import async_wait_until
from .test_board_truth import check_cells, check_numbers, fetch

OUTAGE = 20.0
"""Seconds the server stays down (longer than nats-py's default reconnect budget of ~15 s)."""

pytestmark = [pytest.mark.slow(25), pytest.mark.timeout(180)]


async def test_outage_and_return(tmp_path: Path) -> None:
    server = await fanout_kit.start_server(store_dir=tmp_path / "store")
    # The board's client and the workers' client keep reconnecting however long it takes.
    forever = {"max_reconnect_attempts": -1, "reconnect_time_wait": 0.25}
    nc = await fanout_kit.connect(server.url, name="board", **forever)
    worker = await fanout_kit.connect(server.url, name="worker", **forever)
    js = worker.jetstream()
    record = oracle.Record()
    board: Board | None = None
    try:
        await js.add_stream(StreamConfig(name="OUT", subjects=["out.>"]))
        await js.add_consumer(
            "OUT", ConsumerConfig(durable_name="c", ack_policy=AckPolicy.EXPLICIT)
        )
        board = await Board.watch(nc, "OUT", reconcile_interval=1.0)
        for i in range(20):
            await js.publish(f"out.{i % 2}", b"{}")
        sub = await js.pull_subscribe_bind("c", stream="OUT")
        for m in await fetch(sub, 8):
            await record.msg("c", m, "ack")
        await worker.flush()
        await board.settle()
        assert board.widget.frame["status"]["connection"] == "connected"

        # Every frame says what the client's state was when it was drawn: the tick reads the
        # connection right before it draws, so the drop shows in the next frame.
        drawn: list[tuple[str, bool]] = []
        draw = board.widget.draw

        def spy(frame: dict[str, Any]) -> None:
            drawn.append((frame["status"]["connection"], nc.is_connected))
            draw(frame)

        board.widget.draw = spy  # type: ignore[method-assign]
        os.kill(server.pid, signal.SIGKILL)  # the server goes away without a goodbye
        await async_wait_until(lambda: not nc.is_connected, what="the client noticed")
        ticks = board.ticks
        await async_wait_until(lambda: board.ticks >= ticks + 1, what="one tick")
        assert board.widget.frame["status"]["connection"] == "disconnected, reconnecting"
        assert any("unreachable" in b for b in board.widget.frame["status"]["banners"])
        with pytest.raises(ConnectError, match="unreachable"):
            await board.settle()
        await asyncio.sleep(OUTAGE)  # the outage itself (not a synchronisation)
        assert board.widget.frame["status"]["connection"] == "disconnected, reconnecting"
        assert not board.closed, "still waiting for the server, not dead"

        await server.restart()  # same ports, same store
        await async_wait_until(
            lambda: board.widget.frame["status"]["connection"] == "connected",
            timeout=30,
            what="back, and the board says so",
        )
        await async_wait_until(lambda: worker.is_connected, timeout=30, what="worker back")
        assert drawn and all((state == "connected") == connected for state, connected in drawn), (
            drawn
        )
        for i in range(5):
            await js.publish(f"out.{i % 2}", b"{}")
        # Take everything, redeliveries of acks the killed server forgot included.
        while got := await fetch(sub, 10, timeout=1.5):
            for m in got:
                await record.msg("c", m, "ack")
        await worker.flush()
        await board.settle()
        await check_numbers(board, server, "OUT")
        await check_cells(board, js, "OUT", record, watched=True)
        assert board.widget.frame["status"] == {
            "connection": "connected",
            "board": "live",
            "mode": "detail",
            "banners": [],
        }
    finally:
        if board is not None:
            await board.close()
        await worker.close()
        await nc.close()
        await server.stop()
