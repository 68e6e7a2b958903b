"""Plain `jupyter lab` (no `fanout-kit lab`): the kit's Jupyter server extension gives every
kernel one session server, started and stopped with Jupyter; the session-server logic it
shares with `fanout-kit lab`."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from fanout_kit import serverext
from fanout_kit.lab import request_shutdown
from fanout_kit.processes import pid_alive
from fanout_kit.session import start_session_server, stop_session_server

from .conftest import wait_until
from .labutil import BIN, ROOT, Lab, free_port, run_in_kernel

pytestmark = [pytest.mark.lab, pytest.mark.timeout(240)]


def test_installing_the_kit_enables_the_extension() -> None:
    """The Makefile's install (uv or pip, editable) put the config file into the environment."""
    config = Path(sys.prefix) / "etc" / "jupyter" / "jupyter_server_config.d" / "fanout_kit.json"
    assert json.loads(config.read_text()) == {
        "ServerApp": {"jpserver_extensions": {"fanout_kit.serverext": True}}
    }
    listed = subprocess.run(
        [str(BIN / "jupyter"), "server", "extension", "list"],
        capture_output=True,
        text=True,
        env={**os.environ, "JUPYTER_CONFIG_DIR": "/nonexistent"},  # no user config in play
        check=True,
    )
    said = re.sub(r"\x1b\[[0-9;]*m", "", listed.stdout + listed.stderr)
    assert re.search(r"fanout_kit\.serverext\s+enabled", said), said
    assert re.search(r"fanout_kit\.serverext\s+OK", said), said


def _plain_jupyter_lab(tmp_path: Path, root: Path) -> Lab:
    """`jupyter lab --no-browser` as a learner runs it, from the kit's environment."""
    port, token = free_port(), uuid.uuid4().hex
    log = tmp_path / "jupyter.log"
    runtime = tmp_path / "jupyter-runtime"
    env = {**os.environ, "JUPYTER_PORT": str(port), "JUPYTER_TOKEN": token}
    for name in ("NATS_URL", "NATS_MONITOR_URL", "FANOUT_KIT_PROGRESS", serverext.OFF_ENV):
        env.pop(name, None)
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "jupyter-config")
    env["JUPYTER_RUNTIME_DIR"] = str(runtime)
    argv = [str(BIN / "jupyter"), "lab", "--no-browser", "--LabApp.news_url=None"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--allow-root")
    proc = subprocess.Popen(
        argv,
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return Lab(proc, port, token, log, runtime, None)


async def test_plain_jupyter_lab_shares_one_server_and_leaves_nothing(tmp_path) -> None:
    root = tmp_path / "course"
    root.mkdir()
    lab = _plain_jupyter_lab(tmp_path, root)
    try:
        lab.wait_ready()
        said = re.search(r"fanout-kit: session nats-server \S+ at (\S+) \(pid (\d+),", lab.output())
        assert said, lab.output()
        url, server_pid = said.group(1), int(said.group(2))
        code = (
            "import os, fanout_kit\n"
            "nc = await fanout_kit.connect()\n"
            "print(os.environ['NATS_URL'], (await fanout_kit.monitor('varz'))['port'])\n"
        )
        first = await run_in_kernel(
            lab,
            code + "await nc.jetstream().add_stream(name='SHARED', subjects=['shared.>'])\n"
            "await nc.close()\nprint(os.getpid())\n",
        )
        second = await run_in_kernel(
            lab,
            code + "print((await nc.jetstream().stream_info('SHARED')).config.name)\n"
            "await nc.close()\nprint(os.getpid())\n",
        )
        port = url.rsplit(":", 1)[1]
        first_url, first_port, first_pid = first.split()
        second_url, second_port, stream, second_pid = second.split()
        assert first_url == second_url == url and first_port == second_port == port
        assert stream == "SHARED", "the second kernel does not see the first one's stream"
        assert first_pid != second_pid, "one kernel ran both"
        kernels = [int(first_pid), int(second_pid)]
        request_shutdown(lab.runtime, lab.proc.pid)  # how `fanout-kit lab` stops it on Windows
        assert lab.proc.wait(timeout=60) == 0, lab.output()
    finally:
        if lab.proc.poll() is None:
            lab.proc.kill()
    for pid in (server_pid, *kernels):
        wait_until(lambda pid=pid: not pid_alive(pid), timeout=30, what=f"pid {pid} to end")
    assert "fanout-kit: session nats-server stopped" in lab.output()
    store = root / ".fanout-kit" / "lab-store"
    assert (store / "jetstream").is_dir(), "the session's streams are kept for the next one"


class _App:
    """What the extension reads from Jupyter's ServerApp: its log and its root folder."""

    def __init__(self, root: Path) -> None:
        self.root_dir = str(root)
        self.log = logging.getLogger("test-serverext")


def test_the_extension_starts_nothing_when_nats_url_is_set(
    tmp_path, monkeypatch, caplog, server
) -> None:
    monkeypatch.setenv("NATS_URL", f"nats://seat-01:pw@{server.url.split('://')[1]}")
    caplog.set_level(logging.INFO, "test-serverext")
    serverext._load_jupyter_server_extension(_App(tmp_path))
    assert f"kernels use NATS_URL=nats://***@{server.url.split('://')[1]}" in caplog.text
    assert "pw" not in caplog.text
    assert not (tmp_path / ".fanout-kit").exists(), "no store, no server"
    monkeypatch.delenv("NATS_URL")
    monkeypatch.setenv(serverext.OFF_ENV, "off")
    serverext._load_jupyter_server_extension(_App(tmp_path))
    assert "session server turned off" in caplog.text
    assert not (tmp_path / ".fanout-kit").exists()


def test_a_second_session_on_a_busy_store_gets_a_private_one(tmp_path) -> None:
    store = tmp_path / ".fanout-kit" / "lab-store"
    first = start_session_server(store)
    try:
        second = start_session_server(store, private_if_busy=True)
        try:
            assert first.note is None and second.note is not None
            assert f"The JetStream store {store} is already used" in second.note
            assert "a server of their own on a private store" in second.note
            assert second.server.store_dir != store and second.server.url != first.server.url
        finally:
            stop_session_server(second)
        assert not second.server.store_dir.exists(), "the private store is removed"
    finally:
        stop_session_server(first)
    assert (store / "jetstream").is_dir()


def test_the_binder_route_installs_the_kit_where_jupyter_runs() -> None:
    """repo2docker (Binder) runs `env update` with environment.yml in the environment its
    Jupyter server runs from, copying the whole repository first when the pip section names
    a local path. So environment.yml must install the kit itself, editable, from the checkout:
    that install carries the config file that enables the extension (the editable route is
    tested for real in test_wheelhouse.py, with pip and uv), and must not pin a Python below
    3.7, for which repo2docker would put the packages in a separate kernel environment."""
    import yaml

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    local = [line for line in pip if line.startswith("-e .")]
    assert local == ["-e .[test]"], pip
    pythons = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert pythons == ["python>=3.11"], pythons
