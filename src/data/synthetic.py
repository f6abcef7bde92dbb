"""Synthetic drawings for training, tuning and tests: digits, things that are not digits, personal styles.

This is the TUNING family: the "is it a digit?" training (outlier exposure), its thresholds and the tests
use it. Reported figures use bench/heldout.py, an independent generator that nothing here is tuned on.

Digits: each digit has hand-designed skeleton templates (polylines, arcs, Bezier curves) in a box of height 1
with x around 0, y pointing down, a few variants for common writing styles. A drawing picks a variant,
jitters it a little (control points, a smooth low-frequency wobble, width, slant, round or boxy loops),
scales and places it on the canvas and strokes it with a round brush, like a person drawing with a mouse on
the sketchpad.

    render_digit(7, rng)                          -> 800x800 RGBA, black ink on white
    render_digit(7, rng, style="transparent")     -> the strokes layer alone (RGBA, transparent background)
    render_number([2, 0, 2, 6], rng)              -> several digits side by side

Non-digits, drawn the same way (KINDS): scribbles, letters that do not look like digits (LETTERS), shapes,
crosses, hashes, smileys, filled blobs, zigzags and waves, and glyphs of Hershey's vector fonts (GLYPH_FONTS;
the fonts of GLYPH_FONTS_TUNING are kept for tuning). Letters left out because they are (nearly)
digits: O o D (0), I l | (1), Z z (2), S s (5), b G (6), g q (9); B (close to 8) and T (close to 7) are kept.

    render_nondigit("star", rng)          -> 800x800 RGBA, black ink on white (None: a random kind)
    nondigit_mask(kind, rng)              -> the ink coverage as an 'L' image (255 = ink)
    nondigit_mask(kind, rng, varied=True) -> ... with any pen, sometimes hollow or filled (for training)

Personal styles (PERSONAL_STYLES): one consistent way a particular person writes a digit, for the
corrections and fine-tuning tests: style_images("seven_crossbar", n, seed).

Ready for the network (through src.data.preprocess.to_mnist): preprocessed_digits, preprocessed_nondigits.
"""

import contextvars
import functools
import hashlib
import io
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from safetensors.numpy import load_file, save_file

from src.atomic import atomic_write, cached_arrays
from src.data.preprocess import to_mnist

DARK_BACKGROUND = (0x33, 0x33, 0x33)
STYLES = ("composite", "dark", "transparent", "white_on_black")


# ------------------------------------------------------------------------------------------ geometry
# The exponent of _arc's superellipse: 2 draws an ellipse, more a boxier loop. digit_strokes sets it for
# each digit it draws (a context variable: each thread drawing has its own).
_LOOP_POWER = contextvars.ContextVar("loop_power", default=2.0)


def _arc(cx, cy, rx, ry, t0, t1, n=None):
    """Points on an ellipse (a superellipse: _LOOP_POWER) from angle t0 to t1 in degrees (0 = right, 90 = down:
    y points down)."""
    n = n or max(8, int(abs(t1 - t0) / 8))
    t = np.radians(np.linspace(t0, t1, n))
    c, s, e = np.cos(t), np.sin(t), 2 / _LOOP_POWER.get()
    return np.stack([cx + rx * np.sign(c) * np.abs(c) ** e, cy + ry * np.sign(s) * np.abs(s) ** e], axis=1)


def _bezier(*ctrl, n=24):
    """A quadratic or cubic Bezier curve through control points (x, y)."""
    p = np.array(ctrl, dtype=float)
    t = np.linspace(0, 1, n)[:, None]
    if len(p) == 3:
        return (1 - t) ** 2 * p[0] + 2 * (1 - t) * t * p[1] + t**2 * p[2]
    return (1 - t) ** 3 * p[0] + 3 * (1 - t) ** 2 * t * p[1] + 3 * (1 - t) * t**2 * p[2] + t**3 * p[3]


def _line(*pts, n=12):
    """A polyline through pts, resampled so every segment has n points (so the wobble can bend it)."""
    pts = np.array(pts, dtype=float)
    out = [np.linspace(a, b, n, endpoint=False) for a, b in zip(pts[:-1], pts[1:])]
    return np.concatenate(out + [pts[-1:]])


def _join(*parts):
    return np.concatenate(parts)


