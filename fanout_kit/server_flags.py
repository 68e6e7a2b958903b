"""The nats-server flags ``start_server(extra_args=...)`` accepts, refuses and hides.

Cluster flags (``--cluster``, ``--routes``, ``--cluster_name``, ``--server_name``/``-n``),
``-js``, ``-c`` (a config file), auth, TLS and debug flags pass through. Refused, each with the
reason and the fix: a string instead of a list, a listen address beyond loopback (the kit's
promise: every server it starts binds 127.0.0.1 only), and the flags the kit manages itself
(ports, monitoring, store, log, and the ones that make nats-server exit instead of serving).
Values of ``--user``/``--pass``/``--auth`` are shown as ``***`` in every message.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import KitTypeError, KitValueError
from .validate import describe

__all__ = ["check_extra_args", "flag_values", "shown_args"]

_LOOPBACK_HOSTS = ("localhost", "::1", "[::1]")

# Flags that take no value (Go's flag package also accepts -flag=value for these).
_BOOL_FLAGS = {
    "js", "jetstream", "T", "logtime", "logtime_utc", "s", "syslog", "D", "debug", "V",
    "trace", "VV", "DV", "DVV", "tls", "tlsverify", "no_advertise", "t", "h", "help",
    "v", "version", "help_tls",
}  # fmt: skip
_MANAGED = {
    ("p", "port"): "the kit picks a free client port itself (no races) and keeps it across "
    "restart(); read it from server.url",
    ("m", "http_port", "ms", "https_port"): "the kit picks the monitoring port itself and "
    "needs it (readiness, /jsz for the board and lessons); read it from server.monitoring_url",
    ("ports_file_dir",): "the kit reads the chosen ports from its own ports file",
    ("sd", "store_dir"): "pass the folder as start_server(store_dir=...), so the kit can lock it",
    ("l", "log", "s", "syslog", "r", "remote_syslog"): "the kit keeps the server's log in "
    "its own file (server.log_path) to quote it when something goes wrong",
    ("t", "h", "help", "help_tls", "v", "version", "sl", "signal"): "it makes nats-server "
    "exit instead of serving",
}
_SECRET_FLAGS = {"pass", "user", "auth"}


def _loopback_host(host: str) -> bool:
    return host.startswith("127.") or host.lower() in _LOOPBACK_HOSTS


def flag_values(args: Sequence[str]) -> list[tuple[str, str | None, int]]:
    """(flag name without dashes, its value or None, index) for each flag in ``args``."""
    found: list[tuple[str, str | None, int]] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-") and len(arg) > 1 and not arg.lstrip("-").isdigit():
            name, eq, value = arg.lstrip("-").partition("=")
            if eq:
                found.append((name, value, i))
            elif name in _BOOL_FLAGS or i + 1 >= len(args):
                found.append((name, None, i))
            else:
                found.append((name, args[i + 1], i))
                i += 1
        i += 1
    return found


def shown_args(args: Sequence[str]) -> list[str]:
    """``args`` with the values of --user/--pass/--auth replaced by ***."""
    shown = list(args)
    for name, value, i in flag_values(args):
        if name in _SECRET_FLAGS and value is not None:
            if "=" in shown[i]:
                shown[i] = shown[i].split("=", 1)[0] + "=***"
            elif i + 1 < len(shown):
                shown[i + 1] = "***"
    return shown


def check_extra_args(extra_args: object, name: str | None) -> tuple[tuple[str, ...], str | None]:
    """Validate ``extra_args``; return them as a tuple and the server name they imply.

    Cluster flags (``--cluster``, ``--routes``, ``--cluster_name``, ``--server_name``/``-n``),
    ``-js``, ``-c`` (a config file), auth and debug flags pass. Refused, with the reason: a
    string instead of a list, a non-loopback listen address, and the flags the kit manages
    itself (ports, monitoring, store, log).
    """
    if isinstance(extra_args, str) or not isinstance(extra_args, list | tuple):
        example = "['--cluster_name', 'demo']"
        if isinstance(extra_args, str):
            example = repr(extra_args.split() or ["-DV"])
        raise KitTypeError(
            f"extra_args={describe(extra_args)} is a {type(extra_args).__name__}; it must be a "
            f"list of strings, one per command-line word. Fix: e.g. extra_args={example}.",
            param="extra_args",
        )
    for i, arg in enumerate(extra_args):
        if not isinstance(arg, str):
            raise KitTypeError(
                f"extra_args[{i}]={describe(arg)} is a {type(arg).__name__}; every item must be "
                f"a string. Fix: e.g. str({arg!r}).",
                param="extra_args",
            )
    args = tuple(extra_args)
    shown = shown_args(args)
    for flag, value, _ in flag_values(args):
        for names, why in _MANAGED.items():
            if flag in names:
                extra = ""
                if flag in ("m", "http_port") and value in ("0", "-0"):
                    extra = " (-m 0 would turn monitoring off)"
                raise KitValueError(
                    f"extra_args={shown} sets -{flag}{extra}, which the kit manages: {why}. "
                    f"Fix: drop -{flag} {value or ''}".rstrip()
                    + " from extra_args.",
                    param="extra_args",
                )
        if flag in ("a", "addr", "net") and not _loopback_host(value or ""):
            raise KitValueError(
                f"extra_args={shown} asks the server to listen on {value!r}, but every server "
                "the kit starts binds 127.0.0.1 only (a learner's server has no "
                "authentication). Fix: drop -a from extra_args; for a server others can reach, "
                "run nats-server yourself with authentication.",
                param="extra_args",
            )
        if flag in ("cluster", "cluster_listen") and value is not None:
            host = value.split("://", 1)[-1].rsplit(":", 1)[0].rsplit("@", 1)[-1]
            if not _loopback_host(host):
                raise KitValueError(
                    f"extra_args={shown}: --{flag} {value!r} would accept routes on {host!r}, "
                    "but every server the kit starts binds 127.0.0.1 only. Fix: e.g. "
                    f"--{flag} nats://127.0.0.1:<port>.",
                    param="extra_args",
                )
        if flag in ("n", "name", "server_name"):
            if value is None or not value.strip():
                continue  # nats-server says what is missing
            if name is not None and value != name:
                raise KitValueError(
                    f"extra_args sets the server name {value!r} but name={name!r}. "
                    f"Fix: pass name={value!r} only.",
                    param="extra_args",
                )
            name = value
    return args, name
