"""A classroom against a real classroom server: isolated seats with JetStream limits, check
results flowing to the instructor's class board, the seats file, and the command itself."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import stat
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from nats.aio.client import Client
from nats.js.errors import APIError, NotFoundError

import fanout_kit
from fanout_kit import classroom
from fanout_kit.checks import welcome
from fanout_kit.classboard import ClassModel
from fanout_kit.classroom import Classroom, Limits, flush_reports, start_classroom
from fanout_kit.errors import ConnectError, KitTypeError, KitValueError
from fanout_kit.processes import pid_alive

from .conftest import async_wait_until, wait_until
from .labutil import BIN

pytestmark = pytest.mark.timeout(120)
COMMAND = (str(BIN / "fanout-kit"), "classroom")


@pytest.fixture(scope="module")
def room() -> Iterator[Classroom]:
    """A classroom of three seats, with a small per-seat stream limit to hit."""
    started = asyncio.run(start_classroom(3, limits=Limits(streams=3, consumers=8)))
    yield started
    asyncio.run(started.stop())
    assert not pid_alive(started.server.pid)
    assert not started.server.store_dir.exists(), "a classroom's own store goes with it"


async def _as(room: Classroom, seat: str) -> Client:
    env = room.env(seat)
    return await fanout_kit.connect(
        env["NATS_URL"], user=env["NATS_USER"], password=env["NATS_PASSWORD"]
    )


@pytest.fixture
async def seats(room: Classroom) -> AsyncIterator[list[Client]]:
    clients = [await _as(room, s.name) for s in room.seats]
    yield clients
    for nc in clients:
        js = nc.jetstream()
        for name in await js.streams_info():
            await js.delete_stream(name.config.name)
        await nc.close()


async def test_seats_never_see_each_others_streams(room: Classroom, seats) -> None:
    one, two = seats[0].jetstream(), seats[1].jetstream()
    for js, count in ((one, 3), (two, 5)):
        await js.add_stream(name="EVENTS", subjects=["events.>"])
        await js.add_consumer("EVENTS", durable_name="billing")
        for i in range(count):
            await js.publish(f"events.n{i}", b"x")
    assert (await one.stream_info("EVENTS")).state.messages == 3
    assert (await two.stream_info("EVENTS")).state.messages == 5
    await one.add_consumer("EVENTS", durable_name="audit")
    assert [c.name for c in await two.consumers_info("EVENTS")] == ["billing"]
    assert sorted(c.name for c in await one.consumers_info("EVENTS")) == ["audit", "billing"]
    # Core subjects are per account too: seat 3 hears nothing of seat 1's traffic.
    heard: list[str] = []

    async def listen(msg) -> None:
        heard.append(msg.subject)

    await seats[2].subscribe("events.>", cb=listen)
    await seats[2].flush()
    await seats[0].publish("events.core", b"x")
    await seats[0].flush()
    await seats[2].publish("events.mine", b"x")
    await async_wait_until(lambda: heard != [], what="seat 3's own message")
    assert heard == ["events.mine"]
    with pytest.raises(NotFoundError):
        await seats[2].jetstream().stream_info("EVENTS")
    teacher = await _as(room, "instructor")
    try:
        names = [s.config.name for s in await teacher.jetstream().streams_info()]
        assert names == ["CLASSROOM"], "the instructor sees results, not the seats' streams"
    finally:
        await teacher.close()


async def test_each_seat_has_its_jetstream_limits(room: Classroom, seats) -> None:
    js = seats[0].jetstream()
    limits = (await js.account_info()).limits
    assert (limits.max_streams, limits.max_consumers) == (3, 8)
    assert (limits.max_memory, limits.max_storage) == (256 * 1024**2, 1024**3)
    for i in range(3):
        await js.add_stream(name=f"S{i}", subjects=[f"s{i}.>"])
    with pytest.raises(APIError) as refused:
        await js.add_stream(name="S3", subjects=["s3.>"])
    assert refused.value.err_code == 10027  # maximum number of streams reached
    await seats[1].jetstream().add_stream(name="S3", subjects=["s3.>"])  # others are not full


async def test_a_wrong_password_is_refused(room: Classroom) -> None:
    with pytest.raises(ConnectError, match="refused the credentials") as info:
        await fanout_kit.connect(room.server.url, user="seat-01", password="guess")
    assert room.seats[0].password not in str(info.value)


async def _publish_three(js):
    return [await js.publish(f"welcome.{s}", b"hi") for s in "abc"]


async def _publish_two(js):
    return [await js.publish(f"welcome.{s}", b"hi") for s in "ab"]


async def _check_as_seat(room: Classroom, seat: str, learner, monkeypatch) -> str:
    """Run lesson 00's checker as an attendee on ``seat`` does: with the seat's environment,
    `fanout_kit.connect()` and the lesson's own setup, unchanged."""
    for name, value in room.env(seat).items():
        monkeypatch.setenv(name, value)
    nc = await fanout_kit.connect()
    try:
        js = nc.jetstream()
        await js.add_stream(name="WELCOME", subjects=["welcome.>"])
        result = await welcome.publish_three(js, learner)
        await flush_reports()
        await js.delete_stream("WELCOME")
    finally:
        await nc.close()
    return result.status


