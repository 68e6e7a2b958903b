"""Calling the learner's function: a deadline around it, and its exceptions turned into feedback.

A learner's exception is not a crash of the check. :func:`call_learner` wraps whatever their
function raises in :class:`LearnerFailed` (a stub's ``NotImplementedError`` becomes
:class:`NotAttempted`), and a function still running at its deadline is stopped and reported as
:class:`LearnerTimedOut`, with the line it was waiting on. :func:`learner_raised` words either as
a wrong answer naming the exception and the line of the learner's own code it came from.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import linecache
import os
import re
import sys
import sysconfig
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from types import CoroutineType, FrameType, GeneratorType
from typing import Any, Literal

import nats.errors
from nats.js.errors import APIError, NotFoundError

from ..errors import FanoutKitError
from .result import CheckResult, wrong

__all__ = [
    "LEARNER_TIMEOUT",
    "LearnerFailed",
    "LearnerTimedOut",
    "NotAttempted",
    "call_learner",
    "learner_name",
    "learner_raised",
    "where",
]

LEARNER_TIMEOUT = 30.0
"""Seconds a learner's function may run before the check stops it and says where it waited."""

_KIT = str(Path(__file__).resolve().parent.parent)
_LIBRARIES = ("stdlib", "platstdlib", "purelib", "platlib")
_NOT_LEARNER = tuple(
    str(Path(p).resolve()) + os.sep for p in {_KIT, *(sysconfig.get_paths()[k] for k in _LIBRARIES)}
)
_CELL = re.compile(r"ipykernel_\d+|<ipython-input-")


class NotAttempted(Exception):
    """The learner's stub is still a stub (it raised ``NotImplementedError``)."""


class LearnerFailed(Exception):
    """The learner's function raised ``exc``."""

    def __init__(self, fn: Callable[..., Any], exc: Exception) -> None:
        super().__init__(f"{learner_name(fn)} raised {type(exc).__name__}: {exc}")
        self.fn = fn
        self.exc = exc


class LearnerTimedOut(Exception):
    """The learner's function was still running after ``seconds``; ``at`` says where."""

    def __init__(self, fn: Callable[..., Any], seconds: float, at: str) -> None:
        super().__init__(f"{learner_name(fn)} still running after {seconds:g} s{at}")
        self.fn = fn
        self.seconds = seconds
        self.at = at


def learner_name(fn: Callable[..., Any]) -> str:
    """The name the learner gave their function (``your function`` for a lambda)."""
    name = getattr(fn, "__name__", "")
    return name if name and name.isidentifier() else "your function"


def _is_learner_file(filename: str) -> bool:
    if filename.startswith("<") and not _CELL.search(filename):
        return False  # <frozen ...>, <string>
    try:
        resolved = str(Path(filename).resolve())
    except OSError:
        resolved = filename
    return not resolved.startswith(_NOT_LEARNER)


def _describe(filename: str, lineno: int, function: str) -> str:
    code = linecache.getline(filename, lineno).strip()
    place = "its cell" if _CELL.search(filename) else Path(filename).name
    shown = f": `{code}`" if code else ""
    return f" in {function}(), line {lineno} of {place}{shown}"


def where(exc: BaseException) -> str:
    """ " in fn(), line N of its cell: `code`" for the deepest frame of the learner's own code
    in ``exc``'s traceback (where their code called into the library, or raised); "" if none."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if _is_learner_file(f.filename)]
    if not frames:
        return ""
    last = frames[-1]
    return _describe(last.filename, last.lineno or 0, last.name)


def _where_suspended(frames: list[FrameType]) -> str:
    ours = [f for f in frames if _is_learner_file(f.f_code.co_filename)]
    if not ours:
        return ""
    f = ours[-1]
    return _describe(f.f_code.co_filename, f.f_lineno, f.f_code.co_name)


def _await_chain(coro: Any) -> list[FrameType]:
    """The frames of a suspended coroutine and everything it awaits, outermost first."""
    frames: list[FrameType] = []
    while coro is not None:
        if isinstance(coro, CoroutineType):
            frame, coro = coro.cr_frame, coro.cr_await
        elif isinstance(coro, GeneratorType):
            frame, coro = coro.gi_frame, coro.gi_yieldfrom
        else:
            break
        if frame is not None:
            frames.append(frame)
    return frames


def _thread_frames(thread: threading.Thread) -> list[FrameType]:
    frame = sys._current_frames().get(thread.ident or -1)
    frames: list[FrameType] = []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    return frames[::-1]


def _start_in_thread(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[asyncio.Future[Any], threading.Thread]:
    """Run a plain (synchronous) function in a daemon thread: a learner's endless loop cannot
    freeze the kernel's event loop, and the check can still report where it is stuck."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(value: Any, exc: BaseException | None) -> None:
        if future.done():
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(value)

    def hand_over(value: Any, exc: BaseException | None) -> None:
        # A function that returns after its check gave up on it (timed out) may find the
        # check's event loop closed (a script's asyncio.run ended): nobody waits for it then.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, value, exc)

    def target() -> None:
        try:
            value = context.run(fn, *args, **kwargs)
        except BaseException as exc:  # handed to the loop, re-raised there
            hand_over(None, exc)
        else:
            hand_over(value, None)

    thread = threading.Thread(target=target, daemon=True, name=f"learner-{learner_name(fn)}")
    thread.start()
    return future, thread


