"""Checks for lesson 06, interest-based retention."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo, StreamInfo
from nats.js.errors import APIError, NotFoundError

from . import (
    READ_THE_MESSAGE,
    CheckResult,
    call_learner,
    correct,
    enum_value,
    forget_stream,
    guarded,
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


async def _consumers(js: JetStreamContext) -> dict[str, ConsumerInfo]:
    try:
        return {c.name: c for c in await js.consumers_info(STREAM)}
    except NotFoundError:
        return {}


def _retention_hint(retention: str) -> CheckResult | None:
    if retention == "limits":
        return wrong(
            "Your stream has retention='limits': it keeps every invoice until a limit (age, "
            "count, bytes) removes it, however many services have acked it, so nothing is "
            "removed once billing and audit are done. Use `retention=RetentionPolicy.INTEREST`."
        )
    if retention == "workqueue":
        return wrong(
            "Your stream has retention='workqueue': a message is removed as soon as ONE "
            "consumer acks it, and the server refuses a second consumer that would get the same "
            "messages (error 10099). Billing and audit must both see every invoice: use "
            "`retention=RetentionPolicy.INTEREST`."
        )
    return None


def _covers_all(info: ConsumerInfo) -> bool:
    """Whether the consumer's filter takes every subject of ``invoices.>``."""
    config = info.config
    filters = list(config.filter_subjects or []) or (
        [config.filter_subject] if config.filter_subject else []
    )
    return not filters or any(f in (">", "invoices.>") for f in filters)


async def _wait_messages(js: JetStreamContext, want: int) -> int:
    """The stream's message count once it equals ``want`` (or after REMOVAL_WAIT seconds)."""
    deadline = time.monotonic() + REMOVAL_WAIT
    while True:
        messages = (await js.stream_info(STREAM)).state.messages
        if messages == want or time.monotonic() > deadline:
            return messages
        await asyncio.sleep(0.02)


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


async def invoices_kept_for_both(js: JetStreamContext, learner: Callable[..., Any]) -> CheckResult:
    """Exercise: ``learner(js)`` creates stream INVOICES (``invoices.>``) that keeps an invoice
    until both durable pull consumers ``billing`` and ``audit`` have acked it, and publishes
    the first invoice to ``invoices.created``.

    The check deletes INVOICES first, calls the learner, reads the real stream and consumer
    config, then acks the stored invoice as ``billing`` (it must stay) and as ``audit`` (it
    must go). It leaves the stream in place for the learner to inspect.
    """

    async def check() -> CheckResult:
        await forget_stream(js, STREAM)
        refused: APIError | None = None
        try:
            await call_learner(learner, js)
        except APIError as exc:
            refused = exc
        info = await _stream(js)
        if info is not None:
            hint = _retention_hint(str(enum_value(info.config.retention)))
            if hint is not None:
                return hint
        if refused is not None:
            return refusal(refused, "a request", READ_THE_MESSAGE)
        if info is None:
            return wrong(
                f"There is no stream named {STREAM!r} after your function ran. Create it with "
                f'`await js.add_stream(name="{STREAM}", subjects=["invoices.>"], ...)`.'
            )
        subjects = list(info.config.subjects or [])
        if subjects != SUBJECTS:
            return wrong(
                f"Your stream captures subjects {subjects}; it should capture exactly "
                f'{SUBJECTS}: `subjects=["invoices.>"]`.'
            )
        consumers = await _consumers(js)
        missing = [name for name in CONSUMERS if name not in consumers]
        if missing:
            have = sorted(consumers) or "none"
            return wrong(
                f"Consumer(s) {missing} are missing (the stream has: {have}). On an interest "
                "stream a consumer that does not exist has no interest, so an invoice would be "
                "removed as soon as the others acked it. Create both durables with "
                '`js.add_consumer("INVOICES", ConsumerConfig(durable_name=..., ...))`.'
            )
        for name in CONSUMERS:
            config = consumers[name].config
            if config.deliver_subject:
                return wrong(
                    f"{name!r} is a push consumer (deliver_subject={config.deliver_subject!r}); "
                    "make it a pull consumer: leave `deliver_subject` unset."
                )
            ack = enum_value(config.ack_policy)
            if ack == "none":
                return wrong(
                    f"{name!r} has ack_policy='none': the server counts an invoice as acked "
                    "the moment it is DELIVERED to it, so it can be removed before audit or "
                    "billing has handled it (a crash loses it). Use "
                    "`ack_policy=AckPolicy.EXPLICIT`."
                )
            if ack != "explicit":
                return wrong(
                    f"{name!r} has ack_policy={ack!r}; ack each invoice on its own with "
                    "`ack_policy=AckPolicy.EXPLICIT`."
                )
            if not _covers_all(consumers[name]):
                filters = config.filter_subjects or [config.filter_subject]
                return wrong(
                    f"{name!r} has the filter {filters}, so it has no interest in other invoice "
                    f"subjects (an invoice on {FIRST_SUBJECT!r} would not wait for it). Each "
                    'service receives every invoice: no filter, or `filter_subject="invoices.>"`.'
                )
        state = info.state
        if state.last_seq == 0:
            return wrong(
                "Nothing was published to INVOICES: publish the first invoice with "
                f'`await js.publish("{FIRST_SUBJECT}", b"...")` after creating the consumers.'
            )
        if state.messages == 0:
            return wrong(
                f"Your invoice was published (PubAck seq {state.last_seq}) but the stream holds "
                "0 messages: it was published before the consumers existed, and an interest "
                "stream drops a message nobody is interested in at once. Create `billing` and "
                "`audit` first, then publish."
            )
        held = state.messages
        billing = await _ack_all(js, "billing")
        after_billing = (await js.stream_info(STREAM)).state.messages
        if after_billing < held:
            return wrong(
                f"billing acked {billing} and the stream dropped to {after_billing} messages: "
                "an invoice was removed before audit acked it. Check that `audit` wants every "
                "invoice and acks explicitly."
            )
        audit = await _ack_all(js, "audit")
        left = await _wait_messages(js, 0)
        if left:
            return wrong(
                f"Both services acked, yet {left} message(s) are still stored. The stream must "
                "remove an invoice once both have acked it: `retention=RetentionPolicy.INTEREST`."
            )
        return correct(
            f"{STREAM} kept {held} invoice(s) after billing acked {billing}, and removed them "
            f"when audit acked {audit}: messages now 0."
        )

    return await guarded(
        check,
        "replace `raise NotImplementedError` with `js.add_stream(...)`, two "
        "`js.add_consumer(...)` calls and a `js.publish(...)`.",
    )
