"""Held-out drawings for honest reports: non-digits (how well "not a digit" is detected) and hand-drawn
digits (how well drawn digits are read), on data never trained or tuned on.

heldout_nondigit(s): independent of src/data/nondigits.py (the non-digits the network is trained and tuned on): it
renders TrueType glyphs and PIL primitives instead of hand-made skeletons. Kinds (KINDS): letter
(non-digit-like letters in DejaVu/Liberation fonts), symbol (@ & % ...), shape (outlined geometry),
scribble (momentum random walks), hatching (parallel and crossed lines), blob (filled shapes).

heldout_digit(s): independent of src/data/digits.py (the drawn digits training and tuning use): each digit is a few
strokes through jittered key points smoothed by centripetal Catmull-Rom splines, with one writer's habits
per drawing (width, roundness, slant, shakiness, stroke ends running over or stopping short, pen
pressure) and several styles per digit (open/closed 4, 7 with or without a bar, 1 with or without flag
and base, 2 with a corner, a curve or a loop, round or flat-topped 3, one- or two-stroke 5 and 8, ...).
Pens: "hairline" (0.3%-0.7% of the canvas), "thin" (0.8%-2.5%), "marker" (5%-10%) and "thick" (10%-14%).
Harder kinds (HARD_KINDS): strongly slanted digits, European 1s and 7s, open and closed 4s, and digits drawn
small in a corner. heldout_numbers: 2-4 of these digits side by side.

Use both for reporting only; never to train, tune thresholds or pick methods. Images are 'L', 255 = ink on 0.

    python -m bench.heldout digits|nondigits [--n 10] [--seed 0] [--pen thin] [--kind slanted] [--save FOLDER]

draws a set, prints each drawing's ink and how much of the one before's ink it holds, and whether the same
seed draws the same images again in the same process; --save writes them as PNG files to look at.
"""

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

KINDS = ("letter", "symbol", "shape", "scribble", "hatching", "blob")
LETTERS = "AEFHKMNRWXYVPUkmwxhnreafy"
SYMBOLS = "@&%*?=~+<>{}^$€£¥§¶∞♥☺✓→"  # ! [ ] left out: alone they read as a 1
_FONT_DIR = Path("/usr/share/fonts/truetype")
_FONT_NAMES = (
    "dejavu/DejaVuSans.ttf",
    "dejavu/DejaVuSans-Bold.ttf",
    "dejavu/DejaVuSans-ExtraLight.ttf",
    "dejavu/DejaVuSans-Oblique.ttf",
    "dejavu/DejaVuSansCondensed-Bold.ttf",
    "dejavu/DejaVuSerif.ttf",
    "dejavu/DejaVuSerif-Bold.ttf",
    "dejavu/DejaVuSerif-Italic.ttf",
    "dejavu/DejaVuSansMono.ttf",
    "dejavu/DejaVuSansMono-Bold.ttf",
    "liberation/LiberationSans-Regular.ttf",
    "liberation/LiberationSans-Bold.ttf",
    "liberation/LiberationSerif-Regular.ttf",
    "liberation/LiberationSerif-Bold.ttf",
    "liberation/LiberationSerif-Italic.ttf",
)
FONTS = tuple(str(_FONT_DIR / n) for n in _FONT_NAMES if (_FONT_DIR / n).exists())


def _blank(S):
    """A new, empty S x S ink layer and a pen on it (new every time: each drawing on its own canvas)."""
    layer = Image.new("L", (S, S), 0)
    return layer, ImageDraw.Draw(layer)


def _has_glyph(font_path, ch):
    """True when the font draws `ch` as something other than nothing or its 'missing glyph' box."""
    font = ImageFont.truetype(font_path, 64)
    mask, missing = font.getmask(ch), font.getmask("\U000ffffd")
    if mask.getbbox() is None:
        return False
    return not (mask.size == missing.size and bytes(mask) == bytes(missing))


def _place(layer, rng, size, margin=0.03):
    """Crop `layer` to its ink, shrink it if it would not fit, paste it at a random spot of a size x size canvas."""
    ink = layer.crop(layer.getbbox())
    room = int(size * (1 - 2 * margin))
    scale = min(1.0, room / ink.width, room / ink.height)
    if scale < 1.0:
        ink = ink.resize((max(1, int(ink.width * scale)), max(1, int(ink.height * scale))), Image.LANCZOS)
    lo, out = int(size * margin), Image.new("L", (size, size), 0)
    out.paste(
        ink, (int(rng.integers(lo, size - lo - ink.width + 1)), int(rng.integers(lo, size - lo - ink.height + 1)))
    )
    return out


