"""`fanout-kit lab` end to end: a real JupyterLab, real kernels, the shared server, the
learner's workspace, and stopping it every way a learner or a script does."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fanout_kit import progress
from fanout_kit.lab import stop_tree
from fanout_kit.processes import pid_alive
from fanout_kit.workspace import PROGRESS_FILE

from .conftest import wait_until
from .labutil import ROOT, Lab, run_in_kernel, start_lab

pytestmark = [pytest.mark.lab, pytest.mark.timeout(240)]

LESSONS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))

#: A process a kernel starts that ignores SIGTERM: only SIGKILL ends it.
STUBBORN = (
    "import subprocess, sys\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import signal, time; "
    "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)'])\n"
    "print(os.getpid(), child.pid)\n"
)


def _tracked() -> dict[str, str]:
    folder = ROOT / "notebooks"
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".ipynb_checkpoints" not in p.parts
    }


def _seed_old_session(tmp_path: Path) -> Path:
    """A JupyterLab workspace saved by an earlier session with lesson 03 open."""
    folder = tmp_path / "jupyter-config" / "lab" / "workspaces"
    folder.mkdir(parents=True)
    saved = folder / "default-37a8.jupyterlab-workspace"
    saved.write_text(
        json.dumps(
            {
                "data": {
                    "layout-restorer:data": {
                        "main": {
                            "dock": {
                                "type": "tab-area",
                                "currentIndex": 0,
                                "widgets": ["notebook:03-filtered-fan-out.ipynb"],
                            }
                        }
                    },
                    "notebook:03-filtered-fan-out.ipynb": {
                        "data": {"path": "03-filtered-fan-out.ipynb", "factory": "Notebook"}
                    },
                },
                "metadata": {"id": "default"},
            }
        )
    )
    return saved


def _assert_private_runtime(lab: Lab) -> None:
    """JupyterLab's runtime files (the token) sit in a folder only this user can read."""
    files = lab.runtime_files()
    assert any(p.name.startswith("jpserver-") and p.suffix == ".json" for p in files), files
    for path in files:
        private = path.relative_to(lab.runtime).parts[0]
        assert (lab.runtime / private).stat().st_mode & 0o777 == 0o700, path


def _assert_all_gone(lab: Lab, *pids: int) -> None:
    lab.proc.wait(timeout=60)
    for pid in pids:
        wait_until(lambda pid=pid: not pid_alive(pid), timeout=30, what=f"pid {pid} to end")
    assert "nats-server stopped" in lab.output()
    assert lab.runtime_files() == [], "a runtime file (the token) was left behind"


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
            "print((await fanout_kit.monitor('varz'))['port'] == nc.connected_url.port)\n"
            "await nc.close()\n",
        )
        assert second.split() == ["SHARED", "True"]  # NATS_MONITOR_URL: the same server
    finally:
        if lab.proc.poll() is None:
            lab.interrupt()
    assert not pid_alive(lab.proc.pid)
    wait_until(lambda: not pid_alive(server_pid), what="the lab's nats-server to stop")
    wait_until(lambda: not pid_alive(int(kernel_pid)), what="the lab's kernels to stop")
    assert "nats-server stopped" in lab.output()
    assert (tmp_path / "store" / "jetstream").is_dir(), "the lab's store outlives the session"


async def test_the_learner_works_on_cleared_copies_and_starts_on_welcome(tmp_path) -> None:
    before = _tracked()
    saved = _seed_old_session(tmp_path)
    saved_text = saved.read_text()
    lab = start_lab(tmp_path, "--store", str(tmp_path / "store"))
    try:
        lab.wait_ready()
        assert f"your copies of the lessons are in {lab.workspace}" in lab.output()
        status, listing = lab.get("/api/contents/")
        assert status == 200
        names = {item["name"] for item in json.loads(listing)["content"]}
        assert set(LESSONS) | {"solutions"} <= names
        for name in LESSONS:
            status, body = lab.get(f"/api/contents/{name}?content=1")
            assert status == 200, body
            cells = json.loads(body)["content"]["cells"]
            code = [c for c in cells if c["cell_type"] == "code"]
            assert code, name
            shown = [i for i, c in enumerate(code) if c["outputs"] or c["execution_count"]]
            assert not shown, f"{name}: code cells {shown} show outputs before they are run"
        status, body = lab.get("/api/contents/solutions")
        assert status == 200 and "02-basic-fan-out.py" in body
        # Opens on the welcome lesson, in a fresh JupyterLab workspace: nothing restored.
        assert lab.redirect("/").split("?")[0].endswith("/lab/tree/00-welcome.ipynb")
        status, body = lab.get("/lab/api/workspaces")
        assert status == 200 and "03-filtered-fan-out" not in body, body
        # A kernel runs in the workspace and records its checks there.
        out = await run_in_kernel(
            lab,
            "import os\nfrom fanout_kit import progress\n"
            "progress.record('fanout.billing_consumer', 'wrong', 1)\n"
            "print(os.getcwd())\nprint(progress.progress_file())\n",
            notebook="02-basic-fan-out.ipynb",
        )
        cwd, recorded = out.split()
        assert Path(cwd) == lab.workspace
        assert Path(recorded).parent == lab.workspace and Path(recorded).is_file()
    finally:
        if lab.proc.poll() is None:
            lab.interrupt()
    shown = repr(progress.report(lab.workspace / PROGRESS_FILE))
    assert "02  ✗ tried (1 wrong)" in shown, shown
    assert saved.read_text() == saved_text, "the user's own saved workspace is left as it was"
    assert _tracked() == before, "the session changed tracked files"


