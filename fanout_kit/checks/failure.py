"""Checks for lesson 12, when a message keeps failing: dead letters for the refund service.

**What the exercise asks.** ``dead_letters(js)`` creates, on the stream ``REFUNDS``
(``refunds.>``, made by the check before each attempt):

1. a durable pull consumer ``refunder`` with explicit acks that gives a message up after
   **3** deliveries (``max_deliver=3``), and
2. a stream ``REFUNDS_DLQ`` that stores the server's MAX_DELIVERIES advisories for the
   consumers of ``REFUNDS``, and nothing else: the dead letters
   (``$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.REFUNDS.*``).

**What the check does.** It deletes ``REFUNDS_DLQ`` and ``REFUNDS`` (their consumers with
them), creates ``REFUNDS`` afresh, calls the learner's function, publishes three refunds (the
second a poison message that fails every time) and runs a worker on ``refunder`` that acks the
good refunds and naks the poison, pulling until the server publishes its MAX_DELIVERIES
advisory, has delivered the poison :data:`GIVE_UP_AFTER` times, or has nothing left to give.
Then it compares what the server did with what was asked, and fetches the poisoned refund
back from ``REFUNDS`` by the ``stream_seq`` in the dead letter. A stub leaves no stream behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, StreamConfig, StreamInfo
from nats.js.errors import APIError, NotFoundError

from ..connect import client_of
from ..subjects import subject_matches
from ..topology import enum_value, reset_streams
from . import (
    CheckResult,
    NotAttempted,
    correct,
    exercise,
    refusal,
    run_setup,
    wrong,
)

__all__ = ["DLQ", "DURABLE", "GIVE_UP_AFTER", "MAX_DELIVER", "STREAM", "dead_letters"]

STREAM = "REFUNDS"
SUBJECTS = ["refunds.>"]
DURABLE = "refunder"
DLQ = "REFUNDS_DLQ"
MAX_DELIVER = 3
ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER"
DEAD_LETTERS = f"{ADVISORY}.MAX_DELIVERIES.{STREAM}.*"
DEAD_LETTER_SUBJECT = f"{ADVISORY}.MAX_DELIVERIES.{STREAM}.{DURABLE}"
"""Where the server publishes the dead letter this exercise is about."""
GIVE_UP_AFTER = 8
"""The check's worker stops nak'ing the poison after this many deliveries (no advisory by then
means the consumer never gives up, or gives up far too late)."""
DEADLINE = 20.0
"""Seconds the worker may pull in all (a loaded machine still finishes well inside this)."""
STORED_WITHIN = 5.0
"""Seconds the dead-letter stream may take to store an advisory the check has already seen."""

REFUNDS = [
    {"refund": "rf_2001", "order": "ord_1001", "amount": 12.5},
    {"refund": "rf_2002", "order": "ord_1004", "amount": "twelve"},  # poison: never a number
    {"refund": "rf_2003", "order": "ord_1006", "amount": 40.0},
]
POISON = 1
"""Index in :data:`REFUNDS` of the refund that fails every time."""

CONSUMER_FIX = (
    f'`await js.add_consumer("{STREAM}", ConsumerConfig(durable_name="{DURABLE}", '
    f"ack_policy=AckPolicy.EXPLICIT, max_deliver={MAX_DELIVER}))`"
)
DLQ_FIX = f'`await js.add_stream(StreamConfig(name="{DLQ}", subjects=["{DEAD_LETTERS}"]))`'
SOLUTION = f"{CONSUMER_FIX}, then {DLQ_FIX}"


# --- subject matching (the server's rules: '*' one token, '>' one or more at the end) -----------
def _captures(subjects: list[str], subject: str) -> bool:
    return any(subject_matches(subject, s) for s in subjects)


# --- the learner's function ---------------------------------------------------------------------
def _explain(exc: Exception) -> tuple[str, str] | None:
    """(concept, fix) for an exception this exercise knows better than the generic hint."""
    if isinstance(exc, TimeoutError):  # nats.errors.TimeoutError is a subclass
        return (
            "your function waited for something that did not come (a fetch on an empty "
            "consumer raises TimeoutError). The exercise only creates a consumer and a "
            "stream: it does not fetch.",
            SOLUTION,
        )
    if isinstance(exc, TypeError):
        return (
            "a call got an argument it does not take. ConsumerConfig and StreamConfig take "
            "keyword arguments (durable_name=..., max_deliver=..., subjects=[...]); "
            "js.add_consumer(stream, config) and js.add_stream(config) are coroutines: await "
            "them.",
            SOLUTION,
        )
    return None


def _refused(exc: APIError) -> CheckResult:
    """The server refused a call in the learner's function: what it said, and why."""
    code = exc.err_code
    if code == 10065:
        concept = (
            "a subject can be stored by one stream only, and advisory subjects are subjects "
            "like any other. Another stream already captures some of yours (this lesson's "
            "ORDERS_DLQ keeps `$JS.EVENT.ADVISORY.CONSUMER.*.ORDERS.*`, REFUNDS keeps "
            "`refunds.>`): capture only the MAX_DELIVERIES advisories of REFUNDS."
        )
    elif code == 10116:
        concept = (
            "a BackOff list needs a max_deliver larger than its length. This exercise needs "
            "no backoff at all: max_deliver=3 alone makes the server give up after 3 "
            "deliveries."
        )
    elif code == 10058:
        concept = (
            f"{STREAM} already exists (the check creates it before each attempt, on "
            f"refunds.>): your function adds only the consumer and the {DLQ} stream."
        )
    elif code in (10012, 10013):
        concept = (
            f"the consumer {DURABLE} already exists with a setting the server will not change "
            f"in place. The check deletes {STREAM} (and its consumers) before each attempt, so "
            "this comes from two add_consumer calls in your own function."
        )
    else:
        concept = "read the server's message: it names the field it does not accept."
    return refusal(exc, "a call in your function", concept, SOLUTION)


