"""The board on a clustered stream: its leader and replicas in the header, "no leader:
publishes fail" while a SIGKILLed leader is replaced, and exact again after ``settle()``."""

from __future__ import annotations

from typing import Any

import pytest
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

import fanout_kit
from fanout_kit.board import Board
from fanout_kit.cluster import Cluster, start_cluster

from .conftest import async_wait_until
from .test_board import KEYS, server_numbers

pytestmark = pytest.mark.timeout(300)

ELECTION = 60.0  # a deadline, not a threshold: an election takes ~6 s, longer on a busy machine


def head(board: Board) -> dict[str, Any]:
    cluster: dict[str, Any] = board.widget.frame["head"]["cluster"]
    return cluster


def no_leader_banner(board: Board) -> bool:
    return any(b.startswith("No leader: publishes fail") for b in board.status().banners)


async def publish_when_led(js: Any, n: int, start: int) -> None:
    """Publish ``n`` messages, each retried until the stream (with a leader) acks it."""
    for i in range(start, start + n):
        for _ in range(200):
            try:
                await js.publish(f"r3.{'odd' if i % 2 else 'even'}", str(i).encode(), timeout=1)
                break
            except Exception:  # no leader yet (no response, timeout): it will come
                continue
        else:
            raise AssertionError(f"publish {i} never acked")


async def board_client(cluster: Cluster, first: str) -> Client:
    """A client on node ``first`` that knows every node (so it fails over)."""
    urls = [cluster.nodes[first].url, *(s.url for n, s in cluster.nodes.items() if n != first)]
    return await fanout_kit.connect(",".join(urls), dont_randomize=True)


async def test_the_board_shows_the_leader_says_no_leader_and_survives_a_failover() -> None:
    async with start_cluster(3, name="fk-board-failover") as cluster:
        nc = await fanout_kit.connect(cluster.urls)
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="R3", subjects=["r3.>"], num_replicas=3))
        await js.add_consumer(
            "R3", ConsumerConfig(durable_name="all", ack_policy=AckPolicy.EXPLICIT)
        )
        await js.add_consumer(
            "R3",
            ConsumerConfig(
                durable_name="odd", ack_policy=AckPolicy.EXPLICIT, filter_subject="r3.odd"
            ),
        )
        leader = await cluster.leader("R3")
        # The board's client sits on the node about to be killed: it has to fail over too.
        bnc = await board_client(cluster, leader)
        board = await Board.watch(bnc, "R3", reconcile_interval=None)
        worker = None
        try:
            await publish_when_led(js, 6, 0)
            worker = await board.attach_worker("all", batch=2)
            assert worker.url.count(",") == 2, "the board's worker knows every node"
            await async_wait_until(lambda: worker.acked == 6, what="worker caught up")
            await board.settle()
            followers = sorted(n for n in cluster.nodes if n != leader)
            await async_wait_until(
                lambda: (
                    head(board)["leader"] == leader
                    and sorted(r["name"] for r in head(board)["replicas"]) == followers
                    and all(r["current"] for r in head(board)["replicas"])
                ),
                timeout=ELECTION,
                what="header: the leader and both followers current",
            )
            assert not no_leader_banner(board)

            cluster.kill(leader)
            # The board says so while the replicas elect a new leader ...
            await async_wait_until(
                lambda: head(board)["leader"] is None and no_leader_banner(board),
                timeout=ELECTION,
                what="'no leader: publishes fail' drawn",
            )
            assert any(
                b.startswith("No leader") for b in board.widget.frame["status"]["banners"]
            ), "the banner is in the frame the browser draws"
            # ... and names the new one once there is one (publishes work again).
            await async_wait_until(
                lambda: head(board)["leader"] in followers and not no_leader_banner(board),
                timeout=ELECTION,
                what="the new leader drawn, the banner gone",
            )
            successor = head(board)["leader"]
            assert successor == await cluster.leader("R3")
            killed = next(r for r in head(board)["replicas"] if r["name"] == leader)
            assert not killed["current"], "the killed node is shown not current"
            assert board.feed.connection == "connected" and board.nc.is_connected
            assert cluster.node_of(bnc) != leader, "the board's client failed over"

            await publish_when_led(js, 6, 6)
            await async_wait_until(lambda: worker.acked >= 12, ELECTION, "the worker resumed")
            snap = await board.settle(timeout=30)
            for name in ("all", "odd"):
                got = {k: snap[name][k] for k in KEYS}
                assert got == await server_numbers(js, "R3", name), name
            cells = board.cells()
            assert set(cells["odd"].values()) <= {"not matching the filter", "not yet delivered"}
            assert all(
                (w == "not matching the filter") == (s % 2 == 1)  # seq s carries i = s - 1
                for s, w in cells["odd"].items()
            )

            await cluster.restart(leader)
            await async_wait_until(
                lambda: all(r["current"] for r in head(board)["replicas"]),
                timeout=ELECTION,
                what="the restarted node current again",
            )
        finally:
            if worker is not None:
                await worker.stop()
            await board.close()
            await bnc.close()
            await nc.close()
