"""Checks for lesson 04, real-time and replay."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from nats.js import JetStreamContext

from ..topology import enum_value
from . import (
    CheckResult,
    consume,
    correct,
    exercise,
    fresh_consumer,
    learner_consumer,
    push_consumer_hint,
    run_setup,
    wrong,
)

__all__ = ["LATE_REPORT", "STREAM", "late_report"]

STREAM = "EVENTS"
LATE_REPORT = "late-report"
AFTER = 3  # events the check publishes after `since`
SOLUTION = (
    'ConsumerConfig(durable_name="late-report", deliver_policy=DeliverPolicy.BY_START_TIME, '
    "opt_start_time=since)"
)
FIX = f"`await js.add_consumer({STREAM!r}, {SOLUTION})`"
START_CONCEPT = (
    "The deliver policy decides where a new consumer starts: all (the first message), new "
    "(after its creation), by_start_sequence, or by_start_time with opt_start_time (the first "
    "message stored at or after that moment)."
)
START_FIX = "`deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=since`"


def _config_hint(config: Any, since: dt.datetime) -> CheckResult | None:
    if config.deliver_subject:
        return push_consumer_hint(LATE_REPORT, STREAM, config.deliver_subject)
    if not config.durable_name:
        return wrong(
            f"{LATE_REPORT!r} is ephemeral (it has a name but no durable_name): the server "
            f"deletes it {config.inactive_threshold or 5:g} s after its last client goes away, "
            "and with it the report's position.",
            "A consumer survives its clients only with a durable name.",
            f"`durable_name={LATE_REPORT!r}`",
        )
    policy = enum_value(config.deliver_policy) or "all"
    if policy == "all":
        return wrong(
            f"{LATE_REPORT!r} has deliver_policy='all', so it starts at the first message in "
            "the stream, long before `since`.",
            START_CONCEPT,
            START_FIX,
        )
    if policy == "new":
        return wrong(
            f"{LATE_REPORT!r} has deliver_policy='new': it only gets messages published after "
            "the consumer was created, which is not the same moment as `since` (and could not "
            "look back at all if `since` were an hour ago).",
            START_CONCEPT,
            START_FIX,
        )
    if policy != "by_start_time":
        return wrong(
            f"{LATE_REPORT!r} has deliver_policy={policy!r}; the report starts at a moment in "
            "time, not at a sequence.",
            START_CONCEPT,
            START_FIX,
        )
    start = config.opt_start_time
    if isinstance(start, str):
        start = dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
    if start is None or abs((start - since).total_seconds()) > 0.001:
        return wrong(
            f"{LATE_REPORT!r} starts at {start} but `since` was {since}.",
            "The check passes the moment to start at as the `since` argument: use it as it "
            "is (a new datetime.now() inside your function is later).",
            "`opt_start_time=since`",
        )
    replay = enum_value(config.replay_policy) or "instant"
    if replay != "instant":
        return wrong(
            f"{LATE_REPORT!r} has replay_policy={replay!r}: the server would hand out the "
            "events with the same gaps as when they were published, so a report over a day of "
            "traffic would take a day.",
            "The replay policy sets the pace of a replay: instant (as fast as the consumer "
            "pulls) or original (the publish timing).",
            "`replay_policy=ReplayPolicy.INSTANT` (the default: leave it out).",
        )
    return None


@exercise(
    "replace `raise NotImplementedError` with an `await js.add_consumer(...)` call "
    f"creating the durable {LATE_REPORT!r} that starts at `since`."
)
async def late_report(js: JetStreamContext, learner: Callable[..., Any]) -> CheckResult:
    """Exercise: ``learner(js, since)`` creates the durable ``late-report`` on EVENTS that
    starts at the first message published at or after ``since`` and replays instantly.

    The check deletes ``late-report``, makes sure the stream holds a message from before, takes
    ``since`` = now, calls the learner, reads the consumer's real config, publishes three events
    and consumes ``late-report`` (acking) to prove it gets exactly those three.
    """
    state = (await fresh_consumer(js, STREAM, LATE_REPORT)).state
    if not state.messages:
        await js.publish("events.report.before", b'{"type": "check"}')
    before = (await js.stream_info(STREAM)).state.messages
    since = dt.datetime.now(dt.UTC)
    hint = await run_setup(
        learner,
        js,
        since,
        what="your consumer",
        fix=FIX,
        failed="Creating the consumer failed",
    )
    if hint is not None:
        return hint
    info = await learner_consumer(js, STREAM, LATE_REPORT, FIX)
    hint = _config_hint(info.config, since)
    if hint is not None:
        return hint

    acks = [
        await js.publish(f"events.report.after{i}", b'{"type": "check"}')
        for i in range(1, AFTER + 1)
    ]
    wanted = [a.seq for a in acks]
    msgs = await consume(js, STREAM, LATE_REPORT, AFTER, batch=AFTER + 10)
    got = [msg.metadata.sequence.stream for msg in msgs]
    if got != wanted:
        return wrong(
            f"late-report delivered stream sequences {got}; the check expected only the "
            f"{AFTER} published after `since`: {wanted}.",
            START_CONCEPT,
            "`opt_start_time=since`",
        )
    return correct(
        f"late-report is durable, starts at `since` and replays instantly: it delivered "
        f"the {AFTER} events published after `since` (seq {wanted[0]}..{wanted[-1]}) and "
        f"none of the {before} before."
    )
