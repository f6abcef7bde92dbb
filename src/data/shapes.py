"""Skeletons of things that are not digits, in the unit box of src.data.strokes: letters (LETTERS) and shapes
(SHAPES: crosses, hashes, smileys, zigzags, waves, hatching, dots...).

Letters left out because they are (nearly) digits: O o D (0), I l | (1), Z z (2), S s (5), b G (6), g q (9);
B (close to 8) and T (close to 7) are kept, for tuning only.
"""

import math

import numpy as np

from src.data.strokes import arc, bezier, join, line

# Skeletons in the unit box: height 1 (y from 0 at the top to 1 at the bottom), x roughly in [-0.35, 0.35].
LETTERS = {
    "A": lambda j: [
        line((-0.32, 1), (0.02 * j[0], 0), (0.32, 1)),
        line((-0.18, 0.6 + 0.05 * j[1]), (0.18, 0.6 + 0.05 * j[1])),
    ],
    "B": lambda j: [
        line((-0.25, 0), (-0.25, 1)),
        np.concatenate(
            [line((-0.25, 0), (0.05, 0)), arc(0.05, 0.24, 0.2, 0.24, -90, 90), line((0.05, 0.48), (-0.25, 0.48))]
        ),
        np.concatenate(
            [line((-0.25, 0.48), (0.08, 0.48)), arc(0.08, 0.74, 0.22, 0.26, -90, 90), line((0.08, 1), (-0.25, 1))]
        ),
    ],
    "E": lambda j: [
        line((0.28, 0), (-0.25, 0), (-0.25, 1), (0.28, 1)),
        line((-0.25, 0.5 + 0.04 * j[0]), (0.18 + 0.05 * j[1], 0.5)),
    ],
    "F": lambda j: [
        line((0.28, 0), (-0.22, 0), (-0.22, 1)),
        line((-0.22, 0.48 + 0.04 * j[0]), (0.16 + 0.05 * j[1], 0.48)),
    ],
    "H": lambda j: [
        line((-0.28, 0), (-0.28, 1)),
        line((0.28, 0), (0.28, 1)),
        line((-0.28, 0.5 + 0.06 * j[0]), (0.28, 0.5 + 0.06 * j[0])),
    ],
    "K": lambda j: [line((-0.25, 0), (-0.25, 1)), line((0.25, 0), (-0.25, 0.55 + 0.05 * j[0]), (0.28, 1))],
    "M": lambda j: [line((-0.35, 1), (-0.3, 0), (0.02 * j[0], 0.6 + 0.1 * j[1]), (0.3, 0), (0.35, 1))],
    "N": lambda j: [line((-0.28, 1), (-0.28, 0), (0.28, 1), (0.28, 0))],
    "R": lambda j: [
        line((-0.25, 1), (-0.25, 0)),
        np.concatenate(
            [
                line((-0.25, 0), (0.05, 0)),
                arc(0.05, 0.25, 0.22, 0.25, -90, 90),
                line((0.05, 0.5), (-0.25, 0.5), (0.28, 1)),
            ]
        ),
    ],
    "W": lambda j: [line((-0.4, 0), (-0.2, 1), (0.02 * j[0], 0.35 + 0.1 * j[1]), (0.2, 1), (0.4, 0))],
    "X": lambda j: [line((-0.3, 0), (0.3, 1)), line((0.3 + 0.04 * j[0], 0), (-0.3, 1))],
    "Y": lambda j: [
        line((-0.3, 0), (0, 0.5 + 0.05 * j[0]), (0.3, 0)),
        line((0, 0.5 + 0.05 * j[0]), (0.02 * j[1], 1)),
    ],
    "V": lambda j: [line((-0.32, 0), (0.03 * j[0], 1), (0.32, 0))],
    "T": lambda j: [line((-0.32, 0), (0.32, 0)), line((0.03 * j[0], 0), (0.03 * j[1], 1))],
    "P": lambda j: [
        line((-0.22, 1), (-0.22, 0)),
        np.concatenate(
            [line((-0.22, 0), (0.05, 0)), arc(0.05, 0.25, 0.22, 0.25, -90, 90), line((0.05, 0.5), (-0.22, 0.5))]
        ),
    ],
    "C": lambda j: [arc(0.05, 0.5, 0.33, 0.5, 50 + 10 * j[0], 310 + 10 * j[1])],
    "L": lambda j: [line((-0.22, 0), (-0.22, 1), (0.28 + 0.05 * j[0], 1))],
    "U": lambda j: [
        np.concatenate([line((-0.28, 0), (-0.28, 0.7)), arc(0, 0.7, 0.28, 0.3, 180, 0), line((0.28, 0.7), (0.28, 0))])
    ],
    "e": lambda j: [np.concatenate([line((-0.3, 0.55), (0.3, 0.55)), arc(0, 0.55, 0.3, 0.45, 0, -300)])],
    "h": lambda j: [
        line((-0.25, 0), (-0.25, 1)),
        np.concatenate([arc(0.0, 0.65, 0.25, 0.25, 180, 360), line((0.25, 0.65), (0.25, 1))]),
    ],
    "m": lambda j: [
        np.concatenate([line((-0.4, 1), (-0.4, 0.2)), arc(-0.2, 0.4, 0.2, 0.2, 180, 360), line((0.0, 0.4), (0.0, 1))]),
        np.concatenate([arc(0.2, 0.4, 0.2, 0.2, 180, 360), line((0.4, 0.4), (0.4, 1))]),
    ],
    "k": lambda j: [line((-0.22, 0), (-0.22, 1)), line((0.2, 0.35), (-0.22, 0.7), (0.22, 1))],
    "x": lambda j: [line((-0.3, 0.2), (0.3, 1)), line((0.3, 0.2), (-0.3, 1))],
    "w": lambda j: [line((-0.4, 0.3), (-0.2, 1), (0, 0.5), (0.2, 1), (0.4, 0.3))],
    "a": lambda j: [
        join(arc(0, 0.28, 0.22, 0.22, 200, 360), line((0.22, 0.28), (0.22 + 0.03 * j[0], 1))),
        arc(0, 0.74, 0.22, 0.24 + 0.03 * j[1], -10, 350),
    ],
    "n": lambda j: [
        line((-0.25, 0.25), (-0.25, 1)),
        join(arc(0, 0.55, 0.25, 0.3 + 0.04 * j[0], 180, 360), line((0.25, 0.55), (0.25, 1))),
    ],
    "r": lambda j: [line((-0.2, 0.05), (-0.2, 1)), arc(0.08, 0.35, 0.28, 0.3 + 0.04 * j[0], 180, 300)],
    "f": lambda j: [
        join(arc(0.08, 0.2, 0.2, 0.2, -20 + 10 * j[0], -180), line((-0.12, 0.2), (-0.12, 1))),
        line((-0.32, 0.42 + 0.04 * j[1]), (0.14, 0.42)),
    ],
    "y": lambda j: [line((-0.3, 0), (0.02 * j[0], 0.55)), line((0.3, 0), (-0.18 + 0.04 * j[1], 1))],
}


