"""Pull, ack and report: consumer helpers for lessons and tests.

``drain`` empties a durable pull consumer and says what it saw; ``take`` gets the next few
messages. Both stop as soon as the server says nothing is pending (the ``num_pending`` in each
message's metadata, the "Unprocessed" number of the ``nats`` CLI) instead of waiting out a
fetch timeout: ``fetch`` raises ``nats.errors.TimeoutError`` on an empty consumer, and a lesson
should not sit for five seconds to learn that. (nats-py 2.16's fetch can also raise the
builtin ``TimeoutError``; both are handled.) Acks are confirmed before returning, so a
``consumer_info`` right after shows the new ack floor.
"""

from __future__ import annotations

import contextlib
import math
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from .acks import parse_ack_subject
from .connect import client_of
from .topology import TopologyError, validate_name
from .validate import check_bool, check_int, check_js, check_seconds

__all__ = ["ConsumeReport", "Delivery", "drain", "take"]

DEFAULT_TIMEOUT = 5.0


class Delivery(NamedTuple):
    """One delivered message, from its JetStream metadata, as a plain tuple."""

    stream_seq: int
    consumer_seq: int
    subject: str
    num_delivered: int
    num_pending: int


@dataclass(frozen=True, repr=False)
class ConsumeReport:
    """What one ``drain`` call received from a durable consumer.

    ``deliveries`` lists each message's metadata as plain tuples in delivery order;
    ``subjects`` counts messages per subject; ``msgs`` holds the real nats-py ``Msg`` objects
    (payloads, headers) when ``drain(..., keep_msgs=True)`` asked for them. ``pending`` is the
    consumer's Unprocessed count afterwards; ``timed_out`` is true when the server stopped
    delivering while messages were still pending (for example ``max_ack_pending`` reached with
    unacked messages). The per-message views are computed on first use, so draining stays as
    fast as a raw loop.
    """

    stream: str
    durable: str
    count: int
    acked: bool
    pending: int
    timed_out: bool
    msgs: tuple[Msg, ...] = field(default=(), compare=False)
    # (subject, ack reply subject) per message: cheap to keep, parsed on first use.
    _seen: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    @cached_property
    def deliveries(self) -> tuple[Delivery, ...]:
        """Each message's JetStream metadata, in delivery order."""
        return tuple(_delivery(subject, reply) for subject, reply in self._seen)

    @cached_property
    def subjects(self) -> dict[str, int]:
        """Messages per subject, sorted by subject."""
        return dict(sorted(Counter(subject for subject, _ in self._seen).items()))

    @property
    def first_seq(self) -> int | None:
        """Lowest stream sequence received (None if nothing was)."""
        return min((d.stream_seq for d in self.deliveries), default=None)

    @property
    def last_seq(self) -> int | None:
        """Highest stream sequence received (None if nothing was)."""
        return max((d.stream_seq for d in self.deliveries), default=None)

    @property
    def redelivered(self) -> int:
        """How many of the messages were redeliveries (delivered more than once)."""
        return sum(1 for d in self.deliveries if d.num_delivered > 1)

    def __repr__(self) -> str:
        noun = "message" if self.count == 1 else "messages"
        head = f"{self.stream}/{self.durable}: {self.count} {noun}"
        if self.count:
            head += (
                f", seq {self.first_seq}"
                if self.first_seq == self.last_seq
                else f", seq {self.first_seq}..{self.last_seq}"
            )
            head += ", acked" if self.acked else ", not acked"
        if self.redelivered:
            head += f", {self.redelivered} redelivered"
        if self.timed_out:
            head += f", stopped with {self.pending} pending (fetch timed out)"
        return f"ConsumeReport({head})"

    __str__ = __repr__


def _delivery(subject: str, reply: str) -> Delivery:
    """One delivery from its ack reply subject (the kit's one parser, either token layout)."""
    ack = parse_ack_subject(reply)
    if ack is None:
        raise ValueError(f"not a JetStream ack subject: {reply!r}")
    return Delivery(ack.stream_seq, ack.consumer_seq, subject, ack.delivered, ack.pending)


async def _pending(js: JetStreamContext, stream: str, durable: str) -> int:
    try:
        info = await js.consumer_info(stream, durable)
    except NotFoundError:
        raise TopologyError(
            f"Consumer {durable!r} on stream {stream!r} does not exist (or the stream does not). "
            f"Fix: create it first, e.g. `await ensure_consumer(js, {stream!r}, {durable!r})`.",
            field="durable",
        ) from None
    return info.num_pending or 0


