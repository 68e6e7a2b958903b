"""What every lesson's checker does, one parametrized test each, against a real server.

For each exercise in ``fanout_kit.progress.EXERCISES``: the lesson's stub is "not attempted"
(with the words the committed notebook shows), the solution is accepted twice in a row, a
wrong answer climbs the hint ladder (symptom, then concept, then the fix only when asked),
every result is recorded as progress, and the learner's own exception or hang becomes a wrong
answer naming it and the line of their code. The per-lesson files hold only the tables of
wrong answers and their hints.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

import fanout_kit
from fanout_kit import progress, reset_streams
from fanout_kit.checks import Checker, CheckResult, learner
from fanout_kit.events import demo_events, publish_events
from fanout_kit.server import NatsServer

from .conftest import assert_wrong, fresh_stream
from .solutions import load_solution

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


async def _orders(js: JetStreamContext, n: int) -> None:
    await fresh_stream(js)
    for i in range(n):
        await js.publish("events.order.created", f"order {i}".encode())


async def _demo(js: JetStreamContext, n: int, seed: int = 42) -> None:
    await fresh_stream(js)
    await publish_events(js, demo_events(n, seed=seed))


async def _welcome(js: JetStreamContext) -> None:
    await fresh_stream(js, "WELCOME", ("welcome.>",))
    await js.publish("welcome.first", b"hello")


async def _nothing(js: JetStreamContext) -> None:
    return None


@dataclass(frozen=True)
class Lesson:
    """How to set up an exercise's server state as the lesson does, and what to remove."""

    notebook: str
    function: str  # the learner's function name in the lesson and its solution file
    prepare: Callable[[JetStreamContext], Awaitable[None]]
    streams: tuple[str, ...]
    says: tuple[str, ...]  # in the first solution run's message
    cluster: bool = False


LESSONS: dict[str, Lesson] = {
    "00": Lesson(
        "00-welcome",
        "publish_three",
        _welcome,
        ("WELCOME",),
        ("3 messages stored in WELCOME at sequences 2..4.",),
    ),
    "01": Lesson(
        "01-streams-and-retention",
        "create_bounded_stream",
        _nothing,
        ("BOUNDED",),
        ("kept 100 messages", "10077"),
    ),
    "02": Lesson(
        "02-basic-fan-out",
        "create_billing",
        lambda js: _orders(js, 10),
        ("EVENTS",),
        ("seq 1..4", "6 more"),
    ),
    "03": Lesson(
        "03-filtered-fan-out",
        "make_fraud_watch",
        lambda js: _demo(js, 50, 3),
        ("EVENTS",),
        ("all 14 matching messages (4 payment failures, 10 logins)",),
    ),
    "04": Lesson(
        "04-real-time-and-replay",
        "make_late_report",
        lambda js: _demo(js, 20),
        ("EVENTS",),
        ("the 3 events published after `since` (seq 21..23)", "none of the 20 before"),
    ),
    "05": Lesson(
        "05-republish",
        "temp_alerts",
        _nothing,
        ("SENSOR_DATA",),
        ("3 alerts (alerts.temp.dev-01, alerts.temp.dev-03, alerts.temp.dev-02)",),
    ),
    "06": Lesson(
        "06-interest-retention", "setup_invoices", _nothing, ("INVOICES",), ("messages now 0",)
    ),
    "07": Lesson(
        "07-scaling-consumers",
        "thumbnail_worker",
        lambda js: _orders(js, 50),
        ("EVENTS",),
        ("50 events processed", "none twice, none missed"),
    ),
    "08": Lesson(
        "08-monitoring-lag",
        "lag_from_messages",
        lambda js: _demo(js, 30),
        ("EVENTS",),
        ("said 15, 10, 0", "no API request"),
    ),
    "09": Lesson(
        "09-anti-patterns",
        "safe_setup",
        _nothing,
        ("EVENTS",),
        ("keeps events for 7 days", "(seq 1 and 3)"),
    ),
    "10": Lesson(
        "10-event-driven-architecture",
        "inventory_service",
        lambda js: _demo(js, 60, 38),
        ("EVENTS",),
        ("counted {'order.created': 10, 'order.shipped': 6}, all acked",),
    ),
    "11": Lesson(
        "11-beyond-one-machine",
        "make_orders_r3",
        _nothing,
        ("ORDERS_R3",),
        ("on n1, n2, n3 in files",),
        cluster=True,
    ),
    "12": Lesson(
        "12-when-a-message-keeps-failing",
        "dead_letters",
        _nothing,
        ("REFUNDS", "REFUNDS_DLQ"),
        ("refund rf_2002 (seq 2) was delivered 3 times", "js.get_msg('REFUNDS', 2)"),
    ),
}


def test_every_exercise_has_a_lesson_row() -> None:
    assert sorted(LESSONS) == [e.lesson for e in progress.EXERCISES]


