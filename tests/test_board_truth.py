"""Every drawn cell tells the truth: after ``settle()`` the board equals what independent clients
did and what the server stores (the oracle in ``board_oracle.py`` uses none of the board's code).

Scenarios: a board started after all traffic (filters, deliver-new, start-sequence and
start-time consumers, AckNone); a board watching live (a nak redelivered and acked within one
frame, a term, max deliveries, work sharing: two clients on one durable); interest retention
removal with a consumer deleted and recreated; limits removal (max_msgs) with a consumer far
behind; seeded random scenarios (ack, nak, term, skip, a client killed mid-batch, overload mode
switches) that also check the board is never ahead of the server.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    RetentionPolicy,
    StreamConfig,
)

import fanout_kit
from fanout_kit.board import DETAIL_LIMIT, Board
from fanout_kit.server import NatsServer, get_json

from . import board_oracle as oracle
from .conftest import async_wait_until

KEYS = ("delivered", "ack_floor", "num_pending", "num_ack_pending", "num_redelivered")
SUBJECTS = ("order.created", "user.updated", "auth.login")


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


async def check_cells(
    board: Board,
    js: Any,
    stream: str,
    record: oracle.Record,
    *,
    watched: bool,
    expiry: bool = False,
) -> dict[str, dict[int, str]]:
    """board.cells() against the oracle; the window must end at the stream's last message."""
    cells = board.cells()
    info = await js.stream_info(stream)
    seqs = sorted(cells[""])
    assert seqs and seqs[-1] == info.state.last_seq, "the newest message is drawn"
    subjects = await oracle.server_facts(js, stream, seqs[0], seqs[-1])
    assert cells[""] == {
        s: oracle.REMOVED if subj is None else oracle.STORED for s, subj in subjects.items()
    }
    truths = {
        name: oracle.expected(record, name, await js.consumer_info(stream, name), subjects)
        for name in cells
        if name
    }
    wrong = oracle.compare(cells, truths, watched=watched, expiry=expiry)
    assert not wrong, "\n".join(wrong)
    return cells


async def check_numbers(board: Board, server: NatsServer, stream: str) -> None:
    snap = board.snapshot()
    truth = await jsz_numbers(server, stream)
    assert {n: {k: v[k] for k in KEYS} for n, v in snap.items()} == truth


@pytest.fixture
async def clients(server: NatsServer) -> AsyncIterator[list[Client]]:
    """Independent nats-py connections (the board watches through another one)."""
    conns = [await fanout_kit.connect(server.url, name=f"truth-{i}") for i in range(3)]
    yield conns
    for c in conns:
        await c.close()


def new_stream_name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}".upper()


async def fetch(sub: Any, n: int, timeout: float = 2.0) -> list[Any]:
    try:
        return await sub.fetch(n, timeout=timeout)
    except TimeoutError:
        return []