# --- the run ------------------------------------------------------------------------------------
@dataclass
class _Run:
    """What the check's worker and advisory tap saw."""

    poison_seq: int = 0
    deliveries: list[int] = field(default_factory=list)
    """num_delivered of each delivery of the poison."""
    advisories: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    other_delivered: set[int] = field(default_factory=set)

    def gave_up(self) -> dict[str, Any] | None:
        return next((d for s, d in self.advisories if ".MAX_DELIVERIES." in s), None)


async def _reset(js: JetStreamContext) -> None:
    for name in (DLQ, STREAM):
        await reset_streams(js, name)
    await js.add_stream(StreamConfig(name=STREAM, subjects=SUBJECTS))


async def _drained(js: JetStreamContext) -> bool:
    """True when ``refunder`` has nothing left to deliver and nothing out."""
    info = await js.consumer_info(STREAM, DURABLE)
    return not info.num_pending and not info.num_ack_pending


async def _drive(js: JetStreamContext, run: _Run) -> None:
    """Publish the refunds and work ``refunder``: ack the good ones, nak the poison, until the
    server gives up on it (its advisory arrived), GIVE_UP_AFTER deliveries, a consumer that
    has nothing more to deliver without ever giving the poison, or DEADLINE."""
    for i, refund in enumerate(REFUNDS):
        ack = await js.publish("refunds.requested", json.dumps(refund).encode())
        if i == POISON:
            run.poison_seq = ack.seq
    sub = await js.pull_subscribe_bind(durable=DURABLE, stream=STREAM)
    deadline = time.monotonic() + DEADLINE
    try:
        while time.monotonic() < deadline:
            if run.gave_up() or len(run.deliveries) >= GIVE_UP_AFTER:
                break
            try:
                msgs = await sub.fetch(10, timeout=0.5)
            except TimeoutError:  # nats.errors.TimeoutError is a subclass
                if not run.deliveries and await _drained(js):
                    break  # a filter or start that never gives the poison
                continue
            for msg in msgs:
                seq = msg.metadata.sequence.stream
                if seq == run.poison_seq:
                    run.deliveries.append(msg.metadata.num_delivered)
                    await msg.nak()
                else:
                    run.other_delivered.add(seq)
                    await msg.ack()
        await client_of(js).flush()
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


async def _dlq_info(js: JetStreamContext) -> StreamInfo | None:
    try:
        return await js.stream_info(DLQ)
    except NotFoundError:
        return None


async def _dlq_stored(js: JetStreamContext) -> StreamInfo | None:
    """REFUNDS_DLQ's info once it has received a message that its subjects capture (it stores
    an advisory a moment after the check's tap saw it), or its info as it is after
    STORED_WITHIN seconds; None if it does not exist."""
    deadline = time.monotonic() + STORED_WITHIN
    while True:
        info = await _dlq_info(js)
        if info is None or not _captures(list(info.config.subjects or []), DEAD_LETTER_SUBJECT):
            return info
        if info.state.last_seq > 0 or time.monotonic() > deadline:
            return info
        await asyncio.sleep(0.02)


async def _dlq_messages(js: JetStreamContext, info: StreamInfo) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    state = info.state
    if not state.messages:
        return out
    for seq in range(state.first_seq, state.last_seq + 1):
        try:
            raw = await js.get_msg(DLQ, seq)
        except NotFoundError:
            continue
        try:
            doc = json.loads(raw.data or b"")
        except ValueError:
            doc = {}
        out.append((raw.subject or "", doc if isinstance(doc, dict) else {}))
    return out


