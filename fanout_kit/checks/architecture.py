"""Checks for lesson 10, event-driven architecture."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo
from nats.js.errors import APIError, NotFoundError

from ..errors import FanoutKitError
from ..subjects import filters_of, matching
from ..topology import enum_value
from ..waiting import settle
from . import (
    CheckResult,
    LearnerFailed,
    NotAttempted,
    call_learner,
    correct,
    exercise,
    fresh_consumer,
    learner_raised,
    refusal,
    where,
    wrong,
)
from .filters import SHOP_SUBJECTS

__all__ = ["INVENTORY", "INVENTORY_SUBJECTS", "STREAM", "inventory"]

STREAM = "EVENTS"
INVENTORY = "inventory"
#: What the inventory service must receive, and nothing else.
INVENTORY_SUBJECTS = ("events.order.created", "events.order.shipped")
#: Published before the learner's service starts (history it must replay) ...
BEFORE = (
    "events.order.created",
    "events.payment.authorized",
    "events.order.paid",
    "events.order.created",
    "events.order.shipped",
    "events.user.signed_up",
)
#: ... and while it runs (it must keep going, not stop after one batch).
WHILE_RUNNING = (
    "events.order.shipped",
    "events.payment.captured",
    "events.order.created",
    "events.order.paid",
)
IDLE_TIMEOUT = 5.0
"""Seconds the check waits for the service to be caught up (nothing unprocessed or in flight)."""
STOP_TIMEOUT = 5.0
"""Seconds the check waits for the learner's task to end after cancelling it."""
SOLUTION = (
    'ConsumerConfig(durable_name="inventory", deliver_policy=DeliverPolicy.ALL, '
    'filter_subjects=["events.order.created", "events.order.shipped"])'
)


def _payload(subject: str) -> bytes:
    """A small event like the demo shop's: its type is the subject after ``events.``."""
    return f'{{"type": "{subject.removeprefix("events.")}", "by": "check"}}'.encode()


FIX = f"`await js.add_consumer({STREAM!r}, {SOLUTION})`"
FILTERS_CONCEPT = (
    "A consumer's filter decides which subjects it receives; one consumer can have several "
    "filters in filter_subjects (with an s, a list)."
)
LOOP_FIX = (
    "`while True:` with `try: msgs = await sub.fetch(10, timeout=1)` / "
    "`except TimeoutError: continue`, then for each message "
    '`counts[json.loads(msg.data)["type"]] += 1` and `await msg.ack()`'
)


def _config_hint(config: Any, counts: dict[str, int]) -> CheckResult | None:
    """A hint for what is wrong in the consumer's config, or None if it looks right."""
    if not config.durable_name:
        return wrong(
            f"{INVENTORY!r} is ephemeral (it has a name but no durable_name): the server deletes "
            f"it {config.inactive_threshold or 5:g} s after the service stops, position and all, "
            "so a restarted inventory would count the history again or miss what came in while "
            "it was down.",
            "A service's consumer is durable: it keeps the service's position across restarts.",
            f'`durable_name="{INVENTORY}"`',
        )
    policy = enum_value(config.deliver_policy) or "all"
    if policy != "all":
        return wrong(
            f"{INVENTORY!r} has deliver_policy={policy!r}, so it skipped the orders stored "
            "before it existed: stock counts must include the whole history.",
            "A new service replays the stream from its first message: the deliver policy "
            "decides where a new consumer starts.",
            "`deliver_policy=DeliverPolicy.ALL` (the default: leave it out).",
        )
    ack = enum_value(config.ack_policy) or "explicit"
    if ack != "explicit":
        return wrong(
            f"{INVENTORY!r} has ack_policy={ack!r}: the server forgets each message as soon as "
            "it is sent, so an inventory that crashes mid-batch loses stock changes for good.",
            "A service acks each message once it has handled it: explicit acks.",
            "`ack_policy=AckPolicy.EXPLICIT` (the default) and `await msg.ack()` each "
            "message after counting it.",
        )
    filters = filters_of(config)
    seen = sorted(t for t in counts if t not in ("order.created", "order.shipped"))
    if not filters:
        also = f" (your counts include {seen})" if seen else ""
        return wrong(
            f"{INVENTORY!r} has no filter, so it receives every event on EVENTS: payments, "
            f"users and logins too{also}.",
            "Let the server do the sorting. " + FILTERS_CONCEPT,
            'filter_subjects=["events.order.created", "events.order.shipped"]',
        )
    let_through = matching(SHOP_SUBJECTS, filters)
    missing = [s for s in INVENTORY_SUBJECTS if s not in let_through]
    if missing:
        return wrong(
            f"Your filter {filters} does not cover {missing}: those events never reach inventory.",
            FILTERS_CONCEPT,
            'filter_subjects=["events.order.created", "events.order.shipped"]',
        )
    extra = sorted(s for s in let_through if s not in INVENTORY_SUBJECTS)
    if extra:
        return wrong(
            f"Your filter {filters} also lets through {extra}: inventory only cares about "
            "created and shipped orders.",
            FILTERS_CONCEPT + " Name exactly the subjects the service needs.",
            'filter_subjects=["events.order.created", "events.order.shipped"]',
        )
    return None


