"""Exercise checkers: one module per lesson, each check a coroutine returning a CheckResult.

A check inspects the real server (streams, consumers, messages) or calls the learner's
function. The stub a lesson ships raises ``NotImplementedError``; a check reports that as
"not attempted" rather than as a failure. A wrong answer gets a specific hint.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from nats.js.errors import APIError, NotFoundError

from ..errors import FanoutKitError

__all__ = [
    "READ_THE_MESSAGE",
    "CheckResult",
    "NotAttempted",
    "call_learner",
    "consume",
    "correct",
    "enum_value",
    "forget_consumer",
    "forget_stream",
    "guarded",
    "no_setup_stream",
    "not_attempted",
    "push_consumer_hint",
    "refusal",
    "run_setup",
    "starts_at_beginning",
    "wrong",
]

Status = Literal["not attempted", "wrong", "correct"]
_ICONS: dict[Status, str] = {"not attempted": "⏳", "wrong": "❌", "correct": "✅"}


@dataclass(frozen=True)
class CheckResult:
    """The verdict of one check. Its repr is stable: notebooks commit it as output."""

    status: Status
    message: str

    @property
    def ok(self) -> bool:
        return self.status == "correct"

    def __repr__(self) -> str:
        label = self.status.capitalize()
        return f"{_ICONS[self.status]} {label}: {self.message}"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return self.ok


def correct(message: str) -> CheckResult:
    return CheckResult("correct", message)


def wrong(hint: str) -> CheckResult:
    return CheckResult("wrong", hint)


def not_attempted(what: str) -> CheckResult:
    return CheckResult("not attempted", what)


#: The advice after a refusal the check cannot explain better: the server's text says it.
READ_THE_MESSAGE = "Read the message: it names what it does not accept."


def refusal(exc: APIError, what: str, advice: str) -> CheckResult:
    """The server refused something: "The server refused <what>: <its description> (error
    <code>). <advice>", or "The server refused: ..." when ``what`` is empty."""
    head = f"The server refused {what}" if what else "The server refused"
    return wrong(f"{head}: {exc.description} (error {exc.err_code}). {advice}")


def no_setup_stream(stream: str) -> CheckResult:
    """The hint when the stream the lesson's setup cells create (on ``events.>``) is missing."""
    return wrong(
        f"There is no {stream} stream. Run the lesson's setup cells first (they create "
        f'{stream} on "events.>").'
    )


def push_consumer_hint(name: str, stream: str, deliver_subject: str) -> CheckResult:
    """The hint for a push consumer (``deliver_subject`` set) where a pull consumer is wanted."""
    return wrong(
        f"{name!r} is a push consumer (deliver_subject={deliver_subject!r}): "
        "the server sends its messages to that subject whether anyone reads them or not. "
        "This exercise wants a pull consumer: leave deliver_subject out, and read it with "
        f'`js.pull_subscribe_bind(durable="{name}", stream="{stream}")` and fetch.'
    )


def enum_value(value: Any) -> Any:
    """A config field as a plain value: nats-py gives enums in some places, strings in others."""
    return getattr(value, "value", value)


def starts_at_beginning(config: Any, first_seq: int) -> bool:
    """True if a consumer with ``config`` starts at the first message of a stream whose
    first sequence is ``first_seq``: ``deliver_policy=all``, or a start sequence at or below
    the stream's first message (``by_start_sequence`` with ``opt_start_seq=1`` is the same
    start as ``all``)."""
    policy = enum_value(config.deliver_policy) or "all"
    if policy == "all":
        return True
    return policy == "by_start_sequence" and (config.opt_start_seq or 0) <= max(first_seq, 1)


async def forget_stream(js: Any, name: str) -> None:
    """Delete stream ``name`` if it exists (a missing stream is not an error)."""
    try:
        await js.delete_stream(name)
    except NotFoundError:
        pass


async def forget_consumer(js: Any, stream: str, name: str) -> None:
    """Delete consumer ``name`` of ``stream`` if it exists (a missing one is not an error)."""
    try:
        await js.delete_consumer(stream, name)
    except NotFoundError:
        pass


async def consume(
    js: Any,
    stream: str,
    durable: str,
    want: int,
    *,
    batch: int | None = None,
    timeout: float = 5.0,
) -> list[Any]:
    """Fetch (and ack) up to ``want`` messages from pull consumer ``durable``, never longer
    than ``timeout`` seconds in all: stops at ``want``, an empty batch or a fetch timeout.

    Checks consume the learner's consumer through this, so a consumer that cannot deliver
    (a push consumer, a filter matching nothing) ends the check instead of hanging it.
    """
    got: list[Any] = []
    deadline = time.monotonic() + timeout
    sub = await js.pull_subscribe_bind(durable=durable, stream=stream)
    try:
        while len(got) < want:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                async with asyncio.timeout(left + 0.5):
                    msgs = await sub.fetch(batch or want - len(got), timeout=min(2.0, left))
            except TimeoutError:  # nats.errors.TimeoutError is one too
                break
            if not msgs:
                break
            for msg in msgs:
                got.append(msg)
                await msg.ack()
        await js._nc.flush()
    finally:
        await sub.unsubscribe()
    return got


class NotAttempted(Exception):
    """Raised by :func:`call_learner` when the learner's stub is still a stub."""


async def call_learner(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the learner's function (sync or async); a stub's NotImplementedError becomes
    :class:`NotAttempted`, so checks can tell "not yet" from "wrong"."""
    try:
        result = fn(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
    except NotImplementedError as exc:
        raise NotAttempted(str(exc)) from exc
    return result


async def run_setup(
    fn: Callable[..., Any],
    *args: Any,
    what: str = "",
    advice: str = READ_THE_MESSAGE,
    refused: Callable[[APIError], CheckResult] | None = None,
    failed: str | None = None,
) -> CheckResult | None:
    """Call the learner's setup function ``fn(*args)`` (through :func:`call_learner`, so a
    stub still raises :class:`NotAttempted`) and ignore what it returns.

    None if it ran; else the wrong answer. An ``APIError`` from the server gives
    ``refusal(exc, what, advice)``, or ``refused(exc)`` for a check that explains refusals
    itself. A ``FanoutKitError`` gives ``"<failed>: <exc>"`` if ``failed`` is given; without
    it, a ``FanoutKitError`` propagates.
    """
    caught: tuple[type[Exception], ...] = (FanoutKitError,) if failed is not None else ()
    try:
        await call_learner(fn, *args)
    except APIError as exc:
        return refused(exc) if refused is not None else refusal(exc, what, advice)
    except caught as exc:
        return wrong(f"{failed}: {exc}")
    return None


async def guarded(check: Callable[[], Awaitable[CheckResult]], stub_message: str) -> CheckResult:
    """Run ``check``; a :class:`NotAttempted` from the learner's stub gives ``stub_message``."""
    try:
        return await check()
    except NotAttempted:
        return not_attempted(stub_message)
