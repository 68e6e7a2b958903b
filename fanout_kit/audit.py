"""Audit an experiment: what was published, what the stream keeps, what each consumer got.

Three sources, one call. The publisher's side is a :class:`~fanout_kit.load.PublishRecord`
(every publish, acked or not, with its sequence). The stream's side is one ``stream_info`` call
(first and last sequence, interior deletions, retention). Each consumer's side is recorded
while the experiment runs by :class:`Received`: either a wiretap of the stream's ack subjects
(``$JS.ACK.<stream>.>``, which every ack, nak and term of every client passes through, with the
delivery count in the subject) or a :class:`~fanout_kit.Worker` handler.

:func:`audit` then sorts every acked publish: still stored, **lost** (the stream's last sequence
is below it: a failover dropped it), or **removed** (below the first sequence or deleted:
retention or limits did it, and the stream's config says which). Per consumer: **expected**
(stored publishes its filter matches, from where it starts), **received**, **redelivered**
(delivered more than once), **duplicated** (acked more than once: processed twice), and the
expected ones it **never got**, split by why: removed before delivery, not delivered yet (it
is behind), or delivered but no ack seen. Sequence ranges are shown compactly (``501-700``).
"""

from __future__ import annotations

import contextlib
import html
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import ConsumerInfo, StreamInfo
from nats.js.errors import APIError

from .acks import AckKind, parse_ack_kind, parse_ack_subject
from .load import PublishRecord
from .subjects import filters_of, subject_matches
from .topology import consumers_of, validate_name
from .validate import bad_type, check_client, check_seconds
from .waiting import WaitTimeout, wait_for

__all__ = ["Audit", "ConsumerAudit", "Received", "audit", "seq_ranges"]

SETTLE_TIMEOUT = 5.0


def seq_ranges(seqs: Iterable[int], limit: int = 8) -> str:
    """``1-3, 7, 10-12`` for ``[1, 2, 3, 7, 10, 11, 12]``; at most ``limit`` ranges shown."""
    ordered = sorted(set(seqs))
    runs: list[tuple[int, int]] = []
    for s in ordered:
        if runs and s == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], s)
        else:
            runs.append((s, s))
    text = [f"{a}" if a == b else f"{a}-{b}" for a, b in runs[:limit]]
    if len(runs) > limit:
        text.append(f"... ({len(runs) - limit} more ranges)")
    return ", ".join(text) or "none"


@dataclass
class _Seen:
    deliveries: int = 0  # the highest delivery count seen (1 = first delivery)
    acks: int = 0
    naks: int = 0
    terms: int = 0


