"""The board's palette: states lessons contrast stay apart for every learner, in both themes.

Distances are CIE76 ΔE*ab (Euclidean in CIELAB, D65 white) between the colours as simulated for
normal vision, protanopia and deuteranopia (Viénot, Brettel & Mollon 1999) and tritanopia
(Brettel, Viénot & Mollon 1997), computed by :mod:`fanout_kit.palette`.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest

from fanout_kit import palette

CSS = (Path(palette.__file__).parent / "static" / "board.css").read_text()
THEMES = ("light", "dark")


def _colour(code: str, theme: str) -> str:
    state = palette.state_for_code(code)
    return state.light if theme == "light" else state.dark


def test_the_simulation_matrices_are_the_published_ones() -> None:
    """Derived here from sRGB and Smith & Pokorny; DaltonLens publishes the same numbers
    (libDaltonLens, public domain): Viénot to 4 decimals, Brettel's tritan planes to ~0.01
    (a different tabulation of the 485/660 nm colour matching functions)."""
    vienot = {
        "protan": ((0.10889, 0.89111, 0.0), (0.10889, 0.89111, 0.0), (0.00447, -0.00447, 1.0)),
        "deutan": ((0.29031, 0.70969, 0.0), (0.29031, 0.70969, 0.0), (-0.02197, 0.02197, 1.0)),
    }
    for name, ours in (("protan", palette.PROTAN), ("deutan", palette.DEUTAN)):
        for row, want in zip(ours, vienot[name], strict=True):
            assert row == pytest.approx(want, abs=2e-4), name
    on_485, on_660, normal = palette.TRITAN
    brettel_485 = ((0.93678, 0.18979, -0.12657), (0.06154, 0.81526, 0.12320),
                   (-0.37562, 1.12767, 0.24796))  # fmt: skip
    brettel_660 = ((1.01277, 0.13548, -0.14826), (-0.01243, 0.86812, 0.14431),
                   (0.07589, 0.80500, 0.11911))  # fmt: skip
    for ours, want in ((on_485, brettel_485), (on_660, brettel_660)):
        for row, w in zip(ours, want, strict=True):
            assert row == pytest.approx(w, abs=0.015)
    # DaltonLens's separation normal points the other way (it picks the 660 nm plane on >= 0).
    assert normal == pytest.approx((-0.03901, 0.02788, 0.01113), abs=0.002)


@pytest.mark.parametrize("vision", palette.VISIONS)
def test_neutral_colours_stay_neutral_and_pure_colours_collapse(vision: palette.Vision) -> None:
    for grey in ("#000000", "#777777", "#ffffff"):
        lab = palette.lab(palette.simulate(grey, vision))
        assert abs(lab[1]) < 0.5 and abs(lab[2]) < 0.5, (grey, vision, lab)
    # A brown and an olive green: far apart for normal vision and tritans, nearly one colour
    # for protans and deuterans (the classic confusion really is simulated).
    normal = palette.delta_e76("#a05000", "#4d7d00")
    seen = palette.delta_e76("#a05000", "#4d7d00", vision)
    if vision in ("protanopia", "deuteranopia"):
        assert seen < 0.4 * normal
    else:
        assert seen > 0.7 * normal


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("vision", palette.VISIONS)
def test_every_pair_of_contrasted_states_is_at_least_20_apart(
    theme: str, vision: palette.Vision
) -> None:
    close = []
    for a, b in itertools.combinations(palette.CONTRASTED, 2):
        de = palette.delta_e76(_colour(a, theme), _colour(b, theme), vision)
        if de < palette.MIN_DELTA_E:
            close.append((palette.state_for_code(a).word, palette.state_for_code(b).word, de))
    assert close == [], f"{theme}, {vision}: {close}"


def test_the_contrasted_states_are_the_ones_lessons_compare() -> None:
    words = {palette.state_for_code(c).word for c in palette.CONTRASTED}
    assert words == {
        "in flight",
        "redelivered, in flight",
        "nak'd, waiting for redelivery",
        "acked",
        "terminated",
        "max deliveries reached",
        "not yet delivered",
        "stored",
        "not matching the filter",
        "removed from the stream",
        "before this consumer's start",
        "delivered (no ack)",
    }


@pytest.mark.parametrize("theme", THEMES)
def test_every_state_stands_out_from_the_board_background_but_removed(theme: str) -> None:
    bg = palette.BACKGROUND[theme]  # type: ignore[index]
    assert _colour("G", theme) == bg  # removed: an empty slot with a dashed outline
    for state in palette.STATES:
        if state.code == "G":
            continue
        for vision in palette.VISIONS:
            assert palette.delta_e76(_colour(state.code, theme), bg, vision) >= 12, (
                state.word,
                theme,
                vision,
            )


@pytest.mark.parametrize("theme", THEMES)
def test_not_matching_the_filter_is_blue_in_both_themes(theme: str) -> None:
    """In Dark it was brown, close in hue to "in flight" amber: a blue tint in both themes
    (CIELAB b* well below 0, a* near 0), as far from amber as the light theme's."""
    _, a, b = palette.lab(palette.linear_rgb(_colour("F", theme)))
    assert b < -15 and abs(a) < 15, (theme, a, b)


def test_states_that_matter_most_have_their_own_non_colour_cue_drawn_by_the_css() -> None:
    must = {"R", "N", "T", "X", "F", "B", "G"}
    cues = {palette.state_for_code(c).cue for c in must}
    assert "none" not in cues and len(cues) == len(must), "one distinct cue each"
    for state in palette.STATES:
        if state.cue != "none":
            assert f".fk-cue-{state.cue} {{" in CSS, state.cue


def test_the_legend_is_plain_data_with_unique_codes_words_and_css_names() -> None:
    legend = palette.legend()
    assert json.loads(json.dumps(legend)) == legend
    for key in ("code", "state", "css", "slug", "cue", "light", "dark"):
        values = [entry[key] for entry in legend]
        if key in ("code", "state", "css", "slug"):
            assert len(set(values)) == len(values), key
    for entry in legend:
        assert len(entry["code"]) == 1
        assert re.fullmatch(r"[a-z][a-z-]*", entry["slug"]), entry
        assert entry["css"] == f"--fk-{entry['slug']}"
        assert re.fullmatch(r"#[0-9a-f]{6}", entry["light"]) and re.fullmatch(
            r"#[0-9a-f]{6}", entry["dark"]
        )


def test_bad_colours_and_visions_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="#rrggbb"):
        palette.linear_rgb("red")
    with pytest.raises(ValueError, match="vision must be one of"):
        palette.simulate("#ffffff", "colourblind")  # type: ignore[arg-type]