# A template is a function of a few random numbers (j = rng.uniform(-1, 1, 8)) returning a list of
# strokes, each an (N, 2) array of points. The j's vary proportions so no two drawings are alike.
TEMPLATES = {
    0: [
        lambda j: [_arc(0, 0.5, 0.27 + 0.05 * j[0], 0.5, -90 + 10 * j[1], 275 + 15 * j[2])],
        lambda j: [_arc(0, 0.5, 0.22 + 0.04 * j[0], 0.5, -100, 260 + 10 * j[2])],  # narrow, drawn anticlockwise-ish
    ],
    1: [
        lambda j: [_line((0.05 * j[0], 0), (-0.05 * j[0], 1))],
        lambda j: [_line((-0.17 + 0.04 * j[0], 0.2 + 0.05 * j[1]), (0, 0), (0, 1))],  # with a flag
        lambda j: [
            _line((-0.3 + 0.05 * j[0], 0.32 + 0.14 * j[1]), (0.04 * j[2], 0), (0.03 * j[3], 1))
        ],  # European: long flag
        lambda j: [
            _line((-0.22 + 0.04 * j[0], 0.28 + 0.06 * j[1]), (0, 0), (0, 1)),
            _line((-0.24 + 0.04 * j[2], 1), (0.24 + 0.04 * j[3], 1)),
        ],  # with a base
    ],
    2: [
        lambda j: [
            _join(
                _arc(0, 0.27, 0.27 + 0.04 * j[0], 0.27, 190 + 10 * j[1], 360 + 25),
                _bezier((0.25, 0.37), (0.1 + 0.05 * j[2], 0.65), (-0.28, 1.0)),
                _line((-0.28, 1.0), (0.3 + 0.05 * j[3], 1.0 + 0.03 * j[4])),
            )
        ],
        lambda j: [
            _join(
                _arc(0, 0.28, 0.26, 0.28, 200, 375),
                _bezier((0.26, 0.35), (0.15, 0.6), (-0.1, 0.8), (-0.3, 1.0)),
                _bezier((-0.3, 1.0), (-0.05, 0.92 + 0.03 * j[1]), (0.15, 0.95), (0.32, 1.0)),
            )
        ],
    ],
    3: [
        lambda j: [
            _join(
                _arc(0, 0.25, 0.24 + 0.03 * j[0], 0.25, -160, 90),
                _arc(0, 0.75, 0.28 + 0.03 * j[1], 0.25, -90, 150 + 10 * j[2]),
            )
        ],
        lambda j: [
            _join(
                _line((-0.22, 0.0), (0.22, 0.0), (-0.05, 0.42)),  # flat-topped 3
                _arc(0, 0.71, 0.28, 0.29, -100, 150),
            )
        ],
    ],
    4: [
        lambda j: [
            _line((-0.05 + 0.05 * j[0], 0), (-0.3, 0.62 + 0.05 * j[1]), (0.32, 0.62 + 0.05 * j[1])),
            _line((0.14 + 0.04 * j[2], 0.25 + 0.08 * j[3]), (0.14 + 0.04 * j[2], 1)),
        ],  # open
        lambda j: [
            _line((0.14, 0), (-0.3, 0.65 + 0.05 * j[1]), (0.32, 0.65 + 0.05 * j[1])),
            _line((0.14, 0), (0.14 + 0.03 * j[2], 1)),
        ],  # closed
    ],
    5: [
        lambda j: [
            _join(_line((-0.2, 0.0), (-0.23 + 0.03 * j[0], 0.43)), _arc(0.0, 0.7, 0.27 + 0.03 * j[1], 0.3, -145, 150)),
            _line((-0.2, 0.0), (0.27 + 0.05 * j[2], 0.02 * j[3])),
        ],
        lambda j: [
            _join(
                _line((0.27, 0.0), (-0.2, 0.0), (-0.24, 0.45)),  # one stroke: bar first
                _arc(0.0, 0.72, 0.27, 0.28, -150, 155),
            )
        ],
    ],
    6: [
        lambda j: [
            _join(
                _bezier((0.2 + 0.05 * j[0], 0.0), (-0.15, 0.1), (-0.27, 0.45), (-0.26, 0.72)),
                _arc(0, 0.72, 0.26 + 0.03 * j[1], 0.27, 180, -160),
            )
        ],
        lambda j: [_join(_bezier((0.12, 0.0), (-0.28, 0.35), (-0.24, 0.7)), _arc(0, 0.75, 0.24, 0.25, 170, -175))],
    ],
    7: [
        lambda j: [_line((-0.28, 0.02 * j[0]), (0.28, 0), (-0.05 + 0.08 * j[1], 1))],
        lambda j: [
            _join(_line((-0.28, 0.0), (0.28, 0.0)), _bezier((0.28, 0.0), (0.05, 0.4), (-0.05 + 0.05 * j[1], 1.0)))
        ],
        lambda j: [
            _line((-0.28, 0.03 * j[0]), (0.28, 0), (-0.03 + 0.06 * j[1], 1)),  # European: a crossbar
            _line((-0.18 + 0.05 * j[2], 0.52 + 0.05 * j[3]), (0.3 + 0.05 * j[4], 0.5)),
        ],
    ],
    8: [
        lambda j: [_arc(0, 0.25, 0.21 + 0.03 * j[0], 0.25, 0, 360), _arc(0, 0.74, 0.26 + 0.03 * j[1], 0.26, -90, 270)],
        lambda j: [
            (
                lambda t: np.stack(
                    [(0.26 + 0.03 * j[0]) * np.sin(2 * t) * (1 + 0.12 * np.cos(t)), 0.5 - 0.5 * np.cos(t)], axis=1
                )
            )(np.linspace(0, 2 * np.pi, 72))
        ],
    ],
    9: [
        lambda j: [
            _join(_arc(0, 0.27, 0.26 + 0.03 * j[0], 0.27, 0, -360), _line((0.26, 0.27), (0.22 + 0.06 * j[1], 1)))
        ],  # straight tail
        lambda j: [
            _join(_arc(0, 0.27, 0.25, 0.27, 10, -350), _bezier((0.25, 0.3), (0.25, 0.7), (0.1 + 0.05 * j[1], 1.0)))
        ],  # curved tail
    ],
}


def digit_strokes(digit: int, rng: np.random.Generator, variant: int | None = None) -> list[np.ndarray]:
    """The jittered skeleton of `digit` in the unit box (height ~1, x centred on 0): a list of polylines.
    A third of them have boxy loops, as some people write (and as typeset digits are)."""
    templates = TEMPLATES[digit]
    v = rng.integers(len(templates)) if variant is None else variant % len(templates)
    j = rng.uniform(-1, 1, 8)
    token = _LOOP_POWER.set(rng.uniform(2.5, 5) if rng.random() < 0.3 else 2.0)
    try:
        return wobble(templates[v](j), rng)
    finally:
        _LOOP_POWER.reset(token)


def wobble(strokes: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """A smooth, low-frequency wobble (a hand is not a plotter) plus a bit of point noise."""
    amp, freq, phase = rng.uniform(0.01, 0.03, 2), rng.uniform(2, 5, 2), rng.uniform(0, 2 * np.pi, 2)
    out = []
    for s in strokes:
        s = s.astype(float).copy()
        s[:, 0] += amp[0] * np.sin(freq[0] * s[:, 1] * np.pi + phase[0])
        s[:, 1] += amp[1] * np.sin(freq[1] * s[:, 0] * np.pi + phase[1])
        s += rng.normal(0, 0.004, s.shape)
        out.append(s)
    return out


def _place(strokes, rng, canvas, height_frac, slant_deg, brush):
    """Slant, stretch, scale to pixels and position fully inside the canvas."""
    slant = math.tan(math.radians(rng.uniform(-slant_deg, slant_deg)))
    aspect = rng.uniform(0.85, 1.2)
    rot = math.radians(rng.uniform(-4, 4))
    c, s = math.cos(rot), math.sin(rot)
    pts = []
    for st in strokes:
        x, y = st[:, 0] * aspect, st[:, 1] - 0.5
        x = x - slant * y  # slant to the right when going up
        pts.append(np.stack([c * x - s * y, s * x + c * y], axis=1))
    allp = np.concatenate(pts)
    lo, hi = allp.min(0), allp.max(0)
    size = rng.uniform(*height_frac) * canvas
    scale = size / max(hi[1] - lo[1], (hi[0] - lo[0]) * 0.8, 1e-6)
    margin = brush / 2 + 2
    span = (hi - lo) * scale
    free = np.maximum(canvas - 2 * margin - span, 0)
    origin = margin + rng.uniform(0, 1, 2) * free
    return [(p - lo) * scale + origin for p in pts]


def _stroke(draw, pts, width, fill, ss):
    """Round-capped, round-jointed polyline: a wide line plus a disc at every vertex."""
    pts = [(float(x) * ss, float(y) * ss) for x, y in pts]
    w = width * ss
    draw.line(pts, fill=fill, width=max(1, int(round(w))), joint="curve")
    r = w / 2
    for x, y in pts:
        draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)


def render_mask(
    digit,
    rng,
    canvas=800,
    height_frac=(0.30, 0.85),
    slant_deg=10,
    brush_frac=(0.025, 0.07),
    variant=None,
    supersample=2,
) -> Image.Image:
    """The ink coverage of one drawing as an 'L' image (255 = ink), anti-aliased by supersampling."""
    brush = rng.uniform(*brush_frac) * canvas
    strokes = _place(digit_strokes(digit, rng, variant), rng, canvas, height_frac, slant_deg, brush)
    return _ink(strokes, brush, canvas, supersample)


