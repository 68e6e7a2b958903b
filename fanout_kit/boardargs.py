"""What :meth:`Board.watch <fanout_kit.board.Board.watch>` accepts, checked before anything
starts: the client, the stream name (and that the stream exists), and every option.

Each refusal is a :class:`BoardError` (a :class:`~fanout_kit.errors.KitValueError`, so also a
``ValueError``) or :class:`BoardTypeError` (a :class:`~fanout_kit.errors.KitTypeError`, so also
a ``TypeError``) that names the parameter, what was given and what fits.
"""

from __future__ import annotations

import math
from typing import Any

from nats.aio.client import Client
from nats.js import JetStreamContext

from .errors import KitTypeError, KitValueError
from .jsapi import STREAM_NOT_FOUND, Api, ApiError, unreachable
from .topology import TopologyError, validate_name

__all__ = [
    "DEFAULTS",
    "BoardError",
    "BoardTypeError",
    "check_client",
    "check_options",
    "check_stream",
]


class BoardError(KitValueError):
    """The board was given something it cannot use (the message says what fits; ``param``
    names the parameter when there is one)."""


class BoardTypeError(KitTypeError):
    """The board was given a value of the wrong type (the message says what fits; ``param``
    names the parameter when there is one)."""


DEFAULTS: dict[str, Any] = {  # Board.watch's options:
    # window: message cells per lane until the browser says how many fit (10..400);
    # max_lanes: consumer lanes drawn, the rest counted and the first few named;
    # reconcile_interval: seconds between reconciles while running (None: only at settle);
    # refresh_interval: seconds between draws (0.1 at least: at most 10 frames a second);
    # quiet: seconds without traffic that count as settled;
    # publish: async publish(n) for the Publish control (default: demo shop events fitted
    #   to the stream's subjects); subject: publish the demo events on this subject instead;
    # detail_limit: wiretap events a second above which the board reads consumer info
    #   instead of following every message (None: always every message);
    # overview_rate: consumer info reads a second then; controls: show the buttons.
    "window": 60,
    "max_lanes": 30,
    "reconcile_interval": 5.0,
    "refresh_interval": 0.1,
    "quiet": 0.25,
    "publish": None,
    "subject": None,
    "detail_limit": 5_000,
    "overview_rate": 2.0,
    "controls": True,
}


def check_client(nc: object) -> None:
    """``nc`` must be a connected nats-py client (not its JetStream context)."""
    if isinstance(nc, JetStreamContext):
        raise BoardTypeError(
            "nc is a JetStream context: pass the client `nc`, not `nc.jetstream()`. "
            "Fix: `await Board.watch(nc, 'EVENTS')`.",
            param="nc",
        )
    if not isinstance(nc, Client):
        raise BoardTypeError(
            f"nc must be a connected nats-py client (from `await fanout_kit.connect()`), "
            f"got {type(nc).__name__}.",
            param="nc",
        )
    if nc.is_closed or not nc.is_connected:
        raise unreachable(nc)


def _number(name: str, value: object, lo: float, hi: float, *, none: bool = False) -> None:
    if value is None and none:
        return
    fits = f"a number from {lo:g} to {hi:g}" + (" or None" if none else "")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BoardTypeError(
            f"{name} must be {fits}, got {type(value).__name__} {value!r}.", param=name
        )
    if math.isnan(value) or not lo <= value <= hi:
        raise BoardError(f"{name} must be {fits}, got {value!r}.", param=name)


def check_options(options: dict[str, Any]) -> dict[str, Any]:
    """The options with defaults filled in; unknown or bad ones refused."""
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise BoardTypeError(
            f"Board.watch got unknown option(s) {', '.join(unknown)}; "
            f"it takes {', '.join(DEFAULTS)}.",
            param=unknown[0],
        )
    opts = {**DEFAULTS, **options}
    for name in ("window", "max_lanes"):
        value = opts[name]
        if isinstance(value, bool) or not isinstance(value, int):
            raise BoardTypeError(f"{name} must be a whole number, got {value!r}.", param=name)
    _number("window", opts["window"], 10, 400)
    _number("max_lanes", opts["max_lanes"], 1, 1000)
    _number("reconcile_interval", opts["reconcile_interval"], 0.1, 3600, none=True)
    _number("refresh_interval", opts["refresh_interval"], 0.1, 60)
    _number("quiet", opts["quiet"], 0.01, 60)
    _number("detail_limit", opts["detail_limit"], 1e-9, 1e9, none=True)
    _number("overview_rate", opts["overview_rate"], 0.1, 10)
    if opts["publish"] is not None and not callable(opts["publish"]):
        raise BoardTypeError(
            f"publish must be an async function publish(n) or None, got {opts['publish']!r}.",
            param="publish",
        )
    subject = opts["subject"]
    if subject is not None and (
        not isinstance(subject, str) or not subject or any(c in subject for c in "*> \t")
    ):
        raise BoardError(
            f"subject must be a literal subject such as 'events.demo' or None, got {subject!r}.",
            param="subject",
        )
    if not isinstance(opts["controls"], bool):
        raise BoardTypeError(
            f"controls must be True or False, got {opts['controls']!r}.", param="controls"
        )
    return opts


def feed_options(opts: dict[str, Any]) -> dict[str, Any]:
    """The checked options the feed takes, under its names."""
    return {
        "capacity": opts["window"],
        "max_lanes": opts["max_lanes"],
        "reconcile_interval": opts["reconcile_interval"],
        "tick": opts["refresh_interval"],
        "quiet": opts["quiet"],
        "detail_limit": opts["detail_limit"],
        "overview_rate": opts["overview_rate"],
    }


async def check_stream(nc: Client, stream: object) -> int:
    """``stream`` must be a valid name of a stream the server has (else: the ones it has).

    Returns the number of API requests the check made, so the board can count them too."""
    try:
        validate_name(stream, "stream")
    except TopologyError as exc:
        raise BoardError(str(exc), param="stream") from None
    api = Api(nc, str(stream))
    try:
        await api.stream_info(deleted_details=False)
    except ApiError as exc:
        if exc.err_code != STREAM_NOT_FOUND:
            raise
        names = await api.stream_names()
        have = ", ".join(names) if names else "none yet"
        raise BoardError(
            f"stream {stream!r} does not exist on the server (streams there: {have}). "
            "Fix: create it first (e.g. `await fanout_kit.ensure_stream(js, ...)`), or check "
            "the spelling.",
            param="stream",
        ) from None
    return api.calls
