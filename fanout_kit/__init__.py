"""fanout-kit: learn the NATS JetStream fan-out pattern against a live server you can break.

The helpers hide boilerplate, never the concept: what you get back are real nats-py objects.
"""

from __future__ import annotations

from .blocking import run
from .connect import connect, kernel_server
from .errors import ConnectError, FanoutKitError, ServerStartError
from .server import NatsServer, start_server

__all__ = [
    "ConnectError",
    "FanoutKitError",
    "NatsServer",
    "ServerStartError",
    "connect",
    "kernel_server",
    "run",
    "start_server",
]

__version__ = "0.1.0"