def _s_curve(top=0.0, height=1.0):
    """An S from its upper right end down to its lower left end, in the band [top, top + height]."""
    y = lambda v: top + height * v  # noqa: E731
    return join(arc(0, y(0.26), 0.24, 0.24 * height, -30, -270), arc(0, y(0.74), 0.26, 0.24 * height, -90, 150))


def _polygon(n, r=0.5, cy=0.5, rot=0.0):
    t = np.radians(np.arange(n + 1) * 360 / n - 90 + rot)
    return np.stack([r * np.cos(t), cy + r * np.sin(t)], axis=1)


def _star(j):
    t = np.radians(np.arange(11) * 36 - 90 + 5 * j[0])
    r = np.where(np.arange(11) % 2 == 0, 0.5, 0.2 + 0.04 * j[1])
    return [line(*np.stack([r * np.cos(t), 0.5 + r * np.sin(t)], axis=1), n=4)]


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
        arc(0, 0.5, 0.5, 0.5, 0, 360),
        arc(-0.18, 0.35, 0.03, 0.04, 0, 360, n=10),
        arc(0.18, 0.35, 0.03, 0.04, 0, 360, n=10),
        arc(0, 0.55, 0.28, 0.2 + 0.05 * j[0], 20, 160),
    ]


def _scribble(rng):
    """One or two strokes of a smooth random walk through 5-10 random points."""
    out = []
    for _ in range(rng.integers(1, 3)):
        pts = rng.uniform([-0.5, 0], [0.5, 1], (rng.integers(5, 11), 2))
        out.append(
            np.concatenate(
                [bezier(a, (a + b) / 2 + rng.normal(0, 0.15, 2), b, n=16) for a, b in zip(pts[:-1], pts[1:])]
            )
        )
    return out


