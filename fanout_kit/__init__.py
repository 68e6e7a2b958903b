"""fanout-kit: learn the NATS JetStream fan-out pattern against a live server you can break.

The helpers hide boilerplate, never the concept: what you get back are real nats-py objects.
"""

from __future__ import annotations

from .blocking import run
from .board import Board
from .connect import connect, kernel_server
from .consume import ConsumeReport, drain, take
from .errors import ConnectError, FanoutKitError, ServerStartError
from .events import Event, PublishError, PublishReport, demo_events, publish_events
from .progress import show_progress
from .report import consumer_table
from .server import NatsServer, start_server
from .topology import (
    TopologyError,
    ensure_consumer,
    ensure_stream,
    reset_streams,
    subjects_overlap,
)

__all__ = [
    "Board",
    "ConnectError",
    "ConsumeReport",
    "Event",
    "FanoutKitError",
    "NatsServer",
    "PublishError",
    "PublishReport",
    "ServerStartError",
    "TopologyError",
    "connect",
    "consumer_table",
    "demo_events",
    "drain",
    "ensure_consumer",
    "ensure_stream",
    "kernel_server",
    "publish_events",
    "reset_streams",
    "run",
    "show_progress",
    "start_server",
    "subjects_overlap",
    "take",
]

__version__ = "0.1.0"