def _kind(subject: str) -> str:
    """The advisory kind in ``$JS.EVENT.ADVISORY.CONSUMER.<KIND>.<stream>.<consumer>``."""
    tokens = subject.split(".")
    return tokens[4] if len(tokens) > 4 else subject


# --- what went wrong ----------------------------------------------------------------------------
def _consumer_hint(config: ConsumerConfig) -> CheckResult | None:
    if not config.durable_name:
        return wrong(
            f"{DURABLE!r} has a name but no durable_name: it is ephemeral, and the server "
            f"deletes it {config.inactive_threshold or 5:g} s after its last client goes away, "
            "together with the count of deliveries it keeps for each message.",
            "a refund service that restarts must find its consumer, and the delivery counts, "
            "where it left them: that is a durable consumer (lesson 04).",
            f'`durable_name="{DURABLE}"` in the ConsumerConfig.',
        )
    if config.deliver_subject:
        return wrong(
            f"{DURABLE!r} is a push consumer (deliver_subject={config.deliver_subject!r}); the "
            "check's worker pulls, as the lesson's workers do.",
            "without a deliver_subject a consumer is a pull consumer.",
            "Leave deliver_subject out of the ConsumerConfig.",
        )
    if enum_value(config.ack_policy) == "none":
        return wrong(
            f"{DURABLE!r} has ack_policy none: the poison refund counted as done the moment "
            "it was delivered, so it was never delivered again and nothing could become a "
            "dead letter.",
            "max_deliver counts deliveries, and only a consumer that waits for acks delivers "
            "a message again: explicit acks.",
            "`ack_policy=AckPolicy.EXPLICIT` in the ConsumerConfig.",
        )
    return None


def _behaviour_hint(run: _Run, config: ConsumerConfig) -> CheckResult | None:
    gave_up = run.gave_up()
    n = len(run.deliveries)
    if run.poison_seq and not run.deliveries:
        return wrong(
            f"The check published 3 refunds on refunds.requested; {DURABLE!r} delivered "
            f"{len(run.other_delivered)} of them and never the poisoned one (seq "
            f"{run.poison_seq}).",
            "look at the consumer's filter and start: it must receive every refund published "
            "after your function ran.",
            f"Leave filter_subject and deliver_policy out: {CONSUMER_FIX}.",
        )
    if gave_up is None:
        md = config.max_deliver
        if md is None or md <= 0:
            why = (
                f"its max_deliver is {md if md is not None else -1}: unlimited, the default. "
                "The server never gives up on a message, so it never publishes a "
                "MAX_DELIVERIES advisory: there is no dead letter to keep."
            )
        else:
            why = (
                f"its max_deliver is {md}: the server gives up only after {md} deliveries, "
                f"and the exercise asks for {MAX_DELIVER}."
            )
        return wrong(
            f"The poisoned refund (seq {run.poison_seq}) was delivered {n} times, nak'd each "
            "time, and the server still hands it out; no MAX_DELIVERIES advisory was "
            "published.",
            why,
            f"`max_deliver={MAX_DELIVER}` in the ConsumerConfig.",
        )
    deliveries = int(gave_up.get("deliveries", 0))
    if deliveries != MAX_DELIVER:
        return wrong(
            f"The server gave up on the poisoned refund after {deliveries} deliveries; the "
            f"exercise asks for {MAX_DELIVER}.",
            "max_deliver counts every delivery, the first one included: 3 means the first "
            "try and two retries.",
            f"`max_deliver={MAX_DELIVER}` in the ConsumerConfig.",
        )
    return None


