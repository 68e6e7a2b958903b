"""`fanout-kit lab`: one nats-server for the whole JupyterLab session, shared by every kernel.

The server's store lives under the project (``.fanout-kit/lab-store``) so streams survive a
relaunch. Kernels inherit ``NATS_URL`` from JupyterLab, so a publisher notebook and a consumer
notebook side by side talk to the same server. JupyterLab's news feed and update checks are
turned off: workshops are often offline. JupyterLab's own settings (``JUPYTER_PORT``,
``JUPYTER_TOKEN``, config files) are left to JupyterLab.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from .processes import die_with_parent_hook
from .server import NatsServer, start_server
from .validate import redact_url

__all__ = ["jupyter_lab_argv", "offline_app_settings", "project_root", "run_lab"]

# Offline-friendly defaults: no news feed, no update check.
QUIET_LAB_OPTIONS = (
    "--LabApp.news_url=None",
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
)


# Defaults, not user settings: a learner's own JupyterLab settings still win.
OFFLINE_OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}
}


def offline_app_settings(folder: Path) -> Path:
    """Write JupyterLab app settings that turn off the "receive official Jupyter news?" prompt.

    ``news_url=None`` stops the fetching but not the question, so the kit also sets the
    notification plugin's defaults. Overrides already in the environment are kept.
    """
    merged: dict[str, dict[str, object]] = {}
    existing = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    if existing.is_file():
        with contextlib.suppress(ValueError):
            merged.update(json.loads(existing.read_text()))
    for plugin, values in OFFLINE_OVERRIDES.items():
        merged[plugin] = {**merged.get(plugin, {}), **values}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "overrides.json").write_text(json.dumps(merged, indent=2))
    return folder


def project_root() -> Path:
    """The folder holding ``notebooks/``: the current directory if it has one, else the repo."""
    cwd = Path.cwd()
    if (cwd / "notebooks").is_dir():
        return cwd
    return Path(__file__).resolve().parent.parent


def jupyter_lab_argv(
    notebook_dir: Path,
    *,
    ip: str = "127.0.0.1",
    port: int | None = None,
    open_browser: bool = True,
    settings_dir: Path | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """The JupyterLab command line ``fanout-kit lab`` runs (``port=None`` lets JupyterLab pick,
    honouring ``JUPYTER_PORT``)."""
    argv = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={notebook_dir}"]
    argv += [f"--ServerApp.ip={ip}", *QUIET_LAB_OPTIONS]
    if settings_dir is not None:
        argv.append(f"--LabApp.app_settings_dir={settings_dir}")
    if port is not None:
        argv.append(f"--ServerApp.port={port}")
    if not open_browser:
        argv.append("--no-browser")
    if os.geteuid() == 0 and "--allow-root" not in extra:
        argv.append("--allow-root")  # containers and CI run as root; the kit binds loopback
    return argv + list(extra)


def run_lab(
    *,
    ip: str = "127.0.0.1",
    port: int | None = None,
    open_browser: bool = True,
    store_dir: Path | None = None,
    notebook_dir: Path | None = None,
    extra: Sequence[str] = (),
) -> int:
    """Start the session server (unless ``NATS_URL`` is set), run JupyterLab, clean up.

    Returns JupyterLab's exit code. The server is stopped when JupyterLab exits, on Ctrl-C
    and on SIGTERM; on SIGKILL it dies with this process (see server.py).
    """
    root = project_root()
    notebook_dir = notebook_dir or root / "notebooks"
    if not notebook_dir.is_dir():
        print(
            f"fanout-kit lab: {notebook_dir} is not a folder. Run it from the project folder "
            "(the one with notebooks/) or pass --notebook-dir.",
            file=sys.stderr,
        )
        return 2
    env = dict(os.environ)
    server: NatsServer | None = None
    if env.get("NATS_URL"):
        shown = redact_url(env["NATS_URL"])  # a password in the URL stays out of the terminal
        print(f"fanout-kit lab: using NATS_URL={shown} (not starting a server)")
    else:
        store = store_dir or root / ".fanout-kit" / "lab-store"
        server = asyncio.run(start_server(store_dir=store, name="fanout-kit-lab"))
        env["NATS_URL"] = server.url
        print(
            f"fanout-kit lab: nats-server {server.version} at {server.url} "
            f"(pid {server.pid}, monitoring {server.monitoring_url}, store {server.store_dir})",
            flush=True,
        )
    argv = jupyter_lab_argv(
        notebook_dir,
        ip=ip,
        port=port,
        open_browser=open_browser,
        settings_dir=offline_app_settings(root / ".fanout-kit" / "lab-app-settings"),
        extra=extra,
    )
    proc = subprocess.Popen(argv, env=env, preexec_fn=die_with_parent_hook(signal.SIGTERM))

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signum)

    # SIGINT and SIGTERM are passed on to JupyterLab, and we keep waiting for it to finish
    # its own shutdown, then stop the server. (A terminal's Ctrl-C reaches JupyterLab directly
    # too, so one Ctrl-C stops the lab without JupyterLab's "are you sure?" prompt.)
    old_int = signal.signal(signal.SIGINT, forward)
    old_term = signal.signal(signal.SIGTERM, forward)
    try:
        return proc.wait()
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
        if proc.poll() is None:
            proc.terminate()
            proc.wait()
        if server is not None:
            asyncio.run(server.stop())
            print("fanout-kit lab: nats-server stopped", flush=True)
