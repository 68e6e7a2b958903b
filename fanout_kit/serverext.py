"""A Jupyter server extension: one session nats-server under a plain ``jupyter lab``.

Installing the kit (pip or uv, editable or not, conda's pip section, Binder's repo2docker)
puts ``etc/jupyter/jupyter_server_config.d/fanout_kit.json`` into the environment, which
enables this module in every Jupyter server started from it: ``jupyter lab``,
``jupyter notebook`` (Notebook 7), ``jupyter server``, JupyterHub's single-user servers.

On load, unless ``NATS_URL`` is already set, it starts the session server (:mod:`.session`) on
``<Jupyter root>/.fanout-kit/lab-store`` and sets ``NATS_URL`` and ``NATS_MONITOR_URL`` in the
Jupyter server's environment, which every kernel (and terminal) it starts inherits. The server
is stopped when Jupyter exits (and dies with it if Jupyter is killed: see processes.py). With
``NATS_URL`` set (``fanout-kit lab`` started a server, or a classroom seat) it starts nothing.
A second Jupyter on the same root folder finds the store in use and gets a server on a private
store of its own, and its log says so: never two servers on one store.

``FANOUT_KIT_SESSION=off`` in Jupyter's environment turns it off for one run;
``jupyter server extension disable fanout_kit.serverext`` for good.
"""

from __future__ import annotations

import atexit
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

from .errors import ServerStartError
from .session import (
    STORE,
    SessionServer,
    describe,
    start_session_server,
    stop_session_server,
    url_in_use,
)

__all__ = ["OFF_ENV", "store_for"]

OFF_ENV = "FANOUT_KIT_SESSION"
"""``FANOUT_KIT_SESSION=off`` keeps the extension from starting a server."""

_session: SessionServer | None = None


class _Log(Protocol):
    def info(self, msg: str, *args: object) -> None: ...
    def warning(self, msg: str, *args: object) -> None: ...
    def error(self, msg: str, *args: object) -> None: ...


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "fanout_kit.serverext"}]


def store_for(root_dir: str | os.PathLike[str]) -> Path:
    """The session store for a Jupyter server whose root folder is ``root_dir``."""
    return Path(root_dir).expanduser().resolve() / STORE


def _enabled() -> bool:
    return os.environ.get(OFF_ENV, "").strip().lower() not in ("off", "0", "false", "no")


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Start the session server for this Jupyter server (unless NATS_URL is set)."""
    log: _Log = serverapp.log
    if not _enabled():
        log.info("fanout-kit: session server turned off; kernels start servers of their own")
        return
    given = url_in_use()
    if given is not None:
        log.info("fanout-kit: kernels use NATS_URL=%s (not starting a server)", given)
        return
    store = store_for(serverapp.root_dir)
    if not os.access(store.parent.parent, os.W_OK):  # the root folder itself is read-only
        store = Path(tempfile.gettempdir()) / f"fanout-kit-lab-store-{os.getpid()}"
    try:
        session = start_session_server(store, private_if_busy=True)
    except ServerStartError as exc:
        log.error("fanout-kit: no session server (%s); each kernel starts its own", exc)
        return
    _started(session, log)


def _started(session: SessionServer, log: _Log) -> None:
    global _session
    _session = session
    os.environ.update(session.env())
    if session.note:
        log.warning("fanout-kit: %s", session.note)
    log.info("fanout-kit: session %s; every kernel gets NATS_URL", describe(session.server))
    atexit.register(_stop_at_exit, log)


def _stop_at_exit(log: _Log) -> None:
    """Stop the session server once Jupyter has shut its kernels down and is exiting."""
    global _session
    session, _session = _session, None
    if session is None:
        return
    stop_session_server(session)
    for name in session.env():
        os.environ.pop(name, None)
    log.info("fanout-kit: session nats-server stopped")
