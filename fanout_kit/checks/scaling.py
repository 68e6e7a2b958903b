"""Checks for lesson 07, scaling consumers (work sharing on one durable)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo
from nats.js.errors import APIError, NotFoundError

from ..topology import consumers_of, enum_value
from . import (
    READ_THE_MESSAGE,
    CheckResult,
    LearnerFailed,
    LearnerTimedOut,
    Verdict,
    call_learner,
    correct,
    exercise,
    forget_consumer,
    no_consumer,
    refusal,
    settled_consumer,
    wrong,
)

__all__ = ["STREAM", "THUMBNAILER", "shared_thumbnailer"]

STREAM = "EVENTS"
THUMBNAILER = "thumbnailer"
WANT_MAX_ACK_PENDING = 20
WANT_ACK_WAIT = 2.0  # seconds
WORKERS = 2
LEARNER_TIMEOUT = 30.0  # seconds each worker may take
SETTLE = 2.0  # seconds to let fire-and-forget acks reach the consumer's state


async def _settled(js: JetStreamContext) -> ConsumerInfo:
    """Consumer info once fire-and-forget acks have landed (or after SETTLE seconds)."""
    info = await settled_consumer(js, STREAM, THUMBNAILER, lambda i: not i.num_ack_pending, SETTLE)
    if info is None:  # deleted by someone else while the check ran
        raise Verdict(no_consumer(STREAM, THUMBNAILER, CONSUMER_FIX, after="your workers ran"))
    return info


def _sequences(result: Any) -> list[int] | None:
    """The learner's return value as a list of ints, or None if it is not one."""
    if result is None or isinstance(result, str | bytes):
        return None
    try:
        seqs = list(result)
    except TypeError:
        return None
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in seqs):
        return None
    return seqs


def _short(seqs: list[int], n: int = 5) -> str:
    head = ", ".join(map(str, seqs[:n]))
    return f"[{head}{', ...' if len(seqs) > n else ''}]"


SHARED_CONCEPT = (
    "Work sharing: several workers bind to ONE durable pull consumer, and the server hands each "
    "message to one of them. Every consumer receives every message, so a consumer per worker "
    "is fan-out."
)
BIND_FIX = f'`sub = await js.pull_subscribe_bind(durable="{THUMBNAILER}", stream="{STREAM}")`'
CONSUMER_FIX = (
    f'`await js.add_consumer("{STREAM}", ConsumerConfig(durable_name="{THUMBNAILER}", '
    f"max_ack_pending={WANT_MAX_ACK_PENDING}, ack_wait={WANT_ACK_WAIT:g}))`"
)
LOOP_FIX = (
    "`while True:` with `try: msgs = await sub.fetch(10, timeout=1)` / "
    "`except TimeoutError: break`, then for each message `done.append("
    "msg.metadata.sequence.stream)` and `await msg.ack()`; `return done` after the loop"
)


SAME_DURABLE = (
    READ_THE_MESSAGE + " Both workers run the same function: creating the same durable twice "
    "with the same config is fine."
)


def _explain(exc: Exception) -> tuple[str, str] | None:
    if isinstance(exc, TimeoutError):  # nats.errors.TimeoutError is a subclass
        return (
            'fetch raises TimeoutError to say "nothing (more) for you", not a failure: once '
            "the consumer is empty every fetch ends that way, so that is when a worker stops. "
            "Catch the builtin TimeoutError: nats-py 2.16 raises it or its subclass "
            "nats.errors.TimeoutError, depending on which deadline runs out first.",
            "`except TimeoutError: break` around the fetch.",
        )
    if isinstance(exc, APIError):
        return (SAME_DURABLE, "")
    return None


