"""The `fanout-kit` command and the Makefile's bootstrap."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import fanout_kit
from fanout_kit.processes import pid_alive

ROOT = Path(__file__).resolve().parent.parent
CLI = str(Path(sys.executable).parent / "fanout-kit")


NOTEBOOK_STACK = {"ipywidgets", "IPython", "anywidget", "ipykernel"}


@pytest.mark.parametrize("args", [["server", "--help"], ["doctor"]])
def test_server_and_doctor_do_not_load_the_notebook_stack(args: list[str]) -> None:
    """What `python -X importtime` reports the command imported: the kit and nats-py, none
    of ipywidgets, IPython, anywidget or ipykernel (a real `doctor` run, start to end)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "fanout_kit.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert {"fanout_kit", "nats"} <= imported  # the report was read
    assert not imported & NOTEBOOK_STACK, sorted(imported & NOTEBOOK_STACK)


def test_the_board_is_imported_on_first_use() -> None:
    code = (
        "import sys, fanout_kit\n"
        "print('ipywidgets' in sys.modules, 'Board' in dir(fanout_kit))\n"
        "board = fanout_kit.Board\n"
        "print('ipywidgets' in sys.modules, board.__module__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "True", "fanout_kit.board"]
    with pytest.raises(AttributeError, match="no attribute 'Bored'"):
        fanout_kit.Bored  # noqa: B018


def test_doctor_reports_versions_and_a_working_server() -> None:
    result = subprocess.run([CLI, "doctor"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    for label in ("Python", "nats-py", "nats-server", "JupyterLab", "ipywidgets"):
        assert re.search(rf"^{label}\s+\d", result.stdout, re.M), f"{label} missing"
    assert "JetStream     enabled" in result.stdout
    assert re.search(r"listening\s+127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+", result.stdout)
    assert "orphans       the server dies with its owner (Linux parent-death signal)" in (
        result.stdout
    )


def test_doctor_names_each_problem_and_exits_non_zero(tmp_path) -> None:
    env = {**os.environ, "FANOUT_KIT_NATS_SERVER": str(tmp_path / "missing-nats-server")}
    result = subprocess.run([CLI, "doctor"], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 1
    assert "Problems:" in result.stderr
    assert "FANOUT_KIT_NATS_SERVER=" in result.stderr


def test_server_runs_in_the_foreground_until_ctrl_c() -> None:
    proc = subprocess.Popen([CLI, "server"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(3)]
    pid = int(re.search(r"pid (\d+)", lines[0]).group(1))
    url = lines[1].split()[-1]
    assert url.startswith("nats://127.0.0.1:")

    async def roundtrip() -> bool:
        nc = await fanout_kit.connect(url)
        await nc.jetstream().account_info()
        await nc.close()
        return True

    assert asyncio.run(roundtrip())
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    assert not pid_alive(pid)


def test_server_on_a_store_in_use_says_which_server_has_it(tmp_path) -> None:
    store = tmp_path / "store"

    async def second_start() -> subprocess.CompletedProcess[str]:
        async with await fanout_kit.start_server(store_dir=store) as first:
            result = await asyncio.to_thread(
                subprocess.run,
                [CLI, "server", "--store", str(store)],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert f"nats-server pid {first.pid} at {first.url}" in result.stderr
            return result

    result = asyncio.run(second_start())
    assert result.returncode == 1 and result.stderr.startswith("fanout-kit server: ")
    assert "Traceback" not in result.stderr


def test_server_with_a_store_that_is_a_file(tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = subprocess.run(
        [CLI, "server", "--store", str(blocker)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1 and "not writable" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_arguments_are_refused_outside_lab() -> None:
    result = subprocess.run([CLI, "server", "--bogus"], capture_output=True, text=True)
    assert result.returncode == 2 and "unrecognized arguments: --bogus" in result.stderr


def test_make_does_nothing_extra_when_the_venv_is_current() -> None:
    stamp = ".venv/.fanout-kit-installed"
    # -q: exit 0 when the target is up to date, so `make test` installs nothing.
    assert subprocess.run(["make", "-q", stamp], cwd=ROOT).returncode == 0
    # -W: "what if pyproject.toml changed": the install recipe would run.
    plan = subprocess.run(
        ["make", "-n", "-W", "pyproject.toml", stamp], cwd=ROOT, capture_output=True, text=True
    )
    assert "pip install" in plan.stdout and "-e '.[test]'" in plan.stdout
