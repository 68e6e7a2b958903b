"""Wait until something is true, on the running event loop, with a deadline that says what.

Lessons and experiments wait for the server to catch up all the time (an election, a consumer
draining, followers getting current). ``wait_for`` is that loop written once: it polls a
condition, sleeps a little longer each time (never blocking the loop, so boards and workers keep
running), and on the deadline raises an error that names what was awaited and the last value
seen, instead of a bare ``TimeoutError`` or a silent fall-through.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

from .errors import FanoutKitError
from .validate import bad_type, check_seconds, check_str

__all__ = ["WaitTimeout", "settle", "wait_for"]

T = TypeVar("T")

FIRST_PAUSE = 0.005  # seconds before the second look
MAX_PAUSE = 0.1  # the longest pause between looks: a waiter notices within 0.1 s


class WaitTimeout(FanoutKitError, TimeoutError):
    """A :func:`wait_for` deadline passed. ``what`` and ``last`` say what and what was seen."""

    def __init__(self, what: str, timeout: float, last: object, note: str = "") -> None:
        seen = _short(last)
        super().__init__(
            f"Gave up waiting for {what} after {timeout:g} s (last seen: {seen}){note}. "
            "If the server is just slow, pass a larger timeout=; otherwise the condition "
            "may never become true: check what it is waiting on."
        )
        self.what = what
        self.timeout = timeout
        self.last = last


def _short(value: object) -> str:
    text = repr(value) if not isinstance(value, BaseException) else f"{type(value).__name__}"
    if isinstance(value, BaseException) and str(value):
        text += f": {value}"
    return text if len(text) <= 200 else text[:197] + "..."


@overload
async def wait_for(
    condition: Callable[[], Awaitable[T | None]],
    timeout: float = ...,
    what: str = ...,
    *,
    ignore: type[Exception] | tuple[type[Exception], ...] = ...,
) -> T: ...


@overload
async def wait_for(
    condition: Callable[[], T | None],
    timeout: float = ...,
    what: str = ...,
    *,
    ignore: type[Exception] | tuple[type[Exception], ...] = ...,
) -> T: ...


async def wait_for(
    condition: Callable[[], Any],
    timeout: float = 10.0,
    what: str = "the condition",
    *,
    ignore: type[Exception] | tuple[type[Exception], ...] = (),
) -> Any:
    """Call ``condition()`` until it returns something truthy, and return that value.

    ``condition`` may be a plain function or an ``async def`` (its result is awaited). It is
    called at once, then after pauses growing from 5 ms to 0.1 s, never blocking the event
    loop. After ``timeout`` seconds it raises :class:`WaitTimeout` naming ``what`` and the
    last value ``condition`` returned. A call still running at the deadline is cancelled.

    ``ignore``: exception types that mean "not yet" (e.g. ``nats.errors.TimeoutError`` while
    a cluster elects a leader); they are remembered as the last value seen. Any other
    exception propagates at once.
    """
    if not callable(condition):
        fits = "a function (plain or async) to call"
        raise bad_type("condition", condition, fits, "lambda: len(got) >= 10")
    limit = check_seconds(timeout, "timeout", "10")
    check_str(what, "what", example="'the consumer to drain'")
    kinds = ignore if isinstance(ignore, tuple) else (ignore,)
    if not all(isinstance(k, type) and issubclass(k, Exception) for k in kinds):
        raise bad_type("ignore", ignore, "an exception class or a tuple of them", "KeyError")

    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    pause = FIRST_PAUSE
    last: object = "nothing yet"
    while True:
        scope = asyncio.timeout_at(deadline)
        try:
            async with scope:
                result = condition()
                if inspect.isawaitable(result):
                    result = await result
        except TimeoutError as exc:
            if scope.expired():
                raise WaitTimeout(what, limit, last, "; the last check was still running") from None
            if not isinstance(exc, kinds):
                raise
            last = exc
        except kinds as exc:
            last = exc
        else:
            if result:
                return result
            last = result
        left = deadline - loop.time()
        if left <= 0:
            raise WaitTimeout(what, limit, last)
        await asyncio.sleep(min(pause, left))
        pause = min(pause * 2, MAX_PAUSE)


async def settle(read: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout: float) -> T:
    """``await read()`` until ``done(value)``, and return that value; once ``timeout`` seconds
    have passed, return the last value read instead of raising.

    For a checker that must judge what the server shows once it has caught up (acks are
    fire-and-forget, the server applies them a moment later), and judge it anyway if it never
    does: what it shows then is the learner's answer. Polls like :func:`wait_for`, but never
    cancels a read (cancelling a nats-py request half-way can leave its connection broken),
    so it may return a little after ``timeout``.
    """
    limit = check_seconds(timeout, "timeout", "2")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    pause = FIRST_PAUSE
    while True:
        value = await read()
        left = deadline - loop.time()
        if done(value) or left <= 0:
            return value
        await asyncio.sleep(min(pause, left))
        pause = min(pause * 2, MAX_PAUSE)