@pytest.mark.parametrize(
    ("concept", "pointer"),
    [
        ("fetch(n) asks for up to n messages.", "Pointer: fetch(n) asks"),
        ("max_ack_pending caps the messages in flight.", "Pointer: max_ack_pending caps"),
        ("js.add_consumer(stream, config) creates it.", "Pointer: js.add_consumer(stream"),
        ("`ack_wait` is how long the server waits.", "Pointer: `ack_wait` is"),
        ("look at the consumer's filter.", "Pointer: Look at"),
        ("interest retention drops a message.", "Pointer: Interest retention"),
    ],
)
def test_a_pointer_is_capitalised_only_when_it_opens_with_a_word(
    concept: str, pointer: str
) -> None:
    """A hint that opens with code keeps its case: ``Fetch(n)`` names nothing that exists."""
    result = CheckResult("wrong", "The symptom.", concept, "fix(n) with n=1.", rung=3)
    assert pointer in result.message, result.message
    assert "Fix: fix(n) with n=1." in result.message, result.message


def _checker(exercise: progress.Exercise) -> tuple[str, Checker]:
    module, name = exercise.key.split(".")
    check: Checker = getattr(importlib.import_module(f"fanout_kit.checks.{module}"), name)
    return module, check


@pytest.fixture(params=progress.EXERCISES, ids=lambda e: f"{e.lesson}-{e.key}")
def exercise(request: pytest.FixtureRequest) -> tuple[progress.Exercise, list[NatsServer]]:
    """An exercise, and the cluster's nodes if its lesson needs them (started outside the
    event loop, once per session)."""
    ex: progress.Exercise = request.param
    cluster = LESSONS[ex.lesson].cluster
    return ex, request.getfixturevalue("cluster_nodes") if cluster else []


@pytest.fixture
async def case(exercise: Any, js: JetStreamContext) -> Any:
    """(exercise, lesson, check, js) with the lesson's server state; cleaned up afterwards."""
    ex, nodes = exercise
    lesson = LESSONS[ex.lesson]
    client = await fanout_kit.connect(",".join(s.url for s in nodes)) if nodes else None
    jet = client.jetstream() if client else js
    await lesson.prepare(jet)
    yield ex, lesson, _checker(ex)[1], jet
    for stream in lesson.streams:
        await reset_streams(jet, stream)
    if client is not None:
        await client.close()


def _saved_output(lesson: Lesson, module: str, check: str) -> str:
    """The text the committed notebook saved for its check cell."""
    nb = json.loads((NOTEBOOKS / f"{lesson.notebook}.ipynb").read_text())
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and f"await {module}.{check}(" in source:
            return "".join(cell["outputs"][0]["data"]["text/plain"])
    raise AssertionError(f"{lesson.notebook} has no cell calling {module}.{check}")


def _like_solution(lesson: Lesson, body: Callable[..., Any]) -> Callable[..., Any]:
    """A learner function named and shaped (sync or async) like the lesson's."""
    solution = getattr(load_solution(lesson.notebook), lesson.function)
    if inspect.iscoroutinefunction(solution):

        async def fn(*args: Any) -> Any:
            return body(*args)

    else:

        def fn(*args: Any) -> Any:
            return body(*args)

    fn.__name__ = lesson.function
    return fn


async def _state(js: JetStreamContext, lesson: Lesson) -> dict[str, Any]:
    """Per lesson stream: its message count and consumer names (None if it does not exist)."""
    out: dict[str, Any] = {}
    for name in lesson.streams:
        try:
            info = await js.stream_info(name)
        except NotFoundError:
            out[name] = None
            continue
        consumers = sorted(c.name for c in await js.consumers_info(name))
        out[name] = (info.state.messages, consumers)
    return out


async def test_the_stub_is_not_attempted_in_the_lessons_words(case: Any) -> None:
    exercise, lesson, check, js = case

    async def stub(*args: Any) -> None:
        raise NotImplementedError("your code here")

    before = await _state(js, lesson)
    result = await check(js, stub)
    assert result.status == "not attempted", result
    saved = _saved_output(lesson, *exercise.key.split("."))
    if saved.startswith("○"):
        assert repr(result) == saved, "the committed notebook shows other words"
    assert progress.report().rows[int(exercise.lesson)].state == "not started"
    after = await _state(js, lesson)
    if exercise.lesson == "08":  # publishes its probe events before it asks the learner
        after = {k: (before[k][0], v[1]) for k, v in after.items()}
    assert after == before, "a stub's check must leave the lesson's streams as they were"


async def test_the_solution_is_accepted_twice_and_recorded_as_done(case: Any) -> None:
    exercise, lesson, check, js = case
    solve = getattr(load_solution(lesson.notebook), lesson.function)
    first = await check(js, solve)
    assert first.ok, first
    for phrase in lesson.says:
        assert phrase in first.message, first.message
    again = await check(js, solve)
    assert again.ok, again
    row = progress.report().rows[int(exercise.lesson)]
    assert (row.exercise, row.state, row.wrong) == (exercise, "done", 0)


