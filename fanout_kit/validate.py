"""Argument checks shared by the kit's public functions, and URL redaction.

Every public function checks what it is given before it starts or sends anything, and a
mistake reads the same everywhere: the parameter, the value given and what fits, e.g.
``timeout='2' is a str; it must be a number of seconds > 0. Fix: e.g. timeout=2.``
Wrong types raise :class:`~fanout_kit.errors.KitTypeError` (:func:`bad_type`), wrong values
:class:`~fanout_kit.errors.KitValueError` (:func:`bad_value`); both are a
:class:`~fanout_kit.errors.BadArgument`. Every ``example`` is code as it would follow
``param=``.

``redact_url`` shows a URL without its user info, so a password in ``NATS_URL`` never ends up
in a message, a log or a saved notebook output.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from urllib.parse import urlsplit

from nats.aio.client import Client
from nats.js import JetStreamContext

from .errors import KitTypeError, KitValueError

__all__ = [
    "bad_type",
    "bad_value",
    "check_bool",
    "check_client",
    "check_int",
    "check_js",
    "check_path",
    "check_seconds",
    "check_str",
    "describe",
    "redact_url",
    "scrub",
    "secrets_in",
]


def describe(value: object) -> str:
    """``value`` as a message shows it: its repr, shortened, with its type when unclear."""
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    if isinstance(value, str | int | float | bool | type(None) | list | tuple | dict):
        return text
    return f"{text} (a {type(value).__name__})"


def bad_type(param: str, value: object, fits: str, example: str) -> KitTypeError:
    """``param=<value> is a <type>; it must be <fits>. Fix: e.g. param=<example>.``"""
    return KitTypeError(
        f"{param}={describe(value)} is a {type(value).__name__}; it must be {fits}. "
        f"Fix: e.g. {param}={example}.",
        param=param,
    )


def bad_value(
    param: str, value: object, fits: str, example: str, *, why: str = "does not fit"
) -> KitValueError:
    """``param=<value> <why>; it must be <fits>. Fix: e.g. param=<example>.``"""
    return KitValueError(
        f"{param}={describe(value)} {why}; it must be {fits}. Fix: e.g. {param}={example}.",
        param=param,
    )


def check_seconds(value: object, param: str, example: str = "2", *, zero_ok: bool = False) -> float:
    """A finite duration in seconds > 0 (``zero_ok``: >= 0); an int or a float, not a bool."""
    fits = f"a number of seconds {'>= 0' if zero_ok else '> 0'}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_type(param, value, fits, example)
    seconds = float(value)
    if not (seconds >= 0 if zero_ok else seconds > 0) or math.isinf(seconds):
        raise bad_value(param, value, fits, example, why="is not a usable duration")
    return seconds


def check_int(
    value: object,
    param: str,
    *,
    low: int | None = None,
    high: int | None = None,
    example: str = "1",
) -> int:
    """A whole number (not a bool) within ``low``..``high`` (each bound optional)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_type(param, value, "a whole number", example)
    if (low is not None and value < low) or (high is not None and value > high):
        if high is None:
            fits = f">= {low}"
        elif low is None:
            fits = f"<= {high}"
        else:
            fits = f"from {low} to {high}"
        raise bad_value(param, value, f"a whole number {fits}", example, why="is out of range")
    return value


def check_bool(value: object, param: str) -> bool:
    if not isinstance(value, bool):
        raise bad_type(param, value, "True or False", "True")
    return value


def check_str(value: object, param: str, *, example: str, empty_ok: bool = False) -> str:
    """A string (``empty_ok=False``: one with more than white space in it)."""
    if not isinstance(value, str):
        raise bad_type(param, value, "a string", example)
    if not value.strip() and not empty_ok:
        raise bad_value(param, value, "a non-empty string", example, why="is empty")
    return value


def check_path(value: object, param: str, *, example: str = "'my-store'") -> Path:
    """A folder or file path given as a ``str`` or ``os.PathLike`` (e.g. ``pathlib.Path``)."""
    if isinstance(value, str | os.PathLike):
        text = os.fspath(value)
        if isinstance(text, str) and text.strip() and "\0" not in text:
            return Path(text)
        raise KitValueError(
            f"{param}={value!r} is not a usable path. Fix: e.g. {param}={example}.", param=param
        )
    raise bad_type(param, value, "a path (a str or a pathlib.Path)", example)


def check_js(value: object, param: str = "js") -> JetStreamContext:
    """A JetStream context (``nc.jetstream()``); a client in its place gets that advice."""
    if isinstance(value, JetStreamContext):
        return value
    if isinstance(value, Client):
        raise KitTypeError(
            f"{param} is a NATS client (what connect() returns), but a JetStream context is "
            f"needed here. Fix: pass nc.jetstream(), e.g. js = nc.jetstream().",
            param=param,
        )
    raise bad_type(param, value, "a JetStream context from nc.jetstream()", "nc.jetstream()")


def check_client(value: object, param: str = "client") -> Client:
    """A nats-py client (what ``connect()`` returns); a JetStream context gets that advice."""
    if isinstance(value, Client):
        return value
    if isinstance(value, JetStreamContext):
        raise KitTypeError(
            f"{param} is a JetStream context, but the NATS client itself is needed here "
            "(it watches core subjects too). Fix: pass the client, e.g. "
            "nc = await fanout_kit.connect(), then use nc, not nc.jetstream().",
            param=param,
        )
    raise bad_type(param, value, "a NATS client from fanout_kit.connect()", "nc")


def redact_url(url: str) -> str:
    """``url`` (one URL or several separated by commas) with any user info replaced by ***.

    ``nats://alice:secret@127.0.0.1:4222`` becomes ``nats://***@127.0.0.1:4222``; a token
    (``nats://s3cr3t@host``) is hidden the same way. Anything that does not parse as a URL is
    kept apart from what precedes its last '@'.
    """
    parts = []
    for part in url.split(","):
        scheme, sep, rest = part.partition("://")
        if not sep:
            scheme, rest = "", part
        if "@" in rest:
            rest = "***@" + rest.rsplit("@", 1)[1]
        parts.append(f"{scheme}{sep}{rest}")
    return ",".join(parts)


def secrets_in(url: str) -> list[str]:
    """The user names, passwords and tokens embedded in ``url`` (to scrub them from text)."""
    found: list[str] = []
    for part in url.split(","):
        try:
            parts = urlsplit(part.strip() if "://" in part else f"nats://{part.strip()}")
        except ValueError:
            continue
        found += [s for s in (parts.username, parts.password) if s]
    return found


def scrub(text: str, secrets: list[str] | tuple[str, ...]) -> str:
    """``text`` with every non-empty secret replaced by ***."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
