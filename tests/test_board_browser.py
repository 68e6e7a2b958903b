"""The board's browser side in real JupyterLab (headless Debian Chromium), fed hand-built frames.

One lab for the module. A notebook displays a :class:`~fanout_kit.widget.BoardWidget`; the
kernel answers every capacity the browser reports with a frame of exactly that many messages
(``tests/board_frames.py``: every state, marks, focus, a deleted lane, long filters, an
overload banner, a lost connection). The tests read what a learner would see: the DOM's
``data-*`` contract, what is inside the visible output area, the numbers table as a screen
reader gets it, contrast from computed styles in JupyterLab Light and Dark, keyboard focus,
the time-travel slider, and the exported player opened from disk with the network cut.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fanout_kit import palette

from .board_frames import expected_cells, make_frame
from .browser import ARTIFACTS, FLAGS, open_notebook, require_chromium
from .labutil import start_browser_lab

# One lab and one browser for the whole module (the `board` fixture): one xdist worker runs it all
# (tests/conftest.py: ONE_WORKER_MODULES).
pytestmark = [pytest.mark.browser, pytest.mark.slow(60), pytest.mark.timeout(600)]

NOTEBOOK = "board-synthetic.ipynb"
FRAMES_SOURCE = (Path(__file__).resolve().parent / "board_frames.py").read_text()

SETUP = (
    FRAMES_SOURCE.replace("from __future__ import annotations\n", "")
    + """
from fanout_kit.widget import BoardWidget

w = BoardWidget()
state = {"hi": 1200, "step": 0, "problems": True, "board": "live"}


def send(*_):
    cap = max(10, w.capacity or 60)
    lo = state.get("lo") or state["hi"] - cap + 1  # "lo": a short stream, whatever fits
    frame = make_frame(lo, state["hi"], state["step"], problems=state["problems"])
    frame["status"]["board"] = state["board"]
    w.draw(frame)