async def test_watch_after_the_fact(server: NatsServer, nc: Client, clients: list[Client]) -> None:
    """Everything happened before the board existed: filters, starts and AckNone come from
    the server, and in-between cells are only "unknown" where the server cannot tell."""
    js = clients[0].jetstream()
    name = new_stream_name("LATE")
    p = name.lower()
    await js.add_stream(StreamConfig(name=name, subjects=[f"{p}.>"]))
    record = oracle.Record()
    cfg = {"ack_policy": AckPolicy.EXPLICIT}
    await js.add_consumer(name, ConsumerConfig(durable_name="all", **cfg))
    await js.add_consumer(
        name, ConsumerConfig(durable_name="orders", filter_subject=f"{p}.order.>", **cfg)
    )
    await js.add_consumer(
        name,
        ConsumerConfig(durable_name="multi", filter_subjects=[f"{p}.user.>", f"{p}.auth.>"], **cfg),
    )
    await js.add_consumer(name, ConsumerConfig(durable_name="noack", ack_policy=AckPolicy.NONE))
    for i in range(10):
        await js.publish(f"{p}.{SUBJECTS[i % 3]}", b"{}")
    await js.add_consumer(
        name, ConsumerConfig(durable_name="new", deliver_policy=DeliverPolicy.NEW, **cfg)
    )
    record.starts["new"] = 11
    for i in range(10, 30):
        await js.publish(f"{p}.{SUBJECTS[i % 3]}", b"{}")
    await js.add_consumer(
        name,
        ConsumerConfig(
            durable_name="fromseq",
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=15,
            **cfg,
        ),
    )
    record.starts["fromseq"] = 15
    since = (await js.get_msg(name, 20)).time
    await js.add_consumer(
        name,
        ConsumerConfig(
            durable_name="since",
            deliver_policy=DeliverPolicy.BY_START_TIME,
            opt_start_time=since,
            **cfg,
        ),
    )
    record.starts["since"] = 20
    await js.add_consumer(
        name, ConsumerConfig(durable_name="fresh", deliver_policy=DeliverPolicy.NEW, **cfg)
    )
    record.starts["fresh"] = 31

    async def take(consumer: str, n: int, actions: dict[int, str | None]) -> None:
        sub = await js.pull_subscribe_bind(consumer, stream=name)
        for i, m in enumerate(await fetch(sub, n)):
            await record.msg(consumer, m, actions.get(i, "ack"))
        await sub.unsubscribe()

    await take("all", 20, {8: None, 9: None, 14: None})  # seqs 9, 10, 15 stay in flight
    await take("orders", 10, {})
    await take("multi", 5, dict.fromkeys(range(5)))  # all five in flight
    await take("noack", 7, dict.fromkeys(range(7)))
    await take("new", 5, {1: None})
    await take("fromseq", 3, {2: None})
    await take("since", 4, {})
    await clients[0].flush()

    board = await Board.watch(nc, name, reconcile_interval=None)
    try:
        await board.settle()
        await check_numbers(board, server, name)
        cells = await check_cells(board, js, name, record, watched=False)
        assert set(cells["fresh"].values()) == {oracle.BEFORE}
        assert [cells["new"][s] for s in (10, 11, 12)] == [
            oracle.BEFORE,
            oracle.ACKED,
            oracle.IN_FLIGHT,
        ]
        assert cells["fromseq"][14] == oracle.BEFORE and cells["since"][19] == oracle.BEFORE
        assert set(cells["noack"][s] for s in range(1, 8)) == {oracle.DELIVERED}
        assert set(cells["multi"].values()) <= {
            oracle.FILTERED,
            oracle.IN_FLIGHT,
            oracle.UNDELIVERED,
        }
        assert cells["all"][9] == oracle.IN_FLIGHT, "first above the floor: in flight"
        unknown = [s for s, w in cells["all"].items() if w == oracle.UNKNOWN]
        assert unknown == [10, *range(11, 21)], "only where the server cannot tell"
    finally:
        await board.close()
        await js.delete_stream(name)


async def test_watching_live_nak_term_max_deliveries_and_work_sharing(
    server: NatsServer, nc: Client, clients: list[Client]
) -> None:
    js = clients[0].jetstream()
    name = new_stream_name("LIVE")
    p = name.lower()
    await js.add_stream(StreamConfig(name=name, subjects=[f"{p}.>"]))
    cfg = {"ack_policy": AckPolicy.EXPLICIT}
    await js.add_consumer(name, ConsumerConfig(durable_name="a", **cfg))
    await js.add_consumer(
        name, ConsumerConfig(durable_name="b", filter_subject=f"{p}.order.>", **cfg)
    )
    await js.add_consumer(name, ConsumerConfig(durable_name="ws", **cfg))
    await js.add_consumer(name, ConsumerConfig(durable_name="md", max_deliver=2, **cfg))
    board = await Board.watch(nc, name, reconcile_interval=None, detail_limit=None)
    record = oracle.Record()
    try:
        for i in range(40):
            await js.publish(f"{p}.{SUBJECTS[i % 3]}", b"{}")
        a = await js.pull_subscribe_bind("a", stream=name)
        first = await fetch(a, 10)
        for i, m in enumerate(first):
            await record.msg("a", m, "nak" if i == 2 else "ack")
        # The nak, its redelivery and the ack, within a frame or so (no tick awaited). The
        # server takes the nak in its own time: ack what it hands out before the redelivery.
        while True:
            (m,) = await fetch(a, 1)
            await record.msg("a", m, "ack")
            if m.metadata.sequence.stream == 3:
                assert m.metadata.num_delivered == 2
                break
        b = await js.pull_subscribe_bind("b", stream=name)
        for i, m in enumerate(await fetch(b, 5)):
            await record.msg("b", m, "term" if i == 1 else "ack")
        one = await clients[1].jetstream().pull_subscribe_bind("ws", stream=name)
        two = await clients[2].jetstream().pull_subscribe_bind("ws", stream=name)
        for _ in range(2):
            for m in await fetch(one, 4):
                await record.msg("ws", m, "ack")
            for m in await fetch(two, 4):
                await record.msg("ws", m, None)  # the second worker holds its messages
        md = await js.pull_subscribe_bind("md", stream=name)
        (m,) = await fetch(md, 1)
        assert (m.metadata.sequence.stream, m.metadata.num_delivered) == (1, 1)
        await record.msg("md", m, "nak")
        while True:  # the server takes the nak in its own time: ack what comes before it
            (m,) = await fetch(md, 1)
            if m.metadata.sequence.stream == 1:
                assert m.metadata.num_delivered == 2
                await record.msg("md", m, "nak")  # the second delivery: max_deliver reached
                break
            await record.msg("md", m, "ack")
        record.exhausted.add(("md", 1))
        # The server gives up on 1 when it next tries to deliver: pull until it has.
        deadline = time.monotonic() + 10
        while (await js.consumer_info(name, "md")).num_ack_pending:
            assert time.monotonic() < deadline, "the server never gave up on seq 1"
            for m in await fetch(md, 1, timeout=0.5):
                assert m.metadata.sequence.stream != 1, "no third delivery of 1"
                await record.msg("md", m, "ack")
            await clients[0].flush()
        for c in clients:
            await c.flush()
        await board.settle()
        await check_numbers(board, server, name)
        await check_cells(board, js, name, record, watched=True)
        lanes = {x["name"]: x for x in board.widget.frame["lanes"]}
        assert [3, 2] in lanes["a"]["marks"] and lanes["a"]["cells"][2] == "A"
        assert board.mode_switches == 0
    finally:
        await board.close()
        await js.delete_stream(name)


