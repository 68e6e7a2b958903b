"""A classroom: one nats-server, one NATS account per seat, and the instructor's view of it.

``fanout-kit classroom --seats N --out seats.json`` starts one server whose configuration has
an account per seat (``seat-01`` ...) and one for the instructor. NATS accounts are separate
worlds on one server: a seat's streams, consumers and subjects are invisible to every other
seat, so each attendee's lessons create and reset ``EVENTS`` without touching anyone else's.
Each account has JetStream limits (memory, disk, streams, consumers), so one runaway lesson
cannot fill the server for the class.

Each seat gets a password from :mod:`secrets`. ``seats.json`` (written 0600, and the only
place the passwords appear) lists, per seat and for the instructor, the environment an
attendee sets: ``NATS_URL``, ``NATS_USER``, ``NATS_PASSWORD``. With it, ``fanout-kit lab`` (or a
plain ``jupyter lab``) starts no server of its own and every lesson runs unchanged against the
seat's account; lessons that start private servers (restarts, clusters) still start them on
the attendee's machine.

Progress flows to the instructor: each seat account exports the subject ``classroom.progress``
and the instructor's account imports it as ``classroom.progress.<seat>``, so the seat's name
comes from the server, not from what a client claims. Every exercise check run with a seat's
environment publishes a small JSON record there (:func:`report_result`, called by
:mod:`.progress`), and a stream ``CLASSROOM`` in the instructor's account keeps them (and the
roster), so the instructor's class board (:mod:`.classboard`) shows the whole class even when
opened late.

The server binds 127.0.0.1 unless ``host`` says otherwise (attendees on other machines), its
monitoring port always stays on 127.0.0.1 (it shows every account). Its store is a fresh
folder removed when the classroom stops, unless ``store_dir`` names one to keep.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import re
import secrets
import shutil
import socket
import uuid
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from nats.aio.client import Client

from . import processes
from . import server as _server
from .errors import KitValueError
from .server import NatsServer, start_server
from .validate import check_int, check_path, check_str

__all__ = [
    "CLASSROOM_STREAM",
    "INSTRUCTOR",
    "PROGRESS_SUBJECT",
    "ROSTER_SUBJECT",
    "Classroom",
    "Limits",
    "Seat",
    "flush_reports",
    "in_classroom",
    "report_result",
    "seat_names",
    "start_classroom",
]

log = logging.getLogger("fanout_kit")

INSTRUCTOR = "instructor"
PROGRESS_SUBJECT = "classroom.progress"
"""What a seat publishes each check result on (in its own account)."""
ROSTER_SUBJECT = "classroom.roster"
"""The seat list, kept in the instructor's ``CLASSROOM`` stream."""
CLASSROOM_STREAM = "CLASSROOM"
"""The instructor's stream of every check result (``classroom.progress.<seat>``) and the roster."""
OFF_ENV = "FANOUT_KIT_CLASSROOM"
"""``FANOUT_KIT_CLASSROOM=off`` keeps check results from being published."""
MAX_SEATS = 500
_SIZE = re.compile(r"^[0-9]+(\.[0-9]+)?\s*[KMGT]?B?$", re.IGNORECASE)
_WILDCARD_HOSTS = ("0.0.0.0", "::", "[::]", "")


