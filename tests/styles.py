"""Personal writing styles the default model was not trained on, for the corrections / fine-tuning tests.

    style_images("seven_crossbar", n, seed) -> (n, 28, 28) float [0, 1] preprocessed drawings (label STYLES[...][0])

Each style is one consistent way a particular person writes a digit, drawn like tests/drawings.py
(jittered skeleton, wobble, slant, round brush on an 800x800 canvas) and put through src.preprocess.
"""

import numpy as np
from PIL import Image, ImageDraw

from tests.drawings import _arc, _bezier, _join, _line, _place, _stroke, wobble

STYLES = {
    "zero_slash": (0, lambda j: [_arc(0, 0.5, 0.28 + 0.04 * j[0], 0.5, -90 + 10 * j[1], 275 + 10 * j[2]),
                                 _line((0.3 + 0.04 * j[3], 0.05), (-0.3 + 0.04 * j[4], 0.95))]),
    "one_long_flag": (1, lambda j: [_line((-0.35 + 0.04 * j[0], 0.45 + 0.05 * j[1]), (0.05, 0), (0.03 * j[2], 1))]),
    "nine_g": (9, lambda j: [_join(_arc(0, 0.27, 0.26 + 0.03 * j[0], 0.27, 0, -360),
                                   _bezier((0.26, 0.3), (0.3, 1.0), (-0.1, 1.05), (-0.3 + 0.04 * j[1], 0.8)))]),
    "two_loop": (2, lambda j: [_join(_arc(0, 0.27, 0.27, 0.27, 190, 360 + 25),
                                     _bezier((0.25, 0.37), (0.1, 0.65), (-0.28, 1.0)),
                                     _arc(-0.2, 0.9, 0.1, 0.1, 90, -270),
                                     _line((-0.2, 1.0), (0.32 + 0.04 * j[3], 1.0)))]),
    # label, skeleton(j) in the unit box (height 1, x around 0, y down)
    "seven_crossbar": (7, lambda j: [_line((-0.3, 0.05 * j[0]), (0.3, 0), (-0.02 + 0.05 * j[1], 1)),
                                     _line((-0.2 + 0.04 * j[2], 0.5 + 0.04 * j[3]), (0.3 + 0.04 * j[4], 0.48))]),
    "one_base": (1, lambda j: [_line((-0.28 + 0.04 * j[0], 0.3 + 0.05 * j[1]), (0, 0), (0, 1)),
                               _line((-0.3 + 0.04 * j[2], 1), (0.3 + 0.04 * j[3], 1))]),
    "four_hook": (4, lambda j: [_join(_line((-0.1 + 0.05 * j[0], 0), (-0.3, 0.6)),
                                      _bezier((-0.3, 0.6), (0.0, 0.75), (0.3, 0.3 + 0.05 * j[1]))),
                                _line((0.2 + 0.04 * j[2], 0.35), (0.15, 1))]),
}


def style_mask(style: str, rng: np.random.Generator, canvas=800) -> Image.Image:
    j = rng.uniform(-1, 1, 8)
    wobbly = wobble(STYLES[style][1](j), rng)
    brush = rng.uniform(0.025, 0.07) * canvas
    img = Image.new("L", (canvas, canvas), 0)
    draw = ImageDraw.Draw(img)
    for s in _place(wobbly, rng, canvas, (0.3, 0.85), 10, brush):
        _stroke(draw, s, brush, 255, 1)
    return img


def style_images(style: str, n: int, seed: int, canvas=400) -> tuple[np.ndarray, np.ndarray]:
    """n preprocessed drawings of `style` and their labels."""
    from src.preprocess import to_mnist

    rng = np.random.default_rng(seed)
    images = [to_mnist(np.asarray(style_mask(style, rng, canvas), np.float32) / 255) for _ in range(n)]
    images = np.array([a for a in images if a is not None], np.float32)
    return images, np.full(len(images), STYLES[style][0])
