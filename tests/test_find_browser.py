"""The browser lookup behind `make test` (tools/find_browser.py), with fake executables.

Each test builds its own PATH and HOME out of small shell scripts that answer ``--version``
like a Chromium (or like a snap stub that is not one), so the real machine's browser, cache
and package manager are never consulted or touched.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tools.find_browser import Browser, NoBrowser, ensure, find, what_to_run

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tools" / "find_browser.py"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
# The fakes run with a PATH of fakes only: the tools they use are named by full path.
CHMOD = shutil.which("chmod")
MKDIR = shutil.which("mkdir")

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fake executables are sh scripts")


def fake(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body + "\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def fake_chromium(path: Path, version: str = "Chromium 150.0.1.2") -> Path:
    answer = f'[ "$1" = --version ] && echo "{version} built for a test" && exit 0'
    return fake(path, answer + "\nexit 3")


@pytest.fixture
def machine(tmp_path: Path) -> dict[str, str]:
    """An environment with an empty PATH directory and an empty HOME."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "home").mkdir()
    return {"PATH": str(tmp_path / "bin"), "HOME": str(tmp_path / "home")}


def bin_dir(env: dict[str, str]) -> Path:
    return Path(env["PATH"].split(os.pathsep)[0])


def cache_dir(env: dict[str, str]) -> Path:
    return Path(env["HOME"]) / ".cache" / "ms-playwright"


# ------------------------------------------------------------------------------- found


def test_a_system_chromium_on_path_is_found(machine: dict[str, str]) -> None:
    exe = fake_chromium(bin_dir(machine) / "chromium")
    assert find(machine) == Browser(exe, "Chromium 150.0.1.2", "system `chromium`")


def test_chromium_comes_before_chrome_and_before_playwrights_cache(
    machine: dict[str, str],
) -> None:
    fake_chromium(cache_dir(machine) / "chromium-1255" / "chrome-linux64" / "chrome")
    fake_chromium(bin_dir(machine) / "google-chrome", "Google Chrome 151.0.0.1")
    assert find(machine).source == "system `google-chrome`"
    fake_chromium(bin_dir(machine) / "chromium")
    assert find(machine).source == "system `chromium`"


def test_a_stub_that_is_not_a_browser_is_passed_over(machine: dict[str, str]) -> None:
    # Ubuntu's chromium-browser without snapd: on PATH, but not a browser.
    fake(
        bin_dir(machine) / "chromium-browser",
        "echo \"Command '/usr/bin/chromium-browser' requires the chromium snap\" >&2; exit 1",
    )
    chrome = fake_chromium(bin_dir(machine) / "google-chrome", "Google Chrome 151.0.0.1")
    browser = find(machine)
    assert browser is not None and browser.path == chrome
    assert browser.version == "Google Chrome 151.0.0.1"


def test_the_override_wins_and_a_broken_one_is_an_error(machine: dict[str, str]) -> None:
    fake_chromium(bin_dir(machine) / "chromium")
    mine = fake_chromium(bin_dir(machine).parent / "opt" / "my-chrome", "Chromium 140.0.0.9")
    env = {**machine, "FANOUT_KIT_CHROMIUM": str(mine)}
    assert find(env) == Browser(mine, "Chromium 140.0.0.9", "FANOUT_KIT_CHROMIUM")

    env["FANOUT_KIT_CHROMIUM"] = str(mine.with_name("missing"))
    with pytest.raises(NoBrowser, match="FANOUT_KIT_CHROMIUM=.*missing.* is not a usable"):
        find(env)


# ----------------------------------------------------------------------- Playwright-cached


def test_playwrights_cached_chromium_is_found_newest_revision_first(
    machine: dict[str, str],
) -> None:
    old = fake_chromium(cache_dir(machine) / "chromium-1200" / "chrome-linux64" / "chrome")
    new = fake_chromium(
        cache_dir(machine) / "chromium-1255" / "chrome-linux64" / "chrome",
        "Google Chrome for Testing 159.0.8154.6",
    )
    browser = find(machine)
    assert browser is not None and browser.path == new, browser
    assert browser.version == "Google Chrome for Testing 159.0.8154.6"
    assert browser.source.startswith("Playwright's chromium-1255 in ")
    new.unlink()
    assert find(machine).path == old


def test_the_full_chromium_comes_before_the_headless_shell(machine: dict[str, str]) -> None:
    shell = fake_chromium(
        cache_dir(machine)
        / "chromium_headless_shell-1300"
        / "chrome-headless-shell-linux64"
        / "chrome-headless-shell"
    )
    assert find(machine).path == shell
    full = fake_chromium(cache_dir(machine) / "chromium-1255" / "chrome-linux64" / "chrome")
    assert find(machine).path == full


