"""Recorded check results: which exercises are done, tried or not started.

Every check appends one line to the progress file of the learner's workspace
(``workspace/.fanout-kit-progress.jsonl``): JSON lines, appended under a lock, so several
kernels checking at once never corrupt it, and a line that cannot be read is skipped. Outside
a workspace (the tracked notebooks under nbval, a script) results are kept in this process only,
so a run there is the same every time. ``FANOUT_KIT_PROGRESS`` names another file.

In a classroom (a seat's environment: see :mod:`.classroom`) every result is also published to
the instructor's class board, as a small JSON record on the seat's ``classroom.progress``.

The same records drive the hint ladder: the number of wrong tries of an exercise so far decides
how much of the next hint is shown, across kernel restarts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from . import processes
from .workspace import PROGRESS_FILE, find_workspace

__all__ = [
    "ENV",
    "EXERCISES",
    "Attempt",
    "Exercise",
    "ProgressReport",
    "attempts",
    "exercise",
    "progress_file",
    "record",
    "recording_to",
    "show_progress",
    "wrong_tries",
]

ENV = "FANOUT_KIT_PROGRESS"


@dataclass(frozen=True)
class Exercise:
    """One lesson's exercise: ``key`` is ``<checks module>.<check function>``."""

    lesson: str
    key: str
    title: str


EXERCISES: tuple[Exercise, ...] = (
    Exercise("00", "welcome.publish_three", "publish three messages, keep the PubAcks"),
    Exercise("01", "retention.bounded_stream", "a stream that keeps 100 and refuses more"),
    Exercise("02", "fanout.billing_consumer", "billing: a durable that reads from the start"),
    Exercise("03", "filters.fraud_watch", "fraud-watch: failed payments and logins only"),
    Exercise("04", "replay.late_report", "late-report: replay from a moment in time"),
    Exercise("05", "republish.temp_alerts", "temperature alerts for core subscribers"),
    Exercise("06", "interest.invoices_kept_for_both", "invoices kept until both services ack"),
    Exercise("07", "scaling.shared_thumbnailer", "two workers share one durable"),
    Exercise("08", "lag.lag_from_metadata", "lag from message metadata, no API calls"),
    Exercise("09", "antipatterns.fix_billing", "fix the billing team's risky setup"),
    Exercise("10", "architecture.inventory", "the inventory service"),
    Exercise("11", "cluster.orders_r3", "ORDERS_R3 replicated on three nodes"),
    Exercise("12", "failure.dead_letters", "dead letters for the refund service"),
)


def exercise(key: str) -> Exercise:
    """The exercise with ``key`` (``"fanout.billing_consumer"``)."""
    for ex in EXERCISES:
        if ex.key == key:
            return ex
    known = ", ".join(e.key for e in EXERCISES)
    raise KeyError(f"no exercise {key!r} in fanout_kit.progress.EXERCISES (known: {known})")


@dataclass(frozen=True)
class Attempt:
    """One recorded check result."""

    exercise: str
    status: str
    rung: int
    at: str


@dataclass(eq=False)  # removed by identity: two alike recordings are still two
class _Recording:
    """Where results go: ``path``, or (None) where a kernel records, with ``memory`` for
    results that have no file."""

    path: Path | None
    memory: list[Attempt] = field(default_factory=list)


_RECORDINGS: list[_Recording] = [_Recording(None)]  # the last one is in force


@contextlib.contextmanager
def recording_to(path: Path | None) -> Iterator[Path | None]:
    """Record to (and read from) ``path`` inside the block, in this process only: tests give
    each test a file of its own without leaking it to the kernels a test starts. With
    ``None``, record as a kernel would (``$FANOUT_KIT_PROGRESS``, the workspace, else in
    memory), starting with no results in memory."""
    recording = _Recording(path)
    _RECORDINGS.append(recording)
    try:
        yield path
    finally:
        _RECORDINGS.remove(recording)


def progress_file() -> Path | None:
    """Where results are recorded: a :func:`recording_to` file, else ``$FANOUT_KIT_PROGRESS``,
    else the progress file of the workspace the kernel runs in (found from the current folder
    up), else None (kept in memory)."""
    if _RECORDINGS[-1].path is not None:
        return _RECORDINGS[-1].path
    env = os.environ.get(ENV)
    if env:
        return Path(env)
    folder = find_workspace(Path.cwd())
    return folder / PROGRESS_FILE if folder is not None else None


