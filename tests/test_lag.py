"""The lag recorder against a real server: one consumer-list call per tick, one shared scale."""

from __future__ import annotations

import asyncio
import itertools
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
    recorder = LagRecorder(js, STREAM, interval=0.05)
    real = recorder.sample

    async def sample() -> object:
        if len(recorder.samples) == 1:
            await asyncio.sleep(0.5)  # ten intervals
        return await real()

    monkeypatch.setattr(recorder, "sample", sample)
    await recorder.start()
    try:
        await wait_for(lambda: len(recorder.samples) >= 4, 20, "four samples")
    finally:
        await recorder.stop()
    gaps = [b.t - a.t for a, b in itertools.pairwise(recorder.samples[1:])]
    assert min(gaps) >= 0.04, f"samples back to back after the slow one: {gaps}"


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
