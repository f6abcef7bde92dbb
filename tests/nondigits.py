"""Synthetic mouse drawings of things that are NOT digits, for the "is it a digit?" detector.

Drawn the way tests/drawings.py draws digits: a skeleton of polylines in a box of height ~1 (x around 0,
y pointing down), jittered with a smooth wobble, slanted, scaled and placed on an 800x800 (or any) canvas
and stroked with a round brush; filled blobs are painted as filled polygons.

    render_nondigit("star", rng)          -> 800x800 RGBA, black ink on white
    render_nondigit(None, rng)            -> a random kind (see KINDS)
    nondigit_mask(kind, rng)              -> the ink coverage as an 'L' image (255 = ink)

KINDS groups: scribbles, letters (LETTERS: only letters that do not look like a digit), shapes (triangle,
square, star, heart, spiral, arrow), crosses (+ and x), hashes (#), smileys, filled blobs, zigzags/waves.
Letters deliberately left out because they are (nearly) digits: O o D (0), I l | (1), Z z (2), S s (5),
b G (6), g q (9), B is kept but is the closest to an 8, T is kept but is close to a 7.
"""

import math

import numpy as np
from PIL import Image, ImageDraw

from tests.drawings import _arc, _bezier, _line, _place, _stroke, stylize

# --------------------------------------------------------------------------------------------- letters
# Skeletons in the unit box: height 1 (y from 0 at the top to 1 at the bottom), x roughly in [-0.35, 0.35].
LETTERS = {
    "A": lambda j: [_line((-0.32, 1), (0.02 * j[0], 0), (0.32, 1)), _line((-0.18, 0.6 + 0.05 * j[1]), (0.18, 0.6 + 0.05 * j[1]))],
    "B": lambda j: [_line((-0.25, 0), (-0.25, 1)),
                    np.concatenate([_line((-0.25, 0), (0.05, 0)), _arc(0.05, 0.24, 0.2, 0.24, -90, 90),
                                    _line((0.05, 0.48), (-0.25, 0.48))]),
                    np.concatenate([_line((-0.25, 0.48), (0.08, 0.48)), _arc(0.08, 0.74, 0.22, 0.26, -90, 90),
                                    _line((0.08, 1), (-0.25, 1))])],
    "E": lambda j: [_line((0.28, 0), (-0.25, 0), (-0.25, 1), (0.28, 1)), _line((-0.25, 0.5 + 0.04 * j[0]), (0.18 + 0.05 * j[1], 0.5))],
    "F": lambda j: [_line((0.28, 0), (-0.22, 0), (-0.22, 1)), _line((-0.22, 0.48 + 0.04 * j[0]), (0.16 + 0.05 * j[1], 0.48))],
    "H": lambda j: [_line((-0.28, 0), (-0.28, 1)), _line((0.28, 0), (0.28, 1)), _line((-0.28, 0.5 + 0.06 * j[0]), (0.28, 0.5 + 0.06 * j[0]))],
    "K": lambda j: [_line((-0.25, 0), (-0.25, 1)), _line((0.25, 0), (-0.25, 0.55 + 0.05 * j[0]), (0.28, 1))],
    "M": lambda j: [_line((-0.35, 1), (-0.3, 0), (0.02 * j[0], 0.6 + 0.1 * j[1]), (0.3, 0), (0.35, 1))],
    "N": lambda j: [_line((-0.28, 1), (-0.28, 0), (0.28, 1), (0.28, 0))],
    "R": lambda j: [_line((-0.25, 1), (-0.25, 0)),
                    np.concatenate([_line((-0.25, 0), (0.05, 0)), _arc(0.05, 0.25, 0.22, 0.25, -90, 90),
                                    _line((0.05, 0.5), (-0.25, 0.5), (0.28, 1))])],
    "W": lambda j: [_line((-0.4, 0), (-0.2, 1), (0.02 * j[0], 0.35 + 0.1 * j[1]), (0.2, 1), (0.4, 0))],
    "X": lambda j: [_line((-0.3, 0), (0.3, 1)), _line((0.3 + 0.04 * j[0], 0), (-0.3, 1))],
    "Y": lambda j: [_line((-0.3, 0), (0, 0.5 + 0.05 * j[0]), (0.3, 0)), _line((0, 0.5 + 0.05 * j[0]), (0.02 * j[1], 1))],
    "V": lambda j: [_line((-0.32, 0), (0.03 * j[0], 1), (0.32, 0))],
    "T": lambda j: [_line((-0.32, 0), (0.32, 0)), _line((0.03 * j[0], 0), (0.03 * j[1], 1))],
    "P": lambda j: [_line((-0.22, 1), (-0.22, 0)),
                    np.concatenate([_line((-0.22, 0), (0.05, 0)), _arc(0.05, 0.25, 0.22, 0.25, -90, 90), _line((0.05, 0.5), (-0.22, 0.5))])],
    "C": lambda j: [_arc(0.05, 0.5, 0.33, 0.5, 50 + 10 * j[0], 310 + 10 * j[1])],
    "L": lambda j: [_line((-0.22, 0), (-0.22, 1), (0.28 + 0.05 * j[0], 1))],
    "U": lambda j: [np.concatenate([_line((-0.28, 0), (-0.28, 0.7)), _arc(0, 0.7, 0.28, 0.3, 180, 0), _line((0.28, 0.7), (0.28, 0))])],
    "e": lambda j: [np.concatenate([_line((-0.3, 0.55), (0.3, 0.55)), _arc(0, 0.55, 0.3, 0.45, 0, -300)])],
    "h": lambda j: [_line((-0.25, 0), (-0.25, 1)), np.concatenate([_arc(0.0, 0.65, 0.25, 0.25, 180, 360), _line((0.25, 0.65), (0.25, 1))])],
    "m": lambda j: [np.concatenate([_line((-0.4, 1), (-0.4, 0.2)), _arc(-0.2, 0.4, 0.2, 0.2, 180, 360), _line((0.0, 0.4), (0.0, 1))]),
                    np.concatenate([_arc(0.2, 0.4, 0.2, 0.2, 180, 360), _line((0.4, 0.4), (0.4, 1))])],
    "k": lambda j: [_line((-0.22, 0), (-0.22, 1)), _line((0.2, 0.35), (-0.22, 0.7), (0.22, 1))],
    "x": lambda j: [_line((-0.3, 0.2), (0.3, 1)), _line((0.3, 0.2), (-0.3, 1))],
    "w": lambda j: [_line((-0.4, 0.3), (-0.2, 1), (0, 0.5), (0.2, 1), (0.4, 0.3))],
}


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
    return [_arc(0, 0.5, 0.5, 0.5, 0, 360),
            _arc(-0.18, 0.35, 0.03, 0.04, 0, 360, n=10), _arc(0.18, 0.35, 0.03, 0.04, 0, 360, n=10),
            _arc(0, 0.55, 0.28, 0.2 + 0.05 * j[0], 20, 160)]


