"""fanout-kit: learn the NATS JetStream fan-out pattern against a live server you can break.

The helpers hide boilerplate, never the concept: what you get back are real nats-py objects.

The notebook-only names (the board, which draws with ipywidgets and anywidget) are imported on
first use (PEP 562), so ``fanout-kit server`` and ``doctor``, scripts and tests that never
touch them do not load the notebook stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .audit import Audit, Received, audit
from .blocking import run
from .classboard import class_board
from .cluster import Cluster, ClusterNotReady, start_cluster
from .connect import connect, kernel_server
from .consume import ConsumeReport, drain, take
from .errors import BadArgument, ConnectError, FanoutKitError, ServerStartError
from .events import Event, PublishError, PublishReport, demo_events, publish_events
from .lag import LagRecorder, record_lag
from .load import PublishRecord, publish_paced
from .progress import show_progress
from .report import consumer_table
from .server import NatsServer, monitor, start_server
from .topology import (
    TopologyError,
    ensure_consumer,
    ensure_stream,
    reset_streams,
    subjects_overlap,
)
from .waiting import WaitTimeout, wait_for
from .workers import Worker, WorkerPool

if TYPE_CHECKING:  # type checkers see them as if imported above
    from .board import Board

#: Notebook-only names and the module each comes from, imported when first asked for.
_LAZY = {"Board": "board"}

__all__ = [
    "Audit",
    "BadArgument",
    "Board",
    "Cluster",
    "ClusterNotReady",
    "ConnectError",
    "ConsumeReport",
    "Event",
    "FanoutKitError",
    "LagRecorder",
    "NatsServer",
    "PublishError",
    "PublishRecord",
    "PublishReport",
    "Received",
    "ServerStartError",
    "TopologyError",
    "WaitTimeout",
    "Worker",
    "WorkerPool",
    "audit",
    "class_board",
    "connect",
    "consumer_table",
    "demo_events",
    "drain",
    "ensure_consumer",
    "ensure_stream",
    "kernel_server",
    "monitor",
    "publish_events",
    "publish_paced",
    "record_lag",
    "reset_streams",
    "run",
    "show_progress",
    "start_cluster",
    "start_server",
    "subjects_overlap",
    "take",
    "wait_for",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # asked once: later lookups find it directly
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
