"""Checks for lesson 00, the welcome."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nats.js import JetStreamContext

from . import CheckResult, call_learner, correct, guarded, wrong

__all__ = ["publish_three"]


async def publish_three(js: JetStreamContext, learner: Callable[..., Any]) -> CheckResult:
    """Exercise: publish ``welcome.a``, ``welcome.b``, ``welcome.c`` and return the PubAcks."""

    async def check() -> CheckResult:
        before = (await js.stream_info("WELCOME")).state.last_seq
        acks = await call_learner(learner, js)
        if not isinstance(acks, list | tuple) or len(acks) != 3:
            return wrong(
                "Return the three PubAck objects in a list: `return [ack_a, ack_b, ack_c]` "
                "where each is the result of `await js.publish(...)`."
            )
        seqs = [getattr(a, "seq", None) for a in acks]
        if any(not isinstance(s, int) for s in seqs):
            return wrong(
                "Each item should be a PubAck from `await js.publish(...)`; did you forget "
                "`await`? (core `nc.publish` returns None and is not stored by JetStream.)"
            )
        if seqs != list(range(before + 1, before + 4)):
            return wrong(
                f"The PubAck sequences were {seqs}; expected three in a row after {before}."
            )
        subjects = []
        for seq in seqs:
            msg = await js.get_msg("WELCOME", seq)
            subjects.append(msg.subject)
        if subjects != ["welcome.a", "welcome.b", "welcome.c"]:
            return wrong(
                f"The stream stored subjects {subjects}; publish to welcome.a, welcome.b "
                "and welcome.c, in that order."
            )
        return correct(f"3 messages stored in WELCOME at sequences {seqs[0]}..{seqs[-1]}.")

    return await guarded(
        check, "replace `raise NotImplementedError` with three `await js.publish(...)` calls."
    )
