"""A consumer paused on the server (``js.pause_consumer``) shows on the board, against a real
server: at once from the server's ``PAUSE`` advisory (a pause, a resume, a pause that ends by
itself at its deadline), from consumer info for a board that starts watching a paused consumer,
and never undone by an older consumer info (pure model, last test)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig

from fanout_kit import pause, reconcile, view
from fanout_kit.acks import parse_time_ns
from fanout_kit.board import Board
from fanout_kit.observe import StreamModel

from .conftest import async_wait_until, fresh_stream

STREAM = "PAUSEBOARD"


def _lane(board: Board, name: str) -> dict[str, Any]:
    """``name``'s lane in the frame the board last sent to the browser."""
    (lane,) = [x for x in board.widget.frame["lanes"] if x["name"] == name]
    return lane


def _paused(board: Board, name: str) -> str | None:
    until: str | None = _lane(board, name)["paused_until"]
    return until


def _until(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)).isoformat()


def _same_time(frame_text: str | None, server_text: str) -> bool:
    """The frame's ``paused_until`` (ms) is the server's (ns), to the millisecond."""
    return (
        frame_text is not None
        and parse_time_ns(frame_text) // 1_000_000 == parse_time_ns(server_text) // 1_000_000
    )


@pytest.fixture
async def orders(js: JetStreamContext) -> AsyncIterator[str]:
    await fresh_stream(js, STREAM, ("pause.>",))
    for i in range(5):
        await js.publish("pause.order", f"{i}".encode())
    await js.add_consumer(STREAM, ConsumerConfig(durable_name="fulfilment"))
    await js.add_consumer(STREAM, ConsumerConfig(durable_name="shipping"))
    yield STREAM
    await js.delete_stream(STREAM)


async def test_pause_and_resume_show_at_once_from_the_advisory(
    nc: Client, js: JetStreamContext, orders: str
) -> None:
    # No periodic reconcile: only the advisory can tell the board.
    board = await Board.watch(nc, orders, reconcile_interval=None)
    try:
        await board.settle()
        assert _paused(board, "fulfilment") is None
        calls = board.api_calls
        reply = await js.pause_consumer(orders, "fulfilment", _until(600))
        assert reply.paused
        await async_wait_until(
            lambda: _same_time(_paused(board, "fulfilment"), reply.pause_until),
            what="the frame to show fulfilment paused until the server's pause_until",
        )
        assert _paused(board, "shipping") is None
        assert "fulfilment: consumer paused" in board.widget.frame["summary"]
        await js.resume_consumer(orders, "fulfilment")
        await async_wait_until(
            lambda: _paused(board, "fulfilment") is None,
            what="the frame to show fulfilment resumed",
        )
        assert board.api_calls == calls, "learnt from the advisories, not by asking"
        # cells() stays per message: the same states as before the pause.
        assert set(board.cells()["fulfilment"].values()) == {"not yet delivered"}
    finally:
        await board.close()


async def test_a_pause_that_ends_by_itself_at_its_deadline_shows_ended(
    nc: Client, js: JetStreamContext, orders: str
) -> None:
    board = await Board.watch(nc, orders, reconcile_interval=None)
    try:
        # A long pause first, seen on the board; then the same consumer paused again with a
        # deadline a moment away: whenever the board gets to it, the lane was paused, and the
        # server's own deadline (its advisory, no call and no reconcile) ends it.
        await js.pause_consumer(orders, "fulfilment", _until(600))
        await async_wait_until(lambda: _paused(board, "fulfilment") is not None, what="paused")
        calls = board.api_calls
        short = await js.pause_consumer(orders, "fulfilment", _until(1))
        await async_wait_until(
            lambda: _paused(board, "fulfilment") is None,
            timeout=30,
            what="the pause to end by itself at its deadline",
        )
        assert board.api_calls == calls
        info = await js.consumer_info(orders, "fulfilment")
        assert not info.paused and info.config.pause_until is not None
        assert parse_time_ns(info.config.pause_until) == parse_time_ns(short.pause_until)
    finally:
        await board.close()


async def test_a_board_opened_on_a_paused_consumer_shows_it_from_consumer_info(
    nc: Client, js: JetStreamContext, orders: str
) -> None:
    reply = await js.pause_consumer(orders, "shipping", _until(600))
    board = await Board.watch(nc, orders, reconcile_interval=None)
    try:
        assert _same_time(_paused(board, "shipping"), reply.pause_until)
        assert _paused(board, "fulfilment") is None
        # A consumer created paused while the board watches (its CREATED advisory's info).
        created = await js.add_consumer(
            orders, ConsumerConfig(durable_name="billing", pause_until=_until(600))
        )
        assert created.paused
        await async_wait_until(
            lambda: (
                any(x["name"] == "billing" for x in board.widget.frame["lanes"])
                and _paused(board, "billing") is not None
            ),
            what="billing's lane, paused",
        )
        # Resumed while the board was not listening: the next reconcile (here settle) says so.
        await board.feed.tap.unsubscribe(everything=True)
        await js.resume_consumer(orders, "shipping")
        assert _paused(board, "shipping") is not None
        await board.settle()
        assert _paused(board, "shipping") is None and _paused(board, "billing") is not None
    finally:
        await board.close()


def test_an_older_consumer_info_never_undoes_a_newer_pause() -> None:
    """Facts carry the server's time: a consumer info answered before the pause, read after
    its advisory, leaves the lane paused; a newer one (after the deadline) ends it."""
    m = StreamModel("S")

    def info(ts: str, *, paused: bool) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "name": "c",
            "created": "2026-11-30T14:00:00Z",
            "config": {"durable_name": "c", "pause_until": "2026-11-30T14:05:31.582391Z"},
            "delivered": {"stream_seq": 0, "consumer_seq": 0},
            "ack_floor": {"stream_seq": 0, "consumer_seq": 0},
            "ts": ts,
        }
        return doc | ({"paused": True} if paused else {})

    reconcile.apply_consumer_info(m, info("2026-11-30T14:00:01Z", paused=False))
    c = m.consumers["c"]
    assert c.paused_until is None
    advisory = (
        b'{"type":"io.nats.jetstream.advisory.v1.consumer_pause","stream":"S","consumer":"c",'
        b'"paused":true,"pause_until":"2026-11-30T14:05:31.582391Z",'
        b'"timestamp":"2026-11-30T14:00:02Z"}'
    )
    version = m.version
    assert pause.from_advisory(m, advisory) and m.version > version
    assert pause.utc_text(c.paused_until or 0) == "2026-11-30T14:05:31.582Z"
    reconcile.apply_consumer_info(m, info("2026-11-30T14:00:01.5Z", paused=False))
    assert c.paused_until is not None, "an answer older than the advisory"
    frame = view.build_frame(m, view.Status(), capacity=10)
    assert frame["lanes"][0]["paused_until"] == "2026-11-30T14:05:31.582Z"
    reconcile.apply_consumer_info(m, info("2026-11-30T14:05:32Z", paused=False))
    assert c.paused_until is None, "after the deadline the server says not paused"
    assert not pause.from_advisory(m, b"not json") and not pause.from_advisory(m, b"{}")
    # A deleted consumer's lane (kept a while, greyed) is not drawn paused.
    again = advisory.replace(b"14:00:02", b"14:06:00").replace(b"14:05:31", b"14:10:00")
    assert pause.from_advisory(m, again) and c.paused_until is not None
    m.on_consumer_deleted("c")
    frame = view.build_frame(m, view.Status(), capacity=10, previous=frame)
    assert frame["lanes"][0]["note"] == "deleted" and frame["lanes"][0]["paused_until"] is None