def _glyph(chars, rng, S):
    """One font-rendered character, rotated by up to 15 degrees; plain, thickened or outline-only."""
    fonts = [f for f in FONTS if any(_has_glyph(f, c) for c in chars)]
    path = fonts[rng.integers(len(fonts))]
    usable = [c for c in chars if _has_glyph(path, c)]
    ch = usable[rng.integers(len(usable))]
    target = S * rng.uniform(0.35, 0.85)  # height of the ink, not of the font's em box
    ink_h = ImageFont.truetype(path, 200).getmask(ch).getbbox()
    font = ImageFont.truetype(path, max(8, int(200 * target / (ink_h[3] - ink_h[1]))))
    style = rng.choice(["plain", "plain", "bold", "outline"])  # outline: a stroke around a glyph filled with 0
    stroke = {"plain": 0, "bold": S * rng.uniform(0.01, 0.03), "outline": S * rng.uniform(0.006, 0.015)}[style]
    layer = Image.new("L", (3 * S, 3 * S), 0)
    ImageDraw.Draw(layer).text(
        (1.5 * S, 1.5 * S),
        ch,
        fill=0 if style == "outline" else 255,
        font=font,
        anchor="mm",
        stroke_width=int(stroke),
        stroke_fill=255,
    )
    return layer.crop(layer.getbbox()).rotate(rng.uniform(-15, 15), resample=Image.BICUBIC, expand=True)


def _star(cx, cy, r_out, r_in, points, turn):
    angles = turn + np.arange(2 * points) * math.pi / points
    radii = np.where(np.arange(2 * points) % 2 == 0, r_out, r_in)
    return [(cx + r * math.cos(a), cy + r * math.sin(a)) for r, a in zip(radii, angles)]


def _shape(rng, S):
    """An outlined geometric figure; rings always come with something inside so they are not a zero."""
    layer = Image.new("L", (2 * S, 2 * S), 0)
    draw = ImageDraw.Draw(layer)
    r = S * rng.uniform(0.18, 0.42)
    w = max(2, int(min(S * rng.uniform(0.01, 0.08), 0.15 * r)))
    c, turn = S, rng.uniform(0, 2 * math.pi)
    kind = rng.choice(
        ["rect", "rounded", "polygon", "star", "rings", "target", "crossed", "eye", "rainbow", "crescent"]
    )
    if kind in ("rect", "rounded"):  # wider than tall; sharp ones get diagonals half of the time
        h = r * rng.uniform(0.5, 1.0)
        box = (c - r, c - h, c + r, c + h)
        if kind == "rect":
            draw.rectangle(box, outline=255, width=w)
        else:
            draw.rounded_rectangle(box, radius=h * rng.uniform(0.2, 0.6), outline=255, width=w)
        if kind == "rect" and rng.random() < 0.5:
            draw.line([(c - r, c - h), (c + r, c + h)], fill=255, width=w)
            draw.line([(c - r, c + h), (c + r, c - h)], fill=255, width=w)
    elif kind == "polygon":  # 3-8 sides; 6 and more get an inner rotated copy
        sides = int(rng.integers(3, 9))
        draw.regular_polygon((c, c, r), sides, rotation=math.degrees(turn), outline=255, width=w)
        if sides >= 6:
            draw.regular_polygon(
                (c, c, r * 0.5), sides, rotation=math.degrees(turn) + 180 / sides, outline=255, width=w
            )
    elif kind == "star":
        pts = _star(c, c, r, r * rng.uniform(0.4, 0.55), int(rng.integers(4, 9)), turn)
        draw.line(pts + pts[:2], fill=255, width=w, joint="curve")
    elif kind == "rings":  # three concentric circles with visible gaps
        for k in range(3):
            rk = r * (1 - k * 0.33)
            draw.ellipse((c - rk, c - rk, c + rk, c + rk), outline=255, width=min(w, max(2, int(0.09 * r))))
    elif kind == "target":  # circle with a filled dot in the middle
        d = max(r * rng.uniform(0.18, 0.3), w)
        draw.ellipse((c - r, c - r, c + r, c + r), outline=255, width=w)
        draw.ellipse((c - d, c - d, c + d, c + d), fill=255)
    elif kind == "crossed":  # circle with a + or x through it
        draw.ellipse((c - r, c - r, c + r, c + r), outline=255, width=w)
        for a in (turn, turn + math.pi / 2):
            dx, dy = r * math.cos(a), r * math.sin(a)
            draw.line([(c - dx, c - dy), (c + dx, c + dy)], fill=255, width=w)
    elif kind == "eye":  # almond of two arcs with an iris
        h = r * 0.55
        rad = (r * r + h * h) / (2 * h)
        half = math.degrees(math.asin(r / rad))
        draw.arc((c - rad, c + h - 2 * rad, c + rad, c + h), 90 - half, 90 + half, fill=255, width=w)
        draw.arc((c - rad, c - h, c + rad, c - h + 2 * rad), 270 - half, 270 + half, fill=255, width=w)
        d = h * 0.6
        draw.ellipse((c - d, c - d, c + d, c + d), fill=255 if rng.random() < 0.5 else None, outline=255, width=w)
    elif kind == "rainbow":  # nested open arcs
        start = math.degrees(turn)
        for k in range(3):
            rk = r * (1 - k * 0.25)
            draw.arc((c - rk, c - rk, c + rk, c + rk), start, start + 180, fill=255, width=w)
    else:  # crescent: a big arc and a shifted smaller one, meeting at the horns
        s, r2, t = 0.45 * r, 0.9 * r, math.degrees(turn)
        x = (r * r - r2 * r2 + s * s) / (2 * s)
        y = math.sqrt(r * r - x * x)
        a1, a2 = math.degrees(math.atan2(y, x)), math.degrees(math.atan2(y, x - s))
        draw.arc((c - r, c - r, c + r, c + r), t + a1, t + 360 - a1, fill=255, width=w)
        sx, sy = c + s * math.cos(turn), c + s * math.sin(turn)
        draw.arc((sx - r2, sy - r2, sx + r2, sy + r2), t + a2, t + 360 - a2, fill=255, width=w)
    return layer


