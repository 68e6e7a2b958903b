"""Checks for lesson 08, monitoring consumer lag."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import nats.errors
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NoStreamResponseError

from ..connect import client_of
from . import (
    CheckResult,
    call_learner,
    correct,
    exercise,
    fresh_consumer,
    wrong,
)

__all__ = ["CONSUMER", "FILTER", "ROUNDS", "STREAM", "lag_from_metadata"]

STREAM = "EVENTS"
CONSUMER = "lag-check"
FILTER = "events.payment.>"
#: The check publishes PAIRS payment events, each followed by an order event its filtered
#: consumer does not match, then fetches ROUNDS batches and asks the learner after each.
PAIRS = 20
ROUNDS = (5, 5, 10)
API_PREFIX = "$JS.API."
SOLUTION = "`return msgs[-1].metadata.num_pending`"
METADATA = (
    "Every delivered message's metadata has num_pending: how many messages matching the "
    "consumer were still undelivered right after it was delivered. The newest message carries "
    "the latest figure the server gave you (as of its delivery)."
)


def _api_kind(subject: str) -> str:
    """``$JS.API.CONSUMER.INFO.EVENTS.x`` -> ``CONSUMER.INFO`` (the request type)."""
    tokens = subject[len(API_PREFIX) :].split(".")
    if tokens[:2] == ["CONSUMER", "MSG"]:
        return "CONSUMER.MSG.NEXT"
    return ".".join(tokens[:2])


def _api_hint(requests: Counter[str]) -> tuple[str, str]:
    """(symptom, concept) for a function that sent requests on $JS.API.>."""
    listed = ", ".join(f"{n} x $JS.API.{kind}" for kind, n in sorted(requests.items()))
    total = sum(requests.values())
    symptom = (
        f"Your function sent {total} request{'s' if total != 1 else ''} on $JS.API.> "
        f"({listed}) while it ran; the exercise reads the lag from the messages alone."
    )
    concept = ""
    if "CONSUMER.MSG.NEXT" in requests:
        concept += (
            "It fetched more messages itself, which changes the lag it is asked about: only "
            "read the messages you are given. "
        )
    if requests.keys() - {"CONSUMER.MSG.NEXT"}:
        concept += (
            "Asking the server (consumer_info, stream_info) for every batch is the polling the "
            "reference doc calls an anti-pattern: one request per poll per consumer, all "
            "answered by the server. "
        )
    return symptom, concept + METADATA


def _value_hint(
    value: int, expected: int, msgs: Sequence[Msg], last_seq: int, fetched: int
) -> tuple[str, str] | None:
    """(symptom, concept) for why ``value`` is not ``expected``; None if it is."""
    if value == expected:
        return None
    first, last = msgs[0].metadata, msgs[-1].metadata
    head = (
        f"Your function returned {value}, but after the check fetched {fetched} messages "
        f"{CONSUMER!r} has {expected} unprocessed (its num_pending on the server)."
    )
    if value == last_seq - last.sequence.stream:
        return head + (
            f" You counted every message in the stream after the last one delivered "
            f"({last_seq} - {last.sequence.stream})."
        ), (
            f"{CONSUMER!r} has the filter {FILTER!r}: the order events in between are not its "
            "lag, it will never receive them. num_pending counts only messages that match the "
            "filter."
        )
    if len(msgs) > 1 and value == first.num_pending:
        return head + " That is the num_pending of the FIRST message in the batch.", (
            "A message's num_pending is the lag at the moment it was delivered. The messages "
            "after it were delivered later, each one lowering the lag by one; the newest "
            "message has the latest figure the server gave you."
        )
    if abs(value - expected) == 1:
        return head + " Off by one.", (
            "A message's metadata.num_pending is what remains AFTER that message: the message "
            "itself is already delivered and not counted. Use it unchanged, without adding or "
            "subtracting 1."
        )
    if value == sum(m.metadata.num_pending for m in msgs):
        return head + " You added up num_pending over the batch.", (
            "Each message carries the whole remaining count at its own delivery, so the "
            "figures overlap; the newest one is the answer."
        )
    if value in (last.num_delivered, sum(m.metadata.num_delivered for m in msgs), len(msgs)):
        return head + " That is a delivery count or the size of the batch.", (
            "num_delivered is how many times THAT message has been delivered (1 the first "
            "time, more after a redelivery), and the size of the batch is what you already "
            "have, not what is still to come. What remains is num_pending."
        )
    if value in (last.sequence.stream, last.sequence.consumer):
        return head + " That is a sequence number: a position, not a count.", (
            "A sequence is a place in the stream (or in the consumer's deliveries), not a "
            "count of what is left. The count is num_pending."
        )
    return head, METADATA


def _explain(exc: Exception) -> tuple[str, str] | None:
    if not isinstance(exc, AttributeError | TypeError | IndexError | KeyError | ValueError):
        return None
    return (
        "Your function gets a list of nats-py messages; each has msg.metadata with "
        ".num_pending, .num_delivered, .sequence.stream, .sequence.consumer and .timestamp.",
        SOLUTION,
    )


@exercise(
    "replace `raise NotImplementedError` with code that reads the lag from the messages' "
    "metadata (no API calls).",
    explain=_explain,
)
async def lag_from_metadata(js: JetStreamContext, learner: Callable[..., Any]) -> CheckResult:
    """Exercise: ``learner(msgs)`` returns a consumer's lag (its Unprocessed count) using only
    the metadata of the messages it was just handed, without asking the server.

    The check publishes 20 payment and 20 order events on EVENTS, creates the filtered durable
    ``lag-check`` (``events.payment.>``, starting at the first of them), then fetches batches
    of 5, 5 and 10. After each batch it calls the learner with the fetched messages while a
    subscription on ``$JS.API.>`` on the same connection counts the requests on it the
    learner sends, and compares the answer with the consumer's real ``num_pending``.
    """
    nc = client_of(js)
    await fresh_consumer(js, STREAM, CONSUMER)
    try:
        acks = []
        for i in range(PAIRS):
            acks.append(await js.publish("events.payment.captured", b'{"check": %d}' % i))
            await js.publish("events.order.created", b'{"check": %d}' % i)
    except (NoStreamResponseError, nats.errors.NoRespondersError):
        return wrong(
            f"Publishing to events.payment.captured found no stream: {STREAM} must capture "
            '"events.>". Re-run the lesson\'s setup cells.'
        )
    await js.add_consumer(
        STREAM,
        ConsumerConfig(
            durable_name=CONSUMER,
            filter_subject=FILTER,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=acks[0].seq,
            ack_policy=AckPolicy.EXPLICIT,
        ),
    )
    sub = await js.pull_subscribe_bind(durable=CONSUMER, stream=STREAM)
    answers: list[int] = []
    try:
        fetched = 0
        for size in ROUNDS:
            msgs = await sub.fetch(size, timeout=5)
            for msg in msgs:
                await msg.ack_sync()
            fetched += len(msgs)
            expected = (await js.consumer_info(STREAM, CONSUMER)).num_pending
            last_seq = (await js.stream_info(STREAM)).state.last_seq

            tap = await nc.subscribe(API_PREFIX + ">")
            await nc.flush()
            try:
                value = await call_learner(learner, list(msgs))
            finally:
                # The server echoes this connection's own requests to the tap before it
                # answers the flush's PING, so after the flush they are all queued.
                await nc.flush()
                requests = Counter([_api_kind(s) for s in await _drain(tap)])
                await tap.unsubscribe()

            valid = isinstance(value, int) and not isinstance(value, bool)
            if requests:
                symptom, concept = _api_hint(requests)
                why = _value_hint(value, expected, msgs, last_seq, fetched) if valid else None
                if why:
                    symptom, concept = f"{why[0]} {symptom}", f"{why[1]} {concept}"
                return wrong(symptom, concept, SOLUTION)
            if not valid:
                return wrong(
                    f"Your function returned {value!r:.80} ({type(value).__name__}); the "
                    "check expects the lag as an int, the number of messages still to come.",
                    METADATA,
                    SOLUTION,
                )
            why = _value_hint(value, expected, msgs, last_seq, fetched)
            if why:
                return wrong(why[0], why[1], SOLUTION)
            answers.append(value)
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
        with contextlib.suppress(Exception):
            await js.delete_consumer(STREAM, CONSUMER)
    shown = ", ".join(map(str, answers))
    sizes = ", ".join(map(str, ROUNDS))
    return correct(
        f"after fetches of {sizes} messages from the filtered consumer {CONSUMER!r} "
        f"({FILTER}) your function said {shown}: the server's num_pending each time, "
        "read from the messages alone, with no API request."
    )


async def _drain(sub: Subscription) -> list[str]:
    """The subjects of the messages already waiting in a callback-less subscription."""
    subjects: list[str] = []
    while sub.pending_msgs:
        subjects.append((await sub.next_msg(timeout=None)).subject)
    return subjects
