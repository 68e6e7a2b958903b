"""Checks for lesson 06, interest-based retention."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo, StreamInfo
from nats.js.errors import APIError, NotFoundError

from ..subjects import filters_of
from ..topology import consumers_of, enum_value, reset_streams
from ..waiting import settle
from . import (
    CheckResult,
    LearnerFailed,
    call_learner,
    correct,
    exercise,
    no_stream,
    refusal,
    wrong,
)

__all__ = ["CONSUMERS", "STREAM", "SUBJECTS", "invoices_kept_for_both"]

STREAM = "INVOICES"
SUBJECTS = ["invoices.>"]
CONSUMERS = ("billing", "audit")
FIRST_SUBJECT = "invoices.created"
REMOVAL_WAIT = 5.0  # seconds: a generous bound on the server removing an acked message


async def _stream(js: JetStreamContext) -> StreamInfo | None:
    try:
        return await js.stream_info(STREAM)
    except NotFoundError:
        return None


RETENTION_CONCEPT = (
    "Retention decides why a message leaves the stream: limits (only a limit removes it), "
    "workqueue (the first ack removes it, one consumer per message), interest (it stays until "
    "every consumer that wants it has acked it)."
)
RETENTION_FIX = "`retention=RetentionPolicy.INTEREST` in `js.add_stream(...)`"
CONSUMERS_FIX = (
    'for each of "billing" and "audit": `await js.add_consumer("INVOICES", '
    "ConsumerConfig(durable_name=name, ack_policy=AckPolicy.EXPLICIT))`"
)


def _retention_hint(retention: str) -> CheckResult | None:
    if retention == "limits":
        return wrong(
            "Your stream has retention='limits': it keeps every invoice until a limit (age, "
            "count, bytes) removes it, however many services have acked it, so nothing is "
            "removed once billing and audit are done.",
            RETENTION_CONCEPT,
            RETENTION_FIX,
        )
    if retention == "workqueue":
        return wrong(
            "Your stream has retention='workqueue': a message is removed as soon as ONE "
            "consumer acks it, and the server refuses a second consumer that would get the same "
            "messages (error 10099). Billing and audit must both see every invoice.",
            RETENTION_CONCEPT,
            RETENTION_FIX,
        )
    return None


def _covers_all(info: ConsumerInfo) -> bool:
    """Whether the consumer's filter takes every subject of ``invoices.>``."""
    config = info.config
    filters = filters_of(config)
    return not filters or any(f in (">", "invoices.>") for f in filters)


async def _wait_messages(js: JetStreamContext, want: int) -> int:
    """The stream's message count once it equals ``want`` (or after REMOVAL_WAIT seconds)."""

    async def messages() -> int:
        count: int = (await js.stream_info(STREAM)).state.messages
        return count

    return await settle(messages, lambda n: n == want, REMOVAL_WAIT)


async def _ack_all(js: JetStreamContext, durable: str) -> list[int]:
    """Fetch everything ``durable`` has and ack it (waiting for the server); the sequences."""
    sub = await js.pull_subscribe_bind(durable=durable, stream=STREAM)
    try:
        msgs = await sub.fetch(100, timeout=2)
        for msg in msgs:
            await msg.ack_sync()
        return [m.metadata.sequence.stream for m in msgs]
    finally:
        await sub.unsubscribe()


