"""The lessons and the experiments notebooks: strict nbval re-runs in order, reversed and
shuffled (each notebook twice on one server), three servers side by side.

Each run re-executes every committed notebook (the numbered lessons and
notebooks/experiments/) and compares its outputs with the saved ones (after
notebooks/sanitize.cfg), so a notebook that depends on another having run before it (or not)
fails here. Static checks keep most cells compared, every notebook opening
with its learning objectives and every lesson's exercise paired with a solution file.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

import fanout_kit

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
LESSONS = sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
EXPERIMENTS = sorted((NOTEBOOKS / "experiments").glob("*.ipynb"))
"""Notebooks outside the numbered course: validated like the lessons, without an exercise."""
ALL = LESSONS + EXPERIMENTS
MARKERS = ("NBVAL_IGNORE_OUTPUT", "NBVAL_SKIP")


def _code_cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def _is_compared(cell: dict) -> bool:
    source = "".join(cell["source"])
    first = source.lstrip().splitlines()[0] if source.strip() else ""
    tags = {t.lower() for t in cell.get("metadata", {}).get("tags", [])}
    return not any(m in first for m in MARKERS) and not tags & {"nbval-ignore-output", "nbval-skip"}


def test_lessons_exist() -> None:
    assert LESSONS, "no lesson notebooks found in notebooks/"
    assert LESSONS[0].name == "00-welcome.ipynb"
    assert EXPERIMENTS, "no notebook in notebooks/experiments/"


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_most_cells_are_compared(path: Path) -> None:
    cells = _code_cells(path)
    compared = [c for c in cells if _is_compared(c)]
    assert len(compared) / len(cells) >= 0.6, (
        f"{path.name}: only {len(compared)} of {len(cells)} code cells have compared output"
    )
    unrun = [i for i, c in enumerate(cells) if c.get("execution_count") is None]
    assert not unrun, f"{path.name}: code cells {unrun} were saved without running"
    counts = [c["execution_count"] for c in cells]
    assert counts == sorted(counts), f"{path.name}: saved out of order; re-run top to bottom"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_lesson_has_objectives_exercise_and_solution(path: Path) -> None:
    cells = json.loads(path.read_text())["cells"]
    first = "".join(cells[0]["source"])
    assert "What you will learn" in first, f"{path.name}: first cell must list learning objectives"
    text = "".join("".join(c["source"]) for c in cells)
    assert "Predict" in text, f"{path.name}: no prediction question"
    assert "Exercise" in text, f"{path.name}: no exercise"
    assert "NotImplementedError" in text, f"{path.name}: the exercise has no stub"
    assert (NOTEBOOKS / "solutions" / f"{path.stem}.py").is_file(), f"{path.name}: no solution"


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_every_experiments_notebook_has_objectives_and_no_orphan_exercise(path: Path) -> None:
    """Outside the course: objectives first, as the lessons; no exercise, so no stub either
    (a stub with no check and no solution would be a dead end)."""
    cells = json.loads(path.read_text())["cells"]
    assert "What you will learn" in "".join(cells[0]["source"]), (
        f"{path.name}: first cell must list learning objectives"
    )
    text = "".join("".join(c["source"]) for c in cells)
    assert "NotImplementedError" not in text, f"{path.name}: a stub without a check"


def _nbval(paths: list[Path], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "--nbval",
        "--nbval-current-env",
        f"--nbval-sanitize-with={NOTEBOOKS / 'sanitize.cfg'}",
        "-p",
        "no:cacheprovider",
        "-p",
        "tests.kernels",  # kernels on Unix sockets: no TCP port another process can take
        "-q",
        *map(str, paths),
    ]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)


_HALVES = (ALL[0::2], ALL[1::2])
ORDERS: dict[str, list[list[Path]]] = {
    "in-order": [list(ALL)],
    **{
        f"half-{i + 1}-reversed-then-shuffled": [
            list(reversed(half)),
            random.Random(7 + i).sample(half, len(half)),
        ]
        for i, half in enumerate(_HALVES)
    },
}
"""Each entry: nbval runs one after another on one server of its own. In order is the
learner's path. Each half of the notebooks (every other one) runs reversed, then again shuffled,
on the same server: so no notebook can lean on another having run before it or after it, and
every notebook runs a second time on a server where it already ran (a learner who runs a lesson
again). The three entries take about as long each, so parallel workers finish together."""


@pytest.mark.slow(150)
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("order", ORDERS)
def test_nbval_strict_in_any_order(order: str) -> None:
    """Strict nbval runs of the notebooks (the experiments with the lessons) in the orders of
    ``order``, all on one server of its own: each notebook finds the leftovers of those before
    it, its own included.

    The three entries are independent of each other (a server each), so `make test` runs them
    side by side on parallel workers."""
    server = asyncio.run(fanout_kit.start_server(name=f"fanout-kit-nbval-{order}"))
    try:
        env = {**os.environ, "NATS_URL": server.url, "NATS_MONITOR_URL": server.monitoring_url}
        for name in [n for n in env if n.startswith("PYTEST_XDIST_")]:
            del env[name]  # a pytest run of its own, not one of our xdist workers
        for i, paths in enumerate(ORDERS[order], start=1):
            result = _nbval(paths, env)
            assert result.returncode == 0, (
                f"nbval run {order}, pass {i} ({[p.stem for p in paths]}) failed:\n"
                + result.stdout[-12000:]
                + result.stderr[-3000:]
            )
    finally:
        asyncio.run(server.stop())
