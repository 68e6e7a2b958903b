"""Exercise checkers: one module per lesson, each check a coroutine returning a CheckResult.

A check inspects the real server (streams, consumers, messages) or calls the learner's
function. The stub a lesson ships raises ``NotImplementedError``; a check reports that as
"not attempted" rather than as a failure. A wrong answer gets a specific hint.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "CheckResult",
    "NotAttempted",
    "call_learner",
    "correct",
    "enum_value",
    "guarded",
    "not_attempted",
    "wrong",
]

Status = Literal["not attempted", "wrong", "correct"]
_ICONS: dict[Status, str] = {"not attempted": "⏳", "wrong": "❌", "correct": "✅"}


@dataclass(frozen=True)
class CheckResult:
    """The verdict of one check. Its repr is stable: notebooks commit it as output."""

    status: Status
    message: str

    @property
    def ok(self) -> bool:
        return self.status == "correct"

    def __repr__(self) -> str:
        label = self.status.capitalize()
        return f"{_ICONS[self.status]} {label}: {self.message}"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return self.ok


def correct(message: str) -> CheckResult:
    return CheckResult("correct", message)


def wrong(hint: str) -> CheckResult:
    return CheckResult("wrong", hint)


def not_attempted(what: str) -> CheckResult:
    return CheckResult("not attempted", what)


def enum_value(value: Any) -> Any:
    """A config field as a plain value: nats-py gives enums in some places, strings in others."""
    return getattr(value, "value", value)


class NotAttempted(Exception):
    """Raised by :func:`call_learner` when the learner's stub is still a stub."""


async def call_learner(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the learner's function (sync or async); a stub's NotImplementedError becomes
    :class:`NotAttempted`, so checks can tell "not yet" from "wrong"."""
    try:
        result = fn(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
    except NotImplementedError as exc:
        raise NotAttempted(str(exc)) from exc
    return result


async def guarded(check: Callable[[], Awaitable[CheckResult]], stub_message: str) -> CheckResult:
    """Run ``check``; a :class:`NotAttempted` from the learner's stub gives ``stub_message``."""
    try:
        return await check()
    except NotAttempted:
        return not_attempted(stub_message)