async def _run_workers(js: JetStreamContext, learner: Callable[..., Any]) -> list[Any]:
    """Run ``learner(js)`` as WORKERS concurrent tasks and return what each returned.

    The first worker to fail or time out ends the run (the other is cancelled), as
    :class:`LearnerFailed` or :class:`LearnerTimedOut`.
    """
    tasks = [
        asyncio.ensure_future(call_learner(learner, js, timeout=LEARNER_TIMEOUT))
        for _ in range(WORKERS)
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in tasks:
            failed = task.exception() if task.done() and not task.cancelled() else None
            if failed is not None:
                raise failed
        return [t.result() for t in tasks]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@exercise(
    "replace `raise NotImplementedError` with `js.add_consumer(...)` for the durable "
    "`thumbnailer`, a `pull_subscribe_bind` on it, and a loop of `fetch` and `ack`.",
    explain=_explain,
)
async def shared_thumbnailer(js: JetStreamContext, learner: Callable[..., Any]) -> CheckResult:
    """Exercise: ``learner(js)`` is one thumbnail worker. Two of them run at once; together
    they must process each message of EVENTS once (nothing crashes in the check) through the
    durable ``thumbnailer`` (max_ack_pending=20, ack_wait=2 s, explicit acks). Each returns the
    stream sequences it processed.

    The check deletes ``thumbnailer`` first (each attempt starts at the beginning of the
    stream), runs the learner's function from two concurrent tasks, then compares what they
    returned with the consumer's real config and state. Consumers the learner's code created
    under other names are deleted afterwards.
    """
    try:
        stream = await js.stream_info(STREAM)
    except NotFoundError:
        stream = None
    if stream is None or not stream.state.messages:
        raise Verdict(
            wrong(
                f"Stream {STREAM} is missing or empty: run the lesson's cells from the top "
                "first (they create it and publish the events the thumbnailer should "
                "process): after a kernel restart, Run > Run All Above Selected Cell."
            )
        )
    await forget_consumer(js, STREAM, THUMBNAILER)
    before = set(await consumers_of(js, STREAM, missing_ok=True))
    try:
        return await _judge(js, learner, stream.state.messages, stream.state.last_seq, before)
    finally:
        for name in set(await consumers_of(js, STREAM, missing_ok=True)) - before - {THUMBNAILER}:
            await forget_consumer(js, STREAM, name)


async def _judge(
    js: JetStreamContext,
    learner: Callable[..., Any],
    total: int,
    last_seq: int,
    before: set[str],
) -> CheckResult:
    try:
        results = await _run_workers(js, learner)
    except LearnerTimedOut as slow:
        return wrong(
            f"Your two workers had not returned after {slow.seconds:g} s{slow.at}, so the "
            "check stopped them.",
            "A worker stops when the consumer is empty: fetch raises TimeoutError then. And "
            "an unacked message comes back after ack_wait, over and over, so a loop that does "
            "not ack never runs dry.",
            LOOP_FIX + ".",
            rung=2,
        )
    except LearnerFailed as failure:
        if isinstance(failure.exc, APIError):
            return refusal(failure.exc, "a request", SAME_DURABLE)
        raise

    after = await consumers_of(js, STREAM, missing_ok=True)
    others = [after[name] for name in sorted(set(after) - before - {THUMBNAILER})]
    kinds = [c.config.durable_name or "(ephemeral)" for c in others]
    ephemeral = "(ephemeral)" in kinds
    if others and (THUMBNAILER in after or len(others) > 1 or ephemeral):
        why = (
            "`js.pull_subscribe(subject, stream=...)` without `durable=` creates a NEW "
            "ephemeral consumer for every call"
            if ephemeral
            else "each worker made a consumer of its own"
        )
        return wrong(
            f"Your workers read through {len(others)} other consumer(s) {kinds}, not through "
            f"one shared {THUMBNAILER!r}: {why}. So each event gets thumbnailed more than once.",
            SHARED_CONCEPT,
            f"In both workers, bind to the SAME durable: {BIND_FIX}.",
        )
    if THUMBNAILER not in after:
        if others:
            return wrong(
                f"You made a durable named {others[0].name!r}; the exercise (and the check) "
                f"look for {THUMBNAILER!r}.",
                "Consumer names are case-sensitive and must match exactly.",
                f'`durable_name="{THUMBNAILER}"`',
            )
        return no_consumer(STREAM, THUMBNAILER, CONSUMER_FIX, after="your workers ran")

    info = await _settled(js)
    config = info.config
    ack_policy = enum_value(config.ack_policy)
    if ack_policy == "none":
        return wrong(
            f"{THUMBNAILER} has ack_policy='none': the server counts a message as done the "
            "moment it is sent, so a worker that crashes mid-batch loses its messages for good "
            "(nothing is redelivered) and max_ack_pending limits nothing.",
            "With work sharing each worker acks each message once its thumbnail is done: "
            "explicit acks.",
            "`ack_policy=AckPolicy.EXPLICIT`, and `await msg.ack()` each message.",
        )
    if ack_policy != "explicit":
        return wrong(
            f"{THUMBNAILER} has ack_policy={ack_policy!r}: one ack then also acks every earlier "
            "message, including those the OTHER worker is still working on; if it crashes, "
            "they are never redelivered.",
            "With several workers each message is acked on its own: explicit acks.",
            "`ack_policy=AckPolicy.EXPLICIT`",
        )
    policy = enum_value(config.deliver_policy)
    if policy != "all":
        return wrong(
            f"{THUMBNAILER} has deliver_policy={policy!r}, so it skips the events already in "
            "the stream: every stored event needs a thumbnail.",
            "The deliver policy decides where a new consumer starts (fixed at creation; the "
            "check deletes thumbnailer before each try).",
            "`deliver_policy=DeliverPolicy.ALL` (the default: leave it out).",
        )
    if config.max_ack_pending != WANT_MAX_ACK_PENDING:
        have = config.max_ack_pending
        shown = f"{have} (the default)" if have == 1000 else f"{have}"
        return wrong(
            f"{THUMBNAILER}'s max_ack_pending is {shown}; the exercise asks for at most "
            f"{WANT_MAX_ACK_PENDING} thumbnails in flight across ALL workers together.",
            "max_ack_pending caps the messages delivered and not yet acked, per consumer "
            "(shared by every worker bound to it).",
            f"`max_ack_pending={WANT_MAX_ACK_PENDING}` in the ConsumerConfig.",
        )
    ack_wait = config.ack_wait or 0.0
    if abs(ack_wait - WANT_ACK_WAIT) > 1e-6:
        units = (
            " nats-py takes seconds (a float), not milliseconds or nanoseconds."
            if ack_wait >= 1000
            else ""
        )
        return wrong(
            f"{THUMBNAILER} has ack_wait={ack_wait:g} s; the exercise asks for "
            f"{WANT_ACK_WAIT:g} s.",
            "ack_wait is how long the server waits for an ack before it redelivers the "
            f"message, to whichever worker asks next.{units}",
            f"`ack_wait={WANT_ACK_WAIT:g}`",
        )

    per_worker = [_sequences(r) for r in results]
    if any(s is None for s in per_worker):
        bad = next(r for r, s in zip(results, per_worker, strict=True) if s is None)
        return wrong(
            f"Your function returned {bad!r:.60}; each worker must return the list of STREAM "
            "sequences it processed.",
            "Each message's metadata names its place in the stream: msg.metadata.sequence.stream.",
            "`done.append(msg.metadata.sequence.stream)` for each message, then `return done`.",
        )
    seqs = [s for s in per_worker if s is not None]

    delivered = info.delivered.consumer_seq if info.delivered else 0
    outstanding = info.num_ack_pending or 0
    if outstanding:
        stalled = (
            f" With {outstanding} of {config.max_ack_pending} outstanding the server hands "
            "out nothing more, so your workers' fetches timed out as if the stream were empty."
            if outstanding >= config.max_ack_pending
            else ""
        )
        return wrong(
            f"After your workers returned, {THUMBNAILER} has Outstanding Acks {outstanding} of "
            f"{config.max_ack_pending}: messages were fetched and never acked.{stalled}",
            "Every fetched message waits for its ack; max_ack_pending stops delivery silently "
            "when that many are waiting.",
            "`await msg.ack()` on every message once its thumbnail is done.",
        )

    counts = Counter(s for worker in seqs for s in worker)
    twice = sorted(s for s, n in counts.items() if n > 1)
    if twice:
        both = set(seqs[0]) & set(seqs[1])
        where_ = "some by both workers" if both else "by the same worker"
        return wrong(
            f"Stream sequences {_short(twice)} were processed twice ({where_}).",
            "With one shared durable a message only comes back when it was nak'd or not acked "
            f"within ack_wait ({WANT_ACK_WAIT:g} s); then it goes to whichever worker asks "
            "next.",
            "Ack each message once, when it is done (`msg.in_progress()` buys time for slow "
            "work), and record it only then.",
        )

    if delivered == 0:
        return wrong(
            f"{THUMBNAILER} exists but nothing was fetched from it: Last Delivered is 0.",
            "A pull consumer delivers only when asked: each worker binds a pull "
            "subscription to the durable and fetches in a loop.",
            f"In each worker, {BIND_FIX}, then {LOOP_FIX}.",
        )
    done = len(counts)
    pending = info.num_pending or 0
    floor = info.ack_floor.stream_seq if info.ack_floor else 0
    if pending or floor < last_seq or done < total:
        return wrong(
            f"Your workers processed {done} of the {total} events, and {THUMBNAILER} still "
            f"has Unprocessed {pending}: they stopped too early.",
            "Keep fetching until the consumer is empty, i.e. until fetch raises TimeoutError "
            "(or the last message's metadata.num_pending is 0).",
            LOOP_FIX + ".",
        )
    split = " + ".join(str(len(s)) for s in seqs)
    return correct(
        f"{WORKERS} workers shared {THUMBNAILER} (max_ack_pending={WANT_MAX_ACK_PENDING}, "
        f"ack_wait={WANT_ACK_WAIT:g} s): {total} events processed as {split}, none twice, none "
        "missed, nothing left in flight."
    )
