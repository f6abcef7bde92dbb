"""The "is it a digit?" detector (src/novelty.py) and the shipped checkpoints/default.novelty.json."""

import json

import numpy as np
import pytest
import torch

from src.checkpoint import load_checkpoint
from src.novelty import NoveltyDetector, fit_novelty, novelty_path
from tests.nondigits import KINDS, preprocessed_digits, preprocessed_nondigits


@pytest.fixture(scope="module")
def model(default_checkpoint):
    torch.set_num_threads(1)
    return load_checkpoint(default_checkpoint)[0]


@pytest.fixture(scope="module")
def detector(default_checkpoint):
    path = novelty_path(default_checkpoint)
    assert path.name == "default.novelty.json" and path.exists(), "run python bench/novelty.py"
    return NoveltyDetector.from_file(path)


def test_flags_nondigits_but_not_drawn_digits(model, detector):
    # Seeds unused by bench/novelty.py (calibration 1001, evaluation 2002/4004).
    nondigits, kinds, rejected = preprocessed_nondigits(76, seed=7007)  # two of each of the 38 kinds
    digits, _ = preprocessed_digits(100, seed=8008)
    non_flagged = (int((detector.scores(model, nondigits) > detector.threshold).sum()) + rejected) / 76
    dig_flagged = float((detector.scores(model, digits) > detector.threshold).mean())
    print(f"\nnon-digits flagged {100 * non_flagged:.1f}% (of 76), drawn digits flagged {100 * dig_flagged:.1f}% (of {len(digits)})")
    assert non_flagged >= 0.85
    assert dig_flagged <= 0.05


def test_single_image_api(model, detector, small_mnist):
    digit = small_mnist.test.images[0].numpy().astype(np.float32) / 255
    assert isinstance(detector.score(model, digit), float)
    assert detector.is_digit(model, digit)
    star = preprocessed_nondigits(len(KINDS), seed=1)[0][KINDS.index("star")]
    assert not detector.is_digit(model, star)


def test_fit_save_load_roundtrip(tmp_path, model, small_mnist):
    stats = fit_novelty(model, small_mnist, flag_rate=0.05)  # calibrated on MNIST validation digits
    det = NoveltyDetector(stats)
    val = small_mnist.val.images.numpy().astype(np.float32) / 255
    assert 0.02 <= (det.scores(model, val) > det.threshold).mean() <= 0.08
    path = det.save(tmp_path / "m.novelty.json")
    assert [p.name for p in tmp_path.iterdir()] == ["m.novelty.json"]  # no temporary file left behind
    assert json.loads(path.read_text())["method"] == det.method
    again = NoveltyDetector.from_file(path)
    assert again.threshold == det.threshold
    assert np.allclose(again.scores(model, val[:50]), det.scores(model, val[:50]))


def test_rejects_other_files(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"architecture": "TutorialCNN"}')
    with pytest.raises(ValueError):
        NoveltyDetector.from_file(bad)
