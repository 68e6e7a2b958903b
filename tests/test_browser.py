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


BOARD_LESSON = "02-basic-fan-out.ipynb"

READ_BOARD = """() => {
    const rows = [...document.querySelectorAll('.fk-board table tr')].slice(1);
    const num = s => parseInt(s.replace(/,/g, ''), 10);
    const out = {};
    for (const tr of rows) {
        const name = tr.querySelector('th').childNodes[0].textContent.trim();
        const td = tr.querySelectorAll('td');
        out[name] = {
            delivered: num(td[0].textContent), ack_floor: num(td[1].textContent),
            num_ack_pending: num(td[2].textContent.split(' of ')[0]),
            num_redelivered: num(td[3].textContent), num_pending: num(td[4].textContent),
        };
    }
    return out;
}"""

NO_CELL_RUNNING = """() => ![...document.querySelectorAll('.jp-InputPrompt')]
    .some(p => p.textContent.includes('*'))"""


def _server_numbers(lab) -> dict[str, dict[str, int]]:  # type: ignore[no-untyped-def]
    import json
    import re
    import urllib.request

    monitoring = re.search(r"monitoring (http://\S+),", lab.output()).group(1)  # type: ignore[union-attr]
    with urllib.request.urlopen(f"{monitoring}/jsz?consumers=true", timeout=5) as resp:
        jsz = json.loads(resp.read())
    out: dict[str, dict[str, int]] = {}
    for account in jsz.get("account_details", []):
        for stream in account.get("stream_detail", []):
            if stream["name"] != "EVENTS":
                continue
            for c in stream.get("consumer_detail", []):
                out[c["name"]] = {
                    "delivered": c["delivered"]["stream_seq"],
                    "ack_floor": c["ack_floor"]["stream_seq"],
                    "num_ack_pending": c["num_ack_pending"],
                    "num_redelivered": c["num_redelivered"],
                    "num_pending": c["num_pending"],
                }
    return out


def test_board_is_live_in_a_real_browser_and_ends_equal_to_the_server(tmp_path) -> None:
    """Run a lesson up to its board, then drive the board's controls with no cell running:
    its numbers must change by themselves and, once settled, equal the server's /jsz."""
    from .conftest import wait_until

    lab = start_browser_lab(tmp_path)
    try:
        lab.wait_ready()
        with chromium_page(tmp_path) as page:
            open_notebook(page, lab, BOARD_LESSON)
            index = page.evaluate(
                """() => {
                    const nb = window.jupyterapp.shell.currentWidget.content;
                    return nb.widgets.findIndex(c => c.model.type === 'code' &&
                        c.model.sharedModel.getSource().includes('Board.watch('));
                }"""
            )
            assert index >= 0, f"{BOARD_LESSON} has no Board.watch cell"
            # The saved notebook already shows a board (its stored widget state): clear it, so
            # every board on the page below comes from this run's kernel.
            page.evaluate(
                "() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')"
            )
            page.wait_for_function("() => !document.querySelector('.fk-board')")
            page.evaluate(
                """(i) => {
                    const nb = window.jupyterapp.shell.currentWidget.content;
                    nb.activeCellIndex = i + 1;
                    return window.jupyterapp.commands.execute('notebook:run-all-above');
                }""",
                index,
            )
            page.wait_for_function(
                """(i) => {
                    const nb = window.jupyterapp.shell.currentWidget.content;
                    return nb.widgets[i].model.executionCount !== null &&
                        document.querySelector('.fk-board table') !== null;
                }""",
                arg=index,
                timeout=120_000,
            )
            wait_until_idle_after_run(page)
            before = page.evaluate(READ_BOARD)
            assert before, "the board shows no consumers"
            worker_on = sorted(before)[0]
            page.locator(".widget-dropdown select").select_option(worker_on)
            page.get_by_role("button", name="Start / resume worker").click()
            page.locator(".widget-text input").first.fill("200")
            page.get_by_role("button", name="Publish").click()
            # The numbers move while no cell runs: background tasks reach the browser.
            page.wait_for_function(
                f"() => ({NO_CELL_RUNNING})() && "
                f"JSON.stringify(({READ_BOARD})()) !== {json_literal(before)}",
                timeout=60_000,
            )
            page.get_by_role("button", name="Settle").click()
            page.get_by_text("settled").wait_for(timeout=60_000)

            def board_equals_server() -> bool:
                shown = page.evaluate(READ_BOARD)
                return shown == {k: v for k, v in _server_numbers(lab).items() if k in shown}

            wait_until(board_equals_server, timeout=30, what="board numbers == server /jsz")
            after = page.evaluate(READ_BOARD)
            assert after[worker_on]["delivered"] > before[worker_on]["delivered"], (
                "the worker started from the board's controls consumed nothing"
            )
            ARTIFACTS.mkdir(exist_ok=True)
            # The board's HTML is replaced on every draw, so scroll its (stable) cell instead.
            page.locator(".jp-Notebook .jp-Cell").nth(index).scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "board.png"))
    finally:
        lab.interrupt()


def json_literal(value: object) -> str:
    import json

    return json.dumps(json.dumps(value, separators=(",", ":")))