reports = []  # every capacity the browser reported, in order (said when a test fails)
w.observe(lambda change: reports.append(change["new"]), "capacity")
w.observe(send, "capacity")
send()
w
"""
)

# Until no cursor mark slides (a slide cut short by a newer one ends in an AbortError; a board
# that keeps drawing may start new slides, so look again, a bounded number of times).
SLIDES_DONE = """async () => {
    for (let left = 100; left > 0; left--) {
        const sliding = [...document.querySelectorAll('.fk-mark')]
            .flatMap(m => m.getAnimations());
        if (!sliding.length) return;
        await Promise.all(sliding.map(a => a.finished.catch(() => null)));
    }
}"""

# Everything the DOM says about the cells, lane by lane (main window only).
READ_CELLS = """() => {
    const out = {};
    // Only the notebook in front (a restored workspace keeps other notebooks in the DOM).
    const root = window.jupyterapp ? window.jupyterapp.shell.currentWidget.node : document;
    for (const c of root.querySelectorAll('.fk-board .fk-cells > [data-seq]')) {
        if (c.classList.contains('fk-focus-cell')) continue;
        (out[c.dataset.consumer] ??= {})[c.dataset.seq] = c.dataset.state;
    }
    return out;
}"""

READ_LABELS = """() => [...document.querySelectorAll(
        '.fk-board .fk-cells > [data-seq]:not(.fk-focus-cell)')]
    .map(c => [c.dataset.consumer, c.dataset.seq, c.dataset.state,
               c.dataset.deliveries || '', c.getAttribute('aria-label') || '',
               c.getAttribute('role') || ''])"""

# Newest cell of every lane: inside the lane, the output area, the window; no scrolling.
NEWEST_VISIBLE = """() => {
    const board = document.querySelector('.fk-board');
    const area = board.closest('.jp-OutputArea-output') || board;
    const a = area.getBoundingClientRect();
    const bad = [];
    for (const lane of board.querySelectorAll('.fk-lane:not(.fk-focus)')) {
        const cells = lane.querySelectorAll('.fk-cells > [data-seq]');
        const last = cells[cells.length - 1];
        const r = last.getBoundingClientRect();
        const track = lane.querySelector('.fk-track').getBoundingClientRect();
        if (r.right > a.right + 0.5 || r.right > window.innerWidth || r.right > track.right + 0.5
            || r.width < 2)
            bad.push(`${lane.dataset.lane}: newest cell ends at ${r.right}, area ${a.right}`);
    }
    // Nothing the learner would have to scroll sideways (hidden overflow cannot scroll: the
    // tracks clip marks still sliding in from a wider window).
    for (const el of [area, board, ...board.querySelectorAll('.fk-banner, .fk-table-box')])
        if (el.scrollWidth > el.clientWidth + 1)
            bad.push(`${el.className} scrolls: ${el.scrollWidth} > ${el.clientWidth}`);
    return {bad, capacity: +board.dataset.capacity, lo: +board.dataset.lo,
            hi: +board.dataset.hi, areaWidth: a.width};
}"""

# WCAG contrast of every visible text in the board and its controls against the background
# actually behind it (ancestors' backgrounds blended, ancestors' opacity applied).
CONTRAST = """() => {
    const parse = s => { const m = s.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
        const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
        return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
    const over = (top, base) => [0, 1, 2].map(i => top[i] * top[3] + base[i] * (1 - top[3]));
    const lum = c => { const [r, g, b] = c.map(v => { v /= 255;
        return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
    const background = el => { const layers = [];
        for (let e = el; e; e = e.parentElement) {
            const c = parse(getComputedStyle(e).backgroundColor);
            if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; } }
        let base = [255, 255, 255];
        for (const c of layers.reverse()) base = over(c, base);
        return base; };
    const opacity = el => { let o = 1;
        for (let e = el; e; e = e.parentElement) o *= +getComputedStyle(e).opacity; return o; };
    const roots = [...document.querySelectorAll('.fk-board, .fk-controls')];
    const worst = []; let checked = 0;
    for (const root of roots) for (const el of [root, ...root.querySelectorAll('*')]) {
        if (el.closest('.fk-sr-only')) continue;
        const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
        const r = el.getBoundingClientRect();
        if (!own || !r.width || !r.height || getComputedStyle(el).visibility === 'hidden') continue;
        const fg = parse(getComputedStyle(el).color); const bg = background(el);
        const text = over([fg[0], fg[1], fg[2], fg[3] * opacity(el)], bg);
        const [hi, lo] = [lum(text), lum(bg)].sort((x, y) => y - x);
        const ratio = (hi + 0.05) / (lo + 0.05); checked += 1;
        if (ratio < 4.5) worst.push([ratio.toFixed(2), el.className || el.tagName,
                                     el.textContent.trim().slice(0, 40)]);
    }
    return {checked, worst};
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


def _open_in_front(page: Any, lab: Any, path: str) -> None:
    """Open ``path`` and wait until it is the notebook in front with an idle kernel (a second
    page restores the workspace, whose other notebooks must not be the ones we drive)."""
    page.goto(f"{lab.base}/lab/tree/{path}?token={lab.token}")
    page.wait_for_function(
        """(p) => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
            return w && w.context && w.context.path === p && w.sessionContext.session
                && w.sessionContext.session.kernel
                && w.sessionContext.session.kernel.status === 'idle'; }""",
        arg=path,
        timeout=90_000,
    )


def _write_notebook(path: Path, *sources: str) -> None:
    cells = [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": f"c{i}",
            "metadata": {},
            "outputs": [],
            "source": src,
        }
        for i, src in enumerate(sources)
    ]
    nb = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb))


class Session:
    """The page with the synthetic board, and helpers to drive the kernel and the view."""

    def __init__(self, browser: Any, page: Any, lab: Any, tmp: Path) -> None:
        self.browser, self.page, self.lab, self.tmp = browser, page, lab, tmp

    def kernel(self, code: str) -> str:
        out = str(self.page.evaluate(RUN_IN_KERNEL, code))
        assert "ERROR" not in out, out
        return out

    def window_size(self, width: int, *, file_browser: bool) -> None:
        self.page.set_viewport_size({"width": width, "height": 1000})
        self.page.evaluate(
            "(open) => { const s = window.jupyterapp.shell;"
            " if (open) { s.expandLeft(); s.activateById('filebrowser'); }"
            " else s.collapseLeft(); }",
            file_browser,
        )
        # The page lays itself out again later (later still on a busy machine): until it has,
        # the board still fits the old size, and "fitted" would be true of that.
        self.page.wait_for_function(
            "([w, open]) => window.innerWidth === w"
            " && window.jupyterapp.shell.leftCollapsed === !open",
            arg=[width, file_browser],
            timeout=30_000,
        )
        self.wait_fitted()

    def wait_fitted(self) -> None:
        """Until the browser's capacity came back as a frame of exactly that many cells, and
        the kernel has it too (a report may still be on its way from a layout in between)."""
        fitted = """() => { const b = document.querySelector('.fk-board');
            const t = b && b.querySelector('.fk-lane .fk-cells');
            if (!t) return 0;
            const cap = Math.floor((t.clientWidth + 1) / 9);
            return +b.dataset.capacity === cap
                && +b.dataset.hi - +b.dataset.lo + 1 === cap ? cap : 0; }"""
        deadline = time.monotonic() + 30
        while True:
            self.page.wait_for_function(fitted, timeout=30_000)
            cap = self.page.evaluate(fitted)
            if cap and int(self.kernel("print(w.capacity)")) == cap:
                return
            assert time.monotonic() < deadline, (cap, self.kernel("print(reports)"))

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        out = ARTIFACTS / name
        self.page.locator(".fk-board").first.scroll_into_view_if_needed()
        self.page.locator(".jp-OutputArea-output").filter(
            has=self.page.locator(".fk-board")
        ).screenshot(path=str(out))
        return out


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory, server: Any) -> Iterator[Session]:
    """The lab and browser for the module (``server``, the session's nats-server, is started
    first: its fixture cannot start once Playwright's loop runs in this thread)."""
    from playwright.sync_api import sync_playwright

    chromium = require_chromium()
    tmp = tmp_path_factory.mktemp("board-browser")
    lab = start_browser_lab(tmp)
    try:
        _write_notebook(tmp / "notebooks" / NOTEBOOK, SETUP)
        lab.wait_ready()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True, args=FLAGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                open_notebook(page, lab, NOTEBOOK)
                page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
                page.wait_for_selector(".fk-board .fk-cells > [data-seq]", timeout=60_000)
                session = Session(browser, page, lab, tmp)
                session.wait_fitted()
                yield session
            finally:
                browser.close()
    finally:
        lab.interrupt()


def _frame_now(s: Session) -> dict[str, Any]:
    lo, hi = s.page.evaluate(
        "() => { const b = document.querySelector('.fk-board');"
        " return [+b.dataset.lo, +b.dataset.hi]; }"
    )
    st = json.loads(s.kernel("import json; print(json.dumps(state))"))
    return make_frame(lo, hi, st["step"], problems=st["problems"])


def test_every_cell_carries_the_frame_in_the_dom(board: Session) -> None:
    frame = _frame_now(board)
    assert board.page.evaluate(READ_CELLS) == {
        k: {str(s): w for s, w in v.items()} for k, v in expected_cells(frame).items()
    }
    lo = frame["lo"]
    deliveries = {
        (lane["name"], s): n for lane in frame["lanes"] for s, n in lane["marks"] if s >= lo
    }
    seen_states = set()
    for consumer, seq, state, times, label, role in board.page.evaluate(READ_LABELS):
        seen_states.add(state)
        who = consumer or "stream"
        n = deliveries.get((consumer, int(seq)), 0) if consumer else 0
        want = f"seq {seq}, {who}: {state}" + (f", delivered {n} times" if n > 1 else "")
        assert label == want and role == "img"
        assert times == (str(n) if n > 1 else "")
    assert seen_states == {s.word for s in palette.STATES}, "the frames use every state"


