"""Load a lesson's solution file (notebooks/solutions/NN-name.py) as a module for checker tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

SOLUTIONS = Path(__file__).resolve().parent.parent / "notebooks" / "solutions"


def load_solution(stem: str) -> ModuleType:
    """The solution module for lesson ``stem`` (e.g. ``"02-basic-fan-out"``)."""
    path = SOLUTIONS / f"{stem}.py"
    spec = importlib.util.spec_from_file_location(f"solution_{stem[:2]}", path)
    assert spec and spec.loader, f"no solution file {path}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
