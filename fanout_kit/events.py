"""Seeded demo events and a fast publisher for them.

``demo_events`` makes believable business traffic (orders, payments, users, logins) and sensor
readings as compact JSON, the same for the same seed on every machine, so lesson outputs can be
committed and compared. ``publish_events`` sends them with JetStream's asynchronous publish
(many publishes in flight, then the acks), which is several times faster than awaiting
``js.publish`` one by one, and reports the stream sequences the server assigned.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import datetime as dt
import json
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import NoStreamResponseError

from . import bars
from .errors import FanoutKitError, KitTypeError, KitValueError
from .validate import check_bool, check_int, check_js, check_seconds, check_str, describe

__all__ = [
    "BASE_TIME",
    "KINDS",
    "Event",
    "PublishError",
    "PublishReport",
    "demo_events",
    "publish_events",
]

#: Every demo timestamp is this instant plus seeded offsets, so output never depends on the clock.
BASE_TIME = dt.datetime(2026, 1, 5, 9, 0, 0, tzinfo=dt.UTC)
#: The kinds ``demo_events`` knows, and the event types of each.
KINDS: dict[str, tuple[str, ...]] = {
    "order": ("created", "paid", "shipped"),
    "payment": ("authorized", "captured", "failed"),
    "user": ("signed_up", "updated"),
    "auth": ("login", "logout"),
    "sensor": ("temp", "humidity"),
}
DEFAULT_KINDS = ("order", "payment", "user", "auth")
DEFAULT_WINDOW = 1000  # publishes in flight before the oldest ack is awaited
K = TypeVar("K", int, str)
V = TypeVar("V")


class PublishError(FanoutKitError):
    """A publish was not stored by any stream (or its ack did not arrive)."""


# json.dumps(data, separators=(",", ":")) without building an encoder for every event.
_compact_json = json.JSONEncoder(separators=(",", ":")).encode


@dataclass(frozen=True)
class Event:
    """One demo event: where it goes (``subject``), what it says (``data``) and its bytes.

    ``payload`` is ``data`` as compact JSON, ready for ``js.publish(ev.subject, ev.payload)``.
    """

    subject: str
    data: dict[str, Any] = field(hash=False)
    payload: bytes = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.subject, str) or not self.subject:
            raise KitTypeError(
                f"subject={describe(self.subject)} must be a non-empty subject string. "
                "Fix: e.g. Event('events.order.created', {'id': 1}).",
                param="subject",
            )
        if not isinstance(self.data, dict):
            raise KitTypeError(
                f"data={describe(self.data)} is a {type(self.data).__name__}; it must be a dict "
                "(it is sent as JSON). Fix: e.g. Event('events.order.created', {'id': 1}).",
                param="data",
            )
        object.__setattr__(self, "payload", _compact_json(self.data).encode())


# --------------------------------------------------------------------------- generator

_FIRST = (
    "ada",
    "alan",
    "grace",
    "linus",
    "margaret",
    "ken",
    "barbara",
    "dennis",
    "radia",
    "edsger",
    "frances",
    "tim",
    "sophie",
    "guido",
    "katherine",
    "john",
)
_LAST = (
    "lovelace",
    "turing",
    "hopper",
    "torvalds",
    "hamilton",
    "thompson",
    "liskov",
    "ritchie",
    "perlman",
    "dijkstra",
    "allen",
    "berners-lee",
    "wilson",
    "rossum",
)
_SKUS = {
    "SKU-BOOK-01": 18.50,
    "SKU-MUG-02": 9.90,
    "SKU-TEE-03": 24.00,
    "SKU-CABLE-04": 7.49,
    "SKU-LAMP-05": 42.00,
    "SKU-PEN-06": 2.35,
    "SKU-BAG-07": 59.00,
    "SKU-SOCK-08": 6.99,
}
_CURRENCIES = ("EUR", "USD", "GBP")
_COUNTRIES = ("DE", "FR", "GB", "US", "NL", "ES", "SE", "PL")
_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0",
    "okhttp/4.12.0",
)
_CARRIERS = ("DHL", "UPS", "PostNL", "Royal Mail")
_FAIL_REASONS = ("card_declined", "insufficient_funds", "expired_card")
_DEVICES = (
    ("dev-01", "greenhouse"),
    ("dev-02", "greenhouse"),
    ("dev-03", "warehouse"),
    ("dev-04", "office"),
)


def _order_number(order: dict[str, Any]) -> int:
    return int(order["order_id"].removeprefix("ord_"))


def _iso(t: dt.datetime) -> str:
    """``t`` as ISO-8601 with milliseconds and a Z (the demo clock runs in UTC)."""
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
        f".{t.microsecond // 1000:03d}Z"
    )


class _Pool(Generic[K, V]):
    """Values kept in the order of their keys, with add, remove and pick-by-position all cheap.

    ``rng.choice(pool)`` reads ``len(pool)`` and ``pool[i]``, so it picks exactly what
    ``rng.choice(sorted_list)`` picks: the generator's output stays the same for a seed while
    the cost per event no longer grows with the number of events (the old list comprehension
    over every order made ``demo_events`` quadratic). Keys live in sorted buckets of at most
    ``2 * LOAD``; ``add`` with an existing key replaces its value in place, as a dict would.
    """

    LOAD = 500

    def __init__(self) -> None:
        self._keys: list[list[K]] = []
        self._values: list[list[V]] = []
        self._maxes: list[K] = []
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, index: int) -> V:
        if index < 0:
            index += self._len
        for bucket in self._values:
            if index < len(bucket):
                return bucket[index]
            index -= len(bucket)
        raise IndexError("pool index out of range")

    def _find(self, key: K) -> tuple[int, int]:
        """(bucket, position) where ``key`` is or would go."""
        i = min(bisect.bisect_left(self._maxes, key), len(self._maxes) - 1)
        return i, bisect.bisect_left(self._keys[i], key)

    def add(self, key: K, value: V) -> None:
        if not self._keys:
            self._keys, self._values, self._maxes, self._len = [[key]], [[value]], [key], 1
            return
        i, j = self._find(key)
        keys, values = self._keys[i], self._values[i]
        if j < len(keys) and keys[j] == key:
            values[j] = value
            return
        keys.insert(j, key)
        values.insert(j, value)
        self._maxes[i] = keys[-1]
        self._len += 1
        if len(keys) > 2 * self.LOAD:  # split a full bucket in two
            half = len(keys) // 2
            self._keys[i : i + 1] = [keys[:half], keys[half:]]
            self._values[i : i + 1] = [values[:half], values[half:]]
            self._maxes[i : i + 1] = [keys[half - 1], keys[-1]]

    def remove(self, key: K) -> None:
        """Remove ``key`` if it is there."""
        if not self._keys:
            return
        i, j = self._find(key)
        keys = self._keys[i]
        if j >= len(keys) or keys[j] != key:
            return
        del keys[j], self._values[i][j]
        self._len -= 1
        if keys:
            self._maxes[i] = keys[-1]
        else:
            del self._keys[i], self._values[i], self._maxes[i]


class _World:
    """The generator's memory, so later events refer to earlier ones (pay an order that exists).

    Orders, authorized payments and open sessions are kept in pools by state, in the order the
    events were generated (sessions: sorted by id), so picking one costs the same at event
    1,000,000 as at event 10.
    """

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.users: list[dict[str, Any]] = []
        self.created: _Pool[int, dict[str, Any]] = _Pool()  # orders not paid yet
        self.paid: _Pool[int, dict[str, Any]] = _Pool()  # orders paid, not shipped
        self.authorized: _Pool[int, dict[str, Any]] = _Pool()  # payments not captured
        self.payment_slot: dict[str, int] = {}  # payment id -> its place in payment order
        self.sessions: dict[str, str] = {}  # session id -> user id
        self.session_ids: _Pool[str, str] = _Pool()
        self.readings = {
            dev: [20.0 + rng.random() * 3, 45.0 + rng.random() * 10] for dev, _ in _DEVICES
        }
        self.next_user = 1001
        self.next_order = 100001

    def new_user(self) -> dict[str, Any]:
        rng = self.rng
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        user = {
            "user_id": f"u_{self.next_user}",
            "email": f"{first}.{last}{self.next_user % 100}@example.com",
            "name": f"{first.title()} {last.title()}",
            "country": rng.choice(_COUNTRIES),
            "plan": rng.choice(("free", "free", "pro", "team")),
        }
        self.next_user += 1
        self.users.append(user)
        return user

    def some_user(self) -> dict[str, Any]:
        if not self.users or self.rng.random() < 0.15:
            return self.new_user()
        return self.rng.choice(self.users)

    def new_order(self) -> dict[str, Any]:
        rng = self.rng
        items: list[dict[str, Any]] = []
        for sku in rng.sample(sorted(_SKUS), rng.randint(1, 3)):
            items.append({"sku": sku, "qty": rng.randint(1, 3), "unit_price": _SKUS[sku]})
        order = {
            "order_id": f"ord_{self.next_order}",
            "user_id": self.some_user()["user_id"],
            "items": items,
            "amount": round(sum(i["qty"] * i["unit_price"] for i in items), 2),
            "currency": rng.choice(_CURRENCIES),
            "state": "created",
        }
        self.created.add(self.next_order, order)
        self.next_order += 1
        return order

    def make(self, kind: str) -> tuple[str, dict[str, Any]]:
        """Return (event type, fields) for one event of ``kind``."""
        make: Callable[[], tuple[str, dict[str, Any]]] = getattr(self, f"_{kind}")
        return make()

    def _order(self) -> tuple[str, dict[str, Any]]:
        rng = self.rng
        created, paid = self.created, self.paid
        roll = rng.random()
        if paid and roll < 0.3:
            order = rng.choice(paid)
            order["state"] = "shipped"
            paid.remove(_order_number(order))
            return "shipped", {
                "order_id": order["order_id"],
                "user_id": order["user_id"],
                "carrier": rng.choice(_CARRIERS),
                "tracking": f"TRK{rng.randrange(10**9, 10**10)}",
            }
        if created and roll < 0.65:
            order = rng.choice(created)
            order["state"] = "paid"
            created.remove(_order_number(order))
            paid.add(_order_number(order), order)
            return "paid", {
                "order_id": order["order_id"],
                "user_id": order["user_id"],
                "amount": order["amount"],
                "currency": order["currency"],
            }
        order = self.new_order()
        return "created", {k: v for k, v in order.items() if k != "state"}

    def _payment(self) -> tuple[str, dict[str, Any]]:
        rng = self.rng
        authorized = self.authorized
        if authorized and rng.random() < 0.5:
            payment = rng.choice(authorized)
            payment["state"] = "captured"
            authorized.remove(self.payment_slot[payment["payment_id"]])
            return "captured", {k: v for k, v in payment.items() if k != "state"}
        created = self.created
        order = rng.choice(created) if created else self.new_order()
        payment = {
            "payment_id": f"pay_{rng.randrange(16**10):010x}",
            "order_id": order["order_id"],
            "amount": order["amount"],
            "currency": order["currency"],
            "method": rng.choice(("card", "card", "paypal", "sepa")),
            "state": "authorized",
        }
        fields = {k: v for k, v in payment.items() if k != "state"}
        if rng.random() < 0.12:
            return "failed", {**fields, "reason": rng.choice(_FAIL_REASONS)}
        # A payment id seen before keeps its old place, as a dict keeps a re-set key's.
        slot = self.payment_slot.setdefault(payment["payment_id"], len(self.payment_slot))
        authorized.add(slot, payment)
        return "authorized", fields

    def _user(self) -> tuple[str, dict[str, Any]]:
        rng = self.rng
        if self.users and rng.random() < 0.45:
            user = rng.choice(self.users)
            key = rng.choice(("plan", "country", "name"))
            pickers: dict[str, Callable[[], str]] = {
                "plan": lambda: rng.choice(("free", "pro", "team")),
                "country": lambda: rng.choice(_COUNTRIES),
                "name": lambda: f"{rng.choice(_FIRST).title()} {rng.choice(_LAST).title()}",
            }
            value = pickers[key]()
            user[key] = value
            return "updated", {"user_id": user["user_id"], "changes": {key: value}}
        return "signed_up", dict(self.new_user())

    def _auth(self) -> tuple[str, dict[str, Any]]:
        rng = self.rng
        if self.sessions and rng.random() < 0.4:
            session = rng.choice(self.session_ids)  # sorted by id
            user_id = self.sessions.pop(session)
            self.session_ids.remove(session)
            return "logout", {
                "user_id": user_id,
                "session_id": session,
                "duration_s": rng.randint(30, 7200),
            }
        user = self.some_user()
        session = f"s_{rng.randrange(16**8):08x}"
        self.sessions[session] = user["user_id"]
        self.session_ids.add(session, session)
        net = rng.choice(("192.0.2", "198.51.100", "203.0.113"))  # documentation ranges
        return "login", {
            "user_id": user["user_id"],
            "session_id": session,
            "ip": f"{net}.{rng.randint(1, 254)}",
            "user_agent": rng.choice(_AGENTS),
            "method": rng.choice(("password", "passkey", "sso")),
        }

    def _sensor(self) -> tuple[str, dict[str, Any]]:
        rng = self.rng
        device, location = rng.choice(_DEVICES)
        metric = rng.choice(("temp", "humidity"))
        slot = 0 if metric == "temp" else 1
        value = self.readings[device][slot] + rng.uniform(-0.4, 0.4)
        value = min(max(value, 5.0 if slot == 0 else 20.0), 35.0 if slot == 0 else 90.0)
        self.readings[device][slot] = value
        return metric, {
            "device": device,
            "location": location,
            "metric": metric,
            "value": round(value, 1),
            "unit": "C" if slot == 0 else "%",
        }


def demo_events(
    n: int,
    *,
    seed: int = 42,
    kinds: Sequence[str] = DEFAULT_KINDS,
    prefix: str = "events",
    sensor_prefix: str = "sensors",
    start: dt.datetime = BASE_TIME,
) -> list[Event]:
    """Return ``n`` demo events, identical for the same arguments on every run and machine.

    Subjects: ``{prefix}.order.created|paid|shipped``, ``{prefix}.payment.authorized|captured|
    failed``, ``{prefix}.user.signed_up|updated``, ``{prefix}.auth.login|logout`` and, when
    ``"sensor"`` is in ``kinds``, ``{sensor_prefix}.<device>.temp|humidity``. Each event's data
    has ``id``, ``type``, ``ts`` (ISO-8601 UTC, ``start`` plus seeded gaps) and fields that hang
    together: an order is paid after it was created, a logout ends an earlier login.
    """
    check_int(n, "n", low=0, example="20")
    check_int(seed, "seed", example="42")
    chosen = _check_kinds(kinds)
    for name, value in (("prefix", prefix), ("sensor_prefix", sensor_prefix)):
        check_str(value, name, example="'events'" if name == "prefix" else "'sensors'")
        if any(c in value for c in "*> \t") or "" in value.split("."):
            raise KitValueError(
                f"{name}={value!r} is not a literal subject prefix (no wildcards, spaces or "
                f"empty tokens). Fix: e.g. {name}='events'.",
                param=name,
            )
    if not isinstance(start, dt.datetime):
        raise KitTypeError(
            f"start={describe(start)} is a {type(start).__name__}; it must be a timezone-aware "
            "datetime. Fix: e.g. start=BASE_TIME.",
            param="start",
        )
    if start.tzinfo is None:
        raise KitValueError(
            f"start={start!r} has no timezone; it must be timezone-aware. "
            "Fix: e.g. start=BASE_TIME or datetime(2026, 1, 5, tzinfo=timezone.utc).",
            param="start",
        )

    rng = random.Random(seed)
    world = _World(rng)
    t = start
    events: list[Event] = []
    progress = bars.GenerationBar(n)
    try:
        for i in range(n):
            if not i & 1023:
                if _cancel_requested():  # a Ctrl-C under asyncio.run
                    raise asyncio.CancelledError
                progress.tick(i)
            t += dt.timedelta(milliseconds=rng.randint(40, 2500))
            kind = rng.choice(chosen)
            etype, fields = world.make(kind)
            if kind == "sensor":
                subject = f"{sensor_prefix}.{fields['device']}.{etype}"
                head = {"id": f"evt_{seed}_{i + 1:06d}", "type": f"sensor.{etype}", "ts": _iso(t)}
            else:
                subject = f"{prefix}.{kind}.{etype}"
                head = {"id": f"evt_{seed}_{i + 1:06d}", "type": f"{kind}.{etype}", "ts": _iso(t)}
            events.append(Event(subject, {**head, **fields}))
    except BaseException:
        progress.finish(len(events), ok=False)
        raise
    progress.finish(n, ok=True)
    return events


def _check_kinds(kinds: object) -> tuple[str, ...]:
    if isinstance(kinds, str):
        kinds = (kinds,)
    if not isinstance(kinds, Sequence | set | frozenset):
        raise KitTypeError(
            f"kinds={describe(kinds)} is a {type(kinds).__name__}; it must be a kind or a tuple "
            f"of kinds from {tuple(KINDS)}. Fix: e.g. kinds=('order', 'payment').",
            param="kinds",
        )
    chosen = tuple(kinds)
    unknown = [k for k in chosen if k not in KINDS]
    if unknown or not chosen:
        raise KitValueError(
            f"kinds={chosen!r}: unknown {unknown or 'empty'}. "
            f"Fix: choose from {tuple(KINDS)}, e.g. kinds=('order', 'payment').",
            param="kinds",
        )
    return chosen


def _cancel_requested() -> bool:
    """True when the asyncio task running this code has been asked to cancel.

    ``asyncio.run`` answers the first Ctrl-C by cancelling its main task, which takes effect
    at the task's next ``await``; a long synchronous loop has none, so it must look for itself.
    """
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no event loop running: Ctrl-C raises KeyboardInterrupt directly
        return False
    return task is not None and task.cancelling() > 0


# --------------------------------------------------------------------------- publisher


@dataclass(frozen=True, repr=False)
class PublishReport:
    """What the server said about a run of publishes: the sequences it assigned.

    ``acks`` are the server's ``PubAck`` objects, one per event, in publish order.
    """

    count: int
    streams: tuple[str, ...]
    first_seq: int | None
    last_seq: int | None
    duplicates: int
    acks: tuple[PubAck, ...] = field(compare=False)

    @property
    def seqs(self) -> list[int]:
        """The stream sequence of each event, in publish order."""
        return [a.seq for a in self.acks]

    def __repr__(self) -> str:
        noun = "event" if self.count == 1 else "events"
        if not self.count:
            return "Published 0 events"
        dup = f", {self.duplicates} duplicate{'s' if self.duplicates != 1 else ''}"
        dup = dup if self.duplicates else ""
        if len(self.streams) == 1:
            seq = (
                f"seq {self.first_seq}"
                if self.first_seq == self.last_seq
                else f"seq {self.first_seq}..{self.last_seq}"
            )
            return f"Published {self.count} {noun} to {self.streams[0]}: {seq}{dup}"
        parts = []
        for stream in self.streams:
            seqs = [a.seq for a in self.acks if a.stream == stream]
            parts.append(f"{stream} seq {min(seqs)}..{max(seqs)}")
        return f"Published {self.count} {noun}: {', '.join(parts)}{dup}"

    __str__ = __repr__


async def publish_events(
    js: JetStreamContext,
    events: Iterable[Event],
    *,
    window: int = DEFAULT_WINDOW,
    timeout: float = 10.0,
    progress: bool | None = None,
    msg_ids: bool = False,
) -> PublishReport:
    """Publish ``events`` with ``js.publish_async`` and return the sequences the server acked.

    At most ``window`` publishes are in flight; the oldest ack is awaited before the next
    publish goes out. If acks stop arriving for about ``timeout`` seconds, it gives up.

    ``progress``: ``None`` shows an ipywidgets progress bar in a notebook when there are at
    least 1000 events, ``True`` shows it for any number, ``False`` never. The bar is updated
    at most ten times a second; outside a kernel there is no bar.

    ``msg_ids=True`` sends each event's id as ``Nats-Msg-Id`` so the server drops re-sent
    copies within its duplicate window (counted in ``duplicates``).

    Raises :class:`PublishError` when no stream stores a subject or acks stop arriving; the
    publishes already acked stay in the stream.
    """
    check_js(js)
    check_int(window, "window", low=1, example="1000")
    check_seconds(timeout, "timeout", "10")
    if progress is not None:
        check_bool(progress, "progress")
    check_bool(msg_ids, "msg_ids")
    batch = _check_events(events)
    bar = bars.publishing_bar(len(batch), progress)
    return await _publish(js, batch, window, timeout, bar, msg_ids)


def _check_events(events: object) -> Sequence[Event]:
    """``events`` as a sequence of :class:`Event`, or a KitTypeError naming what is wrong."""
    fix = "Fix: e.g. events = demo_events(20), then publish_events(js, events)."
    if isinstance(events, str | bytes | Event) or not isinstance(events, Iterable):
        raise KitTypeError(
            f"events={describe(events)} is a {type(events).__name__}; it must be a list of "
            f"Event (what demo_events returns). {fix}",
            param="events",
        )
    batch = events if isinstance(events, Sequence) else list(events)
    if not all(isinstance(ev, Event) for ev in batch):
        i, bad = next((i, ev) for i, ev in enumerate(batch) if not isinstance(ev, Event))
        raise KitTypeError(
            f"events[{i}]={describe(bad)} is a {type(bad).__name__}, not an Event. Each item "
            f"must be an Event (subject + payload); for your own bytes use js.publish. {fix}",
            param="events",
        )
    return batch


async def _publish(
    js: JetStreamContext,
    events: Sequence[Event],
    window: int,
    timeout: float,
    bar: bars.Bar | None,
    msg_ids: bool,
) -> PublishReport:
    loop = asyncio.get_running_loop()
    done = [0]
    ticker = asyncio.ensure_future(bars.follow(bar, done)) if bar is not None else None
    publish = js.publish_async
    futures: list[asyncio.Future[PubAck]] = []
    settled = 0  # futures[:settled] are done and checked

    try:
        # One deadline for the whole run, pushed forward every 256 acks: "acks stopped coming
        # for `timeout` seconds" without a timer per message (that would cost ~10% speed).
        async with asyncio.timeout_at(loop.time() + timeout) as deadline:

            async def settle_oldest() -> None:
                """Wait for the oldest ack in flight (raising what the server said)."""
                nonlocal settled
                oldest = futures[settled]
                if not oldest.done():
                    await oldest
                oldest.result()
                settled += 1
                done[0] = settled
                if not settled & 255:
                    deadline.reschedule(loop.time() + timeout)

            for ev in events:
                if msg_ids:
                    fut = await publish(
                        ev.subject, ev.payload, headers={"Nats-Msg-Id": str(ev.data.get("id"))}
                    )
                else:
                    fut = await publish(ev.subject, ev.payload)
                futures.append(fut)
                if len(futures) - settled >= window:
                    await settle_oldest()
            while settled < len(futures):
                await settle_oldest()
    except NoStreamResponseError:
        ev = events[settled]
        raise PublishError(
            f"No stream stores subject {ev.subject!r}, so the server did not keep it "
            f"({settled} earlier events were stored). Fix: create a stream whose subjects "
            f"match it, e.g. `await ensure_stream(js, 'EVENTS', "
            f"'{ev.subject.split('.')[0]}.>')`."
        ) from None
    except TimeoutError:
        raise PublishError(
            f"Acks stopped arriving for {timeout:g} s ({settled} of {len(events)} events were "
            "acked). Fix: check the server is up (`fanout-kit doctor`), or pass a larger "
            "timeout=."
        ) from None
    finally:
        for fut in futures[settled:]:
            if fut.done() and not fut.cancelled():
                fut.exception()  # retrieved: no "exception never retrieved" warning later
            else:
                fut.cancel()
        if ticker is not None and bar is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            ok = done[0] == len(events)
            bars.finish(bar, done[0], ok=ok, words=("Published", "Failed"))

    acks = [fut.result() for fut in futures]
    streams = tuple(dict.fromkeys(a.stream for a in acks))
    seqs = [a.seq for a in acks]
    return PublishReport(
        count=len(acks),
        streams=streams,
        first_seq=min(seqs) if seqs else None,
        last_seq=max(seqs) if seqs else None,
        duplicates=sum(1 for a in acks if a.duplicate),
        acks=tuple(acks),
    )
