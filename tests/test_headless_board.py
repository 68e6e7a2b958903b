"""A headless run (nbclient, as nbval and nbconvert use) saves the board's settled frame, not
the first frame drawn when its cell ran, and the board's text stays stable."""

from __future__ import annotations

from typing import Any

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from .kernels import ipc_kernel_manager


def _board_frame(nb: nbformat.NotebookNode) -> dict[str, Any]:
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    frames = [
        v["state"]["frame"]
        for v in state.values()
        if isinstance(v.get("state", {}).get("frame"), dict)
        and v["state"]["frame"].get("stream") == "HEADLESS"
    ]
    assert len(frames) == 1, f"expected one board in the saved widget state, found {len(frames)}"
    return frames[0]


def test_saved_notebook_shows_the_board_after_settle(server, tmp_path) -> None:
    nb = new_notebook(
        cells=[
            new_code_cell(
                "import fanout_kit\n"
                "from nats.js.api import ConsumerConfig\n"
                f"nc = await fanout_kit.connect({server.url!r})\n"
                "js = nc.jetstream()\n"
                "await fanout_kit.reset_streams(js, 'HEADLESS')\n"
                "await js.add_stream(name='HEADLESS', subjects=['headless.>'])\n"
                "await js.add_consumer('HEADLESS', ConsumerConfig(durable_name='reader'))\n"
                "board = await fanout_kit.Board.watch(nc, 'HEADLESS')\n"
                "board"
            ),
            # Everything below happens after the board's cell finished: in a headless run its
            # background redraws are dropped, so only settle() can put them in the saved file.
            new_code_cell(
                "for i in range(7):\n"
                "    await js.publish('headless.x', b'{}')\n"
                "sub = await js.pull_subscribe_bind('reader', stream='HEADLESS')\n"
                "for m in await sub.fetch(3, timeout=2):\n"
                "    await m.ack_sync()\n"
                "print(await board.settle())"
            ),
            new_code_cell(
                "await board.close()\nawait js.delete_stream('HEADLESS')\nawait nc.close()"
            ),
        ],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    NotebookClient(nb, timeout=120, km=ipc_kernel_manager(kernel_name="python3")).execute()
    frame = _board_frame(nb)
    assert frame["head"]["last"] == 7 and frame["stream_lane"] == "sssssss"
    (reader,) = frame["lanes"]
    assert reader["numbers"] == {
        "Last Delivered": 3,
        "Ack Floor": 3,
        "Outstanding Acks": "0 of 1000",
        "Redelivered": 0,
        "Unprocessed": 4,
        "Waiting Pulls": 0,
    }
    assert reader["cells"] == "AAAUUUU"
    assert nb.cells[0].outputs[0]["data"]["text/plain"] == (
        "Board(stream='HEADLESS', consumers=['reader'])"
    )