def test_the_newest_message_of_every_lane_is_in_view_at_every_width(board: Session) -> None:
    caps = {}
    for width in (1920, 1400, 1024):
        for file_browser in (True, False):
            board.window_size(width, file_browser=file_browser)
            got = board.page.evaluate(NEWEST_VISIBLE)
            assert got["bad"] == [], (width, file_browser, got)
            caps[(width, file_browser)] = got["capacity"]
            kernel = int(board.kernel("print(w.capacity)"))
            assert kernel == got["capacity"], (width, file_browser, board.kernel("print(reports)"))
    # The window adapts: more room, more messages.
    assert caps[(1920, False)] > caps[(1400, False)] > caps[(1024, False)]
    assert caps[(1024, True)] < caps[(1024, False)]
    board.window_size(1400, file_browser=True)


def test_numbers_are_a_real_table_a_screen_reader_can_read(board: Session) -> None:
    snapshot = board.page.locator(".fk-board .fk-numbers").aria_snapshot()
    assert re.search(r'columnheader "Ack Floor"', snapshot), snapshot
    assert re.search(r'rowheader "analytics"', snapshot), snapshot
    # "analytics, Ack Floor, <n>": the cell under the Ack Floor header in analytics's row.
    cell = board.page.evaluate(
        """() => { const t = document.querySelector('.fk-numbers');
            const cols = [...t.querySelectorAll('thead th')].map(th => th.textContent);
            const row = [...t.querySelectorAll('tbody tr')]
                .find(tr => tr.querySelector('th[scope=row]').textContent === 'analytics');
            const at = cols.indexOf('Ack Floor');
            return [row.querySelector('th').scope, t.querySelectorAll('thead th[scope=col]').length
                    === cols.length, row.children[at].textContent]; }"""
    )
    frame = _frame_now(board)
    assert cell == ["row", True, f"{frame['lanes'][0]['numbers']['Ack Floor']:,}"]
    # Filters live in the table (wrapping), not in the lanes.
    audit_filters = board.page.locator(".fk-numbers tbody tr", has_text="audit").locator(
        ".fk-filters"
    )
    assert "events.inventory.*.low-stock" in audit_filters.inner_text()
    # Lanes and the board have accessible names; the summary is in a polite live region.
    assert board.page.get_by_role("group", name="consumer audit").count() == 1
    board.page.wait_for_function(
        "(t) => document.querySelector('.fk-board [aria-live=polite]').textContent === t",
        arg=frame["summary"],
        timeout=10_000,
    )


# Row names and worker counts that break inside (over more than one line), and whether the
# table must scroll sideways.
BROKEN_WORDS = r"""() => { const t = document.querySelector('.fk-numbers');
    const lines = node => { const r = document.createRange(); r.selectNodeContents(node);
        return new Set([...r.getClientRects()].filter(x => x.width > 0)
            .map(x => Math.round(x.top))).size; };
    const broken = [];
    for (const th of t.querySelectorAll('tbody th[scope=row]')) {
        const name = th.firstChild;
        if (name.textContent.length <= 24 && lines(name) > 1) broken.push(name.textContent);
    }
    // A worker count breaks only after its comma or colon ("3 workers:" / "2 running,").
    for (const td of t.querySelectorAll('td.fk-worker')) {
        const words = [];
        const walk = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
        for (let n = walk.nextNode(); n; n = walk.nextNode())
            for (const m of n.textContent.matchAll(/\S+/g)) {
                const r = document.createRange();
                r.setStart(n, m.index); r.setEnd(n, m.index + m[0].length);
                words.push([m[0], Math.round(r.getBoundingClientRect().top)]);
            }
        words.forEach(([w, top], i) => {
            if (i + 1 < words.length && words[i + 1][1] > top && !/[,:]$/.test(w))
                broken.push(td.textContent); });
    }
    const box = t.closest('.fk-table-box');
    return {broken, scrolls: box.scrollWidth > box.clientWidth + 1,
            workers: [...t.querySelectorAll('td.fk-worker')].map(td => td.textContent)}; }"""


def test_short_names_and_worker_counts_stay_on_one_line(board: Session) -> None:
    """Lesson 07 at 1400 px: "order-/processor" and "3 workers: 3 running" broke over two
    lines. Where the board has room (1400 px, 1024 px without the file browser) names up to 24
    characters and each worker count ("2 running,") stay whole; the table never scrolls."""
    for width, file_browser in ((1400, True), (1024, False), (1024, True)):
        board.window_size(width, file_browser=file_browser)
        got = board.page.evaluate(BROKEN_WORDS)
        assert "3 workers: 2 running, 1 paused" in got["workers"], got
        assert not got["scrolls"], (width, file_browser, got)
        board.shot(f"board-table-{width}-{'files' if file_browser else 'wide'}.png")
        if (width, file_browser) == (1024, True):
            continue  # no room to spare: a hyphenated name may wrap, the table fits
        assert got["broken"] == [], (width, file_browser, got)
    board.window_size(1400, file_browser=True)


def test_banners_and_status_wrap_and_say_what_is_wrong(board: Session) -> None:
    board.window_size(1024, file_browser=True)
    text = board.page.locator(".fk-board .fk-banners").inner_text()
    assert "Connection disconnected, reconnecting" in text
    assert "more than 5,000 events/s" in text and "does not know which." in text
    assert "2 more consumers not drawn" in board.page.locator(".fk-board .fk-hidden").inner_text()
    head = board.page.locator(".fk-board .fk-head").inner_text()
    assert "no leader: publishes fail" in head and "replicas: n2 behind (lag 7), n3 current" in head
    assert board.page.locator(".fk-board").get_attribute("data-leader") == ""
    assert board.page.evaluate(NEWEST_VISIBLE)["bad"] == []
    deleted = board.page.locator(".fk-lane.fk-deleted").get_attribute("aria-label")
    assert deleted == "consumer old (deleted)"
    board.window_size(1400, file_browser=True)


