"""What the kit needs from the operating system to never leave a server behind, per OS.

Three jobs, each done the native way on Linux, macOS and Windows:

* **Die with the owner.** A server the kit starts must end when the Python process that
  started it ends, even on SIGKILL. Linux arms ``PR_SET_PDEATHSIG`` in the child (between fork
  and exec). macOS has no such call, so a tiny watchdog process holds the read end of a pipe
  whose write end only the owner has: when the owner dies the kernel closes it, the watchdog
  reads end-of-file and kills the server. Windows puts the server in a job object that kills
  its processes when the owner's last handle to it closes, which happens when the owner exits.
* **Lock a store.** ``flock`` on Linux and macOS, ``msvcrt.locking`` on Windows. On POSIX the
  locked file descriptor is inherited by the server, so the lock lasts as long as either the
  owner or its server is alive: a second server can never write the store in between.
* **Look at a process**: is it alive, what is its command line (to reap only our own servers).

Nothing OS-specific is imported at module level (no ``fcntl``, ``msvcrt`` or ``ctypes`` until a
function needs it), so ``import fanout_kit`` works everywhere. :func:`platform` is the one
probe the code asks, so tests can exercise each OS's path on this machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

__all__ = [
    "WINDOWS",
    "Lifeline",
    "Proc",
    "WindowsApi",
    "args_of",
    "children",
    "descendants",
    "die_with_parent_hook",
    "kill_pid",
    "lock_fd",
    "pid_alive",
    "platform",
    "protect",
    "spawn_options",
    "stop_on_signals",
]

# prctl(2) option: deliver a signal to this process when its parent (thread) dies.
PR_SET_PDEATHSIG = 1
# Windows: the byte that msvcrt.locking locks, far past the holder text at the file's start.
_WINDOWS_LOCK_OFFSET = 1 << 30
_KILL_ON_JOB_CLOSE = 0x2000  # JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
_JOB_EXTENDED_LIMITS = 9  # JobObjectExtendedLimitInformation
_PROCESS_TERMINATE = 0x0001
_PROCESS_SET_QUOTA = 0x0100
_PROCESS_QUERY_LIMITED = 0x1000
_STILL_ACTIVE = 259

#: The watchdog a macOS (or any POSIX without PR_SET_PDEATHSIG) server gets: its stdin is the
#: pipe from the owner. End-of-file without the word "stop" means the owner died.
WATCHDOG = """
import os, signal, sys
pid = int(sys.argv[1])
try:
    said = sys.stdin.buffer.read()
except BaseException:
    said = b""
if b"stop" not in said:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
"""


def platform() -> str:
    """``sys.platform``, asked at call time (tests change it to exercise other systems)."""
    return sys.platform


def _has_pdeathsig() -> bool:
    if platform() != "linux":
        return False
    try:
        import ctypes

        return hasattr(ctypes.CDLL(None), "prctl")
    except (ImportError, OSError, AttributeError):
        return False


def die_with_parent_hook(sig: int | None = None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that arms Linux's parent-death signal (``sig``, default SIGKILL).

    ``None`` where there is no such call (macOS, Windows, a Linux without ctypes): use
    :func:`protect` there. Linux ties the signal to the *thread* that forked, so fork from a
    thread that lives as long as the process (server.py keeps one).
    """
    if not _has_pdeathsig():
        return None
    import ctypes

    # Looked up here, in the parent: the child between fork and exec should only make the call.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    chosen = int(sig if sig is not None else getattr(signal, "SIGKILL", 9))

    def arm() -> None:  # pragma: no cover - runs in the child between fork and exec
        prctl(PR_SET_PDEATHSIG, chosen, 0, 0, 0)

    return arm


