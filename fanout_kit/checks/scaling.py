"""Checks for lesson 07, scaling consumers (work sharing on one durable)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo
from nats.js.errors import APIError, NotFoundError

from . import (
    READ_THE_MESSAGE,
    CheckResult,
    call_learner,
    correct,
    enum_value,
    forget_consumer,
    guarded,
    refusal,
    wrong,
)

__all__ = ["STREAM", "THUMBNAILER", "shared_thumbnailer"]

STREAM = "EVENTS"
THUMBNAILER = "thumbnailer"
WANT_MAX_ACK_PENDING = 20
WANT_ACK_WAIT = 2.0  # seconds
WORKERS = 2
LEARNER_TIMEOUT = 30.0  # seconds both workers together may take
SETTLE = 2.0  # seconds to let fire-and-forget acks reach the consumer's state


async def _consumers(js: JetStreamContext) -> dict[str, ConsumerInfo]:
    try:
        return {c.name: c for c in await js.consumers_info(STREAM)}
    except NotFoundError:
        return {}


async def _settled(js: JetStreamContext) -> ConsumerInfo:
    """Consumer info once fire-and-forget acks have landed (or after SETTLE seconds)."""
    await js._nc.flush()
    deadline = time.monotonic() + SETTLE
    info = await js.consumer_info(STREAM, THUMBNAILER)
    while time.monotonic() < deadline and info.num_ack_pending:
        await asyncio.sleep(0.02)
        info = await js.consumer_info(STREAM, THUMBNAILER)
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


class _TooSlow(Exception):
    """The learner's workers did not return within LEARNER_TIMEOUT."""


async def _run_workers(js: JetStreamContext, learner: Callable[..., Any]) -> list[Any]:
    """Run ``learner(js)`` as WORKERS concurrent tasks and return what each returned.

    An exception from a worker propagates as it is (a ``TimeoutError`` from ``fetch`` too,
    which is why the deadline is kept apart and reported as :class:`_TooSlow`).
    """
    tasks = [asyncio.ensure_future(call_learner(learner, js)) for _ in range(WORKERS)]
    try:
        _, pending = await asyncio.wait(
            tasks, timeout=LEARNER_TIMEOUT, return_when=asyncio.FIRST_EXCEPTION
        )
        failed = [t for t in tasks if t.done() and not t.cancelled() and t.exception()]
        if failed:
            raise failed[0].exception()  # type: ignore[misc]
        if pending:
            raise _TooSlow
        return [t.result() for t in tasks]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def shared_thumbnailer(js: JetStreamContext, learner: Callable[..., Any]) -> CheckResult:
    """Exercise: ``learner(js)`` is one thumbnail worker. Two of them run at once; together
    they must process every message of EVENTS exactly once through the durable ``thumbnailer``
    (max_ack_pending=20, ack_wait=2 s, explicit acks). Each returns the stream sequences it
    processed.

    The check deletes ``thumbnailer`` first (each attempt starts at the beginning of the
    stream), runs the learner's function from two concurrent tasks, then compares what they
    returned with the consumer's real config and state. Consumers the learner's code created
    under other names are deleted afterwards.
    """

    async def check() -> CheckResult:
        try:
            stream = await js.stream_info(STREAM)
        except NotFoundError:
            stream = None
        if stream is None or not stream.state.messages:
            return wrong(
                f"Stream {STREAM} is missing or empty: run the lesson's cells from the top first "
                "(they create it and publish the events the thumbnailer should process)."
            )
        await forget_consumer(js, STREAM, THUMBNAILER)
        before = set(await _consumers(js))
        try:
            return await _judge(js, learner, stream.state.messages, stream.state.last_seq, before)
        finally:
            for name in set(await _consumers(js)) - before - {THUMBNAILER}:
                await forget_consumer(js, STREAM, name)

    return await guarded(
        check,
        "replace `raise NotImplementedError` with `js.add_consumer(...)` for the durable "
        "`thumbnailer`, a `pull_subscribe_bind` on it, and a loop of `fetch` and `ack`.",
    )


