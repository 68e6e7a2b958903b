"""Publish benchmark: the kit's ``publish_events`` vs the same publishes in raw nats-py.

    .venv/bin/python bench/publish.py [--events 20000] [--rounds 11]

Both sides send the same pre-built demo events to the same file-storage stream with
``js.publish_async`` and collect every PubAck. Two raw idioms: ``futures = [await
js.publish_async(...)]`` then ``await asyncio.gather(*futures)``, or then ``await
js.publish_async_completed()`` and ``f.result()``; the ratio is against the faster of them.
Rounds alternate which side goes first and the stream is purged (untimed) before each run,
so machine noise and stream size hit both alike. Prints a markdown table of median
throughput and the kit/raw ratio for the README's Performance section.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence

from nats.js import JetStreamContext

import fanout_kit
from fanout_kit.events import Event, demo_events, publish_events
from fanout_kit.topology import ensure_stream

STREAM = "BENCH_PUBLISH"


async def raw_gather(js: JetStreamContext, events: Sequence[Event]) -> int:
    futures = [await js.publish_async(e.subject, e.payload) for e in events]
    acks = await asyncio.gather(*futures)
    return len(acks)


async def raw_completed(js: JetStreamContext, events: Sequence[Event]) -> int:
    futures = [await js.publish_async(e.subject, e.payload) for e in events]
    await js.publish_async_completed()
    acks = [f.result() for f in futures]
    return len(acks)


async def kit_publish(js: JetStreamContext, events: Sequence[Event]) -> int:
    report = await publish_events(js, events)
    return report.count


async def timed(js: JetStreamContext, run: Callable[[], Awaitable[int]], expected: int) -> float:
    await js.purge_stream(STREAM)
    t0 = time.perf_counter()
    count = await run()
    elapsed = time.perf_counter() - t0
    assert count == expected, (count, expected)
    return expected / elapsed


async def main(n_events: int, rounds: int) -> None:
    async with await fanout_kit.start_server() as server:
        nc = await fanout_kit.connect(server.url)
        js = nc.jetstream()
        await ensure_stream(js, STREAM, "events.>")
        events = demo_events(n_events)
        await raw_gather(js, events[:500])  # warm up (the async-reply inbox subscription)
        await kit_publish(js, events[:500])
        runs = {
            "kit": lambda: kit_publish(js, events),
            "gather": lambda: raw_gather(js, events),
            "completed": lambda: raw_completed(js, events),
        }
        rates: dict[str, list[float]] = {side: [] for side in runs}
        t_start = time.perf_counter()
        for r in range(rounds):
            order = list(runs) if r % 2 == 0 else list(runs)[::-1]
            for side in order:
                rates[side].append(await timed(js, runs[side], n_events))
        total = time.perf_counter() - t_start
        await nc.close()

    medians = {side: statistics.median(v) for side, v in rates.items()}
    best = max(("gather", "completed"), key=medians.__getitem__)
    print(
        f"{n_events} demo events per run, {rounds} rounds alternating, file storage, "
        f"nats-server {server.version}; {total:.1f} s\n"
    )
    print("| publisher | median msg/s | min | max |")
    print("|---|---|---|---|")
    for side, label in (
        ("kit", "kit: `await publish_events(js, events)`"),
        ("gather", "raw: `js.publish_async` + `asyncio.gather`"),
        ("completed", "raw: `js.publish_async` + `publish_async_completed()`"),
    ):
        v = rates[side]
        print(f"| {label} | {medians[side]:,.0f} | {min(v):,.0f} | {max(v):,.0f} |")
    paired = statistics.median(k / r for k, r in zip(rates["kit"], rates[best], strict=True))
    print(
        f"\nkit/raw (faster raw idiom, `{best}`): **{medians['kit'] / medians[best]:.2f}x** "
        f"(ratio of medians; median of per-round ratios {paired:.2f}x; goal >= 0.95x)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.rounds))
