"""Synthetic mouse drawings of digits, for tests and benchmarks (no test framework needed).

Each digit has hand-designed skeleton templates (polylines, arcs, Bezier curves) in a box of height 1
with x around 0, y pointing down, a few variants for common writing styles. A drawing picks a variant,
jitters it a little (control points, a smooth low-frequency wobble, width, slant), scales and places it
on the canvas and strokes it with a round brush, like a person drawing with a mouse on the sketchpad.

    render_digit(7, rng)                          -> 800x800 RGBA, black ink on white
    render_digit(7, rng, style="transparent")     -> the strokes layer alone (RGBA, transparent background)
    sketchpad_value(strokes, theme="dark")        -> a Gradio-6-like {"background", "layers", "composite"}
"""

import math

import numpy as np
from PIL import Image, ImageDraw

DARK_BACKGROUND = (0x33, 0x33, 0x33)
STYLES = ("composite", "dark", "transparent", "white_on_black")


# ------------------------------------------------------------------------------------------ geometry
def _arc(cx, cy, rx, ry, t0, t1, n=None):
    """Points on an ellipse from angle t0 to t1 in degrees (0 = right, 90 = down: y points down)."""
    n = n or max(8, int(abs(t1 - t0) / 8))
    t = np.radians(np.linspace(t0, t1, n))
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _bezier(*ctrl, n=24):
    """A quadratic or cubic Bezier curve through control points (x, y)."""
    p = np.array(ctrl, dtype=float)
    t = np.linspace(0, 1, n)[:, None]
    if len(p) == 3:
        return (1 - t) ** 2 * p[0] + 2 * (1 - t) * t * p[1] + t ** 2 * p[2]
    return (1 - t) ** 3 * p[0] + 3 * (1 - t) ** 2 * t * p[1] + 3 * (1 - t) * t ** 2 * p[2] + t ** 3 * p[3]


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
    ],
    2: [
        lambda j: [_join(_arc(0, 0.27, 0.27 + 0.04 * j[0], 0.27, 190 + 10 * j[1], 360 + 25),
                         _bezier((0.25, 0.37), (0.1 + 0.05 * j[2], 0.65), (-0.28, 1.0)),
                         _line((-0.28, 1.0), (0.3 + 0.05 * j[3], 1.0 + 0.03 * j[4])))],
        lambda j: [_join(_arc(0, 0.28, 0.26, 0.28, 200, 375),
                         _bezier((0.26, 0.35), (0.15, 0.6), (-0.1, 0.8), (-0.3, 1.0)),
                         _bezier((-0.3, 1.0), (-0.05, 0.92 + 0.03 * j[1]), (0.15, 0.95), (0.32, 1.0)))],
    ],
    3: [
        lambda j: [_join(_arc(0, 0.25, 0.24 + 0.03 * j[0], 0.25, -160, 90),
                         _arc(0, 0.75, 0.28 + 0.03 * j[1], 0.25, -90, 150 + 10 * j[2]))],
        lambda j: [_join(_line((-0.22, 0.0), (0.22, 0.0), (-0.05, 0.42)),  # flat-topped 3
                         _arc(0, 0.71, 0.28, 0.29, -100, 150))],
    ],
    4: [
        lambda j: [_line((-0.05 + 0.05 * j[0], 0), (-0.3, 0.62 + 0.05 * j[1]), (0.32, 0.62 + 0.05 * j[1])),
                   _line((0.14 + 0.04 * j[2], 0.25 + 0.08 * j[3]), (0.14 + 0.04 * j[2], 1))],  # open
        lambda j: [_line((0.14, 0), (-0.3, 0.65 + 0.05 * j[1]), (0.32, 0.65 + 0.05 * j[1])),
                   _line((0.14, 0), (0.14 + 0.03 * j[2], 1))],  # closed
    ],
    5: [
        lambda j: [_join(_line((-0.2, 0.0), (-0.23 + 0.03 * j[0], 0.43)),
                         _arc(0.0, 0.7, 0.27 + 0.03 * j[1], 0.3, -145, 150)),
                   _line((-0.2, 0.0), (0.27 + 0.05 * j[2], 0.02 * j[3]))],
        lambda j: [_join(_line((0.27, 0.0), (-0.2, 0.0), (-0.24, 0.45)),  # one stroke: bar first
                         _arc(0.0, 0.72, 0.27, 0.28, -150, 155))],
    ],
    6: [
        lambda j: [_join(_bezier((0.2 + 0.05 * j[0], 0.0), (-0.15, 0.1), (-0.27, 0.45), (-0.26, 0.72)),
                         _arc(0, 0.72, 0.26 + 0.03 * j[1], 0.27, 180, -160))],
        lambda j: [_join(_bezier((0.12, 0.0), (-0.28, 0.35), (-0.24, 0.7)),
                         _arc(0, 0.75, 0.24, 0.25, 170, -175))],
    ],
    7: [
        lambda j: [_line((-0.28, 0.02 * j[0]), (0.28, 0), (-0.05 + 0.08 * j[1], 1))],
        lambda j: [_join(_line((-0.28, 0.0), (0.28, 0.0)),
                         _bezier((0.28, 0.0), (0.05, 0.4), (-0.05 + 0.05 * j[1], 1.0)))],
    ],
    8: [
        lambda j: [_arc(0, 0.25, 0.21 + 0.03 * j[0], 0.25, 0, 360), _arc(0, 0.74, 0.26 + 0.03 * j[1], 0.26, -90, 270)],
        lambda j: [(lambda t: np.stack([(0.26 + 0.03 * j[0]) * np.sin(2 * t) * (1 + 0.12 * np.cos(t)),
                                        0.5 - 0.5 * np.cos(t)], axis=1))(np.linspace(0, 2 * np.pi, 72))],
    ],
    9: [
        lambda j: [_join(_arc(0, 0.27, 0.26 + 0.03 * j[0], 0.27, 0, -360),
                         _line((0.26, 0.27), (0.22 + 0.06 * j[1], 1)))],  # straight tail
        lambda j: [_join(_arc(0, 0.27, 0.25, 0.27, 10, -350),
                         _bezier((0.25, 0.3), (0.25, 0.7), (0.1 + 0.05 * j[1], 1.0)))],  # curved tail
    ],
}


def digit_strokes(digit: int, rng: np.random.Generator, variant: int | None = None) -> list[np.ndarray]:
    """The jittered skeleton of `digit` in the unit box (height ~1, x centred on 0): a list of polylines."""
    templates = TEMPLATES[digit]
    v = rng.integers(len(templates)) if variant is None else variant % len(templates)
    return wobble(templates[v](rng.uniform(-1, 1, 8)), rng)


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


def render_mask(digit, rng, canvas=800, height_frac=(0.30, 0.85), slant_deg=10, brush_frac=(0.025, 0.07),
                variant=None, supersample=2) -> Image.Image:
    """The ink coverage of one drawing as an 'L' image (255 = ink), anti-aliased by supersampling."""
    brush = rng.uniform(*brush_frac) * canvas
    strokes = _place(digit_strokes(digit, rng, variant), rng, canvas, height_frac, slant_deg, brush)
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


def sketchpad_value(strokes: Image.Image, theme="light") -> dict:
    """A Gradio-6-like Sketchpad value from an RGBA strokes layer (transparent where nothing is drawn)."""
    strokes = strokes.convert("RGBA")
    colour = (255, 255, 255) if theme == "light" else DARK_BACKGROUND
    background = Image.new("RGBA", strokes.size, (*colour, 255))
    return {"background": background, "layers": [strokes], "composite": Image.alpha_composite(background, strokes)}