def _zigzag(j, rng):
    n = rng.integers(3, 7)
    xs = np.linspace(-0.5, 0.5, 2 * n + 1)
    ys = np.where(np.arange(2 * n + 1) % 2 == 0, 0.2, 0.8) + rng.normal(0, 0.04, 2 * n + 1)
    return [line(*np.stack([xs, ys], axis=1), n=6)]


def _wave(j, rng):
    x = np.linspace(-0.5, 0.5, 120)
    return [np.stack([x, 0.5 + 0.25 * np.sin(x * np.pi * rng.uniform(3, 6) + j[0])], axis=1)]


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
    return out or [line((-0.4, 0.5), (0.4, 0.5))]


def _dots(rng):
    """2-6 dots (a stroke of two close points is a dot) scattered over the box."""
    return [np.array([p, p + 0.01]) for p in rng.uniform([-0.5, 0], [0.5, 1], (rng.integers(2, 7), 2))]


SHAPES = {
    "triangle": lambda j, rng: [_polygon(3, rot=10 * j[0])],
    "square": lambda j, rng: [line((-0.45, 0), (0.45, 0.02 * j[0]), (0.45, 1), (-0.45, 1), (-0.45, 0))],
    "star": lambda j, rng: _star(j),
    "heart": lambda j, rng: _heart(j),
    "spiral": lambda j, rng: _spiral(j),
    "arrow": lambda j, rng: [line((-0.5, 0.5), (0.5, 0.5)), line((0.2, 0.25 + 0.05 * j[0]), (0.5, 0.5), (0.2, 0.75))],
    "plus": lambda j, rng: [line((-0.45, 0.5 + 0.05 * j[0]), (0.45, 0.5)), line((0.03 * j[1], 0.05), (0, 0.95))],
    "cross": lambda j, rng: [line((-0.4, 0.1), (0.4, 0.9)), line((0.4, 0.1), (-0.4, 0.9))],
    "hash": lambda j, rng: [
        line((-0.15, 0), (-0.2, 1)),
        line((0.2, 0), (0.15, 1)),
        line((-0.45, 0.33), (0.45, 0.33)),
        line((-0.45, 0.67), (0.45, 0.67)),
    ],
    "smiley": lambda j, rng: _smiley(j),
    "zigzag": _zigzag,
    "wave": _wave,
    "scribble": lambda j, rng: _scribble(rng),
    "hatching": lambda j, rng: _hatching(rng, cross=False),
    "crosshatch": lambda j, rng: _hatching(rng, cross=True),
    "dots": lambda j, rng: _dots(rng),
    "percent": lambda j, rng: [
        arc(-0.25, 0.2, 0.13, 0.17, 0, 360),
        line((0.3, 0.02 * j[0]), (-0.3, 1)),
        arc(0.25, 0.8, 0.13, 0.17, 0, 360),
    ],
    "asterisk": lambda j, rng: [
        line(*_polygon(2, 0.5, rot=90 + 10 * j[0])[:2]),
        line(*_polygon(2, 0.5, rot=150 + 10 * j[1])[:2]),
        line(*_polygon(2, 0.5, rot=30 + 10 * j[2])[:2]),
    ],
    "chevron": lambda j, rng: [line((0.3, 0.05), (-0.3 + 0.05 * j[0], 0.5), (0.3, 0.95))],
    "check": lambda j, rng: [line((-0.4, 0.55 + 0.05 * j[0]), (-0.1, 1), (0.45, 0.0 + 0.05 * j[1]))],
    "infinity": lambda j, rng: [
        np.stack([0.5 * np.sin(t), 0.5 + 0.22 * np.sin(2 * t)], axis=1) for t in [np.linspace(0, 2 * np.pi, 80)]
    ],
    "at": lambda j, rng: [
        join(arc(0.05, 0.5, 0.17, 0.2, 0, 360), line((0.22, 0.3), (0.22, 0.65)), arc(0, 0.5, 0.48, 0.5, 30, -300))
    ],
    # Symbols and figures people draw that are not digits (a rounded square and a circle would be 0s).
    "greater": lambda j, rng: [line((-0.3, 0.05), (0.3 + 0.05 * j[0], 0.5), (-0.3, 0.95))],
    "brace": lambda j, rng: [
        join(
            bezier((0.15, 0), (-0.15, 0.02), (0.1, 0.45), (-0.2, 0.5)),
            bezier((-0.2, 0.5), (0.1, 0.55), (-0.15, 0.98), (0.15 + 0.04 * j[0], 1)),
        )
    ],
    "brace_right": lambda j, rng: [
        join(
            bezier((-0.15, 0), (0.15, 0.02), (-0.1, 0.45), (0.2, 0.5)),
            bezier((0.2, 0.5), (-0.1, 0.55), (0.15, 0.98), (-0.15 + 0.04 * j[0], 1)),
        )
    ],
    "dollar": lambda j, rng: [_s_curve(0.1, 0.8), line((0.03 * j[0], 0), (0.03 * j[1], 1))],
    "section": lambda j, rng: [_s_curve(0, 0.62), _s_curve(0.38, 0.62)],
    "tilde": lambda j, rng: [
        np.stack([x, 0.5 - (0.15 + 0.04 * j[0]) * np.sin(2 * np.pi * x)], axis=1) for x in [np.linspace(-0.5, 0.5, 40)]
    ],
    "equals": lambda j, rng: [line((-0.45, 0.3), (0.45, 0.3 + 0.03 * j[0])), line((-0.45, 0.7), (0.45, 0.7))],
    "circle_dot": lambda j, rng: [arc(0, 0.5, 0.5, 0.5, 0, 360), arc(0.03 * j[0], 0.5, 0.08, 0.08, 0, 360, n=12)],
    "circle_cross": lambda j, rng: [
        arc(0, 0.5, 0.5, 0.5, 0, 360),
        line((-0.5, 0.5), (0.5, 0.5)),
        line((0, 0), (0, 1)),
    ],
    "pentagon": lambda j, rng: [_polygon(5, rot=8 * j[0])],
    "hexagon": lambda j, rng: [_polygon(6, rot=8 * j[0])],
    "diamond": lambda j, rng: [_polygon(4, rot=6 * j[0])],
    "rectangle": lambda j, rng: [line((-0.5, 0.3), (0.5, 0.3 + 0.02 * j[0]), (0.5, 0.7), (-0.5, 0.7), (-0.5, 0.3))],
    "eye": lambda j, rng: [
        arc(0, 0.95, 0.6, 0.7, -145, -35),
        arc(0, 0.05, 0.6, 0.7, 35, 145),
        arc(0.05 * j[0], 0.5, 0.1 + 0.03 * j[1], 0.1 + 0.03 * j[1], 0, 360, n=16),
    ],
    "tangle": lambda j, rng: [_tangle(rng)],
    "stipple": lambda j, rng: _stipple(rng),
}