def varied_pen(rng) -> dict:
    """The whole range people draw with, as render_mask's options: hairline to fat marker pens (log-uniform,
    never wider than a fifth of the drawing's height), slanted up to 40 degrees either way (70%) or nearly
    upright (up to 10), large or small."""
    height = rng.uniform(0.2, 0.85)
    brush = min(math.exp(rng.uniform(math.log(0.003), math.log(0.12))), 0.2 * height)
    return dict(height_frac=(height, height), brush_frac=(brush, brush), slant_deg=40 if rng.random() < 0.7 else 10)


def varied_mask(digit, rng, canvas=400) -> Image.Image:
    """render_mask with a varied_pen: a digit drawn as anyone might."""
    return render_mask(digit, rng, canvas, **varied_pen(rng))


def _ink(strokes, brush, canvas, supersample) -> Image.Image:
    """Placed strokes drawn with a round brush as an 'L' image (255 = ink), anti-aliased by supersampling."""
    img = Image.new("L", (canvas * supersample, canvas * supersample), 0)
    draw = ImageDraw.Draw(img)
    for s in strokes:
        _stroke(draw, s, brush, 255, supersample)
    return img.reduce(supersample) if supersample > 1 else img


def stylize(mask: Image.Image, style="composite", ink=None) -> Image.Image:
    """Paint an ink-coverage mask in one of STYLES (optionally with an ink colour)."""
    size = mask.size
    if style == "transparent":
        layer = Image.new("RGBA", size, (*(ink or (0, 0, 0)), 0))
        layer.putalpha(mask)
        return layer
    background, ink = {
        "composite": ((255, 255, 255), ink or (0, 0, 0)),
        "dark": (DARK_BACKGROUND, ink or (240, 240, 240)),
        "white_on_black": ((0, 0, 0), ink or (255, 255, 255)),
    }[style]
    img = Image.new("RGBA", size, (*background, 255))
    img.paste(Image.new("RGBA", size, (*ink, 255)), mask=mask)
    return img.convert("RGB") if style == "white_on_black" else img


def render_digit(digit, rng, canvas=800, style="composite", ink=None, **kw) -> Image.Image:
    """One mouse-like drawing of `digit` (see render_mask for the size/slant/brush options)."""
    return stylize(render_mask(digit, rng, canvas, **kw), style, ink)


def render_number(digits, rng, canvas_height=800, style="composite", gap=(0.05, 0.2), **kw) -> Image.Image:
    """Several digits side by side on one wide canvas (e.g. render_number([4, 2], rng))."""
    masks = [render_mask(d, rng, canvas_height, **kw) for d in digits]
    boxes = [m.getbbox() or (0, 0, 1, 1) for m in masks]
    gaps = [int(rng.uniform(*gap) * canvas_height) for _ in digits]
    width = sum(b[2] - b[0] for b in boxes) + sum(gaps) + gaps[0]
    out = Image.new("L", (width, canvas_height), 0)
    x = gaps[0]
    for m, b, g in zip(masks, boxes, gaps):
        out.paste(m.crop((b[0], 0, b[2], canvas_height)), (x, 0))
        x += b[2] - b[0] + g
    return stylize(out, style)


# --------------------------------------------------------------------------------------------- non-digits
# --------------------------------------------------------------------------------------------- letters
# Skeletons in the unit box: height 1 (y from 0 at the top to 1 at the bottom), x roughly in [-0.35, 0.35].
LETTERS = {
    "A": lambda j: [
        _line((-0.32, 1), (0.02 * j[0], 0), (0.32, 1)),
        _line((-0.18, 0.6 + 0.05 * j[1]), (0.18, 0.6 + 0.05 * j[1])),
    ],
    "B": lambda j: [
        _line((-0.25, 0), (-0.25, 1)),
        np.concatenate(
            [_line((-0.25, 0), (0.05, 0)), _arc(0.05, 0.24, 0.2, 0.24, -90, 90), _line((0.05, 0.48), (-0.25, 0.48))]
        ),
        np.concatenate(
            [_line((-0.25, 0.48), (0.08, 0.48)), _arc(0.08, 0.74, 0.22, 0.26, -90, 90), _line((0.08, 1), (-0.25, 1))]
        ),
    ],
    "E": lambda j: [
        _line((0.28, 0), (-0.25, 0), (-0.25, 1), (0.28, 1)),
        _line((-0.25, 0.5 + 0.04 * j[0]), (0.18 + 0.05 * j[1], 0.5)),
    ],
    "F": lambda j: [
        _line((0.28, 0), (-0.22, 0), (-0.22, 1)),
        _line((-0.22, 0.48 + 0.04 * j[0]), (0.16 + 0.05 * j[1], 0.48)),
    ],
    "H": lambda j: [
        _line((-0.28, 0), (-0.28, 1)),
        _line((0.28, 0), (0.28, 1)),
        _line((-0.28, 0.5 + 0.06 * j[0]), (0.28, 0.5 + 0.06 * j[0])),
    ],
    "K": lambda j: [_line((-0.25, 0), (-0.25, 1)), _line((0.25, 0), (-0.25, 0.55 + 0.05 * j[0]), (0.28, 1))],
    "M": lambda j: [_line((-0.35, 1), (-0.3, 0), (0.02 * j[0], 0.6 + 0.1 * j[1]), (0.3, 0), (0.35, 1))],
    "N": lambda j: [_line((-0.28, 1), (-0.28, 0), (0.28, 1), (0.28, 0))],
    "R": lambda j: [
        _line((-0.25, 1), (-0.25, 0)),
        np.concatenate(
            [
                _line((-0.25, 0), (0.05, 0)),
                _arc(0.05, 0.25, 0.22, 0.25, -90, 90),
                _line((0.05, 0.5), (-0.25, 0.5), (0.28, 1)),
            ]
        ),
    ],
    "W": lambda j: [_line((-0.4, 0), (-0.2, 1), (0.02 * j[0], 0.35 + 0.1 * j[1]), (0.2, 1), (0.4, 0))],
    "X": lambda j: [_line((-0.3, 0), (0.3, 1)), _line((0.3 + 0.04 * j[0], 0), (-0.3, 1))],
    "Y": lambda j: [
        _line((-0.3, 0), (0, 0.5 + 0.05 * j[0]), (0.3, 0)),
        _line((0, 0.5 + 0.05 * j[0]), (0.02 * j[1], 1)),
    ],
    "V": lambda j: [_line((-0.32, 0), (0.03 * j[0], 1), (0.32, 0))],
    "T": lambda j: [_line((-0.32, 0), (0.32, 0)), _line((0.03 * j[0], 0), (0.03 * j[1], 1))],
    "P": lambda j: [
        _line((-0.22, 1), (-0.22, 0)),
        np.concatenate(
            [_line((-0.22, 0), (0.05, 0)), _arc(0.05, 0.25, 0.22, 0.25, -90, 90), _line((0.05, 0.5), (-0.22, 0.5))]
        ),
    ],
    "C": lambda j: [_arc(0.05, 0.5, 0.33, 0.5, 50 + 10 * j[0], 310 + 10 * j[1])],
    "L": lambda j: [_line((-0.22, 0), (-0.22, 1), (0.28 + 0.05 * j[0], 1))],
    "U": lambda j: [
        np.concatenate(
            [_line((-0.28, 0), (-0.28, 0.7)), _arc(0, 0.7, 0.28, 0.3, 180, 0), _line((0.28, 0.7), (0.28, 0))]
        )
    ],
    "e": lambda j: [np.concatenate([_line((-0.3, 0.55), (0.3, 0.55)), _arc(0, 0.55, 0.3, 0.45, 0, -300)])],
    "h": lambda j: [
        _line((-0.25, 0), (-0.25, 1)),
        np.concatenate([_arc(0.0, 0.65, 0.25, 0.25, 180, 360), _line((0.25, 0.65), (0.25, 1))]),
    ],
    "m": lambda j: [
        np.concatenate(
            [_line((-0.4, 1), (-0.4, 0.2)), _arc(-0.2, 0.4, 0.2, 0.2, 180, 360), _line((0.0, 0.4), (0.0, 1))]
        ),
        np.concatenate([_arc(0.2, 0.4, 0.2, 0.2, 180, 360), _line((0.4, 0.4), (0.4, 1))]),
    ],
    "k": lambda j: [_line((-0.22, 0), (-0.22, 1)), _line((0.2, 0.35), (-0.22, 0.7), (0.22, 1))],
    "x": lambda j: [_line((-0.3, 0.2), (0.3, 1)), _line((0.3, 0.2), (-0.3, 1))],
    "w": lambda j: [_line((-0.4, 0.3), (-0.2, 1), (0, 0.5), (0.2, 1), (0.4, 0.3))],
    "a": lambda j: [
        _join(_arc(0, 0.28, 0.22, 0.22, 200, 360), _line((0.22, 0.28), (0.22 + 0.03 * j[0], 1))),
        _arc(0, 0.74, 0.22, 0.24 + 0.03 * j[1], -10, 350),
    ],
    "n": lambda j: [
        _line((-0.25, 0.25), (-0.25, 1)),
        _join(_arc(0, 0.55, 0.25, 0.3 + 0.04 * j[0], 180, 360), _line((0.25, 0.55), (0.25, 1))),
    ],
    "r": lambda j: [_line((-0.2, 0.05), (-0.2, 1)), _arc(0.08, 0.35, 0.28, 0.3 + 0.04 * j[0], 180, 300)],
    "f": lambda j: [
        _join(_arc(0.08, 0.2, 0.2, 0.2, -20 + 10 * j[0], -180), _line((-0.12, 0.2), (-0.12, 1))),
        _line((-0.32, 0.42 + 0.04 * j[1]), (0.14, 0.42)),
    ],
    "y": lambda j: [_line((-0.3, 0), (0.02 * j[0], 0.55)), _line((0.3, 0), (-0.18 + 0.04 * j[1], 1))],
}


