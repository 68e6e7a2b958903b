"""Idempotent stream and consumer setup, checked before the server is asked.

A lesson cell that creates a stream must be safe to run twice, on a server another notebook
already used. ``ensure_stream`` and ``ensure_consumer`` create what is missing, update what may
be updated, and refuse, with the field, both values and the fix, what the server would refuse
(storage type, deliver policy, ...). They return the server's own ``StreamInfo`` and
``ConsumerInfo``: nothing is wrapped, and learners still write ``js.add_stream``,
``js.pull_subscribe`` and ``msg.ack()`` themselves where the concept lives.

The checks run locally first (names, subjects, durations, filter conflicts) so a typo gives a
sentence naming the field instead of a server error code; when the server still refuses, its
error is translated the same way and kept as ``__cause__``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from typing import Any, TypeVar

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    ConsumerInfo,
    DeliverPolicy,
    DiscardPolicy,
    ReplayPolicy,
    RePublish,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamInfo,
)
from nats.js.errors import APIError, NotFoundError

from .errors import TopologyError, TopologyTypeError
from .subjects import subject_contains, subjects_overlap, validate_subject
from .validate import check_js

__all__ = [
    "TopologyError",
    "consumers_of",
    "ensure_consumer",
    "ensure_stream",
    "enum_value",
    "reset_streams",
    "subject_contains",  # from .subjects, where subject rules live
    "subjects_overlap",
    "validate_name",
    "validate_subject",
]

#: The longest stream or consumer name the server accepts.
MAX_NAME_LENGTH = 255
#: The shortest ack_wait the kit accepts: below it a message is redelivered before a worker can
#: ack it (the server takes 0.0001 s and redelivers at once, again and again).
MIN_ACK_WAIT = 0.1
_BAD_NAME_CHARS = {".": "'.'", "*": "'*'", ">": "'>'", "/": "'/'", "\\": "'\\'"}
_E = TypeVar("_E", bound=Enum)

# Stream fields ensure_stream manages itself, with the value that means "not set" on the server.
_STREAM_UNSET: dict[str, Any] = {"max_age": 0.0, "max_msgs": -1, "max_bytes": -1, "republish": None}
# Consumer fields the server fixes at creation (it answers 10012 to a change).
_CONSUMER_FIXED = (
    "deliver_policy",
    "opt_start_seq",
    "opt_start_time",
    "ack_policy",
    "replay_policy",
)
_CONSUMER_RESERVED = {
    "durable_name": "pass the durable name as the third argument",
    "name": "pass the durable name as the third argument",
    "deliver_subject": "ensure_consumer makes pull consumers; for a push consumer call "
    "`js.subscribe(...)` or `js.add_consumer(...)` yourself",
    "deliver_group": "ensure_consumer makes pull consumers; queue groups belong to push consumers",
}


# --------------------------------------------------------------------------- validation


def validate_name(value: object, field: str = "name") -> str:
    """Return ``value`` if it is a valid stream or consumer name, else raise TopologyError.

    NATS names may not be empty or contain ``.``, ``*``, ``>``, whitespace or path separators:
    the name becomes a token of the API subject and, for file storage, a folder name.
    """
    example = "EVENTS" if "stream" in field else "order-processor"
    if not isinstance(value, str):
        raise TopologyTypeError(
            f"{field} must be a string, got {type(value).__name__} {value!r}. "
            f"Fix: pass a name such as {example!r}.",
            field=field,
        )
    if not value:
        raise TopologyError(f"{field} is empty. Fix: pass a name such as {example!r}.", field=field)
    if len(value) > MAX_NAME_LENGTH:
        raise TopologyError(
            f"{field} {value[:20]!r}... is {len(value)} characters long; NATS allows at most "
            f"{MAX_NAME_LENGTH} (the server would answer error 10052). Fix: use a shorter "
            f"name, e.g. {example!r}.",
            field=field,
        )
    bad = [desc for ch, desc in _BAD_NAME_CHARS.items() if ch in value]
    if any(ch.isspace() for ch in value):
        bad.append("whitespace")
    if bad:
        fixed = re.sub(r"[.*>/\\\s]+", "_" if "stream" in field else "-", value).strip("-_")
        suggestion = f" e.g. {fixed!r}" if fixed else f" e.g. {example!r}"
        raise TopologyError(
            f"{field} {value!r} contains {', '.join(bad)}, which NATS does not allow in names "
            "(a name becomes one token of an API subject and a folder on disk). "
            f"Fix: use letters, digits, '-' and '_' only,{suggestion}.",
            field=field,
        )
    return value


def _subject_list(value: str | Iterable[str] | None, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, str | Iterable):
        raise TopologyTypeError(
            f"{field}={value!r} is a {type(value).__name__}; it must be a subject or a list of "
            f"subjects. Fix: e.g. {field}='events.>' or {field}=['events.order.>', "
            "'events.user.>'].",
            field=field,
        )
    items = [value] if isinstance(value, str) else list(value)
    for i, subject in enumerate(items):
        validate_subject(subject, f"{field}[{i}]" if not isinstance(value, str) else field)
    return items


def _check_no_overlap(
    subjects: Sequence[str], field: str, code: int, fix: str, *, containment: bool = False
) -> None:
    """Refuse overlapping subjects (or, with ``containment``, one containing another)."""
    for i, a in enumerate(subjects):
        for b in subjects[i + 1 :]:
            clash = (
                subject_contains(a, b) or subject_contains(b, a)
                if containment
                else subjects_overlap(a, b)
            )
            if clash:
                relation = "contains or is contained in" if containment else "overlaps with"
                what = "appears twice" if a == b else f"{relation} {b!r}"
                raise TopologyError(
                    f"{field}: {a!r} {what} (some subject matches both); the server would "
                    f"answer error {code}. Fix: {fix}",
                    field=field,
                    err_code=code,
                )


def _seconds(value: object, field: str, example: str) -> float | None:
    """A positive duration in seconds from a number or a timedelta; None stays None."""
    if value is None:
        return None
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise TopologyTypeError(
            f"{field} must be seconds (a number) or a datetime.timedelta, got {value!r}. "
            f"Fix: e.g. {field}={example}.",
            field=field,
        )
    if not seconds > 0 or seconds != seconds or seconds == float("inf"):
        raise TopologyError(
            f"{field} must be a positive duration, got {value!r}. "
            f"Fix: e.g. {field}={example}, or leave it out (None) for the server default.",
            field=field,
        )
    return seconds


def _count(value: object, field: str, example: str, *, unlimited_ok: bool = True) -> int | None:
    """A positive integer limit; None (and -1, NATS's "unlimited") mean no limit."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise TopologyTypeError(
            f"{field} must be an integer, got {value!r}. Fix: e.g. {field}={example}.",
            field=field,
        )
    if value == -1 and unlimited_ok:
        return None
    if value <= 0:
        raise TopologyError(
            f"{field} must be a positive integer, got {value!r}. "
            f"Fix: e.g. {field}={example}, or leave it out (None) for no limit.",
            field=field,
        )
    return value