@dataclass(frozen=True)
class Limits:
    """JetStream limits for one account: ``memory`` and ``disk`` as sizes ("256MB", "1G"),
    ``streams`` and ``consumers`` as counts."""

    memory: str = "256MB"
    disk: str = "1GB"
    streams: int = 32
    consumers: int = 256

    def checked(self, what: str) -> Limits:
        """These limits, or a :class:`KitValueError` naming the one that does not fit."""
        for name in ("memory", "disk"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _SIZE.match(value.strip()):
                raise KitValueError(
                    f"{what} {name}={value!r} is not a size; it must be a number with an "
                    "optional unit K, M, G or T (bytes). Fix: e.g. '256MB' or '1G'.",
                    param=name,
                )
        for name in ("streams", "consumers"):
            check_int(getattr(self, name), name, low=1, example="32")
        return self

    def config(self) -> str:
        size = {n: getattr(self, n).strip().upper().replace(" ", "") for n in ("memory", "disk")}
        return (
            f"{{max_mem: {size['memory']}, max_file: {size['disk']}, "
            f"max_streams: {self.streams}, max_consumers: {self.consumers}}}"
        )


@dataclass(frozen=True)
class Seat:
    """One account and its one user (same name), with a generated password."""

    name: str
    password: str = field(repr=False)

    def env(self, url: str) -> dict[str, str]:
        """The environment an attendee on this seat sets."""
        return {"NATS_URL": url, "NATS_USER": self.name, "NATS_PASSWORD": self.password}


def seat_names(count: int) -> list[str]:
    """``seat-01`` .. ``seat-NN`` (three digits from 100 seats on)."""
    check_int(count, "seats", low=1, high=MAX_SEATS, example="12")
    width = max(2, len(str(count)))
    return [f"seat-{i:0{width}d}" for i in range(1, count + 1)]


def _quote(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid quoted string in nats-server's config


def _user(seat: Seat) -> str:
    return f"{{user: {_quote(seat.name)}, password: {_quote(seat.password)}}}"


def server_config(seats: list[Seat], instructor: Seat, limits: Limits, mine: Limits) -> str:
    """The nats-server configuration: the accounts, their users, limits, exports and imports.
    Monitoring stays on 127.0.0.1 whatever address the clients' port listens on."""
    lines = ['http: "127.0.0.1:-1"', "accounts {"]
    imports = ", ".join(
        f"{{stream: {{account: {_quote(s.name)}, subject: {_quote(PROGRESS_SUBJECT)}}}, "
        f"to: {_quote(f'{PROGRESS_SUBJECT}.{s.name}')}}}"
        for s in seats
    )
    lines += [
        f"  {_quote(instructor.name)}: {{",
        f"    jetstream: {mine.config()}",
        f"    users: [{_user(instructor)}]",
        f"    imports: [{imports}]",
        "  }",
    ]
    for seat in seats:
        lines += [
            f"  {_quote(seat.name)}: {{",
            f"    jetstream: {limits.config()}",
            f"    users: [{_user(seat)}]",
            f"    exports: [{{stream: {_quote(PROGRESS_SUBJECT)}, "
            f"accounts: [{_quote(instructor.name)}]}}]",
            "  }",
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _is_loopback(host: str) -> bool:
    return host.startswith("127.") or host in ("localhost", "::1", "[::1]")


def check_host(host: object) -> str:
    """The address the classroom's client port listens on (an IP address or a host name)."""
    text = check_str(host, "host", example="'127.0.0.1'").strip()
    if any(c.isspace() for c in text) or "/" in text or "@" in text:
        raise KitValueError(
            f"host={host!r} is not an address to listen on. Fix: e.g. host='127.0.0.1' (this "
            "machine only) or this machine's address on the room's network.",
            param="host",
        )
    return text


def host_warning(host: str) -> str | None:
    """What an instructor must know before a classroom listens on ``host`` (None: loopback)."""
    if _is_loopback(host):
        return None
    where = "every address of this machine" if host in _WILDCARD_HOSTS else host
    return (
        f"listening on {where}, not 127.0.0.1: anyone who can reach this machine there can "
        "try to connect. Each seat needs its password, but nothing is encrypted (no TLS), so "
        "passwords and messages cross the network in the clear: use it on a network you "
        "trust, for the length of the workshop."
    )


def url_host(host: str) -> str:
    """The host name attendees connect to: ``host``, or this machine's name for a wildcard."""
    if host in _WILDCARD_HOSTS:
        return socket.gethostname()
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class _ListeningServer(NatsServer):
    """A kit server whose client port listens on ``host`` instead of 127.0.0.1: the one
    deliberate exception, for a classroom whose attendees sit at other machines. Everything
    else (ports file, readiness, store lock, dying with its owner) is the kit's."""

    host = "127.0.0.1"

    def _argv(self) -> list[str]:
        argv = super()._argv()
        argv[argv.index("-a") + 1] = self.host
        return argv

    def _check_loopback(self) -> None:
        """The instructor asked for ``host`` on purpose (and was warned)."""


async def _start_listening(host: str, conf: Path, store: Path | None) -> NatsServer:
    """Start the classroom server on ``host``: the steps of :func:`start_server`, with the
    listening address the kit otherwise keeps to loopback."""
    binary = _server.find_server_binary()
    _server.reap_leftovers()
    run_dir = _server.runtime_dir() / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    run_dir.mkdir(mode=0o700)
    chosen = (store if store is not None else run_dir / "store").resolve()
    server = _ListeningServer(
        binary=binary,
        store_dir=chosen,
        run_dir=run_dir,
        owns_store=store is None,
        extra_args=("-c", str(conf)),
        name="fanout-kit-classroom",
    )
    server.host = host
    try:
        _server._check_store_dir(chosen)
        server._store_lock = await _server._lock_store(chosen)
        await server._spawn(_server.READY_TIMEOUT)
    except BaseException:
        _server._release_store(server)
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return server


@dataclass
class Classroom:
    """A running classroom: its server, seats and instructor. ``await stop()`` ends it."""

    server: NatsServer
    seats: list[Seat]
    instructor: Seat
    host: str
    limits: Limits
    config_dir: Path

    @property
    def url(self) -> str:
        """The URL attendees use (the address they reach this machine at)."""
        port = self.server.url.rsplit(":", 1)[1]
        return f"nats://{url_host(self.host)}:{port}"

    def env(self, seat: str) -> dict[str, str]:
        """The environment for ``seat`` (a seat name, or ``"instructor"``)."""
        for s in [*self.seats, self.instructor]:
            if s.name == seat:
                return s.env(self.url)
        known = ", ".join(s.name for s in self.seats)
        raise KitValueError(
            f"seat={seat!r} is not in this classroom; it has {known} and {INSTRUCTOR!r}.",
            param="seat",
        )

    def seats_file(self) -> dict[str, object]:
        """What ``seats.json`` holds: per seat and for the instructor, the environment."""

        def entry(seat: Seat) -> dict[str, object]:
            env = seat.env(self.url)
            return {
                "seat": seat.name,
                "env": env,
                "sh": "export " + " ".join(f"{k}={v}" for k, v in env.items()),
                "powershell": "; ".join(f"$env:{k}='{v}'" for k, v in env.items()),
            }

        return {
            "classroom": {
                "url": self.url,
                "seats": len(self.seats),
                "limits_per_seat": self.limits.__dict__,
                "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            },
            "instructor": entry(self.instructor),
            "seats": [entry(s) for s in self.seats],
        }

    def write_seats(self, path: Path) -> Path:
        """Write ``seats.json`` readable by its owner only (0600); return its full path."""
        path = check_path(path, "out", example="'seats.json'").expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.seats_file(), indent=2) + "\n"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o600)  # an older file keeps its mode through O_TRUNC
            os.write(fd, text.encode())
        finally:
            os.close(fd)
        return path

    async def stop(self) -> None:
        """Stop the server; its store goes too unless one was given to keep."""
        await self.server.stop()
        shutil.rmtree(self.config_dir, ignore_errors=True)


async def _prepare_instructor(classroom: Classroom) -> None:
    """The instructor's stream of results (and the roster), so a board opened late or
    reopened sees the whole class so far."""
    from nats.js.api import StorageType, StreamConfig

    nc = await _connect_as(classroom, classroom.instructor)
    try:
        js = nc.jetstream()
        await js.add_stream(
            StreamConfig(
                name=CLASSROOM_STREAM,
                subjects=[f"{PROGRESS_SUBJECT}.>", ROSTER_SUBJECT],
                storage=StorageType.FILE,
                max_bytes=64 * 1024 * 1024,
            )
        )
        roster = {"seats": [s.name for s in classroom.seats]}
        await js.publish(ROSTER_SUBJECT, json.dumps(roster).encode())
    finally:
        await nc.close()


async def _connect_as(classroom: Classroom, seat: Seat) -> Client:
    from .connect import connect

    return await connect(
        classroom.server.url, user=seat.name, password=seat.password, name="fanout-kit-classroom"
    )


async def start_classroom(
    seats: int,
    *,
    host: str = "127.0.0.1",
    store_dir: str | os.PathLike[str] | None = None,
    limits: Limits | None = None,
    instructor_limits: Limits | None = None,
) -> Classroom:
    """Start a classroom server with ``seats`` seat accounts and an instructor account.

    ``host``: where the client port listens (default 127.0.0.1: this machine only).
    ``store_dir``: a JetStream store to keep; left out, a fresh one removed on ``stop()``.
    ``limits``: JetStream limits per seat; ``instructor_limits`` for the instructor.
    Every argument is checked before anything starts.
    """
    names = seat_names(seats)
    host = check_host(host)
    limits = (limits or Limits()).checked("limits")
    mine = (instructor_limits or Limits(streams=8, consumers=64)).checked("instructor_limits")
    store = None if store_dir is None else check_path(store_dir, "store_dir")
    people = [Seat(n, secrets.token_urlsafe(18)) for n in names]
    instructor = Seat(INSTRUCTOR, secrets.token_urlsafe(18))
    folder = Path(_server.runtime_dir()) / f"classroom-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    folder.mkdir(mode=0o700)
    conf = folder / "classroom.conf"
    _server._write_private(conf, server_config(people, instructor, limits, mine))
    try:
        if host == "127.0.0.1":
            server = await start_server(
                store_dir=store, name="fanout-kit-classroom", extra_args=["-c", str(conf)]
            )
        else:
            server = await _start_listening(host, conf, store)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    classroom = Classroom(server, people, instructor, host, limits, folder)
    try:
        await _prepare_instructor(classroom)
    except BaseException:
        await classroom.stop()
        raise
    return classroom


# --------------------------------------------------------------------------- progress hook


#: The reporting connection kept per event loop (a kernel's) and per seat environment.
_links: dict[tuple[asyncio.AbstractEventLoop, str, str], Client] = {}
_pending: set[asyncio.Task[None]] = set()


def in_classroom(environ: Mapping[str, str] | None = None) -> bool:
    """True with a seat's environment: ``NATS_URL`` and ``NATS_USER`` set (the kit's own
    servers never have users), unless ``FANOUT_KIT_CLASSROOM=off``."""
    env = os.environ if environ is None else environ
    if env.get(OFF_ENV, "").strip().lower() in ("off", "0", "false", "no"):
        return False
    return bool(env.get("NATS_URL", "").strip() and env.get("NATS_USER", "").strip())


def report_result(exercise: str, status: str, rung: int, at: str) -> None:
    """Publish one check result to the classroom, when connected to one (see
    :func:`in_classroom`). Never raises and never blocks the check: on a running event loop
    (a kernel) it is sent by a background task on a connection of its own, kept open;
    without one, by a short connection made for it."""
    if not in_classroom():
        return
    payload = json.dumps({"exercise": exercise, "status": status, "rung": rung, "at": at})
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        from .session import run_sync

        with contextlib.suppress(Exception):
            run_sync(_send(payload.encode(), keep=False))
        return
    task = loop.create_task(_send(payload.encode(), keep=True))
    _pending.add(task)
    task.add_done_callback(_pending.discard)


async def _send(payload: bytes, *, keep: bool) -> None:
    from .connect import connect

    where = (asyncio.get_running_loop(), os.environ["NATS_URL"], os.environ["NATS_USER"])
    try:
        nc = _links.get(where) if keep else None
        if nc is None or nc.is_closed:
            nc = await connect(name="fanout-kit-progress")
            if keep:
                _links[where] = nc
        await nc.publish(PROGRESS_SUBJECT, payload)
        await nc.flush(timeout=2)
        if not keep:
            await nc.close()
    except Exception as exc:  # the learner's check result matters more than the report
        log.debug("classroom progress not sent: %r", exc)


async def flush_reports() -> None:
    """Wait until every result reported from this event loop has been sent (tests, scripts)."""
    loop = asyncio.get_running_loop()
    mine: list[Awaitable[None]] = [t for t in _pending if t.get_loop() is loop]
    if mine:
        await asyncio.gather(*mine, return_exceptions=True)


# --------------------------------------------------------------------------- the command


def serve(
    seats: int,
    out: Path,
    *,
    host: str = "127.0.0.1",
    store_dir: Path | None = None,
    limits: Limits | None = None,
    instructor_limits: Limits | None = None,
) -> int:
    """``fanout-kit classroom``: start the classroom, write ``seats.json``, run until Ctrl-C
    (or SIGTERM), then stop the server. Prints no password, only where they are."""
    import sys

    seat_names(seats)  # every argument checked before anything starts or is written
    out = check_path(out, "out", example="'seats.json'")
    if out.is_dir():
        raise KitValueError(
            f"out={str(out)!r} is a folder; it must name the seats file to write. "
            "Fix: e.g. --out seats.json.",
            param="out",
        )
    host = check_host(host)
    warning = host_warning(host)
    if warning is not None:
        print(f"fanout-kit classroom: WARNING: {warning}", file=sys.stderr, flush=True)

    async def run() -> None:
        room = await start_classroom(
            seats,
            host=host,
            store_dir=store_dir,
            limits=limits,
            instructor_limits=instructor_limits,
        )
        stop = processes.stop_on_signals()
        try:
            written = room.write_seats(out)
            kept = "kept" if store_dir is not None else "removed when the classroom stops"
            print(f"fanout-kit classroom: {len(room.seats)} seats and the instructor at {room.url}")
            print(
                f"  seats file   {written} (passwords: share each seat's lines with its attendee)"
            )
            print(f"  per seat     {_limits_text(room.limits)}")
            print(f"  store        {room.server.store_dir} ({kept})")
            print(f"  monitoring   {room.server.monitoring_url} (this machine only)")
            print("Instructor: set the instructor's environment from the seats file, then")
            print("  `board = await fanout_kit.class_board(nc)` in a notebook.")
            print("Ctrl-C stops the classroom.", flush=True)
            await stop.wait()
        finally:
            await room.stop()
            print("fanout-kit classroom: stopped", flush=True)

    asyncio.run(run())
    return 0


def _limits_text(limits: Limits) -> str:
    return (
        f"JetStream memory {limits.memory}, disk {limits.disk}, {limits.streams} streams, "
        f"{limits.consumers} consumers"
    )
