"""Progress bars for long runs (generating and publishing demo events), drawn only in a notebook.

A plain script, a test or ``fanout-kit server`` never imports ipywidgets or IPython for them:
:func:`in_kernel` answers False without importing IPython when no kernel is loaded. Drawing is
kept apart from the work, as dask's progress bar does: the work only counts, and the bar is
redrawn at most every ``INTERVAL`` seconds (the kernel's iopub channel drops messages above
about 1000 a second).

:data:`clock`, :func:`in_kernel` and :func:`show` are looked up on this module at each use,
so a test can replace them (a fake clock, a pretend kernel, a bar of its own).
"""

from __future__ import annotations

import asyncio
import sys
import time
from contextlib import AbstractContextManager
from typing import Protocol

__all__ = [
    "GENERATE_AFTER",
    "INTERVAL",
    "MIN_TOTAL",
    "Bar",
    "GenerationBar",
    "clock",
    "finish",
    "follow",
    "in_kernel",
    "publishing_bar",
    "show",
]

MIN_TOTAL = 1000  # events; below this a publishing bar only flickers
INTERVAL = 0.1  # seconds between redraws (at most ~10 widget messages a second)
GENERATE_AFTER = 1.0  # seconds of generating before demo_events shows a bar
clock = time.monotonic


class Bar(Protocol):
    """What the kit sets on a bar (ipywidgets' ``IntProgress`` has all of it)."""

    value: int
    bar_style: str
    description: str

    def hold_sync(self) -> AbstractContextManager[object]: ...


def in_kernel() -> bool:
    """True inside a Jupyter kernel (never imports IPython in a plain script)."""
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def show(total: int, description: str) -> Bar:
    """Display an ipywidgets progress bar in the notebook (only ever called in a kernel)."""
    import ipywidgets
    from IPython.display import display

    bar: Bar = ipywidgets.IntProgress(value=0, min=0, max=total, description=description)
    display(bar)  # type: ignore[no-untyped-call]  # IPython's display() has no annotations
    return bar


def finish(bar: Bar, done: int, *, ok: bool, words: tuple[str, str]) -> None:
    """The bar's last state in one widget message: the final count, green or red, and
    ``words[0]`` (it went well) or ``words[1]`` as its label."""
    with bar.hold_sync():
        bar.value = done
        bar.bar_style = "success" if ok else "danger"
        bar.description = words[0] if ok else words[1]


def publishing_bar(total: int, progress: bool | None) -> Bar | None:
    """A bar for publishing ``total`` events: ``progress=None`` shows one in a notebook from
    :data:`MIN_TOTAL` events, ``True`` for any number, ``False`` never; never outside one."""
    if progress is False or total == 0:
        return None
    if progress is None and total < MIN_TOTAL:
        return None
    if not in_kernel():
        return None
    return show(total, "Publishing")


async def follow(bar: Bar, done: list[int]) -> None:
    """Copy the count ``done[0]`` to the bar every :data:`INTERVAL` seconds until cancelled:
    drawing never slows the work."""
    shown = -1
    while True:
        await asyncio.sleep(INTERVAL)
        if done[0] != shown:
            shown = done[0]
            bar.value = shown


class GenerationBar:
    """The bar for ``demo_events``: it appears only in a notebook, and only once generating has
    taken longer than :data:`GENERATE_AFTER` seconds (short runs, the usual case, show
    nothing). The generating loop calls :meth:`tick` now and then (it reads the clock)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.started = clock()
        self.last_draw = self.started
        self.bar: Bar | None = None
        self.in_kernel: bool | None = None  # asked once, when it first matters

    def tick(self, done: int) -> None:
        now = clock()
        if self.bar is None:
            if now - self.started < GENERATE_AFTER:
                return
            if self.in_kernel is None:
                self.in_kernel = in_kernel()
            if not self.in_kernel:
                return
            self.bar = show(self.total, "Generating")
        if now - self.last_draw >= INTERVAL:
            self.bar.value = done
            self.last_draw = now

    def finish(self, done: int, *, ok: bool) -> None:
        if self.bar is not None:
            finish(self.bar, done, ok=ok, words=("Generated", "Stopped"))
