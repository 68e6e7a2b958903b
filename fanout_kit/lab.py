"""`fanout-kit lab`: one nats-server for the whole JupyterLab session, shared by every kernel.

JupyterLab opens the learner's own copies of the lessons (``workspace/``, see
:mod:`.workspace`), never the tracked notebooks, on ``00-welcome`` in a fresh JupyterLab
workspace (no tabs or kernels restored from the last session). The server's store lives under
the project (``.fanout-kit/lab-store``) so streams survive a relaunch. Kernels inherit
``NATS_URL`` from JupyterLab, so a publisher notebook and a consumer notebook side by side talk
to the same server. JupyterLab's news feed and update checks are turned off: workshops are
often offline. JupyterLab's own settings (``JUPYTER_PORT``, ``JUPYTER_TOKEN``, config files)
are left to JupyterLab.

Stopping: SIGINT (Ctrl-C, with or without a terminal), SIGTERM or SIGHUP to ``fanout-kit lab``
asks JupyterLab to shut down (SIGTERM: it stops its kernels), SIGKILLs it after
:data:`GRACE` seconds, then ends whatever it had started that is still running (a kernel's
own child processes too), then stops the server. A second signal skips the waiting.
JupyterLab's runtime files (its token among them) live in a private folder of this run,
removed at the end.

Per OS (no ``make`` needed: ``pip install -e .`` then ``fanout-kit lab``). Linux: JupyterLab
gets the parent-death signal (SIGTERM) and the process tree comes from ``/proc``. macOS: a
watchdog process ends JupyterLab if the lab is killed, and ``ps`` gives the process tree.
Windows: JupyterLab (and so every kernel it starts) joins the lab's kill-on-close job object,
is asked to stop through Jupyter's own shutdown request (there is no SIGTERM to send), and
Ctrl-C or Ctrl-Break in the console stops the lab, which stops the rest in order.
The session server itself is started by :mod:`.session` (shared with the Jupyter server
extension that gives a plain ``jupyter lab`` the same session server).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from . import processes
from .errors import FanoutKitError
from .session import (
    STORE,
    SessionServer,
    describe,
    start_session_server,
    stop_session_server,
    url_in_use,
)
from .workspace import Workspace

__all__ = [
    "GRACE",
    "WORKSPACE",
    "jupyter_lab_argv",
    "jupyter_spawn_options",
    "offline_app_settings",
    "project_root",
    "request_shutdown",
    "run_lab",
    "stop_signals",
    "stop_tree",
]

WORKSPACE = "workspace"
"""The learner's copies of the lessons, at the project root (git-ignored)."""
WELCOME = "00-welcome.ipynb"
GRACE = 5.0
"""Seconds JupyterLab gets to shut its kernels down after SIGTERM before it is SIGKILLed."""
KILL_GRACE = 2.0
"""Seconds a leftover process (a kernel's child) gets after SIGTERM before SIGKILL."""


def stop_signals() -> tuple[int, ...]:
    """The signals that stop the lab, those this system has: Ctrl-C, kill, a closed terminal
    (SIGHUP, POSIX), Ctrl-Break (SIGBREAK, Windows)."""
    names = ("SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK")
    return tuple(getattr(signal, name) for name in names if hasattr(signal, name))


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
    workspaces_dir: Path | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """The JupyterLab command line ``fanout-kit lab`` runs (``port=None`` lets JupyterLab pick,
    honouring ``JUPYTER_PORT``). With ``workspaces_dir`` (an empty folder) JupyterLab restores
    no tabs from an earlier session; it opens on the welcome lesson if ``notebook_dir`` has
    one. ``extra`` comes last, so the user's own options win."""
    argv = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={notebook_dir}"]
    argv += [f"--ServerApp.ip={ip}", *QUIET_LAB_OPTIONS]
    if settings_dir is not None:
        argv.append(f"--LabApp.app_settings_dir={settings_dir}")
    if workspaces_dir is not None:
        argv.append(f"--LabApp.workspaces_dir={workspaces_dir}")
    if (notebook_dir / WELCOME).is_file():
        argv.append(f"--LabApp.default_url=/lab/tree/{WELCOME}")
    if port is not None:
        argv.append(f"--ServerApp.port={port}")
    if not open_browser:
        argv.append("--no-browser")
    if _is_root() and "--allow-root" not in extra:
        argv.append("--allow-root")  # containers and CI run as root; the kit binds loopback
    return argv + list(extra)


def _is_root() -> bool:
    """True for root on POSIX (containers, CI); Windows has no euid and never needs the flag."""
    geteuid = getattr(os, "geteuid", None)
    return geteuid is not None and geteuid() == 0


