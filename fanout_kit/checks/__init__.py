"""Exercise checkers: one module per lesson, each check a coroutine returning a CheckResult.

A check inspects the real server (streams, consumers, messages) or calls the learner's
function. Every check runs the same way (:func:`~.exercise.exercise`): the stub a lesson ships
raises ``NotImplementedError`` and is reported as "not attempted"; the learner's own exception
is feedback naming their line; a wrong answer gets a hint ladder (symptom, then concept, then
the fix on request with ``reveal=True``); every result is recorded as progress.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo, StreamInfo
from nats.js.errors import APIError, NotFoundError

from ..connect import client_of
from ..errors import FanoutKitError
from ..topology import enum_value
from ..waiting import settle
from .exercise import CHECK_TIMEOUT, Checker, exercise
from .learner import (
    LEARNER_TIMEOUT,
    LearnerFailed,
    LearnerTimedOut,
    NotAttempted,
    call_learner,
    learner_raised,
    where,
)
from .result import CheckResult, Verdict, correct, not_attempted, wrong

__all__ = [
    "CHECK_TIMEOUT",
    "LEARNER_TIMEOUT",
    "READ_THE_MESSAGE",
    "CheckResult",
    "Checker",
    "LearnerFailed",
    "LearnerTimedOut",
    "NotAttempted",
    "Verdict",
    "call_learner",
    "consume",
    "correct",
    "exercise",
    "forget_consumer",
    "fresh_consumer",
    "learner_consumer",
    "learner_raised",
    "learner_stream",
    "no_consumer",
    "no_setup_stream",
    "no_stream",
    "not_attempted",
    "push_consumer_hint",
    "refusal",
    "run_setup",
    "settled_consumer",
    "starts_at_beginning",
    "where",
    "wrong",
]


#: The pointer after a refusal the check cannot explain better: the server's text says it.
READ_THE_MESSAGE = "Read the message: it names what it does not accept."


def refusal(
    exc: APIError, what: str, concept: str = READ_THE_MESSAGE, fix: str = ""
) -> CheckResult:
    """The server refused something the learner's code asked for: "The server refused <what>:
    <its description> (error <code>), in f(), line N: `...`." (or "The server refused: ..."
    when ``what`` is empty), with ``concept`` and ``fix`` as the next rungs."""
    head = f"The server refused {what}" if what else "The server refused"
    return wrong(f"{head}: {exc.description} (error {exc.err_code}){where(exc)}.", concept, fix)


def no_setup_stream(stream: str) -> CheckResult:
    """The hint when the stream the lesson's setup cells create (on ``events.>``) is missing."""
    return wrong(
        f"There is no {stream} stream. Run the lesson's setup cells first (they create "
        f'{stream} on "events.>"): after a kernel restart, Run > Run All Above Selected Cell.'
    )


async def fresh_consumer(js: JetStreamContext, stream: str, durable: str) -> StreamInfo:
    """The opening of a check on the lesson's stream: its info (a :class:`Verdict` with
    :func:`no_setup_stream` if it is missing), with an earlier ``durable`` deleted so each
    attempt starts from scratch."""
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        raise Verdict(no_setup_stream(stream)) from None
    await forget_consumer(js, stream, durable)
    return info


def push_consumer_hint(name: str, stream: str, deliver_subject: str) -> CheckResult:
    """The hint for a push consumer (``deliver_subject`` set) where a pull consumer is wanted."""
    return wrong(
        f"{name!r} is a push consumer (deliver_subject={deliver_subject!r}): the server sends "
        "its messages to that subject whether anyone reads them or not, and a fetch gets "
        "nothing from it.",
        "This exercise wants a pull consumer: one without a deliver_subject, read by binding "
        "a pull subscription to it and fetching.",
        f"Leave deliver_subject out of the ConsumerConfig, and read it with "
        f'`sub = await js.pull_subscribe_bind(durable="{name}", stream="{stream}")` and '
        "`await sub.fetch(...)`.",
    )


def starts_at_beginning(config: Any, first_seq: int) -> bool:
    """True if a consumer with ``config`` starts at the first message of a stream whose
    first sequence is ``first_seq``: ``deliver_policy=all``, or a start sequence at or below
    the stream's first message (``by_start_sequence`` with ``opt_start_seq=1`` is the same
    start as ``all``)."""
    policy = enum_value(config.deliver_policy) or "all"
    if policy == "all":
        return True
    return policy == "by_start_sequence" and (config.opt_start_seq or 0) <= max(first_seq, 1)