def test_cursor_marks_sit_on_the_stream_lane_boundaries_and_slide(board: Session) -> None:
    got = board.page.evaluate(
        """async () => { const out = {};
            await ("""
        + SLIDES_DONE
        + """)();
            const stream = document.querySelector('.fk-stream-lane .fk-cells');
            for (const lane of document.querySelectorAll('.fk-lane:not(.fk-focus)')) {
                for (const m of lane.querySelectorAll('.fk-mark:not([hidden])')) {
                    if (m.dataset.off) continue;
                    const after = stream.querySelector(`[data-seq="${m.dataset.seq}"]`);
                    const r = m.getBoundingClientRect();
                    const centre = m.classList.contains('fk-mark-start')
                        ? r.left + 1 : (r.left + r.right) / 2;
                    out[`${lane.dataset.lane}/${m.className}`] = [
                        after ? after.getBoundingClientRect().right + 0.5 - centre : null,
                        m.getAttribute('aria-label')];
                }
            }
            return out; }"""
    )
    assert any("fk-mark-floor" in k for k in got) and any("fk-mark-last" in k for k in got)
    assert any("fk-mark-start" in k for k in got)
    for key, (gap, label) in got.items():
        assert gap is not None and abs(gap) <= 1.5, (key, gap)
        assert re.fullmatch(r".+: (Last Delivered|Ack Floor|starts at) [\d,]+", label), label


# Every shown mark's distance from the right edge of its cell in the stream lane (0: on it),
# and whether it is sliding. Reads layout: only call it on a board that is on screen.
MARK_GAPS = """() => { const out = {};
    const stream = document.querySelector('.fk-stream-lane .fk-cells');
    for (const lane of document.querySelectorAll('.fk-lane:not(.fk-focus)'))
        for (const m of lane.querySelectorAll('.fk-mark:not([hidden])')) {
            if (m.dataset.off) continue;
            // The boundary after seq s: the right edge of its cell (or the left of the next).
            const cell = stream.querySelector(`[data-seq="${m.dataset.seq}"]`);
            const next = stream.querySelector(`[data-seq="${+m.dataset.seq + 1}"]`);
            const at = cell ? cell.getBoundingClientRect().right + 0.5
                : next ? next.getBoundingClientRect().left - 0.5 : null;
            const r = m.getBoundingClientRect();
            const centre = m.classList.contains('fk-mark-start')
                ? r.left + 1 : (r.left + r.right) / 2;
            out[`${lane.dataset.lane}/${m.className}`] = [
                at === null ? null : Math.round((at - centre) * 10) / 10,
                m.getAnimations().length];
        }
    return out; }"""


def test_cursor_marks_stay_on_their_cells_when_the_window_moves_out_of_view(
    board: Session,
) -> None:
    """Lesson 07 in JupyterLab: a board scrolled out of view while messages came in showed its
    marks ~28 cells left of their cells when scrolled back. JupyterLab skips styling cells out
    of view (``content-visibility``, its default windowing); a CSS transition then started only
    when the board came back, from the positions of a frame long gone. The slides now start when
    the frame is drawn."""
    before = json.loads(board.kernel("import json; print(json.dumps(state))"))
    hide = """(hidden) => { const area = document.querySelector('.fk-board')
        .closest('.jp-OutputArea'); area.style.contentVisibility = hidden ? 'hidden' : ''; }"""
    at_hi = "(hi) => document.querySelector('.fk-board').dataset.hi == hi"
    settled = """() => [...document.querySelectorAll('.fk-mark')]
        .every(m => !m.fkSlide || m.fkSlide.playState === 'finished')"""
    try:
        # On screen: the window moves (lo > 1, more messages) and the cursors with it: slides.
        board.kernel("state['hi'] += 37; state['step'] = 5; send()")
        hi = before["hi"] + 37
        board.page.wait_for_function(at_hi, arg=hi)
        assert any(n for _, n in board.page.evaluate(MARK_GAPS).values()), "the marks slide"
        board.page.evaluate(SLIDES_DONE)
        gaps = board.page.evaluate(MARK_GAPS)
        assert gaps and all(g is not None and abs(g) <= 1.5 for g, _ in gaps.values()), gaps
        # Out of view, as JupyterLab has a cell scrolled away: more messages, cursors move.
        board.page.evaluate(hide, True)
        board.kernel("state['hi'] += 61; state['step'] = 9; send()")
        hi += 61
        board.page.wait_for_function(at_hi, arg=hi)
        board.page.wait_for_function(settled)
        lo = int(board.page.evaluate("() => document.querySelector('.fk-board').dataset.lo"))
        assert lo > 1
        # Back in view: every mark is on its cell from the first frame the learner sees.
        gaps = board.page.evaluate(
            "async (hide) => { (eval(hide))(false);"
            " await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));"
            " return (" + MARK_GAPS + ")(); }",
            hide,
        )
        assert gaps and all(g is not None and abs(g) <= 1.5 for g, _ in gaps.values()), gaps
        assert not any(n for _, n in gaps.values()), gaps
    finally:
        board.page.evaluate(hide, False)
        board.kernel(f"state['hi'] = {before['hi']}; state['step'] = {before['step']}; send()")
        board.page.wait_for_function(
            f"() => document.querySelector('.fk-board').dataset.hi == {before['hi']}"
        )


