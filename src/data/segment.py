"""Whole numbers: split a drawing of several digits into one ink map per digit.

    parts = split_digits(ink)            # ink: float HxW in [0, 1] from src.data.preprocess.ink_map
                                         # -> list of ink-map crops, left to right, each for to_mnist

src.data.inputs makes the network's input of each part.

How the split works: the ink mask (ink above INK_THRESHOLD of the peak) is reduced by block maxima to at
most WORK_SIDE pixels on its longer side, and its 8-connected components are labelled (scipy.ndimage.label
and find_objects). Specks (tiny components) are dropped. Components
that overlap horizontally by more than MERGE_OVERLAP of the narrower one's width are one digit (the bar of
a 5 drawn apart, the two strokes of a 4 or of a 7 with a crossbar). Digits must therefore stand side by
side, not above each other, and touching digits stay one segment. A drawing narrower than
MIN_NUMBER_ASPECT times its height (a 1 beside a 7, two 1s) is split only when every part is at least
NARROW_PART_HEIGHT of its height and the parts stand NARROW_GAP of it apart: a single digit broken into pieces
(as some MNIST digits are) has a short piece or a narrow break. Both were chosen on MNIST validation digits
and synthetic numbers (docs/model.md). A drawing of dots alone (every component a dot or a blob to to_mnist),
such as a colon, is split into its dots, wherever they stand, so that it is read as no digit.
"""

import numpy as np
from scipy import ndimage

from src.data.preprocess import Ink, measure_ink, to_mnist

WORK_SIDE = 300  # the labelling runs on a mask at most this many pixels on its longer side
SPECK = 0.02  # components with less than this share of the ink and ...
SPECK_EXTENT = 0.15  # ... smaller than this share of the drawing's height are specks
MERGE_OVERLAP = 0.3
# Several digits side by side are wider than tall, unless some are 1s; a single digit (even one broken into
# pieces) is not. A narrower drawing is split only into parts each as tall as this share of it.
MIN_NUMBER_ASPECT = 1.1
NARROW_PART_HEIGHT = 0.75
NARROW_GAP = 0.05  # ... and apart by at least this share of its height


def split_digits(ink: np.ndarray, measured: Ink | None = None) -> list[np.ndarray]:
    """The digits of a drawing, left to right: one float32 ink-map crop per digit (other digits' ink removed,
    centred in a square frame with a margin), each ready for src.data.preprocess.to_mnist. Dots alone give one
    crop per dot, which to_mnist refuses. An empty list when there is no drawing (src.data.preprocess.measure_ink).
    `measured`: src.data.preprocess.measure_ink(ink), if the caller has it already."""
    ink = np.asarray(ink, dtype=np.float32)
    measured = measured or measure_ink(ink)  # the same ink mask and box as to_mnist's
    if measured is None:
        return []
    top, bottom, left, right = measured.box
    labels, f, kept, height = _components(measured.mask)
    if not kept:
        return []

    # Dots alone are no digit: split into their dots, which to_mnist refuses (a colon would read as a 3).
    if len(kept) > 1:
        dots = []
        for part in sorted(kept, key=lambda g: g["x0"]):
            dot = _framed(ink, labels, part["members"], f)
            if to_mnist(dot) is not None:
                break
            dots.append(dot)
        if len(dots) == len(kept):
            return dots

    groups = _merged(kept)
    if (
        right - left < MIN_NUMBER_ASPECT * (bottom - top)
        and len(groups) > 1
        and (
            min(g["y1"] - g["y0"] for g in groups) < NARROW_PART_HEIGHT * height
            or min(b["x0"] - a["x1"] for a, b in zip(groups, groups[1:])) < NARROW_GAP * height
        )
    ):
        return [ink]  # one digit, perhaps broken into pieces
    return [_framed(ink, labels, g["members"], f) for g in groups]


def _components(mask: np.ndarray) -> tuple[np.ndarray, int, list[dict], int]:
    """The 8-connected components of `mask` reduced by block maxima of f x f pixels (to at most WORK_SIDE):
    (their labels, f, the components that are not specks as groups of one with their bounding boxes, the height
    of all of them together), in the reduced mask."""
    f = max(1, int(np.ceil(max(mask.shape) / WORK_SIDE)))
    h, w = -(-mask.shape[0] // f), -(-mask.shape[1] // f)
    small = np.zeros((h * f, w * f), bool)
    small[: mask.shape[0], : mask.shape[1]] = mask
    small = small.reshape(h, f, w, f).any(axis=(1, 3))
    labels, n = ndimage.label(small, structure=np.ones((3, 3)))
    if n == 0:
        return labels, f, [], 0
    area = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    parts = [
        {"members": [i], "y0": b[0].start, "y1": b[0].stop, "x0": b[1].start, "x1": b[1].stop}
        for i, b in enumerate(ndimage.find_objects(labels))
    ]
    height = max(p["y1"] for p in parts) - min(p["y0"] for p in parts)
    kept = [
        p
        for p, a in zip(parts, area)
        if a >= SPECK * area.sum() or max(p["y1"] - p["y0"], p["x1"] - p["x0"]) >= SPECK_EXTENT * height
    ]
    return labels, f, kept, height


def _merged(groups: list[dict]) -> list[dict]:
    """Groups that overlap horizontally by more than MERGE_OVERLAP of the narrower one's width merged into one,
    until nothing changes; left to right."""
    merged = True
    while merged:
        merged = False
        groups.sort(key=lambda g: g["x0"])
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                ga, gb = groups[a], groups[b]
                overlap = min(ga["x1"], gb["x1"]) - max(ga["x0"], gb["x0"])
                narrower = min(ga["x1"] - ga["x0"], gb["x1"] - gb["x0"])
                if overlap > MERGE_OVERLAP * narrower:
                    ga["members"] += gb["members"]
                    ga["x0"], ga["x1"] = min(ga["x0"], gb["x0"]), max(ga["x1"], gb["x1"])
                    ga["y0"], ga["y1"] = min(ga["y0"], gb["y0"]), max(ga["y1"], gb["y1"])
                    del groups[b]
                    merged = True
                    break
            if merged:
                break
    return groups


def _framed(ink: np.ndarray, labels: np.ndarray, members: list[int], f: int) -> np.ndarray:
    """The ink of the components `members` (of `labels`, the mask reduced by `f`), other ink removed, centred in
    a square frame with a margin, like a single digit on the sketchpad, so that to_mnist's checks (ink fraction,
    extent) see a normal drawing and not a crop filled with ink."""
    member = np.isin(labels, np.array(members) + 1)
    rows, cols = np.flatnonzero(member.any(1)), np.flatnonzero(member.any(0))
    r0, r1, c0, c1 = rows[0] * f, (rows[-1] + 1) * f, cols[0] * f, (cols[-1] + 1) * f
    keep_full = np.repeat(np.repeat(member[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], f, 0), f, 1)
    crop = ink[r0:r1, c0:c1]
    crop = np.where(keep_full[: crop.shape[0], : crop.shape[1]], crop, 0).astype(np.float32)
    side = int(max(crop.shape) * 1.2) + 2
    framed = np.zeros((side, side), np.float32)
    top, left = (side - crop.shape[0]) // 2, (side - crop.shape[1]) // 2
    framed[top : top + crop.shape[0], left : left + crop.shape[1]] = crop
    return framed