def _s_curve(top=0.0, height=1.0):
    """An S from its upper right end down to its lower left end, in the band [top, top + height]."""
    y = lambda v: top + height * v  # noqa: E731
    return _join(_arc(0, y(0.26), 0.24, 0.24 * height, -30, -270), _arc(0, y(0.74), 0.26, 0.24 * height, -90, 150))


def _polygon(n, r=0.5, cy=0.5, rot=0.0):
    t = np.radians(np.arange(n + 1) * 360 / n - 90 + rot)
    return np.stack([r * np.cos(t), cy + r * np.sin(t)], axis=1)


def _star(j):
    t = np.radians(np.arange(11) * 36 - 90 + 5 * j[0])
    r = np.where(np.arange(11) % 2 == 0, 0.5, 0.2 + 0.04 * j[1])
    return [_line(*np.stack([r * np.cos(t), 0.5 + r * np.sin(t)], axis=1), n=4)]


def _heart(j):
    t = np.linspace(0, 2 * np.pi, 80)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return [np.stack([x / 32, (y + 17) / 30], axis=1)]


def _spiral(j):
    turns = 2.2 + 0.6 * j[0]
    t = np.linspace(0, turns * 2 * np.pi, 160)
    r = 0.5 * t / t[-1]
    return [np.stack([r * np.cos(t), 0.5 + r * np.sin(t)], axis=1)]


def _smiley(j):
    return [
        _arc(0, 0.5, 0.5, 0.5, 0, 360),
        _arc(-0.18, 0.35, 0.03, 0.04, 0, 360, n=10),
        _arc(0.18, 0.35, 0.03, 0.04, 0, 360, n=10),
        _arc(0, 0.55, 0.28, 0.2 + 0.05 * j[0], 20, 160),
    ]


def _scribble(rng):
    """One or two strokes of a smooth random walk through 5-10 random points."""
    out = []
    for _ in range(rng.integers(1, 3)):
        pts = rng.uniform([-0.5, 0], [0.5, 1], (rng.integers(5, 11), 2))
        out.append(
            np.concatenate(
                [_bezier(a, (a + b) / 2 + rng.normal(0, 0.15, 2), b, n=16) for a, b in zip(pts[:-1], pts[1:])]
            )
        )
    return out


def _zigzag(j, rng):
    n = rng.integers(3, 7)
    xs = np.linspace(-0.5, 0.5, 2 * n + 1)
    ys = np.where(np.arange(2 * n + 1) % 2 == 0, 0.2, 0.8) + rng.normal(0, 0.04, 2 * n + 1)
    return [_line(*np.stack([xs, ys], axis=1), n=6)]


def _wave(j, rng):
    x = np.linspace(-0.5, 0.5, 120)
    return [np.stack([x, 0.5 + 0.25 * np.sin(x * np.pi * rng.uniform(3, 6) + j[0])], axis=1)]