def test_time_travel_scrubs_back_with_that_moments_numbers(board: Session) -> None:
    def ack_floor_shown() -> str:
        return board.page.evaluate(
            """() => { const t = document.querySelector('.fk-numbers');
                const cols = [...t.querySelectorAll('thead th')].map(th => th.textContent);
                const row = [...t.querySelectorAll('tbody tr')]
                    .find(tr => tr.querySelector('th').textContent === 'analytics');
                return row.children[cols.indexOf('Ack Floor')].textContent; }"""
        )

    floors = []
    for step in (1, 2, 3):
        board.kernel(f"state['step'] = {step}; send()")
        board.page.wait_for_function(
            f"() => document.querySelector('.fk-board').querySelector('.fk-time-label')"
            f".textContent.includes('t = {0.5 * step:.1f} s')"
        )
        floors.append(ack_floor_shown())
    assert len(set(floors)) == 3, floors
    slider = board.page.get_by_role("slider", name="Time travel: frame of the session")
    slider.focus()
    board.page.keyboard.press("ArrowLeft")
    board.page.keyboard.press("ArrowLeft")
    assert ack_floor_shown() == floors[0]
    assert "(past)" in board.page.locator(".fk-time-label").inner_text()
    assert board.page.evaluate("() => document.activeElement.classList.contains('fk-slider')")
    board.page.keyboard.press("ArrowRight")
    assert ack_floor_shown() == floors[1]
    # Tab reaches "Live" with a visible focus ring; Enter goes back to the newest frame.
    board.page.keyboard.press("Tab")
    focused = board.page.evaluate(
        "() => { const e = document.activeElement; const s = getComputedStyle(e);"
        " return [e.textContent, s.outlineStyle, parseFloat(s.outlineWidth)]; }"
    )
    assert focused[0] == "Live" and focused[1] == "solid" and focused[2] >= 2, focused
    board.page.keyboard.press("Enter")
    assert ack_floor_shown() == floors[2]
    assert "live" in board.page.locator(".fk-time-label").inner_text()


HEAD_AND_TABLE = """() => { const b = document.querySelector('.fk-board');
    const conn = b.querySelector('.fk-head .fk-badge');
    const note = b.querySelector('.fk-stale-note');
    return {head: b.querySelector('.fk-head').innerText, conn: conn.textContent,
            connClass: conn.className, time: b.querySelector('.fk-time-label').textContent,
            stale: b.querySelector('.fk-table-box').classList.contains('fk-stale'),
            note: note && !note.hidden ? note.textContent : null}; }"""


def test_a_short_stream_gets_larger_cells_with_marks_still_on_them(board: Session) -> None:
    """Lessons with 6-12 messages drew them as a ~100 px sliver of 8 px cells: a short window
    gets cells up to 19 px wide; a full one keeps 8 px."""
    widths = """() => [...document.querySelectorAll('.fk-stream-lane .fk-cells > [data-seq]')]
        .map(c => c.getBoundingClientRect().width)"""
    assert set(board.page.evaluate(widths)) == {8}
    try:
        board.kernel(
            "f = make_frame(1, 8, 0, problems=False); f['lanes'][2]['focus'] = None\nw.draw(f)"
        )
        board.page.wait_for_function("() => document.querySelector('.fk-board').dataset.hi === '8'")
        got = board.page.evaluate(widths)
        assert len(got) == 8 and set(got) == {19}, got
        board.page.evaluate(SLIDES_DONE)
        gaps = board.page.evaluate(MARK_GAPS)
        assert gaps and all(g is not None and abs(g) <= 1.5 for g, _ in gaps.values()), gaps
        assert board.page.evaluate(NEWEST_VISIBLE)["bad"] == []
        board.shot("board-short.png")
    finally:
        board.kernel("send()")
        board.page.wait_for_function("() => document.querySelector('.fk-board').dataset.hi !== '8'")
    assert set(board.page.evaluate(widths)) == {8}


def test_cursor_marks_move_with_the_cells_when_the_board_is_resized(board: Session) -> None:
    """Lesson 02 at 1400 px after 1024 px: 45 messages, larger cells at 1400; the marks slid
    in from their 1024 px places after the cells had jumped. Cells and marks move together."""
    pitch = "() => document.querySelector('.fk-board').style.getPropertyValue('--fk-pitch')"
    try:
        board.kernel("state['lo'], state['hi'] = 1, 45; send()")
        board.page.wait_for_function(
            "() => document.querySelector('.fk-board').dataset.hi === '45'"
        )
        board.page.evaluate(SLIDES_DONE)
        wide = board.page.evaluate(pitch)
        board.page.set_viewport_size({"width": 1024, "height": 1000})
        board.page.wait_for_function(f"() => ({pitch})() !== {wide!r}")
        gaps = board.page.evaluate(MARK_GAPS)
        assert gaps and all(g is not None and abs(g) <= 1.5 for g, _ in gaps.values()), gaps
        assert not any(n for _, n in gaps.values()), gaps
    finally:
        board.kernel("state['lo'], state['hi'] = None, 1200; send()")
        board.window_size(1400, file_browser=True)


def test_a_mark_whose_message_did_not_change_stays_on_it_when_the_window_moves(
    board: Session,
) -> None:
    """Lesson 07 again, after the CSS transition was gone: frames drawn while the board was
    out of view (a window of another width) made the marks slide, once back, from where that
    window had them. A mark slides only from one message to another, in the cells drawn now:
    a window that moves under a cursor that did not move leaves the mark on its cell."""
    at_lo = "(lo) => document.querySelector('.fk-board').dataset.lo == lo"
    try:
        board.kernel("state['lo'], state['hi'] = 1, 45; send()")
        board.page.wait_for_function(at_lo, arg=1)
        board.page.evaluate(SLIDES_DONE)
        board.kernel("state['lo'] = 11; send()")  # the same cursors, 10 fewer cells
        board.page.wait_for_function(at_lo, arg=11)
        gaps = {k: v for k, v in board.page.evaluate(MARK_GAPS).items() if "late-report" not in k}
        assert gaps and all(g is not None and abs(g) <= 1.5 for g, _ in gaps.values()), gaps
        assert not any(n for _, n in gaps.values()), gaps
    finally:
        board.kernel("state['lo'], state['hi'] = None, 1200; send()")
        board.page.wait_for_function(at_lo, arg=1200 - int(board.kernel("print(w.capacity)")) + 1)