def jupyter_spawn_options() -> dict[str, Any]:
    """``Popen`` options for JupyterLab, per OS. POSIX: a process group of its own, so a
    terminal's Ctrl-C reaches the lab alone, which then stops JupyterLab in order; on Linux
    also the parent-death signal (SIGTERM), so JupyterLab stops if the lab is killed. Windows:
    a new process group, for the same reason (Ctrl-C reaches the lab's console only)."""
    if processes.platform() == "win32":
        return {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200)}
    return {"process_group": 0, "preexec_fn": processes.die_with_parent_hook(signal.SIGTERM)}


def _wait_for(done: Callable[[], bool], seconds: float, hurry: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + seconds
    while not done():
        if hurry() or time.monotonic() >= deadline:
            return done()
        time.sleep(0.05)
    return True


def request_shutdown(runtime: Path, pid: int, timeout: float = 5.0) -> bool:
    """Ask the Jupyter server with process id ``pid`` to shut down (its kernels first) through
    its REST API (``POST /api/shutdown``), with the URL and token from its runtime file in
    ``runtime``. Windows has no SIGTERM to ask with; True if the server took the request."""
    info = runtime / f"jpserver-{pid}.json"
    try:
        data = json.loads(info.read_text())
        url, token = str(data["url"]), str(data.get("token", ""))
    except (OSError, ValueError, KeyError, TypeError):
        return False
    request = urllib.request.Request(
        url.rstrip("/") + "/api/shutdown",
        data=b"",
        method="POST",
        headers={"Authorization": f"token {token}"} if token else {},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return bool(200 <= reply.status < 300)
    except OSError:
        return False


def stop_tree(
    proc: subprocess.Popen[bytes],
    *,
    grace: float = GRACE,
    kill_grace: float = KILL_GRACE,
    hurry: Callable[[], bool] = lambda: False,
    runtime: Path | None = None,
) -> None:
    """End ``proc`` and everything it started: ask it to stop (SIGTERM; on Windows, with
    ``runtime`` given, Jupyter's shutdown request), kill it after ``grace`` seconds; then
    SIGTERM (and SIGKILL after ``kill_grace``) to any process below it still running.
    ``hurry()`` turning true skips the waiting (a second Ctrl-C)."""
    family = processes.descendants(proc.pid)
    if proc.poll() is None:
        asked = False
        if processes.platform() == "win32" and runtime is not None:
            asked = request_shutdown(runtime, proc.pid)
        if not asked:
            with contextlib.suppress(ProcessLookupError, OSError):
                proc.terminate()
        if not _wait_for(lambda: proc.poll() is not None, grace, hurry):
            with contextlib.suppress(ProcessLookupError, OSError):
                proc.kill()
        proc.wait()
    left = [p for p in family if p.alive()]
    for p in left:
        p.signal(signal.SIGTERM)
    if not _wait_for(lambda: not any(p.alive() for p in left), kill_grace, hurry):
        for p in left:
            p.signal(getattr(signal, "SIGKILL", signal.SIGTERM))


class _Stop(Exception):
    """A stop signal arrived (raised once, from the signal handler, to end the wait)."""


class _Signals:
    """SIGINT, SIGTERM and SIGHUP while the lab runs: the first raises :class:`_Stop` (ending
    whatever the lab is waiting for), later ones only set :attr:`hurry`. Installed even where
    SIGINT was ignored (a lab started in the background): the lab must still stop."""

    def __init__(self) -> None:
        self.received = 0
        self.cleaning = False  # set once the lab is stopping: then a signal only hurries it

    def hurry(self) -> bool:
        return self.received > 1 or (self.cleaning and self.received > 0)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.received += 1
        if self.received == 1 and not self.cleaning:
            raise _Stop(signal.Signals(signum).name)

    @contextlib.contextmanager
    def installed(self) -> Iterator[_Signals]:
        old = {sig: signal.signal(sig, self._handle) for sig in stop_signals()}
        try:
            yield self
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)


def _runtime_parent() -> Path:
    """Where Jupyter keeps runtime files: ``JUPYTER_RUNTIME_DIR``, else Jupyter's default."""
    from jupyter_core.paths import jupyter_runtime_dir

    return Path(jupyter_runtime_dir())


def _private_dir() -> Path:
    """A folder only this user can read, for this run's JupyterLab runtime files (the token)
    and its workspace state. Leftovers of a lab that was killed outright are removed."""
    parent = _runtime_parent()
    parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    for old in parent.glob("fanout-kit-lab-*"):
        pid = old.name.split("-")[3] if old.name.count("-") >= 4 else ""
        if pid.isdigit() and not processes.pid_alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix=f"fanout-kit-lab-{os.getpid()}-", dir=parent))
    os.chmod(folder, 0o700)
    return folder


