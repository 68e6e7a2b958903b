"""Execute lesson notebooks in place, the way nbval will re-run them.

    .venv/bin/python tools/execute_notebooks.py notebooks/00-welcome.ipynb [...]

Starts one fresh bundled server, points NATS_URL at it (as `make lab` does), and runs each
notebook top to bottom with the current environment's kernel, saving outputs and widget
state. Run it after editing a lesson, then `make test` compares the saved outputs.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

import fanout_kit


def main(paths: list[str]) -> int:
    if not paths:
        paths = sorted(str(p) for p in Path("notebooks").glob("[0-9][0-9]-*.ipynb"))
    server = asyncio.run(fanout_kit.start_server(name="fanout-kit-notebooks"))
    os.environ["NATS_URL"] = server.url
    os.environ["NATS_MONITOR_URL"] = server.monitoring_url
    try:
        for path in paths:
            nb = nbformat.read(path, as_version=4)
            client = NotebookClient(
                nb,
                timeout=300,
                kernel_name="python3",
                resources={"metadata": {"path": str(Path(path).parent)}},
                allow_errors=False,
                record_timing=False,
            )
            client.execute()
            nbformat.write(nb, path)
            print(f"executed {path}")
    finally:
        asyncio.run(server.stop())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