async def test_interest_removal_and_a_consumer_deleted_and_recreated(
    server: NatsServer, nc: Client, clients: list[Client]
) -> None:
    js = clients[0].jetstream()
    name = new_stream_name("INT")
    await js.add_stream(
        StreamConfig(name=name, subjects=["ntf.>"], retention=RetentionPolicy.INTEREST)
    )
    cfg = {"ack_policy": AckPolicy.EXPLICIT}
    await js.add_consumer(
        name, ConsumerConfig(durable_name="email", filter_subject="ntf.email.>", **cfg)
    )
    await js.add_consumer(
        name, ConsumerConfig(durable_name="push", filter_subject="ntf.push.>", **cfg)
    )
    board = await Board.watch(nc, name, reconcile_interval=None)
    record = oracle.Record()
    try:
        for i in range(12):
            await js.publish(f"ntf.{'email' if i % 2 else 'push'}.u{i}", b"{}")
        email = await js.pull_subscribe_bind("email", stream=name)
        for m in await fetch(email, 10):
            await record.msg("email", m, "ack")
        push = await js.pull_subscribe_bind("push", stream=name)
        for i, m in enumerate(await fetch(push, 3)):
            await record.msg("push", m, "ack" if i < 2 else None)
        await clients[0].flush()
        await board.settle()
        await check_numbers(board, server, name)
        cells = await check_cells(board, js, name, record, watched=True)
        assert cells["email"][2] == oracle.REMOVED, "acked by every interested consumer"
        await push.unsubscribe()
        await js.delete_consumer(name, "push")
        await async_wait_until(
            lambda: any(x["note"] == "deleted" for x in board.widget.frame["lanes"]),
            what="the deleted lane kept and marked",
        )
        await js.add_consumer(
            name,
            ConsumerConfig(
                durable_name="push",
                filter_subject="ntf.push.>",
                deliver_policy=DeliverPolicy.NEW,
                **cfg,
            ),
        )
        record.starts["push"] = (await js.stream_info(name)).state.last_seq + 1
        for key in [k for k in record.seen if k[0] == "push"]:
            del record.seen[key]  # a new consumer: the old one's deliveries are not its own
        await async_wait_until(
            lambda: any(x["note"] == "recreated" for x in board.widget.frame["lanes"]),
            what="the recreated consumer marked",
        )
        await js.publish("ntf.push.late", b"{}")
        await board.settle()
        await check_numbers(board, server, name)
        cells = await check_cells(board, js, name, record, watched=True)
        assert cells["push"][13] == oracle.UNDELIVERED
    finally:
        await board.close()
        await js.delete_stream(name)


