"""How much does watching cost? Fan-out consume throughput with and without the live board.

Run: ``.venv/bin/python bench/board.py`` (about 40-60 s; ``--messages`` to change the size).
Prints a markdown table:

* fan-out consume throughput (3 durable pull consumers, fetch(100) + ack, one client, as in a
  notebook) without the board and with it watching the same client, and the ratio: once with
  the default ``detail_limit`` (the board switches to overload mode, consumer info twice a
  second, when the wiretap sees more events a second than that) and once with
  ``detail_limit=None`` (every delivery and ack observed however fast), so the trade-off shows;
* the mode the board ended the run in, its mode switches and API calls;
* the process CPU time for the same work, and the board's share of it;
* widget state sends per second while messages flow at about 100 and 10,000 a second, and the
  mode the board was in at each rate;
* the cost of one draw at 100,000 messages in the stream.

Goal (issue 4): ratio >= 0.9, at most 10 sends a second.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig

import fanout_kit
from fanout_kit.board import DETAIL_LIMIT, Board

CONSUMERS = ("analytics", "audit", "billing")


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
    cpu0, t0 = time.process_time(), time.perf_counter()
    sends0 = board.sends if board else 0
    await consume_all(js, stream, names, n)
    await nc.flush()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    result = {
        "rate": n * len(names) / elapsed,
        "cpu": cpu,
        "elapsed": elapsed,
        "sends_per_s": ((board.sends - sends0) / elapsed) if board else 0.0,
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


async def paced_run(nc: Any, stream: str, rate: int, seconds: float) -> dict[str, Any]:
    """Publish at ``rate`` msgs/s with one worker consuming, board attached: sends per second."""
    js = nc.jetstream()
    name = f"paced{rate}"
    # Only new messages: the backlog left by the runs above would be a burst, not ``rate``.
    await js.add_consumer(
        stream,
        ConsumerConfig(
            durable_name=name, ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.NEW
        ),
    )
    board = await Board.watch(nc, stream)
    worker = await board.attach_worker(name, batch=100)
    subject = f"{stream.lower()}.paced"
    tick = 0.01
    per_tick = max(1, round(rate * tick))
    sends0, ticks0, t0 = board.sends, board.ticks, time.perf_counter()
    sent = 0
    next_at = t0
    overload_ticks = ticks_seen = 0
    while time.perf_counter() - t0 < seconds:
        if board.ticks != ticks_seen:
            ticks_seen = board.ticks
            overload_ticks += board.mode == "overload"
        if rate >= 1000:
            acks = [await js.publish_async(subject, b"{}") for _ in range(per_tick)]
            await asyncio.gather(*acks)
            sent += per_tick
            next_at += tick
        else:
            await js.publish(subject, b"{}")
            sent += 1
            next_at += 1 / rate
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    elapsed = time.perf_counter() - t0
    result = {
        "achieved": sent / elapsed,
        "sends_per_s": (board.sends - sends0) / elapsed,
        "ticks_per_s": (board.ticks - ticks0) / elapsed,
        "overload_share": overload_ticks / max(1, board.ticks - ticks0),
        "switches": board.mode_switches,
    }
    await worker.stop()
    await board.close()
    await js.delete_consumer(stream, name)
    return result


async def draw_cost(nc: Any, stream: str) -> float:
    """Seconds per draw with 100,000 messages and three consumers part way through."""
    js = nc.jetstream()
    for name in CONSUMERS:
        await js.add_consumer(
            stream, ConsumerConfig(durable_name=name, ack_policy=AckPolicy.EXPLICIT)
        )
    await consume_all(js, stream, list(CONSUMERS[:2]), 500)
    board = await Board.watch(nc, stream, reconcile_interval=None)
    assert len(board.consumers) == len(CONSUMERS)
    t0 = time.perf_counter()
    for _ in range(20):
        board.render_html()
    cost = (time.perf_counter() - t0) / 20
    await board.close()
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
    for run, (kind, limit) in enumerate(plan + plan):
        runs[kind].append(await fanout_run(nc, stream, n, run, kind != "off", limit))
    slow = await paced_run(nc, stream, 100, 3.0)
    fast = await paced_run(nc, stream, 10_000, 3.0)
    await fill(js, "bench.events", max(0, 100_000 - (await js.stream_info(stream)).state.messages))
    per_draw = await draw_cost(nc, stream)
    await nc.close()
    await server.stop()

    def best(results: list[dict[str, Any]]) -> dict[str, Any]:
        return max(results, key=lambda r: r["rate"])

    off, on, detail = best(runs["off"]), best(runs["on"]), best(runs["detail"])

    def share(r: dict[str, Any]) -> str:
        return f"{max(0.0, r['cpu'] - off['cpu']) / r['cpu']:.0%}"

    def mode(r: dict[str, Any]) -> str:
        return f"{r['mode']}, {r['switches']} switch(es), {r['api_calls']} API calls"

    def paced(r: dict[str, Any]) -> str:
        share = r["overload_share"]
        where = "detail" if share == 0 else f"overload {share:.0%} of the ticks"
        return f"{r['sends_per_s']:.1f} ({where})"

    limit = f"detail_limit={DETAIL_LIMIT:,}/s"
    print(f"Fan-out: {len(CONSUMERS)} durable pull consumers x {n:,} messages, one client.\n")
    print(f"| measure | without board | board, {limit} | board, detail_limit=None |")
    print("|---|---:|---:|---:|")
    print(
        f"| consume throughput (deliveries/s) | {off['rate']:,.0f} | {on['rate']:,.0f} "
        f"| {detail['rate']:,.0f} |"
    )
    print(
        f"| ratio with/without (goal >= 0.9) | 1.00x | {on['rate'] / off['rate']:.2f}x "
        f"| {detail['rate'] / off['rate']:.2f}x |"
    )
    print(f"| board mode at the end of the run | - | {mode(on)} | {mode(detail)} |")
    print(
        f"| process CPU (s) for the same work | {off['cpu']:.2f} | {on['cpu']:.2f} "
        f"| {detail['cpu']:.2f} |"
    )
    print(f"| board's share of the process CPU for that work | - | {share(on)} | {share(detail)} |")
    print(
        f"| widget state sends/s while consuming | - | {on['sends_per_s']:.1f} "
        f"| {detail['sends_per_s']:.1f} |"
    )
    print(
        f"| widget state sends/s at ~100 msg/s (achieved {slow['achieved']:,.0f}) "
        f"| - | {paced(slow)} | - |"
    )
    print(
        f"| widget state sends/s at ~10,000 msg/s (achieved {fast['achieved']:,.0f}) "
        f"| - | {paced(fast)} | - |"
    )
    print(f"| one draw with 100,000 messages in the stream (ms) | - | {per_draw * 1000:.2f} | - |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000, help="messages per consumer")
    asyncio.run(main(parser.parse_args().messages))