class Received:
    """What each consumer of one stream received, recorded as it happens.

    ``await Received.tap(nc, "EVENTS")`` listens on the stream's ack subjects (every client's
    acks, naks and terms; a message delivered and never acked shows up only when it is
    redelivered). ``Received("EVENTS")`` plus ``handler=received.handler("billing")`` on a
    :class:`~fanout_kit.Worker` records what that worker handles, and survives the tap's own
    connection dropping (in a cluster failover, say). Call :meth:`stop` when done.
    """

    def __init__(self, stream: str) -> None:
        self.stream = validate_name(stream, "stream")
        self.seen: dict[str, dict[int, _Seen]] = {}
        self.events = 0
        self._sub: Subscription | None = None
        self._nc: Client | None = None

    @classmethod
    async def tap(cls, nc: Client, stream: str) -> Received:
        """Start recording from ``$JS.ACK.<stream>.>`` on ``nc`` (a core subscription)."""
        check_client(nc, "nc")
        received = cls(stream)
        received._nc = nc
        received._sub = await nc.subscribe(f"$JS.ACK.{stream}.>", cb=received._on_ack)
        await nc.flush()
        return received

    def _entry(self, consumer: str, seq: int) -> _Seen:
        return self.seen.setdefault(consumer, {}).setdefault(seq, _Seen())

    async def _on_ack(self, msg: Msg) -> None:
        ack = parse_ack_subject(msg.subject)
        kind = parse_ack_kind(msg.data)
        if ack is None or kind is None or ack.stream != self.stream:
            return
        self.events += 1
        entry = self._entry(ack.consumer, ack.stream_seq)
        entry.deliveries = max(entry.deliveries, ack.delivered)
        if kind is AckKind.ACK:
            entry.acks += 1
        elif kind is AckKind.NAK:
            entry.naks += 1
        elif kind is AckKind.TERM:
            entry.terms += 1

    def handler(
        self, consumer: str, then: Callable[[Msg], Awaitable[None]] | None = None
    ) -> Callable[[Msg], Awaitable[None]]:
        """A :class:`~fanout_kit.Worker` handler recording each message as received and
        acked (the worker acks right after); ``then``: your own handler, called first."""
        validate_name(consumer, "consumer")

        async def record(msg: Msg) -> None:
            if then is not None:
                await then(msg)
            meta = msg.metadata
            entry = self._entry(consumer, meta.sequence.stream)
            entry.deliveries = max(entry.deliveries, meta.num_delivered)
            entry.acks += 1
            self.events += 1

        return record

    def acked(self, consumer: str) -> set[int]:
        return {s for s, e in self.seen.get(consumer, {}).items() if e.acks or e.terms}

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(nats.errors.Error):
                await self._sub.unsubscribe()
            self._sub = None

    def __repr__(self) -> str:
        counts = ", ".join(f"{c} {len(s)}" for c, s in sorted(self.seen.items())) or "nothing yet"
        return f"<Received on {self.stream}: {counts}>"


@dataclass(frozen=True)
class ConsumerAudit:
    """One consumer's side of an :class:`Audit` (lists of stream sequences)."""

    name: str
    exists: bool
    expected: int
    received: int
    acked: int
    redelivered: list[int]
    duplicated: list[int]
    removed_before_delivery: list[int]
    not_yet_delivered: list[int]
    not_acked: list[int]

    @property
    def never_got(self) -> int:
        return len(self.removed_before_delivery) + len(self.not_yet_delivered) + len(self.not_acked)


@dataclass(frozen=True)
class Audit:
    """The result of :func:`audit`; its repr is the report, ``ok`` the verdict."""

    stream: str
    retention: str
    removal_reason: str
    published: int
    acked: int
    duplicates: int
    failed: dict[str, int]
    stored: int
    lost: list[int]
    removed: list[int]
    consumers: dict[str, ConsumerAudit] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing acked was lost and every consumer got everything still expected."""
        return not self.lost and all(
            not c.not_yet_delivered and not c.not_acked for c in self.consumers.values()
        )

    def rows(self) -> list[dict[str, str | int]]:
        """One dict per consumer: the table's numbers."""
        return [
            {
                "consumer": c.name + ("" if c.exists else " (deleted)"),
                "expected": c.expected,
                "received": c.received,
                "redelivered": len(c.redelivered),
                "duplicated": len(c.duplicated),
                "removed before delivery": len(c.removed_before_delivery),
                "not yet delivered": len(c.not_yet_delivered),
                "delivered, no ack": len(c.not_acked),
            }
            for c in self.consumers.values()
        ]

    def _lines(self) -> list[str]:
        failed = sum(self.failed.values())
        why = "; ".join(f"{n} x {r}" for r, n in self.failed.items())
        lines = [
            f"Audit of {self.stream} ({self.retention} retention) against {self.published:,} "
            "publishes",
            f"  publisher: {self.acked:,} acked, {self.duplicates:,} duplicate (stored once), "
            f"{failed:,} failed" + (f" ({why})" if failed else ""),
            f"  stream: {self.stored:,} of them stored now; lost {len(self.lost):,}"
            + (f" ({seq_ranges(self.lost)})" if self.lost else "")
            + f"; removed {len(self.removed):,}"
            + (f" by {self.removal_reason} ({seq_ranges(self.removed)})" if self.removed else "")
            + (
                " (removed once every consumer had acked it, or at once with none)"
                if self.removed and self.retention == "interest"
                else ""
            ),
        ]
        for c in self.consumers.values():
            gone = "" if c.exists else " (consumer deleted)"
            lines.append(
                f"  {c.name}{gone}: expected {c.expected:,}, received {c.received:,}, "
                f"redelivered {len(c.redelivered):,}, duplicated {len(c.duplicated):,}, "
                f"never got {c.never_got:,}"
            )
            for label, seqs in (
                (f"removed before delivery ({self.removal_reason})", c.removed_before_delivery),
                ("not delivered yet (behind)", c.not_yet_delivered),
                ("delivered, no ack seen", c.not_acked),
                ("redelivered", c.redelivered),
                ("acked more than once", c.duplicated),
            ):
                if seqs:
                    lines.append(f"      {label}: {len(seqs):,}: {seq_ranges(seqs)}")
        lines += [f"  note: {n}" for n in self.notes]
        lines.append("  verdict: " + ("OK" if self.ok else "NOT OK: see above"))
        return lines

    def __repr__(self) -> str:
        return "\n".join(self._lines())

    __str__ = __repr__

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(k)}</th>" for k in (self.rows() or [{}])[0])
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row.values()) + "</tr>"
            for row in self.rows()
        )
        text = html.escape(repr(self))
        table = (
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>" if body else ""
        )
        return f'<div class="fk-audit"><pre style="white-space:pre-wrap">{text}</pre>{table}</div>'