def _scribble(rng):
    """One or two strokes of a smooth random walk through 5-10 random points."""
    out = []
    for _ in range(rng.integers(1, 3)):
        pts = rng.uniform([-0.5, 0], [0.5, 1], (rng.integers(5, 11), 2))
        out.append(np.concatenate([_bezier(a, (a + b) / 2 + rng.normal(0, 0.15, 2), b, n=16) for a, b in zip(pts[:-1], pts[1:])]))
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
    "hash": lambda j, rng: [_line((-0.15, 0), (-0.2, 1)), _line((0.2, 0), (0.15, 1)),
                            _line((-0.45, 0.33), (0.45, 0.33)), _line((-0.45, 0.67), (0.45, 0.67))],
    "smiley": lambda j, rng: _smiley(j),
    "zigzag": _zigzag,
    "wave": _wave,
    "scribble": lambda j, rng: _scribble(rng),
}

KINDS = tuple(f"letter_{c}" for c in LETTERS) + tuple(SHAPES) + ("blob",)


def nondigit_strokes(kind: str, rng: np.random.Generator) -> list[np.ndarray]:
    """The jittered skeleton of `kind` in the unit box, with the same wobble as tests.drawings.digit_strokes."""
    j = rng.uniform(-1, 1, 8)
    strokes = LETTERS[kind[7:]](j) if kind.startswith("letter_") else SHAPES[kind](j, rng)
    amp, freq, phase = rng.uniform(0.01, 0.03, 2), rng.uniform(2, 5, 2), rng.uniform(0, 2 * np.pi, 2)
    out = []
    for s in strokes:
        s = np.asarray(s, dtype=float).copy()
        s[:, 0] += amp[0] * np.sin(freq[0] * s[:, 1] * np.pi + phase[0])
        s[:, 1] += amp[1] * np.sin(freq[1] * s[:, 0] * np.pi + phase[1])
        s += rng.normal(0, 0.004, s.shape)
        out.append(s)
    return out