def _scribble(rng, S):
    """1-3 pen paths whose heading turns with momentum, pulled back into a region when they leave it."""
    layer, draw = _blank(S)
    half = S * rng.uniform(0.2, 0.4)
    w = max(2, int(S * rng.uniform(0.01, 0.07)))
    for _ in range(int(rng.integers(1, 4))):
        p = np.array([S / 2, S / 2]) + rng.uniform(-half, half, 2)
        heading, spin = rng.uniform(0, 2 * math.pi), 0.0
        pts = [tuple(p)]
        for _ in range(int(rng.integers(200, 400))):
            spin = 0.85 * spin + rng.normal(0, 0.12)
            to_centre = np.array([S / 2, S / 2]) - p
            if np.abs(to_centre).max() > half:  # steer back toward the middle
                target = math.atan2(to_centre[1], to_centre[0])
                heading += 0.3 * math.atan2(math.sin(target - heading), math.cos(target - heading))
            heading += spin
            p = p + S * 0.02 * np.array([math.cos(heading), math.sin(heading)])
            pts.append(tuple(p))
        draw.line(pts, fill=255, width=w, joint="curve")
        for x, y in (pts[0], pts[-1]):
            draw.ellipse((x - w / 2, y - w / 2, x + w / 2, y + w / 2), fill=255)
    return layer


def _hatching(rng, S):
    """5-12 parallel lines at a random angle (and half the time a second, crossing set), clipped to a region."""
    lines, draw = _blank(S)
    rw, rh = S * rng.uniform(0.3, 0.8), S * rng.uniform(0.3, 0.8)
    n = int(rng.integers(5, 13))
    gap = min(rw, rh) / (n + 1)
    w = max(2, int(min(gap * 0.5, S * rng.uniform(0.008, 0.03))))
    base = rng.uniform(0, math.pi)
    for angle in [base] + ([base + rng.uniform(math.pi / 4, 3 * math.pi / 4)] if rng.random() < 0.5 else []):
        d, e = np.array([math.cos(angle), math.sin(angle)]), np.array([-math.sin(angle), math.cos(angle)])
        for k in np.arange(n) - (n - 1) / 2:
            mid = np.array([S / 2, S / 2]) + k * gap * e
            draw.line([tuple(mid - S * d), tuple(mid + S * d)], fill=255, width=w)
    region = Image.new("L", (S, S), 0)
    box = (S / 2 - rw / 2, S / 2 - rh / 2, S / 2 + rw / 2, S / 2 + rh / 2)
    (ImageDraw.Draw(region).rectangle if rng.random() < 0.5 else ImageDraw.Draw(region).ellipse)(box, fill=255)
    return Image.composite(lines, region, region)


