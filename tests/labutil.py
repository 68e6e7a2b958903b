"""Drive a real `fanout-kit lab` from tests: start it, wait for it, run code in a kernel."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
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


def start_lab(tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> Lab:
    port, token = free_port(), uuid.uuid4().hex
    log = tmp_path / "lab.log"
    full_env = {**os.environ, "JUPYTER_PORT": str(port), "JUPYTER_TOKEN": token, **(env or {})}
    if "NATS_URL" not in (env or {}):
        full_env.pop("NATS_URL", None)
    full_env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "jupyter-config")
    full_env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "jupyter-runtime")
    proc = subprocess.Popen(
        [str(BIN / "fanout-kit"), "lab", "--no-browser", *extra],
        cwd=ROOT,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return Lab(proc=proc, port=port, token=token, log=log)


async def run_in_kernel(lab: Lab, code: str, timeout: float = 60.0) -> str:
    """Start a kernel through JupyterLab's REST API, run ``code``, return its stdout."""
    from tornado.websocket import websocket_connect

    kernel = lab.post("/api/kernels", {"name": "python3"})
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