SHAPES = {
    "triangle": lambda j, rng: [_polygon(3, rot=10 * j[0])],
    "square": lambda j, rng: [_line((-0.45, 0), (0.45, 0.02 * j[0]), (0.45, 1), (-0.45, 1), (-0.45, 0))],
    "star": lambda j, rng: _star(j),
    "heart": lambda j, rng: _heart(j),
    "spiral": lambda j, rng: _spiral(j),
    "arrow": lambda j, rng: [_line((-0.5, 0.5), (0.5, 0.5)), _line((0.2, 0.25 + 0.05 * j[0]), (0.5, 0.5), (0.2, 0.75))],
    "plus": lambda j, rng: [_line((-0.45, 0.5 + 0.05 * j[0]), (0.45, 0.5)), _line((0.03 * j[1], 0.05), (0, 0.95))],
    "cross": lambda j, rng: [_line((-0.4, 0.1), (0.4, 0.9)), _line((0.4, 0.1), (-0.4, 0.9))],
    "hash": lambda j, rng: [
        _line((-0.15, 0), (-0.2, 1)),
        _line((0.2, 0), (0.15, 1)),
        _line((-0.45, 0.33), (0.45, 0.33)),
        _line((-0.45, 0.67), (0.45, 0.67)),
    ],
    "smiley": lambda j, rng: _smiley(j),
    "zigzag": _zigzag,
    "wave": _wave,
    "scribble": lambda j, rng: _scribble(rng),
    "hatching": lambda j, rng: _hatching(rng, cross=False),
    "crosshatch": lambda j, rng: _hatching(rng, cross=True),
    "dots": lambda j, rng: _dots(rng),
    "percent": lambda j, rng: [
        _arc(-0.25, 0.2, 0.13, 0.17, 0, 360),
        _line((0.3, 0.02 * j[0]), (-0.3, 1)),
        _arc(0.25, 0.8, 0.13, 0.17, 0, 360),
    ],
    "asterisk": lambda j, rng: [
        _line(*_polygon(2, 0.5, rot=90 + 10 * j[0])[:2]),
        _line(*_polygon(2, 0.5, rot=150 + 10 * j[1])[:2]),
        _line(*_polygon(2, 0.5, rot=30 + 10 * j[2])[:2]),
    ],
    "chevron": lambda j, rng: [_line((0.3, 0.05), (-0.3 + 0.05 * j[0], 0.5), (0.3, 0.95))],
    "check": lambda j, rng: [_line((-0.4, 0.55 + 0.05 * j[0]), (-0.1, 1), (0.45, 0.0 + 0.05 * j[1]))],
    "infinity": lambda j, rng: [
        np.stack([0.5 * np.sin(t), 0.5 + 0.22 * np.sin(2 * t)], axis=1) for t in [np.linspace(0, 2 * np.pi, 80)]
    ],
    "at": lambda j, rng: [
        _join(_arc(0.05, 0.5, 0.17, 0.2, 0, 360), _line((0.22, 0.3), (0.22, 0.65)), _arc(0, 0.5, 0.48, 0.5, 30, -300))
    ],
    # Symbols and figures people draw that are not digits (a rounded square and a circle would be 0s).
    "greater": lambda j, rng: [_line((-0.3, 0.05), (0.3 + 0.05 * j[0], 0.5), (-0.3, 0.95))],
    "brace": lambda j, rng: [
        _join(
            _bezier((0.15, 0), (-0.15, 0.02), (0.1, 0.45), (-0.2, 0.5)),
            _bezier((-0.2, 0.5), (0.1, 0.55), (-0.15, 0.98), (0.15 + 0.04 * j[0], 1)),
        )
    ],
    "brace_right": lambda j, rng: [
        _join(
            _bezier((-0.15, 0), (0.15, 0.02), (-0.1, 0.45), (0.2, 0.5)),
            _bezier((0.2, 0.5), (-0.1, 0.55), (0.15, 0.98), (-0.15 + 0.04 * j[0], 1)),
        )
    ],
    "dollar": lambda j, rng: [_s_curve(0.1, 0.8), _line((0.03 * j[0], 0), (0.03 * j[1], 1))],
    "section": lambda j, rng: [_s_curve(0, 0.62), _s_curve(0.38, 0.62)],
    "tilde": lambda j, rng: [
        np.stack([x, 0.5 - (0.15 + 0.04 * j[0]) * np.sin(2 * np.pi * x)], axis=1) for x in [np.linspace(-0.5, 0.5, 40)]
    ],
    "equals": lambda j, rng: [_line((-0.45, 0.3), (0.45, 0.3 + 0.03 * j[0])), _line((-0.45, 0.7), (0.45, 0.7))],
    "circle_dot": lambda j, rng: [_arc(0, 0.5, 0.5, 0.5, 0, 360), _arc(0.03 * j[0], 0.5, 0.08, 0.08, 0, 360, n=12)],
    "circle_cross": lambda j, rng: [
        _arc(0, 0.5, 0.5, 0.5, 0, 360),
        _line((-0.5, 0.5), (0.5, 0.5)),
        _line((0, 0), (0, 1)),
    ],
    "pentagon": lambda j, rng: [_polygon(5, rot=8 * j[0])],
    "hexagon": lambda j, rng: [_polygon(6, rot=8 * j[0])],
    "diamond": lambda j, rng: [_polygon(4, rot=6 * j[0])],
    "rectangle": lambda j, rng: [_line((-0.5, 0.3), (0.5, 0.3 + 0.02 * j[0]), (0.5, 0.7), (-0.5, 0.7), (-0.5, 0.3))],
    "eye": lambda j, rng: [
        _arc(0, 0.95, 0.6, 0.7, -145, -35),
        _arc(0, 0.05, 0.6, 0.7, 35, 145),
        _arc(0.05 * j[0], 0.5, 0.1 + 0.03 * j[1], 0.1 + 0.03 * j[1], 0, 360, n=16),
    ],
    "tangle": lambda j, rng: [_tangle(rng)],
    "stipple": lambda j, rng: _stipple(rng),
}


def _stipple(rng):
    """25-80 dots filling a disc: a dotted or textured area."""
    n = rng.integers(25, 80)
    r, t = 0.5 * np.sqrt(rng.uniform(0, 1, n)), rng.uniform(0, 2 * np.pi, n)
    return [np.array([p, p + 0.01]) for p in np.c_[r * np.cos(t), 0.5 + r * np.sin(t)]]


def _tangle(rng):
    """A dense scribble: a random walk with momentum, bouncing inside the box, 150-300 steps."""
    p, v, out = np.array([0.0, 0.5]), rng.normal(0, 0.03, 2), []
    for _ in range(rng.integers(150, 300)):
        v = 0.85 * v + rng.normal(0, 0.02, 2)
        p = p + v
        for k, (lo, hi) in enumerate(((-0.5, 0.5), (0, 1))):
            if not lo <= p[k] <= hi:
                v[k], p[k] = -v[k], np.clip(p[k], lo, hi)
        out.append(p.copy())
    return np.array(out)


def _hatching(rng, cross):
    """4-16 parallel strokes at a random angle (and a second, crossing set), clipped to an ellipse or a
    rectangle from tall to wide: a shaded area."""
    rx, ry = 0.5 * math.exp(rng.uniform(-0.8, 0)), 0.5 * math.exp(rng.uniform(-0.8, 0))
    round_region = rng.random() < 0.5

    def inside(p):
        x, y = p[:, 0] / rx, (p[:, 1] - 0.5) / ry
        return x**2 + y**2 <= 1 if round_region else (np.abs(x) <= 1) & (np.abs(y) <= 1)

    out = []
    for angle in [rng.uniform(0, np.pi)] + ([rng.uniform(0, np.pi)] if cross else []):
        d, n = np.array([np.cos(angle), np.sin(angle)]), rng.integers(4, 17)
        normal = np.array([-d[1], d[0]])
        for k in np.linspace(-0.7, 0.7, n):
            pts = np.array([0, 0.5]) + k * normal + np.linspace(-0.75, 0.75, 61)[:, None] * d
            keep = np.flatnonzero(inside(pts))
            if len(keep) >= 2:  # a convex region: the points inside are one run
                out.append(pts[keep[0] : keep[-1] + 1])
    return out or [_line((-0.4, 0.5), (0.4, 0.5))]


def _dots(rng):
    """2-6 dots (a stroke of two close points is a dot) scattered over the box."""
    return [np.array([p, p + 0.01]) for p in rng.uniform([-0.5, 0], [0.5, 1], (rng.integers(2, 7), 2))]


