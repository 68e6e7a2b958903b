"""Connect to NATS the way every lesson does: one call, the real nats-py client back.

Where the server comes from, in order: the ``url`` you pass, else ``NATS_URL`` (set by
``make lab`` so every notebook shares one server), else a server private to this kernel,
started on first use and stopped when the kernel ends.

Two promises about the connection. Nothing there at first fails fast (a TCP probe, then the
handshake within ``timeout``), instead of nats-py's two-minute retry loop. Once connected, the
client keeps reconnecting while the server is away, until you close it, so a restart or an
outage shows as ``nc.is_reconnecting`` and ends by itself when the server returns.

The client is nats-py's own, with one addition: its JetStream contexts know the client they
came from (``js.client``), so a check handed ``js`` can flush and subscribe on the learner's
connection without reading nats-py's private attributes.

Credentials embedded in a URL (``nats://alice:secret@host``) never appear in a message or a
log line: URLs are shown with ``***`` in place of the user info.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import re
from typing import Any
from urllib.parse import urlsplit

from nats.aio.client import Client
from nats.js import JetStreamContext

from .errors import ConnectError, KitTypeError, KitValueError
from .server import kernel_server
from .validate import check_seconds, check_str, describe, redact_url, scrub, secrets_in

__all__ = [
    "CONNECT_TIMEOUT",
    "RECONNECT_WAIT",
    "KitClient",
    "KitJetStream",
    "client_of",
    "connect",
    "kernel_server",
    "resolve_url",
]

log = logging.getLogger("fanout_kit")
CONNECT_TIMEOUT = 2.0
#: Seconds between reconnect attempts while the server is away (forever, until closed).
RECONNECT_WAIT = 0.5
_SCHEMES = ("nats", "tls", "ws", "wss")


class KitJetStream(JetStreamContext):
    """nats-py's JetStream context, plus ``client``: the connection it sends on."""

    def __init__(self, client: Client, **options: Any) -> None:
        super().__init__(client, **options)
        self.client = client


class KitClient(Client):
    """nats-py's client, whose ``jetstream()`` contexts know it (``js.client``)."""

    def jetstream(self, **options: Any) -> KitJetStream:
        return KitJetStream(self, **options)


def client_of(js: JetStreamContext, param: str = "js") -> Client:
    """The connection behind ``js``: a check flushes it (so fire-and-forget acks have reached
    the server before it reads consumer state) and watches ack subjects on it.

    ``js`` must come from a client of :func:`connect`: nats-py itself keeps the link private.
    """
    if isinstance(js, KitJetStream):
        return js.client
    raise KitTypeError(
        f"{param} is a JetStream context of a client the kit did not make, so the kit cannot "
        "reach the connection behind it (to flush acks or watch them). Fix: connect with the "
        f"kit, e.g. nc = await fanout_kit.connect(); {param} = nc.jetstream().",
        param=param,
    )


def _check_url(url: object) -> str | None:
    if url is None:
        return None
    if not isinstance(url, str):
        raise KitTypeError(
            f"url={describe(url)} is a {type(url).__name__}; it must be a NATS URL string. "
            "Fix: e.g. url='nats://127.0.0.1:4222', or leave it out to use NATS_URL or the "
            "kit's own server.",
            param="url",
        )
    return url.strip() or None


def split_servers(target: str, where: str) -> list[str]:
    """The server URLs in ``target`` (comma-separated), each checked to be a NATS URL.

    ``where`` names where ``target`` came from (``url`` or ``NATS_URL``) for the message.
    """
    servers = [s.strip() for s in target.split(",") if s.strip()]
    if not servers:
        raise _bad_url(where, target, "it names no server")
    for server in servers:
        scheme, sep, rest = server.partition("://")
        if not sep:
            scheme, rest = "nats", server
            if m := re.match(rf"^({'|'.join(_SCHEMES)}):?/+(.*)$", server):
                raise _bad_url(
                    where, server, "the '://' after the scheme is incomplete", f"{m[1]}://{m[2]}"
                )
        if scheme not in _SCHEMES:
            raise _bad_url(where, server, f"the scheme {scheme!r} is not one of {_SCHEMES}")
        try:
            parts = urlsplit(f"{scheme}://{rest}")
            port = parts.port
        except ValueError as exc:
            why = f"its port is not a number from 1 to 65535 ({exc})"
            raise _bad_url(where, server, why) from None
        if not parts.hostname:
            raise _bad_url(where, server, "it has no host")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise _bad_url(where, server, "a NATS URL has no path, query or fragment")
        if port == 0:
            raise _bad_url(where, server, "port 0 is not a port a server listens on")
    return servers


