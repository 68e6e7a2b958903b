"""Checks for lesson 02, basic fan-out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo
from nats.js.errors import NotFoundError

from ..acks import AckKind, parse_ack_kind, parse_ack_subject
from ..connect import client_of
from ..topology import consumers_of, enum_value
from ..waiting import settle
from . import (
    CheckResult,
    correct,
    exercise,
    forget_consumer,
    no_consumer,
    no_setup_stream,
    push_consumer_hint,
    run_setup,
    starts_at_beginning,
    wrong,
)

__all__ = ["BILLING", "STREAM", "billing_consumer"]

STREAM = "EVENTS"
BILLING = "billing"
WANT_ACKED = 4
CONSUMER_FIX = (
    f'`await js.add_consumer("{STREAM}", ConsumerConfig(durable_name="{BILLING}", '
    "deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT))`"
)
READ_FIX = (
    f'`sub = await js.pull_subscribe_bind(durable="{BILLING}", stream="{STREAM}")`, then '
    f"`msgs = await sub.fetch({WANT_ACKED})` and `await msg.ack()` for each message"
)
SETTLE = 2.0  # at most this many seconds to let fire-and-forget acks reach the consumer


class _AckTap:
    """Every ack the learner sends to billing, read off ``$JS.ACK.EVENTS.billing.>``.

    JetStream acks are plain NATS messages to the delivery's reply subject, so a core
    subscription sees them too: which deliveries were acked, and which were TERMINATED
    (``msg.term()`` moves the ack floor exactly like ``msg.ack()``; only the payload differs).
    """

    def __init__(self, sub: Subscription) -> None:
        self.sub = sub
        self.acked: set[int] = set()  # consumer sequences acked or terminated
        self.terminated: set[int] = set()  # stream sequences terminated

    @classmethod
    async def start(cls, js: JetStreamContext) -> _AckTap:
        nc = client_of(js)
        sub = await nc.subscribe(f"$JS.ACK.{STREAM}.{BILLING}.>")
        await nc.flush()
        return cls(sub)

    async def read(self) -> None:
        """Take in what has arrived (call after a flush: the server sends before the PONG)."""
        while self.sub.pending_msgs:
            msg = await self.sub.next_msg(timeout=None)
            ack = parse_ack_subject(msg.subject)
            kind = parse_ack_kind(msg.data)
            if ack is None or kind not in (AckKind.ACK, AckKind.TERM):
                continue
            self.acked.add(ack.consumer_seq)
            if kind is AckKind.TERM:
                self.terminated.add(ack.stream_seq)

    async def stop(self) -> None:
        await self.sub.unsubscribe()


def _state(info: ConsumerInfo) -> tuple[int, int, int]:
    delivered = info.delivered.consumer_seq if info.delivered else 0
    floor = info.ack_floor.consumer_seq if info.ack_floor else 0
    return delivered, floor, info.num_ack_pending or 0


async def _settled(js: JetStreamContext, tap: _AckTap) -> ConsumerInfo:
    """Consumer info once the learner's acks have landed in the consumer's state.

    ``msg.ack()`` is fire-and-forget, and the server applies acks asynchronously. Done when
    everything delivered is acked (the ack floor caught up), or when every ack the tap saw is
    reflected in the state (delivered minus Outstanding Acks) and two reads in a row agree;
    at most ``SETTLE`` seconds.
    """
    nc = client_of(js)
    previous: list[tuple[int, int, int]] = []

    async def read() -> ConsumerInfo:
        await nc.flush()
        await tap.read()
        info: ConsumerInfo = await js.consumer_info(STREAM, BILLING)
        return info

    def done(info: ConsumerInfo) -> bool:
        state = _state(info)
        delivered, floor, outstanding = state
        steady = (
            previous == [state]
            and delivered - outstanding >= len(tap.acked)
            and not info.num_redelivered
        )
        previous[:] = [state]
        return floor == delivered or steady

    info = await settle(read, done, SETTLE)
    await nc.flush()
    await tap.read()
    return info


def _explain(exc: Exception) -> tuple[str, str] | None:
    if isinstance(exc, TimeoutError):  # nats.errors.TimeoutError too
        return (
            "fetch raises TimeoutError when the consumer had nothing to deliver before the "
            "timeout. billing should have the whole stream waiting for it: look at where it "
            "starts (its deliver policy) and that EVENTS holds messages.",
            "`deliver_policy=DeliverPolicy.ALL` in the ConsumerConfig (fixed at creation).",
        )
    return None


@exercise(
    "replace `raise NotImplementedError` with `js.add_consumer(...)`, a pull "
    "subscription, `fetch` and `ack`.",
    explain=_explain,
)
async def billing_consumer(js: JetStreamContext, learner: Callable[..., Any]) -> CheckResult:
    """Exercise: ``learner(js)`` creates durable pull consumer ``billing`` on EVENTS that
    receives every message ever published, then fetches and acks exactly 4 messages.

    The check deletes ``billing`` first (so each attempt starts from the beginning of the
    stream), calls the learner, then reads the consumer's real config and state.
    """
    await forget_consumer(js, STREAM, BILLING)
    before = set(await consumers_of(js, STREAM, missing_ok=True))
    tap = await _AckTap.start(js)
    try:
        return await _judge(js, learner, tap, before)
    finally:
        await tap.stop()


async def _judge(
    js: JetStreamContext, learner: Callable[..., Any], tap: _AckTap, before: set[str]
) -> CheckResult:
    hint = await run_setup(learner, js, what="a request")
    if hint is not None:
        return hint
    try:
        stream = await js.stream_info(STREAM)
    except NotFoundError:
        return no_setup_stream(STREAM)
    try:
        await js.consumer_info(STREAM, BILLING)
    except NotFoundError:
        after = await consumers_of(js, STREAM, missing_ok=True)
        new = [after[name] for name in sorted(set(after) - before)]
        durables = [c.name for c in new if c.config.durable_name]
        if durables:
            return wrong(
                f"You made a durable named {durables[0]!r}; the exercise (and the check) look "
                f"for {BILLING!r}.",
                "Consumer names are case-sensitive and must match exactly.",
                f'`durable_name="{BILLING}"`',
            )
        if new:
            return wrong(
                f"There is no durable named {BILLING!r}, but a consumer named {new[0].name!r} "
                "appeared: an EPHEMERAL consumer (no durable name), which the server forgets "
                "once it is unused, cursor and all.",
                "A consumer is durable when it has a durable name; billing must remember "
                "where it is between runs.",
                f'`ConsumerConfig(durable_name="{BILLING}", ...)` with `js.add_consumer`, or '
                f'`js.pull_subscribe("events.>", durable="{BILLING}", stream="{STREAM}")`.',
            )
        return no_consumer(STREAM, BILLING, CONSUMER_FIX)
    info = await _settled(js, tap)
    config = info.config
    policy = enum_value(config.deliver_policy)
    if config.deliver_subject:
        return push_consumer_hint(BILLING, STREAM, config.deliver_subject)
    if not starts_at_beginning(config, stream.state.first_seq):
        what = {
            "new": "it only sees messages published AFTER it was created",
            "last": "it starts at the last message in the stream",
            "last_per_subject": "it starts at the last message of each subject",
            "by_start_sequence": f"it starts at stream sequence {config.opt_start_seq}",
            "by_start_time": "it starts at a point in time, not at the beginning",
        }.get(policy, "it does not start at the beginning")
        return wrong(
            f"billing has deliver_policy={policy!r}: {what}, so it misses the history "
            f"already in {STREAM}.",
            "The deliver policy decides where a new consumer's cursor starts, and it is "
            "fixed at creation (the check deletes billing before each attempt).",
            "`deliver_policy=DeliverPolicy.ALL` in the ConsumerConfig.",
        )
    ack_policy = enum_value(config.ack_policy)
    if ack_policy == "none":
        return wrong(
            "billing has ack_policy='none': the server counts every message as done the "
            "moment it is sent, so nothing you fetch is ever acked or redelivered.",
            "The ack policy decides what the server waits for: explicit means one ack per "
            "message, sent by your code once it has processed it.",
            "`ack_policy=AckPolicy.EXPLICIT`, and `await msg.ack()` on each message.",
        )
    if ack_policy != "explicit":
        return wrong(
            f"billing has ack_policy={ack_policy!r}: one ack also confirms every earlier message.",
            "This lesson acks each message on its own, once it is processed: that is the "
            "explicit ack policy.",
            "`ack_policy=AckPolicy.EXPLICIT`",
        )
    delivered = info.delivered.consumer_seq if info.delivered else 0
    acked = info.ack_floor.consumer_seq if info.ack_floor else 0
    outstanding = info.num_ack_pending or 0
    if delivered == 0:
        return wrong(
            "billing exists but nothing was fetched from it: Last Delivered is 0.",
            "A pull consumer delivers only when asked: bind a pull subscription to the "
            "durable, fetch a batch, ack each message.",
            READ_FIX + ".",
        )
    if outstanding:
        are = "is" if outstanding == 1 else "are"
        return wrong(
            f"billing was handed {delivered} messages but {outstanding} {are} still "
            "Outstanding Acks (delivered, not acked).",
            "Every fetched message waits for its ack; an unacked one comes back after "
            "ack_wait. The exercise fetches exactly 4 and acks each.",
            READ_FIX + ".",
        )
    if tap.terminated:
        seqs = sorted(tap.terminated)
        which = "message" if len(seqs) == 1 else "messages"
        return wrong(
            f"You called term() on {len(seqs)} {which} (stream seq {', '.join(map(str, seqs))}).",
            "term() tells the server never to redeliver: that is giving up on a message, not "
            "processing it, even though the ack floor moves as if it were acked.",
            "`await msg.ack()` instead of term().",
        )
    if acked != WANT_ACKED:
        return wrong(
            f"billing fetched and acked {acked} messages; the exercise asks for exactly "
            f"{WANT_ACKED}.",
            "fetch(n) asks for up to n messages in one batch.",
            READ_FIX + ".",
        )
    first = stream.state.first_seq
    last = info.ack_floor.stream_seq if info.ack_floor else 0
    return correct(
        f"billing is durable, starts at the beginning of {STREAM} and has acked stream "
        f"seq {first}..{last}; {info.num_pending} more are waiting "
        "for it (Unprocessed)."
    )
