"""Find (or get) the Chromium that the JupyterLab browser tests drive: one place for it.

``make test`` runs ``python tools/find_browser.py --install`` before the suite, `.ci/run` calls
``make test``, and ``tests/browser.py`` asks :func:`find` for the executable to hand to
Playwright. Lookup order, first usable one wins (usable: ``<exe> --version`` answers with a
Chromium or Chrome version, so a snap stub or a broken download is passed over):

1. ``FANOUT_KIT_CHROMIUM`` (a path or a command name), when set: nothing else is tried.
2. The system's browser on ``PATH``: ``chromium``, ``chromium-browser``, ``google-chrome``,
   ``google-chrome-stable``, ``chrome`` (and the usual app bundles on macOS).
3. Playwright's own download in its cache (``PLAYWRIGHT_BROWSERS_PATH``, else
   ``~/.cache/ms-playwright`` on Linux), newest revision first, full Chromium before the
   headless shell.

With ``--install`` and nothing found, it gets one: ``playwright install chromium`` where that
can download; where it cannot and we are root with ``apt-get`` (a fresh Debian machine or
container, CI), Debian's ``chromium`` (``apt-get update`` once, then install). Otherwise it
stops with one message naming the exact command to run. Standard library only, so it also
runs before (or without) the kit's virtual environment.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass
from pathlib import Path

ENV_OVERRIDE = "FANOUT_KIT_CHROMIUM"
SYSTEM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
MAC_APPS = (
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
)
# Executables inside a Playwright browser directory (``chromium-1255/chrome-linux64/chrome``,
# ``chromium_headless_shell-1255/chrome-headless-shell-linux64/chrome-headless-shell``, ...).
PLAYWRIGHT_EXECUTABLES = {
    "chromium": ("chrome", "chrome.exe", "Google Chrome for Testing", "Chromium"),
    "chromium_headless_shell": (
        "chrome-headless-shell",
        "chrome-headless-shell.exe",
        "headless_shell",
    ),
}
VERSION_TIMEOUT_S = 30.0
# Playwright waits this long for a download server to answer before it gives up (its own
# default is longer); a machine without a route to it fails at once on DNS anyway.
DOWNLOAD_CONNECTION_TIMEOUT_MS = "15000"
DOWNLOAD_TIMEOUT_S = 20 * 60.0
APT_TIMEOUT_S = 20 * 60.0
_VERSION = re.compile(r"Chrom(?:e|ium)\D*(\d+(?:\.\d+)+)")


@dataclass(frozen=True)
class Browser:
    """A usable Chromium: where it is, which version it reports, and how it was found."""

    path: Path
    version: str
    source: str

    def describe(self) -> str:
        return f"{self.path} ({self.version}, {self.source})"


class NoBrowser(RuntimeError):
    """No usable Chromium, and none could be installed here; the message says what to run."""


# --------------------------------------------------------------------------------- lookup


def chromium_version(exe: Path | str, timeout: float = VERSION_TIMEOUT_S) -> str | None:
    """``"Chromium 156.0.8078.73"`` when ``exe --version`` answers like a Chromium, else None."""
    try:
        done = subprocess.run(
            [str(exe), "--version"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(done.stdout)
    if done.returncode != 0 or match is None:
        return None
    return done.stdout[: match.end()].strip().splitlines()[-1]


def playwright_cache(env: Mapping[str, str]) -> Path | None:
    """The directory Playwright downloads browsers into, as Playwright itself computes it."""
    configured = env.get("PLAYWRIGHT_BROWSERS_PATH")
    if configured == "0":  # inside the installed playwright package
        spec = importlib.util.find_spec("playwright")
        if spec is None or spec.origin is None:
            return None
        return Path(spec.origin).parent / "driver" / "package" / ".local-browsers"
    if configured:
        return Path(configured)
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "ms-playwright"
    if sys.platform == "win32":
        local = env.get("LOCALAPPDATA")
        return (Path(local) if local else home / "AppData" / "Local") / "ms-playwright"
    cache = env.get("XDG_CACHE_HOME")
    return (Path(cache) if cache else home / ".cache") / "ms-playwright"


def _revision(directory: Path) -> int:
    tail = directory.name.rpartition("-")[2]
    return int(tail) if tail.isdigit() else -1


def _playwright_candidates(env: Mapping[str, str]) -> Iterator[tuple[Path, str]]:
    root = playwright_cache(env)
    if root is None or not root.is_dir():
        return
    for kind, names in PLAYWRIGHT_EXECUTABLES.items():
        dirs = [d for d in root.glob(f"{kind}-*") if d.is_dir() and _revision(d) >= 0]
        for directory in sorted(dirs, key=_revision, reverse=True):
            for path in sorted(directory.rglob("*")):
                if path.name in names and path.is_file() and os.access(path, os.X_OK):
                    yield path, f"Playwright's {directory.name} in {root}"


def _candidates(env: Mapping[str, str]) -> Iterator[tuple[Path, str]]:
    search_path = env.get("PATH", "")
    for name in SYSTEM_NAMES:
        found = shutil.which(name, path=search_path)
        if found:
            yield Path(found), f"system `{name}`"
    if sys.platform == "darwin":
        for app in MAC_APPS:
            if Path(app).is_file():
                yield Path(app), "system app"
    yield from _playwright_candidates(env)


def find(env: Mapping[str, str] | None = None) -> Browser | None:
    """The first usable Chromium in the lookup order above, or None.

    Raises NoBrowser when ``FANOUT_KIT_CHROMIUM`` is set but names nothing usable (an explicit
    choice is never replaced by a guess).
    """
    env = os.environ if env is None else env
    override = env.get(ENV_OVERRIDE)
    if override:
        exe = shutil.which(override, path=env.get("PATH", "")) or override
        version = chromium_version(exe)
        if version is None:
            raise NoBrowser(
                f"{ENV_OVERRIDE}={override!r} is not a usable Chromium or Chrome "
                f"(`{exe} --version` did not answer with a version). Point it at a browser "
                f"executable, or unset it to let the kit look for one."
            )
        return Browser(Path(exe), version, ENV_OVERRIDE)
    seen: set[Path] = set()
    for path, source in _candidates(env):
        real = path.resolve()
        if real in seen:
            continue
        seen.add(real)
        version = chromium_version(path)
        if version is not None:
            return Browser(path, version, source)
    return None


# -------------------------------------------------------------------------------- install


def _last_error(output: str) -> str:
    """The most telling line of a failed tool's output (its last ``Error``, else last line)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or ["no output"])[-1][:300]


