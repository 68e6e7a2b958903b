"""The board's states: legend words, one-letter codes, colours and non-colour cues.

Python is the single source of the legend (the view puts :func:`legend` into the frame; the
browser draws what it says). The colours are built on the Okabe-Ito palette and chosen so that
every pair of states a lesson contrasts stays at least ``MIN_DELTA_E`` apart (CIE76 ΔE*ab in
CIELAB, D65) for normal vision and for simulated protanopia, deuteranopia and tritanopia, in
the light theme and in the dark one. ``tests/test_palette.py`` computes it with the maths
below, so a colour change that breaks it fails a test.

Colour is never the only signal: the states that matter most carry a cue (a pattern, a mark, a
border or a shorter cell) that survives greyscale and 8-pixel cells; the legend shows it too.

Colour-vision simulation (what the learner with a colour-vision deficiency sees):

* protanopia and deuteranopia: Viénot, Brettel & Mollon 1999 (one projection plane in LMS
  through white and the sRGB blue primary);
* tritanopia: Brettel, Viénot & Mollon 1997 (two half-planes through white and the 485 nm /
  660 nm monochromatic stimuli; Viénot's single plane is poor for tritans).

LMS is Smith & Pokorny 1975 from CIE XYZ, sRGB is IEC 61966-2-1; the matrices are derived here
from those inputs, not copied (a test checks them against the published DaltonLens values).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "BACKGROUND",
    "CONTRASTED",
    "MIN_DELTA_E",
    "STATES",
    "VISIONS",
    "State",
    "delta_e76",
    "lab",
    "legend",
    "simulate",
    "state_for_code",
]

Vision = Literal["normal", "protanopia", "deuteranopia", "tritanopia"]
VISIONS: tuple[Vision, ...] = ("normal", "protanopia", "deuteranopia", "tritanopia")
Cue = Literal["none", "stripes", "dot", "cross", "bars", "strike", "short", "dashed", "notch"]
Theme = Literal["light", "dark"]

MIN_DELTA_E = 20.0
"""The least CIE76 ΔE*ab between two states a lesson contrasts, in every vision and theme."""

BACKGROUND: dict[Theme, str] = {"light": "#ffffff", "dark": "#111111"}
"""The board's background: JupyterLab Light's and Dark's ``--jp-layout-color0``."""

Vec = tuple[float, float, float]
Mat = tuple[Vec, Vec, Vec]


@dataclass(frozen=True, slots=True)
class State:
    """One legend entry: what a cell of this kind means and how it is drawn."""

    code: str
    """One character in the frame's ``cells`` strings."""
    word: str
    """The legend word, also the DOM's ``data-state`` and ``board.cells()``'s value."""
    slug: str
    """CSS name: the cell class ``fk-st-<slug>`` and the colour variable ``--fk-<slug>``."""
    light: str
    """Fill on JupyterLab Light (and the exported file's light scheme), ``#rrggbb``."""
    dark: str
    """Fill on JupyterLab Dark."""
    cue: Cue = "none"
    """The non-colour cue drawn on the cell (board.css knows how to draw each)."""


# Hues from Okabe-Ito (yellow, orange, vermillion, bluish green, blue, sky blue, reddish
# purple, black), moved in lightness and chroma by a search until every pair in CONTRASTED is
# at least MIN_DELTA_E apart for all four visions in both themes: Okabe-Ito's own eight are
# not (tritanopia sees its bluish green and blue 11 apart). "Quiet" states (nothing to see
# here) differ per theme; "removed" is the board's background (an empty, dashed slot). "Not
# matching the filter" is the same pale blue in both themes (a dark brown in Dark read close
# to "in flight" amber, and unlike the light theme's).
STATES: tuple[State, ...] = (
    State("U", "not yet delivered", "undelivered", "#adb8a3", "#565954"),
    State("I", "in flight", "in-flight", "#ffd47e", "#ffd47e"),
    State("R", "redelivered, in flight", "redelivered", "#ffa11e", "#ffa11e", "stripes"),
    State("N", "nak'd, waiting for redelivery", "nakd", "#ff3032", "#ff3032", "dot"),
    State("W", "in progress (working)", "working", "#92cc95", "#92cc95"),
    State("A", "acked", "acked", "#3a9c44", "#3a9c44"),
    State("D", "delivered (no ack)", "delivered", "#003bae", "#003bae"),
    State("T", "terminated", "terminated", "#1c0001", "#ffffff", "cross"),
    State("X", "max deliveries reached", "max-deliveries", "#b5549d", "#b5549d", "bars"),
    State("F", "not matching the filter", "not-matching", "#a7deff", "#a7deff", "strike"),
    State("B", "before this consumer's start", "before-start", "#533839", "#a7aea4", "short"),
    State("G", "removed from the stream", "removed", "#ffffff", "#111111", "dashed"),
    State("?", "delivered before the board watched", "unknown", "#706f79", "#9e727e", "notch"),
    State("s", "stored", "stored", "#00baff", "#00baff"),
)
"""Every state the board draws, in legend order (``s`` is the stream lane's own state;
the stream lane uses ``G`` for removed messages too)."""