def _bad_url(where: str, value: str, why: str, example: str | None = None) -> KitValueError:
    fix = f"did you mean {example!r}?" if example else "e.g. 'nats://127.0.0.1:4222'"
    fix = redact_url(fix)
    return KitValueError(
        f"{where}={redact_url(value)!r} is not a NATS URL: {why}. A NATS URL looks like "
        f"nats://host:port (several separated by commas). Fix: {fix}",
        param=where,
    )


async def resolve_url(url: str | None = None) -> str:
    """The URL :func:`connect` would use: ``url``, else ``NATS_URL``, else the kernel server."""
    url = _check_url(url)
    if url:
        return url
    env = os.environ.get("NATS_URL", "").strip()
    if env:
        return env
    return (await kernel_server()).url


def _credentials_from_env() -> dict[str, Any]:
    """Credentials as the ``nats`` CLI reads them: NATS_CREDS, NATS_USER/PASSWORD, NATS_TOKEN."""
    opts: dict[str, Any] = {}
    if creds := os.environ.get("NATS_CREDS"):
        if not os.path.isfile(creds):
            raise ConnectError(
                f"NATS_CREDS={creds} is not a file. Point it at a .creds file or unset it."
            )
        opts["user_credentials"] = creds
    if user := os.environ.get("NATS_USER"):
        opts["user"] = user
        opts["password"] = os.environ.get("NATS_PASSWORD", "")
    if token := os.environ.get("NATS_TOKEN"):
        opts["token"] = token
    return opts


async def _unreachable(servers: list[str], timeout: float) -> str | None:
    """None once one of ``servers`` accepts a TCP connection; else why none did, in the
    words of what happened: refused at once, no answer within ``timeout``, or the OS's reason
    (a message that says "within 2 s" for a refusal that took a millisecond misleads)."""
    silent = False
    other: list[str] = []
    for server in servers:
        parts = urlsplit(server if "://" in server else f"nats://{server}")
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(parts.hostname or "127.0.0.1", parts.port or 4222),
                timeout,
            )
        except TimeoutError:
            silent = True
            continue
        except OSError as exc:
            if not is_connection_refused(exc):
                other.append(exc.strerror or type(exc).__name__)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return None
    if silent:
        return f"nothing accepted a TCP connection within {timeout:g} s"
    if other:
        return f"nothing accepted a TCP connection ({other[0]})"
    return "nothing accepts TCP connections there (connection refused)"


def is_connection_refused(exc: OSError) -> bool:
    """Connection refused, also when asyncio tried several addresses (``localhost``: ::1 and
    127.0.0.1) and folded their refusals into one "Multiple exceptions" OSError."""
    if isinstance(exc, ConnectionRefusedError):
        return True
    codes = re.findall(r"\[Errno (\d+)\]", str(exc))
    return bool(codes) and all(int(c) == errno.ECONNREFUSED for c in codes)


def _is_refusal(exc: BaseException) -> bool:
    """The server said no to the credentials (not "Authentication Timeout": a slow client
    under load can hit that, and a retry may well succeed)."""
    text = str(exc).lower()
    return ("authorization" in text or "authentication" in text) and "timeout" not in text