def _blob(rng, S):
    """A filled shape 15-60% of the canvas across: ellipse, irregular polygon, rectangle, dots, or a holed slab."""
    layer, draw = _blank(S)
    kind = rng.choice(["ellipse", "polygon", "rect", "dots", "holed"])
    r, c = S * rng.uniform(0.15 if kind == "holed" else 0.09, 0.3), S / 2
    if kind == "ellipse":
        h = r * rng.uniform(0.4, 1.0)
        draw.ellipse((c - r, c - h, c + r, c + h), fill=255)
    elif kind in ("polygon", "holed"):
        m = int(rng.integers(5, 11))
        angles = rng.uniform(0, 2 * math.pi) + (np.arange(m) + rng.uniform(-0.3, 0.3, m)) * 2 * math.pi / m
        radii = r * rng.uniform(0.7, 1.0, m)
        draw.polygon([(c + q * math.cos(a), c + q * 0.75 * math.sin(a)) for q, a in zip(radii, angles)], fill=255)
        if kind == "holed":  # an off-centre triangle or square cut out
            hx, hy = c + rng.uniform(-0.2, 0.2) * r, c + rng.uniform(-0.15, 0.15) * r
            draw.regular_polygon((hx, hy, r * 0.3), int(rng.integers(3, 5)), rotation=rng.uniform(0, 360), fill=0)
    elif kind == "rect":
        a, b, t = r, r * rng.uniform(0.55, 1.0), rng.uniform(0, math.pi)  # half sides and a tilt
        corners = [(sx * a, sy * b) for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
        draw.polygon(
            [(c + x * math.cos(t) - y * math.sin(t), c + x * math.sin(t) + y * math.cos(t)) for x, y in corners],
            fill=255,
        )
    else:
        dots, spread = [], max(r, 0.2 * S)  # 3-9 dots kept apart, so two of them never make an 8
        for _ in range(int(rng.integers(3, 10))):
            for _ in range(30):
                x, y, d = (
                    c + rng.uniform(-spread, spread),
                    c + rng.uniform(-spread, spread),
                    S * rng.uniform(0.02, 0.06),
                )
                if all(math.hypot(x - x2, y - y2) > 1.5 * (d + d2) for x2, y2, d2 in dots):
                    dots.append((x, y, d))
                    draw.ellipse((x - d, y - d, x + d, y + d), fill=255)
                    break
    return layer


def heldout_nondigit(kind, rng, canvas=400):
    """One held-out non-digit drawing of `kind` (a KINDS name) as a canvas x canvas 'L' image, 255 = ink."""
    S = 2 * canvas  # drawn at twice the size, then reduced: anti-aliased edges
    draw = {
        "letter": lambda: _glyph(LETTERS, rng, S),
        "symbol": lambda: _glyph(SYMBOLS, rng, S),
        "shape": lambda: _shape(rng, S),
        "scribble": lambda: _scribble(rng, S),
        "hatching": lambda: _hatching(rng, S),
        "blob": lambda: _blob(rng, S),
    }
    if kind not in draw:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    layer = draw[kind]()
    return _place(layer, rng, S).reduce(2)


def heldout_nondigits(n, seed, canvas=400):
    """n drawings as (kind, image), cycling through KINDS in order, all drawn from np.random.default_rng(seed)."""
    rng = np.random.default_rng(seed)
    return [(KINDS[i % len(KINDS)], heldout_nondigit(KINDS[i % len(KINDS)], rng, canvas)) for i in range(n)]


# ------------------------------------------------------------------------------------------ held-out digits
# Each digit is one to three strokes; a stroke is a chain of pieces, each piece a few key points that a
# centripetal Catmull-Rom spline passes through (pieces meet at sharp corners). A _Hand holds one writer's
# habits for one drawing: proportions, roundness of loops, shakiness of the key points, how far strokes run
# past or stop short of their ends, and pen pressure. Key point coordinates: height 1, y down, x about 0.
PENS = {
    "hairline": (0.003, 0.007),
    "thin": (0.008, 0.025),
    "marker": (0.05, 0.10),
    "thick": (0.10, 0.14),
}  # stroke width / canvas
# Kinds of drawing that read worst in others' tests, each a row of bench/recognition.py: what they draw.
HARD_KINDS = {
    "slanted": "slanted 25-40 degrees either way",
    "european": "European 1s and 7s (a long flag; a crossbar)",
    "fours": "open and closed 4s",
    "small": "10-20% of the canvas high, in a corner",
}
DIGITS_OF = {"european": (1, 7), "fours": (4,)}  # the digits a kind draws; the others draw all ten
MAX_PEN_TO_HEIGHT = 0.16  # a fat marker only writes digits big enough for their loops to stay open (the
# thick pen's widest reach 0.165: the height stops at 85% of the canvas)


def _catmull_rom(keys, n=24):
    """Dense points of the centripetal Catmull-Rom spline through `keys` (k x 2), ends extended straight."""
    p = np.asarray(keys, dtype=float)
    keep = np.r_[True, np.linalg.norm(np.diff(p, axis=0), axis=1) > 1e-9]
    p = p[keep]
    if len(p) < 2:
        return p
    if len(p) == 2:
        return np.linspace(p[0], p[1], n + 1)
    ext = np.vstack([2 * p[0] - p[1], p, 2 * p[-1] - p[-2]])
    t = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(ext, axis=0), axis=1) ** 0.5 + 1e-9)])
    out = []
    for i in range(1, len(ext) - 2):
        p0, p1, p2, p3 = ext[i - 1 : i + 3]
        t0, t1, t2, t3 = t[i - 1 : i + 3]
        s = np.linspace(t1, t2, n, endpoint=False)[:, None]
        a1 = ((t1 - s) * p0 + (s - t0) * p1) / (t1 - t0)
        a2 = ((t2 - s) * p1 + (s - t1) * p2) / (t2 - t1)
        a3 = ((t3 - s) * p2 + (s - t2) * p3) / (t3 - t2)
        b1 = ((t2 - s) * a1 + (s - t0) * a2) / (t2 - t0)
        b2 = ((t3 - s) * a2 + (s - t1) * a3) / (t3 - t1)
        out.append(((t2 - s) * b1 + (s - t1) * b2) / (t2 - t1))
    return np.vstack(out + [p[-1:]])


def _chain(pieces):
    """One stroke from pieces of key points; each piece starts where the previous one ended (a corner)."""
    dense = [_catmull_rom(pc) for pc in pieces]
    return np.vstack([dense[0]] + [d[1:] for d in dense[1:]])


class _Hand:
    """One writer's habits for one drawing."""

    def __init__(self, rng):
        self.rng = rng
        self.aspect = rng.uniform(0.8, 1.25)  # wider or narrower than the digit's usual width
        self.power = rng.uniform(2.0, 3.2)  # superellipse exponent of loops and bows: 2 = round, 3 = boxy
        self.shake = rng.uniform(0.004, 0.016)  # key point jitter, fraction of the height
        self.ends = rng.uniform(0.0, 0.035)  # how much stroke ends overshoot or undershoot
        self.pen = 0.0  # pen width / digit height, set before drawing
        self.slant = 0.0  # tan of the slant the drawing will get, set before drawing
        self.european = False  # a 1 with a long flag, a 7 with a crossbar

    def u(self, lo, hi):
        return float(self.rng.uniform(lo, hi))

    def pick(self, *options, p=None):
        return options[int(self.rng.choice(len(options), p=p))]

    def width(self, base):
        return base * self.aspect

    def p(self, x, y):
        """A key point, jittered."""
        return np.array([x, y]) + self.rng.normal(0, self.shake, 2)

    def ring(self, cx, cy, rx, ry, a0, a1, power=None, grow=0.0, egg=0.0):
        """Jittered key points on a superellipse from angle a0 to a1 (degrees; 0 = right, 90 = down), at most
        ~40 degrees apart. `grow` scales the radius linearly up to 1 + grow at a1 (spirals), `egg` widens the
        bottom half and narrows the top (negative: the other way round)."""
        e = self.power if power is None else power
        k = max(3, int(math.ceil(abs(a1 - a0) / 40)) + 1)
        pts = []
        for i, a in enumerate(np.radians(np.linspace(a0, a1, k))):
            c, s = math.cos(a), math.sin(a)
            g = 1 + grow * i / (k - 1)
            x = cx + rx * g * (1 + egg * s) * math.copysign(abs(c) ** (2 / e), c)
            y = cy + ry * g * math.copysign(abs(s) ** (2 / e), s)
            pts.append(self.p(x, y))
        return pts


