"""Paced load: publish at a steady rate and keep a record of what happened to every message.

An experiment needs a publisher that behaves like a production one and tells the truth about
itself: ``publish_paced`` sends at the rate you ask for (and says so when the machine could
not keep up), stamps each message with the time it was sent (``Fanout-Kit-Sent``, Unix
nanoseconds, so a consumer can measure end-to-end latency) and a ``Nats-Msg-Id``, and retries
a publish that failed (a timeout, no leader during an election, a dropped connection) with the
same id, so the stream's duplicate window stores it once however often it was tried. What it
returns, a :class:`PublishRecord`, lists every publish: acked (with its stream sequence and
latency), duplicate (the stream already had that id) or failed (and why); it is what
:func:`fanout_kit.audit` compares with the stream and the consumers.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import nats.errors
from nats.js import JetStreamContext
from nats.js.errors import APIError, NoStreamResponseError, NotFoundError, ServiceUnavailableError

from .events import Event, PublishError, demo_events
from .topology import validate_subject
from .validate import bad_type, bad_value, check_int, check_js, check_seconds, check_str

__all__ = ["SENT_HEADER", "Publish", "PublishRecord", "publish_paced"]

SENT_HEADER: Final = "Fanout-Kit-Sent"
"""Header with the send time of each attempt, in Unix nanoseconds."""
MSG_ID_HEADER: Final = "Nats-Msg-Id"
ACKED: Final = "acked"
DUPLICATE: Final = "duplicate"
FAILED: Final = "failed"

HELD_SHARE = 0.95  # a run "held" its rate when it reached at least 95% of it
BEHIND_OK = 0.05  # seconds behind schedule that still count as holding the rate
SLEEP_MIN = 0.002  # below this, send now: the loop's timer cannot sleep much less than 1 ms
FIRST_RETRY = 0.1
MAX_RETRY = 2.0
IN_PROCESS = 10158  # "duplicate message id is in process": an earlier try is still being stored
_RETRYABLE = (
    TimeoutError,  # also nats.errors.TimeoutError
    NoStreamResponseError,  # no stream answered: an election (or no stream at all)
    ServiceUnavailableError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.ConnectionClosedError,
    nats.errors.OutboundBufferLimitError,
)


@dataclass(frozen=True, slots=True)
class Publish:
    """What happened to one message.

    ``outcome``: ``acked`` (stored at ``seq``), ``duplicate`` (the stream already had
    ``msg_id``, stored at ``seq``: an earlier attempt got through though its ack was lost) or
    ``failed`` (``error`` says why). ``sent_at``: Unix time of the first attempt; ``latency``:
    seconds from it to the ack; ``attempts``: how many sends it took.
    """

    index: int
    msg_id: str
    subject: str
    outcome: str
    seq: int | None
    stream: str | None
    sent_at: float
    latency: float | None
    attempts: int
    error: str | None = None

    @property
    def stored(self) -> bool:
        """True if the server acknowledged storing it (acked or duplicate)."""
        return self.outcome != FAILED


@dataclass(frozen=True, repr=False)
class PublishRecord:
    """Every publish of one :func:`publish_paced` run, and whether it held its rate.

    ``rate``: the rate asked for (messages/s). ``achieved_rate``: what was sent, measured
    from the first send to the last. ``held``: at least 95 % of ``rate`` was reached.
    ``max_behind``: the furthest (seconds) sending ever fell behind its schedule.
    """

    publishes: tuple[Publish, ...]
    rate: float
    achieved_rate: float
    max_behind: float
    started_at: float
    duration: float
    run_id: str
    streams: tuple[str, ...] = field(default=())

    @property
    def held(self) -> bool:
        """Reached 95 % of ``rate``, or never fell more than 50 ms (or 10 messages) behind."""
        tolerance = max(BEHIND_OK, 10 / self.rate)
        return self.achieved_rate >= HELD_SHARE * self.rate or self.max_behind <= tolerance

    @property
    def acked(self) -> list[Publish]:
        return [p for p in self.publishes if p.outcome == ACKED]

    @property
    def duplicates(self) -> list[Publish]:
        return [p for p in self.publishes if p.outcome == DUPLICATE]

    @property
    def failed(self) -> list[Publish]:
        return [p for p in self.publishes if p.outcome == FAILED]

    @property
    def retried(self) -> list[Publish]:
        """Publishes that needed more than one attempt (whatever their outcome)."""
        return [p for p in self.publishes if p.attempts > 1]

    @property
    def seqs(self) -> list[int]:
        """Stream sequences of everything stored, in publish order."""
        return [p.seq for p in self.publishes if p.seq is not None]

    @property
    def counts(self) -> dict[str, int]:
        """``sent``, ``acked``, ``duplicate``, ``failed``, ``retried``: deterministic numbers
        for printing (the rates and latencies change from run to run)."""
        return {
            "sent": len(self.publishes),
            ACKED: len(self.acked),
            DUPLICATE: len(self.duplicates),
            FAILED: len(self.failed),
            "retried": len(self.retried),
        }

    def latency(self, q: float = 0.5) -> float | None:
        """The ``q`` quantile (0..1) of ack latency in seconds over stored publishes."""
        if isinstance(q, bool) or not isinstance(q, int | float):
            raise bad_type("q", q, "a quantile from 0 to 1", "0.99")
        if not 0 <= q <= 1:
            raise bad_value("q", q, "a quantile from 0 to 1", "0.99", why="is out of range")
        lat = sorted(p.latency for p in self.publishes if p.latency is not None)
        return lat[round(q * (len(lat) - 1))] if lat else None

    def sends_per_second(self) -> list[tuple[float, int]]:
        """``(second since start, messages first sent in it)`` for each second of the run."""
        buckets: dict[int, int] = {}
        for p in self.publishes:
            second = int(p.sent_at - self.started_at)
            buckets[second] = buckets.get(second, 0) + 1
        return [(float(s), buckets.get(s, 0)) for s in range(max(buckets, default=-1) + 1)]

    def __repr__(self) -> str:
        c = self.counts
        rate = (
            f"held {self.rate:,.0f}/s"
            if self.held
            else f"could NOT hold {self.rate:,.0f}/s: reached {self.achieved_rate:,.0f}/s, "
            f"up to {self.max_behind:.2f} s behind schedule"
        )
        lines = [f"Published {c['sent']:,} messages in {self.duration:.2f} s ({rate})"]
        seqs = self.seqs
        if seqs:
            lines.append(f"  stored in {', '.join(self.streams)}: seq {min(seqs)}..{max(seqs)}")
        lines.append(f"  acked {c[ACKED]:,}")
        if c[DUPLICATE]:
            lines[-1] += (
                f", duplicate {c[DUPLICATE]:,} (the stream already had that Nats-Msg-Id: "
                "stored once)"
            )
        if c["retried"]:
            lines.append(f"  retried {c['retried']:,} (same Nats-Msg-Id each time)")
        if c[FAILED]:
            reasons: dict[str, int] = {}
            for p in self.failed:
                reasons[p.error or "?"] = reasons.get(p.error or "?", 0) + 1
            why = "; ".join(f"{n} x {r}" for r, n in sorted(reasons.items(), key=lambda x: -x[1]))
            lines.append(f"  FAILED {c[FAILED]:,}: {why}")
        p50, p99 = self.latency(0.5), self.latency(0.99)
        if p50 is not None and p99 is not None:
            lines.append(f"  ack latency p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
        return "\n".join(lines)

    __str__ = __repr__


def _describe(exc: BaseException) -> str:
    if isinstance(exc, APIError) and exc.description:
        return f"{type(exc).__name__} {exc.err_code}: {exc.description}"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _check_subjects(subjects: str | Sequence[str] | None) -> tuple[str, ...]:
    if subjects is None:
        return ()
    listed = (subjects,) if isinstance(subjects, str) else tuple(subjects)
    if not listed:
        raise bad_value("subjects", subjects, "a subject or a list of them", "'events.test'")
    for s in listed:
        validate_subject(s, "subjects", wildcards=False)
    return listed


async def _check_streams(js: JetStreamContext, subjects: set[str]) -> tuple[str, ...]:
    """The streams storing ``subjects``; PublishError before anything is sent if one has none."""
    found: list[str] = []
    for subject in sorted(subjects):
        try:
            found.append(await js.find_stream_name_by_subject(subject))
        except NotFoundError:
            raise PublishError(
                f"No stream stores subject {subject!r}, so nothing was published. Fix: create "
                f"a stream whose subjects match it (e.g. `await ensure_stream(js, 'EVENTS', "
                f"'{subject.split('.')[0]}.>')`) or pass subjects= that one stores."
            ) from None
    return tuple(dict.fromkeys(found))


async def publish_paced(
    js: JetStreamContext,
    *,
    rate: float,
    seconds: float | None = None,
    n: int | None = None,
    subjects: str | Sequence[str] | None = None,
    events: Sequence[Event] | None = None,
    seed: int = 42,
    timeout: float = 2.0,
    retries: int = 10,
    in_flight: int = 1000,
    run_id: str | None = None,
) -> PublishRecord:
    """Publish at ``rate`` messages a second, for ``seconds`` or ``n`` messages; return
    the :class:`PublishRecord` of every publish.

    Payloads are the seeded demo shop events (``demo_events(n, seed=seed)``), on their own
    subjects (``events.order.created``, ...) unless ``subjects`` (one literal subject or a
    list, used in turn) says where to send them; ``events``: your own events instead.
    Each message carries ``Nats-Msg-Id: <run_id>-<n>`` and ``Fanout-Kit-Sent: <Unix ns>``.

    A publish whose ack does not come within ``timeout`` seconds, or that fails while a
    cluster elects a leader or the connection is down, is sent again with the same id, up
    to ``retries`` times, after pauses from 0.1 s doubling to 2 s. At most ``in_flight``
    publishes wait for their acks at once; if the server cannot ack that fast, sending falls
    behind and the record says so (``held``, ``achieved_rate``, ``max_behind``).

    Raises :class:`~fanout_kit.PublishError` before sending anything if no stream stores one
    of the subjects.
    """
    check_js(js)
    pace = check_seconds(rate, "rate", "500 (messages per second)")
    if (seconds is None) == (n is None):
        raise bad_value(
            "seconds", seconds, "given if n= is not (exactly one of seconds= or n=)", "10"
        )
    if seconds is not None:
        total = max(1, math.ceil(pace * check_seconds(seconds, "seconds", "10")))
    else:
        total = check_int(n, "n", low=1, example="1000")
    chosen = _check_subjects(subjects)
    if events is not None:
        if isinstance(events, str | bytes) or not all(isinstance(e, Event) for e in events):
            raise bad_type("events", events, "a list of Event", "demo_events(100)")
        if len(events) < total:
            fits = f"a list of at least the {total} messages asked for"
            raise bad_value("events", f"{len(events)} events", fits, f"demo_events({total})")
    check_int(seed, "seed", example="42")
    ack_timeout = check_seconds(timeout, "timeout", "2")
    check_int(retries, "retries", low=0, example="10")
    window = check_int(in_flight, "in_flight", low=1, example="1000")
    run = check_str(run_id, "run_id", example="'run-1'") if run_id else uuid.uuid4().hex[:8]

    batch = list(events[:total]) if events is not None else demo_events(total, seed=seed)
    subject_of = [chosen[i % len(chosen)] if chosen else ev.subject for i, ev in enumerate(batch)]
    streams = await _check_streams(js, set(subject_of))

    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(window)
    results: list[Publish | None] = [None] * total
    tasks: set[asyncio.Task[None]] = set()

    async def one(i: int, first_sent: float, started: float) -> None:
        msg_id = f"{run}-{i + 1}"
        payload = batch[i].payload
        error: str | None = None
        wait = FIRST_RETRY
        attempts = 0
        try:
            while True:
                attempts += 1
                headers = {MSG_ID_HEADER: msg_id, SENT_HEADER: str(time.time_ns())}
                try:
                    fut = await js.publish_async(subject_of[i], payload, headers=headers)
                    async with asyncio.timeout(ack_timeout):
                        ack = await fut
                except _RETRYABLE as exc:
                    error = _describe(exc)
                except APIError as exc:
                    error = _describe(exc)
                    if exc.err_code != IN_PROCESS:
                        break
                else:
                    results[i] = Publish(
                        i,
                        msg_id,
                        subject_of[i],
                        DUPLICATE if ack.duplicate else ACKED,
                        ack.seq,
                        ack.stream,
                        first_sent,
                        loop.time() - started,
                        attempts,
                        error,
                    )
                    return
                if attempts > retries:
                    break
                await asyncio.sleep(wait)
                wait = min(wait * 2, MAX_RETRY)
            results[i] = Publish(
                i, msg_id, subject_of[i], FAILED, None, None, first_sent, None, attempts, error
            )
        finally:
            gate.release()

    t0 = loop.time()
    wall0 = time.time()
    max_behind = 0.0
    last_send = t0
    try:
        for i in range(total):
            due = t0 + i / pace
            ahead = due - loop.time()
            if ahead > SLEEP_MIN:
                await asyncio.sleep(ahead)
            await gate.acquire()
            now = loop.time()
            max_behind = max(max_behind, now - due)
            last_send = now
            task = loop.create_task(one(i, wall0 + (now - t0), now))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
    duration = last_send - t0
    achieved = (total - 1) / duration if total > 1 and duration > 0 else pace
    done = tuple(p for p in results if p is not None)
    return PublishRecord(
        publishes=done,
        rate=pace,
        achieved_rate=min(achieved, pace),
        max_behind=max(0.0, max_behind),
        started_at=wall0,
        duration=duration,
        run_id=run,
        streams=tuple(dict.fromkeys(p.stream for p in done if p.stream)) or streams,
    )
