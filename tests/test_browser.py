"""Real JupyterLab in headless Chromium: a learner's first session, end to end."""

from __future__ import annotations

import pytest

from .browser import ARTIFACTS, chromium_page, open_notebook, run_all, wait_until_idle_after_run
from .labutil import start_browser_lab

pytestmark = [pytest.mark.browser, pytest.mark.slow(15), pytest.mark.timeout(300)]


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
            # From the notebook's model: JupyterLab renders only the cells near the viewport.
            outputs = page.evaluate(NOTEBOOK_OUTPUTS)
            text = "\n".join(o["text"] for o in outputs)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "welcome.png"), full_page=False)
            assert "PubAck(stream='WELCOME', seq=1" in text
            assert "PubAck seq: 2" in text
            assert "Not attempted" in text
            # No cell of the welcome lesson fails: no error output at all, whatever its text.
            errors = [o for o in outputs if o["type"] == "error"]
            assert errors == [], errors
            # Offline workshops: no "receive official Jupyter news?" toast.
            assert "official Jupyter news" not in page.inner_text("body")
    finally:
        lab.interrupt()


NOTEBOOK_OUTPUTS = """() => {
    const out = [];
    for (const cell of window.jupyterapp.shell.currentWidget.content.model.cells) {
        if (cell.type !== 'code') continue;
        for (let i = 0; i < cell.outputs.length; i++) {
            const o = cell.outputs.get(i).toJSON();
            const t = o.text || (o.data && o.data['text/plain']) || o.evalue || '';
            out.push({type: o.output_type, text: Array.isArray(t) ? t.join('') : t});
        }
    }
    return out;
}"""

BOARD_LESSON = "02-basic-fan-out.ipynb"

# The numbers table read by its header cells (what a screen reader announces with each value).
READ_BOARD = """() => {
    const table = document.querySelector('.fk-board .fk-numbers');
    if (!table) return {};
    const cols = [...table.querySelectorAll('thead th')].map(th => th.textContent);
    const num = s => parseInt(s.replace(/,/g, ''), 10);
    const out = {};
    for (const tr of table.querySelectorAll('tbody tr')) {
        const th = tr.querySelector('th[scope=row]');
        if (!th) continue;
        const td = name => tr.children[cols.indexOf(name)].textContent;
        out[th.childNodes[0].textContent.trim()] = {
            delivered: num(td('Last Delivered')), ack_floor: num(td('Ack Floor')),
            num_ack_pending: num(td('Outstanding Acks').split(' of ')[0]),
            num_redelivered: num(td('Redelivered')), num_pending: num(td('Unprocessed')),
        };
    }
    return out;
}"""

READ_CELLS = """() => {
    const out = {};
    for (const c of document.querySelectorAll('.fk-board .fk-cells > [data-seq]')) {
        if (c.classList.contains('fk-focus-cell')) continue;
        (out[c.dataset.consumer] ??= {})[c.dataset.seq] = c.dataset.state;
    }
    return out;
}"""

NEWEST_IN_VIEW = """() => {
    const board = document.querySelector('.fk-board');
    const area = board.closest('.jp-OutputArea-output').getBoundingClientRect();
    const bad = [];
    for (const lane of board.querySelectorAll('.fk-lane:not(.fk-focus)')) {
        const cells = lane.querySelectorAll('.fk-cells > [data-seq]');
        const r = cells[cells.length - 1].getBoundingClientRect();
        if (r.right > area.right || r.right > window.innerWidth || r.width < 2)
            bad.push(lane.dataset.lane);
    }
    return bad;
}"""

RUN_IN_KERNEL = """async (code) => {
    const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
    const future = k.requestExecute({code});
    let out = '';
    future.onIOPub = m => {
        if (m.header.msg_type === 'stream') out += m.content.text;
        if (m.header.msg_type === 'error') out += `ERROR ${m.content.ename}: ${m.content.evalue}`;
    };
    await future.done;
    return out;
}"""

CELLS_FROM_KERNEL = (
    "import json; print(json.dumps({k: {str(s): w for s, w in v.items()}"
    " for k, v in board.cells().items()}))"
)

NO_CELL_RUNNING = """() => ![...document.querySelectorAll('.jp-InputPrompt')]
    .some(p => p.textContent.includes('*'))"""