async def test_limits_removal_and_a_consumer_far_behind(
    server: NatsServer, nc: Client, clients: list[Client]
) -> None:
    js = clients[0].jetstream()
    name = new_stream_name("LIM")
    await js.add_stream(StreamConfig(name=name, subjects=["lim.>"], max_msgs=50))
    cfg = {"ack_policy": AckPolicy.EXPLICIT}
    await js.add_consumer(name, ConsumerConfig(durable_name="slow", **cfg))
    await js.add_consumer(name, ConsumerConfig(durable_name="quick", **cfg))
    board = await Board.watch(nc, name, reconcile_interval=None, window=20)
    record = oracle.Record()
    try:
        for i in range(120):
            await js.publish(f"lim.{SUBJECTS[i % 3]}", b"{}")
        quick = await js.pull_subscribe_bind("quick", stream=name)
        for m in await fetch(quick, 45):
            await record.msg("quick", m, "ack")
        slow = await js.pull_subscribe_bind("slow", stream=name)
        for m in await fetch(slow, 3):
            await record.msg("slow", m, "ack")
        await clients[0].flush()
        await board.settle()
        await check_numbers(board, server, name)
        cells = await check_cells(board, js, name, record, watched=True)
        assert sorted(cells[""]) == list(range(101, 121))
        slow_lane = next(x for x in board.widget.frame["lanes"] if x["name"] == "slow")
        assert slow_lane["cursor"] == 73 and slow_lane["focus"] is not None
        assert slow_lane["focus"]["lo"] <= 73 < slow_lane["focus"]["lo"] + 20
    finally:
        await board.close()
        await js.delete_stream(name)


# --- seeded random scenarios ---------------------------------------------------------------


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
    """One client connection per consumer, each with a pull subscription."""

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
    stream = new_stream_name(f"T{seed}")
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
        nc, stream, reconcile_interval=reconcile, quiet=0.2, detail_limit=limit, window=200
    )
    fleet = Fleet(server.url, stream)
    record = oracle.Record()
    checks = 0
    redelivered_seen = False
    modes: set[str] = set()

    async def publish(n: int) -> None:
        for _ in range(n):
            await js.publish(f"{p}.{rng.choice(('orders', 'users', 'misc'))}", b"{}")
        last = (await js.stream_info(stream)).state.last_seq
        await async_wait_until(lambda: board.model.last_seq >= last, what="publishes seen")

    try:
        await publish(120)
        killed = False
        for round_no in range(12):
            if round_no == 6:
                await publish(40)
            for name in filters:
                sub = await fleet.sub(name)
                msgs = await fetch(sub, rng.randint(1, 12), timeout=0.3)
                kill_at = (
                    rng.randrange(len(msgs)) if msgs and not killed and round_no == 3 else None
                )
                for i, m in enumerate(msgs):
                    if i == kill_at:
                        for rest in msgs[i:]:
                            await record.msg(name, rest, None)
                        await fleet.kill(name)  # mid-batch: the rest stay unacked
                        killed = True
                        break
                    redelivered_seen = redelivered_seen or m.metadata.num_delivered > 1
                    action = rng.choices(["ack", "nak", "term", None], [12, 1, 1, 1])[0]
                    await record.msg(name, m, action)
            await nc.flush()
            checks += await check_not_ahead(board, js, stream)
            modes.add(board.mode)
        # Ack wait expiry: fetch until a skipped message comes back with a higher count.
        deadline = time.monotonic() + 10
        while not redelivered_seen and time.monotonic() < deadline:
            for name in filters:
                for m in await fetch(await fleet.sub(name), 5, timeout=0.3):
                    redelivered_seen = redelivered_seen or m.metadata.num_delivered > 1
                    await record.msg(name, m, "ack")
            checks += await check_not_ahead(board, js, stream)
        assert redelivered_seen, "an expired ack wait led to a redelivery"
        await fleet.close()  # no waiting pull can take a redelivery now
        switched = board.mode_switches
        await board.settle(timeout=15)
        await check_numbers(board, server, stream)
        # A 1 s ack wait: a message may be redelivered to a fetch its client gave up on.
        await check_cells(board, js, stream, record, watched=switched == 0, expiry=True)
        assert checks >= 36
        if limit is None:
            assert board.mode_switches == 0 and modes == {"detail"}
        elif limit == TINY:
            assert "overload" in modes and switched >= 1
            assert board.mode_switches >= 2 and board.mode == "detail", "settle came back"
    finally:
        await fleet.close()
        await board.close()
        await js.delete_stream(stream)