def _run(cmd: Sequence[str], env: Mapping[str, str], timeout: float) -> tuple[bool, str]:
    try:
        done = subprocess.run(
            list(cmd),
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return False, f"`{' '.join(cmd)}` gave no result within {timeout:.0f} s"
    except OSError as exc:
        return False, f"`{' '.join(cmd)}` could not start: {exc}"
    return done.returncode == 0, done.stdout + done.stderr


def default_playwright() -> list[str] | None:
    """``python -m playwright`` for this interpreter, when Playwright is installed in it."""
    if importlib.util.find_spec("playwright") is None:
        return None
    return [sys.executable, "-m", "playwright"]


def default_apt(env: Mapping[str, str]) -> bool:
    """True when we may install Debian's chromium ourselves: root, with apt-get on PATH."""
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    return is_root and shutil.which("apt-get", path=env.get("PATH", "")) is not None


def ensure(
    env: Mapping[str, str] | None = None,
    *,
    playwright: Sequence[str] | None = None,
    apt: bool = False,
    say: Callable[[str], None] = print,
) -> Browser:
    """A usable Chromium: found, else downloaded by ``playwright``, else apt-installed.

    ``playwright`` is the command that runs Playwright's CLI (``[python, "-m", "playwright"]``),
    or None to skip the download; ``apt`` allows ``apt-get install chromium`` (``default_apt``).
    Raises NoBrowser naming the one command to run when nothing worked.
    """
    env = dict(os.environ if env is None else env)
    browser = find(env)
    if browser is not None:
        return browser
    tried: set[str] = set()

    if playwright is not None:
        tried.add("playwright")
        say("fanout-kit: no Chromium found; trying Playwright's download (install chromium)")
        run_env = {"PLAYWRIGHT_DOWNLOAD_CONNECTION_TIMEOUT": DOWNLOAD_CONNECTION_TIMEOUT_MS, **env}
        ok, output = _run([*playwright, "install", "chromium"], run_env, DOWNLOAD_TIMEOUT_S)
        browser = find(env) if ok else None
        if browser is not None:
            return browser
        say(f"fanout-kit: Playwright could not download it: {_last_error(output)}")

    if apt and shutil.which("apt-get", path=env.get("PATH", "")) is not None:
        tried.add("apt")
        say("fanout-kit: installing Debian's chromium (apt-get update, apt-get install chromium)")
        apt_env = {**env, "DEBIAN_FRONTEND": "noninteractive"}
        ok, output = _run(["apt-get", "update", "-qq"], apt_env, APT_TIMEOUT_S)
        if ok:
            install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"]
            ok, output = _run(install, apt_env, APT_TIMEOUT_S)
        browser = find(env) if ok else None
        if browser is not None:
            return browser
        if ok:  # installed (or already was), yet nothing usable on this PATH
            say("fanout-kit: apt-get reports chromium installed, but no usable one is on PATH")
        else:
            say(f"fanout-kit: apt-get could not install chromium: {_last_error(output)}")

    raise NoBrowser(what_to_run(env, tried))


def what_to_run(env: Mapping[str, str], tried: Set[str] = frozenset()) -> str:
    """One message: nothing usable was found, and the one command that gets a browser.

    Debian's package where apt-get is (with sudo unless root) and it has not just failed,
    else Playwright's download where that has not just failed, else a browser of one's own.
    """
    if "apt" not in tried and shutil.which("apt-get", path=env.get("PATH", "")) is not None:
        sudo = "" if hasattr(os, "geteuid") and os.geteuid() == 0 else "sudo "
        fix = f"Run: {sudo}apt-get install chromium"
    elif "playwright" not in tried:
        fix = "Run: .venv/bin/python -m playwright install chromium"
    else:
        fix = "Install Chromium or Google Chrome so that `chromium` or `google-chrome` is on PATH"
    return (
        "no Chromium for the JupyterLab browser tests: none of "
        + ", ".join(SYSTEM_NAMES)
        + f" on PATH answers to --version, and Playwright's cache ({playwright_cache(env)})"
        + f" has none.\n{fix}, then `make test` again (or set {ENV_OVERRIDE} to a Chromium or"
        + " Chrome executable)."
    )


# ------------------------------------------------------------------------------------ CLI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--install",
        action="store_true",
        help="when none is found, get one (Playwright download, else apt-get as root)",
    )
    args = parser.parse_args(argv)
    try:
        if args.install:
            browser = ensure(playwright=default_playwright(), apt=default_apt(os.environ))
        else:
            found = find()
            if found is None:
                raise NoBrowser(what_to_run(os.environ))
            browser = found
    except NoBrowser as exc:
        print(f"fanout-kit: {exc}", file=sys.stderr)
        return 1
    print(f"fanout-kit: browser for the JupyterLab tests: {browser.describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
