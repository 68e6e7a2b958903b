"""`fanout-kit lab` end to end: a real JupyterLab, a real kernel, the shared server."""

from __future__ import annotations

import re

import pytest

from fanout_kit.server import _pid_alive

from .conftest import wait_until
from .labutil import run_in_kernel, start_lab

pytestmark = [pytest.mark.lab, pytest.mark.timeout(240)]


async def test_lab_shares_one_server_with_every_kernel_and_cleans_up(tmp_path) -> None:
    lab = start_lab(tmp_path, "--store", str(tmp_path / "store"))
    try:
        lab.wait_ready()
        url, server_pid = lab.nats_url(), lab.nats_pid()
        status, page = lab.get("/lab")
        assert status == 200
        # Offline workshops: no news feed, no update check.
        assert re.search(r'"news":\s*\{"disabled":\s*true\}', page), "news feed not disabled"
        code = (
            "import os, fanout_kit\n"
            "nc = await fanout_kit.connect()\n"
            "print(os.environ['NATS_URL'], nc.connected_url.port)\n"
            "await nc.jetstream().add_stream(name='SHARED', subjects=['shared.>'])\n"
            "await nc.close()\n"
        )
        first = await run_in_kernel(lab, code + "print(os.getpid())\n")
        nats_url, port, kernel_pid = first.split()
        assert [nats_url, port] == [url, url.rsplit(":", 1)[1]]
        # A second kernel sees the stream the first one made: one server for the session.
        second = await run_in_kernel(
            lab,
            "import fanout_kit\nnc = await fanout_kit.connect()\n"
            "print((await nc.jetstream().stream_info('SHARED')).config.name)\n"
            "await nc.close()\n",
        )
        assert second.strip() == "SHARED"
    finally:
        if lab.proc.poll() is None:
            lab.interrupt()
    assert not _pid_alive(lab.proc.pid)
    wait_until(lambda: not _pid_alive(server_pid), what="the lab's nats-server to stop")
    wait_until(lambda: not _pid_alive(int(kernel_pid)), what="the lab's kernels to stop")
    assert "nats-server stopped" in lab.output()
    assert (tmp_path / "store" / "jetstream").is_dir(), "the lab's store outlives the session"


async def test_lab_uses_nats_url_when_set(tmp_path, server) -> None:
    lab = start_lab(tmp_path, env={"NATS_URL": server.url})
    try:
        lab.wait_ready()
        assert f"using NATS_URL={server.url}" in lab.output()
        out = await run_in_kernel(lab, "import os\nprint(os.environ['NATS_URL'])")
        assert out.strip() == server.url
    finally:
        lab.interrupt()
    assert server.running, "the lab must not stop a server it did not start"


def _children(pid: int) -> list[int]:
    from pathlib import Path

    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


async def test_sigkill_of_the_lab_leaves_nothing_running(tmp_path) -> None:
    """`kill -9` of `fanout-kit lab`: its server and JupyterLab (and so the kernels) go too."""
    lab = start_lab(tmp_path, "--store", str(tmp_path / "store"))
    try:
        lab.wait_ready()
        server_pid = lab.nats_pid()
        kernel_pid = int(await run_in_kernel(lab, "import os\nprint(os.getpid())"))
        jupyter = [p for p in _children(lab.proc.pid) if p != server_pid]
        assert jupyter, "JupyterLab is not a child of fanout-kit lab"
        lab.proc.kill()
        lab.proc.wait()
        for pid, what in [
            (server_pid, "nats-server"),
            (jupyter[0], "JupyterLab"),
            (kernel_pid, "kernel"),
        ]:
            wait_until(
                lambda pid=pid: not _pid_alive(pid), timeout=30, what=f"{what} {pid} to stop"
            )
    finally:
        if lab.proc.poll() is None:
            lab.interrupt()


async def test_sigint_to_the_lab_process_alone_stops_everything(tmp_path) -> None:
    """`kill -INT <pid of fanout-kit lab>` (not the whole group, as a terminal would)."""
    import signal

    lab = start_lab(tmp_path, "--store", str(tmp_path / "store"))
    try:
        lab.wait_ready()
        server_pid = lab.nats_pid()
        lab.proc.send_signal(signal.SIGINT)
        lab.proc.wait(timeout=60)
        wait_until(lambda: not _pid_alive(server_pid), what="the lab's nats-server to stop")
        assert "nats-server stopped" in lab.output()
    finally:
        if lab.proc.poll() is None:
            lab.interrupt()
