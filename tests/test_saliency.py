"""Saliency maps (src/reading/saliency.py): shape, range and where the heat lies (speed: bench/predict_latency.py)."""

import numpy as np
import pytest

from src.data.digits import preprocessed_digits
from src.reading.saliency import READING_HINT, overlay, saliency


@pytest.fixture(scope="module")
def digits():
    return preprocessed_digits(30, seed=11)[0]


def _near_ink(image):
    """Pixels with ink (> 0.1) or next to ink (3x3 neighbourhood)."""
    ink = image > 0.1
    p = np.pad(ink, 1)
    return np.max([p[dy : dy + 28, dx : dx + 28] for dy in range(3) for dx in range(3)], axis=0)


def test_shape_range_and_heat_on_ink(model, digits):
    shares = []
    for image in digits:
        heat = saliency(model, image)
        assert heat.shape == (28, 28) and heat.dtype == np.float32
        assert heat.min() >= 0 and abs(heat.max() - 1) < 1e-6
        shares.append(heat[_near_ink(image)].sum() / heat.sum())
    print(f"\nheat on or next to ink: mean {100 * np.mean(shares):.1f}%, min {100 * np.min(shares):.1f}%")
    assert min(shares) > 0.7


def test_target_class_and_blank(model, digits):
    assert saliency(model, digits[3], target=8).shape == (28, 28)
    assert not saliency(model, np.zeros((28, 28), np.float32)).any()  # no ink, no heat


def test_overlay_and_hint(model, digits):
    rgb = overlay(digits[0], saliency(model, digits[0]))
    assert rgb.shape == (280, 280, 3) and rgb.dtype == np.uint8
    assert rgb[..., 0].max() == 255  # the hottest pixel is drawn in full warm colour
    assert READING_HINT.count(".") >= 1 and len(READING_HINT) < 200