def _d0(h):
    w = min(h.width(0.58), 0.72)  # always clearly taller than wide
    a0 = -90 + h.u(-40, 30)
    turn = h.pick(-1, 1, p=[0.7, 0.3])  # mostly anticlockwise on screen
    sweep = h.u(350, 400)
    return [
        [
            h.ring(
                0,
                0.5,
                w / 2,
                0.5,
                a0,
                a0 + turn * sweep,
                power=min(h.power, 2.6),
                grow=h.u(-0.07, 0.04),
                egg=h.u(-0.12, 0.12),
            )
        ]
    ]


def _d1(h):
    style = h.pick("flag", "flag+base") if h.european else h.pick("plain", "flag", "flag+base", p=[0.4, 0.35, 0.25])
    bow = 0.025  # more and a plain one reads as a bracket
    top, bottom = h.p(0, 0), h.p(h.u(-0.03, 0.03), 1)
    stem = [top, h.p(h.u(-bow, bow), h.u(0.4, 0.6)), bottom]
    if style == "plain":
        return [[stem]]
    # a short, steep flag: never a 7's bar. Its angle is meant after slanting, so a forward slant does not
    # flatten it, and it is jittered less than other key points so that it keeps that angle. A backward
    # slanted stem takes a flatter flag, so that the two do not close up into a narrow V.
    length = h.u(0.3, 0.45) if h.european else h.u(0.15, 0.27)
    angle = math.radians(h.u(40, 62) + min(0.0, math.degrees(math.atan(h.slant))))
    dx, dy = -length * math.cos(angle) + length * math.sin(angle) * h.slant, length * math.sin(angle)
    start = top + [dx, dy] + h.rng.normal(0, 0.3 * h.shake, 2)
    flag = [start, top]
    strokes = [[flag, stem]]
    if style == "flag+base":
        half = h.u(0.15, 0.28)
        strokes.append([[h.p(bottom[0] - half, 1), h.p(bottom[0] + half, 1 + h.u(-0.02, 0.02))]])
    return strokes


def _d2(h):
    w = h.width(0.62)
    ry = h.u(0.22, 0.32)
    hump = h.ring(0, ry, w / 2, ry, h.u(190, 215), h.u(380, 410))
    end = hump[-1]
    style = h.pick("corner", "round", "loop", p=[0.5, 0.3, 0.2])
    if style == "loop" and h.pen > 0.09:  # a fat pen would fill the little loop in
        style = "corner"
    corner = h.p(-w / 2, 1)
    # the neck bows towards the lower right a little, or runs straight
    mid = (end + corner) / 2 + h.u(0.0, 0.08) * np.array([0.7, 0.7])
    right = h.p(w / 2 + h.u(0, 0.08), 1 + h.u(-0.03, 0.02))
    if style == "corner":
        return [[hump + [mid, corner], [corner, h.p(0, 1 + h.u(-0.015, 0.015)), right]]]
    if style == "round":  # the neck sweeps into the base without a corner
        low = h.p(-w * 0.38, 0.97)
        return [[hump + [mid, low, h.p(-w * 0.1, 0.99), right]]]
    r = max(h.u(0.06, 0.1), 1.1 * h.pen)  # a small loop at the lower left, drawn anticlockwise, kept open
    c = corner + [r * 0.9, -r]
    loop = [
        h.p(c[0] - 0.2 * r, c[1] + r),
        h.p(c[0] - r, c[1] + 0.1 * r),
        h.p(c[0] - 0.1 * r, c[1] - r),
        h.p(c[0] + r, c[1] - 0.1 * r),
        h.p(c[0] + 0.8 * r, c[1] + r * 0.9),
    ]
    return [[hump + [mid] + loop + [right]]]


def _d3(h):
    w = h.width(0.58)
    my, mx = h.u(0.4, 0.5), h.u(-0.18, 0.05) * w
    middle = h.p(mx, my)
    cy = (1 + my) / 2
    bottom = [middle] + h.ring(0, cy, w / 2, (1 - my) / 2 * h.u(1.0, 1.08), h.u(-70, -45), h.u(145, 165))
    if h.rng.random() < 0.3:  # flat top: a bar, then a diagonal down to the middle
        left, right = h.p(-w * h.u(0.35, 0.5), 0), h.p(w * h.u(0.35, 0.5), h.u(-0.03, 0.03))
        return [[[left, right], [right, middle], bottom]]
    top = h.ring(0, my / 2, w * h.u(0.38, 0.46), my / 2, h.u(195, 220), h.u(420, 440)) + [middle]
    return [[top, bottom]]