def _choice(value: object, enum: type[_E], field: str) -> _E:
    try:
        return enum(value.value if isinstance(value, Enum) else value)
    except ValueError:
        options = ", ".join(repr(m.value) for m in enum)
        raise TopologyError(
            f"{field}={value!r} is not one of {options}. Fix: pass one of those strings "
            f"(or nats.js.api.{enum.__name__}).",
            field=field,
        ) from None


def _check_extra(extra: Mapping[str, Any], cls: type[Any], managed: Iterable[str]) -> None:
    names = {f.name for f in dataclasses.fields(cls)}
    for key in extra:
        if key in managed:
            raise TopologyError(
                f"{key} is passed twice. Fix: pass it once, as the keyword argument {key}=.",
                field=key,
            )
        if key not in names:
            close = difflib.get_close_matches(key, sorted(names), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise TopologyError(
                f"{key!r} is not a {cls.__name__} field; {hint}"
                f"Fix: use one of the fields of nats.js.api.{cls.__name__}.",
                field=key,
            )


def _republish(value: object) -> RePublish | None:
    if value is None or isinstance(value, RePublish):
        return value
    if isinstance(value, Mapping):
        src = value.get("src", value.get("source"))
        dest = value.get("dest", value.get("destination"))
        headers_only = value.get("headers_only")
    elif isinstance(value, tuple | list) and len(value) == 2:
        src, dest = value
        headers_only = None
    else:
        raise TopologyTypeError(
            f"republish must be a nats.js.api.RePublish, a dict with 'src' and 'dest', or a "
            f"(src, dest) pair, got {value!r}. Fix: e.g. republish={{'src': 'events.>', "
            "'dest': 'broadcast.>'}.",
            field="republish",
        )
    if dest is None:
        raise TopologyError(
            "republish needs a destination ('dest'). Fix: e.g. republish={'src': 'events.>', "
            "'dest': 'broadcast.>'}.",
            field="republish",
        )
    return RePublish(src=src, dest=dest, headers_only=headers_only or None)


def _norm_republish(value: RePublish | None) -> tuple[Any, ...] | None:
    if value is None:
        return None
    return (value.src or ">", value.dest, bool(value.headers_only))


def enum_value(value: Any) -> Any:
    """A config field as a plain value: nats-py gives enums in some places, strings in others
    (``RetentionPolicy.LIMITS`` and ``"limits"`` both give ``"limits"``)."""
    return value.value if isinstance(value, Enum) else value


# --------------------------------------------------------------------------- server errors


def _translate(
    exc: APIError, what: str, field: str | None = None, subjects: Sequence[str] = ("events.>",)
) -> TopologyError:
    """Turn a server refusal into a TopologyError that says what to do."""
    desc = exc.description or str(exc)
    code = exc.err_code
    fixes = {
        10065: "another stream already captures one of these subjects, and a subject belongs "
        "to one stream. Fix: choose other subjects, or delete the other stream.",
        10136: "Fix: set filter_subject or filter_subjects, not both.",
        10138: "Fix: drop the narrower filter; the wider one already covers it.",
        10094: "Fix: deliver_policy='by_start_sequence' needs opt_start_seq, 'by_start_time' "
        "needs opt_start_time, and the other policies take neither.",
        10059: "Fix: create the stream first with `await ensure_stream(js, NAME, SUBJECTS)`.",
    }
    fix = fixes.get(code or 0, "Fix: check the field the server names above.")
    if "republish" in desc:
        field = "republish"
        src = next((s for s in subjects if s.endswith(">")), "events.>")
        example = {"src": src, "dest": f"broadcast.{src}"}
        fix = (
            "The destination is built only from what the source's wildcards matched ('>' for "
            "a '>', {{wildcard(n)}} or $n or a mapping function for a '*'), and a source of "
            f"'>' keeps the whole subject. Fix: e.g. republish={example!r} "
            "('{{subject}}' is not a template the server knows)."
        )
    elif "can not be updated" in desc or "can not change" in desc:
        fix = "Fix: delete it and create it again (its state is lost), or pick a new name."
    elif "name is too long" in desc:
        fix = (
            f"Names are at most {MAX_NAME_LENGTH} characters. Fix: use a shorter name of "
            "letters, digits, '-' and '_', e.g. 'EVENTS' or 'order-processor'."
        )
    elif "duplicates window" in desc:
        field = "duplicate_window"
        fix = (
            "The duplicate window (how long the server remembers Nats-Msg-Id values) must fit "
            "inside max_age (how long it keeps messages). Fix: pass duplicate_window= at most "
            "max_age (both in seconds), e.g. duplicate_window=60 with max_age=3600, or leave "
            "duplicate_window out: the server then uses 2 minutes, or max_age if shorter."
        )
    elif code == 10049 and "creating store" in desc:
        fix = (
            "The server could not create the stream's files in its store folder (a full disk, "
            "too many open files, or the folder removed under it); its log says which. Fix: "
            "check free disk space and the server's log, then try again; `fanout-kit doctor` "
            "checks the bundled server."
        )
    elif code == 10026 or "maximum consumers" in desc:
        fix = (
            "A stream takes at most 1000 consumers by default (the server's "
            "default_max_consumers), and each one costs the server work on every message. "
            "Fix: delete the consumers you no longer use (`consumer_table(js, STREAM)` lists "
            "them; `await js.delete_consumer(STREAM, NAME)`), give short-lived ones an "
            "inactive_threshold= so the server removes them, or let several workers share one "
            "durable (work sharing) instead of one consumer each."
        )
    return TopologyError(
        f"The server refused {what}: {desc} (error {code}). {fix}", field=field, err_code=code
    )


# --------------------------------------------------------------------------- streams


async def ensure_stream(
    js: JetStreamContext,
    name: str,
    subjects: str | Sequence[str],
    *,
    retention: str | RetentionPolicy = "limits",
    max_age: float | dt.timedelta | None = None,
    max_msgs: int | None = None,
    max_bytes: int | None = None,
    discard: str | DiscardPolicy = "old",
    storage: str | StorageType = "file",
    republish: RePublish | Mapping[str, Any] | tuple[str, str] | None = None,
    **extra: Any,
) -> StreamInfo:
    """Create stream ``name`` or bring it to this config; return the server's ``StreamInfo``.

    The keyword arguments describe the whole stream: one left out means "not set" (so dropping
    ``max_age=`` removes the age limit on the next run). Other ``StreamConfig`` fields go in
    ``**extra`` (e.g. ``description=``, ``max_msgs_per_subject=``); those are set when given and
    otherwise left as they are. Running it again with the same arguments changes nothing.

    ``max_age`` is seconds (or a timedelta). ``subjects`` is one subject or a list.
    Raises :class:`TopologyError` before asking the server for bad names, subjects, limits or
    choices, and for changes the server cannot make to an existing stream (storage type,
    retention to or from workqueue), naming the field, both values and the fix.
    """
    check_js(js)
    validate_name(name, "stream name")
    subject_list = _subject_list(subjects, "subjects")
    if not subject_list:
        raise TopologyError(
            "subjects is empty: a stream must capture at least one subject. "
            "Fix: e.g. subjects='events.>'.",
            field="subjects",
        )
    _check_no_overlap(
        subject_list, "subjects", 10052, "list each subject once, e.g. just 'events.>'."
    )
    wanted: dict[str, Any] = {
        "subjects": subject_list,
        "retention": _choice(retention, RetentionPolicy, "retention"),
        "max_age": _seconds(max_age, "max_age", "7 * 24 * 3600"),
        "max_msgs": _count(max_msgs, "max_msgs", "1000"),
        "max_bytes": _count(max_bytes, "max_bytes", "1_000_000"),
        "discard": _choice(discard, DiscardPolicy, "discard"),
        "storage": _choice(storage, StorageType, "storage"),
        "republish": _republish(republish),
    }
    _check_extra(extra, StreamConfig, {"name", *wanted})
    _check_duplicate_window(extra.get("duplicate_window"), wanted["max_age"])

    try:
        current = await js.stream_info(name)
    except NotFoundError:
        current = None

    if current is None:
        config = StreamConfig(name=name, **wanted, **extra)
        try:
            return await js.add_stream(config)
        except APIError as exc:
            raise await _stream_error(js, exc, f"to create stream {name!r}", subject_list) from exc

    old = current.config
    _check_stream_fixed(name, old, wanted)
    changed = {}
    for key, value in [*wanted.items(), *extra.items()]:
        have = getattr(old, key)
        if key == "republish":
            same = _norm_republish(have) == _norm_republish(value)
        elif key == "max_age":
            same = round((have or 0) * 1e9) == round((value or 0) * 1e9)
        elif key in _STREAM_UNSET:
            same = (have if have not in (None, 0, -1) else None) == value
        else:
            same = enum_value(have) == enum_value(value)
        if not same:
            changed[key] = _STREAM_UNSET[key] if value is None and key in _STREAM_UNSET else value
    if not changed:
        return current
    config = old.evolve(**changed)
    try:
        return await js.update_stream(config)
    except APIError as exc:
        raise await _stream_error(js, exc, f"to update stream {name!r}", subject_list) from exc


def _check_duplicate_window(window: object, max_age: float | None) -> None:
    """Refuse a duplicate window longer than max_age before the server does (10052)."""
    seconds = _seconds(window, "duplicate_window", "60")
    if seconds is not None and max_age is not None and seconds > max_age:
        raise TopologyError(
            f"duplicate_window={window!r} is longer than max_age={max_age:g} s: the server "
            "cannot remember a message id for longer than it keeps the message (it would answer "
            f"error 10052). Fix: duplicate_window={max_age:g} or less, or leave it out (the "
            "server then uses 2 minutes, or max_age if shorter).",
            field="duplicate_window",
            err_code=10052,
        )


def _check_stream_fixed(name: str, old: StreamConfig, wanted: Mapping[str, Any]) -> None:
    fix = (
        f"delete it with `await js.delete_stream({name!r})` or call "
        f"`await reset_streams(js, {name!r})`, then run this again (its messages are lost)."
    )
    have_storage = StorageType(enum_value(old.storage) or "file")
    if have_storage != wanted["storage"]:
        raise TopologyError(
            f"Stream {name!r} exists with storage={have_storage.value!r}; you asked for "
            f"storage={wanted['storage'].value!r}. The server cannot change the storage type "
            f"of a stream. Fix: {fix}",
            field="storage",
        )
    have_ret = RetentionPolicy(enum_value(old.retention) or "limits")
    want_ret = wanted["retention"]
    if have_ret != want_ret and RetentionPolicy.WORK_QUEUE in (have_ret, want_ret):
        raise TopologyError(
            f"Stream {name!r} exists with retention={have_ret.value!r}; you asked for "
            f"retention={want_ret.value!r}. The server cannot change retention to or from "
            f"'workqueue' (limits <-> interest is allowed). Fix: {fix}",
            field="retention",
        )


async def _stream_error(
    js: JetStreamContext, exc: APIError, what: str, subjects: Sequence[str]
) -> TopologyError:
    if exc.err_code == 10065:
        owners = set()
        for subject in subjects:
            try:
                owners.add(await js.find_stream_name_by_subject(subject))
            except (APIError, NotFoundError):
                continue
        if owners:
            other = sorted(owners)[0]
            return TopologyError(
                f"The server refused {what}: its subjects {list(subjects)} overlap with those of "
                f"stream {other!r} (error 10065); a subject can belong to one stream only. "
                f"Fix: choose other subjects, or delete {other!r} with "
                f"`await reset_streams(js, {other!r})`.",
                field="subjects",
                err_code=10065,
            )
    return _translate(exc, what, subjects=subjects)


async def reset_streams(js: JetStreamContext, *names: str) -> list[str]:
    """Delete the named streams (and their consumers) if they exist; return those deleted.

    Lessons call it at the top so any notebook runs again from the start on a shared server.
    A name that does not exist is skipped, not an error.
    """
    check_js(js)
    for name in names:
        validate_name(name, "stream name")
    deleted: list[str] = []
    for name in names:
        try:
            await js.delete_stream(name)
        except NotFoundError:
            continue
        deleted.append(name)
    return deleted


#: Consumers per answer to a consumer-list request (the server's page size).
CONSUMER_PAGE = 256


async def consumers_of(
    js: JetStreamContext, stream: str, *, missing_ok: bool = False
) -> dict[str, ConsumerInfo]:
    """Every consumer of ``stream`` by name, from one consumer-list request per 256 consumers.

    A missing stream raises nats-py's ``NotFoundError``, or with ``missing_ok`` gives ``{}``.
    """
    found: dict[str, ConsumerInfo] = {}
    while True:
        try:
            page = await js.consumers_info(stream, offset=len(found) or None)
        except NotFoundError:
            if missing_ok and not found:
                return {}
            raise
        found.update((info.name, info) for info in page)
        if len(page) < CONSUMER_PAGE:
            return found


# --------------------------------------------------------------------------- consumers


async def ensure_consumer(
    js: JetStreamContext,
    stream: str,
    durable: str,
    *,
    filter_subject: str | None = None,
    filter_subjects: Sequence[str] | None = None,
    deliver_policy: str | DeliverPolicy = "all",
    opt_start_seq: int | None = None,
    opt_start_time: dt.datetime | None = None,
    ack_wait: float | dt.timedelta | None = None,
    max_ack_pending: int | None = None,
    max_deliver: int | None = None,
    inactive_threshold: float | dt.timedelta | None = None,
    replay_policy: str | ReplayPolicy | None = None,
    **extra: Any,
) -> ConsumerInfo:
    """Create durable pull consumer ``durable`` on ``stream`` (explicit ack) or update it.

    Returns the server's ``ConsumerInfo``. Same arguments again: nothing changes. Updatable
    settings (filters, ack_wait, max_ack_pending, max_deliver, inactive_threshold, ...) are
    applied; those the server fixes at creation (deliver_policy, opt_start_seq, opt_start_time,
    replay_policy, ack_policy) raise :class:`TopologyError` naming the field, both values and
    the fix. Like ``ensure_stream``, the keyword arguments describe the whole consumer; other
    ``ConsumerConfig`` fields go in ``**extra``.

    Checked before the server is asked: names; positive durations; filter_subject and
    filter_subjects both set (server error 10136); overlapping filter_subjects (10138);
    filters that no subject of the stream can match; deliver_policy vs opt_start_*.
    """
    check_js(js)
    validate_name(stream, "stream name")
    validate_name(durable, "durable name")
    for key, why in _CONSUMER_RESERVED.items():
        if key in extra:
            raise TopologyError(f"{key} cannot be set here. Fix: {why}.", field=key)

    if filter_subject is not None and filter_subjects is not None:
        raise TopologyError(
            "filter_subject and filter_subjects are both set; a consumer takes one or the other "
            "(the server would answer error 10136). Fix: put every subject in filter_subjects="
            f"[{filter_subject!r}, ...], or keep only filter_subject.",
            field="filter_subjects",
            err_code=10136,
        )
    filters: list[str] = []
    if filter_subject is not None:
        filters = [validate_subject(filter_subject, "filter_subject")]
    elif filter_subjects is not None:
        if isinstance(filter_subjects, str):
            raise TopologyError(
                f"filter_subjects must be a list of subjects, got the string "
                f"{filter_subjects!r}. Fix: filter_subjects=[{filter_subjects!r}] or "
                f"filter_subject={filter_subjects!r}.",
                field="filter_subjects",
            )
        filters = _subject_list(filter_subjects, "filter_subjects")
        if not filters:
            raise TopologyError(
                "filter_subjects is an empty list. Fix: list at least one subject, or leave it "
                "out (None) to receive every subject of the stream.",
                field="filter_subjects",
            )
        _check_no_overlap(
            filters,
            "filter_subjects",
            10138,
            "drop the narrower filter (the wider one already covers it), e.g. keep "
            "'events.user.>' rather than also listing 'events.user.signed_up'.",
            containment=True,
        )

    policy = _choice(deliver_policy, DeliverPolicy, "deliver_policy")
    _check_start(policy, opt_start_seq, opt_start_time)
    wanted: dict[str, Any] = {
        "filter_subject": filter_subject,
        "filter_subjects": list(filters) if filter_subjects is not None else None,
        "deliver_policy": policy,
        "opt_start_seq": opt_start_seq,
        "opt_start_time": opt_start_time,
        "ack_policy": AckPolicy.EXPLICIT,
        "ack_wait": _ack_wait(ack_wait),
        "max_ack_pending": _count(max_ack_pending, "max_ack_pending", "1000"),
        "max_deliver": _count(max_deliver, "max_deliver", "5"),
        "inactive_threshold": _seconds(inactive_threshold, "inactive_threshold", "3600"),
        "replay_policy": _choice(replay_policy or "instant", ReplayPolicy, "replay_policy"),
    }
    _check_extra(extra, ConsumerConfig, set(wanted) - {"ack_policy"})
    if "ack_policy" in extra:
        wanted["ack_policy"] = _choice(extra.pop("ack_policy"), AckPolicy, "ack_policy")

    try:
        stream_info = await js.stream_info(stream)
    except NotFoundError:
        raise TopologyError(
            f"Stream {stream!r} does not exist, so consumer {durable!r} cannot be made on it. "
            f"Fix: create it first, e.g. `await ensure_stream(js, {stream!r}, 'events.>')`.",
            field="stream",
        ) from None
    _check_filters_match(
        stream,
        stream_info.config.subjects or [],
        filters,
        "filter_subject" if filter_subject is not None else "filter_subjects",
    )

    try:
        current: ConsumerInfo | None = await js.consumer_info(stream, durable)
    except NotFoundError:
        current = None

    what = f"consumer {durable!r} on stream {stream!r}"
    if current is None:
        config = ConsumerConfig(durable_name=durable, **wanted, **extra)
        try:
            return await js.add_consumer(stream, config)
        except APIError as exc:
            raise _translate(exc, f"to create {what}") from exc

    _check_consumer_fixed(stream, durable, current.config, wanted)
    config = current.config.evolve(**wanted, **extra)
    try:
        return await js.add_consumer(stream, config)
    except APIError as exc:
        field = None
        desc = exc.description or ""
        for key in _CONSUMER_FIXED:
            if key.replace("_", " ").replace("opt ", "") in desc:
                field = key
        raise _translate(exc, f"to update {what}", field) from exc


def _ack_wait(value: object) -> float | None:
    seconds = _seconds(value, "ack_wait", "30")
    if seconds is not None and seconds < MIN_ACK_WAIT:
        raise TopologyError(
            f"ack_wait={value!r} is shorter than {MIN_ACK_WAIT:g} s: ack_wait is how long the "
            "server waits for an ack before it delivers the message again, so every message "
            "would be redelivered before a worker could ack it, over and over. Fix: "
            "ack_wait=30 (the server's default), or ack_wait=1 to see redelivery quickly.",
            field="ack_wait",
        )
    return seconds


def _check_start(policy: DeliverPolicy, seq: int | None, when: dt.datetime | None) -> None:
    if policy is DeliverPolicy.BY_START_SEQUENCE:
        if seq is None:
            raise TopologyError(
                "deliver_policy='by_start_sequence' needs opt_start_seq (server error 10094). "
                "Fix: add opt_start_seq=<first stream sequence to deliver>, e.g. 5.",
                field="opt_start_seq",
                err_code=10094,
            )
    elif seq is not None:
        raise TopologyError(
            f"opt_start_seq={seq!r} is only used with deliver_policy='by_start_sequence', but "
            f"deliver_policy is {policy.value!r} (server error 10094). Fix: pass "
            "deliver_policy='by_start_sequence' too, or drop opt_start_seq.",
            field="opt_start_seq",
            err_code=10094,
        )
    if seq is not None and (not isinstance(seq, int) or isinstance(seq, bool) or seq < 1):
        raise TopologyError(
            f"opt_start_seq must be a stream sequence >= 1, got {seq!r}. Fix: e.g. "
            "opt_start_seq=5 (msg.metadata.sequence.stream tells you a message's sequence).",
            field="opt_start_seq",
        )
    if policy is DeliverPolicy.BY_START_TIME:
        if when is None:
            raise TopologyError(
                "deliver_policy='by_start_time' needs opt_start_time (server error 10094). "
                "Fix: add opt_start_time=datetime.now(timezone.utc) - timedelta(minutes=5).",
                field="opt_start_time",
                err_code=10094,
            )
    elif when is not None:
        raise TopologyError(
            f"opt_start_time is only used with deliver_policy='by_start_time', but "
            f"deliver_policy is {policy.value!r} (server error 10094). Fix: pass "
            "deliver_policy='by_start_time' too, or drop opt_start_time.",
            field="opt_start_time",
            err_code=10094,
        )
    if when is not None and (not isinstance(when, dt.datetime) or when.tzinfo is None):
        raise TopologyError(
            f"opt_start_time must be a timezone-aware datetime, got {when!r}. Fix: e.g. "
            "datetime.now(timezone.utc) - timedelta(minutes=5), or msg.metadata.timestamp.",
            field="opt_start_time",
        )


def _check_filters_match(
    stream: str, stream_subjects: Sequence[str], filters: Sequence[str], field: str
) -> None:
    for f in filters:
        if stream_subjects and not any(subjects_overlap(f, s) for s in stream_subjects):
            raise TopologyError(
                f"{field}: {f!r} can never match, because stream {stream!r} only stores "
                f"{list(stream_subjects)}; the consumer would wait forever. Fix: filter inside "
                f"those subjects, e.g. {stream_subjects[0]!r}, or add {f!r} to the stream's "
                "subjects with ensure_stream.",
                field=field,
            )


_POSITION = ("deliver_policy", "opt_start_seq", "opt_start_time")
_RESETTABLE = ("all", "by_start_sequence", "by_start_time")
"""Where a consumer starts, and the deliver policies whose position js.reset_consumer moves."""


def _check_consumer_fixed(
    stream: str, durable: str, old: ConsumerConfig, wanted: Mapping[str, Any]
) -> None:
    defaults: dict[str, Any] = {
        "deliver_policy": "all",
        "ack_policy": "explicit",
        "replay_policy": "instant",
        "opt_start_seq": None,
        "opt_start_time": None,
    }
    for key in _CONSUMER_FIXED:
        have = enum_value(getattr(old, key)) or defaults[key]
        want = enum_value(wanted[key]) or defaults[key]
        if key == "opt_start_time" and have and want:
            same = abs((have - want).total_seconds()) < 1e-6
        else:
            same = have == want
        if same:
            continue
        move = ""
        policy = enum_value(old.deliver_policy) or "all"
        if key in _POSITION and policy in _RESETTABLE:
            # Since 2.14 the position can move while the config stays (deliver new or last
            # refuse a reset, 10204).
            move = (
                " To move only its position and keep its config: "
                f"`await js.reset_consumer({stream!r}, {durable!r}, seq)` (nats-server 2.14+)."
            )
        raise TopologyError(
            f"Consumer {durable!r} on stream {stream!r} exists with {key}={have!r}; you asked "
            f"for {key}={want!r}. The server fixes {key} when a consumer is created and refuses "
            f"to change it (error 10012). Fix: delete the consumer with "
            f"`await js.delete_consumer({stream!r}, {durable!r})` and run this again (it starts "
            f"over from the new position), or use a new durable name.{move}",
            field=key,
            err_code=10012,
        )
