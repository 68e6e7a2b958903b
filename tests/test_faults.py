"""Faults and bad input: what the kit promises when things break, against real servers.

- A server SIGKILLed mid-publish keeps every message it acknowledged (PubAck), byte for byte.
- A consumer process killed mid-batch: what it did not ack is redelivered, nothing acked is lost
  or delivered again.
- Two kit servers never write one JetStream store, in any order of starts, stops, restarts and
  kills.
- Every public entry point refuses bad input with a kit error (a TypeError or ValueError) that
  names the parameter and the value, before anything is started or sent, leaving nothing behind.

No sleeps: every wait is for a condition, with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import nats.errors
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import PubAck

import fanout_kit
from fanout_kit.errors import FanoutKitError, ServerStartError
from fanout_kit.processes import pid_alive
from fanout_kit.server import (
    get_json,
    listening_addresses,
    loopback_only,
    runtime_dir,
)

from .conftest import async_wait_until, wait_until

# --------------------------------------------------------------------- server killed mid-publish


async def test_sigkill_mid_publish_keeps_every_acked_message(tmp_path: Path) -> None:
    """Three rounds: publish with many acks in flight, SIGKILL the server once 500 more acks
    have arrived, restart it on the same store. Every acked sequence holds exactly the bytes
    that were published (none lost, none reassigned to another message)."""
    server = await fanout_kit.start_server(store_dir=tmp_path / "store")
    nc = await fanout_kit.connect(server.url)
    js = nc.jetstream()
    try:
        await js.add_stream(name="FAULTS", subjects=["faults.>"])  # file storage
        acked: dict[int, tuple[str, bytes]] = {}
        reused: list[int] = []
        in_flight = 0  # publishes not yet acked when the server was killed, over all rounds
        events = fanout_kit.demo_events(500, prefix="faults")
        for round_no in range(3):
            target = len(acked) + 500
            publisher = Publisher(js, events, round_no, acked)
            task = asyncio.create_task(publisher.run())
            await async_wait_until(lambda t=target: len(acked) >= t, 60, f"{target} acks")
            in_flight += len(publisher.pending)
            os.kill(server.pid, signal.SIGKILL)
            await async_wait_until(lambda: not server.running, 30, "the server to die")
            publisher.abandon()
            await asyncio.wait_for(task, 30)
            reused += publisher.reused
            await server.restart()
            await async_wait_until(lambda: nc.is_connected, 30, "the client to reconnect")
        assert len(acked) >= 1500 and in_flight > 0, "killed while publishes were in flight"
        assert reused == [], "no sequence was acked for two different messages"
        for seq, (subject, payload) in sorted(acked.items()):
            stored = await js.get_msg("FAULTS", seq)
            assert (stored.subject, stored.data) == (subject, payload), f"seq {seq} changed"
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(nc.close(), 10)
        await server.stop()


class Publisher:
    """Publishes unique payloads with publish_async until abandoned; records each PubAck."""

    def __init__(
        self,
        js: JetStreamContext,
        events: list[fanout_kit.Event],
        round_no: int,
        acked: dict[int, tuple[str, bytes]],
    ) -> None:
        self.js, self.events, self.round_no, self.acked = js, events, round_no, acked
        self.pending: set[asyncio.Future[PubAck]] = set()
        self.reused: list[int] = []
        self.stopped = False

    async def run(self) -> None:
        i = 0
        while not self.stopped:
            ev = self.events[i % len(self.events)]
            payload = f"round {self.round_no} #{i} ".encode() + ev.payload
            try:
                fut = await self.js.publish_async(ev.subject, payload)
            except nats.errors.Error:  # the server is gone and the client's buffer is full
                return
            self.pending.add(fut)
            fut.add_done_callback(self._record(ev.subject, payload))
            i += 1
            if not i % 100:
                await asyncio.sleep(0)  # let acks and the test's checks run

    def abandon(self) -> None:
        """Stop publishing; give up on acks that will never come (the server died)."""
        self.stopped = True
        for fut in list(self.pending):
            fut.cancel()  # also returns its slot in publish_async's in-flight limit

    def _record(self, subject: str, payload: bytes) -> Callable[[asyncio.Future[PubAck]], None]:
        def done(fut: asyncio.Future[PubAck]) -> None:
            self.pending.discard(fut)
            if not fut.cancelled() and fut.exception() is None:
                ack = fut.result()
                if ack.seq in self.acked:  # one sequence acked for two messages
                    self.reused.append(ack.seq)
                else:
                    self.acked[ack.seq] = (subject, payload)

        return done


# --------------------------------------------------------------------- consumer killed mid-batch


def _child(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        text=True,
    )


async def test_a_consumer_killed_mid_batch_loses_nothing(server: Any, js: JetStreamContext) -> None:
    stream, root = f"KILLED_{uuid.uuid4().hex[:8]}", f"k{uuid.uuid4().hex[:8]}"
    await fanout_kit.ensure_stream(js, stream, f"{root}.>", storage="memory")
    try:
        for i in range(1, 21):
            await js.publish(f"{root}.job", f"job {i}".encode())
        await fanout_kit.ensure_consumer(js, stream, "workers", ack_wait=1)
        worker = _child(
            """
            import asyncio, sys, time, fanout_kit

            async def main():
                nc = await fanout_kit.connect(sys.argv[1])
                sub = await nc.jetstream().pull_subscribe_bind("workers", stream=sys.argv[2])
                batch = await sub.fetch(10, timeout=10)
                print("fetched", *[m.metadata.sequence.stream for m in batch], flush=True)
                for msg in batch[:4]:
                    await msg.ack_sync()  # confirmed by the server
                print("acked", *[m.metadata.sequence.stream for m in batch[:4]], flush=True)
                time.sleep(3600)  # busy with the rest of the batch when it is killed

            asyncio.run(main())
            """,
            server.url,
            stream,
        )
        assert worker.stdout is not None
        fetched = [int(s) for s in worker.stdout.readline().split()[1:]]
        acked = [int(s) for s in worker.stdout.readline().split()[1:]]
        assert len(fetched) == 10 and acked == fetched[:4]
        worker.send_signal(signal.SIGKILL)
        worker.wait()

        sub = await js.pull_subscribe_bind("workers", stream=stream)
        got: dict[int, int] = {}  # stream seq -> times delivered
        expected = set(range(1, 21)) - set(acked)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while set(got) != expected and loop.time() < deadline:
            with contextlib.suppress(TimeoutError):
                for msg in await sub.fetch(20, timeout=2):
                    got[msg.metadata.sequence.stream] = msg.metadata.num_delivered
                    await msg.ack_sync()
        assert set(got) == expected, "every message the killed worker did not ack arrives"
        redelivered = {seq for seq, n in got.items() if n > 1}
        assert redelivered == set(fetched) - set(acked), "exactly its unacked batch came back"
        info = await js.consumer_info(stream, "workers")
        assert (info.num_ack_pending, info.num_pending, info.ack_floor.stream_seq) == (0, 0, 20)
    finally:
        await fanout_kit.reset_streams(js, stream)


# --------------------------------------------------------------------- one store, one server


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"


async def test_a_second_start_on_a_store_in_use_names_the_running_server(store: Path) -> None:
    async with await fanout_kit.start_server(store_dir=store) as first:
        with pytest.raises(ServerStartError) as info:
            await fanout_kit.start_server(store_dir=store)
        message = str(info.value)
        assert f"already used by a running kit server: nats-server pid {first.pid} at " in message
        assert first.url in message and "another store_dir" in message


async def test_stop_then_restart_takes_the_store_back(store: Path) -> None:
    """The order that let two servers write one store: A stops, B starts, A restarts."""
    first = await fanout_kit.start_server(store_dir=store)
    await first.stop()
    second = await fanout_kit.start_server(store_dir=store)
    try:
        with pytest.raises(ServerStartError, match=f"nats-server pid {second.pid} at"):
            await first.restart()
        assert not first.running
    finally:
        await second.stop()
    await first.restart()  # free again: it takes the store back
    try:
        assert first.running
        with pytest.raises(ServerStartError, match=f"nats-server pid {first.pid} at"):
            await fanout_kit.start_server(store_dir=store)
    finally:
        await first.stop()


async def test_restart_keeps_the_store_through_the_restart(store: Path) -> None:
    async with await fanout_kit.start_server(store_dir=store) as first:
        await first.restart()
        with pytest.raises(ServerStartError, match=f"nats-server pid {first.pid} at"):
            await fanout_kit.start_server(store_dir=store)
        await first.stop()
        await first.restart()
        with pytest.raises(ServerStartError, match=f"nats-server pid {first.pid} at"):
            await fanout_kit.start_server(store_dir=store)


async def test_a_killed_server_keeps_its_store_for_its_owner(store: Path) -> None:
    """Its owner may restart() it, so the store stays reserved, and the message says the
    server is not running rather than claiming it is."""
    first = await fanout_kit.start_server(store_dir=store)
    try:
        os.kill(first.pid, signal.SIGKILL)
        await async_wait_until(lambda: not first.running, 30, "the server to die")
        with pytest.raises(ServerStartError) as info:
            await fanout_kit.start_server(store_dir=store)
        message = str(info.value)
        assert "is not running now: it was stopped or killed" in message
        assert "running kit server" not in message
        assert f"process {os.getpid()}" in message and "await server.stop()" in message
        await first.restart()
        assert first.running
    finally:
        await first.stop()


def _owner_child(store: Path) -> tuple[subprocess.Popen[str], int, str]:
    child = _child(
        """
        import asyncio, sys, time, fanout_kit
        server = asyncio.run(fanout_kit.start_server(store_dir=sys.argv[1]))
        print(server.pid, server.url, flush=True)
        time.sleep(3600)  # until the test kills this process
        """,
        str(store),
    )
    assert child.stdout is not None
    pid_text, url = child.stdout.readline().split()
    return child, int(pid_text), url


async def test_a_store_of_another_process_names_its_server_not_the_script(store: Path) -> None:
    child, server_pid, url = _owner_child(store)
    try:
        with pytest.raises(ServerStartError) as info:
            await fanout_kit.start_server(store_dir=store)
        message = str(info.value)
        assert f"running kit server: nats-server pid {server_pid} at {url}" in message
        assert f"started by process {child.pid}" in message
    finally:
        child.kill()
        child.wait()
    wait_until(lambda: not pid_alive(server_pid), what="the child's server to die with it")


async def test_after_its_owner_is_sigkilled_the_store_is_free_once_its_server_is_gone(
    store: Path,
) -> None:
    child, old_pid, _ = _owner_child(store)
    child.send_signal(signal.SIGKILL)
    child.wait()
    async with await fanout_kit.start_server(store_dir=store) as second:
        # The lock lives until the old server has closed its files (it inherits the lock), so
        # the new server can only have started after the old one could no longer write.
        assert _holds_no_files(old_pid)
        assert second.running
    wait_until(lambda: not pid_alive(old_pid), what="the old server to be gone")


def _holds_no_files(pid: int) -> bool:
    """True when process ``pid`` is gone or exiting with every file closed (Linux /proc)."""
    try:
        return not any(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return True


async def test_two_starts_at_once_on_one_store(store: Path) -> None:
    results = await asyncio.gather(
        fanout_kit.start_server(store_dir=store),
        fanout_kit.start_server(store_dir=store),
        return_exceptions=True,
    )
    started = [r for r in results if isinstance(r, fanout_kit.NatsServer)]
    refused = [r for r in results if isinstance(r, ServerStartError)]
    try:
        assert len(started) == 1 and len(refused) == 1, results
        assert "is in use" in str(refused[0]) or "already used" in str(refused[0])
    finally:
        for srv in started:
            await srv.stop()


# --------------------------------------------------------------------- bad input


Call = Callable[[Client, JetStreamContext, Path], Awaitable[Any] | Any]

BAD_INPUT: list[tuple[str, Call, type[Exception], str, list[str]]] = [
    # start_server
    ("store_dir int", lambda nc, js, t: fanout_kit.start_server(store_dir=123), TypeError,
     "store_dir", ["store_dir=123"]),
    ("name int", lambda nc, js, t: fanout_kit.start_server(name=5), TypeError, "name",
     ["name=5"]),
    ("name with space", lambda nc, js, t: fanout_kit.start_server(name="my server"), ValueError,
     "name", ["whitespace"]),
    ("extra_args None", lambda nc, js, t: fanout_kit.start_server(extra_args=None), TypeError,
     "extra_args", ["extra_args=None", "list of strings"]),
    ("extra_args str", lambda nc, js, t: fanout_kit.start_server(extra_args="-DV --trace"),
     TypeError, "extra_args", ["list of strings", "['-DV', '--trace']"]),
    ("extra_args item", lambda nc, js, t: fanout_kit.start_server(extra_args=["-p", 4222]),
     TypeError, "extra_args", ["extra_args[1]=4222"]),
    ("monitoring off", lambda nc, js, t: fanout_kit.start_server(extra_args=["-m", "0"]),
     ValueError, "extra_args", ["-m 0 would turn monitoring off", "monitoring_url"]),
    ("all interfaces", lambda nc, js, t: fanout_kit.start_server(extra_args=["-a", "0.0.0.0"]),
     ValueError, "extra_args", ["'0.0.0.0'", "127.0.0.1 only"]),
    ("routes on all interfaces",
     lambda nc, js, t: fanout_kit.start_server(extra_args=["--cluster=nats://0.0.0.0:6222"]),
     ValueError, "extra_args", ["'0.0.0.0'", "127.0.0.1 only"]),
    ("fixed client port", lambda nc, js, t: fanout_kit.start_server(extra_args=["-p", "4222"]),
     ValueError, "extra_args", ["-p", "server.url"]),
    ("store flag", lambda nc, js, t: fanout_kit.start_server(extra_args=["-sd", str(t / "s")]),
     ValueError, "extra_args", ["store_dir="]),
    ("log flag", lambda nc, js, t: fanout_kit.start_server(extra_args=["-l", str(t / "log")]),
     ValueError, "extra_args", ["log_path"]),
    ("name twice", lambda nc, js, t: fanout_kit.start_server(name="a", extra_args=["-n", "b"]),
     ValueError, "extra_args", ["'b'", "name='a'"]),
    ("ready_timeout str", lambda nc, js, t: fanout_kit.start_server(ready_timeout="1"),
     TypeError, "ready_timeout", ["ready_timeout='1'"]),
    ("ready_timeout 0", lambda nc, js, t: fanout_kit.start_server(ready_timeout=0), ValueError,
     "ready_timeout", ["ready_timeout=0"]),
    # connect
    ("url int", lambda nc, js, t: fanout_kit.connect(123), TypeError, "url", ["url=123"]),
    ("timeout str", lambda nc, js, t: fanout_kit.connect(timeout="2"), TypeError, "timeout",
     ["timeout='2'"]),
    ("url no colon", lambda nc, js, t: fanout_kit.connect("nats//x"), ValueError, "url",
     ["'nats//x' is not a NATS URL", "nats://x"]),
    ("port word", lambda nc, js, t: fanout_kit.connect("nats://127.0.0.1:notaport"),
     ValueError, "url", ["notaport"]),
    ("port too big", lambda nc, js, t: fanout_kit.connect("nats://127.0.0.1:99999"),
     ValueError, "url", ["99999"]),
    # demo_events / publish_events
    ("n str", lambda nc, js, t: fanout_kit.demo_events("10"), TypeError, "n", ["n='10'"]),
    ("events str", lambda nc, js, t: fanout_kit.publish_events(js, "abc"), TypeError, "events",
     ["events='abc'", "demo_events"]),
    ("events item", lambda nc, js, t: fanout_kit.publish_events(js, [b"x"]), TypeError,
     "events", ["events[0]=b'x'"]),
    ("client for js", lambda nc, js, t: fanout_kit.publish_events(nc, []), TypeError, "js",
     ["nc.jetstream()"]),
    ("window 0", lambda nc, js, t: fanout_kit.publish_events(js, [], window=0), ValueError,
     "window", ["window=0"]),
    # topology
    ("subjects int", lambda nc, js, t: fanout_kit.ensure_stream(js, "NEVER", subjects=123),
     TypeError, "subjects", ["subjects=123"]),
    ("stream name too long", lambda nc, js, t: fanout_kit.ensure_stream(js, "S" * 300, "n.>"),
     ValueError, "stream name", ["300 characters", "at most 255"]),
    ("duplicate window", lambda nc, js, t: fanout_kit.ensure_stream(
        js, "NEVER", "n.>", max_age=10, duplicate_window=60), ValueError, "duplicate_window",
     ["longer than max_age=10 s", "10052"]),
    ("ack_wait tiny", lambda nc, js, t: fanout_kit.ensure_consumer(
        js, "NEVER", "d", ack_wait=0.0001), ValueError, "ack_wait",
     ["ack_wait=0.0001", "redelivered"]),
    ("client for ensure_stream", lambda nc, js, t: fanout_kit.ensure_stream(nc, "NEVER", "n.>"),
     TypeError, "js", ["nc.jetstream()"]),
    ("reset_streams client", lambda nc, js, t: fanout_kit.reset_streams(nc, "NEVER"),
     TypeError, "js", ["nc.jetstream()"]),
    ("overlap int", lambda nc, js, t: fanout_kit.subjects_overlap(1, "a"), TypeError, "a",
     ["1"]),
    # consume
    ("batch str", lambda nc, js, t: fanout_kit.drain(js, "NEVER", "d", batch="5"), TypeError,
     "batch", ["batch='5'"]),
    ("take 0", lambda nc, js, t: fanout_kit.take(js, "NEVER", "d", 0), ValueError, "n",
     ["n=0"]),
    ("drain client", lambda nc, js, t: fanout_kit.drain(nc, "NEVER", "d"), TypeError, "js",
     ["nc.jetstream()"]),
    # server helpers
    ("get_json int", lambda nc, js, t: get_json(5), TypeError, "url", ["url=5"]),
    ("listening pid str", lambda nc, js, t: listening_addresses("1"), TypeError, "pid",
     ["pid='1'"]),
    ("loopback_only str", lambda nc, js, t: loopback_only("127.0.0.1:4222"), TypeError,
     "addresses", ["list of 'host:port' strings"]),
    ("event subject", lambda nc, js, t: fanout_kit.Event(5, {}), TypeError, "subject",
     ["subject=5"]),
    ("event data", lambda nc, js, t: fanout_kit.Event("a.b", b"{}"), TypeError, "data",
     ["data=b'{}'", "dict"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("call", "error", "param", "words"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_INPUT],
)
async def test_bad_input_is_refused_before_anything_happens(
    nc: Client,
    js: JetStreamContext,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    call: Call,
    error: type[Exception],
    param: str,
    words: list[str],
) -> None:
    monkeypatch.setenv("NATS_URL", "nats://127.0.0.1:1")  # connect() must not get that far
    runs_before = set(runtime_dir().iterdir())
    streams_before = await js.streams_info()
    with pytest.raises(error) as info:
        result = call(nc, js, tmp_path)
        if asyncio.iscoroutine(result):
            await result
    exc = info.value
    assert isinstance(exc, FanoutKitError), repr(exc)
    assert getattr(exc, "param", None) == param, (exc, getattr(exc, "param", None))
    for word in words:
        assert word in str(exc), str(exc)
    assert "Fix" in str(exc), str(exc)
    assert set(runtime_dir().iterdir()) == runs_before, "no run folder left behind"
    assert list(tmp_path.iterdir()) == [], "no folder made"
    after = await js.streams_info()
    assert [s.config.name for s in after] == [s.config.name for s in streams_before]