@exercise(
    "replace `raise NotImplementedError` with `js.add_stream(...)`, two "
    "`js.add_consumer(...)` calls and a `js.publish(...)`."
)
async def invoices_kept_for_both(js: JetStreamContext, learner: Callable[..., Any]) -> CheckResult:
    """Exercise: ``learner(js)`` creates stream INVOICES (``invoices.>``) that keeps an invoice
    until both durable pull consumers ``billing`` and ``audit`` have acked it, and publishes
    the first invoice to ``invoices.created``.

    The check deletes INVOICES first, calls the learner, reads the real stream and consumer
    config, then acks the stored invoice as ``billing`` (it must stay) and as ``audit`` (it
    must go). It leaves the stream in place for the learner to inspect.
    """
    await reset_streams(js, STREAM)
    refused: APIError | None = None
    try:
        await call_learner(learner, js)
    except LearnerFailed as failure:
        if not isinstance(failure.exc, APIError):
            raise
        refused = failure.exc
    info = await _stream(js)
    if info is not None:
        hint = _retention_hint(str(enum_value(info.config.retention)))
        if hint is not None:
            return hint
    if refused is not None:
        return refusal(refused, "a request")
    if info is None:
        fix = (
            f'`await js.add_stream(name="{STREAM}", subjects=["invoices.>"], '
            "retention=RetentionPolicy.INTEREST)`"
        )
        return no_stream(STREAM, fix)
    subjects = list(info.config.subjects or [])
    if subjects != SUBJECTS:
        return wrong(
            f"Your stream captures subjects {subjects}; the exercise wants exactly {SUBJECTS}.",
            "'>' matches every subject below a prefix: invoices.created, invoices.paid, ...",
            '`subjects=["invoices.>"]`',
        )
    consumers = await consumers_of(js, STREAM, missing_ok=True)
    missing = [name for name in CONSUMERS if name not in consumers]
    if missing:
        have = sorted(consumers) or "none"
        return wrong(
            f"Consumer(s) {missing} are missing (the stream has: {have}).",
            "On an interest stream a consumer that does not exist has no interest, so an "
            "invoice would be removed as soon as the others acked it: both services need "
            "their durable before the first invoice.",
            CONSUMERS_FIX + ".",
        )
    for name in CONSUMERS:
        config = consumers[name].config
        if config.deliver_subject:
            return wrong(
                f"{name!r} is a push consumer (deliver_subject={config.deliver_subject!r}).",
                "This exercise wants pull consumers: no deliver_subject.",
                "Leave `deliver_subject` unset.",
            )
        ack = enum_value(config.ack_policy)
        if ack == "none":
            return wrong(
                f"{name!r} has ack_policy='none': the server counts an invoice as acked the "
                "moment it is DELIVERED to it, so it can be removed before audit or billing "
                "has handled it (a crash loses it).",
                "On an interest stream the acks decide when a message goes: each service "
                "must ack an invoice itself, once it has handled it.",
                "`ack_policy=AckPolicy.EXPLICIT`",
            )
        if ack != "explicit":
            return wrong(
                f"{name!r} has ack_policy={ack!r}: one ack also confirms every earlier invoice.",
                "Each invoice is acked on its own, once it is handled: explicit acks.",
                "`ack_policy=AckPolicy.EXPLICIT`",
            )
        if not _covers_all(consumers[name]):
            filters = filters_of(config)
            return wrong(
                f"{name!r} has the filter {filters}, so it has no interest in other invoice "
                f"subjects (an invoice on {FIRST_SUBJECT!r} would not wait for it).",
                "On an interest stream a consumer holds back only the messages its filter "
                "matches. Each service receives every invoice.",
                'No filter, or `filter_subject="invoices.>"`.',
            )
    state = info.state
    if state.last_seq == 0:
        return wrong(
            "Nothing was published to INVOICES: the stream's last sequence is 0.",
            "The exercise ends by publishing the first invoice, after creating the consumers.",
            f'`await js.publish("{FIRST_SUBJECT}", b"...")` after the two add_consumer calls.',
        )
    if state.messages == 0:
        return wrong(
            f"Your invoice was published (PubAck seq {state.last_seq}) but the stream holds "
            "0 messages.",
            "An interest stream drops a message nobody is interested in at once: it was "
            "published before the consumers existed.",
            "Create `billing` and `audit` first, then publish.",
        )
    held = state.messages
    billing = await _ack_all(js, "billing")
    after_billing = (await js.stream_info(STREAM)).state.messages
    if after_billing < held:
        return wrong(
            f"billing acked {billing} and the stream dropped to {after_billing} messages: "
            "an invoice was removed before audit acked it.",
            "An interest stream keeps a message until every consumer that wants it has "
            "acked it: audit must want every invoice and ack explicitly.",
            CONSUMERS_FIX + ".",
        )
    audit = await _ack_all(js, "audit")
    left = await _wait_messages(js, 0)
    if left:
        return wrong(
            f"Both services acked, yet {left} message(s) are still stored.",
            RETENTION_CONCEPT,
            RETENTION_FIX,
        )
    return correct(
        f"{STREAM} kept {held} invoice(s) after billing acked {billing}, and removed them "
        f"when audit acked {audit}: messages now 0."
    )
