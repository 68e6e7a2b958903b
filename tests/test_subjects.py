"""The kit's one implementation of NATS subject rules (fanout_kit/subjects.py): pure, no server."""

from __future__ import annotations

import pytest
from nats.js.api import ConsumerConfig

from fanout_kit.errors import TopologyError, TopologyTypeError
from fanout_kit.subjects import (
    filters_of,
    matching,
    subject_contains,
    subject_matches,
    subjects_overlap,
    validate_subject,
)


@pytest.mark.parametrize(
    ("subject", "pattern", "expected"),
    [
        ("events.order.created", "events.>", True),
        ("events.payment.failed", "events.*.failed", True),
        ("events.payment.failed", "events.*", False),
        ("events.payment", "events.payment.>", False),
        ("events.auth.login", "events.auth.login", True),
        ("events.auth.logout", "events.auth.login", False),
        ("anything", ">", True),
        ("a.b", "*.*.*", False),
    ],
)
def test_subject_matches(subject: str, pattern: str, expected: bool) -> None:
    assert subject_matches(subject, pattern) is expected


def test_matching_keeps_the_subjects_order_and_needs_one_pattern() -> None:
    shop = ["events.order.created", "events.payment.failed", "events.auth.login"]
    assert matching(shop, ["events.auth.*", "events.*.failed"]) == shop[1:]
    assert matching(shop, []) == []
    assert matching(shop, iter(["events.>"])) == shop  # patterns may be a one-shot iterator


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("events.>", "events.order.created", True),
        ("events.>", "events", False),
        ("events.*", "events.order", True),
        ("events.*", "events.order.created", False),
        ("events.order.>", "events.user.>", False),
        ("events.*.created", "events.order.*", True),
        (">", "anything.at.all", True),
        ("a.b", "a.b", True),
        ("a.b", "a.b.c", False),
        ("*.>", "a", False),
        ("*.>", "a.b", True),
    ],
)
def test_subjects_overlap(a: str, b: str, expected: bool) -> None:
    assert subjects_overlap(a, b) is expected
    assert subjects_overlap(b, a) is expected


@pytest.mark.parametrize(
    ("subject", "words"),
    [
        ("events..order", ["empty token"]),
        ("events.>.x", ["last token"]),
        ("events.ord*", ["whole"]),
        ("events order", ["whitespace"]),
        ("", ["non-empty"]),
    ],
)
def test_validate_subject_rejects(subject: str, words: list[str]) -> None:
    with pytest.raises(TopologyError) as exc:
        validate_subject(subject, "filter_subject")
    assert "filter_subject" in str(exc.value)
    for word in words:
        assert word in str(exc.value)


@pytest.mark.parametrize(
    ("outer", "inner", "expected"),
    [
        ("events.>", "events.order.*", True),
        ("events.order.*", "events.>", False),
        ("events.payment.*", "events.*.failed", False),
        ("events.*.failed", "events.payment.*", False),
        ("events.*", "events.order", True),
        ("a.b", "a.b", True),
        ("a.>", "a", False),
    ],
)
def test_subject_contains(outer: str, inner: str, expected: bool) -> None:
    assert subject_contains(outer, inner) is expected


def test_a_wildcard_is_refused_where_a_concrete_subject_is_needed() -> None:
    with pytest.raises(TopologyError, match="concrete subject") as exc:
        validate_subject("events.*", "subjects", wildcards=False)
    assert exc.value.param == "subjects"
    with pytest.raises(TopologyTypeError):
        validate_subject(5, "subject")


def test_filters_of_reads_either_field() -> None:
    assert filters_of(ConsumerConfig()) == []
    assert filters_of(ConsumerConfig(filter_subject="events.>")) == ["events.>"]
    both = ConsumerConfig(filter_subjects=["events.a", "events.b"])
    assert filters_of(both) == ["events.a", "events.b"]
