"""Drawings only the tests use, made with the package's synthetic drawings (src.data.digits, src.data.nondigits)."""

import numpy as np
from PIL import Image

from src.data.digits import render_mask
from src.data.nondigits import nondigit_mask
from src.data.strokes import stylize


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


def render_nondigit(
    kind: str | None, rng: np.random.Generator, canvas=800, style="composite", ink=None, **kw
) -> Image.Image:
    """One mouse-like drawing of a non-digit (`kind` from KINDS, or None for a random one)."""
    return stylize(nondigit_mask(kind, rng, canvas, **kw), style, ink)


def mouse_strokes(page, canvas, strokes, steps=5):
    """Mouse strokes on a Playwright `canvas` locator, in unit coordinates of its box."""
    box = canvas.bounding_box()
    for stroke in strokes:
        page.mouse.move(box["x"] + stroke[0][0] * box["width"], box["y"] + stroke[0][1] * box["height"])
        page.mouse.down()
        for u, v in stroke[1:]:
            page.mouse.move(box["x"] + u * box["width"], box["y"] + v * box["height"], steps=steps)
        page.mouse.up()
