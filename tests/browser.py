"""Headless Chromium driven by Playwright, for JupyterLab tests.

Which Chromium: ``tools/find_browser.py`` decides (the system's, else Playwright's download),
the same lookup ``make test`` runs before the suite, where it also installs one if none is
found. Playwright is only handed the executable: no browser download happens here.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tools.find_browser import NoBrowser, find, what_to_run

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@functools.cache
def _chromium() -> Path | str:
    """The executable, or why there is none (looked up once per test session)."""
    try:
        browser = find()
    except NoBrowser as exc:
        return str(exc)
    if browser is None:
        return what_to_run(os.environ)
    return browser.path


def require_chromium() -> Path:
    """The Chromium to drive; fails the test with the command that gets one."""
    chromium = _chromium()
    if isinstance(chromium, str):
        pytest.fail(chromium, pytrace=False)
    return chromium


@contextmanager
def chromium_page(tmp_path: Path) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    chromium = require_chromium()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=FLAGS,  # Playwright gives each launch a fresh, empty profile
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            yield page
        finally:
            browser.close()


def open_notebook(page, lab, notebook: str) -> None:
    """Open ``notebook`` in JupyterLab and wait until its kernel is idle."""
    page.goto(f"{lab.base}/lab/tree/{notebook}?token={lab.token}")
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=60_000)
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    page.wait_for_function(
        """() => {
            const w = window.jupyterapp.shell.currentWidget;
            return w && w.sessionContext && w.sessionContext.session &&
                   w.sessionContext.session.kernel &&
                   w.sessionContext.session.kernel.status === 'idle';
        }""",
        timeout=60_000,
    )


def run_all(page) -> None:
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")


def wait_until_idle_after_run(page, timeout_ms: int = 120_000) -> None:
    """Wait until no cell shows a pending ``[*]`` prompt and the kernel is idle."""
    page.wait_for_function(
        """() => {
            const w = window.jupyterapp.shell.currentWidget;
            const busy = [...document.querySelectorAll('.jp-InputPrompt')]
                .some(p => p.textContent.includes('*'));
            return !busy && w.sessionContext.session.kernel.status === 'idle';
        }""",
        timeout=timeout_ms,
    )