def _d4(h):
    w = h.width(0.7)
    yc, xv = h.u(0.55, 0.72), w * h.u(0.05, 0.22)
    left, right = h.p(-w / 2, yc), h.p(max(w / 2, xv + 0.2 * w) + h.u(-0.03, 0.05), yc + h.u(-0.04, 0.03))
    foot = h.p(xv + h.u(-0.05, 0.05), 1)
    if h.rng.random() < 0.5:  # closed: the diagonal and the upright meet at the top
        apex = h.p(xv, 0)
        return [[[apex, left], [left, right]], [[h.p(apex[0], h.u(-0.04, 0.02)), foot]]]
    head = h.p(-w / 2 + w * h.u(0.0, 0.22), h.u(0, 0.06))  # open: the left stroke ends well left of the upright
    return [[[head, left], [left, right]], [[h.p(xv, h.u(0.0, 0.12)), foot]]]


def _d5(h):
    w = h.width(0.6)
    ky = h.u(0.36, 0.5)
    corner = h.p(-w * h.u(0.3, 0.42), 0)
    knee = h.p(corner[0] - w * h.u(-0.04, 0.08), ky)
    cy, ry = (ky + 1) / 2, (1 - ky) / 2 * h.u(1.0, 1.06)
    belly = [knee] + h.ring(w * h.u(-0.05, 0.05), cy, w / 2, ry, h.u(-115, -100), h.u(145, 170))
    bar_end = h.p(w * h.u(0.35, 0.55), h.u(-0.04, 0.03))
    if h.rng.random() < 0.5:  # one stroke: bar right to left, down, belly
        return [[[bar_end, corner], [corner, knee], belly]]
    gap = h.pick(0.0, h.u(0.0, 0.05))  # the bar, drawn last, sometimes starts a little off the upright
    return [[[corner, knee], belly], [[corner + [gap * w, -gap / 2], bar_end]]]


def _d6(h):
    w = h.width(0.58)
    ly = h.u(0.4, 0.58)
    ry, rx = (1 - ly) / 2, w / 2 * h.u(0.85, 1.0)
    cy = 1 - ry
    if h.rng.random() < 0.5:  # a curved back with a hook at the top
        stem = [h.p(w * 0.4, h.u(0.06, 0.14)), h.p(w * 0.1, 0), h.p(-w * 0.3, h.u(0.15, 0.25))]
    else:  # a straight back
        stem = [h.p(w * h.u(0.15, 0.4), 0), h.p(-w * 0.2, h.u(0.22, 0.3))]
    loop = h.ring(0, cy, rx, ry, 180, h.u(-200, -165), power=min(h.power, 2.6), grow=h.u(-0.12, 0.02))
    return [[stem + loop]]


def _d7(h):
    w = h.width(0.66)
    left, right = h.p(-w / 2, h.u(-0.03, 0.05)), h.p(w / 2, 0)
    # the stem keeps running down to the left even once a backward slant has been applied
    foot = h.p(min(w * h.u(-0.3, 0.05), right[0] + h.slant - 0.2), 1)
    bend = h.u(-0.06, 0.04)  # positive: the stem bows out to the right
    mid = (right + foot) / 2 + [bend, 0]
    pieces = [[left, right], [right, mid, foot]]
    if h.rng.random() < 0.25:  # a small tick down at the left end of the bar
        pieces.insert(0, [h.p(left[0] - 0.02, left[1] + h.u(0.08, 0.15)), left])
    strokes = [pieces]
    if h.european or h.rng.random() < 0.3:  # a European crossbar through the middle of the stem
        y = h.u(0.45, 0.6)
        x = right[0] + (foot[0] - right[0]) * y + bend * 4 * y * (1 - y)
        half = w * h.u(0.2, 0.3)
        strokes.append([[h.p(x - half, y), h.p(x + half, y + h.u(-0.03, 0.03))]])
    return strokes


def _d8(h):
    w = h.width(0.56)
    wy = h.u(0.42, 0.5)  # the waist; the top loop is at most as big as the bottom one
    rt, rb = w / 2 * h.u(0.75, 0.95), w / 2
    waist, e = h.p(h.u(-0.03, 0.03), wy), min(h.power, 2.5)
    if h.rng.random() < 0.3:  # two loops, drawn one after the other
        return [
            [h.ring(0, wy / 2, rt, wy / 2, -90, 275, power=e)],
            [h.ring(0, (1 + wy) / 2, rb, (1 - wy) / 2, -90 + h.u(-20, 20), h.u(265, 290), power=e)],
        ]
    top = h.ring(0, wy / 2, rt, wy / 2, h.u(-35, -15), -200, power=e)
    bottom = h.ring(0, (1 + wy) / 2, rb, (1 - wy) / 2, -40, 220, power=e)
    back = h.ring(0, wy / 2, rt, wy / 2, 20, h.u(-40, -5), power=e)
    return [[top + [waist] + bottom + [waist] + back]]


