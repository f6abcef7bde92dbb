"""Is it a digit? (src/model/novelty.py) on the shipped checkpoint, and the novelty file format.

bench/recognition.py reports the full figures on held-out data; these tests check the behaviour on
small samples of the tuning family with seeds nothing else uses.
"""

from pathlib import Path

import numpy as np
import pytest

from src.data.digits import preprocessed_digits
from src.data.inputs import shifted
from src.data.nondigits import KINDS, preprocessed_nondigits
from src.data.pools import as_drawing
from src.model.checkpoint import weights_digest
from src.model.novelty import FORMAT, NoveltyDetector, NoveltyMismatch
from src.reading.calibration import FLAG_DRAWN, FLAG_MNIST, calibration_digits, fit_novelty
from src.reading.inference import run_shifted


def flagged(loaded, images):
    not_digit, _ = loaded.novelty.judge(*run_shifted(loaded.model, images))
    return not_digit


def test_flags_nondigits_but_not_digits(loaded_model, small_mnist):
    nondigits, kinds, rejected = preprocessed_nondigits(2 * len(KINDS), seed=7007)  # two of each kind
    digits, labels = preprocessed_digits(200, seed=8008)
    mnist = np.stack([as_drawing(a) for a in small_mnist.test.images[:400].numpy()])
    non = (flagged(loaded_model, nondigits).sum() + rejected) / (len(nondigits) + rejected)
    drawn, real = flagged(loaded_model, digits).mean(), flagged(loaded_model, mnist).mean()
    print(f"\nnon-digits flagged {non:.1%}, drawn digits flagged {drawn:.1%}, MNIST test digits flagged {real:.1%}")
    assert non >= 0.85  # 93% of the 710 of bench.calibration (glyphs, hatched discs and small blobs are hard)
    assert drawn <= 0.03 and real <= 0.02


def test_a_sure_but_unusual_digit_is_still_a_digit(loaded_model, small_mnist):
    mnist = np.stack([as_drawing(a) for a in small_mnist.test.images[:400].numpy()])
    not_digit, unusual = loaded_model.novelty.judge(*run_shifted(loaded_model.model, mnist))
    assert not (not_digit & unusual).any()  # "unusual" is said only of digits
    assert 0 < unusual.sum() <= 0.05 * len(mnist)


def test_fit_save_load_round_trip(tmp_path, loaded_model, small_mnist):
    model = loaded_model.model
    digits = calibration_digits(small_mnist, n_mnist=400, n_drawn=200, folder=tmp_path)
    det = fit_novelty(model, small_mnist, digits)
    drawn = digits.drawn
    # the threshold flags about the intended share of the tuning digits (FLAG_MNIST 0.2%, FLAG_DRAWN 0.3%)
    assert (
        flagged_share(det, model, digits.mnist) <= FLAG_MNIST + 0.0025
        and flagged_share(det, model, drawn) <= FLAG_DRAWN + 0.005
    )
    tmp = det.write_temporary(tmp_path / "m.novelty.safetensors")
    again = NoveltyDetector.load(Path(tmp), weights_digest(model))
    assert (again.threshold, again.unusual_threshold, again.weights) == (
        det.threshold,
        det.unusual_threshold,
        det.weights,
    )
    feats, logits = run_shifted(model, drawn[:50])
    assert all(np.array_equal(a, b) for a, b in zip(again.judge(feats, logits), det.judge(feats, logits)))
    with pytest.raises(NoveltyMismatch, match="fitted to other weights"):
        NoveltyDetector.load(Path(tmp), "0" * 64)


def flagged_share(det, model, images):
    return det.judge(*run_shifted(model, images))[0].mean()


def test_rejects_other_files(tmp_path):
    bad = tmp_path / "x.novelty.safetensors"
    bad.write_bytes(b'{"format": "novelty-v1"}')
    with pytest.raises(NoveltyMismatch, match="not a readable novelty file"):
        NoveltyDetector.load(bad, "0" * 64)
    assert FORMAT == "novelty-v3"


def test_the_score_reads_the_input_moved_by_up_to_a_pixel_each_way():
    x = np.zeros((1, 28, 28), np.float32)
    x[0, 0, 5] = x[0, 14, 14] = 1.0
    moved = shifted(x).reshape(9, 28, 28)
    assert np.array_equal(moved[4], x[0])  # the middle one as drawn
    assert [tuple(np.argwhere(m)[-1]) for m in moved] == [(13 + dy, 13 + dx) for dy in range(3) for dx in range(3)]
    assert moved[0].sum() == 1 and moved[8].sum() == 2  # ink moved off the top edge is dropped, not wrapped
