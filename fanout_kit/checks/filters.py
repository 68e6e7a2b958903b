"""Checks for lesson 03, filtered fan-out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import APIError

from ..events import KINDS
from ..subjects import filters_of, matching
from ..topology import enum_value
from . import (
    CheckResult,
    consume,
    correct,
    exercise,
    fresh_consumer,
    learner_consumer,
    push_consumer_hint,
    run_setup,
    starts_at_beginning,
    where,
    wrong,
)

__all__ = ["FRAUD_SUBJECTS", "FRAUD_WATCH", "SHOP_SUBJECTS", "STREAM", "fraud_watch"]

STREAM = "EVENTS"
FRAUD_WATCH = "fraud-watch"
#: What fraud-watch must receive, and nothing else.
FRAUD_SUBJECTS = ("events.auth.login", "events.payment.failed")
#: Every subject the demo shop publishes on EVENTS.
SHOP_SUBJECTS = tuple(
    f"events.{kind}.{etype}" for kind, types in KINDS.items() if kind != "sensor" for etype in types
)
#: What the check publishes after the learner's consumer exists: two of each wanted subject,
#: and neighbours a too-broad filter would also catch.
CHECK_TRAFFIC = (
    "events.payment.failed",
    "events.auth.login",
    "events.payment.captured",
    "events.auth.logout",
    "events.order.created",
    "events.payment.failed",
    "events.user.signed_up",
    "events.auth.login",
)
SOLUTION = 'filter_subjects=["events.payment.failed", "events.auth.login"]'
FIX = (
    f'`await js.add_consumer("{STREAM}", ConsumerConfig(durable_name="{FRAUD_WATCH}", {SOLUTION}))`'
)
FILTERS_CONCEPT = (
    "A consumer's filter decides which of the stream's subjects it receives: filter_subject "
    "takes one subject (wildcards allowed), filter_subjects a list of several (server 2.10+); "
    "set one of the two, never both."
)


def _server_refused(exc: APIError) -> CheckResult:
    code, desc = exc.err_code, exc.description
    said = f"The server refused the consumer: {desc} (error {code}){where(exc)}."
    if code == 10138:
        return wrong(
            said + " One of your filters contains another (e.g. 'events.payment.>' and "
            "'events.payment.failed'), so a message could match twice.",
            FILTERS_CONCEPT + " Overlapping filters are refused.",
            f"List exactly the two subjects: `{SOLUTION}`.",
        )
    if code == 10136:
        return wrong(
            said + " You set both filter_subject and filter_subjects.",
            FILTERS_CONCEPT,
            f"Set `{SOLUTION}` only, and leave filter_subject out (None).",
        )
    if code == 10025 and "filter_subject" in (desc or ""):
        return wrong(
            said + " filter_subject got a list, and it takes ONE subject string.",
            FILTERS_CONCEPT,
            f"A list of subjects goes in filter_subjects (with an s): `{SOLUTION}`.",
        )
    return wrong(said, "Read the message: it names what it does not accept.", FIX)


def _config_hint(config: Any, first_seq: int) -> CheckResult | None:
    """A hint for what is wrong in the consumer's config, or None if it looks right."""
    if config.deliver_subject:
        return push_consumer_hint(FRAUD_WATCH, STREAM, config.deliver_subject)
    if not config.durable_name:
        return wrong(
            f"{FRAUD_WATCH!r} exists but is ephemeral (no durable_name): the server deletes it "
            f"after {config.inactive_threshold or 5:g} s without a client, and fraud alerts "
            "published meanwhile are never checked.",
            "A consumer survives its clients only with a durable name; name= alone makes an "
            "ephemeral one with that name.",
            f'`durable_name="{FRAUD_WATCH}"` instead of name=.',
        )
    filters = filters_of(config)
    if not filters:
        return wrong(
            f"{FRAUD_WATCH!r} has no filter, so it receives every event of the stream, not "
            "just payment failures and logins.",
            FILTERS_CONCEPT,
            f"Add `{SOLUTION}`.",
        )
    for f in filters:
        if "," in f or " " in f:
            return wrong(
                f"Your filter is the single string {f!r}. NATS does not split it at commas: it "
                "is one literal subject that no event is published to, so the consumer waits "
                "forever with Unprocessed 0.",
                FILTERS_CONCEPT,
                f"Two subjects need a list in filter_subjects: `{SOLUTION}`.",
            )
    for f in filters:
        if not matching(SHOP_SUBJECTS, [f]):
            close = [s for s in FRAUD_SUBJECTS if s.split(".")[1][:4] in f]
            example = close[0] if close else FRAUD_SUBJECTS[0]
            return wrong(
                f"The filter {f!r} matches no subject the shop publishes (the server accepts it "
                "anyway and simply delivers nothing).",
                "Check each token: the subjects are 'events.<kind>.<type>' with a singular "
                "kind, as the stream's subject list in the lesson shows.",
                f"Use the exact subjects, e.g. {example!r}: `{SOLUTION}`.",
            )
    let_through = matching(SHOP_SUBJECTS, filters)
    extra = sorted(s for s in let_through if s not in FRAUD_SUBJECTS)
    if extra:
        return wrong(
            f"Your filters {filters} also let through {extra}: fraud-watch would wade through "
            "events it does not care about.",
            "A wildcard in a filter matches every subject in its place ('*' one token, '>' "
            "the rest); naming the exact subjects lets only those through.",
            f"`{SOLUTION}`",
        )
    missing = [s for s in FRAUD_SUBJECTS if s not in let_through]
    if missing:
        return wrong(
            f"Your consumer never receives {missing[0]!r}.",
            FILTERS_CONCEPT
            + (" filter_subject holds a single subject." if config.filter_subject else ""),
            f"`{SOLUTION}`",
        )
    policy = enum_value(config.deliver_policy)
    if not starts_at_beginning(config, first_seq):
        at = (
            f" (opt_start_seq={config.opt_start_seq}, past the stream's first message {first_seq})"
            if policy == "by_start_sequence"
            else ""
        )
        return wrong(
            f"{FRAUD_WATCH!r} has deliver_policy={policy!r}{at}, so it skips the failures and "
            "logins already in the stream; fraud review needs them too.",
            "The deliver policy decides where a new consumer's cursor starts (fixed at creation).",
            "Leave deliver_policy at its default, DeliverPolicy.ALL.",
        )
    return None