def _check(
    js: object, stream: object, durable: object, batch: object, timeout: object, limit: object
) -> None:
    """Every argument checked before anything is sent (kit errors naming the parameter)."""
    check_js(js)
    validate_name(stream, "stream name")
    validate_name(durable, "durable name")
    check_int(batch, "batch", low=1, example="100")
    check_seconds(timeout, "timeout", "5")
    if limit is not None:
        check_int(limit, "max_messages", low=0, example="10")


async def drain(
    js: JetStreamContext,
    stream: str,
    durable: str,
    *,
    batch: int = 100,
    max_messages: int | None = None,
    ack: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    keep_msgs: bool = False,
) -> ConsumeReport:
    """Fetch from durable ``durable`` until nothing is pending (or ``max_messages``); report.

    Fetches ``batch`` at a time with a pull subscription bound to the existing consumer, acks
    each message when ``ack`` is true (the last ack waits for the server's confirmation, so
    consumer info is current when this returns), and stops when the metadata of the last
    message says ``num_pending == 0``. An empty consumer returns an empty report at once.
    If the server stops delivering while messages are pending (``max_ack_pending`` reached,
    for instance), the fetch waits ``timeout`` seconds and the report says ``timed_out``.
    ``keep_msgs=True`` keeps the ``Msg`` objects in ``report.msgs`` (off by default: holding
    thousands of them costs a few percent of throughput).
    """
    _check(js, stream, durable, batch, timeout, max_messages)
    check_bool(ack, "ack")
    check_bool(keep_msgs, "keep_msgs")
    nc = client_of(js) if ack else None  # to flush acks if the server stops delivering
    pending = await _pending(js, stream, durable)
    seen: list[tuple[str, str]] = []
    msgs: list[Msg] | None = [] if keep_msgs else None
    timed_out = False
    if pending and max_messages != 0:
        sub = await js.pull_subscribe_bind(durable=durable, stream=stream)
        try:
            timed_out, pending = await _pull(sub, seen, msgs, batch, max_messages, ack, timeout)
            if timed_out and nc is not None and seen:
                # The acks sent so far reach the server (nats-py types the timeout as whole
                # seconds; rounding up only lengthens the bound).
                await nc.flush(math.ceil(timeout))
        finally:
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()
    if timed_out:
        pending = await _pending(js, stream, durable)
    return ConsumeReport(
        stream=stream,
        durable=durable,
        count=len(seen),
        acked=ack and bool(seen),
        pending=pending,
        timed_out=timed_out,
        msgs=tuple(msgs or ()),
        _seen=tuple(seen),
    )


async def _pull(
    sub: JetStreamContext.PullSubscription,
    seen: list[tuple[str, str]],
    msgs: list[Msg] | None,
    batch: int,
    limit: int | None,
    ack: bool,
    timeout: float,
) -> tuple[bool, int]:
    """The fetch loop. Returns (timed_out, num_pending after the last message)."""
    pending = 1
    while pending and (limit is None or len(seen) < limit):
        want = batch if limit is None else min(batch, limit - len(seen))
        try:
            got = await sub.fetch(want, timeout=timeout)
        except TimeoutError:
            # nats.errors.TimeoutError usually, but nats-py 2.16 also raises the builtin
            # TimeoutError when the deadline runs out between its two pull requests.
            return True, pending
        if not got:
            # nats-py can also answer with an empty list: when the server's reply to the pull
            # was a status (409 at max_ack_pending, 408) rather than messages. Nothing came.
            return True, pending
        pending = got[-1].metadata.num_pending
        last_call = not pending or (limit is not None and len(seen) + len(got) >= limit)
        if ack:
            for msg in got[:-1] if last_call else got:
                await msg.ack()
            if last_call:
                await got[-1].ack_sync(timeout=timeout)
        seen.extend([(m.subject, m.reply) for m in got])
        if msgs is not None:
            msgs.extend(got)
    return False, pending


async def take(
    js: JetStreamContext,
    stream: str,
    durable: str,
    n: int,
    *,
    ack: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[Msg]:
    """Fetch the next ``n`` messages of durable ``durable`` (fewer if fewer are pending).

    Returns the nats-py ``Msg`` objects. With ``ack=False`` they stay Outstanding Acks until
    you call ``await msg.ack()`` (or ``nak``/``term``) yourself; that is the point of lessons
    about the ack floor. Does not wait for messages that have not been published yet.
    """
    _check(js, stream, durable, 1, timeout, None)
    check_int(n, "n", low=1, example="5")
    check_bool(ack, "ack")
    report = await drain(
        js, stream, durable, batch=n, max_messages=n, ack=ack, timeout=timeout, keep_msgs=True
    )
    return list(report.msgs)
