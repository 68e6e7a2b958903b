"""The session server: one nats-server shared by every kernel of one Jupyter server.

Two routes start it, with this one piece of code: ``fanout-kit lab`` (before it runs
JupyterLab) and the Jupyter server extension (:mod:`.serverext`, inside a plain ``jupyter lab``
or ``jupyter notebook``). Either way the kernels inherit ``NATS_URL`` and ``NATS_MONITOR_URL``
from the Jupyter server, so a publisher notebook and a consumer notebook side by side talk to
the same server. When ``NATS_URL`` is already set (a classroom seat, a server of your own, or
``fanout-kit lab`` having started one) nothing is started.

The store is a folder the caller names (``.fanout-kit/lab-store``), kept across sessions and
locked while its server may run (see server.py): never two servers on one store. A second
Jupyter on a store that is in use either fails with the holder's message (``fanout-kit lab``,
where the learner chose the store) or, with ``private_if_busy``, gets a server on a fresh store
of its own that is removed when it stops, and is told so (the extension: it must not stop a
Jupyter from starting).

The functions here are synchronous and run the kit's async server code on a loop of their own
in a helper thread, so they work both before any loop exists and inside a running one (a
Jupyter server loading its extensions).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .errors import ServerStartError
from .server import MONITOR_ENV, NatsServer, start_server
from .validate import redact_url

__all__ = [
    "NAME",
    "STORE",
    "SessionServer",
    "describe",
    "env_for",
    "start_session_server",
    "stop_session_server",
    "url_in_use",
]

NAME = "fanout-kit-lab"
"""The session server's name (``/varz`` and advisories show it)."""
STORE = Path(".fanout-kit") / "lab-store"
"""Where the session server keeps its streams, under the project (or Jupyter's root folder)."""

T = TypeVar("T")


def run_sync(coro: Coroutine[object, object, T]) -> T:
    """Run ``coro`` to completion on a fresh event loop in a helper thread; return its result."""
    box: dict[str, T] = {}
    failure: list[BaseException] = []

    def target() -> None:
        try:
            box["result"] = asyncio.run(coro)
        except BaseException as exc:  # handed to the caller's thread below
            failure.append(exc)

    thread = threading.Thread(target=target, name="fanout-kit-session", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return box["result"]


@dataclass
class SessionServer:
    """The session server and how it came to be: ``note`` says why its store is not the one
    asked for (a private one, because that store was in use), else None."""

    server: NatsServer
    note: str | None = None

    def env(self) -> dict[str, str]:
        """The variables kernels inherit: ``NATS_URL`` and ``NATS_MONITOR_URL``."""
        return env_for(self.server)


def env_for(server: NatsServer) -> dict[str, str]:
    """``NATS_URL`` and ``NATS_MONITOR_URL`` for ``server``."""
    return {"NATS_URL": server.url, MONITOR_ENV: server.monitoring_url}


def describe(server: NatsServer) -> str:
    """One line for the log: version, URL, pid, monitoring URL and store."""
    return (
        f"nats-server {server.version} at {server.url} (pid {server.pid}, monitoring "
        f"{server.monitoring_url}, store {server.store_dir})"
    )


def url_in_use(environ: dict[str, str] | os._Environ[str] | None = None) -> str | None:
    """The ``NATS_URL`` already set (credentials hidden), or None: then start a server."""
    url = (os.environ if environ is None else environ).get("NATS_URL", "").strip()
    return redact_url(url) if url else None


def start_session_server(store: Path, *, private_if_busy: bool = False) -> SessionServer:
    """Start the session server on ``store`` (made if missing, kept, locked).

    ``private_if_busy``: when ``store`` is in use by another kit server (or cannot be written),
    start on a fresh private store instead, removed on stop, and say so in ``note``.
    Raises :class:`ServerStartError` otherwise.
    """
    try:
        return SessionServer(run_sync(start_server(store_dir=store, name=NAME)))
    except ServerStartError as exc:
        if not private_if_busy:
            raise
        reason = str(exc).split(". ")[0]
    server = run_sync(start_server(name=NAME))
    note = (
        f"{reason}. So this Jupyter's kernels get a server of their own on a private store "
        "(removed when Jupyter stops); streams made here are not kept."
    )
    return SessionServer(server, note)


def stop_session_server(session: SessionServer) -> None:
    """Stop the session server (its store is kept unless it was a private one)."""
    run_sync(session.server.stop())
