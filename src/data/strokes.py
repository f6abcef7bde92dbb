"""Drawing like a hand with a mouse: skeletons of polylines, arcs and Bezier curves in a unit box (height 1,
x around 0, y pointing down), a hand's wobble, placing them on a canvas and stroking them with a round brush.

    place(strokes, rng, canvas, height_frac, slant_deg, brush)  -> the strokes in pixels, inside the canvas
    draw_strokes(placed, brush, canvas, supersample)            -> the ink coverage as an 'L' image (255 = ink)
    stylize(mask, "dark")                                       -> painted as in one of STYLES
"""

import contextvars
import io
import math

import numpy as np
from PIL import Image, ImageDraw

DARK_BACKGROUND = (0x33, 0x33, 0x33)
STYLES = ("composite", "dark", "transparent", "white_on_black")

# The exponent of arc's superellipse: 2 draws an ellipse, more a boxier loop. digit_strokes sets it for
# each digit it draws (a context variable: each thread drawing has its own).
LOOP_POWER = contextvars.ContextVar("loop_power", default=2.0)


def arc(cx, cy, rx, ry, t0, t1, n=None):
    """Points on an ellipse (a superellipse: LOOP_POWER) from angle t0 to t1 in degrees (0 = right, 90 = down:
    y points down)."""
    n = n or max(8, int(abs(t1 - t0) / 8))
    t = np.radians(np.linspace(t0, t1, n))
    c, s, e = np.cos(t), np.sin(t), 2 / LOOP_POWER.get()
    return np.stack([cx + rx * np.sign(c) * np.abs(c) ** e, cy + ry * np.sign(s) * np.abs(s) ** e], axis=1)


def bezier(*ctrl, n=24):
    """A quadratic or cubic Bezier curve through control points (x, y)."""
    p = np.array(ctrl, dtype=float)
    t = np.linspace(0, 1, n)[:, None]
    if len(p) == 3:
        return (1 - t) ** 2 * p[0] + 2 * (1 - t) * t * p[1] + t**2 * p[2]
    return (1 - t) ** 3 * p[0] + 3 * (1 - t) ** 2 * t * p[1] + 3 * (1 - t) * t**2 * p[2] + t**3 * p[3]


def line(*pts, n=12):
    """A polyline through pts, resampled so every segment has n points (so the wobble can bend it)."""
    pts = np.array(pts, dtype=float)
    out = [np.linspace(a, b, n, endpoint=False) for a, b in zip(pts[:-1], pts[1:])]
    return np.concatenate(out + [pts[-1:]])


def join(*parts):
    """Pieces drawn one after the other as a single stroke."""
    return np.concatenate(parts)


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


def place(strokes, rng, canvas, height_frac, slant_deg, brush):
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


def draw_strokes(strokes, brush, canvas, supersample) -> Image.Image:
    """Placed strokes drawn with a round brush as an 'L' image (255 = ink), anti-aliased by supersampling."""
    img = Image.new("L", (canvas * supersample, canvas * supersample), 0)
    draw = ImageDraw.Draw(img)
    for s in strokes:
        _stroke(draw, s, brush, 255, supersample)
    return img.reduce(supersample) if supersample > 1 else img


def mouse_pen(height_frac=(0.30, 0.85), slant_deg=10, brush_frac=(0.025, 0.07)) -> tuple:
    """A mouse on the sketchpad, with any of its options given in their place: the drawing's height and the
    brush's width (ranges, as shares of the canvas) and the slant (up to that many degrees either way)."""
    return height_frac, slant_deg, brush_frac


def varied_pen(rng) -> dict:
    """The whole range people draw with, as mouse_pen's options: hairline to fat marker pens (log-uniform,
    never wider than a fifth of the drawing's height), most slanted up to 40 degrees either way and the rest
    nearly upright (up to 10), large or small."""
    height = rng.uniform(0.2, 0.85)
    brush = min(math.exp(rng.uniform(math.log(0.003), math.log(0.12))), 0.2 * height)
    return dict(height_frac=(height, height), brush_frac=(brush, brush), slant_deg=40 if rng.random() < 0.7 else 10)


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


def png_bytes(img: Image.Image, **save_options) -> bytes:
    """An image as the bytes of a PNG file (as an upload would send it)."""
    buf = io.BytesIO()
    img.save(buf, "PNG", **save_options)
    return buf.getvalue()