@pytest.mark.parametrize("variable", ["PLAYWRIGHT_BROWSERS_PATH", "XDG_CACHE_HOME"])
def test_the_cache_location_follows_playwrights_variables(
    machine: dict[str, str], tmp_path: Path, variable: str
) -> None:
    elsewhere = tmp_path / "elsewhere"
    registry = elsewhere if variable == "PLAYWRIGHT_BROWSERS_PATH" else elsewhere / "ms-playwright"
    exe = fake_chromium(registry / "chromium-1255" / "chrome-linux64" / "chrome")
    fake_chromium(cache_dir(machine) / "chromium-1300" / "chrome-linux64" / "chrome")
    assert find({**machine, variable: str(elsewhere)}).path == exe


# --------------------------------------------------------------------------- not found


def test_nothing_found_names_the_command_that_gets_one(machine: dict[str, str]) -> None:
    fake(bin_dir(machine) / "chromium", "exit 1")  # on PATH, but broken
    assert find(machine) is None
    with pytest.raises(NoBrowser) as caught:
        ensure(machine, playwright=None, apt=False, say=lambda _: None)
    message = str(caught.value)
    assert "Run: .venv/bin/python -m playwright install chromium" in message
    assert str(cache_dir(machine)) in message

    fake(bin_dir(machine) / "apt-get", "exit 99")  # a Debian machine: name its package
    sudo = "" if IS_ROOT else "sudo "
    assert f"Run: {sudo}apt-get install chromium, then" in what_to_run(machine)


def test_a_failed_download_falls_through_to_apt_get(machine: dict[str, str]) -> None:
    log = bin_dir(machine).parent / "calls.log"
    playwright = fake(
        bin_dir(machine).parent / "playwright",
        f'echo "playwright $* $PLAYWRIGHT_DOWNLOAD_CONNECTION_TIMEOUT" >> {log}\n'
        'echo "Downloading Chrome for Testing"; echo "Error: getaddrinfo ENOTFOUND cdn" >&2\n'
        "exit 1",
    )
    chromium = bin_dir(machine) / "chromium"
    fake(
        bin_dir(machine) / "apt-get",
        f'echo "apt-get $*" >> {log}\n'
        f'if [ "$1" = install ]; then printf \'%s\\n\' "#!/bin/sh" '
        f"'echo Chromium 156.0.1.1' > {chromium}; {CHMOD} +x {chromium}; fi",
    )
    said: list[str] = []
    browser = ensure(machine, playwright=[str(playwright)], apt=True, say=said.append)
    assert browser == Browser(chromium, "Chromium 156.0.1.1", "system `chromium`")
    assert log.read_text().splitlines() == [
        "playwright install chromium 15000",
        "apt-get update -qq",
        "apt-get install -y -qq --no-install-recommends chromium",
    ]
    assert any("Error: getaddrinfo ENOTFOUND cdn" in line for line in said), said


def test_a_successful_download_is_used(machine: dict[str, str]) -> None:
    exe = cache_dir(machine) / "chromium-1255" / "chrome-linux64" / "chrome"
    playwright = fake(
        bin_dir(machine).parent / "playwright",
        f"{MKDIR} -p {exe.parent} && printf '%s\\n' '#!/bin/sh' 'echo Chromium 159.0.0.1' > {exe}"
        f" && {CHMOD} +x {exe}",
    )
    browser = ensure(machine, playwright=[str(playwright)], apt=False, say=lambda _: None)
    assert browser.path == exe and browser.source.startswith("Playwright's chromium-1255")


def test_when_both_fail_it_stops_with_one_message(machine: dict[str, str]) -> None:
    playwright = fake(bin_dir(machine).parent / "playwright", "echo 'Error: offline' >&2; exit 1")
    fake(bin_dir(machine) / "apt-get", 'echo "E: Unable to locate package chromium" >&2; exit 100')
    said: list[str] = []
    with pytest.raises(NoBrowser, match="Install Chromium or Google Chrome") as caught:
        ensure(machine, playwright=[str(playwright)], apt=True, say=said.append)
    assert "then `make test` again" in str(caught.value)
    assert said[-1] == (
        "fanout-kit: apt-get could not install chromium: E: Unable to locate package chromium"
    )


# --------------------------------------------------------------------------------- CLI


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_command_prints_its_choice_once(machine: dict[str, str]) -> None:
    exe = fake_chromium(bin_dir(machine) / "chromium-browser")
    done = run_cli(machine, "--install")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"fanout-kit: browser for the JupyterLab tests: {exe} "
        "(Chromium 150.0.1.2, system `chromium-browser`)"
    ]


def test_the_command_fails_with_the_message_when_there_is_none(machine: dict[str, str]) -> None:
    done = run_cli(machine)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("fanout-kit: no Chromium for the JupyterLab browser tests")
