"""Checks for lesson 09, anti-patterns: fix the billing team's risky setup."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, StreamConfig
from nats.js.errors import NotFoundError

from ..subjects import filters_of
from ..topology import enum_value, reset_streams
from . import (
    CheckResult,
    correct,
    exercise,
    learner_stream,
    no_consumer,
    run_setup,
    wrong,
)

__all__ = ["BILLING", "BILLING_FILTER", "MIN_AGE_DAYS", "STREAM", "fix_billing"]

STREAM = "EVENTS"
SUBJECTS = ["events.>"]
BILLING = "billing"
BILLING_FILTER = "events.payment.>"
MIN_AGE_DAYS = 7
DAY = 24 * 3600
STREAM_FIX = f"max_age={MIN_AGE_DAYS} * 24 * 3600"
CONSUMER_FIX = (
    f'ConsumerConfig(durable_name="{BILLING}", filter_subject="{BILLING_FILTER}", '
    "deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT)"
)
STREAM_CALL = f'`await js.add_stream(name="{STREAM}", subjects=["events.>"], {STREAM_FIX})`'
LIMITS_CONCEPT = (
    "A stream without limits grows with every publish until the store is full. A limit "
    "bounds it: max_age (how long a message may stay, in seconds in nats-py), max_bytes, "
    "max_msgs, max_msgs_per_subject. Billing's rule is about time: it replays the last week."
)
DURABLE_CONCEPT = (
    "A durable consumer (durable_name, no inactive_threshold) outlives its clients: the "
    "server keeps its position until someone deletes it. An ephemeral one is removed a few "
    "seconds after its last client goes, position and all."
)
# What the check publishes once the configuration is right: two payments and one order.
PROBES = (
    ("events.payment.captured", b'{"type": "payment.captured", "check": 1}'),
    ("events.order.created", b'{"type": "order.created", "check": 2}'),
    ("events.payment.failed", b'{"type": "payment.failed", "check": 3}'),
)


def _limit(value: Any) -> int:
    """A count/size limit as an int, where -1 (and None, 0) mean unlimited."""
    return int(value) if value and value > 0 else -1


def _human(seconds: float) -> str:
    """A duration in the largest unit that keeps it readable: "1 day", "2.5 hours", "7 s"."""
    for size, unit in ((DAY, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = round(seconds / size, 2)
            return f"{n:g} {unit}" + ("" if n == 1 else "s")
    return f"{seconds:g} s"


def _stream_hint(config: StreamConfig) -> CheckResult | None:
    if list(config.subjects or []) != SUBJECTS:
        return wrong(
            f"{STREAM} captures subjects {config.subjects}: not every event (payments "
            "included) lands in it.",
            "The reference doc's stream captures every event with one wildcard subject.",
            '`subjects=["events.>"]`',
        )
    retention = enum_value(config.retention) or "limits"
    if retention != "limits":
        return wrong(
            f"{STREAM} has retention={retention!r}: the server removes a message once the "
            "consumers have acked it, so billing could never replay last week's payments, "
            "and a consumer added later would find the stream empty.",
            "Retention decides why a message leaves: limits (only a limit removes it), "
            "interest or workqueue (acks remove it). Replay needs limits retention, bounded "
            "by a limit.",
            f"`retention=RetentionPolicy.LIMITS` (the default: leave it out) and `{STREAM_FIX}`.",
        )
    max_age = float(config.max_age or 0)
    caps = {
        "max_bytes": _limit(config.max_bytes),
        "max_msgs": _limit(config.max_msgs),
        "max_msgs_per_subject": _limit(config.max_msgs_per_subject),
    }
    if not max_age and all(v == -1 for v in caps.values()):
        return wrong(
            f"{STREAM} still has no limit: max_age is 0 (forever) and max_bytes, max_msgs and "
            "max_msgs_per_subject are -1 (unlimited), so it grows with every publish until "
            "the server's store is full.",
            LIMITS_CONCEPT,
            f"`{STREAM_FIX}` in `js.add_stream`.",
        )
    per_subject = caps["max_msgs_per_subject"]
    if per_subject != -1:
        return wrong(
            f"{STREAM} keeps only {per_subject} message(s) per subject: every payment on "
            "events.payment.captured pushes an older one out, whatever its age, so billing "
            "cannot replay a week.",
            "max_msgs_per_subject suits last-value streams (a sensor's latest reading), not "
            "an event log. " + LIMITS_CONCEPT,
            f"Remove max_msgs_per_subject and use `{STREAM_FIX}`.",
        )
    if not max_age:
        capped = ", ".join(f"{k}={v}" for k, v in caps.items() if v != -1)
        return wrong(
            f"{STREAM} is bounded ({capped}) but has no max_age, so how far back billing can "
            "replay depends on traffic: a busy day pushes Monday's payments out.",
            LIMITS_CONCEPT + f" Billing must be able to replay {MIN_AGE_DAYS} days.",
            f"`{STREAM_FIX}` (a size cap may stay as a safety net).",
        )
    if max_age < MIN_AGE_DAYS * DAY:
        unit = (
            f" Did you mean {max_age:g} days? nats-py takes max_age in seconds."
            if max_age <= 366
            else ""
        )
        human = _human(max_age)
        human = f" ({human})" if human != f"{max_age:g} s" else ""
        return wrong(
            f"{STREAM} has max_age={max_age:g} s{human}: too short to replay the last "
            f"{MIN_AGE_DAYS} days.{unit}",
            LIMITS_CONCEPT,
            f"`{STREAM_FIX}` (seconds).",
        )
    return None


def _consumer_hint(config: ConsumerConfig) -> CheckResult | None:
    threshold = config.inactive_threshold
    if not config.durable_name:
        return wrong(
            f"{BILLING!r} is still ephemeral: it has a name but no durable_name, so the server "
            f"deletes it {threshold or 5:g} s after its last client goes away, and with it "
            "the record of which payments were already charged.",
            DURABLE_CONCEPT,
            f'`durable_name="{BILLING}"`',
        )
    if threshold:
        return wrong(
            f"{BILLING!r} is durable but has inactive_threshold={threshold:g} s: the server "
            "deletes it, position and all, once nobody has pulled for that long (a deploy, a "
            "weekend outage).",
            DURABLE_CONCEPT,
            "Leave inactive_threshold out.",
        )
    filters = filters_of(config)
    if filters != [BILLING_FILTER]:
        return wrong(
            f"{BILLING!r} filters on {filters or 'nothing (every event)'}; billing only "
            "handles payments.",
            "A consumer's filter picks the subjects it receives (lesson 03).",
            f'`filter_subject="{BILLING_FILTER}"`',
        )
    ack = enum_value(config.ack_policy) or "explicit"
    if ack != "explicit":
        return wrong(
            f"{BILLING!r} has ack_policy={ack!r}: "
            + (
                "the server forgets each payment as soon as it is sent, so a crash mid-charge "
                "loses it."
                if ack == "none"
                else "one ack confirms every earlier message too, so a failed payment can be "
                "acked by a later one."
            ),
            "Billing acks each payment once it is charged: explicit acks.",
            "`ack_policy=AckPolicy.EXPLICIT`",
        )
    deliver = enum_value(config.deliver_policy) or "all"
    if deliver != "all":
        return wrong(
            f"{BILLING!r} has deliver_policy={deliver!r}: payments stored before it was "
            "created are never delivered to it.",
            "The deliver policy decides where a new consumer starts (fixed at creation).",
            "`deliver_policy=DeliverPolicy.ALL`",
        )
    return None


async def _find_unnamed_ephemeral(js: JetStreamContext) -> bool:
    for info in await js.consumers_info(STREAM):
        if not info.config.durable_name:
            return True
    return False


@exercise(
    "replace `raise NotImplementedError` with the fixed setup: `js.add_stream` for EVENTS "
    "with a max_age, and `js.add_consumer` for a durable 'billing'."
)
async def fix_billing(js: JetStreamContext, learner: Callable[..., Any]) -> CheckResult:
    """Exercise: ``learner(js)`` creates the EVENTS stream and the ``billing`` consumer without
    the anti-patterns: EVENTS on ``events.>`` with limits retention and a max age of at least
    7 days (no per-subject limit), and ``billing`` durable (no inactive threshold), filtered to
    ``events.payment.>``, explicit acks, deliver all.

    The check deletes EVENTS first (so the learner's ``add_stream`` creates it), calls the
    learner, reads the real stream and consumer config, then publishes two payments and an
    order and pulls ``billing`` (acking) to prove it gets the two payments only.
    """
    await reset_streams(js, STREAM)
    hint = await run_setup(learner, js, what="your setup", failed="Your setup failed")
    if hint is not None:
        return hint
    note = f" The check deletes {STREAM} before calling your function."
    stream = await learner_stream(js, STREAM, STREAM_CALL, note=note)
    hint = _stream_hint(stream.config)
    if hint is not None:
        return hint
    try:
        info = await js.consumer_info(STREAM, BILLING)
    except NotFoundError:
        if await _find_unnamed_ephemeral(js):
            return wrong(
                f"There is no consumer named {BILLING!r}, only an ephemeral one with a "
                "random name: it vanishes a few seconds after its client goes away, and a "
                "restarted service cannot find it again.",
                DURABLE_CONCEPT,
                f"`await js.add_consumer({STREAM!r}, {CONSUMER_FIX})`",
            )
        return no_consumer(STREAM, BILLING, f"`await js.add_consumer({STREAM!r}, {CONSUMER_FIX})`")
    hint = _consumer_hint(info.config)
    if hint is not None:
        return hint

    wanted = []
    for subject, payload in PROBES:
        ack = await js.publish(subject, payload)
        if subject.startswith("events.payment."):
            wanted.append(ack.seq)
    got: list[int] = []
    sub = await js.pull_subscribe_bind(durable=BILLING, stream=STREAM)
    try:
        while len(got) < len(wanted):
            try:
                msgs = await sub.fetch(10, timeout=2)
            except TimeoutError:  # nats.errors.TimeoutError too
                break
            for msg in msgs:
                got.append(msg.metadata.sequence.stream)
                await msg.ack_sync()
    finally:
        await sub.unsubscribe()
    if got != wanted:
        return wrong(
            f"billing delivered stream sequences {got}; the check expected the two payments "
            f"{wanted} and not the order between them.",
            "A consumer's filter picks the subjects it receives (lesson 03).",
            f'`filter_subject="{BILLING_FILTER}"`',
        )
    days = float(stream.config.max_age or 0) / DAY
    return correct(
        f"{STREAM} keeps events for {days:g} days (bounded, and long enough to replay a "
        f"week) and billing is durable with no inactive threshold: it survives its "
        f"service going away. It delivered the payments (seq {wanted[0]} and {wanted[1]}) "
        "and not the order."
    )
