"""fanout-kit: learn the NATS JetStream fan-out pattern against a live server you can break.

The helpers hide boilerplate, never the concept: what you get back are real nats-py objects.
"""

from __future__ import annotations

from .audit import Audit, Received, audit
from .blocking import run
from .board import Board
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