def _caught_up(info: ConsumerInfo | None) -> bool:
    return info is not None and not info.num_pending and not info.num_ack_pending


async def _idle(js: JetStreamContext, task: asyncio.Task[Any]) -> ConsumerInfo | None:
    """Wait until ``inventory`` exists with nothing unprocessed or in flight, or the learner's
    task ends, or IDLE_TIMEOUT passes. Returns the last consumer info (None if none)."""

    async def read() -> ConsumerInfo | None:
        try:
            info: ConsumerInfo = await js.consumer_info(STREAM, INVENTORY)
        except NotFoundError:
            return None
        return info

    info = await settle(read, lambda i: task.done() or _caught_up(i), IDLE_TIMEOUT)
    if _caught_up(info):
        for _ in range(5):  # a few loop turns for a handler that counts after acking
            await asyncio.sleep(0.01)
    return info


async def _stop(task: asyncio.Task[Any]) -> bool:
    """Cancel the learner's service and wait for it; True if it ended. Cancel again if a
    cancellation gets lost (Python 3.11's wait_for, inside nats-py's fetch, can swallow one)."""
    deadline = time.monotonic() + STOP_TIMEOUT
    while not task.done() and time.monotonic() < deadline:
        task.cancel()
        await asyncio.wait({task}, timeout=0.2)
    if task.done() and not task.cancelled():
        with contextlib.suppress(BaseException):
            task.exception()  # retrieved: no "exception was never retrieved" warning
    return task.done()


def _explain(exc: Exception) -> tuple[str, str] | None:
    if isinstance(exc, TimeoutError):  # nats.errors.TimeoutError too
        return (
            "a fetch on a consumer with nothing new raises TimeoutError. For a service that is "
            "the normal idle state, not an error: catch it and fetch again.",
            "`except TimeoutError: continue` around the fetch.",
        )
    return None


STUB = (
    "replace `raise NotImplementedError` with your inventory service: "
    "`js.add_consumer(...)` for a durable filtered consumer, then a loop that fetches, "
    "counts and acks."
)


def _task_ended(task: asyncio.Task[Any]) -> CheckResult:
    """The learner's service ended on its own: why, as a result."""
    failure = None if task.cancelled() else task.exception()
    if isinstance(failure, NotAttempted):
        return CheckResult("not attempted", STUB)
    if isinstance(failure, LearnerFailed):
        exc = failure.exc
        if isinstance(exc, APIError):
            return refusal(exc, "your consumer", fix=FIX)
        if isinstance(exc, FanoutKitError):
            return wrong(f"Setting up the service failed: {exc}{where(exc)}.")
        return learner_raised(failure, _explain)
    if failure is not None:
        raise failure
    return wrong(
        "Your service returned instead of running until it is stopped.",
        "A service loops forever (fetch, count, ack, and an empty fetch is no reason to "
        "stop); whoever runs it cancels its task to stop it.",
        LOOP_FIX + ".",
    )