CONTRASTED: tuple[str, ...] = ("I", "R", "N", "A", "T", "X", "U", "s", "F", "G", "B", "D")
"""Codes of the states lessons ask learners to tell apart: every pair of these is checked."""

_BY_CODE = {s.code: s for s in STATES}


def state_for_code(code: str) -> State:
    """The :class:`State` drawn for a frame code (``KeyError`` for an unknown code)."""
    return _BY_CODE[code]


def legend() -> list[dict[str, str]]:
    """The legend as the frame carries it: plain JSON-able dicts, in legend order."""
    return [
        {
            "code": s.code,
            "state": s.word,
            "css": f"--fk-{s.slug}",
            "slug": s.slug,
            "cue": s.cue,
            "light": s.light,
            "dark": s.dark,
        }
        for s in STATES
    ]


# --------------------------------------------------------------------------- colour maths


def _mul(m: Mat, v: Vec) -> Vec:
    return (
        m[0][0] * v[0] + m[0][1] * v[1] + m[0][2] * v[2],
        m[1][0] * v[0] + m[1][1] * v[1] + m[1][2] * v[2],
        m[2][0] * v[0] + m[2][1] * v[1] + m[2][2] * v[2],
    )


def _matmul(a: Mat, b: Mat) -> Mat:
    cols = [_mul(a, (b[0][j], b[1][j], b[2][j])) for j in range(3)]
    return (
        (cols[0][0], cols[1][0], cols[2][0]),
        (cols[0][1], cols[1][1], cols[2][1]),
        (cols[0][2], cols[1][2], cols[2][2]),
    )