# ----------------------------------------------------------------------------------------- font glyphs
# Hershey's single-stroke vector fonts (the Hershey-Fonts package): Latin, Greek and Cyrillic letters in
# several hands, and symbols (astrology, music, maths, weather), drawn with our pen as non-digits. Training
# draws from GLYPH_FONTS; the other fonts, GLYPH_FONTS_TUNING, are kept for tuning (bench/calibration.py).
# Left out: the kana (many are 7s, 3s and 5s) and the markers (our SHAPES); digits, and punctuation that
# alone is a dot or a stroke, a bracket or a circle; letters that are (nearly) digits, as in LETTERS.
GLYPH_FONTS_TUNING = ("futuram", "timesib", "gothicita", "greeks", "cyrilc_1", "scripts", "meteorology", "mathupp")
GLYPH_FONTS = (
    "futural",
    "astrology",
    "cursive",
    "cyrillic",
    "gothgbt",
    "gothgrt",
    "gothiceng",
    "gothicger",
    "gothitt",
    "greek",
    "greekc",
    "mathlow",
    "music",
    "rowmand",
    "rowmans",
    "rowmant",
    "scriptc",
    "symbolic",
    "timesg",
    "timesi",
    "timesr",
    "timesrb",
)
NOT_GLYPHS = set("0123456789OoQDIlJjiZzSsbGgqBT'\",.;:!|/\\()[]{}`-_^")  # ^: a caret is a European 1
NOT_GLYPHS_IN = {
    "cyrillic": "Hh",
    "cyrilc_1": "Hh",
    "greek": "FL",
    "greekc": "FL",
    "greeks": "FLK",
    "mathlow": "v",
    "mathupp": "v",
    "gothiceng": "t",
    "symbolic": "E",
}  # a Ze (3), Zeta (2), Lambda (1), "exists" (3)...


@functools.lru_cache(maxsize=4)
def font_glyphs(fonts: tuple[str, ...]) -> list[list[np.ndarray]]:
    """Every usable glyph of `fonts` as strokes in the unit box (height or width 1, y down, x centred on 0)."""
    from HersheyFonts import HersheyFonts

    hershey, out = HersheyFonts(), []
    for font in fonts:
        hershey.load_default_font(font)
        for char, glyph in sorted(hershey.all_glyphs.items()):
            if char in NOT_GLYPHS or char in NOT_GLYPHS_IN.get(font, ""):
                continue
            strokes = [np.array(s, float) for s in glyph.strokes if len(s)]
            if not strokes:
                continue
            allp = np.concatenate(strokes)
            lo, span = allp.min(0), np.ptp(allp, 0)
            if span.max() == 0:
                continue
            unit = [(st - [lo[0] + span[0] / 2, lo[1]]) / span.max() for st in strokes]
            unit = [_line(*st, n=6) if len(st) > 1 else np.vstack([st, st + 0.01]) for st in unit]
            if not _digit_like(unit):
                out.append(unit)
    return out


def _digit_like(strokes) -> bool:
    """A glyph that is a 1 or a 0 once preprocessed: narrow (a bar, a bracket), straight (a slash, a dash)
    or a ring (the points all about as far from their middle, all the way round)."""
    allp = np.concatenate(strokes)
    width, height = np.ptp(allp, 0)
    variance, axes = np.linalg.eigh(np.cov(allp.T))
    spread = np.sqrt(np.maximum(variance, 1e-12))  # across and along the glyph
    if width < 0.3 * height or spread[0] < 0.2 * spread[1]:
        return True
    offset = (allp - allp.mean(0)) @ axes / spread  # an oval made round
    radius, angle = np.linalg.norm(offset, axis=1), np.arctan2(offset[:, 1], offset[:, 0])
    all_round = len(np.unique((angle / (2 * np.pi) * 24).astype(int))) >= 23
    return all_round and radius.std() < 0.15 * radius.mean()


def _glyph(rng, fonts=GLYPH_FONTS):
    glyphs = font_glyphs(fonts)
    return glyphs[rng.integers(len(glyphs))]


def glyph_set(n: int, seed: int, fonts=GLYPH_FONTS_TUNING, canvas=400) -> list[Image.Image]:
    """n glyphs of `fonts` (by default the tuning fonts) drawn with a varied_pen, as 'L' masks (255 = ink)."""
    rng = np.random.default_rng(seed)
    return [nondigit_mask("glyph", rng, canvas, varied=True, fonts=fonts) for _ in range(n)]


KINDS = tuple(f"letter_{c}" for c in LETTERS) + tuple(SHAPES) + ("glyph", "blob", "blob_hole", "solid")


def nondigit_strokes(kind: str, rng: np.random.Generator, fonts=GLYPH_FONTS) -> list[np.ndarray]:
    """The jittered skeleton of `kind` in the unit box, with the same wobble as digit_strokes ("glyph": one
    from `fonts`)."""
    j = rng.uniform(-1, 1, 8)
    if kind == "glyph":
        strokes = _glyph(rng, fonts)
    else:
        strokes = LETTERS[kind[7:]](j) if kind.startswith("letter_") else SHAPES[kind](j, rng)
    return wobble(strokes, rng)


def _blob(rng, canvas, ss):
    """A filled, irregular blob (a smudge or a coloured-in area), 15-45% of the canvas across."""
    n = 24
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = 1 + sum(rng.uniform(0, 0.25) * np.sin(k * t + rng.uniform(0, 6.3)) for k in (2, 3, 5))
    size = rng.uniform(0.06, 0.45) * canvas / 2
    c = rng.uniform(size * 1.5, canvas - size * 1.5, 2)
    wide = math.exp(rng.uniform(-0.7, 0.7))  # tall to wide, at most 2:1
    size_x, size = min(size * math.sqrt(wide), canvas / 3), min(size / math.sqrt(wide), canvas / 3)
    pts = [
        (
            float((c[0] + size_x * rr * math.cos(tt) * rng.uniform(0.7, 1.3)) * ss),
            float((c[1] + size * rr * math.sin(tt)) * ss),
        )
        for rr, tt in zip(r, t)
    ]
    img = Image.new("L", (canvas * ss, canvas * ss), 0)
    ImageDraw.Draw(img).polygon(pts, fill=255)
    return img


