"""Startup benchmark: the kit's start_server()+connect() vs nats-server and nats-py by hand.

    .venv/bin/python bench/startup.py [--runs 20]

Both sides start the same binary with the same flags and wait for the same readiness signal
(/healthz?js-enabled-only=true); runs alternate so machine noise hits both alike. Prints a
markdown table (median and p90, milliseconds) for the README's Performance section.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import nats

import fanout_kit
from fanout_kit.server import find_server_binary


async def kit_once() -> tuple[float, float]:
    t0 = time.perf_counter()
    server = await fanout_kit.start_server()
    t1 = time.perf_counter()
    nc = await fanout_kit.connect(server.url)
    t2 = time.perf_counter()
    await nc.close()
    await server.stop()
    return t1 - t0, t2 - t1


async def raw_once(binary: Path) -> tuple[float, float]:
    work = Path(tempfile.mkdtemp(prefix="bench-raw-"))
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [
            str(binary),
            "-a",
            "127.0.0.1",
            "-p",
            "-1",
            "-m",
            "-1",
            "--ports_file_dir",
            str(work),
            "-js",
            "-sd",
            str(work / "store"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ports = work / f"nats-server_{proc.pid}.ports"
    while True:
        try:
            urls = json.loads(ports.read_text())
            status = urllib.request.urlopen(  # noqa: ASYNC210 - the plain by-hand way
                urls["monitoring"][0] + "/healthz?js-enabled-only=true", timeout=1
            ).status
            if status == 200:
                break
        except (OSError, ValueError, KeyError):
            pass
        await asyncio.sleep(0.005)
    t1 = time.perf_counter()
    nc = await nats.connect(urls["nats"][0])
    t2 = time.perf_counter()
    await nc.close()
    proc.terminate()
    proc.wait()
    shutil.rmtree(work, ignore_errors=True)
    return t1 - t0, t2 - t1


def row(name: str, samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p90 = ms[min(len(ms) - 1, round(0.9 * (len(ms) - 1)))]
    return f"| {name} | {statistics.median(ms):.1f} | {p90:.1f} |"


async def main(runs: int) -> None:
    binary = find_server_binary()
    kit_start, kit_conn, raw_start, raw_conn = [], [], [], []
    for _ in range(runs):
        s, c = await kit_once()
        kit_start.append(s)
        kit_conn.append(c)
        s, c = await raw_once(binary)
        raw_start.append(s)
        raw_conn.append(c)
    print(f"{runs} starts each, alternating; milliseconds\n")
    print("| step | median ms | p90 ms |")
    print("|---|---|---|")
    print(row("kit: `start_server()` spawn to ready", kit_start))
    print(row("raw: `nats-server` by hand, spawn to ready", raw_start))
    print(row("kit: `fanout_kit.connect()`", kit_conn))
    print(row("raw: `nats.connect()`", raw_conn))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    asyncio.run(main(parser.parse_args().runs))