def _removal_reason(info: StreamInfo) -> str:
    cfg = info.config
    retention = getattr(cfg.retention, "value", cfg.retention) or "limits"
    if retention == "interest":
        return "interest retention"
    if retention == "workqueue":
        return "work-queue retention"
    limits = [
        name
        for name, value in (
            ("max_msgs", cfg.max_msgs),
            ("max_bytes", cfg.max_bytes),
            ("max_age", cfg.max_age),
            ("max_msgs_per_subject", cfg.max_msgs_per_subject),
        )
        if value not in (None, -1, 0)
    ]
    return f"limits ({', '.join(limits)})" if limits else "a delete or purge"


def _start_seq(info: ConsumerInfo, got: set[int]) -> int:
    cfg = info.config
    policy = getattr(cfg.deliver_policy, "value", cfg.deliver_policy) or "all"
    if policy == "all":
        return 1
    if policy == "by_start_sequence" and cfg.opt_start_seq:
        return int(cfg.opt_start_seq)
    # new, last, by_start_time: where it started is not in its config; its first message is.
    return min(got) if got else _delivered(info) + 1


def _delivered(info: ConsumerInfo) -> int:
    return info.delivered.stream_seq if info.delivered is not None else 0


def _floor(info: ConsumerInfo) -> int:
    return info.ack_floor.stream_seq if info.ack_floor is not None else 0


