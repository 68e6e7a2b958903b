"""The kit's exceptions. Each message names the problem and the fix."""

from __future__ import annotations

__all__ = ["ConnectError", "FanoutKitError", "ServerStartError", "WorkspaceError"]


class FanoutKitError(Exception):
    """Base class for every error the kit raises on purpose."""


class ServerStartError(FanoutKitError):
    """The bundled nats-server could not be found, started or made ready."""


class ConnectError(FanoutKitError):
    """A NATS server could not be reached."""


class WorkspaceError(FanoutKitError, ValueError):
    """A learner's workspace request that cannot be met (e.g. resetting a lesson that does
    not exist); the message names the parameter, what was given and what fits."""
