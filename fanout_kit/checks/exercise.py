"""The one way every check runs: deadline, stub, learner exceptions, hint ladder, progress.

Each lesson's check is a coroutine ``body(js, learner) -> CheckResult`` decorated with
:func:`exercise`. The decorator gives it the public signature
``await check(js, learner, *, reveal=False)`` and, around the body:

- a stub (``NotImplementedError``) gives "not attempted" with the lesson's own words;
- an exception or a timeout of the learner's function gives a wrong answer naming it and the
  line of their code (see :mod:`.learner`); a :class:`~.result.Verdict` ends the check early;
- the whole check has a deadline, and losing the server gives a result, not a traceback;
- a wrong answer shows the rung of its hint the learner has reached (from their recorded
  tries), and every result is recorded in the progress file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, Protocol

import nats.errors
from nats.js import JetStreamContext

from .. import progress
from .learner import (
    Explain,
    LearnerFailed,
    LearnerTimedOut,
    NotAttempted,
    learner_name,
    learner_raised,
)
from .result import CheckResult, Verdict, not_attempted, wrong

__all__ = ["CHECK_TIMEOUT", "Checker", "exercise"]

CHECK_TIMEOUT = 120.0
"""Seconds a whole check may take (the learner's calls have their own, shorter deadline)."""

Body = Callable[[JetStreamContext, Callable[..., Any]], Awaitable[CheckResult]]


class Checker(Protocol):
    """A lesson's check: ``await check(js, learner)``; ``reveal=True`` shows the fix."""

    __name__: str

    async def __call__(
        self, js: JetStreamContext, learner: Callable[..., Any], *, reveal: bool = False
    ) -> CheckResult: ...


async def _judge(
    body: Body,
    js: JetStreamContext,
    learner: Callable[..., Any],
    stub: str,
    explain: Explain | None,
) -> tuple[CheckResult, bool]:
    """The body's result, and whether it counts as a try (a lost server does not)."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT) as deadline:
            return await body(js, learner), True
    except NotAttempted:
        return not_attempted(stub), True
    except Verdict as verdict:
        return verdict.result, True
    except (LearnerFailed, LearnerTimedOut) as failure:
        return learner_raised(failure, explain), True
    except (
        nats.errors.ConnectionClosedError,
        nats.errors.NoServersError,
        nats.errors.StaleConnectionError,
    ) as exc:
        return (
            wrong(
                f"The check lost its connection to the server ({type(exc).__name__}). Run the "
                "lesson's setup cell that connects (`nc = await fanout_kit.connect()`) again, "
                "then this one."
            ),
            False,
        )
    except nats.errors.Error as exc:  # APIError too: the server refused the check's own request
        return (
            wrong(
                f"The check could not finish: the server answered its own request with "
                f"{type(exc).__name__} ({exc}). Run the lesson's setup cells again (Run > Run "
                "All Above Selected Cell), then this one."
            ),
            False,
        )
    except TimeoutError:
        if deadline.expired():
            said = f"The check did not finish within {CHECK_TIMEOUT:g} s."
        else:
            said = "The server did not answer one of the check's requests in time."
        return (
            wrong(f"{said} Is the server busy or gone? Run the check again in a moment."),
            False,
        )


def _ladder(key: str, result: CheckResult, counts: bool, reveal: bool, call: str) -> CheckResult:
    if result.status == "wrong":
        tries = progress.wrong_tries(key) if counts else 0
        rung = 3 if reveal else 2 if tries else 1
        result = replace(result, rung=max(rung, result.rung), reveal_call=call)
    if counts:
        try:
            progress.record(key, result.status, result.rung)
        except OSError:
            pass  # a read-only or full disk must not cost the learner their feedback
    return result


def exercise(stub: str, *, explain: Explain | None = None) -> Callable[[Body], Checker]:
    """Make ``body`` a lesson's check. ``stub`` is the "not attempted" text (what to replace
    the stub with); ``explain(exc)`` gives (concept, fix) for a learner's exception the
    exercise knows better than the generic hint, or None."""

    def decorate(body: Body) -> Checker:
        module = body.__module__.rsplit(".", 1)[-1]
        key = progress.exercise(f"{module}.{body.__name__}").key  # fails at import if unknown

        async def check(
            js: JetStreamContext,
            learner: Callable[..., Any],
            *,
            reveal: bool = False,
            record: bool = True,
        ) -> CheckResult:
            """``reveal=True`` shows the fix; ``record=False`` judges without counting a try
            (a lesson's demonstration of the check on code that is not the learner's)."""
            result, counts = await _judge(body, js, learner, stub, explain)
            counts = counts and record
            name = learner_name(learner).replace(" ", "_")
            call = f"await {module}.{body.__name__}(js, {name}, reveal=True)"
            return _ladder(key, result, counts, reveal, call)

        check.__name__ = body.__name__
        check.__qualname__ = body.__qualname__
        check.__doc__ = body.__doc__
        check.__module__ = body.__module__
        return check

    return decorate