def record(key: str, status: str, rung: int = 1) -> None:
    """Append one check result for exercise ``key``."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    attempt = Attempt(key, status, rung, now)
    try:
        _append(attempt)
    finally:
        _publish(attempt)


def _publish(attempt: Attempt) -> None:
    """The classroom hook: also send the result to the class board when in a classroom."""
    from .classroom import report_result

    report_result(attempt.exercise, attempt.status, attempt.rung, attempt.at)


def _append(attempt: Attempt) -> None:
    path = progress_file()
    if path is None:
        _RECORDINGS[-1].memory.append(attempt)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(attempt.__dict__) + "\n").encode()
    with path.open("a+b") as f, _locked(f, exclusive=True):
        if f.seek(0, os.SEEK_END) > 0:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":  # a writer killed mid-line: start on a line of our own
                line = b"\n" + line
        f.seek(0, os.SEEK_END)
        f.write(line)
        f.flush()


# Windows: the byte msvcrt.locking locks, far past any progress file's end.
_WINDOWS_LOCK_OFFSET = 1 << 30


@contextlib.contextmanager
def _locked(f: IO[bytes], *, exclusive: bool) -> Iterator[None]:
    """Hold a lock on the open file ``f``, waiting for it: ``flock`` (shared for readers) on
    Linux and macOS, ``msvcrt.locking`` (always exclusive) on Windows. Nothing OS-specific is
    imported until here, so the kit imports everywhere."""
    fd = f.fileno()
    if processes.platform() == "win32":
        locks = processes.msvcrt()
        where = f.tell()
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        locks.locking(fd, locks.LK_LOCK, 1)
        f.seek(where)
        try:
            yield
        finally:
            os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
            locks.locking(fd, locks.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def attempts(path: Path | None = None) -> list[Attempt]:
    """Every recorded result, oldest first (from ``path``, else from :func:`progress_file`)."""
    path = path or progress_file()
    if path is None:
        return list(_RECORDINGS[-1].memory)
    try:
        f = path.open("rb")
    except FileNotFoundError:
        return []
    with f, _locked(f, exclusive=False):
        text = f.read().decode("utf-8", errors="replace")
    out: list[Attempt] = []
    for line in text.splitlines():
        try:
            data = json.loads(line)
            out.append(
                Attempt(str(data["exercise"]), str(data["status"]), int(data["rung"]), data["at"])
            )
        except (ValueError, KeyError, TypeError):
            continue  # a torn or foreign line: skip it, keep the rest
    return out


def wrong_tries(key: str) -> int:
    """How many wrong results exercise ``key`` has had so far."""
    return sum(1 for a in attempts() if a.exercise == key and a.status == "wrong")


State = Literal["done", "tried", "not started"]
_MARKS: dict[State, str] = {"done": "✓", "tried": "✗", "not started": "·"}


@dataclass(frozen=True)
class Row:
    exercise: Exercise
    state: State
    wrong: int


@dataclass(frozen=True)
class ProgressReport:
    """Per exercise: done (a check said correct), tried (only wrong so far) or not started."""

    rows: tuple[Row, ...]
    where: Path | None

    @property
    def done(self) -> int:
        return sum(r.state == "done" for r in self.rows)

    def lines(self) -> list[str]:
        out = []
        for r in self.rows:
            state: str = r.state
            if r.state == "tried":
                state = f"tried ({r.wrong} wrong)"
            out.append(f"  {r.exercise.lesson}  {_MARKS[r.state]} {state:<16} {r.exercise.title}")
        out.append(f"{self.done} of {len(self.rows)} exercises done.")
        return out

    def __repr__(self) -> str:
        if self.where is None:
            head = "Progress in this kernel only (not in a workspace, so nothing is saved):"
        elif self.where.exists():
            head = f"Progress recorded in {self.where}:"
        else:
            head = f"No check results yet (they will be recorded in {self.where}):"
        return "\n".join([head, *self.lines()])

    __str__ = __repr__


def report(path: Path | None = None) -> ProgressReport:
    """The progress table from ``path`` (else from :func:`progress_file`)."""
    where = path or progress_file()
    recorded = attempts(where)
    rows = []
    for ex in EXERCISES:
        mine = [a for a in recorded if a.exercise == ex.key]
        wrong = sum(a.status == "wrong" for a in mine)
        state: State = (
            "done"
            if any(a.status == "correct" for a in mine)
            else "tried"
            if wrong
            else "not started"
        )
        rows.append(Row(ex, state, wrong))
    return ProgressReport(tuple(rows), where)


def show_progress() -> ProgressReport:
    """Which exercises you have done, tried or not started (a notebook shows the table)."""
    return report()