def stop_on_signals() -> asyncio.Event:
    """An event set by Ctrl-C or SIGTERM, for a foreground command (``fanout-kit server``,
    ``classroom``) that stops its servers in order before it exits. Call it on the running
    loop; where the loop takes no signal handlers (Windows), plain ones hand the signal over."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except NotImplementedError:
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    return stop


def spawn_options() -> dict[str, Any]:
    """``subprocess.Popen`` options for a server: its own session or process group (a
    terminal's Ctrl-C goes to the owner, which stops the server in order) and, on Linux, the
    parent-death signal."""
    if platform() == "win32":
        return {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200)}
    return {"start_new_session": True, "preexec_fn": die_with_parent_hook()}


@dataclass
class Lifeline:
    """What keeps one server tied to its owner where the kernel does not do it by itself.

    ``release()`` (on a clean stop) tells the watchdog to exit without killing anything.
    """

    method: str  # "pdeathsig", "watchdog" or "job"
    watchdog: subprocess.Popen[bytes] | None = None
    _pipe: int | None = None

    def release(self) -> None:
        if self._pipe is not None:
            with contextlib.suppress(OSError):
                os.write(self._pipe, b"stop")
            os.close(self._pipe)
            self._pipe = None
        if self.watchdog is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.watchdog.wait(timeout=5)


def protect(proc: subprocess.Popen[bytes]) -> Lifeline:
    """Tie ``proc`` (just started with :func:`spawn_options`) to this process's life."""
    if platform() == "win32":
        _assign_to_job(proc.pid)
        return Lifeline("job")
    if _has_pdeathsig():
        return Lifeline("pdeathsig")
    read_end, write_end = os.pipe()  # not inheritable (PEP 446): only we hold the write end
    try:
        watchdog = subprocess.Popen(
            [sys.executable, "-c", WATCHDOG, str(proc.pid)],
            stdin=read_end,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except BaseException:
        os.close(write_end)
        raise
    finally:
        os.close(read_end)
    return Lifeline("watchdog", watchdog, write_end)


# --------------------------------------------------------------------------- Windows


# typeshed declares Windows' own modules (msvcrt, ctypes.WinDLL) for win32 only, while the kit
# chooses these paths at run time (platform()) and tests them on every system with stand-ins:
# the kit reads them through these protocols, so mypy checks them on Linux too.
class Msvcrt(Protocol):
    """What the kit uses of Windows' ``msvcrt`` module: byte-range locks."""

    LK_LOCK: int
    LK_NBLCK: int
    LK_UNLCK: int

    def locking(self, fd: int, mode: int, nbytes: int, /) -> None: ...


class _WindowsCtypes(Protocol):
    def WinDLL(self, name: str, use_last_error: bool = ...) -> Any: ...

    def get_last_error(self) -> int: ...


def msvcrt() -> Msvcrt:
    """Windows' ``msvcrt`` module (only ever called where :func:`platform` is win32)."""
    import msvcrt as module

    return cast(Msvcrt, module)


class WindowsApi:
    """Windows' own process calls (kernel32), loaded when first used. :data:`WINDOWS` is the
    one the kit uses; a test on another system puts a stand-in there. ``job``: this process's
    kill-on-close job object, made on first use and kept open for the life of the process."""

    def __init__(self) -> None:
        self.job: int | None = None

    def kernel32(self) -> Any:
        import ctypes

        return cast(_WindowsCtypes, ctypes).WinDLL("kernel32", use_last_error=True)

    def last_error(self) -> int:
        import ctypes

        return cast(_WindowsCtypes, ctypes).get_last_error()


WINDOWS = WindowsApi()


def _assign_to_job(pid: int) -> None:
    """Put ``pid`` in this process's kill-on-close job (created on first use)."""
    windows = WINDOWS
    k32 = windows.kernel32()
    if windows.job is None:
        import ctypes

        class Basic(ctypes.Structure):
            _fields_ = [
                ("PerProcessUserTimeLimit", ctypes.c_int64),
                ("PerJobUserTimeLimit", ctypes.c_int64),
                ("LimitFlags", ctypes.c_uint32),
                ("MinimumWorkingSetSize", ctypes.c_size_t),
                ("MaximumWorkingSetSize", ctypes.c_size_t),
                ("ActiveProcessLimit", ctypes.c_uint32),
                ("Affinity", ctypes.c_size_t),
                ("PriorityClass", ctypes.c_uint32),
                ("SchedulingClass", ctypes.c_uint32),
            ]

        class Extended(ctypes.Structure):
            _fields_ = [
                ("BasicLimitInformation", Basic),
                ("IoInfo", ctypes.c_uint64 * 6),
                ("ProcessMemoryLimit", ctypes.c_size_t),
                ("JobMemoryLimit", ctypes.c_size_t),
                ("PeakProcessMemoryUsed", ctypes.c_size_t),
                ("PeakJobMemoryUsed", ctypes.c_size_t),
            ]

        job = k32.CreateJobObjectW(None, None)
        if not job:
            raise OSError(windows.last_error(), "CreateJobObjectW failed")
        info = Extended()
        info.BasicLimitInformation.LimitFlags = _KILL_ON_JOB_CLOSE
        if not k32.SetInformationJobObject(
            job, _JOB_EXTENDED_LIMITS, ctypes.byref(info), ctypes.sizeof(info)
        ):
            raise OSError(windows.last_error(), "SetInformationJobObject failed")
        windows.job = int(job)  # kept open for the life of this process, on purpose
    handle = k32.OpenProcess(_PROCESS_SET_QUOTA | _PROCESS_TERMINATE, False, pid)
    if not handle:
        return  # it already exited
    try:
        k32.AssignProcessToJobObject(windows.job, handle)
    finally:
        k32.CloseHandle(handle)


# --------------------------------------------------------------------------- store lock


def lock_fd(fd: int) -> bool:
    """Take an exclusive lock on the open file ``fd`` without waiting; False if it is held."""
    if platform() == "win32":
        locks = msvcrt()
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            locks.locking(fd, locks.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def lock_is_inherited() -> bool:
    """True where a server started with the lock's descriptor shares the lock (POSIX)."""
    return platform() != "win32"


def read_at_start(fd: int, size: int = 4096) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, size).decode(errors="replace")


def write_at_start(fd: int, text: str) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, text.encode())


# --------------------------------------------------------------------------- processes


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` exists and is not a zombie."""
    if pid <= 0:
        return False
    if platform() == "win32":
        return _windows_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # A zombie is dead for our purposes (Linux tells us; elsewhere assume alive).
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _windows_alive(pid: int) -> bool:
    import ctypes

    k32 = WINDOWS.kernel32()
    handle = k32.OpenProcess(_PROCESS_QUERY_LIMITED, False, pid)
    if not handle:
        return WINDOWS.last_error() == 5  # access denied: it exists
    try:
        code = ctypes.c_ulong(0)
        if not k32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == _STILL_ACTIVE
    finally:
        k32.CloseHandle(handle)


def kill_pid(pid: int) -> None:
    """Kill ``pid`` outright (SIGKILL; TerminateProcess on Windows). Gone already is fine."""
    if platform() == "win32":
        k32 = WINDOWS.kernel32()
        handle = k32.OpenProcess(_PROCESS_TERMINATE, False, pid)
        if handle:
            try:
                k32.TerminateProcess(handle, 1)
            finally:
                k32.CloseHandle(handle)
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, getattr(signal, "SIGKILL", 9))


def args_of(pid: int) -> list[str] | None:
    """Process ``pid``'s command line, or None when this system cannot tell us.

    Linux reads ``/proc``; macOS and other POSIX systems ask ``ps``. Windows has no cheap way
    without extra packages, so it answers None and the caller leaves the process alone (the job
    object already took care of servers whose owner died).
    """
    if platform() == "win32":
        return None
    proc = Path(f"/proc/{pid}/cmdline")
    if _has_proc():
        try:
            raw = proc.read_bytes()
        except OSError:
            return []
        return [part.decode(errors="replace") for part in raw.split(b"\0") if part]
    ps = shutil.which("ps")
    if ps is None:
        return None
    try:
        out = subprocess.run(
            [ps, "-ww", "-o", "args=", "-p", str(pid)],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.split() if out else []


# --------------------------------------------------------------------------- process trees


@dataclass(frozen=True)
class Proc:
    """A process by pid and start time, so a recycled pid is never signalled by mistake."""

    pid: int
    start: str

    @classmethod
    def of(cls, pid: int) -> Proc | None:
        found = _identity(pid)
        return cls(pid, found[1]) if found else None

    def alive(self) -> bool:
        found = _identity(self.pid)
        return found is not None and found[1] == self.start and found[0] not in ("Z", "X")

    def signal(self, signum: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
                os.kill(self.pid, signum)


def _has_proc() -> bool:
    return platform() == "linux" and Path("/proc/self/stat").is_file()


def _identity(pid: int) -> tuple[str, str] | None:
    """(state, start time) of process ``pid``, or None if there is no such process.

    Linux reads ``/proc/<pid>/stat``; macOS (any POSIX without /proc) asks ``ps``. Windows
    needs neither: there the lab's job object ends whatever JupyterLab left behind.
    """
    if _has_proc():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return fields[0], fields[19]
    out = _ps("-o", "stat=", "-o", "lstart=", "-p", str(pid))
    if not out:
        return None
    state, _, start = out.strip().partition(" ")
    return state[:1], start.strip()


def _ps(*args: str) -> str:
    """``ps`` with ``args`` (POSIX without /proc), or "" where there is no ps (Windows)."""
    ps = shutil.which("ps") if platform() != "win32" else None
    if ps is None:
        return ""
    try:
        done = subprocess.run([ps, *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout


def children(parent: int) -> list[int]:
    """The pids of ``parent``'s children: /proc on Linux, ``ps`` elsewhere."""
    if _has_proc():
        kids: list[int] = []
        for task in Path(f"/proc/{parent}/task").glob("*"):
            with contextlib.suppress(OSError):
                kids += [int(c) for c in (task / "children").read_text().split()]
        return kids
    pairs = (line.split() for line in _ps("-A", "-o", "pid=", "-o", "ppid=").splitlines())
    return [int(p[0]) for p in pairs if len(p) == 2 and p[1] == str(parent)]


def descendants(pid: int) -> list[Proc]:
    """Every process below ``pid`` (children, their children, ...)."""
    found: list[Proc] = []
    todo = [pid]
    while todo:
        for child in children(todo.pop()):
            proc = Proc.of(child)
            if proc is not None and proc not in found:
                found.append(proc)
                todo.append(proc.pid)
    return found
