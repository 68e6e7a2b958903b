"""Checks for lesson 00, the welcome."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from . import CheckResult, Verdict, call_learner, correct, exercise, wrong

__all__ = ["publish_three"]

STREAM = "WELCOME"


@exercise("replace `raise NotImplementedError` with three `await js.publish(...)` calls.")
async def publish_three(js: JetStreamContext, learner: Callable[..., Any]) -> CheckResult:
    """Exercise: publish ``welcome.a``, ``welcome.b``, ``welcome.c`` and return the PubAcks."""
    try:
        before = (await js.stream_info(STREAM)).state.last_seq
    except NotFoundError:
        raise Verdict(
            wrong(
                f"There is no {STREAM} stream. Run the lesson's cells above first (one of them "
                f"creates {STREAM}): after a kernel restart, Run > Run All Above Selected Cell."
            )
        ) from None
    acks = await call_learner(learner, js)
    if not isinstance(acks, list | tuple) or len(acks) != 3:
        shown = repr(acks)
        if isinstance(acks, list | tuple):
            shown = f"a {type(acks).__name__} of {len(acks)}"
        return wrong(
            f"Your function returned {shown:.80}; the check expects the three PubAcks, one per "
            "publish, in a list.",
            "`await js.publish(...)` returns a PubAck (the stream's receipt: stream name and "
            "sequence). Keep each one and return them together.",
            "`return [ack_a, ack_b, ack_c]`, where each is the result of `await js.publish(...)`.",
        )
    seqs = [getattr(a, "seq", None) for a in acks]
    if any(not isinstance(s, int) for s in seqs):
        return wrong(
            f"The items you returned are not PubAcks "
            f"({', '.join(type(a).__name__ for a in acks)}): nothing says the stream stored them.",
            "Only a JetStream publish is stored and acknowledged: `js.publish` returns a PubAck "
            "once awaited; core `nc.publish` returns None and a coroutine not awaited is not "
            "sent at all.",
            '`ack_a = await js.publish("welcome.a", b"...")` (with `await`, on `js`), and the '
            "same for b and c.",
        )
    if seqs != list(range(before + 1, before + 4)):
        return wrong(
            f"The PubAck sequences were {seqs}; the check expected three in a row right after "
            f"{before}, the stream's last sequence before your function ran.",
            "Each publish to a subject the stream captures takes the next sequence. Publish "
            "exactly three messages in your function, nothing in between.",
        )
    subjects = [(await js.get_msg(STREAM, seq)).subject for seq in seqs]
    if subjects != ["welcome.a", "welcome.b", "welcome.c"]:
        return wrong(
            f"The stream stored subjects {subjects}; the exercise asks for welcome.a, "
            "welcome.b and welcome.c, in that order.",
            "The first argument of `js.publish` is the subject; the stream stores each "
            "message under it, in publish order.",
        )
    return correct(f"3 messages stored in WELCOME at sequences {seqs[0]}..{seqs[-1]}.")