def _solid(rng, canvas, ss):
    """A smooth filled shape (ellipse, rounded box, polygon or parallelogram), tall to wide, turned a little."""
    t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    shape = rng.integers(4)
    if shape == 0:  # ellipse
        pts = np.c_[np.cos(t), np.sin(t)]
    elif shape == 1:  # rounded box: a superellipse
        pts = np.c_[np.sign(np.cos(t)) * np.abs(np.cos(t)) ** 0.3, np.sign(np.sin(t)) * np.abs(np.sin(t)) ** 0.3]
    elif shape == 2:  # a regular polygon, 5-8 sides
        k = rng.integers(5, 9)
        a = np.arange(k) * 2 * np.pi / k
        pts = np.c_[np.cos(a), np.sin(a)]
    else:  # a parallelogram
        lean = rng.uniform(-0.6, 0.6)
        pts = np.array([[-1 + lean, -1], [1 + lean, -1], [1 - lean, 1], [-1 - lean, 1]]) / (1 + abs(lean))
    wide = math.exp(rng.uniform(-0.9, 0.9))
    size = rng.uniform(0.06, 0.4) * canvas / 2
    turn = rng.uniform(-0.3, 0.3)
    rot = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
    pts = (pts * [size * math.sqrt(wide), size / math.sqrt(wide)]) @ rot.T + rng.uniform(0.3, 0.7, 2) * canvas
    img = Image.new("L", (canvas * ss, canvas * ss), 0)
    ImageDraw.Draw(img).polygon([(float(x * ss), float(y * ss)) for x, y in pts], fill=255)
    return img


def nondigit_mask(
    kind: str | None,
    rng: np.random.Generator,
    canvas=800,
    height_frac=(0.30, 0.85),
    slant_deg=10,
    brush_frac=(0.025, 0.07),
    supersample=2,
    varied=False,
    fonts=GLYPH_FONTS,
) -> Image.Image:
    """The ink coverage of one non-digit drawing as an 'L' image (255 = ink). With `varied`, a varied_pen
    (as the training digits have, so that no pen tells digits apart) and, now and then, the shape drawn
    hollow (an outlined stroke) or, when closed, filled in."""
    kind = kind or KINDS[rng.integers(len(KINDS))]
    if kind == "solid":
        img = _solid(rng, canvas, supersample)
    elif kind in ("blob", "blob_hole"):
        img = _blob(rng, canvas, supersample)
        if kind == "blob_hole":  # a filled area with a hole punched in it
            box = img.getbbox()
            w, h = box[2] - box[0], box[3] - box[1]
            cx, cy = box[0] + w * rng.uniform(0.35, 0.65), box[1] + h * rng.uniform(0.35, 0.65)
            r = min(w, h) * rng.uniform(0.12, 0.25)
            ImageDraw.Draw(img).ellipse((cx - r, cy - r, cx + r, cy + r), fill=0)
    else:
        if varied:
            pen = varied_pen(rng)
            height_frac, brush_frac, slant_deg = pen["height_frac"], pen["brush_frac"], pen["slant_deg"]
        brush = rng.uniform(*brush_frac) * canvas
        strokes = nondigit_strokes(kind, rng, fonts)
        placed = _place(strokes, rng, canvas, height_frac, slant_deg, brush)
        look = rng.random() if varied else 1.0
        if look < 0.12 and brush >= 0.02 * canvas:  # hollow: the stroke's outline, as an outline font draws it
            inner = brush - 2 * max(1.5, brush * rng.uniform(0.1, 0.3))
            hollow = np.asarray(_ink(placed, brush, canvas, supersample), np.int16)
            hollow -= np.asarray(_ink(placed, inner, canvas, supersample), np.int16)
            return Image.fromarray(np.clip(hollow, 0, 255).astype(np.uint8))
        img = _ink(placed, brush, canvas, supersample)
        closed = [p for p in placed if len(p) > 3 and np.linalg.norm(p[0] - p[-1]) < 0.1 * np.ptp(p, 0).max()]
        if look > 0.9 and closed:  # a closed shape coloured in
            draw = ImageDraw.Draw(img)
            for p in closed:
                draw.polygon([(float(x), float(y)) for x, y in p], fill=255)
        return img
    return img.reduce(supersample) if supersample > 1 else img


def render_nondigit(
    kind: str | None, rng: np.random.Generator, canvas=800, style="composite", ink=None, **kw
) -> Image.Image:
    """One mouse-like drawing of a non-digit (`kind` from KINDS, or None for a random one)."""
    return stylize(nondigit_mask(kind, rng, canvas, **kw), style, ink)


def nondigit_set(n: int, seed: int, canvas=400) -> list[tuple[str, Image.Image]]:
    """n (kind, 'L' mask) pairs cycling through KINDS in order, with drawings from `seed`."""
    rng = np.random.default_rng(seed)
    return [(KINDS[i % len(KINDS)], nondigit_mask(KINDS[i % len(KINDS)], rng, canvas)) for i in range(n)]


# --------------------------------------------------------------------------------------------- datasets
def preprocessed_nondigits(n: int, seed: int, canvas=400) -> tuple[np.ndarray, list[str], int]:
    """n non-digit drawings through src.data.preprocess.to_mnist: (images (M, 28, 28), their kinds, how many
    of the n preprocessing already rejected as "no digit" (None), which are left out of the images)."""

    images, kinds, rejected = [], [], 0
    for kind, mask in nondigit_set(n, seed, canvas):
        a = to_mnist(np.asarray(mask, np.float32) / 255)
        if a is None:
            rejected += 1
        else:
            images.append(a)
            kinds.append(kind)
    return np.array(images, np.float32).reshape(-1, 28, 28), kinds, rejected


def preprocessed_digits(n: int, seed: int, canvas=400, varied=False) -> tuple[np.ndarray, np.ndarray]:
    """n drawn digits (0..9 in turn, render_mask, or varied_mask if `varied`) through to_mnist: (images, labels)."""

    rng = np.random.default_rng(seed)
    draw = varied_mask if varied else render_mask
    images, labels = [], []
    for i in range(n):
        a = to_mnist(np.asarray(draw(i % 10, rng, canvas), np.float32) / 255)
        if a is not None:
            images.append(a)
            labels.append(i % 10)
    return np.array(images, np.float32).reshape(-1, 28, 28), np.array(labels)


# --------------------------------------------------------------------------------------- personal styles
PERSONAL_STYLES = {
    "zero_slash": (
        0,
        lambda j: [
            _arc(0, 0.5, 0.28 + 0.04 * j[0], 0.5, -90 + 10 * j[1], 275 + 10 * j[2]),
            _line((0.3 + 0.04 * j[3], 0.05), (-0.3 + 0.04 * j[4], 0.95)),
        ],
    ),
    "one_long_flag": (1, lambda j: [_line((-0.35 + 0.04 * j[0], 0.45 + 0.05 * j[1]), (0.05, 0), (0.03 * j[2], 1))]),
    "nine_g": (
        9,
        lambda j: [
            _join(
                _arc(0, 0.27, 0.26 + 0.03 * j[0], 0.27, 0, -360),
                _bezier((0.26, 0.3), (0.3, 1.0), (-0.1, 1.05), (-0.3 + 0.04 * j[1], 0.8)),
            )
        ],
    ),
    "two_loop": (
        2,
        lambda j: [
            _join(
                _arc(0, 0.27, 0.27, 0.27, 190, 360 + 25),
                _bezier((0.25, 0.37), (0.1, 0.65), (-0.28, 1.0)),
                _arc(-0.2, 0.9, 0.1, 0.1, 90, -270),
                _line((-0.2, 1.0), (0.32 + 0.04 * j[3], 1.0)),
            )
        ],
    ),
    # label, skeleton(j) in the unit box (height 1, x around 0, y down)
    "seven_crossbar": (
        7,
        lambda j: [
            _line((-0.3, 0.05 * j[0]), (0.3, 0), (-0.02 + 0.05 * j[1], 1)),
            _line((-0.2 + 0.04 * j[2], 0.5 + 0.04 * j[3]), (0.3 + 0.04 * j[4], 0.48)),
        ],
    ),
    "one_base": (
        1,
        lambda j: [
            _line((-0.28 + 0.04 * j[0], 0.3 + 0.05 * j[1]), (0, 0), (0, 1)),
            _line((-0.3 + 0.04 * j[2], 1), (0.3 + 0.04 * j[3], 1)),
        ],
    ),
    "four_hook": (
        4,
        lambda j: [
            _join(
                _line((-0.1 + 0.05 * j[0], 0), (-0.3, 0.6)), _bezier((-0.3, 0.6), (0.0, 0.75), (0.3, 0.3 + 0.05 * j[1]))
            ),
            _line((0.2 + 0.04 * j[2], 0.35), (0.15, 1)),
        ],
    ),
}