@pytest.mark.browser
def test_a_browser_session_edits_and_saves_a_copy_not_the_lesson(tmp_path) -> None:
    from .browser import chromium_page, open_notebook

    before = _tracked()
    _seed_old_session(tmp_path)
    lab = start_lab(
        tmp_path, "--store", str(tmp_path / "store"), "--LabApp.expose_app_in_browser=True"
    )
    try:
        lab.wait_ready()
        with chromium_page(tmp_path) as page:
            page.goto(f"{lab.base}/?token={lab.token}")
            page.wait_for_function("() => window.jupyterapp !== undefined", timeout=60_000)
            page.wait_for_selector(".jp-Notebook", timeout=60_000)
            titles = page.evaluate(
                "() => [...window.jupyterapp.shell.widgets('main')].map(w => w.title.label)"
            )
            assert titles == ["00-welcome.ipynb"], titles
            open_notebook(page, lab, "02-basic-fan-out.ipynb")
            page.evaluate(
                """async () => {
                    const panel = window.jupyterapp.shell.currentWidget;
                    const cell = panel.content.widgets.find(c => c.model.type === 'code');
                    const source = cell.model.sharedModel;
                    source.setSource('# my edit\\n' + source.getSource());
                    await window.jupyterapp.commands.execute('docmanager:save');
                }"""
            )
        status, body = lab.get("/api/contents/02-basic-fan-out.ipynb?content=1")
        assert status == 200
        code = [c for c in json.loads(body)["content"]["cells"] if c["cell_type"] == "code"]
        assert code[0]["source"].startswith("# my edit\n"), "the edit was not saved to the copy"
        assert (lab.workspace / "02-basic-fan-out.ipynb").read_text().count("# my edit") == 1
    finally:
        if lab.proc.poll() is None:
            lab.interrupt()
    assert _tracked() == before, "a browser session changed tracked files"


async def test_ctrl_c_in_a_terminal_stops_everything(tmp_path) -> None:
    lab = start_lab(tmp_path, "--store", str(tmp_path / "store"), terminal=True)
    try:
        lab.wait_ready()
        _assert_private_runtime(lab)
        server_pid = lab.nats_pid()
        kernel_pid, stubborn = map(
            int, (await run_in_kernel(lab, "import os\n" + STUBBORN)).split()
        )
        assert lab.terminal is not None
        os.write(lab.terminal, b"\x03")  # what the terminal sends for Ctrl-C
        _assert_all_gone(lab, server_pid, kernel_pid, stubborn)
        assert "SIGINT: stopping JupyterLab" in lab.output()
    finally:
        if lab.proc.poll() is None:
            lab.proc.kill()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_a_signal_without_a_terminal_stops_everything(tmp_path, signum) -> None:
    """`fanout-kit lab &` from a script: no terminal, SIGINT ignored as a background job's is;
    the signal goes to the lab's pid alone, not to a process group."""
    lab = start_lab(tmp_path, "--store", str(tmp_path / "store"), sigint_ignored=True)
    try:
        lab.wait_ready()
        _assert_private_runtime(lab)
        server_pid = lab.nats_pid()
        kernel_pid, stubborn = map(
            int, (await run_in_kernel(lab, "import os\n" + STUBBORN)).split()
        )
        lab.proc.send_signal(signum)
        _assert_all_gone(lab, server_pid, kernel_pid, stubborn)
    finally:
        if lab.proc.poll() is None:
            lab.proc.kill()


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
            wait_until(lambda pid=pid: not pid_alive(pid), timeout=30, what=f"{what} {pid} to stop")
    finally:
        if lab.proc.poll() is None:
            lab.interrupt()


def test_stop_tree_escalates_to_sigkill_for_what_ignores_sigterm() -> None:
    """No lab needed: a parent and its child that both ignore SIGTERM end anyway."""
    code = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import signal, time; "
        "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    stop_tree(proc, grace=0.5, kill_grace=0.5)
    assert proc.returncode == -signal.SIGKILL
    wait_until(lambda: not pid_alive(child), timeout=10, what="the grandchild to be killed")