async def forget_consumer(js: JetStreamContext, stream: str, name: str) -> None:
    """Delete consumer ``name`` of ``stream`` if it exists (a missing one is not an error)."""
    try:
        await js.delete_consumer(stream, name)
    except NotFoundError:
        pass


async def learner_consumer(js: JetStreamContext, stream: str, name: str, fix: str) -> ConsumerInfo:
    """The info of consumer ``name`` the learner's function was to create; a
    :class:`Verdict` (there is none, and ``fix``) if it is missing."""
    try:
        info: ConsumerInfo = await js.consumer_info(stream, name)
    except NotFoundError:
        raise Verdict(no_consumer(stream, name, fix)) from None
    return info


def no_stream(name: str, fix: str, *, also: str = "", note: str = "") -> CheckResult:
    """The hint when stream ``name``, which the learner's code was to create, is missing;
    ``also`` ends the symptom (what they made instead), ``note`` ends the concept."""
    return wrong(
        f"There is no stream named {name!r} after your function ran{also}.",
        "`js.add_stream(...)` creates a stream, and like every JetStream call it only "
        f"happens when awaited. The name is case-sensitive.{note}",
        fix,
    )


async def learner_stream(
    js: JetStreamContext, name: str, fix: str, *, note: str = ""
) -> StreamInfo:
    """The info of stream ``name`` the learner's function was to create; a :class:`Verdict`
    (:func:`no_stream`) if it is missing."""
    try:
        info: StreamInfo = await js.stream_info(name)
    except NotFoundError:
        raise Verdict(no_stream(name, fix, note=note)) from None
    return info


def no_consumer(stream: str, name: str, fix: str, after: str = "your function ran") -> CheckResult:
    """The hint when consumer ``name``, which the learner's code was to create, is missing."""
    return wrong(
        f"There is no consumer named {name!r} on {stream} after {after}.",
        "`js.add_consumer(stream, ConsumerConfig(...))` creates a consumer; like every "
        "JetStream call it only happens when awaited.",
        fix,
    )


async def settled_consumer(
    js: JetStreamContext,
    stream: str,
    durable: str,
    done: Callable[[ConsumerInfo], bool],
    timeout: float,
) -> ConsumerInfo | None:
    """The info of consumer ``durable`` once ``done(info)``, or as it is after ``timeout``
    seconds (None if it does not exist then).

    The learner's acks are fire-and-forget and the server applies them a moment later: each
    read flushes the connection first (a ping, not an API request), then asks for the info.
    """
    nc = client_of(js)

    async def read() -> ConsumerInfo | None:
        await nc.flush()
        try:
            info: ConsumerInfo = await js.consumer_info(stream, durable)
        except NotFoundError:
            return None
        return info

    return await settle(read, lambda info: info is not None and done(info), timeout)


async def consume(
    js: JetStreamContext,
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
        await client_of(js).flush()
    finally:
        await sub.unsubscribe()
    return got


async def run_setup(
    fn: Callable[..., Any],
    *args: Any,
    what: str = "",
    concept: str = READ_THE_MESSAGE,
    fix: str = "",
    refused: Callable[[APIError], CheckResult] | None = None,
    failed: str | None = None,
) -> CheckResult | None:
    """Call the learner's setup function ``fn(*args)`` (through :func:`call_learner`) and
    ignore what it returns.

    None if it ran; else the wrong answer. An ``APIError`` from the server gives
    ``refusal(exc, what, concept, fix)``, or ``refused(exc)`` for a check that explains
    refusals itself. A ``FanoutKitError`` gives ``"<failed>: <exc>"`` if ``failed`` is given.
    Any other exception of theirs propagates as :class:`LearnerFailed` (the check turns it
    into feedback), a stub as :class:`NotAttempted`.
    """
    try:
        await call_learner(fn, *args)
    except LearnerFailed as failure:
        exc = failure.exc
        if isinstance(exc, APIError):
            return refused(exc) if refused is not None else refusal(exc, what, concept, fix)
        if failed is not None and isinstance(exc, FanoutKitError):
            return wrong(f"{failed}: {exc}{where(exc)}.")
        raise
    return None