async def test_settle_is_exact_for_a_board_started_mid_way(
    server: NatsServer, nc: Client, js: Any
) -> None:
    stream = new_stream_name("MID")
    await js.add_stream(StreamConfig(name=stream, subjects=[f"{stream.lower()}.>"]))
    await js.add_consumer(stream, ConsumerConfig(durable_name="w", ack_policy=AckPolicy.EXPLICIT))
    for _ in range(30):
        await js.publish(f"{stream.lower()}.a", b"{}")
    record = oracle.Record()
    sub = await js.pull_subscribe_bind("w", stream=stream)
    msgs = await sub.fetch(10, timeout=2)
    for m in msgs[1:6]:
        await record.msg("w", m, "ack")
    await nc.flush()
    board = await Board.watch(nc, stream, reconcile_interval=None)
    try:
        for m in msgs[6:]:
            await record.msg("w", m, "ack")
        await record.msg("w", msgs[0], "ack")
        await nc.flush()
        assert (await check_not_ahead(board, js, stream)) == 1
        snap = await board.settle()
        assert snap["w"]["ack_floor"] == 10
        await check_numbers(board, server, stream)
        await check_cells(board, js, stream, record, watched=True)
    finally:
        await board.close()
        await js.delete_stream(stream)
        await asyncio.sleep(0)


# --- a second language's client ----------------------------------------------------------

NODE_CLIENT = Path(__file__).parent / "node" / "board_client.cjs"
NODE_MODULES = Path.home() / ".cache" / "fanout-kit-tests" / "node"
"""Where the official Node client (npm ``nats``, v2) is installed for this test, outside the
repository; installed on first use with ``npm install`` (skipped if that is impossible)."""


def node_with_nats() -> dict[str, str]:
    """Environment for running ``node`` with the ``nats`` package; skip the test if the
    machine has no Node.js or the package cannot be installed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js (node and npm) is not installed: no second-language client")
    if not (NODE_MODULES / "node_modules" / "nats").is_dir():
        NODE_MODULES.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [npm, "install", "--prefix", str(NODE_MODULES), "--no-audit", "--no-fund", "nats@2"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            pytest.skip(f"npm could not install the nats package: {done.stderr[-500:]}")
    return {**os.environ, "NODE_PATH": str(NODE_MODULES / "node_modules")}


async def test_a_node_client_publishing_and_acking(server: NatsServer, nc: Client, js: Any) -> None:
    env = node_with_nats()
    name = new_stream_name("NODE")
    p = name.lower()
    await js.add_stream(StreamConfig(name=name, subjects=[f"{p}.>"]))
    await js.add_consumer(name, ConsumerConfig(durable_name="node", ack_policy=AckPolicy.EXPLICIT))
    await js.add_consumer(
        name,
        ConsumerConfig(
            durable_name="orders", filter_subject=f"{p}.order.>", ack_policy=AckPolicy.EXPLICIT
        ),
    )
    board = await Board.watch(nc, name, reconcile_interval=None, detail_limit=None)
    try:
        proc = await asyncio.create_subprocess_exec(
            "node",
            str(NODE_CLIENT),
            server.url,
            name,
            p,
            "node",
            "12",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        assert proc.returncode == 0, err.decode()
        did = json.loads(out)
        assert did["published"] == list(range(1, 13))
        record = oracle.Record()
        for seq, count, action in did["seen"]:
            record.delivered("node", seq, count)
            if action is not None:
                record.acted("node", seq, action)
        await board.settle()
        await check_numbers(board, server, name)
        cells = await check_cells(board, js, name, record, watched=True)
        assert [cells["node"][s] for s in (3, 5, 7)] == [
            oracle.ACKED,
            oracle.TERMINATED,
            oracle.IN_FLIGHT,
        ]
        node_lane = next(x for x in board.widget.frame["lanes"] if x["name"] == "node")
        assert node_lane["marks"] == [[3, 2]], "nak'd by Node, redelivered, acked: a mark"
        assert set(cells["orders"].values()) == {oracle.FILTERED, oracle.UNDELIVERED}
    finally:
        await board.close()
        await js.delete_stream(name)
