"""macOS and Windows code paths, run on this Linux machine with the Linux-only pieces made
unavailable: no fcntl, termios, os.geteuid, SIGHUP or /proc where the other system has none.

`fanout-kit lab` as on macOS runs end to end (a real JupyterLab, its kernels, the watchdog and
the `ps`-based process tree); Windows' pieces that cannot run here (job objects, console
process groups) are checked as far as this machine allows: the options chosen, the shutdown
request (tests/test_serverext.py sends it to a real Jupyter), the file lock through msvcrt's
interface."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import types
import uuid
from pathlib import Path

import pytest

from fanout_kit import lab, processes, progress
from fanout_kit.processes import pid_alive

from .conftest import wait_until
from .labutil import ROOT, Lab, free_port, run_in_kernel

#: The modules nothing may need at import time (none of them exist on Windows).
POSIX_ONLY = ("fcntl", "termios", "resource", "pwd", "grp", "pty", "tty")


def test_every_module_imports_without_posix_only_modules() -> None:
    code = f"""
        import sys
        for name in {POSIX_ONLY!r}:
            sys.modules[name] = None  # importing it now raises ImportError
        import fanout_kit, fanout_kit.cli, fanout_kit.lab, fanout_kit.session
        import fanout_kit.serverext, fanout_kit.classroom, fanout_kit.classboard
        import fanout_kit.progress, fanout_kit.workspace
        print("imported")
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["imported"]


def test_the_lab_command_line_without_geteuid(monkeypatch, tmp_path) -> None:
    """Windows has no os.geteuid: no --allow-root, and no crash."""
    monkeypatch.delattr(os, "geteuid")
    argv = lab.jupyter_lab_argv(tmp_path, open_browser=False)
    assert "--allow-root" not in argv and "--no-browser" in argv


def test_stop_signals_are_those_the_system_has(monkeypatch) -> None:
    assert signal.SIGHUP in lab.stop_signals()
    monkeypatch.delattr(signal, "SIGHUP")  # Windows has none ...
    monkeypatch.setattr(signal, "SIGBREAK", 21, raising=False)  # ... and Ctrl-Break instead
    assert lab.stop_signals() == (signal.SIGINT, signal.SIGTERM, 21)


@pytest.mark.parametrize(
    ("system", "expected"),
    [
        ("win32", {"creationflags": 0x200}),  # CREATE_NEW_PROCESS_GROUP
        ("darwin", {"process_group": 0, "preexec_fn": None}),
    ],
)
def test_jupyterlab_is_started_in_a_group_of_its_own(monkeypatch, system, expected) -> None:
    monkeypatch.setattr(processes, "platform", lambda: system)
    monkeypatch.setattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200, raising=False)
    assert lab.jupyter_spawn_options() == expected


def test_on_linux_jupyterlab_gets_the_parent_death_signal() -> None:
    options = lab.jupyter_spawn_options()
    assert options["process_group"] == 0 and callable(options["preexec_fn"])


def test_stop_tree_on_windows_terminates_without_proc_or_ps(monkeypatch) -> None:
    """No /proc and no ps: the process itself is ended (its job object ends the rest)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    monkeypatch.setattr(processes, "platform", lambda: "win32")
    assert processes.descendants(os.getpid()) == []
    lab.stop_tree(proc, grace=5, runtime=Path("/nonexistent"))  # no runtime file: terminate
    assert proc.returncode == -signal.SIGTERM


class FakeMsvcrt(types.ModuleType):
    """Windows' msvcrt.locking on this machine: records where it locks, and takes an
    exclusive flock (a read-only handle can hold it, as on Windows), LK_LOCK waiting for it
    as msvcrt's does (it retries)."""

    LK_UNLCK, LK_LOCK, LK_NBLCK = 0, 1, 2

    def __init__(self, fcntl: types.ModuleType) -> None:
        super().__init__("msvcrt")
        self.fcntl = fcntl
        self.calls: list[tuple[int, int]] = []

    def locking(self, fd: int, mode: int, nbytes: int) -> None:
        where = os.lseek(fd, 0, os.SEEK_CUR)
        self.calls.append((mode, where))
        assert nbytes == 1
        self.fcntl.flock(fd, self.fcntl.LOCK_UN if mode == self.LK_UNLCK else self.fcntl.LOCK_EX)


