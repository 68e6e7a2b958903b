"""The seeded demo events and publish_events, against the real session server."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import subprocess
import sys
import textwrap
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import ipywidgets
import pytest
from nats.js.api import PubAck

from fanout_kit import bars
from fanout_kit.errors import FanoutKitError
from fanout_kit.events import (
    BASE_TIME,
    KINDS,
    Event,
    PublishError,
    PublishReport,
    demo_events,
    publish_events,
)
from fanout_kit.topology import ensure_stream, reset_streams

from .kernels import start_kernel

# --------------------------------------------------------------------- generator


def test_same_seed_same_events() -> None:
    a = demo_events(300, seed=7, kinds=tuple(KINDS))
    b = demo_events(300, seed=7, kinds=tuple(KINDS))
    assert a == b
    assert [e.payload for e in a] == [e.payload for e in b]


def test_different_seed_different_events() -> None:
    assert [e.payload for e in demo_events(50, seed=1)] != [
        e.payload for e in demo_events(50, seed=2)
    ]


def test_known_first_event_for_default_seed() -> None:
    """Pins the output lessons commit: a change here changes every notebook's output."""
    first = demo_events(1)[0]
    assert first.subject == "events.order.created"
    assert first.data["id"] == "evt_42_000001"
    assert first.data["ts"] == "2026-01-05T09:00:01.768Z"


def test_event_shape() -> None:
    events = demo_events(400, kinds=tuple(KINDS))
    kinds = Counter(e.data["type"].split(".")[0] for e in events)
    assert set(kinds) == set(KINDS)
    last = BASE_TIME
    for i, e in enumerate(events, 1):
        assert isinstance(e, Event)
        assert json.loads(e.payload) == e.data
        assert e.payload == json.dumps(e.data, separators=(",", ":")).encode()  # compact
        assert e.data["id"] == f"evt_42_{i:06d}"
        ts = dt.datetime.fromisoformat(e.data["ts"].replace("Z", "+00:00"))
        assert ts > last
        last = ts
        kind, etype = e.data["type"].split(".")
        assert etype in KINDS[kind]
        if kind == "sensor":
            assert e.subject == f"sensors.{e.data['device']}.{etype}"
        else:
            assert e.subject == f"events.{kind}.{etype}"
        if "email" in e.data:
            assert e.data["email"].endswith("@example.com")
        if "amount" in e.data:
            assert e.data["amount"] > 0 and e.data["currency"] in ("EUR", "USD", "GBP")


def test_events_hang_together() -> None:
    """An order is paid only after it was created, shipped only after it was paid."""
    seen: dict[str, str] = {}
    order = ["created", "paid", "shipped"]
    for e in demo_events(500, kinds=("order",)):
        oid, etype = e.data["order_id"], e.subject.rsplit(".", 1)[1]
        if etype == "created":
            assert oid not in seen
        else:
            assert order.index(seen[oid]) == order.index(etype) - 1
        seen[oid] = etype
    logins: set[str] = set()
    for e in demo_events(300, kinds=("auth",)):
        if e.subject.endswith("login"):
            logins.add(e.data["session_id"])
        else:
            assert e.data["session_id"] in logins


def test_kinds_prefix_and_start() -> None:
    events = demo_events(30, kinds=("payment",), prefix="shop", seed=3)
    assert {e.subject.rsplit(".", 1)[0] for e in events} == {"shop.payment"}
    sensors = demo_events(20, kinds="sensor", sensor_prefix="iot")
    assert all(e.subject.startswith("iot.dev-0") for e in sensors)
    start = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert demo_events(1, start=start)[0].data["ts"].startswith("2030-01-01T00:00:0")
    assert demo_events(0) == []


@pytest.mark.parametrize(
    ("kwargs", "error", "param", "words"),
    [
        ({"n": -1}, ValueError, "n", ["n=-1", ">= 0"]),
        ({"n": 2.5}, TypeError, "n", ["n=2.5", "whole number"]),
        ({"n": "10"}, TypeError, "n", ["n='10'", "whole number"]),
        ({"n": True}, TypeError, "n", ["n=True"]),
        ({"n": 3, "seed": "x"}, TypeError, "seed", ["seed='x'"]),
        ({"n": 3, "kinds": ("order", "shipping")}, ValueError, "kinds", ["shipping"]),
        ({"n": 3, "kinds": ()}, ValueError, "kinds", ["empty"]),
        ({"n": 3, "kinds": 5}, TypeError, "kinds", ["kinds=5"]),
        ({"n": 3, "prefix": "events.>"}, ValueError, "prefix", ["prefix='events.>'"]),
        ({"n": 3, "prefix": ""}, ValueError, "prefix", ["prefix"]),
        ({"n": 3, "prefix": 7}, TypeError, "prefix", ["prefix=7"]),
        ({"n": 3, "start": dt.datetime(2026, 1, 1)}, ValueError, "start", ["timezone"]),
        ({"n": 3, "start": "2026-01-01"}, TypeError, "start", ["start='2026-01-01'"]),
    ],
)
def test_generator_validation(kwargs: dict, error: type, param: str, words: list[str]) -> None:
    with pytest.raises(error) as exc:
        demo_events(**kwargs)
    assert isinstance(exc.value, FanoutKitError)
    assert exc.value.param == param
    for word in [*words, "Fix"]:
        assert word in str(exc.value), str(exc.value)