def _blob(rng, canvas, ss):
    """A filled, irregular blob (a smudge or a coloured-in area), 15-45% of the canvas across."""
    n = 24
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = 1 + sum(rng.uniform(0, 0.25) * np.sin(k * t + rng.uniform(0, 6.3)) for k in (2, 3, 5))
    size = rng.uniform(0.15, 0.45) * canvas / 2
    c = rng.uniform(size * 1.5, canvas - size * 1.5, 2)
    pts = [(float((c[0] + size * rr * math.cos(tt) * rng.uniform(0.7, 1.3)) * ss),
            float((c[1] + size * rr * math.sin(tt)) * ss)) for rr, tt in zip(r, t)]
    img = Image.new("L", (canvas * ss, canvas * ss), 0)
    ImageDraw.Draw(img).polygon(pts, fill=255)
    return img


def nondigit_mask(kind: str | None, rng: np.random.Generator, canvas=800, height_frac=(0.30, 0.85), slant_deg=10,
                  brush_frac=(0.025, 0.07), supersample=2) -> Image.Image:
    """The ink coverage of one non-digit drawing as an 'L' image (255 = ink)."""
    kind = kind or KINDS[rng.integers(len(KINDS))]
    if kind == "blob":
        img = _blob(rng, canvas, supersample)
    else:
        brush = rng.uniform(*brush_frac) * canvas
        strokes = _place(nondigit_strokes(kind, rng), rng, canvas, height_frac, slant_deg, brush)
        img = Image.new("L", (canvas * supersample, canvas * supersample), 0)
        draw = ImageDraw.Draw(img)
        for s in strokes:
            _stroke(draw, s, brush, 255, supersample)
    return img.reduce(supersample) if supersample > 1 else img


def render_nondigit(kind: str | None, rng: np.random.Generator, canvas=800, style="composite", ink=None, **kw) -> Image.Image:
    """One mouse-like drawing of a non-digit (`kind` from KINDS, or None for a random one)."""
    return stylize(nondigit_mask(kind, rng, canvas, **kw), style, ink)


def nondigit_set(n: int, seed: int, canvas=400) -> list[tuple[str, Image.Image]]:
    """n (kind, 'L' mask) pairs cycling through KINDS in order, with drawings from `seed`."""
    rng = np.random.default_rng(seed)
    return [(KINDS[i % len(KINDS)], nondigit_mask(KINDS[i % len(KINDS)], rng, canvas)) for i in range(n)]


# --------------------------------------------------------------------------------------------- datasets
def preprocessed_nondigits(n: int, seed: int, canvas=400) -> tuple[np.ndarray, list[str], int]:
    """n non-digit drawings through src.preprocess.to_mnist: (images (M, 28, 28), their kinds, how many
    of the n preprocessing already rejected as "no digit" (None), which are left out of the images)."""
    from src.preprocess import to_mnist

    images, kinds, rejected = [], [], 0
    for kind, mask in nondigit_set(n, seed, canvas):
        a = to_mnist(np.asarray(mask, np.float32) / 255)
        if a is None:
            rejected += 1
        else:
            images.append(a)
            kinds.append(kind)
    return np.array(images, np.float32).reshape(-1, 28, 28), kinds, rejected


def preprocessed_digits(n: int, seed: int, canvas=400) -> tuple[np.ndarray, np.ndarray]:
    """n drawn digits (0..9 in turn, tests.drawings.render_mask) through to_mnist: (images, labels)."""
    from src.preprocess import to_mnist
    from tests.drawings import render_mask

    rng = np.random.default_rng(seed)
    images, labels = [], []
    for i in range(n):
        a = to_mnist(np.asarray(render_mask(i % 10, rng, canvas), np.float32) / 255)
        if a is not None:
            images.append(a)
            labels.append(i % 10)
    return np.array(images, np.float32).reshape(-1, 28, 28), np.array(labels)
