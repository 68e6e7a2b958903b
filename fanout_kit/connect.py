"""Connect to NATS the way every lesson does: one call, the real nats-py client back.

Where the server comes from, in order: the ``url`` you pass, else ``NATS_URL`` (set by
``make lab`` so every notebook shares one server), else a server private to this kernel,
started on first use and stopped when the kernel ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any
from urllib.parse import urlsplit

import nats
from nats.aio.client import Client

from .errors import ConnectError
from .server import NatsServer, start_server

__all__ = ["connect", "kernel_server", "resolve_url"]

log = logging.getLogger("fanout_kit")
CONNECT_TIMEOUT = 2.0
_kernel_server: NatsServer | None = None


async def kernel_server() -> NatsServer:
    """The bundled server private to this process, started on first use."""
    global _kernel_server
    if _kernel_server is None or not _kernel_server.running:
        _kernel_server = await start_server()
    return _kernel_server


async def resolve_url(url: str | None = None) -> str:
    """The URL :func:`connect` would use: ``url``, else ``NATS_URL``, else the kernel server."""
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


async def _reachable(servers: list[str], timeout: float) -> bool:
    for server in servers:
        parts = urlsplit(server if "://" in server else f"nats://{server}")
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(parts.hostname or "127.0.0.1", parts.port or 4222),
                timeout,
            )
        except (TimeoutError, OSError):
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True
    return False


async def connect(
    url: str | None = None,
    *,
    name: str = "fanout-kit",
    timeout: float = CONNECT_TIMEOUT,
    **options: Any,
) -> Client:
    """Return a connected nats-py client; ``client.jetstream()`` gives JetStream.

    ``options`` go straight to ``nats.connect`` (e.g. ``error_cb``, ``user_credentials``).
    An unreachable server raises :class:`ConnectError` within ``timeout`` seconds, naming the
    URL and what to try, instead of nats-py's two-minute retry loop.
    """
    if timeout <= 0:
        raise ValueError(f"timeout must be positive seconds, got {timeout!r}")
    target = await resolve_url(url)
    servers = [s.strip() for s in target.split(",") if s.strip()]
    source = "NATS_URL" if not url and os.environ.get("NATS_URL") else None

    def failure(reason: str) -> ConnectError:
        if url:
            hint = (
                "Check the URL and that a server is running there, or call "
                "`fanout_kit.connect()` without a URL to use NATS_URL or the kit's own server."
            )
        elif source:
            hint = (
                "It came from NATS_URL: check the server is running there, or unset NATS_URL "
                "to use the kit's bundled server (`fanout-kit server` runs one)."
            )
        else:
            hint = "The kit's bundled server should be running; `fanout-kit doctor` checks it."
        return ConnectError(f"Could not connect to NATS at {target}: {reason}. {hint}")

    if not await _reachable(servers, timeout):
        raise failure(f"nothing accepted a TCP connection within {timeout:g} s")

    seen: list[Exception] = []
    refused = asyncio.Event()

    async def quiet_error(exc: Exception) -> None:
        seen.append(exc)
        log.debug("nats client error: %r", exc)
        if "authorization" in str(exc).lower() or "authentication" in str(exc).lower():
            refused.set()  # wrong credentials will not get better by retrying

    settings: dict[str, Any] = {
        "servers": servers,
        "name": name,
        "connect_timeout": timeout,
        "reconnect_time_wait": 0.25,
        "error_cb": quiet_error,
    }
    settings.update(_credentials_from_env())
    settings.update(options)
    if "error_cb" in options:  # the caller's callback sees errors after ours records them
        theirs = options["error_cb"]

        async def both(exc: Exception) -> None:
            await quiet_error(exc)
            await theirs(exc)

        settings["error_cb"] = both
    client = nats.NATS()
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
    await client.close()
    if refused.is_set():
        raise failure(
            f"the server refused the credentials ({seen[-1]}); check NATS_USER/NATS_PASSWORD, "
            "NATS_TOKEN or NATS_CREDS, or the user/password in the URL"
        )
    if connecting in done:
        exc = connecting.exception()
        raise failure(f"{type(exc).__name__}: {exc}") from exc
    # A server's own -ERR says more than the socket error that follows it, so prefer it.
    telling = [e for e in seen if not isinstance(e, OSError)] or seen
    last = f" (last error: {telling[-1]})" if telling else ""
    raise failure(f"no NATS handshake within {timeout:g} s{last}")