def _d9(h):
    w = h.width(0.58)
    ry = h.u(0.2, 0.28)
    rx, cx = w / 2 * h.u(0.85, 1.0), -w * h.u(0.0, 0.08)
    e = min(h.power, 2.5)
    style = h.pick("straight", "curved", "apart", p=[0.45, 0.3, 0.25])
    x_tail = cx + rx * h.u(0.85, 1.05)
    if style == "apart":  # a closed loop, then the tail as its own stroke down from its right side
        return [[h.ring(cx, ry, rx, ry, 0, -365, power=e)], [[h.p(cx + rx, ry * h.u(0.3, 1.0)), h.p(x_tail, 1)]]]
    a0 = h.u(-45, -10)
    loop = h.ring(cx, ry, rx, ry, a0, a0 - 360, power=e)
    side = h.p(cx + rx, ry * h.u(1.0, 1.3))  # the tail runs back down the loop's right side
    if style == "straight":
        tail = [loop[-1], side, h.p(x_tail, 1)]
    else:  # the tail curls left at the bottom
        tail = [loop[-1], side, h.p(cx + rx * 0.95, 0.75), h.p(cx + rx * 0.4, 0.98), h.p(cx - rx * 0.6, 0.9)]
    return [[loop, tail]]


_DIGIT_BUILDERS = (_d0, _d1, _d2, _d3, _d4, _d5, _d6, _d7, _d8, _d9)


def _trim_or_extend(stroke, amount):
    """Stroke end habits: run each end `amount` (fraction of the height) past its end, or stop short of it."""
    seg = np.linalg.norm(np.diff(stroke, axis=0), axis=1)
    length = seg.sum()
    if length < 1e-6:
        return stroke
    out = stroke
    for end, a in ((0, amount[0]), (-1, amount[1])):
        if a >= 0:
            k = 1 if end == 0 else -2
            d = out[end] - out[k] if end == 0 else out[-1] - out[-2]
            d = d / (np.linalg.norm(d) + 1e-12)
            tip = out[end] + a * d
            out = np.vstack([tip, out]) if end == 0 else np.vstack([out, tip])
    cut = [max(0.0, -a) for a in amount]
    if sum(cut) > 0:
        s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(out, axis=0), axis=1))])
        lo, hi = min(cut[0], 0.2 * s[-1]), s[-1] - min(cut[1], 0.2 * s[-1])
        keep = (s > lo) & (s < hi)
        out = np.vstack(
            [
                [np.interp(lo, s, out[:, 0]), np.interp(lo, s, out[:, 1])],
                out[keep],
                [np.interp(hi, s, out[:, 0]), np.interp(hi, s, out[:, 1])],
            ]
        )
    return out


def _ink(draw, pts, width, rng):
    """Stamp a round pen along pts (pixels) with a width that swells and thins a little (pressure)."""
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    step = max(0.75, 0.3 * width)
    at = np.linspace(0, s[-1], max(2, int(s[-1] / step) + 1))
    x, y = np.interp(at, s, pts[:, 0]), np.interp(at, s, pts[:, 1])
    t = at / max(s[-1], 1e-9)
    amp, freq, phase = rng.uniform(0.0, 0.12), rng.uniform(0.5, 2.0), rng.uniform(0, 2 * math.pi)
    taper = rng.uniform(0.0, 0.25)  # pens lifting off: thinner at the ends
    press = 1 + amp * np.sin(2 * math.pi * freq * t + phase) - taper * (np.exp(-t / 0.04) + np.exp(-(1 - t) / 0.04))
    radius = np.maximum(0.5, width * np.clip(press, 0.75, 1.15) / 2)
    for cx, cy, r in zip(x, y, radius):
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)


def heldout_digit(digit, rng, canvas=400, pen="thin", kind=None, height=None):
    """One held-out hand-drawn `digit` as a canvas x canvas 'L' image, 255 = ink on 0.

    pen: the stroke width as a share of the canvas (PENS), e.g. "thin" 0.8%-2.5% (a mouse with a thin brush).
    The digit is 30%-85% of the canvas high (a fat marker only writes ones big enough to stay legible),
    slanted up to 15 degrees either way, placed at random fully on the canvas. A kind of HARD_KINDS changes
    that: "slanted" 25-40 degrees, "small" 10-20% high in a corner, "european" its 1s and 7s. `height`: the
    share of the canvas it is high, instead of a random one."""
    if pen not in PENS:
        raise ValueError(f"unknown pen {pen!r}; expected one of {tuple(PENS)}")
    if kind is not None and kind not in HARD_KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {tuple(HARD_KINDS)}")
    if not 0 <= int(digit) <= 9:
        raise ValueError(f"digit must be 0-9, got {digit!r}")
    S = 2 * canvas  # drawn at twice the size, then reduced: anti-aliased edges
    pen_frac = rng.uniform(*PENS[pen])
    # the height of the ink, pen included; the skeleton is one pen width shorter
    if kind == "small":
        height_frac = rng.uniform(max(0.10, pen_frac * (1 + 1 / MAX_PEN_TO_HEIGHT)), 0.20)
    else:
        height_frac = rng.uniform(max(0.30, min(0.85, pen_frac * (1 + 1 / MAX_PEN_TO_HEIGHT))), 0.85)
    if height is not None:
        height_frac = max(height, pen_frac * (1 + 1 / MAX_PEN_TO_HEIGHT))
    hand = _Hand(rng)
    hand.european = kind == "european"
    degrees = rng.choice((-1, 1)) * rng.uniform(25, 40) if kind == "slanted" else rng.uniform(-15, 15)
    slant, turn = math.tan(math.radians(degrees)), math.radians(rng.uniform(-3, 3))
    hand.pen, hand.slant = pen_frac / (height_frac - pen_frac), slant
    strokes = [_chain(pieces) for pieces in _DIGIT_BUILDERS[int(digit)](hand)]
    strokes = [_trim_or_extend(s, rng.uniform(-hand.ends, hand.ends, 2)) for s in strokes]
    rot = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
    strokes = [np.stack([s[:, 0] - (s[:, 1] - 0.5) * slant, s[:, 1]], axis=1) @ rot.T for s in strokes]
    width = pen_frac * S
    tall = np.ptp(np.vstack(strokes)[:, 1])
    strokes = [s * (height_frac * S - width) / tall for s in strokes]
    margin = rng.uniform(0.02, 0.05) * S + 0.6 * width  # a little more than half the pen: pressure swells
    allp = np.vstack(strokes)
    lo, hi = allp.min(axis=0), allp.max(axis=0)
    room = S - 2 * margin
    scale = min(1.0, room / max(hi[0] - lo[0], 1e-9), room / max(hi[1] - lo[1], 1e-9))
    size = (hi - lo) * scale
    where = rng.integers(0, 2, 2) if kind == "small" else rng.uniform(0, 1, 2)  # "small": in a corner
    origin = margin + where * np.maximum(room - size, 0)
    layer, draw = _blank(S)
    for s in strokes:
        _ink(draw, (s - lo) * scale + origin, width, rng)
    return layer.reduce(2)


