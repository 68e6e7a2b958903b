"""What JetStream's wire says: ack subjects, ack payloads, publish acks, subjects, timestamps.

One parser for each, used by the board's model (:mod:`fanout_kit.observe`, which re-exports
them), :mod:`fanout_kit.consume` and the checkers, so the kit reads the wire one way only.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from dataclasses import dataclass

from .subjects import subject_matches

__all__ = [
    "AckKind",
    "AckSubject",
    "parse_ack_kind",
    "parse_ack_subject",
    "parse_puback",
    "parse_time_ns",
    "subject_matches",
]

_ACK_PREFIX = "$JS.ACK."


@dataclass(frozen=True, slots=True)
class AckSubject:
    """The fields of a JetStream ack subject (the reply subject of every delivery)."""

    stream: str
    consumer: str
    delivered: int
    """How many times this message has been delivered to this consumer (1 = first time)."""
    stream_seq: int
    consumer_seq: int
    timestamp_ns: int
    """When the message was stored in the stream (ns since the epoch)."""
    pending: int
    """The consumer's num_pending just after this delivery."""
    domain: str | None = None
    account_hash: str | None = None


def parse_ack_subject(subject: str) -> AckSubject | None:
    """Parse an ack subject in either token layout; ``None`` if it is not one.

    * v1 (nats-server 2.x today, 9 tokens):
      ``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>``
    * v2 (ADR-15, 11 or 12 tokens):
      ``$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>
      .<pending>[.<random>]``; a domain of ``_`` means none.
    """
    if not subject.startswith(_ACK_PREFIX):
        return None
    tokens = subject.split(".")
    if len(tokens) == 9:
        at, domain, account = 2, None, None
    elif len(tokens) in (11, 12):
        at, domain, account = 4, (None if tokens[2] == "_" else tokens[2]), tokens[3]
    else:
        return None
    try:
        delivered, sseq, cseq, ts, pending = (int(t) for t in tokens[at + 2 : at + 7])
    except ValueError:
        return None
    return AckSubject(
        tokens[at], tokens[at + 1], delivered, sseq, cseq, ts, pending, domain, account
    )


class AckKind(enum.Enum):
    """What an ack message says (its payload)."""

    ACK = "ack"
    NAK = "nak"
    PROGRESS = "progress"
    TERM = "term"


def parse_ack_kind(payload: bytes) -> AckKind | None:
    """``b""``/``+ACK``/``+NXT`` ack, ``-NAK`` nak, ``+WPI`` in progress, ``+TERM`` term."""
    if not payload or payload.startswith((b"+ACK", b"+NXT")):
        return AckKind.ACK
    if payload.startswith(b"-NAK"):
        return AckKind.NAK
    if payload.startswith(b"+WPI"):
        return AckKind.PROGRESS
    if payload.startswith(b"+TERM"):
        return AckKind.TERM
    return None


def parse_puback(payload: bytes, stream: str) -> int | None:
    """The sequence in a publish acknowledgement for ``stream``, else ``None``."""
    if not payload.startswith(b'{"stream":'):
        return None
    try:
        doc = json.loads(payload)
    except ValueError:
        return None
    if doc.get("stream") != stream or "error" in doc:
        return None
    seq = doc.get("seq")
    return seq if isinstance(seq, int) else None


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def parse_time_ns(text: str) -> int:
    """An RFC 3339 time as the server writes it (``2026-11-30T11:22:49.890515052Z``, also
    with an offset) -> nanoseconds since the epoch, the unit of the ack subject's timestamp.
    A zero time (``0001-01-01T00:00:00Z``) gives a negative number. ``ValueError`` if bad."""
    head, _, rest = text.partition(".")
    digits = ""
    if rest:
        digits = rest.rstrip("Zz")
        for sign in "+-":
            if sign in digits:
                digits, _, offset = digits.partition(sign)
                head += sign + offset
    elif text.endswith(("Z", "z")):
        head = text[:-1]
    if head.endswith(("Z", "z")):
        head = head[:-1]
    when = dt.datetime.fromisoformat(head)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    if digits and not digits.isdigit():
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    seconds = (when - _EPOCH) // dt.timedelta(seconds=1)
    return seconds * 1_000_000_000 + int((digits or "0").ljust(9, "0")[:9])
