"""The kit's exceptions. Each message names the problem and the fix.

Bad input raises :class:`KitTypeError` (a wrong type) or :class:`KitValueError` (a wrong
value): both are a :class:`BadArgument` (``except fanout_kit.BadArgument`` catches any bad
input) *and* the builtin ``TypeError``/``ValueError``, so ``except ValueError`` keeps working.
``param`` names the parameter that was wrong. The messages are made in one place,
:mod:`fanout_kit.validate`.
"""

from __future__ import annotations

__all__ = [
    "BadArgument",
    "ConnectError",
    "FanoutKitError",
    "KitTypeError",
    "KitValueError",
    "ServerStartError",
    "ServerUnreachableError",
    "TopologyError",
    "TopologyTypeError",
    "WorkspaceError",
]


class FanoutKitError(Exception):
    """Base class for every error the kit raises on purpose."""


class BadArgument(FanoutKitError):
    """Bad input, refused before anything was started or sent; ``param`` names the parameter.

    Raised as :class:`KitTypeError` or :class:`KitValueError`, never itself.
    """

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class KitValueError(BadArgument, ValueError):
    """An argument has the right type but a value that does not fit; ``param`` names it."""


class KitTypeError(BadArgument, TypeError):
    """An argument has the wrong type; ``param`` names it."""


class ServerStartError(FanoutKitError):
    """The bundled nats-server could not be found, started or made ready."""


class ConnectError(FanoutKitError):
    """A NATS server could not be reached."""


class ServerUnreachableError(ConnectError):
    """The server went away after the client connected; the client keeps reconnecting."""


class TopologyError(KitValueError):
    """A stream or consumer request the kit or the server refuses.

    ``field`` names the offending setting (``None`` when it is not one setting) and
    ``err_code`` carries the server's JetStream error code when the server refused.
    """

    def __init__(
        self, message: str, *, field: str | None = None, err_code: int | None = None
    ) -> None:
        super().__init__(message, param=field)
        self.field = field
        self.err_code = err_code


class TopologyTypeError(TopologyError, TypeError):
    """A stream or consumer setting of the wrong type (also a ``TypeError``)."""


class WorkspaceError(KitValueError):
    """A learner's workspace request that cannot be met (e.g. resetting a lesson that does
    not exist); the message names the parameter, what was given and what fits."""