def heldout_digits(n, seed, pen, canvas=400, kind=None):
    """n drawings as (digit, image), all drawn from np.random.default_rng(seed): the i-th digit is i % 10, or
    for a kind that draws only some digits (DIGITS_OF), the next of those in turn."""
    rng, digits = np.random.default_rng(seed), DIGITS_OF.get(kind, range(10))
    return [(digits[i % len(digits)], heldout_digit(digits[i % len(digits)], rng, canvas, pen, kind)) for i in range(n)]


def heldout_numbers(n, seed, canvas=400):
    """n numbers of 2-4 digits as (the number as a string, image): each digit one held-out drawing (one pen,
    thin or marker, and about one height per number), cut to its ink and set side by side with gaps of 5-20%
    of the height, as a person writes a number on a wide canvas."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        digits = [int(d) for d in rng.integers(0, 10, rng.integers(2, 5))]
        pen = ("thin", "marker")[int(rng.integers(0, 2))]
        size = rng.uniform(0.5, 0.85)
        crops = [heldout_digit(d, rng, canvas, pen, height=size * rng.uniform(0.85, 1.0)) for d in digits]
        crops = [c.crop(c.getbbox()) for c in crops]
        height = max(c.height for c in crops)
        gaps = [int(rng.uniform(0.05, 0.2) * height) + 2 for _ in range(len(crops) + 1)]
        layer = Image.new("L", (sum(c.width for c in crops) + sum(gaps), height + 2 * gaps[0]), 0)
        x = gaps[0]
        for c, gap in zip(crops, gaps[1:]):
            layer.paste(c, (x, gaps[0] + (height - c.height) // 2 + int(rng.integers(-2, 3))))
            x += c.width + gap
        out.append(("".join(map(str, digits)), layer))
    return out


def main():
    import argparse

    p = argparse.ArgumentParser(
        description="Draw a held-out set and say how its drawings stand to each other "
        "(python -m bench.heldout digits --n 10 --seed 7 --save /tmp/heldout)."
    )
    p.add_argument("set", choices=("digits", "nondigits"))
    p.add_argument("--n", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pen", default="thin", choices=tuple(PENS), help="digits only")
    p.add_argument("--kind", choices=tuple(HARD_KINDS), help="digits only: one of the harder kinds")
    p.add_argument("--canvas", type=int, default=400)
    p.add_argument("--save", type=Path, help="a folder to write the drawings into, as PNG files")
    args = p.parse_args()

    def drawn():
        if args.set == "digits":
            return heldout_digits(args.n, args.seed, args.pen, args.canvas, args.kind)
        return heldout_nondigits(args.n, args.seed, args.canvas)

    items = drawn()
    pen = f", pen {args.pen}{', ' + args.kind if args.kind else ''}" if args.set == "digits" else ""
    print(f"held-out {args.set}, seed {args.seed}{pen}, {args.n} drawings of {args.canvas}x{args.canvas}")
    before = None
    for i, (label, image) in enumerate(items):
        ink = np.asarray(image) > 127
        print(f"  {i}: {label}, {np.count_nonzero(ink)} ink pixels", end="")
        if before is not None:  # piled up on one canvas, a drawing would hold all the ink of the one before
            print(
                f"; {100 * np.count_nonzero(ink & before) / max(1, np.count_nonzero(before)):.1f}% of the one "
                "before's ink",
                end="",
            )
        print()
        before = ink
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            image.save(args.save / f"{i:03d}-{label}.png")
    same = all(a == b and np.array_equal(np.asarray(x), np.asarray(y)) for (a, x), (b, y) in zip(items, drawn()))
    print(f"the same seed again, in this process: {'the same' if same else 'OTHER'} {args.n} images")


if __name__ == "__main__":
    main()