async def audit(
    nc: Client,
    record: PublishRecord | Iterable[PublishRecord],
    received: Received,
    *,
    stream: str | None = None,
    consumers: Iterable[str] | None = None,
    settle: float = SETTLE_TIMEOUT,
) -> Audit:
    """Compare ``record`` (from :func:`~fanout_kit.publish_paced`, or a list of several
    runs) with what the stream
    stores and what ``received`` saw each consumer get; return an :class:`Audit`.

    ``nc``: a connection (the audit asks the server for the stream's deleted sequences,
    which ``js.stream_info`` does not). ``stream``: defaults to ``received.stream``.
    ``consumers``: which to report (default: every consumer of the stream, plus deleted ones
    ``received`` heard from). Waits up to ``settle`` seconds for the wiretap to have seen
    every ack the server counts (each consumer's ack floor) before comparing.
    """
    check_client(nc, "nc")
    try:
        records = [record] if isinstance(record, PublishRecord) else list(record)
    except TypeError:
        records = []
    if not records or not all(isinstance(r, PublishRecord) for r in records):
        fits = "what publish_paced returned (or a list of those)"
        raise bad_type("record", record, fits, "await publish_paced(js, ...)")
    publishes = [p for r in records for p in r.publishes]
    if not isinstance(received, Received):
        fits = "a Received, from Received.tap"
        raise bad_type("received", received, fits, "await Received.tap(nc, stream)")
    name = validate_name(stream if stream is not None else received.stream, "stream")
    limit = check_seconds(settle, "settle", "5", zero_ok=True)
    wanted = None if consumers is None else [validate_name(c, "consumer") for c in consumers]

    js = nc.jetstream()
    infos = await consumers_of(js, name)
    notes: list[str] = []

    def settled() -> bool:
        for cname, ci in infos.items():
            floor = _floor(ci)
            if floor and floor not in received.acked(cname) and (wanted is None or cname in wanted):
                return False
        return True

    try:
        await wait_for(settled, limit, "the wiretap to see every ack floor") if limit else None
    except WaitTimeout:
        notes.append(
            f"the recorder had not seen every consumer's ack floor after {limit:g} s: "
            "'received' may be short (was it started before publishing?)"
        )
    info = await _stream_info(nc, name)
    state = info.state
    first, last = state.first_seq, state.last_seq
    deleted = set(getattr(state, "deleted", None) or [])

    def is_stored(seq: int) -> bool:
        return first <= seq <= last and seq not in deleted and state.messages > 0

    stored = [p for p in publishes if p.stored and p.seq is not None]
    lost = sorted(p.seq for p in stored if p.seq is not None and p.seq > last)
    removed = sorted(
        p.seq for p in stored if p.seq is not None and p.seq <= last and not is_stored(p.seq)
    )
    reason = _removal_reason(info)
    failed: dict[str, int] = {}
    for p in publishes:
        if p.stored:
            continue
        failed[p.error or "?"] = failed.get(p.error or "?", 0) + 1

    names = list(wanted) if wanted is not None else sorted(set(infos) | set(received.seen))
    audits: dict[str, ConsumerAudit] = {}
    for cname in names:
        seen = received.seen.get(cname, {})
        got = set(seen)
        ci = infos.get(cname)
        if ci is not None:
            cfg = ci.config
            filters = filters_of(cfg)
            start = _start_seq(ci, got)
            cursor = _delivered(ci)
        else:
            filters, start, cursor = [], min(got) if got else 1, max(got) if got else 0
        expected = [
            p
            for p in stored
            if p.seq is not None
            and p.seq >= start
            and (not filters or any(subject_matches(p.subject, f) for f in filters))
        ]
        missing = [p.seq for p in expected if p.seq is not None and p.seq not in got]
        audits[cname] = ConsumerAudit(
            name=cname,
            exists=ci is not None,
            expected=len(expected),
            received=len(got & {p.seq for p in expected}),
            acked=len(received.acked(cname)),
            redelivered=sorted(s for s, e in seen.items() if e.deliveries > 1),
            duplicated=sorted(s for s, e in seen.items() if e.acks > 1),
            removed_before_delivery=[s for s in missing if not is_stored(s) and s <= last],
            not_yet_delivered=[s for s in missing if is_stored(s) and s > cursor],
            not_acked=[s for s in missing if is_stored(s) and s <= cursor],
        )
    retention = getattr(info.config.retention, "value", info.config.retention) or "limits"
    return Audit(
        stream=name,
        retention=str(retention),
        removal_reason=reason,
        published=len(publishes),
        acked=sum(1 for p in publishes if p.outcome == "acked"),
        duplicates=sum(1 for p in publishes if p.outcome == "duplicate"),
        failed=failed,
        stored=sum(1 for p in stored if p.seq is not None and is_stored(p.seq)),
        lost=lost,
        removed=removed,
        consumers=audits,
        notes=notes,
    )


async def _stream_info(nc: Client, stream: str) -> StreamInfo:
    """Stream info with the interior deleted sequences (``deleted_details``, which nats-py's
    ``stream_info`` does not ask for)."""
    reply = await nc.request(f"$JS.API.STREAM.INFO.{stream}", b'{"deleted_details":true}', 5)
    doc: dict[str, Any] = json.loads(reply.data)
    if "error" in doc:
        raise APIError.from_error(doc["error"])
    info: StreamInfo = StreamInfo.from_response(doc)
    return info
