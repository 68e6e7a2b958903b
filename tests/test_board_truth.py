"""Randomised scenarios: the board never runs ahead of the server, and settles on its numbers.

Each scenario is seeded. Three consumers (no filter, one filter, two filters) with a 1 s ack
wait take random actions per message: ack, nak, term, or skip (no ack: the ack wait runs out
and the server redelivers). One worker is killed mid-batch (its connection closed with
messages in hand). While that runs, board snapshots are compared with consumer info fetched
right after each one; at the end, ``settle()`` must equal ``/jsz`` exactly.

Some scenarios run with a tiny ``detail_limit``, so the board switches into overload mode
(consumer info only) and back in the middle of them: the same two rules must hold across the
switches.
"""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

import pytest
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StreamConfig

import fanout_kit
from fanout_kit.board import DETAIL_LIMIT, Board
from fanout_kit.server import NatsServer, get_json

from .conftest import async_wait_until

KEYS = ("delivered", "ack_floor", "num_pending", "num_ack_pending", "num_redelivered")
SUBJECTS = ("orders", "users", "misc")


async def jsz_numbers(server: NatsServer, stream: str) -> dict[str, dict[str, int]]:
    doc = await get_json(server.monitoring_url + "/jsz?consumers=true&config=true")
    for account in doc.get("account_details", []):
        for detail in account.get("stream_detail", []):
            if detail["name"] == stream:
                return {
                    c["name"]: {
                        "delivered": c["delivered"]["stream_seq"],
                        "ack_floor": c["ack_floor"]["stream_seq"],
                        "num_pending": c["num_pending"],
                        "num_ack_pending": c["num_ack_pending"],
                        "num_redelivered": c["num_redelivered"],
                    }
                    for c in detail.get("consumer_detail", [])
                }
    raise AssertionError(f"{stream} not in /jsz")


async def check_not_ahead(board: Board, js: Any, stream: str) -> int:
    """Sample the board, then ask the server; the board must not be ahead. Returns checks."""
    snap = board.snapshot()
    checks = 0
    for name, mine in snap.items():
        ci = await js.consumer_info(stream, name)
        assert mine["delivered"] <= ci.delivered.stream_seq, (name, mine, ci)
        assert mine["ack_floor"] <= ci.ack_floor.stream_seq, (name, mine, ci)
        assert mine["num_pending"] >= ci.num_pending, (name, mine, ci)
        checks += 1
    return checks


class Fleet:
    """One worker connection per consumer, each with a pull subscription."""

    def __init__(self, url: str, stream: str) -> None:
        self.url, self.stream = url, stream
        self.conns: dict[str, Client] = {}
        self.subs: dict[str, Any] = {}

    async def sub(self, name: str) -> Any:
        if name not in self.subs:
            nc = await fanout_kit.connect(self.url, name=f"truth-{name}")
            self.conns[name] = nc
            self.subs[name] = await nc.jetstream().pull_subscribe_bind(name, stream=self.stream)
        return self.subs[name]

    async def kill(self, name: str) -> None:
        """Close the connection with whatever it holds unacked (a crashed worker)."""
        self.subs.pop(name, None)
        nc = self.conns.pop(name, None)
        if nc is not None:
            await nc.close()

    async def close(self) -> None:
        for name in list(self.conns):
            await self.kill(name)


async def fetch(sub: Any, n: int) -> list[Any]:
    try:
        return await sub.fetch(n, timeout=0.3)
    except TimeoutError:
        return []


async def publish(js: Any, board: Board, stream: str, rng: random.Random, n: int) -> None:
    for _ in range(n):
        await js.publish(f"{stream.lower()}.{rng.choice(SUBJECTS)}", b"{}")
    info = await js.stream_info(stream)
    # The board learns of publishes from their acks; wait until it has seen them all.
    await async_wait_until(
        lambda: board.model.last_seq >= info.state.last_seq, what="board saw the publishes"
    )


TINY = 30.0
"""A detail limit the scenarios' own traffic crosses both ways (events a second)."""


