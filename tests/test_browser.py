"""Real JupyterLab in headless Chromium: a learner's first session, end to end."""

from __future__ import annotations

import pytest

from .browser import ARTIFACTS, chromium_page, open_notebook, run_all, wait_until_idle_after_run
from .labutil import start_browser_lab

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def test_welcome_lesson_runs_in_a_real_browser(tmp_path) -> None:
    lab = start_browser_lab(tmp_path)
    try:
        lab.wait_ready()
        with chromium_page(tmp_path) as page:
            open_notebook(page, lab, "00-welcome.ipynb")
            # Clear the committed outputs first, so what we read below is from this run.
            page.evaluate(
                "() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')"
            )
            assert "PubAck(stream='WELCOME'" not in page.inner_text(".jp-Notebook")
            run_all(page)
            wait_until_idle_after_run(page)
            text = page.inner_text(".jp-Notebook")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "welcome.png"), full_page=False)
            assert "PubAck(stream='WELCOME', seq=1" in text
            assert "PubAck seq: 2" in text
            assert "Not attempted" in text
            assert (
                "Error" not in page.inner_text(".jp-OutputArea-output.jp-mod-error")
                if (page.query_selector(".jp-OutputArea-output.jp-mod-error"))
                else True
            )
            # Offline workshops: no "receive official Jupyter news?" toast.
            assert "official Jupyter news" not in page.inner_text("body")
    finally:
        lab.interrupt()
