"""Drawn digits: each digit has hand-designed skeleton templates in the unit box (see src.data.strokes), a few
variants for common writing styles. A drawing picks a variant, jitters it a little (control points, a smooth
low-frequency wobble, width, slant, round or boxy loops), scales and places it on the canvas and strokes it
with a round brush, like a person drawing with a mouse on the sketchpad.

    render_digit(7, rng)                          -> 800x800 RGBA, black ink on white
    render_digit(7, rng, style="transparent")     -> the strokes layer alone (RGBA, transparent background)
    preprocessed_digits(n, seed)                  -> n of them through to_mnist, with their labels

Personal styles (PERSONAL_STYLES): one consistent way a particular person writes a digit, for the
corrections and fine-tuning tests: style_images("seven_crossbar", n, seed).
"""

import numpy as np
from PIL import Image

from src.data.preprocess import to_mnist
from src.data.strokes import (
    LOOP_POWER,
    arc,
    bezier,
    draw_strokes,
    join,
    line,
    mouse_pen,
    place,
    stylize,
    varied_pen,
    wobble,
)

# A template is a function of a few random numbers (j = rng.uniform(-1, 1, 8)) returning a list of
# strokes, each an (N, 2) array of points. The j's vary proportions so no two drawings are alike.
TEMPLATES = {
    0: [
        lambda j: [arc(0, 0.5, 0.27 + 0.05 * j[0], 0.5, -90 + 10 * j[1], 275 + 15 * j[2])],
        lambda j: [arc(0, 0.5, 0.22 + 0.04 * j[0], 0.5, -100, 260 + 10 * j[2])],  # narrow, drawn anticlockwise-ish
    ],
    1: [
        lambda j: [line((0.05 * j[0], 0), (-0.05 * j[0], 1))],
        lambda j: [line((-0.17 + 0.04 * j[0], 0.2 + 0.05 * j[1]), (0, 0), (0, 1))],  # with a flag
        lambda j: [
            line((-0.3 + 0.05 * j[0], 0.32 + 0.14 * j[1]), (0.04 * j[2], 0), (0.03 * j[3], 1))
        ],  # European: long flag
        lambda j: [
            line((-0.22 + 0.04 * j[0], 0.28 + 0.06 * j[1]), (0, 0), (0, 1)),
            line((-0.24 + 0.04 * j[2], 1), (0.24 + 0.04 * j[3], 1)),
        ],  # with a base
    ],
    2: [
        lambda j: [
            join(
                arc(0, 0.27, 0.27 + 0.04 * j[0], 0.27, 190 + 10 * j[1], 360 + 25),
                bezier((0.25, 0.37), (0.1 + 0.05 * j[2], 0.65), (-0.28, 1.0)),
                line((-0.28, 1.0), (0.3 + 0.05 * j[3], 1.0 + 0.03 * j[4])),
            )
        ],
        lambda j: [
            join(
                arc(0, 0.28, 0.26, 0.28, 200, 375),
                bezier((0.26, 0.35), (0.15, 0.6), (-0.1, 0.8), (-0.3, 1.0)),
                bezier((-0.3, 1.0), (-0.05, 0.92 + 0.03 * j[1]), (0.15, 0.95), (0.32, 1.0)),
            )
        ],
    ],
    3: [
        lambda j: [
            join(
                arc(0, 0.25, 0.24 + 0.03 * j[0], 0.25, -160, 90),
                arc(0, 0.75, 0.28 + 0.03 * j[1], 0.25, -90, 150 + 10 * j[2]),
            )
        ],
        lambda j: [
            join(
                line((-0.22, 0.0), (0.22, 0.0), (-0.05, 0.42)),  # flat-topped 3
                arc(0, 0.71, 0.28, 0.29, -100, 150),
            )
        ],
    ],
    4: [
        lambda j: [
            line((-0.05 + 0.05 * j[0], 0), (-0.3, 0.62 + 0.05 * j[1]), (0.32, 0.62 + 0.05 * j[1])),
            line((0.14 + 0.04 * j[2], 0.25 + 0.08 * j[3]), (0.14 + 0.04 * j[2], 1)),
        ],  # open
        lambda j: [
            line((0.14, 0), (-0.3, 0.65 + 0.05 * j[1]), (0.32, 0.65 + 0.05 * j[1])),
            line((0.14, 0), (0.14 + 0.03 * j[2], 1)),
        ],  # closed
    ],
    5: [
        lambda j: [
            join(line((-0.2, 0.0), (-0.23 + 0.03 * j[0], 0.43)), arc(0.0, 0.7, 0.27 + 0.03 * j[1], 0.3, -145, 150)),
            line((-0.2, 0.0), (0.27 + 0.05 * j[2], 0.02 * j[3])),
        ],
        lambda j: [
            join(
                line((0.27, 0.0), (-0.2, 0.0), (-0.24, 0.45)),  # one stroke: bar first
                arc(0.0, 0.72, 0.27, 0.28, -150, 155),
            )
        ],
    ],
    6: [
        lambda j: [
            join(
                bezier((0.2 + 0.05 * j[0], 0.0), (-0.15, 0.1), (-0.27, 0.45), (-0.26, 0.72)),
                arc(0, 0.72, 0.26 + 0.03 * j[1], 0.27, 180, -160),
            )
        ],
        lambda j: [join(bezier((0.12, 0.0), (-0.28, 0.35), (-0.24, 0.7)), arc(0, 0.75, 0.24, 0.25, 170, -175))],
    ],
    7: [
        lambda j: [line((-0.28, 0.02 * j[0]), (0.28, 0), (-0.05 + 0.08 * j[1], 1))],
        lambda j: [join(line((-0.28, 0.0), (0.28, 0.0)), bezier((0.28, 0.0), (0.05, 0.4), (-0.05 + 0.05 * j[1], 1.0)))],
        lambda j: [
            line((-0.28, 0.03 * j[0]), (0.28, 0), (-0.03 + 0.06 * j[1], 1)),  # European: a crossbar
            line((-0.18 + 0.05 * j[2], 0.52 + 0.05 * j[3]), (0.3 + 0.05 * j[4], 0.5)),
        ],
    ],
    8: [
        lambda j: [arc(0, 0.25, 0.21 + 0.03 * j[0], 0.25, 0, 360), arc(0, 0.74, 0.26 + 0.03 * j[1], 0.26, -90, 270)],
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
            join(arc(0, 0.27, 0.26 + 0.03 * j[0], 0.27, 0, -360), line((0.26, 0.27), (0.22 + 0.06 * j[1], 1)))
        ],  # straight tail
        lambda j: [
            join(arc(0, 0.27, 0.25, 0.27, 10, -350), bezier((0.25, 0.3), (0.25, 0.7), (0.1 + 0.05 * j[1], 1.0)))
        ],  # curved tail
    ],
}


