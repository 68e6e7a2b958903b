"""The learner's workspace: their own copies of the lessons, in a git-ignored folder.

The tracked ``notebooks/`` stay the tested reference, outputs and all; a learner's session
edits copies in ``workspace/`` (at the project root), made with every output and execution count
cleared, so nothing on screen answers a prediction before it is made and ``git pull`` never
meets a learner's edits. The solution files are copied too (``solutions/`` beside the lessons).

A manifest (``workspace/.fanout-kit-workspace.json``) remembers, per file, the fingerprint of
the upstream version it was copied from. A notebook's fingerprint covers its cells' types and
sources only, so running cells (outputs) is not "editing" and a re-executed reference is not
"changed upstream". On each start :meth:`Workspace.sync`:

- copies in files that are new upstream (or that the learner deleted);
- refreshes a copy the learner has not edited when its upstream changed;
- leaves an edited copy whose upstream changed alone, and lists it: ``fanout-kit reset NN``
  replaces it, keeping the learner's version as a timestamped backup in ``backups/``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import WorkspaceError

__all__ = [
    "BACKUPS",
    "MANIFEST",
    "PROGRESS_FILE",
    "SyncReport",
    "Workspace",
    "cleared",
    "find_workspace",
    "fingerprint",
]

MANIFEST = ".fanout-kit-workspace.json"
PROGRESS_FILE = ".fanout-kit-progress.jsonl"
BACKUPS = "backups"
#: Upstream files a learner does not need: nbval's sanitizer.
SKIP = frozenset({"sanitize.cfg"})


def find_workspace(start: Path) -> Path | None:
    """The workspace folder holding ``start`` (itself or a parent with a manifest), or None."""
    for folder in (start, *start.parents):
        if (folder / MANIFEST).is_file():
            return folder
    return None


def _notebook_text(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def fingerprint(path: Path) -> str:
    """What identifies a file's content for the learner: a notebook's cell types and sources
    (not outputs, counts or metadata), any other file's bytes."""
    if path.suffix == ".ipynb":
        try:
            cells = _notebook_text(path).get("cells", [])
        except ValueError:
            cells = None  # a notebook that no longer parses is an edited one
        if cells is not None:
            shape = [[c.get("cell_type"), _source(c)] for c in cells]
            return hashlib.sha256(json.dumps(shape).encode()).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cleared(notebook: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``notebook`` with no outputs, execution counts or saved widget state."""
    nb: dict[str, Any] = json.loads(json.dumps(notebook))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cell.get("metadata", {}).pop("execution", None)
    nb.get("metadata", {}).pop("widgets", None)
    return nb


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class SyncReport:
    """What :meth:`Workspace.sync` did, as paths relative to the workspace."""

    copied: list[str] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = []
        if len(self.copied) > 4:
            out.append(f"copied {len(self.copied)} files in from notebooks/ (lessons, solutions)")
        elif self.copied:
            out.append(f"copied in from notebooks/: {', '.join(self.copied)}")
        if self.refreshed:
            out.append(f"updated (you had not edited them): {', '.join(self.refreshed)}")
        for name in self.conflicts:
            lesson = name[:2] if name[:2].isdigit() else name
            out.append(
                f"upstream changed: {name}, which you edited: your copy is left as it is. "
                f"Run `fanout-kit reset {lesson}` for the new version (yours is kept in "
                f"{BACKUPS}/)."
            )
        return out


class Workspace:
    """The learner's copies in ``folder`` of the reference files in ``upstream``."""

    def __init__(self, folder: Path, upstream: Path) -> None:
        self.folder = folder
        self.upstream = upstream

    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST

    def _manifest(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            files = data.get("files", {})
            return {str(k): dict(v) for k, v in files.items()}
        except (FileNotFoundError, ValueError, AttributeError):
            return {}

    def _save_manifest(self, files: dict[str, dict[str, str]]) -> None:
        text = json.dumps({"version": 1, "files": dict(sorted(files.items()))}, indent=1)
        _write_atomic(self.manifest_path, (text + "\n").encode())

    def upstream_files(self) -> list[str]:
        """The reference files a workspace holds copies of, relative to ``upstream``."""
        out = []
        for path in sorted(self.upstream.rglob("*")):
            rel = path.relative_to(self.upstream)
            if not path.is_file() or path.name in SKIP:
                continue
            if any(p.startswith(".") or p in ("__pycache__", BACKUPS) for p in rel.parts):
                continue
            out.append(rel.as_posix())
        return out

    def _copy(self, rel: str) -> str:
        """Copy one upstream file in (a notebook cleared); its upstream fingerprint."""
        src = self.upstream / rel
        if src.suffix == ".ipynb":
            nb = cleared(_notebook_text(src))
            data = (json.dumps(nb, indent=1, ensure_ascii=False) + "\n").encode()
        else:
            data = src.read_bytes()
        _write_atomic(self.folder / rel, data)
        return fingerprint(src)

    def sync(self) -> SyncReport:
        """Bring the workspace up to date with upstream without touching the learner's edits."""
        if not self.upstream.is_dir():
            raise WorkspaceError(
                f"upstream: {self.upstream} is not a folder; run from the project folder "
                "(the one with notebooks/)."
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        files = self._manifest()
        report = SyncReport()
        for rel in self.upstream_files():
            mine = self.folder / rel
            base = files.get(rel, {}).get("base")
            now = fingerprint(self.upstream / rel)
            if not mine.exists():
                files[rel] = {"base": self._copy(rel)}
                report.copied.append(rel)
            elif base is None:
                # A copy the manifest does not know (an older kit, a lost manifest): adopt
                # it as copied from today's upstream; if it differs, it counts as edited.
                files[rel] = {"base": now}
            elif base != now:
                if fingerprint(mine) == base:
                    files[rel] = {"base": self._copy(rel)}
                    report.refreshed.append(rel)
                else:
                    report.conflicts.append(rel)
        self._save_manifest(files)
        return report

    def lessons(self) -> list[str]:
        """The lesson notebooks upstream, by file name (``00-welcome.ipynb``, ...)."""
        return [r for r in self.upstream_files() if "/" not in r and r.endswith(".ipynb")]

    def lesson(self, which: str) -> str:
        """The lesson notebook named by ``which``: its number (``03``, ``3``) or file name."""
        lessons = self.lessons()
        wanted = which.strip()
        if wanted.isdigit():
            wanted = f"{int(wanted):02d}"
        for name in lessons:
            if name == wanted or name.removesuffix(".ipynb") == wanted or name[:2] == wanted:
                return name
        numbers = ", ".join(n[:2] for n in lessons)
        raise WorkspaceError(f"lesson: no lesson {which!r}; the lessons are {numbers}.")

    def reset(self, which: str) -> tuple[Path, Path | None]:
        """Replace the learner's copy of one lesson with a fresh one from upstream.

        Returns the fresh copy and the backup of the old one (None if there was none): the old
        copy moves to ``backups/<name>.<timestamp>.ipynb``, never deleted.
        """
        name = self.lesson(which)
        mine = self.folder / name
        backup = None
        if mine.exists():
            stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            backup = self.folder / BACKUPS / f"{mine.stem}.{stamp}{mine.suffix}"
            n = 1
            while backup.exists():
                n += 1
                backup = self.folder / BACKUPS / f"{mine.stem}.{stamp}-{n}{mine.suffix}"
            backup.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(mine, backup)
        files = self._manifest()
        files[name] = {"base": self._copy(name)}
        self._save_manifest(files)
        return mine, backup