@exercise(
    "replace `raise NotImplementedError` with an `await js.add_consumer(...)` call "
    f"creating the durable {FRAUD_WATCH!r}."
)
async def fraud_watch(js: JetStreamContext, learner: Callable[..., Any]) -> CheckResult:
    """Exercise: ``learner(js)`` creates durable ``fraud-watch`` on EVENTS receiving payment
    failures and auth logins only.

    The check deletes fraud-watch first, calls the learner, reads the consumer's real config,
    publishes a known mix of events, then consumes fraud-watch (and acks) to prove it gets
    exactly the failures and logins in the stream.
    """
    first_seq = (await fresh_consumer(js, STREAM, FRAUD_WATCH)).state.first_seq
    hint = await run_setup(
        learner, js, refused=_server_refused, failed="Creating the consumer failed"
    )
    if hint is not None:
        return hint
    info = await learner_consumer(js, STREAM, FRAUD_WATCH, FIX)
    hint = _config_hint(info.config, first_seq)
    if hint is not None:
        return hint

    for subject in CHECK_TRAFFIC:
        await js.publish(subject, b'{"type": "check"}')
    expected = 0
    for subject in FRAUD_SUBJECTS:
        state = (await js.stream_info(STREAM, subjects_filter=subject)).state
        expected += (state.subjects or {}).get(subject, 0)
    info = await js.consumer_info(STREAM, FRAUD_WATCH)
    have = (info.num_pending or 0) + (info.num_ack_pending or 0)
    if have != expected:
        return wrong(
            f"The stream holds {expected} payment failures and logins, but fraud-watch has "
            f"{have} to deliver (Unprocessed {info.num_pending}, Outstanding Acks "
            f"{info.num_ack_pending}).",
            "A fresh consumer with the right filter, starting at the first message, has "
            "exactly the matching messages to deliver.",
            f"Create it fresh with deliver_policy all and `{SOLUTION}`.",
        )
    got = [msg.subject for msg in await consume(js, STREAM, FRAUD_WATCH, expected)]
    strays = sorted({s for s in got if s not in FRAUD_SUBJECTS})
    if strays or len(got) != expected:
        return wrong(
            f"fraud-watch delivered {len(got)} messages ({strays or 'no strays'}); the check "
            f"expected exactly the {expected} failures and logins.",
            FILTERS_CONCEPT,
            f"`{SOLUTION}`",
        )
    failures = got.count("events.payment.failed")
    return correct(
        f"fraud-watch is durable, filters {list(info.config.filter_subjects or [])} and "
        f"received all {expected} matching messages ({failures} payment failures, "
        f"{expected - failures} logins) and nothing else."
    )