def digit_strokes(digit: int, rng: np.random.Generator, variant: int | None = None) -> list[np.ndarray]:
    """The jittered skeleton of `digit` in the unit box (height ~1, x centred on 0): a list of polylines.
    A third of them have boxy loops, as some people write (and as typeset digits are)."""
    templates = TEMPLATES[digit]
    v = rng.integers(len(templates)) if variant is None else variant % len(templates)
    j = rng.uniform(-1, 1, 8)
    token = LOOP_POWER.set(rng.uniform(2.5, 5) if rng.random() < 0.3 else 2.0)
    try:
        return wobble(templates[v](j), rng)
    finally:
        LOOP_POWER.reset(token)


def render_mask(digit, rng, canvas=800, variant=None, supersample=2, **pen) -> Image.Image:
    """The ink coverage of one drawing as an 'L' image (255 = ink), anti-aliased by supersampling, drawn with a
    mouse_pen (`pen`: its height_frac, slant_deg or brush_frac)."""
    height_frac, slant_deg, brush_frac = mouse_pen(**pen)
    brush = rng.uniform(*brush_frac) * canvas
    strokes = place(digit_strokes(digit, rng, variant), rng, canvas, height_frac, slant_deg, brush)
    return draw_strokes(strokes, brush, canvas, supersample)