async def test_a_wrong_answer_climbs_the_hint_ladder(case: Any) -> None:
    """Doing nothing is wrong for every exercise: the first try gets the symptom and how to
    ask for the fix, the second the concept too, reveal=True the fix."""
    exercise, lesson, check, js = case
    module = exercise.key.split(".")[0]
    nothing = _like_solution(lesson, lambda *args: None)

    first = await check(js, nothing)
    assert_wrong(first, [])
    assert first.concept and first.fix, "a wrong answer needs all three rungs"
    assert first.symptom in first.message
    assert first.concept not in first.message and first.fix not in first.message
    reveal = f"await {module}.{exercise.key.split('.')[1]}(js, {lesson.function}, reveal=True)"
    assert reveal in first.message, first.message

    second = await check(js, nothing)
    assert second.status == "wrong" and second.rung == 2
    assert second.concept[1:] in second.message and second.fix not in second.message
    assert reveal in second.message

    shown = await check(js, nothing, reveal=True)
    assert shown.rung == 3
    assert shown.fix[1:] in shown.message and shown.concept[1:] in shown.message

    row = progress.report().rows[int(exercise.lesson)]
    assert (row.state, row.wrong) == ("tried", 3)
    recorded = [(a.status, a.rung) for a in progress.attempts()]
    assert recorded == [("wrong", 1), ("wrong", 2), ("wrong", 3)]


async def test_a_demonstration_with_record_false_is_not_a_try(case: Any) -> None:
    """A lesson that shows its check on code of its own (09) passes record=False: the
    learner's own first wrong try still gets the first rung."""
    _, lesson, check, js = case
    nothing = _like_solution(lesson, lambda *args: None)
    demo = await check(js, nothing, record=False)
    assert demo.status == "wrong" and demo.rung == 1
    assert progress.attempts() == []
    mine = await check(js, nothing)
    assert mine.rung == 1, mine


async def test_the_ladder_continues_after_a_restart(case: Any) -> None:
    """A new kernel reads the recorded tries: its first wrong try is already the second."""
    exercise, lesson, check, js = case
    progress.record(exercise.key, "wrong", 1)  # a try made before the kernel restarted
    result = await check(js, _like_solution(lesson, lambda *args: None))
    assert result.rung == 2, result


async def test_the_learners_exception_names_their_line(case: Any) -> None:
    _, lesson, check, js = case

    def body(*args: Any) -> Any:
        return {}["missing key"]  # the learner's own bug

    result = await check(js, _like_solution(lesson, body))
    assert result.status == "wrong", result
    assert f"{lesson.function} raised KeyError ('missing key')" in result.message
    assert 'return {}["missing key"]' in result.message, result.message
    assert "test_checks_contract.py" in result.message
    assert "Traceback" not in result.message and "fanout_kit" not in result.message
    assert result.concept[1:] in result.message, "an exception's hint is shown at once"


async def test_a_name_lost_in_a_kernel_restart_is_explained(case: Any) -> None:
    _, lesson, check, js = case

    def body(*args: Any) -> Any:
        return setup_cells_result  # noqa: F821

    result = await check(js, _like_solution(lesson, body))
    assert result.status == "wrong", result
    assert "raised NameError" in result.message
    assert "return setup_cells_result" in result.message
    assert "Run All Above" in result.message


async def test_a_learner_function_that_hangs_is_stopped_where_it_waits(
    case: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    exercise, lesson, check, js = case
    if exercise.lesson == "10":
        pytest.skip("the inventory service runs until the check cancels it: waiting is its job")
    monkeypatch.setattr(learner, "LEARNER_TIMEOUT", 0.5)
    scaling = importlib.import_module("fanout_kit.checks.scaling")
    monkeypatch.setattr(scaling, "LEARNER_TIMEOUT", 0.5)
    released = threading.Event()
    solution = getattr(load_solution(lesson.notebook), lesson.function)
    if inspect.iscoroutinefunction(solution):

        async def hang(*args: Any) -> None:
            await asyncio.sleep(3600)

    else:

        def hang(*args: Any) -> None:
            released.wait(60)

    hang.__name__ = lesson.function
    try:
        result: CheckResult = await check(js, hang)
    finally:
        released.set()
    assert result.status == "wrong", result
    assert "after 0.5 s" in result.message, result.message
    waits_at = "await asyncio.sleep(3600)" if inspect.iscoroutinefunction(solution) else "wait(60)"
    assert waits_at in result.message, result.message


def test_a_plain_function_that_returns_after_its_check_ended_leaves_no_thread_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A learner's plain function that outlives its check (timed out, and the script's event
    loop closed since) returns into nothing: no 'Event loop is closed' from its thread."""
    release = threading.Event()
    errors: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))

    def slow() -> int:
        release.wait(30)
        return 1

    async def check() -> None:
        with pytest.raises(learner.LearnerTimedOut):
            await learner.call_learner(slow, timeout=0.05)

    asyncio.run(check())  # the loop is closed when this returns
    threads = [t for t in threading.enumerate() if t.name == "learner-slow"]
    assert threads, "the learner's thread should still be waiting"
    release.set()
    for thread in threads:
        thread.join(10)
    assert errors == []
