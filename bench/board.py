"""How much does watching cost? Fan-out consume throughput with and without the live board, the
frames it sends and their bytes.

Run: ``.venv/bin/python bench/board.py`` (about 1-2 minutes; ``--messages`` to change the size).
Prints a markdown table:

* fan-out consume throughput (3 durable pull consumers, fetch(100) + ack, one client, as in a
  notebook) without the board and with it watching the same client, side by side, and the
  ratio: once with the default ``detail_limit`` (the board switches to overload mode, consumer
  info twice a second, when the wiretap sees more events a second than that) and once with
  ``detail_limit=None`` (every delivery and ack observed however fast);
* frames sent to the browser per second while consuming, and at about 100 and 10,000
  messages a second (the goal: at most 10);
* bytes sent per second with 10 and with 1,000 consumers on the stream while messages flow:
  the JSON size of every frame actually sent (``widget.draw`` is wrapped to measure them);
* the cost of building one frame with 100,000 messages in the stream and with 1,000 consumers.

Goal (issue 7): ratio >= 0.95, at most 10 frames a second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig

import fanout_kit
from fanout_kit import view
from fanout_kit.board import DETAIL_LIMIT, Board

CONSUMERS = ("analytics", "audit", "billing")


def note(what: str) -> None:
    """Progress on stderr (the table goes to stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {what}", file=sys.stderr, flush=True)


async def fill(js: Any, subject: str, n: int) -> None:
    for start in range(0, n, 2000):
        acks = [await js.publish_async(subject, b'{"n":1}') for _ in range(min(2000, n - start))]
        await asyncio.gather(*acks)


async def consume_all(js: Any, stream: str, names: list[str], per_consumer: int) -> None:
    async def one(name: str) -> None:
        sub = await js.pull_subscribe_bind(name, stream=stream)
        got = 0
        while got < per_consumer:
            for m in await sub.fetch(100, timeout=5):
                await m.ack()
                got += 1
        await sub.unsubscribe()

    await asyncio.gather(*(one(n) for n in names))


def measure_frames(board: Board) -> list[tuple[float, int]]:
    """Wrap the board's widget so every frame sent is timed and its JSON size counted."""
    sent: list[tuple[float, int]] = []
    draw = board.widget.draw

    def counting(frame: dict[str, Any]) -> None:
        sent.append((time.perf_counter(), len(json.dumps(frame, separators=(",", ":")))))
        draw(frame)

    board.widget.draw = counting  # type: ignore[method-assign]
    return sent


async def fanout_run(
    nc: Any, stream: str, n: int, run: int, with_board: bool, limit: float | None = DETAIL_LIMIT
) -> dict[str, Any]:
    js = nc.jetstream()
    names = [f"{c}{run}" for c in CONSUMERS]
    for name in names:
        await js.add_consumer(
            stream, ConsumerConfig(durable_name=name, ack_policy=AckPolicy.EXPLICIT)
        )
    board = await Board.watch(nc, stream, detail_limit=limit) if with_board else None
    sent = measure_frames(board) if board else []
    cpu0, t0 = time.process_time(), time.perf_counter()
    await consume_all(js, stream, names, n)
    await nc.flush()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    result = {
        "rate": n * len(names) / elapsed,
        "cpu": cpu,
        "frames_per_s": len(sent) / elapsed,
        "mode": board.mode if board else "-",
        "switches": board.mode_switches if board else 0,
        "api_calls": board.api_calls if board else 0,
    }
    if board:
        await board.settle()
        await board.close()
    for name in names:
        await js.delete_consumer(stream, name)
    return result


async def paced(nc: Any, stream: str, rate: int, seconds: float, consumers: int) -> dict[str, Any]:
    """Publish at ``rate`` msgs/s with ``consumers`` new durables on the stream (one worker on
    the first), board attached: frames and bytes a second."""
    js = nc.jetstream()
    names = [f"p{rate}-{consumers}-{i:04d}" for i in range(consumers)]
    for name in names:  # only new messages: the backlog left by the runs above is not `rate`
        await js.add_consumer(
            stream,
            ConsumerConfig(
                durable_name=name, ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.NEW
            ),
        )
    board = await Board.watch(nc, stream)
    worker = await board.attach_worker(names[0], batch=100)
    sent = measure_frames(board)
    subject, tick = f"{stream.lower()}.paced", 0.01
    per_tick = max(1, round(rate * tick))
    t0 = next_at = time.perf_counter()
    published = overload_ticks = 0
    ticks0 = seen = board.ticks
    while time.perf_counter() - t0 < seconds:
        if board.ticks != seen:
            seen = board.ticks
            overload_ticks += board.mode == "overload"
        acks = [await js.publish_async(subject, b"{}") for _ in range(per_tick)]
        await asyncio.gather(*acks)
        published += per_tick
        next_at += tick
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    elapsed = time.perf_counter() - t0
    result = {
        "achieved": published / elapsed,
        "frames_per_s": len(sent) / elapsed,
        "bytes_per_s": sum(size for _, size in sent) / elapsed,
        "largest": max((size for _, size in sent), default=0),
        "overload_share": overload_ticks / max(1, board.ticks - ticks0),
        "lanes": len(board.widget.frame.get("lanes", [])),
        "hidden": board.widget.frame.get("hidden_lanes", 0),
    }
    await worker.stop()
    await board.close()
    for name in names:
        await js.delete_consumer(stream, name)
    return result


async def draw_cost(nc: Any, stream: str, consumers: int) -> float:
    """Seconds to build one frame with the stream as it is and ``consumers`` durables."""
    js = nc.jetstream()
    names = [f"cost{i:04d}" for i in range(consumers)]
    for name in names:
        await js.add_consumer(
            stream, ConsumerConfig(durable_name=name, ack_policy=AckPolicy.EXPLICIT)
        )
    await consume_all(js, stream, names[:2], 500)
    board = await Board.watch(nc, stream, reconcile_interval=None)
    t0 = time.perf_counter()
    for _ in range(20):
        view.build_frame(board.model, board.status(), capacity=400, with_legend=False)
    cost = (time.perf_counter() - t0) / 20
    await board.close()
    for name in names:
        await js.delete_consumer(stream, name)
    return cost


async def main(n: int) -> None:
    server = await fanout_kit.start_server()
    nc = await fanout_kit.connect(server.url)
    js = nc.jetstream()
    stream = "BENCH"
    await js.add_stream(StreamConfig(name=stream, subjects=["bench.>"]))
    await fill(js, "bench.events", n)
    runs: dict[str, list[dict[str, Any]]] = {"off": [], "on": [], "detail": []}
    plan: list[tuple[str, float | None]] = [("off", None), ("on", DETAIL_LIMIT), ("detail", None)]
    for run, (kind, limit) in enumerate(plan * 5):
        note(f"fan-out run {run}: board {kind}")
        runs[kind].append(await fanout_run(nc, stream, n, run, kind != "off", limit))
    note("paced runs")
    slow = await paced(nc, stream, 100, 3.0, 10)
    fast = await paced(nc, stream, 10_000, 3.0, 10)
    few = await paced(nc, stream, 1_000, 5.0, 10)
    many = await paced(nc, stream, 1_000, 5.0, 999)
    note("draw cost")
    await fill(js, "bench.events", max(0, 100_000 - (await js.stream_info(stream)).state.messages))
    cost_3 = await draw_cost(nc, stream, 3)
    cost_1000 = await draw_cost(nc, stream, 999)
    await nc.close()
    await server.stop()

    def best(results: list[dict[str, Any]]) -> dict[str, Any]:
        return max(results, key=lambda r: r["rate"])

    off, on, detail = best(runs["off"]), best(runs["on"]), best(runs["detail"])

    def mode(r: dict[str, Any]) -> str:
        return f"{r['mode']}, {r['switches']} switch(es), {r['api_calls']} API calls"

    def where(r: dict[str, Any]) -> str:
        share = r["overload_share"]
        return "detail" if share == 0 else f"overload {share:.0%} of the ticks"

    def traffic(r: dict[str, Any]) -> str:
        return (
            f"{r['frames_per_s']:.1f} frames/s, {r['bytes_per_s'] / 1000:,.1f} kB/s "
            f"(largest frame {r['largest'] / 1000:,.1f} kB; {r['lanes']} lanes drawn, "
            f"{r['hidden']} counted; {where(r)})"
        )

    limit = f"detail_limit={DETAIL_LIMIT:,}/s"
    print(f"Fan-out: {len(CONSUMERS)} durable pull consumers x {n:,} messages, one client.\n")
    print(f"| measure | without board | board, {limit} | board, detail_limit=None |")
    print("|---|---:|---:|---:|")
    print(
        f"| consume throughput (deliveries/s) | {off['rate']:,.0f} | {on['rate']:,.0f} "
        f"| {detail['rate']:,.0f} |"
    )
    print(
        f"| ratio with/without (goal >= 0.95) | 1.00x | {on['rate'] / off['rate']:.2f}x "
        f"| {detail['rate'] / off['rate']:.2f}x |"
    )
    print(f"| board mode at the end of the run | - | {mode(on)} | {mode(detail)} |")
    print(
        f"| process CPU (s) for the same work | {off['cpu']:.2f} | {on['cpu']:.2f} "
        f"| {detail['cpu']:.2f} |"
    )
    print(
        f"| frames sent/s while consuming | - | {on['frames_per_s']:.1f} "
        f"| {detail['frames_per_s']:.1f} |"
    )
    print()
    print("| board attached while messages flow | frames and bytes sent to the browser |")
    print("|---|---|")
    print(f"| ~100 msg/s, 10 consumers (achieved {slow['achieved']:,.0f}) | {traffic(slow)} |")
    print(f"| ~10,000 msg/s, 10 consumers (achieved {fast['achieved']:,.0f}) | {traffic(fast)} |")
    print(f"| ~1,000 msg/s, 10 consumers (achieved {few['achieved']:,.0f}) | {traffic(few)} |")
    print(f"| ~1,000 msg/s, 1,000 consumers (achieved {many['achieved']:,.0f}) | {traffic(many)} |")
    print(
        f"| one frame, 100,000 messages, 400 cells, 3 / 1,000 consumers | "
        f"{cost_3 * 1000:.2f} ms / {cost_1000 * 1000:.2f} ms |"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000, help="messages per consumer")
    asyncio.run(main(parser.parse_args().messages))
