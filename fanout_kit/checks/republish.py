"""Checks for lesson 05, republish for lightweight subscribers."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import APIError, NotFoundError

from ..connect import client_of
from ..errors import FanoutKitError
from ..subjects import subject_matches
from ..topology import TopologyError, reset_streams, validate_subject
from ..waiting import WaitTimeout, wait_for
from . import (
    CheckResult,
    LearnerFailed,
    call_learner,
    correct,
    exercise,
    no_stream,
    where,
    wrong,
)

__all__ = ["STREAM", "TRAFFIC", "expected_alert", "temp_alerts"]

STREAM = "SENSOR_DATA"
#: What the check publishes once the learner's stream exists. It ends with a temperature, so
#: the republish of the last message tells the check that every earlier one has arrived.
TRAFFIC = (
    ("sensors.dev-01.temp", b'{"device":"dev-01","metric":"temp","value":21.4}'),
    ("sensors.dev-02.humidity", b'{"device":"dev-02","metric":"humidity","value":61.0}'),
    ("sensors.dev-03.temp", b'{"device":"dev-03","metric":"temp","value":18.9}'),
    ("sensors.dev-04.humidity", b'{"device":"dev-04","metric":"humidity","value":44.5}'),
    ("sensors.dev-02.temp", b'{"device":"dev-02","metric":"temp","value":23.1}'),
)
SOLUTION = "RePublish(src='sensors.*.temp', dest='alerts.temp.{{wildcard(1)}}')"
WAIT = 2.0  # seconds to wait for republished messages that may never come
_TRANSFORM = re.compile(r"transform from '(.*)' to '(.*)' not valid")


def expected_alert(subject: str) -> str | None:
    """Where a reading must be republished: ``sensors.dev-01.temp`` -> ``alerts.temp.dev-01``;
    None for a reading that must not be republished (humidity)."""
    _, device, metric = subject.split(".")
    return f"alerts.temp.{device}" if metric == "temp" else None


MAPPING_CONCEPT = (
    "A republish destination is a subject mapping built only from what the source's wildcards "
    "matched: a '>' for a '>' in the source, and for its '*' tokens {{wildcard(n)}} (or $n) "
    "or another mapping function such as {{partition(4,1)}}; every other token is literal."
)
FIX = f"`republish={SOLUTION}` in the StreamConfig"


def _refused(exc: APIError) -> CheckResult:
    desc = exc.description or str(exc)
    code = exc.err_code
    said = f"The server refused your stream: {desc} (error {code}){where(exc)}."
    found = _TRANSFORM.search(desc)
    src, dest = found.groups() if found else ("", "")
    if "{{subject}}" in dest:
        return wrong(
            said + " The server knows no {{subject}} function (it is the reference doc's mistake).",
            MAPPING_CONCEPT,
            FIX + ".",
        )
    if dest.split(".")[-1] == ">" and ">" not in src.split("."):
        return wrong(
            said + f" A '>' in the destination is filled with what the source's '>' matched, "
            f"but your source {src!r} has no '>'.",
            MAPPING_CONCEPT,
            f"Refer to the source's '*' (the device) as {{{{wildcard(1)}}}}: {FIX}.",
        )
    if "*" in dest.split("."):
        return wrong(
            said + " A destination cannot contain '*': every token must be a literal or a "
            "mapping function.",
            MAPPING_CONCEPT,
            f"Refer to the source's first '*' (the device) as {{{{wildcard(1)}}}}: {FIX}.",
        )
    if "cycle" in desc:
        return wrong(
            said + " Your destination lies inside the stream's own subjects ('sensors.>'): "
            "each republished message would be stored and republished again, forever.",
            "Republish outside the stream's subjects, to 'alerts.temp.<device>'.",
            FIX + ".",
        )
    if found:
        return wrong(said, MAPPING_CONCEPT, FIX + ".")
    return wrong(
        said,
        "Read the message: it names what it does not accept.",
        f"`await js.add_stream(StreamConfig(name={STREAM!r}, subjects=['sensors.>'], "
        f"republish={SOLUTION}))`",
    )


async def _owner(js: JetStreamContext) -> str | None:
    try:
        return await js.find_stream_name_by_subject(TRAFFIC[0][0])
    except (APIError, NotFoundError):
        return None


def _spy_subject(dest: str) -> str:
    """A subscription that sees everything republished to ``dest``: its literal first token
    and all below it (``alerts.temp.{{wildcard(1)}}`` -> ``alerts.>``), else everything."""
    tokens = dest.split(".")
    if "{{" in tokens[0] or "$" in tokens[0] or tokens[0] in ("*", ">"):
        return ">"
    return dest if len(tokens) == 1 else f"{tokens[0]}.>"


async def _wait(pred: Callable[[], bool], timeout: float = WAIT) -> None:
    """Until ``pred()`` or ``timeout``: the check then judges what has arrived."""
    with contextlib.suppress(WaitTimeout):
        await wait_for(pred, timeout, "the republished messages")


def _header(msg: Msg, name: str) -> str:
    return (msg.headers or {}).get(name, "")


def _config_hint(config: Any) -> CheckResult | None:
    subjects = list(config.subjects or [])
    unstored = [s for s, _ in TRAFFIC if not any(subject_matches(s, p) for p in subjects)]
    if unstored:
        return wrong(
            f"{STREAM} stores only {subjects}, so a reading such as {unstored[0]!r} has no "
            "stream at all: its publish fails and nobody can ever replay it.",
            "The stream keeps every reading; only the republish picks the temperatures.",
            "`subjects=['sensors.>']`",
        )
    if config.republish is None:
        return wrong(
            f"{STREAM} has no republish, so nothing reaches subscribers outside JetStream.",
            "A stream's republish (RePublish(src=..., dest=...)) sends a copy of each stored "
            "message that matches src to a core NATS subject.",
            FIX + ".",
        )
    return None


def _learner_subject(value: Any) -> CheckResult | str:
    if not isinstance(value, str):
        return wrong(
            f"Your function returned {value!r:.80}; the check expects the subject a "
            "lightweight alert subscriber passes to `nc.subscribe(...)` to get the alerts of "
            "every device (a string).",
            "One subject with a wildcard in the device's place matches every device.",
            '`return "alerts.temp.*"`',
        )
    try:
        validate_subject(value, "the subject you returned")
    except TopologyError as exc:
        return wrong(str(exc))
    return value


@exercise(
    "replace `raise NotImplementedError` with an `await js.add_stream(...)` call creating "
    f"{STREAM} with a republish for the temperature alerts, and return the subject an "
    "alert subscriber uses."
)
async def temp_alerts(js: JetStreamContext, learner: Callable[..., Any]) -> CheckResult:
    """Exercise: ``learner(js)`` creates SENSOR_DATA on ``sensors.>`` that republishes the
    temperature readings, and only those, with their payload to ``alerts.temp.<device>``, and
    returns the subject an alert subscriber uses.

    The check deletes SENSOR_DATA, calls the learner, reads the stream's real config, then
    subscribes with core NATS (a spy on every republished message of SENSOR_DATA and a
    subscriber on the learner's subject), publishes a known mix of readings and compares what
    arrived, where, and with which payload.
    """
    await reset_streams(js, STREAM)
    try:
        returned = await call_learner(learner, js)
    except LearnerFailed as failure:
        exc = failure.exc
        if isinstance(exc, NotFoundError):
            return wrong(
                f"The server answered 'not found' ({exc.description}){where(exc)}: the check "
                f"deletes {STREAM} before calling your function.",
                "`update_stream` only changes a stream that exists; `add_stream` creates one.",
                "`await js.add_stream(StreamConfig(...))`",
            )
        if isinstance(exc, APIError) and exc.err_code == 10065:
            other = await _owner(js)
            return wrong(
                f"The server refused your stream: {exc.description} (error 10065){where(exc)}. "
                f"Another stream ({other or 'an older one'}) already stores 'sensors.>', and "
                f"a subject belongs to one stream only. Delete it with "
                f"`await js.delete_stream({other or 'NAME'!r})` and run the check again."
            )
        if isinstance(exc, APIError):
            return _refused(exc)
        if isinstance(exc, FanoutKitError):
            return wrong(f"Creating the stream failed: {exc}{where(exc)}.")
        raise
    try:
        info = await js.stream_info(STREAM)
    except NotFoundError:
        other = await _owner(js)
        made = f" (you created {other!r} on those subjects instead)" if other else ""
        fix = (
            f"`await js.add_stream(StreamConfig(name={STREAM!r}, subjects=['sensors.>'], "
            f"republish={SOLUTION}))`"
        )
        return no_stream(STREAM, fix, also=made)
    hint = _config_hint(info.config)
    if hint is not None:
        return hint
    sub_subject = _learner_subject(returned)
    if isinstance(sub_subject, CheckResult):
        return sub_subject
    republish = info.config.republish
    assert republish is not None  # _config_hint said so
    src, dest = republish.src or ">", republish.dest or ">"

    nc = client_of(js)
    republished: list[Msg] = []
    received: list[Msg] = []

    async def spy(msg: Msg) -> None:
        if (msg.headers or {}).get("Nats-Stream") == STREAM:
            republished.append(msg)

    async def subscriber(msg: Msg) -> None:
        received.append(msg)

    subs = [
        await nc.subscribe(_spy_subject(dest), cb=spy),
        await nc.subscribe(sub_subject, cb=subscriber),
    ]
    try:
        await nc.flush()
        seqs = [(await js.publish(subject, data)).seq for subject, data in TRAFFIC]
        last = str(seqs[-1])
        await _wait(lambda: any(_header(m, "Nats-Sequence") == last for m in republished))
        ours = [m for m in republished if int(_header(m, "Nats-Sequence") or 0) in seqs]
        arrivals = [(_header(m, "Nats-Subject"), m.subject, m) for m in ours]
        reach = sum(subject_matches(m.subject, sub_subject) for m in ours)
        await _wait(
            lambda: sum((m.headers or {}).get("Nats-Stream") == STREAM for m in received) >= reach
        )
        await nc.flush()
    finally:
        for sub in subs:
            await sub.unsubscribe()

    payloads = dict(TRAFFIC)
    if not arrivals:
        return wrong(
            f"Nothing was republished: your source {src!r} matches none of the readings the "
            f"check published ({', '.join(s for s, _ in TRAFFIC[:2])}, ...). The server "
            "accepts a source that matches nothing without a word.",
            "The temperature readings are 'sensors.<device>.temp': the source must match "
            "that shape for every device.",
            FIX + ".",
        )
    extra = [(o, s) for o, s, _ in arrivals if expected_alert(o) is None]
    if extra:
        origin, subject = extra[0]
        return wrong(
            f"Humidity readings are republished too ({origin!r} arrived on {subject!r}): "
            f"your source {src!r} matches more than the temperatures.",
            "A literal token in the source matches only itself: make the last token select "
            "the temperatures.",
            "`src='sensors.*.temp'`",
        )
    wanted = [s for s, _ in TRAFFIC if expected_alert(s)]
    missing = [s for s in wanted if s not in {o for o, _, _ in arrivals}]
    if missing:
        return wrong(
            f"{missing[0]!r} was not republished: your source {src!r} misses some "
            "temperature readings.",
            "A '*' in the device's place matches every device.",
            "`src='sensors.*.temp'`",
        )
    for origin, subject, _ in arrivals:
        if subject != expected_alert(origin):
            return wrong(
                f"{origin!r} arrived on {subject!r}, but alerts belong on "
                f"{expected_alert(origin)!r}.",
                MAPPING_CONCEPT,
                "`dest='alerts.temp.{{wildcard(1)}}'`",
            )
    for origin, _, msg in arrivals:
        if msg.data != payloads[origin]:
            size = (msg.headers or {}).get("Nats-Msg-Size")
            if not msg.data and size is not None:
                return wrong(
                    f"The alerts arrive without their reading: an empty payload and a "
                    f"Nats-Msg-Size: {size} header.",
                    "That is headers_only=True, right for a 'something changed' ping, but an "
                    "alert must say how hot it is.",
                    "Drop headers_only (leave it None).",
                )
            return wrong(
                f"The alert for {origin!r} carries {msg.data!r}, not the published reading "
                f"{payloads[origin]!r}.",
                "A republish sends the stored message as it is, payload and all.",
                FIX + ".",
            )
    got = [m.subject for m in received]
    alerts = [expected_alert(o) or o for o, _, _ in arrivals]
    missed = [a for a in alerts if a not in got]
    if missed:
        return wrong(
            f"The alerts arrive on {', '.join(repr(a) for a in alerts)}, but a subscriber "
            f"on your subject {sub_subject!r} gets {len(alerts) - len(missed)} of them "
            f"(it misses {missed[0]!r}).",
            "Return a subject that matches 'alerts.temp.<device>' for every device.",
            "`return 'alerts.temp.*'`",
        )
    # Readings first: inbox and API traffic would only bury the point.
    strays = sorted({s for s in got if s not in alerts}, key=lambda s: (s[0] in "_$", s))
    if strays:
        return wrong(
            f"A subscriber on {sub_subject!r} gets the alerts but also {strays[:3]}: "
            "it is not a lightweight alert subscriber any more.",
            "Return a subject that matches only 'alerts.temp.<device>'.",
            "`return 'alerts.temp.*'`",
        )
    return correct(
        f"{STREAM} stores every reading and republishes only the temperatures: "
        f"{len(alerts)} alerts ({', '.join(alerts)}) with their readings reached a core "
        f"NATS subscriber on {sub_subject!r}, the {len(TRAFFIC) - len(alerts)} humidity "
        "readings stayed in the stream, and no consumer was needed."
    )
