"""NATS subjects: validation, matching, overlap and containment, written once for the kit.

A subject is tokens separated by ``.``; in a pattern (a stream's subjects, a consumer's filter,
a subscription) ``*`` matches one whole token and ``>`` one or more tokens at the end. The
server applies three different rules with them, and the kit needs each one:

- :func:`subject_matches`: does a concrete subject match a pattern (what a filter delivers);
- :func:`subjects_overlap`: could one subject match both patterns (a stream's subjects may not
  overlap another stream's, error 10065);
- :func:`subject_contains`: does every subject of one pattern match the other (filter_subjects
  may not contain one another, error 10138; merely overlapping filters are accepted).

:func:`validate_subject` refuses what the server would, with a sentence naming the fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Protocol

from .errors import TopologyError, TopologyTypeError

__all__ = [
    "filters_of",
    "matching",
    "subject_contains",
    "subject_matches",
    "subjects_overlap",
    "validate_subject",
]


def validate_subject(value: object, field: str = "subject", *, wildcards: bool = True) -> str:
    """Return ``value`` if it is a valid NATS subject (or pattern), else raise TopologyError.

    Tokens are separated by ``.`` and may not be empty; ``*`` matches one whole token and
    ``>`` the rest, so it must come last. No whitespace. ``wildcards=False``: a concrete
    subject (one a message can be published to).
    """
    if not isinstance(value, str) or not value:
        error = TopologyError if isinstance(value, str) else TopologyTypeError
        raise error(
            f"{field} must be a non-empty subject string, got {value!r}. "
            f"Fix: e.g. {field}='events.>'.",
            field=field,
        )
    if any(ch.isspace() for ch in value):
        raise TopologyError(
            f"{field} {value!r} contains whitespace, which subjects cannot. "
            "Fix: separate tokens with '.', e.g. 'events.order.created'.",
            field=field,
        )
    tokens = value.split(".")
    if "" in tokens:
        raise TopologyError(
            f"{field} {value!r} has an empty token (a leading, trailing or doubled '.'). "
            "Fix: remove the extra '.', e.g. 'events.order.>'.",
            field=field,
        )
    for i, token in enumerate(tokens):
        wild = token in ("*", ">")
        if not wild and ("*" in token or ">" in token):
            raise TopologyError(
                f"{field} {value!r}: wildcard in token {token!r}; '*' and '>' must be a whole "
                "token. Fix: e.g. 'events.*.created' or 'events.order.>'.",
                field=field,
            )
        if wild and not wildcards:
            raise TopologyError(
                f"{field} {value!r} contains a wildcard, but a concrete subject is needed here. "
                "Fix: name one subject, e.g. 'events.order.created'.",
                field=field,
            )
        if token == ">" and i != len(tokens) - 1:
            raise TopologyError(
                f"{field} {value!r}: '>' matches everything after it, so it must be the last "
                "token. Fix: e.g. 'events.>' or use '*' for a single token.",
                field=field,
            )
    return value


@lru_cache(maxsize=8192)
def subject_matches(subject: str, pattern: str) -> bool:
    """True if the concrete ``subject`` matches ``pattern`` (``*`` one token, ``>`` the rest).

    Not validated (the board calls it for every message it sees): give it subjects the
    server accepted.
    """
    if pattern == subject or pattern == ">":
        return True
    st = subject.split(".")
    pt = pattern.split(".")
    for i, p in enumerate(pt):
        if p == ">":
            return len(st) > i
        if i >= len(st) or (p != "*" and p != st[i]):
            return False
    return len(st) == len(pt)


def matching(subjects: Iterable[str], patterns: Iterable[str]) -> list[str]:
    """The ``subjects`` (in their order) that at least one of ``patterns`` matches."""
    wanted = list(patterns)
    return [s for s in subjects if any(subject_matches(s, p) for p in wanted)]


def subjects_overlap(a: str, b: str) -> bool:
    """True if some concrete subject matches both subject patterns ``a`` and ``b``.

    ``events.>`` and ``events.order.*`` overlap; ``events.order.>`` and ``events.user.>`` do not.
    The server applies this rule to a stream's own subjects and to subjects shared between
    streams (10065). For a consumer's ``filter_subjects`` it only refuses one filter containing
    another (10138): see :func:`subject_contains`.
    """
    validate_subject(a, "a")
    validate_subject(b, "b")
    ta, tb = a.split("."), b.split(".")
    for i in range(max(len(ta), len(tb))):
        x = ta[i] if i < len(ta) else None
        y = tb[i] if i < len(tb) else None
        if x == ">" or y == ">":
            # '>' needs at least one token on the other side.
            return (x if y == ">" else y) is not None
        if x is None or y is None:
            return False
        if x != y and x != "*" and y != "*":
            return False
    return True


def subject_contains(outer: str, inner: str) -> bool:
    """True if every subject matching pattern ``inner`` also matches pattern ``outer``.

    ``events.>`` contains ``events.order.*``; ``events.payment.*`` and ``events.*.failed``
    overlap but neither contains the other. Server 2.15 refuses ``filter_subjects`` only when
    one contains another (10138); merely overlapping filters are accepted and each message is
    delivered once.
    """
    validate_subject(outer, "outer")
    validate_subject(inner, "inner")
    to, ti = outer.split("."), inner.split(".")
    for i, o in enumerate(to):
        if o == ">":
            return len(ti) > i
        if i >= len(ti) or ti[i] == ">":
            return False
        if o != "*" and ti[i] != o:
            return False
    return len(ti) == len(to)


class _Filtered(Protocol):
    """What :func:`filters_of` reads: nats-py's ``ConsumerConfig`` has both fields."""

    @property
    def filter_subject(self) -> str | None: ...

    @property
    def filter_subjects(self) -> list[str] | None: ...


def filters_of(config: _Filtered) -> list[str]:
    """A consumer's filters as one list, whichever of ``filter_subject`` and
    ``filter_subjects`` holds them (empty: the consumer takes every subject of its stream)."""
    if config.filter_subjects:
        return list(config.filter_subjects)
    return [config.filter_subject] if config.filter_subject else []
