"""Drive a real `fanout-kit lab` from tests: start it, wait for it, run code in a kernel."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Lab:
    proc: subprocess.Popen[bytes]
    port: int
    token: str
    log: Path
    runtime: Path  # JUPYTER_RUNTIME_DIR: the lab keeps its own files in a private folder in it
    workspace: Path | None  # the learner's copies (None with --notebook-dir)
    terminal: int | None = None  # the master side of the lab's terminal, if it has one

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def nats_url(self) -> str:
        match = re.search(r"nats-server \S+ at (nats://\S+)", self.output())
        assert match, self.output()
        return match.group(1)

    def nats_pid(self) -> int:
        match = re.search(r"nats-server \S+ at \S+ \(pid (\d+),", self.output())
        assert match, self.output()
        return int(match.group(1))

    def get(self, path: str) -> tuple[int, str]:
        sep = "&" if "?" in path else "?"
        url = f"{self.base}{path}{sep}token={self.token}"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def redirect(self, path: str) -> str:
        """Where ``path`` redirects to (not followed)."""
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", f"{path}?token={self.token}")
            resp = conn.getresponse()
            return resp.getheader("Location") or f"(no redirect: {resp.status})"
        finally:
            conn.close()

    def post(self, path: str, body: dict) -> dict:
        req = urllib.request.Request(
            f"{self.base}{path}?token={self.token}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"lab exited early:\n{self.output()}"
            try:
                if self.get("/api/status")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"JupyterLab did not answer within {timeout} s:\n{self.output()}")

    def interrupt(self) -> int:
        """Ctrl-C as a terminal sends it: SIGINT to the whole foreground process group."""
        os.killpg(self.proc.pid, signal.SIGINT)
        return self.proc.wait(timeout=60)

    def runtime_files(self) -> list[Path]:
        """Every file under the lab's JUPYTER_RUNTIME_DIR (its token files among them)."""
        return sorted(p for p in self.runtime.rglob("*") if p.is_file())


def _pump(fd: int, log: Path) -> None:
    """Copy what the lab writes to its terminal into ``log`` (a full pty would block it)."""
    with log.open("ab") as out:
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                return
            if not data:
                return
            out.write(data)
            out.flush()


def _take_terminal() -> None:  # runs in the child: setsid has made it a session leader
    import fcntl
    import termios

    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _ignore_sigint() -> None:  # runs in the child: as `cmd &` from a script starts it
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def start_lab(
    tmp_path: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    terminal: bool = False,
    sigint_ignored: bool = False,
) -> Lab:
    """Start `fanout-kit lab --no-browser` in its own session, on a workspace in ``tmp_path``
    (unless ``extra`` has --notebook-dir). ``terminal``: with a pseudo-terminal as its
    controlling terminal (Ctrl-C is then ``lab.terminal`` receiving "\\x03"); else with no
    terminal at all, and ``sigint_ignored`` as a shell starts a background job."""
    port, token = free_port(), uuid.uuid4().hex
    log = tmp_path / "lab.log"
    log.touch()
    full_env = {**os.environ, "JUPYTER_PORT": str(port), "JUPYTER_TOKEN": token, **(env or {})}
    if "NATS_URL" not in (env or {}):
        full_env.pop("NATS_URL", None)
    full_env.pop("FANOUT_KIT_PROGRESS", None)  # kernels find their workspace's progress file
    full_env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "jupyter-config")
    runtime = tmp_path / "jupyter-runtime"
    full_env["JUPYTER_RUNTIME_DIR"] = str(runtime)
    workspace = None if "--notebook-dir" in extra else tmp_path / "workspace"
    argv = [str(BIN / "fanout-kit"), "lab", "--no-browser", *extra]
    if workspace is not None:
        argv += ["--workspace", str(workspace)]
    master = None
    if terminal:
        master, slave = os.openpty()
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=full_env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=_take_terminal,
        )
        os.close(slave)
        threading.Thread(target=_pump, args=(master, log), daemon=True).start()
    else:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_ignore_sigint if sigint_ignored else None,
        )
    return Lab(proc, port, token, log, runtime, workspace, master)


async def run_in_kernel(
    lab: Lab, code: str, timeout: float = 60.0, notebook: str | None = None
) -> str:
    """Start a kernel through JupyterLab's REST API (for ``notebook``, as opening it does, so
    it runs in the notebook's folder), run ``code``, return its stdout."""
    from tornado.websocket import websocket_connect

    if notebook is None:
        kernel = lab.post("/api/kernels", {"name": "python3"})
    else:
        session = {"path": notebook, "type": "notebook", "name": "", "kernel": {"name": "python3"}}
        kernel = lab.post("/api/sessions", session)["kernel"]
    ws = await websocket_connect(
        f"ws://127.0.0.1:{lab.port}/api/kernels/{kernel['id']}/channels?token={lab.token}"
    )
    msg_id = uuid.uuid4().hex
    ws.write_message(
        json.dumps(
            {
                "header": {
                    "msg_id": msg_id,
                    "msg_type": "execute_request",
                    "username": "test",
                    "session": uuid.uuid4().hex,
                    "version": "5.3",
                    "date": "",
                },
                "parent_header": {},
                "metadata": {},
                "content": {"code": code, "silent": False, "store_history": False},
                "channel": "shell",
            }
        )
    )
    out: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        raw = await ws.read_message()
        assert raw is not None, "kernel websocket closed"
        msg = json.loads(raw)
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = msg["header"]["msg_type"]
        if kind == "stream":
            out.append(msg["content"]["text"])
        elif kind == "error":
            raise AssertionError("\n".join(msg["content"]["traceback"]))
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            ws.close()
            return "".join(out)
    raise AssertionError(f"kernel did not finish within {timeout} s")


def start_browser_lab(tmp_path: Path) -> Lab:
    """A lab for browser tests, on a copy of the notebooks: JupyterLab's autosave must never
    write a test run's outputs over the committed lessons."""
    import shutil

    notebooks = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", notebooks)
    return start_lab(
        tmp_path,
        "--store",
        str(tmp_path / "store"),
        "--notebook-dir",
        str(notebooks),
        "--LabApp.expose_app_in_browser=True",
    )
