"""Checks for lesson 01, streams and retention."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import APIError

from ..topology import enum_value, reset_streams
from . import (
    CheckResult,
    correct,
    exercise,
    learner_stream,
    run_setup,
    wrong,
)

__all__ = ["BOUNDED_STREAM", "BOUNDED_SUBJECTS", "bounded_stream"]

BOUNDED_STREAM = "BOUNDED"
BOUNDED_SUBJECTS = ["bounded.>"]
LIMIT = 100
LIMITS_CONCEPT = (
    "A stream's limits (max_msgs, max_bytes, max_age, max_msgs_per_subject) bound what it "
    "keeps; the discard policy decides what happens when one is reached: drop the oldest "
    "(old) or refuse the new message (new)."
)
STREAM_FIX = (
    f'`await js.add_stream(name="{BOUNDED_STREAM}", subjects=["bounded.>"], max_msgs={LIMIT}, '
    "discard=DiscardPolicy.NEW)`"
)


@exercise(
    "replace `raise NotImplementedError` with an `await js.add_stream(...)` call "
    f"creating {BOUNDED_STREAM}."
)
async def bounded_stream(js: JetStreamContext, learner: Callable[..., Any]) -> CheckResult:
    """Exercise: ``learner(js)`` creates stream BOUNDED on ``bounded.>`` that keeps at most
    100 messages and refuses new ones when full.

    The check deletes BOUNDED first (so the learner's ``add_stream`` always creates it), calls
    the learner, reads the real stream config, then purges the stream (the learner's function
    may have published into it) and publishes 101 messages to prove the 101st is refused.
    It leaves the stream in place for the learner to inspect.
    """
    await reset_streams(js, BOUNDED_STREAM)
    hint = await run_setup(
        learner,
        js,
        what="your stream",
        concept="Read the message: it names the field it does not accept.",
        fix=STREAM_FIX,
    )
    if hint is not None:
        return hint
    info = await learner_stream(js, BOUNDED_STREAM, STREAM_FIX)
    config = info.config
    if list(config.subjects or []) != BOUNDED_SUBJECTS:
        return wrong(
            f"Your stream captures subjects {config.subjects}; the exercise wants it to "
            f"capture everything below bounded., exactly {BOUNDED_SUBJECTS}.",
            '">" matches one or more tokens at the end of a subject: "bounded.>" captures '
            "bounded.check, bounded.a.b and so on.",
            '`subjects=["bounded.>"]`',
        )
    retention = enum_value(config.retention)
    if retention != "limits":
        return wrong(
            f"Your stream has retention={retention!r}: it removes messages once consumers "
            "have acked them, not only when a limit is reached.",
            "Retention decides why a message leaves: limits (only a limit removes it), "
            "interest or workqueue (acks remove it). This stream keeps messages until a "
            "limit says otherwise.",
            "`retention=RetentionPolicy.LIMITS` (the default: leave retention out).",
        )
    if config.max_msgs != LIMIT:
        if config.max_msgs_per_subject == LIMIT:
            return wrong(
                "You set max_msgs_per_subject=100: each subject may keep 100, so the stream "
                "as a whole could still grow without bound.",
                LIMITS_CONCEPT + " A per-subject limit counts each subject on its own.",
                f"`max_msgs={LIMIT}` (and leave max_msgs_per_subject out).",
            )
        if (config.max_msgs or -1) < 0 and (config.max_bytes or -1) > 0:
            return wrong(
                f"You limited bytes (max_bytes={config.max_bytes}), not messages: how many "
                "messages fit then depends on their size.",
                LIMITS_CONCEPT,
                f"`max_msgs={LIMIT}`",
            )
        shown = "no limit (-1)" if (config.max_msgs or -1) < 0 else config.max_msgs
        return wrong(
            f"Your stream's max_msgs is {shown}; the exercise wants it to keep at most "
            f"{LIMIT} messages.",
            LIMITS_CONCEPT,
            f"`max_msgs={LIMIT}`",
        )
    discard = enum_value(config.discard)
    if discard != "new":
        return wrong(
            f"Your stream has discard={discard!r}: when it is full it silently drops its OLDEST "
            "message to make room, so publishes never fail and first_seq moves on.",
            LIMITS_CONCEPT,
            "`discard=DiscardPolicy.NEW`",
        )
    # Start from an empty stream: a function that also published test messages into
    # BOUNDED would otherwise fill it before the check's own 100.
    await js.purge_stream(BOUNDED_STREAM)
    for i in range(LIMIT):
        try:
            await js.publish("bounded.check", str(i).encode())
        except APIError as exc:
            return wrong(
                f"After a purge, {BOUNDED_STREAM} refused message {i + 1} of {LIMIT}: "
                f"{exc.description} (error {exc.err_code}). It must accept {LIMIT} messages "
                "before refusing.",
                "Another limit you set is reached first: check max_bytes, "
                "max_msgs_per_subject and max_msg_size in the stream's config.",
                "Leave the other limits out: only max_msgs and discard are needed.",
            )
    try:
        await js.publish("bounded.check", b"one too many")
    except APIError as exc:
        state = (await js.stream_info(BOUNDED_STREAM)).state
        return correct(
            f"{BOUNDED_STREAM} kept {state.messages} messages (seq {state.first_seq}.."
            f"{state.last_seq}) and refused message {LIMIT + 1}: "
            f"{exc.description} (error {exc.err_code})."
        )
    return wrong(
        f"The stream accepted a message beyond {LIMIT}.",
        f"Look at its limits: `(await js.stream_info({BOUNDED_STREAM!r})).config`.",
        STREAM_FIX,
    )