def style_mask(style: str, rng: np.random.Generator, canvas=800) -> Image.Image:
    j = rng.uniform(-1, 1, 8)
    wobbly = wobble(PERSONAL_STYLES[style][1](j), rng)
    brush = rng.uniform(0.025, 0.07) * canvas
    img = Image.new("L", (canvas, canvas), 0)
    draw = ImageDraw.Draw(img)
    for s in _place(wobbly, rng, canvas, (0.3, 0.85), 10, brush):
        _stroke(draw, s, brush, 255, 1)
    return img


def style_images(style: str, n: int, seed: int, canvas=400) -> tuple[np.ndarray, np.ndarray]:
    """n preprocessed drawings of `style` and their labels."""

    rng = np.random.default_rng(seed)
    images = [to_mnist(np.asarray(style_mask(style, rng, canvas), np.float32) / 255) for _ in range(n)]
    images = np.array([a for a in images if a is not None], np.float32)
    return images, np.full(len(images), PERSONAL_STYLES[style][0])


# --------------------------------------------------------------------------------------------- for training
def png_bytes(img: Image.Image, **save_options) -> bytes:
    """An image as the bytes of a PNG file (as an upload would send it)."""
    buf = io.BytesIO()
    img.save(buf, "PNG", **save_options)
    return buf.getvalue()


def as_ink(image28: np.ndarray) -> np.ndarray:
    """An MNIST image (28x28 uint8, white on black) as a drawing's ink map: enlarged to 280x280 (bicubic, as a
    scan or a screenshot would be), float32 in [0, 1]."""
    big = Image.fromarray(np.asarray(image28, np.uint8)).resize((280, 280), Image.Resampling.BICUBIC)
    return np.asarray(big, np.float32) / 255


def as_drawing(image28: np.ndarray) -> np.ndarray:
    """An MNIST image as the app reads it from a drawing: as_ink put through src.data.preprocess.
    float32 (28, 28) in [0, 1]."""
    out = to_mnist(as_ink(image28))
    return np.zeros((28, 28), np.float32) if out is None else out


def as_drawings(images) -> np.ndarray:
    """as_drawing of each of (N, 28, 28) MNIST images: float32 (N, 28, 28)."""
    return np.stack([as_drawing(a) for a in images])


# Letters too close to a digit to be taught as "not a digit" (B ~ 8, T ~ 7); they stay in the tuning set.
OUTLIER_KINDS = tuple(k for k in KINDS if k not in ("letter_B", "letter_T"))


POOL_VERSION = 7  # bump when the generator changes, so that cached pools are drawn again
POOL_SIZE = 10_000  # drawn digits and non-digits for training (about 30 s to draw once, then cached)


def cached_training_pools(
    folder, n: int = POOL_SIZE, seed: int = 0, mnist=None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """training_pools(n, seed), kept in `folder` (DATA_DIR) as safetensors after the first call (~3 ms a pair).
    With `mnist` (a src.data.mnist Split of training images), the drawn digits also hold n of them as the app
    reads them from a drawing (mnist_as_drawn): the network learns the very input it is served."""
    path = Path(folder) / f"synthetic-pools-v{POOL_VERSION}-{n}-{seed}.safetensors"
    try:
        z = load_file(path)
        drawn, labels, outliers = z["drawn"], z["labels"], z["outliers"]
    except Exception:  # not there yet, or damaged: draw it again
        drawn, labels, outliers = training_pools(n, seed)
        atomic_write(path, lambda tmp: save_file({"drawn": drawn, "labels": labels, "outliers": outliers}, tmp))
    if mnist is not None:
        more, more_labels = mnist_as_drawn(mnist, folder, n, seed)
        drawn, labels = np.concatenate([drawn, more]), np.concatenate([labels, more_labels])
    return drawn, labels, outliers


AS_DRAWN_CACHE = "mnist-as-drawn.safetensors"  # in DATA_DIR: the last set made (one file, never more)


def mnist_as_drawn(split, folder, n: int = POOL_SIZE, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n images of `split` (training images only, never validation ones), picked by `seed`, as_drawing: (uint8
    (n, 28, 28), labels). About 10 s for 10,000; the last set made is kept in `folder`, keyed by its images and
    the code that reads them."""
    pick = np.random.default_rng(seed).permutation(len(split))[:n]
    images, labels = split.images.cpu().numpy()[pick], split.labels.cpu().numpy()[pick].astype(np.int64)
    key = hashlib.sha256(
        images.tobytes() + Path(__file__).read_bytes() + Path(to_mnist.__code__.co_filename).read_bytes()
    ).hexdigest()
    kept = cached_arrays(
        Path(folder) / AS_DRAWN_CACHE, key, lambda: {"drawn": (as_drawings(images) * 255 + 0.5).astype(np.uint8)}
    )
    return kept["drawn"], labels


def training_pools(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic training images for outlier exposure, drawn on 200x200 canvases (digits by varied_mask) and
    put through to_mnist: (drawn digits (n, 28, 28) uint8, their labels (n,), non-digits (m, 28, 28)
    uint8, m <= n: the ones preprocessing rejects, e.g. filled blobs, are left out). Seeds from 10**6 * seed up,
    never the tuning or test seeds."""
    rng = np.random.default_rng(1_000_000 * (seed + 1))
    digits, labels, others = [], [], []
    for i in range(n):
        d = to_mnist(np.asarray(varied_mask(i % 10, rng, 200), np.float32) / 255)
        if d is not None:
            digits.append(d)
            labels.append(i % 10)
        kind = "glyph" if i % 2 else OUTLIER_KINDS[i // 2 % len(OUTLIER_KINDS)]  # half of them font glyphs
        o = to_mnist(np.asarray(nondigit_mask(kind, rng, 200, varied=True), np.float32) / 255)
        if o is not None:
            others.append(o)

    def u8(images):
        return (np.array(images, np.float32).reshape(-1, 28, 28) * 255 + 0.5).astype(np.uint8)

    return u8(digits), np.array(labels, np.int64), u8(others)
