"""Drawings that are not digits, drawn as the digits are (src.data.strokes): letters and shapes
(src.data.shapes), glyphs of Hershey's fonts (src.data.glyphs), filled blobs and solid shapes. KINDS names them.

    nondigit_mask(kind, rng)              -> the ink coverage as an 'L' image (255 = ink)
    nondigit_mask(kind, rng, varied=True) -> ... with any pen, sometimes hollow or filled (for training)
    preprocessed_nondigits(n, seed)       -> n of them through to_mnist
"""

import math

import numpy as np
from PIL import Image, ImageDraw

from src.data.glyphs import GLYPH_FONTS, GLYPH_FONTS_TUNING, random_glyph
from src.data.preprocess import to_mnist
from src.data.shapes import LETTERS, SHAPES
from src.data.strokes import draw_strokes, mouse_pen, place, varied_pen, wobble

KINDS = tuple(f"letter_{c}" for c in LETTERS) + tuple(SHAPES) + ("glyph", "blob", "blob_hole", "solid")


def nondigit_strokes(kind: str, rng: np.random.Generator, fonts=GLYPH_FONTS) -> list[np.ndarray]:
    """The jittered skeleton of `kind` in the unit box, with the same wobble as digit_strokes ("glyph": one
    from `fonts`)."""
    j = rng.uniform(-1, 1, 8)
    if kind == "glyph":
        strokes = random_glyph(rng, fonts)
    else:
        strokes = LETTERS[kind[7:]](j) if kind.startswith("letter_") else SHAPES[kind](j, rng)
    return wobble(strokes, rng)


def _blob(rng, canvas, ss):
    """A filled, irregular blob (a smudge or a coloured-in area), small to nearly half the canvas across."""
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
    supersample=2,
    varied=False,
    fonts=GLYPH_FONTS,
    **pen,
) -> Image.Image:
    """The ink coverage of one non-digit drawing as an 'L' image (255 = ink), drawn with a mouse_pen (`pen`: its
    height_frac, slant_deg or brush_frac). With `varied`, a varied_pen (as the training digits have, so that no
    pen tells digits apart) and, now and then, the shape drawn hollow (an outlined stroke) or, when closed,
    filled in."""
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
        height_frac, slant_deg, brush_frac = mouse_pen(**(varied_pen(rng) if varied else pen))
        brush = rng.uniform(*brush_frac) * canvas
        strokes = nondigit_strokes(kind, rng, fonts)
        placed = place(strokes, rng, canvas, height_frac, slant_deg, brush)
        look = rng.random() if varied else 1.0
        if look < 0.12 and brush >= 0.02 * canvas:  # hollow: the stroke's outline, as an outline font draws it
            inner = brush - 2 * max(1.5, brush * rng.uniform(0.1, 0.3))
            hollow = np.asarray(draw_strokes(placed, brush, canvas, supersample), np.int16)
            hollow -= np.asarray(draw_strokes(placed, inner, canvas, supersample), np.int16)
            return Image.fromarray(np.clip(hollow, 0, 255).astype(np.uint8))
        img = draw_strokes(placed, brush, canvas, supersample)
        closed = [p for p in placed if len(p) > 3 and np.linalg.norm(p[0] - p[-1]) < 0.1 * np.ptp(p, 0).max()]
        if look > 0.9 and closed:  # a closed shape coloured in
            draw = ImageDraw.Draw(img)
            for p in closed:
                draw.polygon([(float(x), float(y)) for x, y in p], fill=255)
        return img
    return img.reduce(supersample) if supersample > 1 else img


def nondigit_set(n: int, seed: int, canvas=400) -> list[tuple[str, Image.Image]]:
    """n (kind, 'L' mask) pairs cycling through KINDS in order, with drawings from `seed`."""
    rng = np.random.default_rng(seed)
    return [(KINDS[i % len(KINDS)], nondigit_mask(KINDS[i % len(KINDS)], rng, canvas)) for i in range(n)]


def glyph_set(n: int, seed: int, fonts=GLYPH_FONTS_TUNING, canvas=400) -> list[Image.Image]:
    """n glyphs of `fonts` (by default the tuning fonts) drawn with a varied_pen, as 'L' masks (255 = ink)."""
    rng = np.random.default_rng(seed)
    return [nondigit_mask("glyph", rng, canvas, varied=True, fonts=fonts) for _ in range(n)]


def preprocessed_nondigits(n: int, seed: int, canvas=400) -> tuple[np.ndarray, list[str], int]:
    """n non-digit drawings through to_mnist: (images (M, 28, 28), their kinds, how many
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