async def _dlq_hint(js: JetStreamContext, run: _Run) -> CheckResult | None:
    info = await _dlq_stored(js)
    said = (
        f"The server gave up on the poisoned refund (seq {run.poison_seq}) after "
        f"{MAX_DELIVER} deliveries and published its dead letter on `{DEAD_LETTER_SUBJECT}`"
    )
    if info is None:
        return wrong(
            f"{said}, but there is no stream {DLQ} to keep it: the advisory went to whoever "
            "was listening at that moment, and is gone.",
            "a stream stores whatever is published on its subjects, and an advisory is a "
            "message on a subject like any other: a stream on the MAX_DELIVERIES advisory "
            "subject keeps every dead letter.",
            DLQ_FIX,
        )
    subjects = list(info.config.subjects or [])
    if not _captures(subjects, DEAD_LETTER_SUBJECT):
        return wrong(
            f"{said}. {DLQ} exists but its subjects {subjects} do not match that subject, so "
            f"it holds {info.state.messages} dead letters.",
            "subjects match token by token: the advisory subject is "
            "`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>`; put `*` where "
            f"the consumer's name goes to keep the dead letters of every consumer of {STREAM}.",
            f'`subjects=["{DEAD_LETTERS}"]` in the StreamConfig.',
        )
    retention = enum_value(info.config.retention)
    if info.state.messages == 0 and info.state.last_seq > 0:
        return wrong(
            f"{said}. {DLQ} received it (last_seq {info.state.last_seq}) but holds 0 "
            f"messages: its retention is {retention}.",
            "interest retention drops a message that no consumer is interested in, at once "
            "(lesson 06). A dead-letter stream must keep what it receives until someone looks: "
            "limits retention (the default), with a max_age long enough for that.",
            "Leave retention out of the StreamConfig (limits, the default).",
        )
    letters = await _dlq_messages(js, info)
    dead = [doc for subject, doc in letters if ".MAX_DELIVERIES." in subject]
    others = Counter(_kind(subject) for subject, _ in letters if ".MAX_DELIVERIES." not in subject)
    if others:
        kinds = ", ".join(f"{k} x{v}" for k, v in sorted(others.items()))
        return wrong(
            f"{said}, and {DLQ} kept it, with {sum(others.values())} other messages that are "
            f"not dead letters ({kinds}).",
            "the server publishes an advisory for many events (a consumer created, a message "
            "nak'd, ...). A dead-letter stream captures only the MAX_DELIVERIES kind: keep "
            "`MAX_DELIVERIES` as a literal token in its subject.",
            f'`subjects=["{DEAD_LETTERS}"]` in the StreamConfig.',
        )
    other_stream = f"{ADVISORY}.MAX_DELIVERIES.ORDERS.fulfilment"
    if _captures(subjects, other_stream):
        return wrong(
            f"{said}, and {DLQ} kept it; but its subjects {subjects} also match "
            f"`{other_stream}`: it would keep the dead letters of every stream on the server.",
            f"the token after MAX_DELIVERIES is the stream's name: write {STREAM} there.",
            f'`subjects=["{DEAD_LETTERS}"]` in the StreamConfig.',
        )
    mine = [d for d in dead if d.get("stream") == STREAM and d.get("stream_seq") == run.poison_seq]
    if not mine:
        return wrong(
            f"{said}, but {DLQ} holds no dead letter with stream_seq {run.poison_seq}.",
            f"look at what the stream keeps: `nats stream view {DLQ}`, or js.get_msg on it.",
            DLQ_FIX,
        )
    return None


@exercise(
    "replace `raise NotImplementedError` with the two calls: `js.add_consumer(...)` for the "
    f"durable {DURABLE!r} and `js.add_stream(...)` for {DLQ}.",
    explain=_explain,
)
async def dead_letters(js: JetStreamContext, learner: Callable[..., Any]) -> CheckResult:
    """Exercise: ``learner(js)`` creates the durable ``refunder`` on REFUNDS (explicit acks,
    max_deliver 3) and the stream REFUNDS_DLQ on REFUNDS' MAX_DELIVERIES advisories (see the
    module docstring for what the check does)."""
    await _reset(js)
    try:
        failed = await run_setup(learner, js, refused=_refused)
    except NotAttempted:
        await reset_streams(js, STREAM)  # a stub leaves the server as it found it
        raise
    if failed is not None:
        return failed
    try:
        info = await js.consumer_info(STREAM, DURABLE)
    except NotFoundError:
        names = sorted(c.name for c in await js.consumers_info(STREAM))
        return wrong(
            f"After your function ran, {STREAM} has no consumer named {DURABLE!r} (its "
            f"consumers: {names or 'none'}).",
            "js.add_consumer(stream, config) creates a consumer, and only when awaited; its "
            "name goes in the config's durable_name.",
            SOLUTION,
        )
    hint = _consumer_hint(info.config)
    if hint is not None:
        return hint

    run = _Run()

    async def on_advisory(msg: Msg) -> None:
        with contextlib.suppress(ValueError):
            run.advisories.append((msg.subject, json.loads(msg.data)))

    nc = client_of(js)
    tap = await nc.subscribe(f"{ADVISORY}.*.{STREAM}.{DURABLE}", cb=on_advisory)
    try:
        await nc.flush()
        await _drive(js, run)
        await nc.flush()
    finally:
        await tap.unsubscribe()
    hint = _behaviour_hint(run, info.config)  # (a CheckResult is falsy unless correct: no `or`)
    if hint is None:
        hint = await _dlq_hint(js, run)
    if hint is not None:
        return hint
    original = await js.get_msg(STREAM, run.poison_seq)
    refund = json.loads(original.data or b"{}").get("refund")
    return correct(
        f"the poisoned refund {refund} (seq {run.poison_seq}) was delivered {MAX_DELIVER} "
        f"times, then the server gave up and {DLQ} kept its dead letter; "
        f"js.get_msg({STREAM!r}, {run.poison_seq}) finds the refund itself."
    )
