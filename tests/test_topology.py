"""ensure_stream / ensure_consumer / reset_streams against the real session server."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import uuid
from collections.abc import AsyncIterator

import pytest
from nats.js.api import ConsumerConfig, ConsumerInfo, RePublish, StreamInfo
from nats.js.errors import NotFoundError

import fanout_kit
from fanout_kit.errors import FanoutKitError
from fanout_kit.topology import (
    TopologyError,
    ensure_consumer,
    ensure_stream,
    reset_streams,
)


@pytest.fixture
async def names(js) -> AsyncIterator[list[str]]:
    """Unique stream names for one test (the session server is shared); deleted afterwards."""
    made: list[str] = []
    yield made
    await reset_streams(js, *made)


def unique(names: list[str], base: str = "T") -> tuple[str, str]:
    """A unique stream name and a matching unique subject root."""
    tag = uuid.uuid4().hex[:10]
    names.append(f"{base}_{tag}")
    return names[-1], f"t{tag}"


def assert_names(exc: pytest.ExceptionInfo[TopologyError], field: str, *words: str) -> None:
    msg = str(exc.value)
    assert exc.value.field == field, msg
    assert field.split("[")[0] in msg, msg
    assert "Fix:" in msg, msg
    for word in words:
        assert word in msg, msg


# --------------------------------------------------------------------- pure checks


def test_error_is_kit_error_and_value_error() -> None:
    assert issubclass(TopologyError, FanoutKitError)
    assert issubclass(TopologyError, ValueError)


# --------------------------------------------------------------------- stream validation


@pytest.mark.parametrize(
    "bad", ["my.events", "EV*", "EV>", "my events", "", "a/b", "a\\b", "tab\t"]
)
async def test_bad_stream_name(js, bad: str) -> None:
    with pytest.raises(TopologyError) as exc:
        await ensure_stream(js, bad, "events.>")
    assert_names(exc, "stream name")


@pytest.mark.parametrize("bad", ["order.processor", "a*", "a>", "order processor", "", "x/y"])
async def test_bad_durable_name(js, bad: str) -> None:
    with pytest.raises(TopologyError) as exc:
        await ensure_consumer(js, "EVENTS", bad)
    assert_names(exc, "durable name")


async def test_bad_name_suggests_a_fix(js) -> None:
    with pytest.raises(TopologyError) as exc:
        await ensure_stream(js, "my.events", "events.>")
    assert "'my_events'" in str(exc.value)
    with pytest.raises(TopologyError) as exc:
        await ensure_consumer(js, "EVENTS", "order processor")
    assert "'order-processor'" in str(exc.value)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_age": 0}, "max_age"),
        ({"max_age": -5}, "max_age"),
        ({"max_age": dt.timedelta(0)}, "max_age"),
        ({"max_age": "7d"}, "max_age"),
        ({"max_msgs": 0}, "max_msgs"),
        ({"max_bytes": -7}, "max_bytes"),
        ({"max_msgs": 1.5}, "max_msgs"),
        ({"retention": "forever"}, "retention"),
        ({"storage": "disk"}, "storage"),
        ({"discard": "oldest"}, "discard"),
        ({"republish": "broadcast.>"}, "republish"),
        ({"max_agee": 5}, "max_agee"),
    ],
)
async def test_stream_option_validation(js, kwargs: dict, field: str) -> None:
    with pytest.raises(TopologyError) as exc:
        await ensure_stream(js, "NEVER_CREATED", "never.>", **kwargs)
    assert_names(exc, field)
    with pytest.raises(NotFoundError):
        await js.stream_info("NEVER_CREATED")


async def test_unknown_extra_field_suggests_the_right_one(js) -> None:
    with pytest.raises(TopologyError) as exc:
        await ensure_stream(js, "NEVER_CREATED", "never.>", max_msgs_per_subjct=1)
    assert "max_msgs_per_subject" in str(exc.value)


@pytest.mark.parametrize(
    ("subjects", "field", "word"),
    [
        ([], "subjects", "at least one"),
        (["never.>", "never.order.created"], "subjects", "overlaps"),
        (["never.a", "never.a"], "subjects", "twice"),
        ("never..x", "subjects", "empty token"),
    ],
)
async def test_stream_subject_validation(js, subjects, field: str, word: str) -> None:
    with pytest.raises(TopologyError) as exc:
        await ensure_stream(js, "NEVER_CREATED", subjects)
    assert_names(exc, field, word)


# --------------------------------------------------------------------- stream behaviour


async def test_ensure_stream_creates_then_is_idempotent(js, names) -> None:
    name, root = unique(names)
    first = await ensure_stream(js, name, f"{root}.>", max_age=3600, storage="memory")
    assert isinstance(first, StreamInfo)
    assert first.config.subjects == [f"{root}.>"]
    assert first.config.max_age == 3600
    second = await ensure_stream(
        js, name, [f"{root}.>"], max_age=dt.timedelta(hours=1), storage="memory"
    )
    assert second.config == first.config
    assert second.created == first.created


async def test_ensure_stream_updates_updatable_fields(js, names) -> None:
    name, root = unique(names)
    await ensure_stream(js, name, f"{root}.>", max_age=60)
    info = await ensure_stream(
        js,
        name,
        f"{root}.>",
        max_msgs=10,
        discard="new",
        retention="interest",
        description="lesson 01",
    )
    assert info.config.max_msgs == 10
    assert info.config.discard == "new"
    assert info.config.retention == "interest"
    assert info.config.description == "lesson 01"
    # Named options are declarative: max_age was left out, so the age limit is gone.
    assert info.config.max_age == 0
    # Extras are kept when not given again.
    again = await ensure_stream(js, name, f"{root}.>", retention="interest")
    assert again.config.description == "lesson 01"
    assert again.config.max_msgs == -1


async def test_ensure_stream_republish(js, names) -> None:
    name, root = unique(names)
    info = await ensure_stream(
        js, name, f"{root}.>", republish={"src": f"{root}.>", "dest": f"b{root}.>"}
    )
    assert info.config.republish == RePublish(src=f"{root}.>", dest=f"b{root}.>")
    same = await ensure_stream(js, name, f"{root}.>", republish=(f"{root}.>", f"b{root}.>"))
    assert same.config == info.config


async def test_republish_template_from_the_seed_is_explained(js, names) -> None:
    name, root = unique(names)
    with pytest.raises(TopologyError) as exc:
        await ensure_stream(
            js, name, f"{root}.>", republish=RePublish(src=">", dest="broadcast.{{subject}}")
        )
    assert_names(exc, "republish", "10052", f"'dest': 'broadcast.{root}.>'")


@pytest.mark.parametrize(
    ("first", "second", "field"),
    [
        ({"storage": "file"}, {"storage": "memory"}, "storage"),
        ({"retention": "limits"}, {"retention": "workqueue"}, "retention"),
        ({"retention": "workqueue"}, {"retention": "interest"}, "retention"),
    ],
)
async def test_unchangeable_stream_field(js, names, first, second, field) -> None:
    name, root = unique(names)
    await ensure_stream(js, name, f"{root}.>", **first)
    with pytest.raises(TopologyError) as exc:
        await ensure_stream(js, name, f"{root}.>", **second)
    assert_names(
        exc,
        field,
        repr(first[field]),
        repr(second[field]),
        f"js.delete_stream({name!r})",
        f"reset_streams(js, {name!r})",
    )


async def test_subjects_taken_by_another_stream(js, names) -> None:
    owner, root = unique(names)
    other, _ = unique(names)
    await ensure_stream(js, owner, f"{root}.>")
    with pytest.raises(TopologyError) as exc:
        await ensure_stream(js, other, f"{root}.order.>")
    assert_names(exc, "subjects", "10065", repr(owner))
    assert exc.value.err_code == 10065


async def test_reset_streams(js, names) -> None:
    a, ra = unique(names)
    b, rb = unique(names)
    await ensure_stream(js, a, f"{ra}.>")
    await ensure_stream(js, b, f"{rb}.>")
    await ensure_consumer(js, a, "audit")
    missing = f"MISSING_{uuid.uuid4().hex[:8]}"
    assert await reset_streams(js, a, missing, b) == [a, b]
    assert await reset_streams(js, a, b) == []
    for name in (a, b):
        with pytest.raises(NotFoundError):
            await js.stream_info(name)
    with pytest.raises(TopologyError) as exc:
        await reset_streams(js, "bad.name")
    assert_names(exc, "stream name")


# --------------------------------------------------------------------- consumers


@pytest.fixture
async def stream(js, names) -> str:
    name, root = unique(names, "C")
    await ensure_stream(js, name, [f"{root}.order.>", f"{root}.user.>", f"{root}.auth.>"])
    return name


def root_of(info_subjects: list[str]) -> str:
    return info_subjects[0].split(".")[0]


async def test_ensure_consumer_creates_then_is_idempotent(js, stream) -> None:
    root = root_of((await js.stream_info(stream)).config.subjects)
    first = await ensure_consumer(js, stream, "order-processor", filter_subject=f"{root}.order.>")
    assert isinstance(first, ConsumerInfo)
    assert first.config.durable_name == "order-processor"
    assert first.config.ack_policy == "explicit"
    assert first.config.deliver_subject is None  # a pull consumer
    second = await ensure_consumer(js, stream, "order-processor", filter_subject=f"{root}.order.>")
    assert second.config == first.config
    assert second.created == first.created


async def test_ensure_consumer_updates_updatable_fields(js, stream) -> None:
    root = root_of((await js.stream_info(stream)).config.subjects)
    await ensure_consumer(js, stream, "user-service", filter_subject=f"{root}.user.>")
    info = await ensure_consumer(
        js,
        stream,
        "user-service",
        filter_subjects=[f"{root}.user.>", f"{root}.auth.>"],
        max_ack_pending=5,
        ack_wait=dt.timedelta(seconds=10),
        max_deliver=3,
        inactive_threshold=3600,
        description="users and logins",
    )
    assert info.config.filter_subject is None
    assert info.config.filter_subjects == [f"{root}.user.>", f"{root}.auth.>"]
    assert info.config.max_ack_pending == 5
    assert info.config.ack_wait == 10
    assert info.config.max_deliver == 3
    assert info.config.inactive_threshold == 3600
    assert info.config.description == "users and logins"
    back = await ensure_consumer(js, stream, "user-service")
    assert back.config.filter_subjects in (None, [])
    assert back.config.max_ack_pending == 1000  # the server default again


@pytest.mark.parametrize(
    ("first", "second", "field"),
    [
        ({}, {"deliver_policy": "new"}, "deliver_policy"),
        ({"deliver_policy": "last"}, {"deliver_policy": "all"}, "deliver_policy"),
        ({}, {"replay_policy": "original"}, "replay_policy"),
        (
            {"deliver_policy": "by_start_sequence", "opt_start_seq": 3},
            {"deliver_policy": "by_start_sequence", "opt_start_seq": 4},
            "opt_start_seq",
        ),
    ],
)
async def test_fixed_consumer_field_refused(js, stream, first, second, field) -> None:
    await ensure_consumer(js, stream, "audit", **first)
    with pytest.raises(TopologyError) as exc:
        await ensure_consumer(js, stream, "audit", **second)
    assert_names(exc, field, "10012", f"js.delete_consumer({stream!r}, 'audit')")
    assert exc.value.err_code == 10012
    moves = field != "replay_policy" and first.get("deliver_policy") not in ("new", "last")
    assert (f"js.reset_consumer({stream!r}, 'audit', seq)" in str(exc.value)) is moves
    # Nothing changed on the server.
    info = await js.consumer_info(stream, "audit")
    assert info.config.deliver_policy == first.get("deliver_policy", "all")


async def test_server_refusal_is_translated_too(js, stream) -> None:
    """A fixed field the kit does not pre-check (mem_storage, via **extra) still reads well."""
    await ensure_consumer(js, stream, "audit")
    with pytest.raises(TopologyError) as exc:
        await ensure_consumer(js, stream, "audit", mem_storage=True)
    assert exc.value.err_code == 10012
    assert "storage type can not be updated" in str(exc.value)
    assert "Fix:" in str(exc.value)


async def test_by_start_time(js, stream) -> None:
    when = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
    first = await ensure_consumer(
        js, stream, "replay", deliver_policy="by_start_time", opt_start_time=when
    )
    again = await ensure_consumer(
        js, stream, "replay", deliver_policy="by_start_time", opt_start_time=when
    )
    assert first.config.opt_start_time == when == again.config.opt_start_time


async def test_both_filter_fields(js, stream) -> None:
    with pytest.raises(TopologyError) as exc:
        await ensure_consumer(js, stream, "x", filter_subject="a.b", filter_subjects=["a.c"])
    assert_names(exc, "filter_subjects", "filter_subject and filter_subjects", "10136")
    with pytest.raises(NotFoundError):
        await js.consumer_info(stream, "x")


@pytest.mark.parametrize(
    "filters",
    [["{r}.user.>", "{r}.user.signed_up"], ["{r}.auth.*", "{r}.auth.login"], ["{r}.auth.>"] * 2],
)
async def test_overlapping_filters(js, stream, filters) -> None:
    root = root_of((await js.stream_info(stream)).config.subjects)
    with pytest.raises(TopologyError) as exc:
        await ensure_consumer(js, stream, "x", filter_subjects=[f.format(r=root) for f in filters])
    assert_names(exc, "filter_subjects", "10138", "drop the narrower filter")
    with pytest.raises(NotFoundError):
        await js.consumer_info(stream, "x")


async def test_filter_that_cannot_match(js, stream) -> None:
    root = root_of((await js.stream_info(stream)).config.subjects)
    with pytest.raises(TopologyError) as exc:
        await ensure_consumer(js, stream, "x", filter_subject=f"{root}.payment.>")
    assert_names(exc, "filter_subject", "never match", f"{root}.order.>")
    with pytest.raises(TopologyError) as exc:
        await ensure_consumer(js, stream, "x", filter_subjects=[f"{root}.user.>", "orders.>"])
    assert_names(exc, "filter_subjects", "'orders.>'")
    with pytest.raises(TopologyError) as exc:
        await ensure_consumer(js, stream, "x", filter_subjects=["orders.>"])
    assert_names(exc, "filter_subjects", "'orders.>'")


@pytest.mark.parametrize(
    ("kwargs", "field", "word"),
    [
        ({"ack_wait": 0}, "ack_wait", "positive"),
        ({"ack_wait": -1.5}, "ack_wait", "positive"),
        ({"inactive_threshold": 0}, "inactive_threshold", "positive"),
        ({"inactive_threshold": dt.timedelta(seconds=-1)}, "inactive_threshold", "positive"),
        ({"max_ack_pending": 0}, "max_ack_pending", "positive"),
        ({"max_deliver": 0}, "max_deliver", "positive"),
        ({"deliver_policy": "first"}, "deliver_policy", "'all'"),
        ({"replay_policy": "fast"}, "replay_policy", "'original'"),
        ({"filter_subjects": "a.b"}, "filter_subjects", "list"),
        ({"filter_subjects": []}, "filter_subjects", "empty"),
        ({"filter_subject": "a..b"}, "filter_subject", "empty token"),
        ({"deliver_policy": "by_start_sequence"}, "opt_start_seq", "10094"),
        ({"opt_start_seq": 3}, "opt_start_seq", "by_start_sequence"),
        ({"deliver_policy": "by_start_sequence", "opt_start_seq": 0}, "opt_start_seq", ">= 1"),
        ({"deliver_policy": "by_start_time"}, "opt_start_time", "10094"),
        (
            {"deliver_policy": "by_start_time", "opt_start_time": dt.datetime(2026, 1, 1)},
            "opt_start_time",
            "timezone-aware",
        ),
        ({"deliver_subject": "push.here"}, "deliver_subject", "pull"),
        ({"ack_wiat": 3}, "ack_wiat", "ack_wait"),
    ],
)
async def test_consumer_option_validation(js, kwargs, field, word) -> None:
    with pytest.raises(TopologyError) as exc:
        await ensure_consumer(js, "NEVER_CREATED", "x", **kwargs)
    assert_names(exc, field, word)


async def test_consumer_on_missing_stream(js) -> None:
    missing = f"MISSING_{uuid.uuid4().hex[:8]}"
    with pytest.raises(TopologyError) as exc:
        await ensure_consumer(js, missing, "audit")
    assert_names(exc, "stream", "does not exist", "ensure_stream")


async def test_filters_that_only_intersect_are_accepted_like_the_server_does(js, stream) -> None:
    """Server 2.15 refuses a filter that contains another (10138), not one that merely
    intersects: 'x.*.login' and 'x.auth.*' share 'x.auth.login' and are both accepted."""
    root = root_of((await js.stream_info(stream)).config.subjects)
    filters = [f"{root}.*.login", f"{root}.auth.*"]
    info = await ensure_consumer(js, stream, "intersecting", filter_subjects=filters)
    assert info.config.filter_subjects == filters
    await js.delete_consumer(stream, "intersecting")


# --------------------------------------------------------------------- refusals the kit explains


async def test_a_name_that_is_too_long_is_refused_before_the_server(js) -> None:
    with pytest.raises(TopologyError) as exc:
        await ensure_stream(js, "E" * 256, "never.>")
    assert_names(exc, "stream name", "256 characters", "at most 255")
    with pytest.raises(TopologyError) as exc:
        await ensure_consumer(js, "NEVER_CREATED", "c" * 300)
    assert_names(exc, "durable name", "300 characters")
    assert await ensure_stream(js, "E" * 255, "longname.>", storage="memory")
    await reset_streams(js, "E" * 255)


async def test_a_duplicate_window_longer_than_max_age(js, names) -> None:
    name, root = unique(names)
    with pytest.raises(TopologyError) as exc:
        await ensure_stream(js, name, f"{root}.>", max_age=30, duplicate_window=120)
    assert_names(exc, "duplicate_window", "longer than max_age=30 s", "duplicate_window=30")
    # Also when the server is the one to notice: the window was set on an earlier run.
    await ensure_stream(js, name, f"{root}.>", duplicate_window=120)
    with pytest.raises(TopologyError) as exc:
        await ensure_stream(js, name, f"{root}.>", max_age=30)
    assert_names(exc, "duplicate_window", "10052", "at most max_age")
    assert "check the field" not in str(exc.value)


async def test_the_thousand_consumer_cap_is_explained(js, names) -> None:
    name, root = unique(names)
    await ensure_stream(js, name, f"{root}.>", storage="memory")
    await asyncio.gather(
        *(js.add_consumer(name, ConsumerConfig(durable_name=f"c{i}")) for i in range(1000))
    )
    with pytest.raises(TopologyError) as exc:
        await ensure_consumer(js, name, "one-too-many")
    message = str(exc.value)
    assert exc.value.err_code == 10026
    assert "at most 1000 consumers" in message and "delete_consumer" in message
    assert "check the field" not in message


@pytest.mark.parametrize("ack_wait", [0.0001, 0.05, dt.timedelta(milliseconds=1)])
async def test_an_ack_wait_too_short_to_ack_in(js, ack_wait) -> None:
    with pytest.raises(TopologyError) as exc:
        await ensure_consumer(js, "NEVER_CREATED", "x", ack_wait=ack_wait)
    assert_names(exc, "ack_wait", "redelivered", "ack_wait=30")


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda js: ensure_stream(js, "NEVER", subjects=123), "subjects"),
        (lambda js: ensure_stream(js, 5, "n.>"), "stream name"),
        (lambda js: ensure_stream(js, "NEVER", "n.>", max_msgs="10"), "max_msgs"),
        (lambda js: ensure_consumer(js, "NEVER", "d", filter_subject=7), "filter_subject"),
        (lambda js: ensure_consumer(js, "NEVER", "d", ack_wait="30s"), "ack_wait"),
    ],
)
async def test_wrong_types_are_type_errors_too(js, call, field: str) -> None:
    with pytest.raises(TopologyError) as exc:
        await call(js)
    assert isinstance(exc.value, TypeError)
    assert_names(exc, field)


async def test_a_client_instead_of_jetstream(nc) -> None:
    with pytest.raises(TypeError, match=r"Fix: pass nc.jetstream\(\)"):
        await ensure_stream(nc, "NEVER", "n.>")


async def test_a_store_the_server_cannot_write_is_explained() -> None:
    """Error 10049: the server could not create the stream's files (here its streams folder
    was replaced by a file; a full disk or too many open files read the same)."""
    async with await fanout_kit.start_server() as srv:
        nc = await fanout_kit.connect(srv.url)
        try:
            js = nc.jetstream()
            await ensure_stream(js, "FIRST", "first.>")
            streams = srv.store_dir / "jetstream" / "$G" / "streams"
            shutil.rmtree(streams)
            streams.write_text("not a folder")
            with pytest.raises(TopologyError) as exc:
                await ensure_stream(js, "SECOND", "second.>")
            assert exc.value.err_code == 10049
            assert "could not create the stream's files" in str(exc.value)
            assert "check the field" not in str(exc.value)
        finally:
            await nc.close()