def test_an_empty_stream_does_not_say_first_1_last_0(board: Session) -> None:
    try:
        board.kernel("w.draw(make_frame(1, 0, 0, problems=False))")
        board.page.wait_for_function("() => document.querySelector('.fk-board').dataset.hi === '0'")
        head = board.page.evaluate(HEAD_AND_TABLE)["head"]
        assert "no messages yet" in head and "first" not in head and "last" not in head, head
    finally:
        board.kernel("send()")
        board.page.wait_for_function("() => document.querySelector('.fk-board').dataset.hi !== '0'")


def test_a_closed_board_with_a_connected_client_does_not_look_live(board: Session) -> None:
    """Lesson 02: a closed board showed ``connected``, ``live · t = ...`` and numbers nothing
    followed any more. Closed, it says ``not following``, ``closed · t = ...``, and the
    numbers are dimmed under "as of closing", readable in light and dark."""
    closed = "() => document.querySelector('.fk-board').dataset.board === 'closed'"
    try:
        board.kernel("state['board'], state['problems'] = 'closed', False; send()")
        board.page.wait_for_function(closed)
        got = board.page.evaluate(HEAD_AND_TABLE)
        assert got["conn"] == "not following" and "fk-conn-off" in got["connClass"], got
        assert "connected" not in got["head"] and "board closed" in got["head"], got
        assert got["time"].startswith("closed · t = "), got
        assert got["stale"] and got["note"] and "as of closing" in got["note"], got
        for theme, word in (("JupyterLab Dark", "dark"), ("JupyterLab Light", "light")):
            _themed(board, theme)
            board.page.wait_for_function(closed)
            report = board.page.evaluate(CONTRAST)
            assert report["worst"] == [], (theme, report)
            board.shot(f"board-closed-{word}.png")
    finally:
        _themed(board, "JupyterLab Light")
        board.kernel("state['board'], state['problems'] = 'live', True; send()")
        board.page.wait_for_function(
            "() => document.querySelector('.fk-board').dataset.board !== 'closed'"
        )


def _themed(board: Session, theme: str) -> None:
    board.page.evaluate(
        "(t) => window.jupyterapp.commands.execute('apputils:change-theme', {theme: t})", theme
    )
    board.page.wait_for_function(
        "(t) => document.body.dataset.jpThemeName === t", arg=theme, timeout=30_000
    )


def test_light_and_dark_themes_keep_text_readable_and_follow_a_switch(board: Session) -> None:
    undelivered = board.page.locator(".fk-board [data-state='not yet delivered']").first
    state = palette.state_for_code("U")

    def rgb(hex_colour: str) -> str:
        r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
        return f"rgb({r}, {g}, {b})"

    for theme, word in (("JupyterLab Light", "light"), ("JupyterLab Dark", "dark")):
        _themed(board, theme)
        board.page.wait_for_function(
            "(c) => getComputedStyle(document.querySelector("
            "\".fk-board [data-state='not yet delivered']\")).backgroundColor === c",
            arg=rgb(getattr(state, word)),
            timeout=10_000,
        )
        report = board.page.evaluate(CONTRAST)
        assert report["checked"] > 50 and report["worst"] == [], (theme, report)
        for width in (1400, 1024):
            board.window_size(width, file_browser=True)
            board.shot(f"board-{word}-{width}.png")
        board.window_size(1400, file_browser=True)
        assert undelivered.count() == 1
    _themed(board, "JupyterLab Light")


def test_export_writes_one_self_contained_file_that_replays_with_the_slider(
    board: Session, tmp_path: Path
) -> None:
    target = tmp_path / "session.html"
    board.kernel(f"p = w.export({str(target)!r}); print(len(w.ring))")
    page_text = target.read_text()
    assert "<script src" not in page_text and "<link" not in page_text
    frames = json.loads(
        re.search(
            r'<script type="application/json" id="fk-data">(.*?)</script>', page_text, re.S
        ).group(1)  # type: ignore[union-attr]
    )["frames"]
    assert len(frames) >= 4
    page = board.browser.new_page(viewport={"width": 1200, "height": 900})
    try:
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(target.as_uri())
        page.wait_for_selector(".fk-board .fk-cells > [data-seq]")
        slider = page.get_by_role("slider", name="Time travel: frame of the session")
        seen = []
        for key in ("Home", "End"):
            slider.focus()
            page.keyboard.press(key)
            frame = frames[0] if key == "Home" else frames[-1]
            want = {k: {str(s): w for s, w in v.items()} for k, v in expected_cells(frame).items()}
            assert page.evaluate(READ_CELLS) == want
            seen.append(page.locator(".fk-time-label").inner_text())
        assert seen[0] != seen[1]
        assert errors == []
        assert [u for u in requests if not u.startswith("file:")] == []
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "board-export.png"))
    finally:
        page.close()


HEADLESS_CELLS = (
    """import json
import fanout_kit
from fanout_kit import Board

nc = await fanout_kit.connect()
js = nc.jetstream()
await fanout_kit.ensure_stream(js, "HEADLESS", ["headless.>"])
await fanout_kit.ensure_consumer(js, "HEADLESS", "reader")
await fanout_kit.ensure_consumer(js, "HEADLESS", "idle")
board = await Board.watch(nc, "HEADLESS")
board""",
    """await board.publish(12)
await board.attach_worker("reader")
await board.settle()
print(json.dumps({k: {str(s): w for s, w in v.items()} for k, v in board.cells().items()}))""",
)


