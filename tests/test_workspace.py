"""The learner's workspace: cleared copies of the lessons, kept in step with notebooks/ without
ever overwriting the learner's edits; `fanout-kit reset` and `fanout-kit progress`."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fanout_kit.errors import WorkspaceError
from fanout_kit.workspace import BACKUPS, MANIFEST, Workspace, find_workspace

ROOT = Path(__file__).resolve().parent.parent
CLI = str(Path(sys.executable).parent / "fanout-kit")


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _edit(path: Path, cell: int, source: str) -> None:
    nb = json.loads(path.read_text())
    nb["cells"][cell]["source"] = [source]
    path.write_text(json.dumps(nb))


@pytest.fixture
def upstream(tmp_path: Path) -> Path:
    """A copy of the tracked notebooks/ (tests change "upstream" here, never in the repo)."""
    folder = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", folder)
    return folder


@pytest.fixture
def workspace(tmp_path: Path, upstream: Path) -> Workspace:
    ws = Workspace(tmp_path / "workspace", upstream)
    ws.sync()
    return ws


def test_copies_have_no_outputs_and_upstream_is_untouched(tmp_path: Path) -> None:
    before = _digest(ROOT / "notebooks")
    ws = Workspace(tmp_path / "ws", ROOT / "notebooks")
    report = ws.sync()
    assert _digest(ROOT / "notebooks") == before
    lessons = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
    experiments = sorted(
        f"experiments/{p.name}" for p in (ROOT / "notebooks" / "experiments").glob("*.ipynb")
    )
    assert experiments, "the experiments notebooks come along too"
    assert [n for n in report.copied if n.endswith(".ipynb")] == lessons + experiments
    for name in lessons + experiments:
        tracked = json.loads((ROOT / "notebooks" / name).read_text())
        mine = json.loads((ws.folder / name).read_text())
        assert any(c.get("outputs") for c in tracked["cells"]), f"{name}: reference has outputs"
        code = [c for c in mine["cells"] if c["cell_type"] == "code"]
        assert all(c["outputs"] == [] and c["execution_count"] is None for c in code), name
        assert [c["source"] for c in mine["cells"]] == [c["source"] for c in tracked["cells"]]
    # "The solution is in solutions/..." stays true beside the copies.
    for solution in (ROOT / "notebooks" / "solutions").glob("*.py"):
        assert (ws.folder / "solutions" / solution.name).read_bytes() == solution.read_bytes()
    assert not (ws.folder / "sanitize.cfg").exists()


def test_a_second_start_changes_nothing(workspace: Workspace) -> None:
    before = _digest(workspace.folder)
    report = workspace.sync()
    assert (report.copied, report.refreshed, report.conflicts) == ([], [], [])
    assert _digest(workspace.folder) == before


def test_running_cells_is_not_editing(workspace: Workspace, upstream: Path) -> None:
    """A copy with outputs but the same sources is refreshed when upstream changes."""
    mine = workspace.folder / "02-basic-fan-out.ipynb"
    nb = json.loads(mine.read_text())
    nb["cells"][2]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["x"]}]
    mine.write_text(json.dumps(nb))
    _edit(upstream / "02-basic-fan-out.ipynb", 0, "# 02, rewritten upstream\n")
    report = workspace.sync()
    assert report.refreshed == ["02-basic-fan-out.ipynb"] and not report.conflicts
    assert json.loads(mine.read_text())["cells"][0]["source"] == ["# 02, rewritten upstream\n"]


def test_an_edited_lesson_changed_upstream_is_left_alone_and_listed(
    workspace: Workspace, upstream: Path
) -> None:
    mine = workspace.folder / "03-filtered-fan-out.ipynb"
    _edit(mine, 1, "my notes\n")
    edited = mine.read_bytes()
    _edit(upstream / "03-filtered-fan-out.ipynb", 0, "# 03, rewritten upstream\n")
    _edit(upstream / "04-real-time-and-replay.ipynb", 0, "# 04, rewritten upstream\n")
    report = workspace.sync()
    assert mine.read_bytes() == edited
    assert report.conflicts == ["03-filtered-fan-out.ipynb"]
    assert report.refreshed == ["04-real-time-and-replay.ipynb"]
    assert "upstream changed: 03-filtered-fan-out.ipynb" in "\n".join(report.lines())
    assert "fanout-kit reset 03" in "\n".join(report.lines())
    # Still listed on the next start: nothing was decided for the learner.
    assert workspace.sync().conflicts == ["03-filtered-fan-out.ipynb"]


def test_new_and_deleted_lessons_are_copied_in(workspace: Workspace, upstream: Path) -> None:
    shutil.copy(upstream / "00-welcome.ipynb", upstream / "13-new-lesson.ipynb")
    (workspace.folder / "05-republish.ipynb").unlink()
    report = workspace.sync()
    assert report.copied == ["05-republish.ipynb", "13-new-lesson.ipynb"]


def test_the_experiments_notebooks_are_not_lessons(workspace: Workspace) -> None:
    """notebooks/experiments/ is copied (cleared, see above) but is not a numbered lesson:
    `fanout-kit reset` and the lesson list leave it out."""
    assert (workspace.folder / "experiments" / "three-experiments.ipynb").is_file()
    assert all("/" not in name for name in workspace.lessons())
    nb = json.loads((workspace.folder / "experiments" / "three-experiments.ipynb").read_text())
    assert "widgets" not in nb.get("metadata", {}), "the saved board state is cleared too"


def test_reset_keeps_the_old_copy_as_a_backup(workspace: Workspace, upstream: Path) -> None:
    mine = workspace.folder / "03-filtered-fan-out.ipynb"
    _edit(mine, 1, "my notes\n")
    edited = mine.read_bytes()
    _edit(upstream / "03-filtered-fan-out.ipynb", 0, "# 03, rewritten upstream\n")
    fresh, backup = workspace.reset("3")
    assert fresh == mine and backup is not None
    assert backup.parent == workspace.folder / BACKUPS
    assert backup.name.startswith("03-filtered-fan-out.") and backup.suffix == ".ipynb"
    assert backup.read_bytes() == edited
    assert json.loads(mine.read_text())["cells"][0]["source"] == ["# 03, rewritten upstream\n"]
    assert workspace.sync().conflicts == []
    # A second reset in the same second keeps both backups.
    _, second = workspace.reset("03-filtered-fan-out")
    assert second is not None and second != backup and backup.exists()


@pytest.mark.parametrize("which", ["99", "fan-out", ""])
def test_reset_of_an_unknown_lesson_names_what_fits(workspace: Workspace, which: str) -> None:
    with pytest.raises(WorkspaceError) as err:
        workspace.reset(which)
    assert isinstance(err.value, ValueError)
    assert str(err.value).startswith(f"lesson: no lesson {which!r}")
    assert "00, 01, 02" in str(err.value)


def test_find_workspace_from_a_subfolder(workspace: Workspace) -> None:
    assert (workspace.folder / MANIFEST).is_file()
    assert find_workspace(workspace.folder / "solutions") == workspace.folder
    assert find_workspace(ROOT / "notebooks") is None


def test_cli_reset_and_progress(tmp_path: Path) -> None:
    folder = tmp_path / "ws"
    Workspace(folder, ROOT / "notebooks").sync()
    _edit(folder / "02-basic-fan-out.ipynb", 1, "mine\n")
    done = subprocess.run(
        [CLI, "reset", "02", "--workspace", str(folder)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "02-basic-fan-out.ipynb: restored from notebooks/" in done.stdout
    assert len(list((folder / BACKUPS).glob("02-basic-fan-out.*.ipynb"))) == 1
    bad = subprocess.run(
        [CLI, "reset", "42", "--workspace", str(folder)], capture_output=True, text=True
    )
    assert bad.returncode == 1 and "no lesson '42'" in bad.stderr
    shown = subprocess.run(
        [CLI, "progress", "--workspace", str(folder)], capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    assert "0 of 13 exercises done." in shown.stdout
    assert "02  · not started" in shown.stdout
