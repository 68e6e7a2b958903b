"""The kit's exceptions. Each message names the problem and the fix."""

from __future__ import annotations

__all__ = ["ConnectError", "FanoutKitError", "ServerStartError"]


class FanoutKitError(Exception):
    """Base class for every error the kit raises on purpose."""


class ServerStartError(FanoutKitError):
    """The bundled nats-server could not be found, started or made ready."""


class ConnectError(FanoutKitError):
    """A NATS server could not be reached."""