def test_a_headless_run_saves_the_settled_board_and_lab_shows_it_when_opened(
    board: Session, server: Any, tmp_path: Path
) -> None:
    """nbconvert (what nbval and CI do) stores the widget state; the saved notebook, opened in
    JupyterLab without running anything, draws the settled board from that state."""
    import os
    import subprocess
    import sys

    source = tmp_path / "headless.ipynb"
    _write_notebook(source, *HEADLESS_CELLS)
    jupyter = Path(sys.executable).with_name("jupyter")
    env = {**os.environ, "NATS_URL": server.url}
    subprocess.run(
        [str(jupyter), "nbconvert", "--to", "notebook", "--execute", "--inplace", str(source)],
        check=True,
        env=env,
        timeout=240,
        capture_output=True,
    )
    saved = json.loads(source.read_text())
    out = saved["cells"][1]["outputs"][0]["text"]
    printed = json.loads(out if isinstance(out, str) else "".join(out))
    assert set(printed) == {"", "reader", "idle"}
    assert set(printed["reader"].values()) == {"acked"}
    # The board cell's text/plain is the Board's stable repr (what nbval compares).
    plain = saved["cells"][0]["outputs"][0]["data"]["text/plain"]
    text = plain if isinstance(plain, str) else "".join(plain)
    assert text == "Board(stream='HEADLESS', consumers=['idle', 'reader'])"
    state = saved["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    boards = [
        m["state"]
        for m in state.values()
        if m["state"].get("_anywidget_id", "").endswith("widget.BoardWidget")
    ]
    assert len(boards) == 1 and "export default" in boards[0]["_esm"]
    frame, legend = boards[0]["frame"], boards[0]["legend"]
    word = {entry["code"]: entry["state"] for entry in legend}
    drawn = {"": {str(frame["lo"] + i): word[c] for i, c in enumerate(frame["stream_lane"])}}
    for lane in frame["lanes"]:
        drawn[lane["name"]] = {str(frame["lo"] + i): word[c] for i, c in enumerate(lane["cells"])}
    assert drawn == printed, "the saved frame is the settled board"
    # Open the saved notebook in JupyterLab: the board draws from the stored state alone.
    # (JupyterLab draws widgets only in trusted notebooks; one you ran yourself is trusted.)
    opened = board.tmp / "notebooks" / "headless.ipynb"
    opened.write_text(source.read_text())
    subprocess.run([str(jupyter), "trust", str(opened)], check=True, capture_output=True)
    page = board.browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _open_in_front(page, board.lab, "headless.ipynb")
        page.wait_for_function(
            "() => window.jupyterapp.shell.currentWidget.node"
            ".querySelector('.fk-board .fk-cells > [data-seq]')",
            timeout=60_000,
        )
        assert page.evaluate(READ_CELLS) == printed
    finally:
        page.close()


REAL_CELLS = (
    """import asyncio
import json
import fanout_kit
from fanout_kit import Board

nc = await fanout_kit.connect()
js = nc.jetstream()
await fanout_kit.ensure_stream(js, "EVENTS", ["events.>"])
await fanout_kit.ensure_consumer(js, "EVENTS", "analytics")
await fanout_kit.ensure_consumer(js, "EVENTS", "orders", filter_subject="events.order.>")
await fanout_kit.ensure_consumer(js, "EVENTS", "billing")
real = await Board.watch(nc, "EVENTS")
real""",
    """await real.publish(60)
analytics = await real.attach_worker("analytics", start=False)
analytics.nak_next(2)
await analytics.start()
billing = await real.attach_worker("billing", batch=5, delay=30.0)
for _ in range(400):  # until billing holds its first batch (at most 20 s)
    if billing.holding:
        break
    await asyncio.sleep(0.05)
await billing.crash()  # dies holding 5 unacked messages: in flight until ack_wait
await real.settle()""",
)


def test_a_real_board_draws_filters_naks_and_a_crashed_worker_as_the_server_has_them(
    board: Session,
) -> None:
    """A real board in JupyterLab: filtered-out messages, nak traces, messages a crashed
    worker holds in flight; the DOM equals ``board.cells()``. Its screenshot is the README's."""
    _write_notebook(board.tmp / "notebooks" / "real-board.ipynb", *REAL_CELLS)
    page = board.browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _open_in_front(page, board.lab, "real-board.ipynb")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_function(
            "() => window.jupyterapp.shell.currentWidget.content.widgets"
            ".every(c => c.model.executionCount !== null)",
            timeout=120_000,
        )
        page.wait_for_function(
            """() => { const w = window.jupyterapp.shell.currentWidget;
                return w.sessionContext.session.kernel.status === 'idle'; }""",
            timeout=60_000,
        )
        truth = json.loads(
            page.evaluate(
                RUN_IN_KERNEL,
                "print(json.dumps({k: {str(s): w for s, w in v.items()}"
                " for k, v in real.cells().items()}))",
            )
        )
        from .conftest import wait_until

        wait_until(lambda: page.evaluate(READ_CELLS) == truth, timeout=30, what="DOM == cells()")
        words = {w for lane in truth.values() for w in lane.values()}
        assert {"not matching the filter", "in flight", "acked", "not yet delivered"} <= words
        assert set(truth["orders"].values()) == {"not matching the filter", "not yet delivered"}
        front = page.evaluate("() => window.jupyterapp.shell.currentWidget.id")
        traced = page.locator(
            f"[id='{front}'] .fk-board [data-consumer='analytics'][data-deliveries]"
        )
        assert traced.count() >= 1
        ARTIFACTS.mkdir(exist_ok=True)
        page.evaluate(SLIDES_DONE)  # the cursor marks have slid to where they stop
        front = page.evaluate("() => window.jupyterapp.shell.currentWidget.id")
        page.locator(f"[id='{front}'] .jp-OutputArea-output").filter(
            has=page.locator(".fk-board")
        ).screenshot(path=str(ARTIFACTS / "board-readme.png"))
        # The real board's recording, exported and opened from disk: its last frame is this.
        exported = board.tmp / "real-board.html"
        page.evaluate(RUN_IN_KERNEL, f"real.export({str(exported)!r})")
        page.evaluate(RUN_IN_KERNEL, "await real.close()")
        page.goto(exported.as_uri())
        page.wait_for_selector(".fk-board .fk-cells > [data-seq]")
        assert page.evaluate(READ_CELLS) == truth
    finally:
        page.close()