def _wait(proc: subprocess.Popen[bytes]) -> int:
    """``proc.wait()`` in short slices: Windows does not interrupt a blocking wait for Ctrl-C,
    so the signal handler gets its chance between slices."""
    while True:
        try:
            return proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            continue


def _say(text: str) -> None:
    print(f"fanout-kit lab: {text}", flush=True)


def _open_workspace(root: Path, folder: Path | None) -> Path:
    """Sync the learner's workspace with ``notebooks/`` and say what changed; its folder."""
    workspace = Workspace((folder or root / WORKSPACE).resolve(), root / "notebooks")
    report = workspace.sync()
    for line in report.lines():
        _say(line)
    _say(f"your copies of the lessons are in {workspace.folder} (notebooks/ stays untouched)")
    return workspace.folder


def run_lab(
    *,
    ip: str = "127.0.0.1",
    port: int | None = None,
    open_browser: bool = True,
    store_dir: Path | None = None,
    notebook_dir: Path | None = None,
    workspace_dir: Path | None = None,
    extra: Sequence[str] = (),
) -> int:
    """Sync the learner's workspace, start the session server (unless ``NATS_URL`` is set),
    run JupyterLab on the workspace (or on ``notebook_dir`` as it is), and clean up.

    Returns JupyterLab's exit code (0 after a stop signal). The server, JupyterLab and its
    kernels are stopped when JupyterLab exits and on SIGINT, SIGTERM and SIGHUP; on SIGKILL
    they die with this process (see server.py and :func:`_term_with_parent`).
    """
    root = project_root()
    signals = _Signals()
    with signals.installed():
        try:
            return _run(
                root, signals, ip, port, open_browser, store_dir, notebook_dir, workspace_dir, extra
            )
        except _Stop:
            return 0


def _run(
    root: Path,
    signals: _Signals,
    ip: str,
    port: int | None,
    open_browser: bool,
    store_dir: Path | None,
    notebook_dir: Path | None,
    workspace_dir: Path | None,
    extra: Sequence[str],
) -> int:
    if notebook_dir is None:
        try:
            notebook_dir = _open_workspace(root, workspace_dir)
        except FanoutKitError as exc:
            print(f"fanout-kit lab: {exc}", file=sys.stderr)
            return 2
    elif notebook_dir.is_dir():
        notebook_dir = notebook_dir.resolve()
    else:
        print(
            f"fanout-kit lab: {notebook_dir} is not a folder. Run it from the project folder "
            "(the one with notebooks/) or pass --notebook-dir.",
            file=sys.stderr,
        )
        return 2
    env = dict(os.environ)
    private: Path | None = None
    session: SessionServer | None = None
    proc: subprocess.Popen[bytes] | None = None
    lifeline: processes.Lifeline | None = None
    try:
        private = _private_dir()
        given = url_in_use(env)
        if given is not None:
            _say(f"using NATS_URL={given} (not starting a server)")
        else:
            session = start_session_server(store_dir or root / STORE)
            env.update(session.env())  # JupyterLab's server extension then starts nothing
            _say(describe(session.server))
        env["JUPYTER_RUNTIME_DIR"] = str(private / "runtime")
        argv = jupyter_lab_argv(
            notebook_dir,
            ip=ip,
            port=port,
            open_browser=open_browser,
            settings_dir=offline_app_settings(root / ".fanout-kit" / "lab-app-settings"),
            workspaces_dir=private / "lab-workspaces",
            extra=extra,
        )
        proc = subprocess.Popen(
            argv,
            cwd=notebook_dir,  # a kernel started without a notebook runs there too
            env=env,
            stdin=subprocess.DEVNULL,  # JupyterLab never prompts "shut down? (y/n)"
            **jupyter_spawn_options(),
        )
        # Dies with the lab: Linux's parent-death signal (armed above), a watchdog on macOS,
        # the lab's kill-on-close job object on Windows (kernels join it as they start).
        lifeline = processes.protect(proc)
        try:
            return _wait(proc)
        except _Stop as stop:
            _say(f"{stop}: stopping JupyterLab, its kernels and the server")
            return 0
    finally:
        signals.cleaning = True
        if proc is not None:
            stop_tree(proc, hurry=signals.hurry, runtime=private and private / "runtime")
        if lifeline is not None:
            lifeline.release()
        if session is not None:
            stop_session_server(session)
            _say("nats-server stopped")
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)
