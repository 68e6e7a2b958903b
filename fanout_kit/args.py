"""Input checks shared by the experiment helpers: one error type, one wording.

Every message names the parameter, the value given and what fits, and the check runs before
anything is started or sent, so a typo never leaves half an experiment behind.
"""

from __future__ import annotations

import math

from .errors import FanoutKitError

__all__ = ["BadArgument", "check_count", "check_seconds", "check_text"]


class BadArgument(FanoutKitError, ValueError, TypeError):
    """A parameter's value does not fit. Both ``ValueError`` and ``TypeError`` catch it.

    ``parameter`` is the parameter's name and ``value`` what was given.
    """

    def __init__(self, parameter: str, value: object, fits: str) -> None:
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"{parameter}={shown} does not fit: {fits}.")
        self.parameter = parameter
        self.value = value


def check_seconds(parameter: str, value: object, *, example: str, zero: bool = False) -> float:
    """``value`` as positive (or, with ``zero``, non-negative) finite seconds."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not zero):  # type: ignore[operator]
        least = "0 or more" if zero else "more than 0"
        raise BadArgument(parameter, value, f"a number of seconds, {least}, e.g. {example}")
    return float(value)  # type: ignore[arg-type]


def check_count(parameter: str, value: object, *, example: str, least: int = 1) -> int:
    """``value`` as a whole number of at least ``least``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise BadArgument(parameter, value, f"a whole number, {least} or more, e.g. {example}")
    return value


def check_text(parameter: str, value: object, *, example: str) -> str:
    """``value`` as a non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise BadArgument(parameter, value, f"a non-empty string, e.g. {example}")
    return value
