"""Setup benchmark: a fresh `make lab` with uv against the same with pip, side by side.

    python3 bench/install.py [--rounds 3] [--keep-uv-on-path]

Each round clones the repository's committed HEAD into a new temporary folder and runs
``make lab ARGS=--no-browser`` there, once with the default installer (uv, put into the new
``.venv`` by pip when it is not on PATH) and once with ``INSTALLER=pip``; the order alternates
between rounds so machine noise hits both alike. Caches start empty every time (a new
``UV_CACHE_DIR`` and ``PIP_CACHE_DIR``, and ``PIP_NO_CACHE_DIR``), so every package is
downloaded, as on a newcomer's laptop. Timed from the `make` command to: the venv stamp
written (environment built) and JupyterLab answering ``/lab`` (what the learner waits for), and
the CPU time all of it used (less sensitive to a busy machine than the wall clock).
Directories holding a ``uv`` are taken off PATH unless ``--keep-uv-on-path``. Prints a
markdown table (medians, seconds) and the pip/uv ratio for the README's Performance section.

Needs only the standard library, git and make; runs with any Python 3.11+.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAMP = Path(".venv") / ".fanout-kit-lab-installed"  # what `make lab` writes
TIMEOUT_S = 300.0


@dataclass
class Run:
    installer: str  # what the stamp says was used, e.g. "uv 0.13.9"
    venv_s: float  # `make lab` started -> .venv built (stamp written)
    ready_s: float  # `make lab` started -> JupyterLab answers /lab
    cpu_s: float  # CPU seconds (user + system) of make and everything it ran, until stopped
    lines: list[str]  # what `make lab` printed before JupyterLab's own log


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def path_without_uv() -> str:
    dirs = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(d for d in dirs if not shutil.which("uv", path=d))


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Ctrl-C for the whole group (make, fanout-kit lab, JupyterLab, nats-server), then wait."""
    for sig, grace in ((signal.SIGINT, 30.0), (signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def one_run(tmp: Path, installer: str, keep_uv: bool) -> Run:
    """One fresh clone in ``tmp`` (left in place: see main), one `make lab`, timed."""
    clone = tmp / "fanout-kit"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    port, token = free_port(), uuid.uuid4().hex
    env = {
        **os.environ,
        "UV_CACHE_DIR": str(tmp / "uv-cache"),
        "PIP_CACHE_DIR": str(tmp / "pip-cache"),
        "PIP_NO_CACHE_DIR": "1",
        "JUPYTER_PORT": str(port),
        "JUPYTER_TOKEN": token,
        "JUPYTER_CONFIG_DIR": str(tmp / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "jupyter-runtime"),
    }
    env.pop("NATS_URL", None)
    if not keep_uv:
        env["PATH"] = path_without_uv()
    cmd = ["make", "--no-print-directory", "lab", "ARGS=--no-browser"]
    if installer == "pip":
        cmd.append("INSTALLER=pip")
    log = tmp / "make.log"
    url = f"http://127.0.0.1:{port}/lab?token={token}"
    venv_s = ready_s = None
    with log.open("wb") as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        proc = subprocess.Popen(
            cmd,
            cwd=clone,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            while time.monotonic() - t0 < TIMEOUT_S and proc.poll() is None:
                now = time.monotonic() - t0
                if venv_s is None and (clone / STAMP).exists():
                    venv_s = now
                if venv_s is not None and answers(url):
                    ready_s = time.monotonic() - t0
                    break
                time.sleep(0.05)
        finally:
            stop(proc)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    text = log.read_text(errors="replace")
    if venv_s is None or ready_s is None:
        sys.exit(f"`{' '.join(cmd)}` did not reach JupyterLab:\n{text}")
    used = (clone / STAMP).read_text().strip()
    # make's own lines: everything before `fanout-kit lab` starts talking.
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("fanout-kit lab"):
            break
        lines.append(line)
    return Run(used, venv_s, ready_s, cpu_s, lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--keep-uv-on-path", action="store_true", help="let make use a uv found on PATH"
    )
    args = parser.parse_args()
    runs: dict[str, list[Run]] = {"uv": [], "pip": []}
    load_before = os.getloadavg()[0]
    # Every round's tree is kept until the end: deleting tens of thousands of files just before
    # the next round creates as many makes ext4 scan past the freshly freed inodes on every
    # create (seen here: `recently_deleted` as most of the system time), which a newcomer's
    # first `make lab` never pays.
    with tempfile.TemporaryDirectory(prefix="fanout-kit-install-") as tmp_name:
        for i in range(args.rounds):
            order = ["uv", "pip"] if i % 2 == 0 else ["pip", "uv"]
            for installer in order:
                tmp = Path(tmp_name) / f"{i}-{installer}"
                tmp.mkdir()
                run = one_run(tmp, installer, args.keep_uv_on_path)
                runs[installer].append(run)
                print(
                    f"round {i + 1} {installer:>3}: .venv {run.venv_s:5.1f} s, "
                    f"JupyterLab answering {run.ready_s:5.1f} s, CPU {run.cpu_s:5.1f} s"
                    f" ({run.installer})",
                    flush=True,
                )
    print("\nmake's own lines on a fresh clone (uv, last round):")
    for line in runs["uv"][-1].lines:
        print(f"    {line}")

    def median(installer: str, field: str) -> float:
        return statistics.median(float(getattr(r, field)) for r in runs[installer])

    uv_used = runs["uv"][-1].installer
    pip_used = runs["pip"][-1].installer
    load_after = os.getloadavg()[0]
    print(
        f"\nfresh clone, empty caches, {args.rounds} rounds each, alternating; median seconds"
        f" (load average {load_before:.1f} before, {load_after:.1f} after;"
        f" {os.cpu_count()} cores)\n"
    )
    print(f"| step | {uv_used} | {pip_used} | pip / uv |")
    print("|---|---:|---:|---:|")
    for label, field in (
        ("`make lab`: `.venv` built", "venv_s"),
        ("`make lab`: JupyterLab answering", "ready_s"),
        ("CPU time used on the way (user + system)", "cpu_s"),
    ):
        uv, pip = median("uv", field), median("pip", field)
        print(f"| {label} | {uv:.1f} | {pip:.1f} | {pip / uv:.1f}x |")


if __name__ == "__main__":
    main()