def _server_numbers(lab) -> dict[str, dict[str, int]]:
    import json
    import re
    import urllib.request

    monitoring = re.search(r"monitoring (http://\S+),", lab.output()).group(1)
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
    """Run a lesson up to its board, then drive the board's controls with no cell running,
    by keyboard and mouse: its numbers change by themselves, a nak leaves a trace, and once
    settled the numbers equal the server's /jsz and every drawn cell equals ``board.cells()``."""
    import json

    from .conftest import wait_until

    lab = start_browser_lab(tmp_path)
    try:
        lab.wait_ready()
        with chromium_page(tmp_path) as page:
            open_notebook(page, lab, BOARD_LESSON)
            page.evaluate(
                """() => { const s = window.jupyterapp.shell, nb = s.currentWidget;
                           s.activateById('filebrowser'); s.activateById(nb.id); }"""
            )
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
                        document.querySelector('.fk-board .fk-numbers') !== null;
                }""",
                arg=index,
                timeout=120_000,
            )
            wait_until_idle_after_run(page)
            before = page.evaluate(READ_BOARD)
            assert before, "the board shows no consumers"
            worker_on = sorted(before)[0]
            # Controls have accessible names (labels tied to their inputs).
            page.get_by_label("consumer", exact=True).select_option(worker_on)
            page.get_by_role("button", name="Start / resume worker").click()
            page.get_by_label("events", exact=True).fill("200")
            page.get_by_label("events", exact=True).press("Enter")
            page.get_by_role("button", name="Publish").click()
            # The numbers move while no cell runs: background tasks reach the browser.
            page.wait_for_function(
                f"() => ({NO_CELL_RUNNING})() && "
                f"JSON.stringify(({READ_BOARD})()) !== {json_literal(before)}",
                timeout=60_000,
            )
            # A nak that is redelivered and acked between two frames still leaves a trace
            # (once the worker has caught up, so the nak'd message is one of the newest, and
            # the board follows every message again: a burst may have put it in overload mode).
            page.wait_for_function(
                f"(c) => {{ const n = ({READ_BOARD})()[c];"
                " return n && n.num_pending === 0 && n.num_ack_pending === 0 &&"
                " document.querySelector('.fk-board').dataset.mode === 'detail'; }",
                arg=worker_on,
                timeout=60_000,
            )
            page.get_by_role("button", name="Nak next").click()
            page.get_by_label("events", exact=True).fill("3")
            page.get_by_label("events", exact=True).press("Enter")
            page.get_by_role("button", name="Publish").click()
            page.wait_for_selector(
                f".fk-board [data-consumer='{worker_on}'][data-deliveries]", timeout=60_000
            )
            # Keyboard: every control is reached by Tab, with a visible focus ring (the board's
            # own output only: the lesson's folded answers further down are focusable too).
            page.get_by_label("events", exact=True).focus()
            reached = []
            for _ in range(12):
                page.keyboard.press("Tab")
                where = page.evaluate(
                    """() => { const e = document.activeElement, s = getComputedStyle(e);
                        const out = e.closest('.jp-OutputArea-output');
                        return [e.tagName === 'SELECT' || e.tagName === 'INPUT' ? e.tagName
                                : e.textContent.trim(), s.outlineStyle,
                                parseFloat(s.outlineWidth),
                                !!(out && out.querySelector('.fk-board'))]; }"""
                )
                if not where.pop():
                    break  # past the board's controls
                reached.append(where)
            names = [r[0] for r in reached]
            for label in ("Publish", "Start / resume worker", "Pause worker", "Crash worker",
                          "Nak next", "Settle"):  # fmt: skip
                assert label in names, (label, reached)
            assert "SELECT" in names, reached
            for name, style, width in reached:
                assert style == "solid" and width >= 2, (name, style, width)
            page.get_by_role("button", name="Pause worker").click()
            page.locator(".fk-numbers tbody tr", has_text=worker_on).get_by_text("paused").wait_for(
                timeout=30_000
            )
            page.get_by_role("button", name="Start / resume worker").click()
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

            def dom_equals_cells() -> bool:
                truth = json.loads(page.evaluate(RUN_IN_KERNEL, CELLS_FROM_KERNEL))
                return page.evaluate(READ_CELLS) == truth

            wait_until(dom_equals_cells, timeout=30, what="DOM data-state == board.cells()")
            # 1400 x 1000, file browser open: the newest message of every lane is in view.
            page.locator(".fk-board").scroll_into_view_if_needed()
            assert page.evaluate(NEWEST_IN_VIEW) == []
            ARTIFACTS.mkdir(exist_ok=True)
            board_output = page.locator(".jp-OutputArea-output").filter(
                has=page.locator(".fk-board")
            )
            board_output.screenshot(path=str(ARTIFACTS / "board-light.png"))
            page.evaluate(
                "() => window.jupyterapp.commands.execute('apputils:change-theme',"
                " {theme: 'JupyterLab Dark'})"
            )
            page.wait_for_function(
                "() => document.body.dataset.jpThemeName === 'JupyterLab Dark'", timeout=30_000
            )
            board_output.screenshot(path=str(ARTIFACTS / "board-dark.png"))
            page.screenshot(path=str(ARTIFACTS / "board.png"))
    finally:
        lab.interrupt()


def json_literal(value: object) -> str:
    import json

    return json.dumps(json.dumps(value, separators=(",", ":")))