# --------------------------------------------------------------------- publisher


@pytest.fixture
async def stream(js) -> AsyncIterator[tuple[str, str]]:
    tag = uuid.uuid4().hex[:10]
    name, root = f"P_{tag}", f"p{tag}"
    await ensure_stream(js, name, f"{root}.>", storage="memory")
    yield name, root
    await reset_streams(js, name)


async def test_publish_report(js, stream) -> None:
    name, root = stream
    events = demo_events(20, prefix=root)
    report = await publish_events(js, events)
    assert isinstance(report, PublishReport)
    assert repr(report) == f"Published 20 events to {name}: seq 1..20"
    assert (report.count, report.first_seq, report.last_seq, report.duplicates) == (20, 1, 20, 0)
    assert report.seqs == list(range(1, 21))
    assert all(isinstance(a, PubAck) for a in report.acks)
    info = await js.stream_info(name)
    assert info.state.messages == 20
    msg = await js.get_msg(name, 5)
    assert msg.data == events[4].payload and msg.subject == events[4].subject

    more = await publish_events(js, demo_events(5, prefix=root, seed=9), window=2)
    assert repr(more) == f"Published 5 events to {name}: seq 21..25"
    one = await publish_events(js, iter(demo_events(1, prefix=root)))
    assert repr(one) == f"Published 1 event to {name}: seq 26"
    assert repr(await publish_events(js, [])) == "Published 0 events"


async def test_publish_duplicates_with_msg_ids(js, stream) -> None:
    name, root = stream
    events = demo_events(10, prefix=root)
    first = await publish_events(js, events, msg_ids=True)
    again = await publish_events(js, events[:4], msg_ids=True)
    assert first.duplicates == 0
    assert again.duplicates == 4
    assert repr(again) == f"Published 4 events to {name}: seq 1..4, 4 duplicates"
    assert (await js.stream_info(name)).state.messages == 10


async def test_publish_to_two_streams(js, stream) -> None:
    name, root = stream
    other = f"{name}_S"
    await ensure_stream(js, other, f"s{root}.>", storage="memory")
    try:
        events = demo_events(12, kinds=("order", "sensor"), prefix=root, sensor_prefix=f"s{root}")
        report = await publish_events(js, events)
        n_sensor = sum(1 for e in events if e.subject.startswith(f"s{root}."))
        assert report.count == 12
        assert set(report.streams) == {name, other}
        assert f"{other} seq 1..{n_sensor}" in repr(report)
        assert f"{name} seq 1..{12 - n_sensor}" in repr(report)
    finally:
        await reset_streams(js, other)


async def test_publish_without_stream_says_what_to_do(js, stream) -> None:
    _, root = stream
    events = [*demo_events(3, prefix=root), *demo_events(2, prefix=f"nostream{root}")]
    with pytest.raises(PublishError) as exc:
        await publish_events(js, events)
    assert f"nostream{root}.order" in str(exc.value)
    assert "ensure_stream" in str(exc.value) and "Fix" in str(exc.value)
    assert "3 earlier events were stored" in str(exc.value)


@pytest.mark.parametrize(
    ("kwargs", "error", "param"),
    [
        ({"window": 0}, ValueError, "window"),
        ({"window": 1.5}, TypeError, "window"),
        ({"timeout": 0}, ValueError, "timeout"),
        ({"timeout": "10"}, TypeError, "timeout"),
        ({"progress": "yes"}, TypeError, "progress"),
        ({"msg_ids": 1}, TypeError, "msg_ids"),
        ({"events": "abc"}, TypeError, "events"),
        ({"events": [demo_events(1)[0], {"subject": "x"}]}, TypeError, "events"),
        ({"events": None}, TypeError, "events"),
    ],
)
async def test_publish_validation(js, kwargs, error, param) -> None:
    kwargs = {"events": demo_events(1), **kwargs}
    with pytest.raises(error) as exc:
        await publish_events(js, **kwargs)
    assert isinstance(exc.value, FanoutKitError) and exc.value.param == param
    assert f"{param}" in str(exc.value) and "Fix" in str(exc.value)