def varied_mask(digit, rng, canvas=400) -> Image.Image:
    """render_mask with a varied_pen: a digit drawn as anyone might."""
    return render_mask(digit, rng, canvas, **varied_pen(rng))


def render_digit(digit, rng, canvas=800, style="composite", ink=None, **kw) -> Image.Image:
    """One mouse-like drawing of `digit` (see render_mask for the size/slant/brush options)."""
    return stylize(render_mask(digit, rng, canvas, **kw), style, ink)


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


# Each style: its label and its skeleton(j) in the unit box (height 1, x around 0, y down).
PERSONAL_STYLES = {
    "zero_slash": (
        0,
        lambda j: [
            arc(0, 0.5, 0.28 + 0.04 * j[0], 0.5, -90 + 10 * j[1], 275 + 10 * j[2]),
            line((0.3 + 0.04 * j[3], 0.05), (-0.3 + 0.04 * j[4], 0.95)),
        ],
    ),
    "one_long_flag": (1, lambda j: [line((-0.35 + 0.04 * j[0], 0.45 + 0.05 * j[1]), (0.05, 0), (0.03 * j[2], 1))]),
    "nine_g": (
        9,
        lambda j: [
            join(
                arc(0, 0.27, 0.26 + 0.03 * j[0], 0.27, 0, -360),
                bezier((0.26, 0.3), (0.3, 1.0), (-0.1, 1.05), (-0.3 + 0.04 * j[1], 0.8)),
            )
        ],
    ),
    "two_loop": (
        2,
        lambda j: [
            join(
                arc(0, 0.27, 0.27, 0.27, 190, 360 + 25),
                bezier((0.25, 0.37), (0.1, 0.65), (-0.28, 1.0)),
                arc(-0.2, 0.9, 0.1, 0.1, 90, -270),
                line((-0.2, 1.0), (0.32 + 0.04 * j[3], 1.0)),
            )
        ],
    ),
    "seven_crossbar": (
        7,
        lambda j: [
            line((-0.3, 0.05 * j[0]), (0.3, 0), (-0.02 + 0.05 * j[1], 1)),
            line((-0.2 + 0.04 * j[2], 0.5 + 0.04 * j[3]), (0.3 + 0.04 * j[4], 0.48)),
        ],
    ),
    "one_base": (
        1,
        lambda j: [
            line((-0.28 + 0.04 * j[0], 0.3 + 0.05 * j[1]), (0, 0), (0, 1)),
            line((-0.3 + 0.04 * j[2], 1), (0.3 + 0.04 * j[3], 1)),
        ],
    ),
    "four_hook": (
        4,
        lambda j: [
            join(
                line((-0.1 + 0.05 * j[0], 0), (-0.3, 0.6)), bezier((-0.3, 0.6), (0.0, 0.75), (0.3, 0.3 + 0.05 * j[1]))
            ),
            line((0.2 + 0.04 * j[2], 0.35), (0.15, 1)),
        ],
    ),
}


def style_mask(style: str, rng: np.random.Generator, canvas=800) -> Image.Image:
    """One drawing of a personal `style` as an 'L' image (255 = ink), drawn without supersampling."""
    j = rng.uniform(-1, 1, 8)
    wobbly = wobble(PERSONAL_STYLES[style][1](j), rng)
    height_frac, slant_deg, brush_frac = mouse_pen()
    brush = rng.uniform(*brush_frac) * canvas
    return draw_strokes(place(wobbly, rng, canvas, height_frac, slant_deg, brush), brush, canvas, 1)


def style_images(style: str, n: int, seed: int, canvas=400) -> tuple[np.ndarray, np.ndarray]:
    """n preprocessed drawings of `style` and their labels."""
    rng = np.random.default_rng(seed)
    images = [to_mnist(np.asarray(style_mask(style, rng, canvas), np.float32) / 255) for _ in range(n)]
    images = np.array([a for a in images if a is not None], np.float32)
    return images, np.full(len(images), PERSONAL_STYLES[style][0])