async def connect(
    url: str | None = None,
    *,
    name: str = "fanout-kit",
    timeout: float = CONNECT_TIMEOUT,
    **options: Any,
) -> KitClient:
    """Return a connected nats-py client; ``client.jetstream()`` gives JetStream.

    ``options`` go straight to ``nats.connect`` (e.g. ``error_cb``, ``user_credentials``).
    An unreachable server raises :class:`ConnectError` within ``timeout`` seconds, naming the
    URL (without credentials) and what to try, instead of nats-py's two-minute retry loop.
    Once connected, the client reconnects every ``RECONNECT_WAIT`` seconds for as long as the
    server is away, until you ``await nc.close()``: ``nc.is_connected``,
    ``nc.is_reconnecting`` and ``nc.is_closed`` say where it is.
    """
    url = _check_url(url)
    check_str(name, "name", example="'fanout-kit'")
    timeout = check_seconds(timeout, "timeout", "2")
    from_env = not url and bool(os.environ.get("NATS_URL", "").strip())
    target = await resolve_url(url)
    servers = split_servers(target, "NATS_URL" if from_env else "url")
    credentials = _credentials_from_env()
    secrets = [*secrets_in(target), *(str(v) for v in credentials.values())]
    shown = redact_url(target)

    def failure(reason: str) -> ConnectError:
        if url:
            hint = (
                "Check the URL and that a server is running there, or call "
                "`fanout_kit.connect()` without a URL to use NATS_URL or the kit's own server."
            )
        elif from_env:
            hint = (
                "It came from NATS_URL: check the server is running there, or unset NATS_URL "
                "to use the kit's bundled server (`fanout-kit server` runs one)."
            )
        else:
            hint = "The kit's bundled server should be running; `fanout-kit doctor` checks it."
        return ConnectError(
            scrub(f"Could not connect to NATS at {shown}: {reason}. {hint}", secrets)
        )

    why = await _unreachable(servers, timeout)
    if why is not None:
        raise failure(why)

    seen: list[Exception] = []
    refusals: list[BaseException] = []
    refused = asyncio.Event()

    async def quiet_error(exc: Exception) -> None:
        seen.append(exc)
        log.debug("nats client error: %s", scrub(repr(exc), secrets))
        if _is_refusal(exc):
            refusals.append(exc)
            refused.set()  # wrong credentials will not get better by retrying

    settings: dict[str, Any] = {
        "servers": servers,
        "name": name,
        "connect_timeout": timeout,
        "reconnect_time_wait": RECONNECT_WAIT,
        "max_reconnect_attempts": -1,  # keep trying while the server is away, until closed
        "error_cb": quiet_error,
    }
    settings.update(credentials)
    settings.update(options)
    if "error_cb" in options:  # the caller's callback sees errors after ours records them
        theirs = options["error_cb"]

        async def both(exc: Exception) -> None:
            await quiet_error(exc)
            await theirs(exc)

        settings["error_cb"] = both
    client = KitClient()
    connecting = asyncio.ensure_future(client.connect(**settings))
    refusal = asyncio.ensure_future(refused.wait())
    try:
        done, _ = await asyncio.wait(
            {connecting, refusal}, timeout=timeout, return_when="FIRST_COMPLETED"
        )
    finally:
        refusal.cancel()
    if connecting in done and connecting.exception() is None:
        return client
    connecting.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await connecting
    with contextlib.suppress(Exception):
        await client.close()
    error = connecting.exception() if connecting in done else None
    if error is not None and _is_refusal(error):
        refusals.append(error)
    if refusals:
        # The server's own words (Authorization Violation), even when a connection reset
        # reached the client after them.
        raise failure(
            f"the server refused the credentials ({refusals[0]}); check NATS_USER/"
            "NATS_PASSWORD, NATS_TOKEN or NATS_CREDS, or the user/password in the URL"
        )
    if error is not None:
        raise failure(f"{type(error).__name__}: {error}") from None
    # A server's own -ERR says more than the socket error that follows it, so prefer it.
    telling = [e for e in seen if not isinstance(e, OSError)] or seen
    last = f" (last error: {telling[-1]})" if telling else ""
    raise failure(f"no NATS handshake within {timeout:g} s{last}")
