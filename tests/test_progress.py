"""Recorded check results: one JSON line per result, safe with several kernels at once."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest

from fanout_kit import progress
from fanout_kit.workspace import MANIFEST, PROGRESS_FILE

KEY = "fanout.billing_consumer"


def _record_many(path: str, n: int) -> None:
    os.environ[progress.ENV] = path
    for _ in range(n):
        progress.record(KEY, "wrong", 1)


def test_several_kernels_recording_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "kernels.jsonl"
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_record_many, args=(str(path), 100)) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    lines = path.read_text().splitlines()
    assert len(lines) == 400 and all(json.loads(line)["exercise"] == KEY for line in lines)
    assert len(progress.attempts(path)) == 400


def test_a_torn_line_is_skipped(_own_progress_file: Path) -> None:
    progress.record(KEY, "wrong", 1)
    with _own_progress_file.open("a") as f:
        f.write('{"exercise": "fanout.bill')  # a kernel killed mid-write
    progress.record(KEY, "correct", 2)
    assert [a.status for a in progress.attempts()] == ["wrong", "correct"]


def test_the_report_says_done_tried_and_not_started() -> None:
    progress.record("welcome.publish_three", "wrong", 1)
    progress.record("welcome.publish_three", "correct", 2)
    progress.record(KEY, "wrong", 1)
    progress.record(KEY, "wrong", 2)
    progress.record("filters.fraud_watch", "not attempted", 1)
    report = progress.show_progress()
    states = {r.exercise.lesson: (r.state, r.wrong) for r in report.rows}
    assert states["00"] == ("done", 1)
    assert states["02"] == ("tried", 2)
    assert states["03"] == ("not started", 0)
    text = repr(report)
    assert "  02  ✗ tried (2 wrong)  " in text
    assert text.endswith("1 of 13 exercises done.")


def test_a_kernel_in_the_workspace_records_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(progress.ENV, raising=False)
    (tmp_path / MANIFEST).write_text("{}")
    (tmp_path / "solutions").mkdir()
    monkeypatch.chdir(tmp_path / "solutions")  # a kernel's cwd is its notebook's folder
    with progress.recording_to(None):  # as a kernel records
        assert progress.progress_file() == tmp_path / PROGRESS_FILE
        progress.record(KEY, "wrong", 1)
    assert json.loads((tmp_path / PROGRESS_FILE).read_text())["status"] == "wrong"


def test_outside_a_workspace_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tracked notebooks under nbval: results stay in the process, so runs are alike."""
    monkeypatch.delenv(progress.ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    with progress.recording_to(None):  # as a kernel records, from an empty memory
        assert progress.progress_file() is None
        progress.record(KEY, "wrong", 1)
        assert list(tmp_path.iterdir()) == []
        assert progress.wrong_tries(KEY) == 1
        assert repr(progress.show_progress()).startswith("Progress in this kernel only")
    assert progress.wrong_tries(KEY) == 0  # the test's own file again


def test_every_exercise_key_names_a_check() -> None:
    import importlib

    for ex in progress.EXERCISES:
        module, name = ex.key.split(".")
        check = getattr(importlib.import_module(f"fanout_kit.checks.{module}"), name)
        assert check.__name__ == name
    with pytest.raises(KeyError, match="no exercise 'x.y'"):
        progress.exercise("x.y")
