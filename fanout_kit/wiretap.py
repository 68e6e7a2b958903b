"""The board's wiretap: core subscriptions on the learner's client that see the stream's traffic.

* deliveries: any message whose reply is an ack subject of the stream (``_INBOX.>`` for pulls,
  the deliver subject of each push consumer);
* acks, naks, in-progress and terms: ``$JS.ACK.<stream>.>`` (both ack-subject layouts);
* publishes (the stream's own subjects) and their acks (``_INBOX.>``): each new message's
  sequence and subject;
* advisories: consumers created and deleted, max deliveries reached, consumers paused and
  resumed (:mod:`fanout_kit.pause`), stream changes.

Each event goes straight into the model (:mod:`fanout_kit.observe`); nothing polls. The
per-message subscriptions (:meth:`Wiretap.subscribe`) are what overload mode drops; the
advisories stay (:meth:`Wiretap.listen`).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from . import pause
from .observe import StreamModel, parse_ack_kind, parse_ack_subject, parse_puback

__all__ = ["Wiretap"]


class Wiretap:
    """Subscriptions for one stream that feed one model. ``on_consumer`` is called with a
    consumer's name when an advisory says it was created (the feed reads its info);
    ``on_stream`` when the stream changed."""

    def __init__(
        self,
        nc: Client,
        model: StreamModel,
        *,
        on_consumer: Callable[[str], None],
        on_stream: Callable[[], None],
    ) -> None:
        self.nc, self.model, self.stream = nc, model, model.name
        self.on_consumer, self.on_stream = on_consumer, on_stream
        self.events = 0
        """Messages of the stream's traffic received (deliveries, acks, publishes, pubacks)."""
        self.alarm = sys.maxsize
        """When ``events`` reaches it, ``on_alarm`` is called (once): overload mode measures
        at once instead of waiting for the next tick."""
        self.on_alarm: Callable[[], None] = lambda: None
        self.last_event = time.monotonic()
        self.advisories: list[Subscription] = []
        self.taps: list[Subscription] = []
        self._push: set[str] = set()
        self._pub_subjects: OrderedDict[str, str] = OrderedDict()
        self._early_acks: OrderedDict[str, int] = OrderedDict()

    @property
    def on(self) -> bool:
        """Whether the per-message subscriptions are live (detail mode)."""
        return bool(self.taps)

    def subscriptions(self) -> list[Subscription]:
        return [*self.advisories, *self.taps]

    async def listen(self) -> None:
        """The advisories (kept in overload mode: they are cheap)."""
        nc, s = self.nc, self.stream
        self.advisories += [
            await nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.>", cb=self._on_advisory),
            await nc.subscribe(f"$JS.EVENT.ADVISORY.STREAM.*.{s}", cb=self._on_advisory),
        ]

    async def subscribe(self) -> None:
        """The per-message wiretap: deliveries, acks and publishes (flushed: live on return)."""
        nc, s = self.nc, self.stream
        self.taps += [
            await nc.subscribe(f"$JS.ACK.{s}.>", cb=self._on_ack),
            await nc.subscribe(f"$JS.ACK.*.*.{s}.>", cb=self._on_ack),
            await nc.subscribe("_INBOX.>", cb=self._on_inbox),
        ]
        for subject in self.model.subject_filters:
            self.taps.append(await nc.subscribe(subject, cb=self._on_publish))
        await self.follow_push()
        await nc.flush()

    async def follow_push(self) -> None:
        """Also listen on each push consumer's deliver subject (when the wiretap is on)."""
        if not self.taps:
            return
        for c in list(self.model.consumers.values()):
            subj = c.deliver_subject
            if subj and not subj.startswith("_INBOX.") and subj not in self._push:
                self._push.add(subj)
                self.taps.append(await self.nc.subscribe(subj, cb=self._on_inbox))

    async def unsubscribe(self, *, everything: bool = False) -> None:
        """Drop the per-message subscriptions (the server stops sending the copies); with
        ``everything``, the advisories too."""
        subs, self.taps = self.taps, []
        if everything:
            subs, self.advisories = subs + self.advisories, []
        self._push.clear()
        if self.nc.is_closed:
            return
        for sub in subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        with contextlib.suppress(Exception):
            await self.nc.flush()

    # --- callbacks -----------------------------------------------------------------------
    def _event(self) -> None:
        self.events += 1
        self.last_event = time.monotonic()
        if self.events >= self.alarm:
            self.alarm = sys.maxsize
            self.on_alarm()

    async def _on_ack(self, msg: Msg) -> None:
        a = parse_ack_subject(msg.subject)
        kind = parse_ack_kind(msg.data)
        if a is not None and kind is not None and a.stream == self.stream:
            self.model.on_ack(a, kind)
            self._event()

    async def _on_inbox(self, msg: Msg) -> None:
        """Deliveries (reply: an ack subject) and publish acks; other inbox traffic (API
        replies, the board's own among them) is not an event of the stream."""
        if msg.reply:
            a = parse_ack_subject(msg.reply)
            if a is not None and a.stream == self.stream:
                self.model.on_delivery(msg.subject, a)
                self._event()
            return
        seq = parse_puback(msg.data, self.stream)
        if seq is not None:
            subject = self._pub_subjects.pop(msg.subject, None)
            if subject is None:
                _remember(self._early_acks, msg.subject, seq)
            self.model.on_published(seq, subject)
            self._event()

    async def _on_publish(self, msg: Msg) -> None:
        """A publish on one of the stream's subjects: its puback will say which sequence."""
        if not msg.reply:
            return
        self._event()
        seq = self._early_acks.pop(msg.reply, None)
        if seq is not None:
            self.model.on_published(seq, msg.subject)
        else:
            _remember(self._pub_subjects, msg.reply, msg.subject)

    async def _on_advisory(self, msg: Msg) -> None:
        tokens = msg.subject.split(".")
        if len(tokens) < 6:
            return
        if tokens[3] == "STREAM":
            self.on_stream()
            return
        if len(tokens) < 7 or tokens[5] != self.stream:
            return
        kind, name = tokens[4], tokens[6]
        if kind == "PAUSE":  # paused or resumed (by a call or by its deadline): not traffic
            pause.from_advisory(self.model, msg.data)
        elif kind == "CREATED":
            self.on_consumer(name)
        elif kind == "DELETED":
            self.model.on_consumer_deleted(name)
            self._event()
        elif kind == "MAX_DELIVERIES":
            with contextlib.suppress(ValueError, KeyError, TypeError):
                doc = json.loads(msg.data)
                seq, deliveries = int(doc["stream_seq"]), int(doc.get("deliveries", 0))
                self.model.on_max_deliveries(name, seq, deliveries)
                self._event()


def _remember(table: OrderedDict[str, Any], key: str, value: Any) -> None:
    table[key] = value
    if len(table) > 10_000:
        table.popitem(last=False)