def _inverse(m: Mat) -> Mat:
    (a, b, c), (d, e, f), (g, h, i) = m
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    return (
        ((e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det),
        ((f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det),
        ((d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det),
    )


def _cross(a: Vec, b: Vec) -> Vec:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _dot(a: Vec, b: Vec) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


XYZ_FROM_RGB: Mat = (
    (0.4124564, 0.3575761, 0.1804375),
    (0.2126729, 0.7151522, 0.0721750),
    (0.0193339, 0.1191920, 0.9503041),
)
"""Linear sRGB (D65) to CIE XYZ (IEC 61966-2-1)."""

LMS_FROM_XYZ: Mat = (
    (0.15514, 0.54312, -0.03286),
    (-0.15514, 0.45684, 0.03286),
    (0.0, 0.0, 0.01608),
)
"""Smith & Pokorny 1975 cone fundamentals (the LMS model Viénot and Brettel use)."""

LMS_FROM_RGB = _matmul(LMS_FROM_XYZ, XYZ_FROM_RGB)
RGB_FROM_LMS = _inverse(LMS_FROM_RGB)

# CIE 1931 2° colour matching functions at the anchor wavelengths (x̄, ȳ, z̄). Only the
# direction matters (the planes go through black), so the scale is irrelevant.
_SPECTRAL_XYZ: dict[int, Vec] = {
    485: (0.05795, 0.16930, 0.61620),
    660: (0.16490, 0.06100, 0.00000),
}

Projection = tuple[Mat, Mat, Vec]
"""(matrix for one side, matrix for the other side, separation normal), all in linear RGB."""


def _plane_projection(lost: int, white: Vec, anchor: Vec) -> Mat:
    """LMS -> LMS: replace cone ``lost`` by the combination of the other two that keeps
    ``white`` and ``anchor`` unchanged (the dichromat's plane through both)."""
    keep = [i for i in range(3) if i != lost]
    # Solve [w_k0 w_k1; a_k0 a_k1] [p q]^T = [w_lost a_lost].
    det = white[keep[0]] * anchor[keep[1]] - white[keep[1]] * anchor[keep[0]]
    p = (white[lost] * anchor[keep[1]] - white[keep[1]] * anchor[lost]) / det
    q = (white[keep[0]] * anchor[lost] - white[lost] * anchor[keep[0]]) / det
    rows = [[1.0 if i == j else 0.0 for j in range(3)] for i in range(3)]
    rows[lost] = [0.0, 0.0, 0.0]
    rows[lost][keep[0]], rows[lost][keep[1]] = p, q
    return (
        (rows[0][0], rows[0][1], rows[0][2]),
        (rows[1][0], rows[1][1], rows[1][2]),
        (rows[2][0], rows[2][1], rows[2][2]),
    )


def _in_rgb(lms_matrix: Mat) -> Mat:
    return _matmul(RGB_FROM_LMS, _matmul(lms_matrix, LMS_FROM_RGB))


def _vienot(lost: int) -> Mat:
    """Viénot 1999: one plane through white and the sRGB blue primary (protan, deutan)."""
    white = _mul(LMS_FROM_RGB, (1.0, 1.0, 1.0))
    blue = _mul(LMS_FROM_RGB, (0.0, 0.0, 1.0))
    return _in_rgb(_plane_projection(lost, white, blue))


def _brettel_tritan() -> Projection:
    """Brettel 1997 for tritanopia: half-planes through white and 485 nm / 660 nm; which
    half depends on the side of the plane through white and the S axis a colour is on."""
    white = _mul(LMS_FROM_RGB, (1.0, 1.0, 1.0))
    a485 = _mul(LMS_FROM_XYZ, _SPECTRAL_XYZ[485])
    a660 = _mul(LMS_FROM_XYZ, _SPECTRAL_XYZ[660])
    normal_lms = _cross(white, (0.0, 0.0, 1.0))
    if _dot(normal_lms, a485) < 0:
        normal_lms = (-normal_lms[0], -normal_lms[1], -normal_lms[2])
    # The normal as a row vector acting on linear RGB: n_rgb = n_lms · LMS_FROM_RGB.
    m = LMS_FROM_RGB
    normal_rgb = (
        _dot(normal_lms, (m[0][0], m[1][0], m[2][0])),
        _dot(normal_lms, (m[0][1], m[1][1], m[2][1])),
        _dot(normal_lms, (m[0][2], m[1][2], m[2][2])),
    )
    return (
        _in_rgb(_plane_projection(2, white, a485)),
        _in_rgb(_plane_projection(2, white, a660)),
        normal_rgb,
    )


PROTAN = _vienot(0)
DEUTAN = _vienot(1)
TRITAN = _brettel_tritan()


def _to_linear(c: float) -> float:
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def linear_rgb(hex_colour: str) -> Vec:
    """``#rrggbb`` -> linear sRGB in [0, 1]."""
    h = hex_colour.lstrip("#")
    if len(h) != 6:
        raise ValueError(f"colour must be #rrggbb, got {hex_colour!r}")
    r, g, b = (int(h[i : i + 2], 16) / 255.0 for i in (0, 2, 4))
    return (_to_linear(r), _to_linear(g), _to_linear(b))


def _clip(v: Vec) -> Vec:
    return (min(1.0, max(0.0, v[0])), min(1.0, max(0.0, v[1])), min(1.0, max(0.0, v[2])))


def simulate(hex_colour: str, vision: Vision) -> Vec:
    """The linear sRGB a viewer with ``vision`` perceives for ``hex_colour`` (clipped)."""
    rgb = linear_rgb(hex_colour)
    if vision == "normal":
        return rgb
    if vision == "protanopia":
        return _clip(_mul(PROTAN, rgb))
    if vision == "deuteranopia":
        return _clip(_mul(DEUTAN, rgb))
    if vision == "tritanopia":
        one, other, normal = TRITAN
        return _clip(_mul(one if _dot(normal, rgb) >= 0 else other, rgb))
    raise ValueError(f"vision must be one of {VISIONS}, got {vision!r}")


_WHITE_XYZ = _mul(XYZ_FROM_RGB, (1.0, 1.0, 1.0))


def lab(rgb: Vec) -> Vec:
    """Linear sRGB -> CIELAB (D65 white)."""
    xyz = _mul(XYZ_FROM_RGB, rgb)

    def f(t: float) -> float:
        return t ** (1 / 3) if t > (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29

    fx, fy, fz = (f(xyz[i] / _WHITE_XYZ[i]) for i in range(3))
    return (116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz))


def delta_e76(a: str, b: str, vision: Vision = "normal") -> float:
    """CIE76 ΔE*ab between two ``#rrggbb`` colours as a viewer with ``vision`` sees them."""
    la, lb = lab(simulate(a, vision)), lab(simulate(b, vision))
    return float(sum((x - y) ** 2 for x, y in zip(la, lb, strict=True)) ** 0.5)