async def test_check_results_reach_the_live_class_board(room: Classroom, monkeypatch) -> None:
    teacher = await _as(room, "instructor")
    board = await fanout_kit.class_board(teacher)
    try:
        assert board.model.seats == ["seat-01", "seat-02", "seat-03"], "the roster, all seats"
        assert await _check_as_seat(room, "seat-01", _publish_three, monkeypatch) == "correct"
        assert await _check_as_seat(room, "seat-02", _publish_two, monkeypatch) == "wrong"
        model = board.model
        await async_wait_until(
            lambda: (
                model.state("seat-01", "welcome.publish_three") == "passed"
                and model.state("seat-02", "welcome.publish_three") == "tried"
            ),
            what="both results on the board",
        )
        assert model.state("seat-03", "welcome.publish_three") == "not started"
        await async_wait_until(
            lambda: "rgba(46,160,67" in board.widget.value and "✓" in board.widget.value,
            what="a redraw",
        )
        text = repr(board)
        assert re.search(r"seat-01\s+✓ ", text) and re.search(r"seat-02\s+✗ ", text), text
        assert re.search(r"seat-03\s+· ", text), text
        # A board opened later (a kernel restart) reads the same from the instructor's stream.
        late = await fanout_kit.class_board(teacher)
        await async_wait_until(
            lambda: late.model.state("seat-02", "welcome.publish_three") == "tried",
            what="the late board to catch up",
        )
        assert late.model.state("seat-01", "welcome.publish_three") == "passed"
        await late.stop()
    finally:
        await board.stop()
        await teacher.close()


async def test_no_classroom_no_report(monkeypatch, server) -> None:
    """Outside a classroom (no NATS_USER) nothing is sent; FANOUT_KIT_CLASSROOM=off stops it."""
    monkeypatch.setenv("NATS_URL", server.url)
    monkeypatch.delenv("NATS_USER", raising=False)
    assert not classroom.in_classroom()
    monkeypatch.setenv("NATS_USER", "seat-01")
    assert classroom.in_classroom()
    monkeypatch.setenv(classroom.OFF_ENV, "off")
    assert not classroom.in_classroom()


def test_the_model_ignores_what_it_does_not_know() -> None:
    model = ClassModel()
    model.set_roster(["seat-02", "seat-01"])
    assert not model.apply("seat-01", {"exercise": "nope.nothing", "status": "correct"})
    assert not model.apply("seat-01", {"exercise": "welcome.publish_three"})
    assert not model.apply("seat-01", {"exercise": "welcome.publish_three", "status": "not"})
    assert model.apply("seat-01", {"exercise": "welcome.publish_three", "status": "wrong"})
    assert model.seats == ["seat-01", "seat-02"]
    assert model.totals("seat-01") == (0, 1)
    assert "(1 wrong)" in model.html()


async def test_bad_classroom_arguments_name_the_parameter() -> None:
    for kwargs, param in [
        ({"seats": 0}, "seats"),
        ({"seats": 2, "limits": Limits(memory="lots")}, "memory"),
        ({"seats": 2, "limits": Limits(streams=0)}, "streams"),
        ({"seats": 2, "host": "my laptop"}, "host"),
    ]:
        with pytest.raises(KitValueError) as info:
            await start_classroom(**kwargs)
        assert info.value.param == param, info.value
    with pytest.raises(KitTypeError, match="nc='nats://127.0.0.1:4222' is a str"):
        await fanout_kit.class_board("nats://127.0.0.1:4222")


def test_the_command_writes_a_private_seats_file_and_prints_no_password(tmp_path) -> None:
    """`fanout-kit classroom` on another address (127.0.0.2: loopback, so no warning here),
    seats file 0600 with every seat's environment, no password on the terminal, Ctrl-C stops."""
    out = tmp_path / "class" / "seats.json"
    proc = subprocess.Popen(
        [*COMMAND, "--seats", "2", "--out", str(out), "--host", "127.0.0.2", "--streams", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C stops the classroom" in line:
                break
        said = "".join(lines)
        assert "WARNING" not in said, said
        assert f"seats file   {out}" in said
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        data = json.loads(out.read_text())
        people = [data["instructor"], *data["seats"]]
        assert [p["seat"] for p in people] == ["instructor", "seat-01", "seat-02"]
        for person in people:
            env = person["env"]
            assert set(env) == {"NATS_URL", "NATS_USER", "NATS_PASSWORD"}
            assert env["NATS_URL"].startswith("nats://127.0.0.2:")
            assert env["NATS_PASSWORD"] not in said, "a password was printed"
        env = data["seats"][1]["env"]
        monitoring = re.search(r"monitoring\s+(http://\S+)", said)
        assert monitoring and monitoring.group(1).startswith("http://127.0.0.1:"), said
        store = Path(re.search(r"store\s+(\S+) \(removed", said).group(1))
        assert store.is_dir()

        async def use_seat() -> int:
            nc = await fanout_kit.connect(
                env["NATS_URL"], user=env["NATS_USER"], password=env["NATS_PASSWORD"]
            )
            limits = (await nc.jetstream().account_info()).limits
            await nc.close()
            return limits.max_streams

        assert asyncio.run(use_seat()) == 4
        os.killpg(proc.pid, signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, rest
    assert "fanout-kit classroom: stopped" in rest
    wait_until(lambda: not store.exists(), what="the classroom's store to be removed")


def test_listening_beyond_loopback_comes_with_a_warning() -> None:
    """Only loopback addresses are allowed here, so the warning itself is what is tested."""
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        assert classroom.host_warning(host) is None
    warned = classroom.host_warning("192.0.2.10")
    assert warned and warned.startswith("listening on 192.0.2.10, not 127.0.0.1")
    assert "no TLS" in warned and "in the clear" in warned
    assert "every address of this machine" in (classroom.host_warning("0.0.0.0") or "")


def test_the_command_refuses_bad_input_before_starting(tmp_path) -> None:
    out = tmp_path / "seats.json"
    done = subprocess.run(
        [*COMMAND, "--seats", "2", "--out", str(out), "--memory", "lots"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "per seat memory='lots' is not a size" in done.stderr, done.stderr
    assert not out.exists()
