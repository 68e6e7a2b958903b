"""The board widget's Python side: frames sent and recorded, the ring's bounds, the exporter.

What the browser draws is tested in tests/test_board_browser.py (real JupyterLab, Chromium).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fanout_kit import palette
from fanout_kit.errors import KitTypeError, KitValueError
from fanout_kit.widget import BoardWidget, ExportError, FrameRing, player_html, write_player

from .board_frames import make_frame


def test_draw_sends_the_frame_records_it_and_keeps_the_legend_apart() -> None:
    w = BoardWidget(history_limit=3)
    assert w.legend == palette.legend()
    for step in range(5):
        w.draw(make_frame(1, 40 + step, step))
    assert w.sends == 5
    assert "legend" not in w.frame and w.frame["hi"] == 44
    assert [f["hi"] for f in w.ring.frames()] == [42, 43, 44]
    assert w.ring.dropped == 2


def test_the_ring_is_bounded_by_size_too_and_keeps_the_newest() -> None:
    one = FrameRing.size_of(make_frame(1, 100))
    ring = FrameRing(max_frames=100, max_bytes=int(2.5 * one))
    for hi in range(100, 110):
        ring.append(make_frame(1, hi))
    assert len(ring) == 2 and ring.frames()[-1]["hi"] == 109
    assert ring.approx_bytes <= 2.5 * one + 100


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [({"max_frames": 0}, "max_frames must be at least 1"), ({"max_bytes": 0}, "max_bytes")],
)
def test_ring_bounds_are_checked(kwargs: dict[str, int], words: str) -> None:
    with pytest.raises(ExportError, match=words):
        FrameRing(**kwargs)
    with pytest.raises(ValueError):
        BoardWidget(history_limit=0)


def test_export_refuses_a_path_it_cannot_write_naming_it(tmp_path: Path) -> None:
    frames = [make_frame(1, 30)]
    with pytest.raises(KitValueError, match=r"path must end in \.html.*board\.png'") as bad:
        write_player(tmp_path / "board.png", frames)
    assert isinstance(bad.value, ExportError) and bad.value.param == "path"
    with pytest.raises(ExportError, match="does not exist"):
        write_player(tmp_path / "missing" / "board.html", frames)
    with pytest.raises(TypeError, match="path must be a file name") as caught:
        write_player(42, frames)  # type: ignore[arg-type]
    assert isinstance(caught.value, ExportError | KitTypeError) and caught.value.param == "path"
    with pytest.raises(ExportError, match="frames is empty"):
        write_player(tmp_path / "board.html", [])
    assert not list(tmp_path.iterdir()), "nothing is written when the input is refused"


def test_the_player_is_one_page_whose_data_cannot_break_out_of_its_script(tmp_path: Path) -> None:
    frame = make_frame(1, 30)
    frame["status"]["banners"] = ["</script><script>alert('x')</script> /*__FK_JS__*/"]
    page = player_html([frame], palette.legend(), title="<b>EVENTS</b>")
    assert "<script>alert" not in page
    assert "<title>&lt;b&gt;EVENTS&lt;/b&gt;</title>" in page
    assert page.count("export default") == 1, "board.js inlined once, markers in data ignored"
    data = re.search(r'<script type="application/json" id="fk-data">(.*?)</script>', page, re.S)
    assert data is not None
    embedded = json.loads(data.group(1))
    assert embedded["frames"][0]["status"]["banners"] == frame["status"]["banners"]
    assert embedded["legend"] == palette.legend()
    target = write_player(tmp_path / "replay.html", [frame])
    assert target.read_text(encoding="utf-8").startswith("<!doctype html>")
    # Nothing fetched from a network (the SVG namespace URI is a name, not a request; the
    # browser test opens the file with every request recorded).
    assert not re.search(r"(src|href)\s*=\s*[\"']?https?:|@import|fetch\(|import\(", page)
