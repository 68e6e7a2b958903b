"""Kernels on Unix sockets, for the tests that start Jupyter kernels themselves; and a pytest
plugin for the nbval runs of tests/test_notebooks.py (``-p tests.kernels``) that does the same
for nbval's kernels.

jupyter_client chooses a kernel's five TCP ports by binding port 0 and letting go, and the
kernel binds them a second or so later. While the suite runs in parallel, other processes open
connections all the time, and one may take such a port in between: the kernel then dies before
it answers ("Kernel died before replying to kernel_info"). With ZeroMQ's ``ipc`` transport the
channels are socket files in a folder of this process's own, which no one else can take.
"""

from __future__ import annotations

import atexit
import itertools
import shutil
import tempfile
from pathlib import Path
from typing import Any

from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager

_SOCKETS = Path(tempfile.mkdtemp(prefix="kernels-"))  # short: a socket path has ~100 bytes
_numbers = itertools.count(1)
atexit.register(shutil.rmtree, _SOCKETS, ignore_errors=True)


def ipc_kernel_manager(**kwargs: Any) -> KernelManager:
    """A KernelManager (``kwargs`` as its own) whose kernel listens on socket files
    ``<folder>/k<n>-<channel number>``."""
    return KernelManager(transport="ipc", ip=str(_SOCKETS / f"k{next(_numbers)}"), **kwargs)


def start_kernel(timeout: float = 60) -> tuple[KernelManager, BlockingKernelClient]:
    """jupyter_client's ``start_new_kernel(kernel_name="python3")`` on Unix sockets."""
    km = ipc_kernel_manager(kernel_name="python3")
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=timeout)
    except RuntimeError:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        raise
    return km, kc


def pytest_configure() -> None:
    """As an nbval run's plugin: nbval's kernels on Unix sockets too."""
    import nbval.kernel

    nbval.kernel.KernelManager = ipc_kernel_manager  # what nbval's start_new_kernel calls