@pytest.mark.parametrize(
    ("seed", "retention", "reconcile", "limit"),
    [
        (1, RetentionPolicy.LIMITS, None, None),
        (2, RetentionPolicy.INTEREST, None, None),
        (3, RetentionPolicy.LIMITS, 0.5, DETAIL_LIMIT),
        (4, RetentionPolicy.INTEREST, 0.5, DETAIL_LIMIT),
        (5, RetentionPolicy.LIMITS, None, TINY),
        (6, RetentionPolicy.INTEREST, None, TINY),
        (7, RetentionPolicy.LIMITS, 0.5, TINY),
        (8, RetentionPolicy.INTEREST, 0.5, TINY),
    ],
)
async def test_random_scenario(
    server: NatsServer,
    nc: Client,
    js: Any,
    seed: int,
    retention: RetentionPolicy,
    reconcile: float | None,
    limit: float | None,
) -> None:
    rng = random.Random(seed)
    stream = f"T{seed}{uuid.uuid4().hex[:6]}".upper()
    p = stream.lower()
    await js.add_stream(StreamConfig(name=stream, subjects=[f"{p}.>"], retention=retention))
    filters: dict[str, list[str]] = {
        "all": [],
        "orders": [f"{p}.orders"],
        "rest": [f"{p}.users", f"{p}.misc"],
    }
    for name, fs in filters.items():
        await js.add_consumer(
            stream,
            ConsumerConfig(
                durable_name=name,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=1.0,
                filter_subjects=fs or None,
            ),
        )
    board = await Board.watch(
        nc, stream, reconcile_interval=reconcile, quiet=0.2, detail_limit=limit
    )
    fleet = Fleet(server.url, stream)
    checks = 0
    skipped: set[tuple[str, int]] = set()
    redelivered_seen = False
    modes: set[str] = set()
    try:
        await publish(js, board, stream, rng, 120)
        killed = False
        for round_no in range(12):
            if round_no == 6:
                await publish(js, board, stream, rng, 40)
            for name in filters:
                sub = await fleet.sub(name)
                msgs = await fetch(sub, rng.randint(1, 12))
                kill_at = (
                    rng.randrange(len(msgs)) if msgs and not killed and round_no == 3 else None
                )
                for i, m in enumerate(msgs):
                    if i == kill_at:
                        await fleet.kill(name)  # mid-batch: the rest stay unacked
                        killed = True
                        break
                    if m.metadata.num_delivered > 1:
                        redelivered_seen = True
                    action = rng.choices(["ack", "nak", "term", "skip"], [12, 1, 1, 1])[0]
                    if action == "ack":
                        await m.ack()
                    elif action == "nak":
                        await m.nak()
                    elif action == "term":
                        await m.term()
                    else:
                        skipped.add((name, m.metadata.sequence.stream))
            await nc.flush()
            checks += await check_not_ahead(board, js, stream)
            modes.add(board.mode)
        # Ack wait expiry: wait (on a condition, with a deadline) for a skipped message to
        # come back with a higher delivery count, and ack it.
        deadline = time.monotonic() + 10
        while skipped and not redelivered_seen and time.monotonic() < deadline:
            for name in filters:
                for m in await fetch(await fleet.sub(name), 5):
                    redelivered_seen = redelivered_seen or m.metadata.num_delivered > 1
                    await m.ack()
            checks += await check_not_ahead(board, js, stream)
        assert redelivered_seen, "an expired ack wait led to a redelivery"
        # Drop every worker connection, so no waiting pull can take a redelivery now.
        await fleet.close()
        switched_mid_scenario = board.mode_switches
        await board.settle(timeout=15)
        truth = await jsz_numbers(server, stream)
        snap = board.snapshot()
        assert {n: {k: v[k] for k in KEYS} for n, v in snap.items()} == truth
        assert checks >= 36
        if limit is None:
            assert board.mode_switches == 0 and modes == {"detail"}
        elif limit == TINY:
            assert "overload" in modes and switched_mid_scenario >= 1
            assert board.mode_switches >= 2 and board.mode == "detail", "settle came back"
    finally:
        await fleet.close()
        await board.close()
        await js.delete_stream(stream)


async def test_settle_is_exact_for_a_board_started_late(
    server: NatsServer, nc: Client, js: Any
) -> None:
    """A board that starts watching mid-way knows only the server's numbers: still exact."""
    stream = f"LATE{uuid.uuid4().hex[:6]}".upper()
    await js.add_stream(StreamConfig(name=stream, subjects=[f"{stream.lower()}.>"]))
    await js.add_consumer(stream, ConsumerConfig(durable_name="w", ack_policy=AckPolicy.EXPLICIT))
    for _ in range(30):
        await js.publish(f"{stream.lower()}.a", b"{}")
    sub = await js.pull_subscribe_bind("w", stream=stream)
    msgs = await sub.fetch(10, timeout=2)
    for m in msgs[1:6]:
        await m.ack()
    await nc.flush()
    board = await Board.watch(nc, stream, reconcile_interval=None)
    try:
        for m in msgs[6:]:
            await m.ack()
        await msgs[0].ack()
        await nc.flush()
        assert (await check_not_ahead(board, js, stream)) == 1
        snap = await board.settle()
        truth = await jsz_numbers(server, stream)
        assert {k: snap["w"][k] for k in KEYS} == truth["w"]
        assert snap["w"]["ack_floor"] == 10
    finally:
        await board.close()
        await js.delete_stream(stream)
