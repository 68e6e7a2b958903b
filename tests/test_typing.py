"""The kit is typed for its users: py.typed ships in the wheel, and the public API names real
types. (`make lint` runs mypy strict over the package; this keeps `Any` out of what users see.)"""

from __future__ import annotations

import inspect
import shutil
import subprocess
import sys
import typing
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fanout_kit

ROOT = Path(__file__).resolve().parent.parent

#: Where the public API says Any, and why that is the honest type: "<name>: <parameter>".
ANY_ALLOWED = {
    # JSON the server or a payload holds: shapes the kit does not own.
    "Cluster.wait_ready: return": "the meta leader's /jsz meta_cluster report",
    "Event.__init__: data": "the event's JSON payload",
    "NatsServer.monitor: return": "a monitoring endpoint's JSON",
    "monitor: return": "a monitoring endpoint's JSON",
    "ensure_stream: republish": "a RePublish, or the same as a dict of its JSON fields",
    # Passed through to nats-py, whose own signatures take **kwargs.
    "connect: options": "nats.connect(**options)",
    "ensure_consumer: extra": "more ConsumerConfig fields",
    "ensure_stream: extra": "more StreamConfig fields",
    # Standard spellings: a coroutine's send/throw types; wait_for's typed overloads.
    "run: coro": "Coroutine[Any, Any, T]",
    "wait_for: condition": "the implementation under two typed overloads",
    "wait_for: return": "the implementation under two typed overloads",
    # The board's options (fanout_kit/board.py) are checked by name at run time.
    "Board.__init__: options": "Board.watch's keyword options",
    "Board.watch: options": "keyword options, checked by name",
}


def _has_any(hint: object) -> bool:
    return hint is Any or any(_has_any(arg) for arg in typing.get_args(hint))


def _public_callables() -> Iterator[tuple[str, Callable[..., object]]]:
    for name in fanout_kit.__all__:
        obj = getattr(fanout_kit, name)
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if attr.startswith("_") and attr != "__init__":
                    continue
                if isinstance(member, property):
                    member = member.fget
                if isinstance(member, staticmethod | classmethod):
                    member = member.__func__
                if callable(member):
                    yield f"{name}.{attr}", member
        elif callable(obj):
            yield name, obj


def test_the_public_api_says_any_only_where_it_must() -> None:
    found = set()
    for name, fn in _public_callables():
        for parameter, hint in typing.get_type_hints(fn).items():
            if _has_any(hint):
                found.add(f"{name}: {parameter}")
    assert found - set(ANY_ALLOWED) == set(), "give these a real type (or a reason above)"
    assert set(ANY_ALLOWED) - found == set(), "typed now: take them off the list"


def test_every_public_name_resolves() -> None:
    assert sorted(fanout_kit.__all__) == fanout_kit.__all__
    for name in fanout_kit.__all__:
        assert getattr(fanout_kit, name) is not None
        assert name in dir(fanout_kit)


def test_the_wheel_ships_py_typed(tmp_path: Path) -> None:
    """PEP 561: with py.typed in the installed package, mypy and pyright read the kit's own
    annotations instead of treating every name as Any."""
    uv = Path(sys.executable).parent / "uv"
    if uv.exists() or shutil.which("uv"):
        build = [str(uv if uv.exists() else shutil.which("uv")), "build", "--wheel", "-o"]
    else:
        build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w"]
    subprocess.run([*build, str(tmp_path), str(ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("fanout_kit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "fanout_kit/py.typed" in names
    assert "fanout_kit/static/board.js" in names  # the board's browser side ships too