# A consumer paused on the server: the lane says so in words (local time), the DOM carries it.
READ_PAUSE = """(name) => {
    const root = window.jupyterapp ? window.jupyterapp.shell.currentWidget.node : document;
    const lane = root.querySelector(`.fk-board .fk-lane[data-lane="${name}"]:not(.fk-focus)`);
    const badge = lane && lane.querySelector('.fk-name .fk-paused-badge');
    const row = [...root.querySelectorAll('.fk-board .fk-numbers tbody th[scope=row]')]
        .find(th => th.firstChild && th.firstChild.textContent === name);
    const until = lane && lane.dataset.pausedUntil;
    return {paused: lane ? lane.dataset.paused : null, until: until || null,
            badge: badge ? badge.textContent : null, title: badge ? badge.title : null,
            label: lane ? lane.getAttribute('aria-label') : null,
            row: row ? row.textContent : null,
            // The learner's local time of day, as the browser's clock and time zone give it.
            offset: until ? new Date(until).getTimezoneOffset() : null,
            pausedLanes: [...root.querySelectorAll('.fk-board .fk-lane[data-paused="true"]')]
                .map(l => l.dataset.lane)};
}"""


def _local_time_of_day(utc_text: str, offset_minutes: int) -> str:
    """What the badge shows for ``utc_text`` in a browser ``offset_minutes`` behind UTC."""
    import datetime as dt

    when = dt.datetime.fromisoformat(utc_text.replace("Z", "+00:00"))
    return (when - dt.timedelta(minutes=offset_minutes)).strftime("%H:%M:%S")


def _says_paused(got: dict[str, Any], name: str, until: str) -> None:
    local = _local_time_of_day(until, got["offset"])
    assert got["paused"] == "true" and got["until"] == until, got
    assert re.fullmatch(rf"paused until (\d{{1,2}} \w{{3}} )?{local}", got["badge"]), got
    assert got["label"].startswith(f"consumer {name}") and "paused until " in got["label"], got
    assert got["label"].endswith(local), got
    assert got["title"].startswith(f"{name} paused on the server until "), got
    assert f"{until[:19].replace('T', ' ')} UTC" in got["title"], got
    assert got["row"] == f"{name} (paused)", got


def test_a_consumer_paused_on_the_server_says_so_in_words(board: Session) -> None:
    from .board_frames import PAUSED_UNTIL

    got = board.page.evaluate(READ_PAUSE, "late-report")
    _says_paused(got, "late-report", PAUSED_UNTIL)
    assert got["pausedLanes"] == ["late-report"]
    other = board.page.evaluate(READ_PAUSE, "analytics")
    assert other["paused"] == "false" and other["badge"] is None and other["row"] == "analytics"
    legend = board.page.locator(".fk-board .fk-legend").inner_text()
    assert "consumer paused on the server (js.pause_consumer)" in legend
    # The legend's sample is a placeholder: a made-up time would read like a real pause.
    sample = board.page.locator(".fk-board .fk-legend .fk-paused-badge").inner_text()
    assert sample == "paused until HH:MM:SS", sample


PAUSE_CELLS = (
    """import datetime as dt
import fanout_kit
from fanout_kit import Board

nc = await fanout_kit.connect()
js = nc.jetstream()
await fanout_kit.reset_streams(js, "PAUSED")
await fanout_kit.ensure_stream(js, "PAUSED", ["paused.>"])
await fanout_kit.ensure_consumer(js, "PAUSED", "fulfilment")
await fanout_kit.ensure_consumer(js, "PAUSED", "shipping")
paused_board = await Board.watch(nc, "PAUSED", reconcile_interval=None)
await paused_board.publish(12)
await paused_board.settle()
paused_board""",
)


def test_a_real_board_shows_a_pause_and_a_resume_within_a_frame(board: Session) -> None:
    """``js.pause_consumer`` under a watching board: the lane's badge and ``data-paused``
    appear (from the server's advisory: the board reconciles only at settle here), and go
    with ``js.resume_consumer``."""
    _write_notebook(board.tmp / "notebooks" / "pause-board.ipynb", *PAUSE_CELLS)
    page = board.browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _open_in_front(page, board.lab, "pause-board.ipynb")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_function(
            "() => window.jupyterapp.shell.currentWidget.node"
            ".querySelector('.fk-board .fk-lane[data-lane=\"fulfilment\"][data-paused]')",
            timeout=120_000,
        )
        assert page.evaluate(READ_PAUSE, "fulfilment")["paused"] == "false"
        until = page.evaluate(
            RUN_IN_KERNEL,
            "r = await js.pause_consumer('PAUSED', 'fulfilment',"
            " (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)).isoformat())\n"
            "from fanout_kit import pause\n"
            "from fanout_kit.acks import parse_time_ns\n"
            "print(pause.utc_text(parse_time_ns(r.pause_until)), end='')",
        )
        page.wait_for_function(
            f"(until) => ({READ_PAUSE})('fulfilment').until === until", arg=until, timeout=30_000
        )
        got = page.evaluate(READ_PAUSE, "fulfilment")
        _says_paused(got, "fulfilment", until)
        assert got["pausedLanes"] == ["fulfilment"]
        ARTIFACTS.mkdir(exist_ok=True)
        front = page.evaluate("() => window.jupyterapp.shell.currentWidget.id")
        page.locator(f"[id='{front}'] .jp-OutputArea-output").filter(
            has=page.locator(".fk-board")
        ).screenshot(path=str(ARTIFACTS / "board-paused.png"))
        page.evaluate(RUN_IN_KERNEL, "await js.resume_consumer('PAUSED', 'fulfilment')")
        page.wait_for_function(f"() => ({READ_PAUSE})('fulfilment').paused === 'false'")
        gone = page.evaluate(READ_PAUSE, "fulfilment")
        assert gone["badge"] is None and gone["until"] is None and gone["pausedLanes"] == []
        assert gone["row"] == "fulfilment" and gone["label"] == "consumer fulfilment"
        page.evaluate(RUN_IN_KERNEL, "await paused_board.close()\nawait js.delete_stream('PAUSED')")
    finally:
        page.close()
