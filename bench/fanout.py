"""Fan-out benchmark: the kit's ``drain`` vs the same fetch-and-ack loop in raw nats-py.

    .venv/bin/python bench/fanout.py [--events 5000] [--consumers 3] [--rounds 15]

One stream holds the demo events. Each run creates fresh durable pull consumers (untimed),
then drains all of them concurrently, every message acked: the kit side with
``drain(js, stream, durable)``, the raw side with ``js.pull_subscribe_bind`` +
``fetch(100)`` + ``msg.ack()`` until the last message's metadata says nothing is pending (the
seed's "use message metadata" advice), then a flush. Both use batches of 100. The kit does a
little more: one ``consumer_info`` round trip first (so an empty consumer returns at once
instead of waiting out a fetch timeout) and it keeps each message's subject and ack subject
for its report. Rounds alternate which side goes first. Prints a markdown table of median
deliveries per second (messages x consumers / seconds) and the kit/raw ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from nats.aio.client import Client
from nats.js import JetStreamContext

import fanout_kit
from fanout_kit.consume import drain
from fanout_kit.events import demo_events, publish_events
from fanout_kit.topology import ensure_stream, reset_streams

STREAM = "BENCH_FANOUT"
BATCH = 100


async def raw_drain(nc: Client, js: JetStreamContext, durable: str) -> int:
    """The by-hand loop: fetch, ack, stop when the last message's metadata says 0 pending."""
    sub = await js.pull_subscribe_bind(durable=durable, stream=STREAM)
    got = 0
    while True:
        msgs = await sub.fetch(BATCH, timeout=5)
        for msg in msgs:
            await msg.ack()
        got += len(msgs)
        if msgs[-1].metadata.num_pending == 0:
            break
    await nc.flush()
    await sub.unsubscribe()
    return got


async def kit_drain(js: JetStreamContext, durable: str) -> int:
    report = await drain(js, STREAM, durable, batch=BATCH)
    return report.count


async def one_run(
    nc: Client, js: JetStreamContext, side: str, tag: str, consumers: int, total: int
) -> float:
    names = [f"{side}-{tag}-{i}" for i in range(consumers)]
    for name in names:
        await js.add_consumer(
            STREAM, durable_name=name, deliver_policy="all", ack_policy="explicit"
        )
    t0 = time.perf_counter()
    if side == "kit":
        counts = await asyncio.gather(*(kit_drain(js, n) for n in names))
    else:
        counts = await asyncio.gather(*(raw_drain(nc, js, n) for n in names))
    elapsed = time.perf_counter() - t0
    assert counts == [total] * consumers, counts
    for name in names:
        await js.delete_consumer(STREAM, name)
    return total * consumers / elapsed


async def main(n_events: int, consumers: int, rounds: int) -> None:
    async with await fanout_kit.start_server() as server:
        nc = await fanout_kit.connect(server.url)
        js = nc.jetstream()
        await reset_streams(js, STREAM)
        await ensure_stream(js, STREAM, "events.>")
        await publish_events(js, demo_events(n_events))
        await one_run(nc, js, "kit", "warm", 1, n_events)  # warm up both paths
        await one_run(nc, js, "raw", "warm", 1, n_events)
        rates: dict[str, list[float]] = {"kit": [], "raw": []}
        t_start = time.perf_counter()
        for r in range(rounds):
            order = ("kit", "raw") if r % 2 == 0 else ("raw", "kit")
            for side in order:
                rates[side].append(await one_run(nc, js, side, str(r), consumers, n_events))
        total = time.perf_counter() - t_start
        await nc.close()

    kit, raw = statistics.median(rates["kit"]), statistics.median(rates["raw"])
    print(
        f"{n_events} messages x {consumers} durable consumers drained concurrently per run, "
        f"{rounds} rounds alternating, fetch batch {BATCH}, every message acked, "
        f"nats-server {server.version}; {total:.1f} s\n"
    )
    print("| consumer side | median deliveries/s | min | max |")
    print("|---|---|---|---|")
    for side, label in (
        ("kit", "kit: `await drain(js, stream, durable)`"),
        ("raw", "raw: `pull_subscribe_bind` + `fetch(100)` + `ack()`"),
    ):
        v = rates[side]
        print(f"| {label} | {statistics.median(v):,.0f} | {min(v):,.0f} | {max(v):,.0f} |")
    paired = statistics.median(k / r for k, r in zip(rates["kit"], rates["raw"], strict=True))
    print(
        f"\nkit/raw: **{kit / raw:.2f}x** (ratio of medians; median of per-round ratios "
        f"{paired:.2f}x; goal >= 0.95x)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--consumers", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.consumers, args.rounds))
