"""Glyphs of Hershey's single-stroke vector fonts (the Hershey-Fonts package): Latin, Greek and Cyrillic
letters in several hands, and symbols (astrology, music, maths, weather), drawn with our pen as non-digits.
Training draws from GLYPH_FONTS; the other fonts, GLYPH_FONTS_TUNING, are kept for tuning.

Left out: the kana (many are 7s, 3s and 5s) and the markers (our SHAPES); digits, and punctuation that
alone is a dot or a stroke, a bracket or a circle; letters that are (nearly) digits, as in LETTERS.
"""

import functools

import numpy as np

from src.data.strokes import line

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
            unit = [line(*st, n=6) if len(st) > 1 else np.vstack([st, st + 0.01]) for st in unit]
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


def random_glyph(rng, fonts=GLYPH_FONTS):
    """The strokes of one glyph of `fonts`, picked by `rng`."""
    glyphs = font_glyphs(fonts)
    return glyphs[rng.integers(len(glyphs))]