@exercise(STUB, explain=_explain)
async def inventory(js: JetStreamContext, learner: Callable[..., Any]) -> CheckResult:
    """Exercise: ``learner(js, counts)`` is the inventory service. It creates the durable
    ``inventory`` on EVENTS filtered to ``events.order.created`` and ``events.order.shipped``
    (deliver all, explicit acks), then runs forever: fetch, ``counts[event["type"]] += 1``, ack.

    The check deletes ``inventory``, publishes a known set of events, runs the learner's
    service as a task with a fresh ``Counter``, waits until it is caught up, publishes more
    while it runs, waits again, cancels the task, then compares the counts with what the
    stream holds and reads the consumer's real config and numbers from the server.
    """
    await fresh_consumer(js, STREAM, INVENTORY)
    counts: Counter[str] = Counter()
    service = call_learner(learner, js, counts, timeout=None)
    task = asyncio.create_task(service, name="check-inventory")
    try:
        for _ in range(3):  # a stub raises at once: then leave the stream alone
            await asyncio.sleep(0)
        if task.done():
            return _task_ended(task)
        for subject in BEFORE:
            await js.publish(subject, _payload(subject))
        info = await _idle(js, task)
        if task.done():
            return _task_ended(task)
        if info is None:
            return wrong(
                f"Your service is running but there is no consumer named {INVENTORY!r} on "
                f"{STREAM}.",
                "The service creates its durable first thing; a pull_subscribe without "
                "durable= makes a randomly named ephemeral one instead.",
                FIX,
            )
        if not info.num_pending and not info.num_ack_pending:
            for subject in WHILE_RUNNING:
                await js.publish(subject, _payload(subject))
            await _idle(js, task)
            if task.done():
                return _task_ended(task)
    finally:
        stopped = await _stop(task)
    if not stopped:
        return wrong(
            "Your service did not stop when its task was cancelled.",
            "Cancelling a task raises asyncio.CancelledError at its current await; a loop "
            "that catches it (or BaseException) keeps running.",
            "Do not catch asyncio.CancelledError in the loop; use `try/finally` to "
            "unsubscribe instead.",
        )
    with contextlib.suppress(NotFoundError):
        info = await js.consumer_info(STREAM, INVENTORY)
    got = {k: counts[k] for k in sorted(counts)}
    hint = _config_hint(info.config, got)
    if hint is not None:
        return hint
    if info.num_ack_pending:
        return wrong(
            f"inventory was handed its events but {info.num_ack_pending} are still waiting for "
            "an ack (Outstanding Acks): the server will redeliver them after ack_wait and "
            "your counts will go up twice.",
            "Every fetched message waits for its ack until ack_wait runs out.",
            "`await msg.ack()` each message once it is counted.",
        )

    stored = (await js.stream_info(STREAM, subjects_filter="events.order.*")).state.subjects
    want = {s[7:]: (stored or {}).get(s, 0) for s in INVENTORY_SUBJECTS}
    if info.num_pending:
        return wrong(
            f"inventory still has {info.num_pending} unprocessed events after "
            f"{IDLE_TIMEOUT:g} s: your loop stopped fetching.",
            "A service keeps fetching forever; an empty fetch raises TimeoutError, which is "
            "no reason to stop.",
            LOOP_FIX + ".",
        )
    if got != want:
        if got and all(k.startswith("events.") for k in got):
            return wrong(
                f"Your counts are keyed by subject ({sorted(got)}); the check expects them "
                f"keyed by the event's type: {want}.",
                'Each event\'s JSON payload has a "type" field (order.created, ...).',
                '`counts[json.loads(msg.data)["type"]] += 1`',
            )
        return wrong(
            f"Your service counted {got}; the stream holds {want} (for the filtered types).",
            'Count each message once, by the "type" field of its JSON payload, and ack it.',
            '`counts[json.loads(msg.data)["type"]] += 1`, then `await msg.ack()`.',
        )
    return correct(
        f"inventory is durable, filtered to order.created and order.shipped, replayed the "
        f"history and kept up with the {len(WHILE_RUNNING)} events published while it ran: "
        f"counted {want}, all acked."
    )