def test_progress_records_through_msvcrt_on_windows(monkeypatch, tmp_path) -> None:
    import fcntl

    msvcrt = FakeMsvcrt(fcntl)
    monkeypatch.setattr(processes, "platform", lambda: "win32")
    monkeypatch.setitem(sys.modules, "fcntl", None)
    monkeypatch.setitem(sys.modules, "msvcrt", msvcrt)
    with progress.recording_to(tmp_path / "progress.jsonl") as path:
        progress.record("welcome.publish_three", "wrong", 1)
        progress.record("welcome.publish_three", "correct", 1)
        assert [a.status for a in progress.attempts()] == ["wrong", "correct"]
    assert path.read_text().count("\n") == 2
    lock, unlock = msvcrt.LK_LOCK, msvcrt.LK_UNLCK
    assert msvcrt.calls[:2] == [(lock, 1 << 30), (unlock, 1 << 30)], "locked far past the end"


# --------------------------------------------------------------------- `fanout-kit lab` on macOS

AS_MACOS = (
    "import sys, fanout_kit.processes as p\n"
    "p.platform = lambda: 'darwin'\n"  # no PR_SET_PDEATHSIG, no /proc: watchdog and ps
    "from fanout_kit.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def _lab_as_macos(tmp_path: Path) -> Lab:
    port, token = free_port(), uuid.uuid4().hex
    log = tmp_path / "lab.log"
    runtime = tmp_path / "jupyter-runtime"
    env = {**os.environ, "JUPYTER_PORT": str(port), "JUPYTER_TOKEN": token}
    for name in ("NATS_URL", "NATS_MONITOR_URL", "FANOUT_KIT_PROGRESS"):
        env.pop(name, None)
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "jupyter-config")
    env["JUPYTER_RUNTIME_DIR"] = str(runtime)
    argv = [sys.executable, "-c", AS_MACOS, "lab", "--no-browser"]
    argv += ["--store", str(tmp_path / "store"), "--workspace", str(tmp_path / "workspace")]
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return Lab(proc, port, token, log, runtime, tmp_path / "workspace")


def _watchdogs_of(pid: int) -> list[int]:
    """The watchdog processes `pid` started (macOS' way of dying with the owner)."""
    found = []
    for child in processes.children(pid):
        args = processes.args_of(child) or []
        if any("os.kill(pid, signal.SIGKILL)" in a for a in args):
            found.append(child)
    return found


STUBBORN = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import signal, time; "
    "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)'])\n"
    "print(os.getpid(), child.pid)\n"
)


@pytest.mark.lab
@pytest.mark.timeout(240)
async def test_the_lab_as_on_macos_stops_everything(tmp_path) -> None:
    lab_ = _lab_as_macos(tmp_path)
    try:
        lab_.wait_ready()
        server_pid = lab_.nats_pid()
        kernel, stubborn = map(int, (await run_in_kernel(lab_, STUBBORN)).split())
        # Two watchdogs: the server's and JupyterLab's (none on Linux, which uses PDEATHSIG).
        assert len(_watchdogs_of(lab_.proc.pid)) == 2, lab_.output()
        lab_.proc.send_signal(signal.SIGTERM)
        assert lab_.proc.wait(timeout=60) == 0
    finally:
        if lab_.proc.poll() is None:
            lab_.proc.kill()
    for pid in (server_pid, kernel, stubborn):  # the stubborn child: found through `ps`
        wait_until(lambda pid=pid: not pid_alive(pid), timeout=30, what=f"pid {pid} to end")
    assert "nats-server stopped" in lab_.output()


@pytest.mark.lab
@pytest.mark.timeout(240)
async def test_sigkill_of_the_lab_as_on_macos_leaves_nothing(tmp_path) -> None:
    lab_ = _lab_as_macos(tmp_path)
    try:
        lab_.wait_ready()
        server_pid = lab_.nats_pid()
        kernel = int(await run_in_kernel(lab_, "import os\nprint(os.getpid())"))
        jupyter = [
            p
            for p in processes.children(lab_.proc.pid)
            if p != server_pid and p not in _watchdogs_of(lab_.proc.pid)
        ]
        assert len(jupyter) == 1, jupyter
        lab_.proc.kill()
        lab_.proc.wait()
        for pid, what in (
            (server_pid, "nats-server"),
            (jupyter[0], "JupyterLab"),
            (kernel, "kernel"),
        ):
            wait_until(lambda pid=pid: not pid_alive(pid), timeout=30, what=f"{what} to end")
    finally:
        if lab_.proc.poll() is None:
            lab_.proc.kill()
    assert re.search(r"nats-server \S+ at nats://", lab_.output())
