"""A drawing's way to the network: every 28x28 input the network reads for one drawing, made in one call.

    inputs = drawing_inputs(value)   # a drawing or image (anything src.data.preprocess.ink_map accepts)
    inputs = ink_inputs(ink)         # ... or its ink map

The digits are read left to right, one input each (src.data.segment splits a number apart), and "is it a
digit?" (src/model/novelty.py) reads each at the positions in SHIFTS. A drawing whose digits do not read as a
digit is read once more, its second look: a drawing split into parts, whole (a 5 whose bar stands apart is
not "52"), and a single digit slanted further than DESLANT_FROM, upright (a 1 leaning far backwards). Which
reading counts is the reading layer's call (src.reading.inference.LoadedModel.read), so the second look and its
shifted copies are made here too, whether or not they are read: each is one 28x28 input more.
"""

from typing import NamedTuple

import numpy as np

from src.data.preprocess import ink_map, measure_ink, to_mnist
from src.data.segment import split_digits

# The 28x28 input moved by (rows, columns), zero-filled: the nine positions within a pixel, as drawn in the middle.
SHIFTS = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1))
AS_DRAWN = SHIFTS.index((0, 0))
# A single digit slanted further than this (deslant's slant: columns moved per row; 0.4 is about 22 degrees)
# has an upright second look. Chosen on tuning data (docs/model.md).
DESLANT_FROM = 0.4


class Inputs(NamedTuple):
    """Every input the network reads for one drawing."""

    digits: np.ndarray | None  # (k, 28, 28) float32, one per digit, left to right; k = 0: ink that is no digit
    # (a filled area, or a part that is a dot or a blob); None: no ink at all (or a speck)
    shifted: np.ndarray | None  # (len(SHIFTS) * k, 28, 28): shifted(digits)
    again: np.ndarray | None = None  # (1, 28, 28): the second look, None when there is none
    again_shifted: np.ndarray | None = None  # (len(SHIFTS), 28, 28): shifted(again)


def drawing_inputs(value) -> Inputs:
    """Every input the network reads for a drawing or image: ink_inputs of its ink map."""
    return ink_inputs(ink_map(value))


def ink_inputs(ink: np.ndarray) -> Inputs:
    """Every input the network reads for an ink map (src.data.preprocess.ink_map): its digits, and its second
    look when it has digits. A single digit is exactly to_mnist(ink)."""
    measured = measure_ink(ink)  # once, for both to_mnist and split_digits
    whole = to_mnist(ink, measured)
    if whole is None:
        return Inputs(np.zeros((0, 28, 28), np.float32) if measured else None, None)
    crops = split_digits(ink, measured)
    parts = [to_mnist(crop) for crop in crops] if len(crops) > 1 else [whole]
    if any(part is None for part in parts):  # a dot or a filled area beside the digits: not a number
        return Inputs(np.zeros((0, 28, 28), np.float32), None)
    digits = np.stack(parts)
    again = whole[None] if len(digits) > 1 else upright(digits[0])
    return Inputs(digits, shifted(digits), again, None if again is None else shifted(again))


def upright(digit: np.ndarray) -> np.ndarray | None:
    """The second look of a single digit's (28, 28) input: deslanted, (1, 28, 28), if it is slanted further
    than DESLANT_FROM, else None."""
    straight, slant = deslant(digit)
    return straight[None] if abs(slant) > DESLANT_FROM else None


def shifted(images: np.ndarray) -> np.ndarray:
    """(N, 28, 28) inputs -> (len(SHIFTS) * N, 28, 28): all of them moved by each shift in turn, zero-filled."""
    images = np.asarray(images).reshape(-1, 28, 28)
    out = np.zeros((len(SHIFTS),) + images.shape, images.dtype)
    for s, (dy, dx) in enumerate(SHIFTS):
        out[s, :, max(dy, 0) : 28 + min(dy, 0), max(dx, 0) : 28 + min(dx, 0)] = images[
            :, max(-dy, 0) : 28 + min(-dy, 0), max(-dx, 0) : 28 + min(-dx, 0)
        ]
    return out.reshape(-1, 28, 28)


def deslant(digit: np.ndarray) -> tuple[np.ndarray, float]:
    """A 28x28 input sheared upright by its ink's moments (MNIST's classic deskew), and its slant: how many
    columns the ink moves per row (positive: leaning backwards). Each row moves by slant x (row - centre row),
    linearly interpolated, zero beyond the edges. live.js computes the same, in the same order."""
    x = np.asarray(digit, np.float64)
    ys, xs = np.indices(x.shape)
    total = x.sum()
    cy, cx = (ys * x).sum() / total, (xs * x).sum() / total
    spread = ((ys - cy) ** 2 * x).sum()
    slant = float(((ys - cy) * (xs - cx) * x).sum() / spread) if spread > 0 else 0.0
    src = xs + slant * (ys - cy)  # where each pixel of the output comes from, in its row
    left = np.floor(src).astype(np.int64)
    frac = src - left

    def at(col):
        return np.where((col >= 0) & (col < x.shape[1]), x[ys, np.clip(col, 0, x.shape[1] - 1)], 0.0)

    return ((1 - frac) * at(left) + frac * at(left + 1)).astype(np.float32), slant