async def test_publish_needs_jetstream_not_the_client(nc) -> None:
    with pytest.raises(TypeError, match=r"js is a NATS client .* Fix: pass nc.jetstream\(\)"):
        await publish_events(nc, demo_events(1))


def test_no_progress_bar_outside_a_kernel(server, stream) -> None:
    """A plain script, even with progress=True and many events: nothing is drawn or printed,
    and neither ipywidgets nor IPython is imported (a bar would need both)."""
    _, root = stream
    script = f"""
        import asyncio, sys
        import fanout_kit

        async def main():
            nc = await fanout_kit.connect({server.url!r})
            events = fanout_kit.demo_events(1500, prefix={root!r})
            report = await fanout_kit.publish_events(nc.jetstream(), events, progress=True)
            await nc.close()
            return report.count

        count = asyncio.run(main())
        loaded = sorted(m for m in ("ipywidgets", "IPython") if m in sys.modules)
        print(count, loaded)
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout == "1500 []\n"  # published, nothing else printed, nothing loaded


async def test_progress_bar_is_throttled(js, stream, monkeypatch) -> None:
    """In a notebook the bar is redrawn on a fixed interval, never once per event, and ends
    full (a bar of the test's own, as if in a kernel)."""
    _, root = stream
    bar = ipywidgets.IntProgress(min=0, max=3000)
    changes: list[int] = []
    bar.observe(lambda change: changes.append(change["new"]), names="value")
    shown: list[tuple[int, str]] = []

    def show(total: int, description: str) -> ipywidgets.IntProgress:
        shown.append((total, description))
        return bar

    monkeypatch.setattr(bars, "in_kernel", lambda: True)
    monkeypatch.setattr(bars, "show", show)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    report = await publish_events(js, demo_events(3000, prefix=root))
    elapsed = loop.time() - t0
    assert shown == [(3000, "Publishing")]
    assert report.count == 3000
    assert (bar.value, bar.bar_style, bar.description) == (3000, "success", "Published")
    # One update per 0.1 s tick at most, plus the final one: a ceiling, not a timing guess.
    assert len(changes) <= elapsed / bars.INTERVAL + 1
    assert changes == sorted(changes)


async def test_publish_gives_up_when_acks_stop() -> None:
    """A private server that dies mid-lesson: a PublishError naming the fix, not a hang."""
    import fanout_kit

    server = await fanout_kit.start_server()
    nc = await fanout_kit.connect(server.url)
    try:
        js = nc.jetstream()
        await ensure_stream(js, "GONE", "gone.>", storage="memory")
        await server.stop()
        with pytest.raises(PublishError) as exc:
            await publish_events(js, demo_events(50, prefix="gone"), timeout=0.5)
        assert "Acks stopped arriving for 0.5 s (0 of 50 events were acked)" in str(exc.value)
        assert "Fix" in str(exc.value)
    finally:
        # nats-py's close() tries to flush to the dead socket: it raises ConnectionResetError,
        # and under load it was seen to hang in its reconnect loop, so bound it.
        with contextlib.suppress(ConnectionResetError, TimeoutError):
            await asyncio.wait_for(nc.close(), 5)
        await server.stop()


# --------------------------------------------------------------------- generator: scale


def _opcodes(n: int) -> int:
    """Python bytecode instructions run by demo_events(n): a measure of work, not of time,
    so it is the same on a busy machine."""
    count = 0

    def local(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "opcode":
            count += 1
        return local

    def calls(frame: Any, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        return local

    sys.settrace(calls)
    try:
        demo_events(n, kinds=tuple(KINDS))
    finally:
        sys.settrace(None)
    return count


def test_generating_grows_linearly() -> None:
    """Twice the events, twice the work (it was quadratic: picking an order scanned them all,
    so 4000 events cost 2.8 times the work of 2000)."""
    assert _opcodes(4000) / _opcodes(2000) < 2.3


@pytest.mark.parametrize(
    ("kinds", "digest"),
    [
        (tuple(KINDS), "3292fe639f4a2d8192653b9789a781523c2fdcbad6af1680e9d4446c5d44c04d"),
        (None, "06c5bd28f629632a17e69bc35f1f230601a5a6623b80271e1051c05038f4ac2e"),
    ],
)
def test_the_same_events_as_before_the_rewrite(kinds: tuple[str, ...] | None, digest: str) -> None:
    """Digests of 3000 events from the quadratic generator: lesson outputs stay the same."""
    events = demo_events(3000, kinds=kinds) if kinds else demo_events(3000)
    joined = b"".join(e.subject.encode() + b" " + e.payload + b"\n" for e in events)
    assert hashlib.sha256(joined).hexdigest() == digest


class FakeClock:
    """A clock that moves ``step`` seconds each time it is read."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_a_slow_generation_shows_a_throttled_bar_in_a_notebook(monkeypatch) -> None:
    shown: list[ipywidgets.IntProgress] = []
    drawn: list[int] = []

    def show(total: int, description: str) -> ipywidgets.IntProgress:
        shown.append(ipywidgets.IntProgress(min=0, max=total, description=description))
        shown[-1].observe(lambda change: drawn.append(change["new"]), names="value")
        return shown[-1]

    monkeypatch.setattr(bars, "in_kernel", lambda: True)
    monkeypatch.setattr(bars, "show", show)
    # The generator reads the clock once per 1024 events; here each read is 0.05 s later.
    monkeypatch.setattr(bars, "clock", FakeClock(0.05))
    events = demo_events(60_000)
    assert len(events) == 60_000 and len(shown) == 1
    bar = shown[0]
    assert (bar.max, bar.value, bar.bar_style) == (60_000, 60_000, "success")
    assert bar.description == "Generated"
    # Shown once a second had passed (about 20 reads, 20,000 events), not before...
    assert 18 * 1024 <= drawn[0] <= 21 * 1024, drawn
    # ...then redrawn at most every 0.1 s (every second read at best) and once at the end.
    assert drawn == sorted(drawn) and drawn[-1] == 60_000
    reads_after_shown = (60_000 - drawn[0]) // 1024 + 1
    assert len(drawn) <= reads_after_shown // 2 + 2, drawn


def test_a_quick_generation_shows_nothing_even_in_a_notebook(monkeypatch) -> None:
    shown: list[int] = []
    monkeypatch.setattr(bars, "in_kernel", lambda: True)
    monkeypatch.setattr(bars, "show", lambda total, _: shown.append(total))
    monkeypatch.setattr(bars, "clock", FakeClock(0.0001))
    demo_events(20_000)
    assert shown == []


def test_outside_a_notebook_nothing_is_imported_or_drawn(monkeypatch) -> None:
    """A plain script never loads ipywidgets or IPython for a progress bar, however slow."""
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # importing it would now fail
    monkeypatch.setitem(sys.modules, "IPython", None)
    monkeypatch.setattr(bars, "clock", FakeClock(1.0))
    assert len(demo_events(5000)) == 5000


def _run_in_kernel(code: str) -> list[dict[str, Any]]:
    """Run ``code`` in a fresh IPython kernel; return its iopub messages."""
    km, kc = start_kernel()
    messages: list[dict[str, Any]] = []
    try:
        reply = kc.execute_interactive(code, output_hook=messages.append, timeout=120)
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return messages


def test_in_a_real_kernel_the_bar_appears_only_for_a_slow_run() -> None:
    messages = _run_in_kernel(
        "import fanout_kit.bars as bars, fanout_kit.events as ev\n"
        "quick = ev.demo_events(2000)\n"
        "bars.GENERATE_AFTER = 0.0  # as if generating were slow\n"
        "slow = ev.demo_events(5000)\n"
    )
    views = [
        m
        for m in messages
        if m["msg_type"] == "display_data"
        and "application/vnd.jupyter.widget-view+json" in m["content"]["data"]
    ]
    assert len(views) == 1, "one bar, for the slow run only"
    states = [
        m["content"]["data"]["state"]
        for m in messages
        if m["msg_type"] == "comm_msg" and "state" in m["content"].get("data", {})
    ]
    assert {"value": 5000, "bar_style": "success", "description": "Generated"}.items() <= {
        k: v for s in states for k, v in s.items()
    }.items()


@pytest.mark.parametrize("under_asyncio_run", [True, False])
def test_ctrl_c_stops_generating_in_a_script(under_asyncio_run: bool) -> None:
    """asyncio.run answers the first Ctrl-C by cancelling its task, which a long loop without
    an await never noticed: the first Ctrl-C used to be swallowed. The child sends itself
    SIGINT about 2000 events in and would report reaching 50,000."""
    code = f"""
        import asyncio, os, signal, sys
        import fanout_kit.bars as bars, fanout_kit.events as ev

        reads = [0]

        def counting_clock():  # the generator reads it once per 1024 events
            reads[0] += 1
            if reads[0] == 3:
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, about 2000 events in
            if reads[0] == 50:
                print("still generating", flush=True)
                os._exit(3)
            return 0.0

        bars.clock = counting_clock

        async def main():
            ev.demo_events(1_000_000)

        if {under_asyncio_run}:
            asyncio.run(main())
        else:
            ev.demo_events(1_000_000)
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )
    assert "still generating" not in result.stdout
    assert result.returncode != 0 and "KeyboardInterrupt" in result.stderr, result.stderr[-500:]
