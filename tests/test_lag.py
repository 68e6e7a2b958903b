"""The lag recorder against a real server: one consumer-list call per tick, one shared scale."""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path

import pytest
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig

import fanout_kit.lag
from fanout_kit import BadArgument
from fanout_kit.lag import LagPlot, LagRecorder, record_lag
from fanout_kit.load import publish_paced
from fanout_kit.server import NatsServer
from fanout_kit.waiting import wait_for
from fanout_kit.workers import Worker

from .conftest import fresh_stream

STREAM = "LAGGED"


async def test_samples_every_consumer_with_one_call_and_plots_one_scale(
    server: NatsServer, js: JetStreamContext
) -> None:
    await fresh_stream(js, STREAM, ("lag.>",))
    for name in ("fast", "slow"):
        await js.add_consumer(STREAM, ConsumerConfig(durable_name=name))
    await js.add_consumer(STREAM, ConsumerConfig(durable_name="orders", filter_subject="lag.o"))
    recorder = LagRecorder(js, STREAM, interval=1.0)
    first = await recorder.sample()
    assert first.lag == {"fast": 0, "slow": 0, "orders": 0} and recorder.api_calls == 1

    record = await publish_paced(js, rate=5000, n=40, subjects=["lag.o", "lag.x"])
    fast = await Worker(server.url, STREAM, "fast", batch=40).start()
    try:
        await wait_for(lambda: fast.acked == 40, 20, "fast to ack 40")
        second = await recorder.sample()
    finally:
        await fast.stop()
    assert recorder.api_calls == 2  # one consumer-list request per sample, not one per consumer
    assert second.lag == {"fast": 0, "slow": 40, "orders": 20}
    assert second.stream_last == 40 and second.delivered["fast"] == 40

    plot = recorder.plot(publishes=record)
    rows = {r["consumer"]: r for r in plot.rows()}
    assert rows["slow"]["max lag"] == 40 and rows["fast"]["lag at end"] == 0
    assert plot.publish and sum(n for _, n in plot.publish) == 40
    page = plot._repr_html_()
    assert page.count("<polyline") >= 3 + 1  # a lag line per consumer, the publish rate
    assert 'role="img"' in page and "<title" in page and "<caption" in page
    assert "currentColor" in page
    assert not re.search(r'fill="#(000|fff)|color:\s*#(000|fff)', page)  # theme-neutral text
    # one scale: the top tick of the lag panel is a round number at or above the worst lag
    assert ">50</text>" in page
    text = repr(plot)
    assert "slow" in text and "max lag" in text and "most behind: slow (max lag 40)" in text


def test_the_plot_uses_no_class_the_boards_stylesheet_styles() -> None:
    """The board's CSS is global once a board is on the page: a plot sharing one of its class
    names (it once shared `fk-lag`, the sparkline cell) is shrunk to a sparkline."""
    css = (Path(fanout_kit.lag.__file__).parent / "static" / "board.css").read_text()
    styled = set(re.findall(r"\.([A-Za-z_][\w-]*)", css))
    page = LagPlot("S", [0.0, 1.0], {"a": [0, 1]}, {"a": [1.0]}, [1.0])._repr_html_()
    used = {c for attr in re.findall(r'class="([^"]+)"', page) for c in attr.split()}
    assert used and not used & styled, used & styled


async def test_recording_in_the_background(js: JetStreamContext) -> None:
    await fresh_stream(js, STREAM, ("lag.>",))
    await js.add_consumer(STREAM, ConsumerConfig(durable_name="c"))
    recorder = await record_lag(js, STREAM, interval=0.05)
    try:
        await wait_for(lambda: len(recorder.samples) >= 3, 20, "three samples")
        assert recorder.running
    finally:
        await recorder.stop()
    assert not recorder.running and recorder.api_calls == len(recorder.samples)
    assert "samples" in repr(recorder) and "<svg" in recorder._repr_html_()


async def test_a_slow_tick_skips_the_ticks_it_missed(
    js: JetStreamContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sample that takes longer than the interval (an election) is not followed by a burst
    of back-to-back samples catching up: their rates over milliseconds would be fiction."""
    await fresh_stream(js, STREAM, ("lag.>",))
    await js.add_consumer(STREAM, ConsumerConfig(durable_name="c"))
    interval = 0.05
    recorder = LagRecorder(js, STREAM, interval=interval)
    real = recorder.sample
    loop = asyncio.get_running_loop()
    starts: list[float] = []  # when each sample began (the loop's clock)
    slow_ended: list[float] = []

    async def sample() -> object:
        starts.append(loop.time())
        if len(starts) != 2:
            return await real()
        await asyncio.sleep(0.5)  # ten intervals
        result = await real()
        slow_ended.append(loop.time())
        return result

    monkeypatch.setattr(recorder, "sample", sample)
    await recorder.start()
    try:
        await wait_for(lambda: len(starts) >= 5, 20, "three samples after the slow one")
    finally:
        await recorder.stop()
    # Catching up, the ticks it missed would start at once when it ends, back to back. Skipped,
    # the next one is due a whole interval after it ends, each later one an interval after
    # that (a busy machine only starts them later: a sleep never ends early).
    after = [start - slow_ended[0] for start in starts[2:5]]
    due = [(n + 1) * interval for n in range(3)]
    early = 0.001  # the event loop runs a timer up to its clock resolution early
    assert all(a >= d - early for a, d in zip(after, due, strict=True)), (
        f"samples after the slow one started {after} s after it ended; due at {due}"
    )


@pytest.mark.timeout(60)  # the bug this guards against hangs stop() for good
async def test_stop_ends_the_loop_even_when_a_sample_swallows_the_cancel(
    js: JetStreamContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Python 3.11, asyncio.wait_for (inside nats-py's requests) swallows a cancel that lands
    as the reply arrives; stop() must still end the loop rather than wait for it forever."""
    await fresh_stream(js, STREAM, ("lag.>",))
    recorder = LagRecorder(js, STREAM, interval=0.05)
    real = recorder.sample
    sampling = asyncio.Event()

    async def sample() -> object:
        sampling.set()
        with contextlib.suppress(asyncio.CancelledError):  # as wait_for does then
            await asyncio.sleep(60)  # a request in flight, until the cancel
        return await real()

    monkeypatch.setattr(recorder, "sample", sample)
    await recorder.start()
    await asyncio.wait_for(sampling.wait(), 20)
    await asyncio.wait_for(recorder.stop(), 20)
    assert not recorder.running and len(recorder.samples) == 1


async def test_more_than_one_page_of_consumers(js: JetStreamContext) -> None:
    await fresh_stream(js, STREAM, ("lag.>",))
    for i in range(260):
        await js.add_consumer(STREAM, ConsumerConfig(durable_name=f"c{i:03d}"))
    recorder = LagRecorder(js, STREAM)
    sample = await recorder.sample()
    assert len(sample.lag) == 260 and recorder.api_calls == 2  # 256 per answer
    await js.delete_stream(STREAM)


@pytest.mark.parametrize(
    ("args", "parameter"),
    [({"js": None}, "js"), ({"stream": "a.b"}, "stream"), ({"interval": 0}, "interval")],
)
def test_bad_arguments(js: JetStreamContext, args: dict[str, object], parameter: str) -> None:
    call: dict[str, object] = {"js": js, "stream": STREAM, "interval": 1.0}
    call.update(args)
    with pytest.raises(BadArgument, match=parameter) as caught:
        LagRecorder(**call)
    assert caught.value.param == parameter
    with pytest.raises(BadArgument, match="publishes"):
        LagRecorder(js, STREAM).plot(publishes=[])
