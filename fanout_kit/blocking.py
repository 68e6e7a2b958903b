"""A synchronous door into the kit's async API, for code that cannot ``await``.

Notebook cells can ``await`` directly and lessons do. ``run`` is for plain functions and
scripts shared with notebooks: it finishes a coroutine even when the kernel's event loop is
already running, by applying nest-asyncio to that loop at the moment it is needed (never at
import). Background tasks on the loop, such as a live board, keep running afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run"]

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion and return its result, inside or outside a running loop."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    import nest_asyncio

    nest_asyncio.apply(loop)
    return loop.run_until_complete(coro)