async def call_learner(
    fn: Callable[..., Any], *args: Any, timeout: float | Literal["default"] | None = "default"
) -> Any:
    """Call the learner's function (async, or plain in a thread) and return what it returns.

    Raises :class:`NotAttempted` for a stub, :class:`LearnerFailed` for any other exception of
    theirs, :class:`LearnerTimedOut` if it has not returned after ``timeout`` seconds
    (``"default"``: :data:`LEARNER_TIMEOUT`; an async function is cancelled then; ``None``: no
    deadline, the caller keeps one and cancelling the caller cancels the learner's code).
    """
    if timeout == "default":
        timeout = LEARNER_TIMEOUT
    thread: threading.Thread | None = None

    async def run() -> Any:
        nonlocal thread
        if inspect.iscoroutinefunction(fn):
            result = await fn(*args)
        else:
            future, thread = _start_in_thread(fn, args, {})
            result = await future
        if inspect.isawaitable(result):  # a plain function that returned a coroutine
            result = await result
        return result

    try:
        if timeout is None:  # in this task: cancelling the caller cancels the learner's code
            return await run()
        task = asyncio.ensure_future(run())
        try:
            done, _ = await asyncio.wait({task}, timeout=timeout)
        except BaseException:
            task.cancel()
            raise
        if task not in done:
            frames = _thread_frames(thread) if thread else _await_chain(task.get_coro())
            at = _where_suspended(frames)
            task.cancel()
            await asyncio.wait({task}, timeout=2.0)  # a function swallowing the cancel is left
            raise LearnerTimedOut(fn, timeout, at)
        return task.result()
    except LearnerTimedOut:
        raise
    except NotImplementedError as exc:
        raise NotAttempted(str(exc)) from exc
    except Exception as exc:
        raise LearnerFailed(fn, exc) from exc


def _generic_hint(exc: BaseException) -> tuple[str, str]:
    """(concept, fix) for an exception any exercise can meet."""
    if isinstance(exc, NameError):
        return (
            f"{exc}: a name your function uses does not exist in this kernel. If the kernel "
            "was restarted (or the notebook just opened), everything the cells above defined "
            "is gone: run them again (Run > Run All Above Selected Cell), then this one. "
            "Otherwise check the spelling.",
            "",
        )
    if isinstance(exc, TimeoutError):  # nats.errors.TimeoutError too
        return (
            "a fetch raises TimeoutError when nothing arrives before its timeout: it is how "
            'fetch says "nothing (more) for you", not a failure. Either your consumer has '
            "nothing to deliver (check where it starts and what it filters) or an empty fetch "
            "is normal where you call it: then catch TimeoutError there.",
            "",
        )
    if isinstance(exc, NotFoundError):
        return (
            f"the server has no such stream or consumer ({exc.description}). Check the "
            "name (names are case-sensitive), and create a thing before you use it.",
            "",
        )
    if isinstance(exc, APIError):
        return (
            f"the server refused a request: {exc.description} (error {exc.err_code}). "
            "Read the message: it names what it does not accept.",
            "",
        )
    if isinstance(exc, nats.errors.NoRespondersError | nats.errors.NoServersError):
        return (
            "nothing answered: no stream captures that subject, or the server is not "
            "reachable. Run the lesson's setup cells again and check the subject.",
            "",
        )
    if isinstance(exc, nats.errors.ConnectionClosedError):
        return (
            "your connection is closed. Run the lesson's setup cell that connects "
            "(`nc = await fanout_kit.connect()`) again, then this one.",
            "",
        )
    if isinstance(exc, FanoutKitError):
        return (str(exc), "")
    return ("the line above is where it happened, and the message says what went wrong.", "")


Explain = Callable[[Exception], "tuple[str, str] | None"]


def learner_raised(
    failure: LearnerFailed | LearnerTimedOut, explain: Explain | None = None
) -> CheckResult:
    """The wrong answer for the learner's own exception or timeout: which exception, from which
    line of their code, and a hint (``explain(exc)`` gives an exercise's own (concept, fix),
    or None for the generic one). The hint is shown at once: it explains, it does not solve."""
    name = learner_name(failure.fn)
    if isinstance(failure, LearnerTimedOut):
        return wrong(
            f"{name} was still running after {failure.seconds:g} s{failure.at}, so the check "
            "stopped it.",
            "something your function awaits never completes: a fetch or next_msg waiting for "
            "messages that will not come, or a loop with no way out. Give waits a timeout and "
            "make sure each loop ends.",
            rung=2,
        )
    exc = failure.exc
    text = str(exc).strip()
    said = f" ({text})" if text and len(text) < 300 else ""
    own = explain(exc) if explain and not isinstance(exc, NameError) else None
    concept, fix = own or _generic_hint(exc)
    return wrong(f"{name} raised {type(exc).__name__}{said}{where(exc)}.", concept, fix, rung=2)