async def _judge(
    js: JetStreamContext,
    learner: Callable[..., Any],
    total: int,
    last_seq: int,
    before: set[str],
) -> CheckResult:
    try:
        results = await _run_workers(js, learner)
    except TimeoutError:  # nats.errors.TimeoutError is a subclass
        return wrong(
            'A worker let a TimeoutError out of `fetch`: that is how fetch says "nothing '
            '(more) for you", not a failure. Once the consumer is empty every fetch ends that '
            "way, so catch it and stop: `except TimeoutError: break`. Catch the builtin "
            "TimeoutError: nats-py 2.16 raises either it or its subclass "
            "nats.errors.TimeoutError, depending on which deadline runs out first."
        )
    except _TooSlow:
        return wrong(
            f"Your two workers had not returned after {LEARNER_TIMEOUT:g} s. A worker should "
            "stop when the consumer is empty: `fetch` raises `TimeoutError` then, so catch it "
            "and break out of the loop. And ack every message: an unacked one comes "
            "back after ack_wait, over and over, so the loop never runs dry."
        )
    except APIError as exc:
        return refusal(
            exc,
            "a request",
            READ_THE_MESSAGE + " (Both workers run the same function: creating the same "
            "durable twice with the same config is fine.)",
        )

    after = await _consumers(js)
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
            f"one shared {THUMBNAILER!r}: {why}. Every consumer receives every message, so "
            "that is fan-out and each event gets thumbnailed more than once. For work sharing, "
            f"both workers bind to the SAME durable: `js.pull_subscribe_bind(durable="
            f'"{THUMBNAILER}", stream="{STREAM}")`.'
        )
    if THUMBNAILER not in after:
        if others:
            return wrong(
                f"You made a durable named {others[0].name!r}; the exercise (and the check) "
                f"look for {THUMBNAILER!r}, spelled exactly so: names are case-sensitive."
            )
        return wrong(
            f"There is no consumer named {THUMBNAILER!r} on {STREAM} after your workers ran. "
            f'Create it with `await js.add_consumer("{STREAM}", ConsumerConfig(durable_name='
            f'"{THUMBNAILER}", ...))` (and `await` the call).'
        )

    info = await _settled(js)
    config = info.config
    ack_policy = enum_value(config.ack_policy)
    if ack_policy == "none":
        return wrong(
            f"{THUMBNAILER} has ack_policy='none': the server counts a message as done the moment "
            "it is sent, so a worker that crashes mid-batch loses its messages for good (nothing "
            "is redelivered) and max_ack_pending limits nothing. Use "
            "`ack_policy=AckPolicy.EXPLICIT` and `await msg.ack()` each message."
        )
    if ack_policy != "explicit":
        return wrong(
            f"{THUMBNAILER} has ack_policy={ack_policy!r}: one ack then also acks every earlier "
            "message, including those the OTHER worker is still working on; if it crashes, they "
            "are never redelivered. With several workers use `ack_policy=AckPolicy.EXPLICIT`."
        )
    policy = enum_value(config.deliver_policy)
    if policy != "all":
        return wrong(
            f"{THUMBNAILER} has deliver_policy={policy!r}, so it skips the events already in the "
            "stream: every stored event needs a thumbnail. Use `deliver_policy=DeliverPolicy.ALL` "
            "(the default; fixed at creation, and the check deletes thumbnailer before each try)."
        )
    if config.max_ack_pending != WANT_MAX_ACK_PENDING:
        have = config.max_ack_pending
        shown = "the default, 1000" if have == 1000 else f"{have}"
        return wrong(
            f"{THUMBNAILER} has max_ack_pending={shown}; the exercise asks for "
            f"{WANT_MAX_ACK_PENDING}: at most {WANT_MAX_ACK_PENDING} thumbnails in flight across "
            f"ALL workers together. Set `max_ack_pending={WANT_MAX_ACK_PENDING}` in the "
            "ConsumerConfig."
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
            f"{WANT_ACK_WAIT:g} s (a crashed worker's messages go to another worker after that "
            f"long): `ack_wait={WANT_ACK_WAIT:g}`.{units}"
        )

    per_worker = [_sequences(r) for r in results]
    if any(s is None for s in per_worker):
        bad = next(r for r, s in zip(results, per_worker, strict=True) if s is None)
        return wrong(
            f"Your function returned {bad!r:.60}; each worker must return the list of STREAM "
            "sequences it processed, e.g. `done.append(msg.metadata.sequence.stream)` for each "
            "message, then `return done`."
        )
    seqs = [s for s in per_worker if s is not None]

    delivered = info.delivered.consumer_seq if info.delivered else 0
    outstanding = info.num_ack_pending or 0
    if outstanding:
        stalled = (
            f" That is max_ack_pending: with {outstanding} of {config.max_ack_pending} "
            "outstanding the server hands out nothing more, so your workers' fetches timed out "
            "as if the stream were empty."
            if outstanding >= config.max_ack_pending
            else ""
        )
        return wrong(
            f"After your workers returned, {THUMBNAILER} has Outstanding Acks {outstanding} of "
            f"{config.max_ack_pending}: messages were fetched and never acked.{stalled} Call "
            "`await msg.ack()` on every message once its thumbnail is done."
        )

    counts = Counter(s for worker in seqs for s in worker)
    twice = sorted(s for s, n in counts.items() if n > 1)
    if twice:
        both = set(seqs[0]) & set(seqs[1])
        where = "some by both workers" if both else "by the same worker"
        return wrong(
            f"Stream sequences {_short(twice)} were processed twice ({where}). With one "
            "shared durable a message only comes back when it was nak'd or not acked within "
            f"ack_wait ({WANT_ACK_WAIT:g} s); then it goes to whichever worker asks next. Ack each "
            "message once, when it is done (`msg.in_progress()` buys time for slow work), and "
            "record it only then."
        )

    if delivered == 0:
        return wrong(
            f"{THUMBNAILER} exists but nothing was fetched from it. In each worker, bind with "
            f'`sub = await js.pull_subscribe_bind(durable="{THUMBNAILER}", stream="{STREAM}")`, '
            "then loop: `msgs = await sub.fetch(10)`, ack each one."
        )
    done = len(counts)
    pending = info.num_pending or 0
    floor = info.ack_floor.stream_seq if info.ack_floor else 0
    if pending or floor < last_seq or done < total:
        return wrong(
            f"Your workers processed {done} of the {total} events, and {THUMBNAILER} still "
            f"has Unprocessed {pending}: they stopped too early. Keep fetching until the "
            "consumer is empty, i.e. until `fetch` raises `TimeoutError` (or the "
            "last message's `metadata.num_pending` is 0)."
        )
    split = " + ".join(str(len(s)) for s in seqs)
    return correct(
        f"{WORKERS} workers shared {THUMBNAILER} (max_ack_pending={WANT_MAX_ACK_PENDING}, "
        f"ack_wait={WANT_ACK_WAIT:g} s): {total} events processed as {split}, none twice, none "
        "missed, nothing left in flight."
    )
