"""Fit and compare "is it a digit?" scores for a checkpoint, and write its novelty file.

    python bench/novelty.py [--checkpoint checkpoints/default.safetensors] [--method energy+residual]

Statistics are fitted on MNIST training images; each method's normalisation and threshold are calibrated on
drawn digits (tests/drawings.py, seed 1001) so that --flag-rate of them are flagged. Evaluation uses other
seeds: drawn digits (seed 2002), non-digit drawings (tests/nondigits.py, seed 4004) and MNIST validation
images. Non-digits that preprocessing already rejects (None: too little ink, a blob) count as flagged.
Prints, per method, the share of non-digits flagged and of digits wrongly flagged; writes the file for
--method next to the checkpoint (default.novelty.json).
"""

import argparse
import collections
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np
import torch

from src import config
from src.checkpoint import load_checkpoint
from src.data import load_mnist
from src.novelty import DEFAULT_METHOD, METHODS, NoveltyDetector, calibrate, features, fit_statistics, novelty_path
from tests.nondigits import preprocessed_digits, preprocessed_nondigits


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=str(config.CHECKPOINT_DIR / config.DEFAULT_CHECKPOINT))
    p.add_argument("--method", default=DEFAULT_METHOD, choices=METHODS)
    p.add_argument("--flag-rate", type=float, default=0.02, help="share of calibration digits flagged")
    p.add_argument("--calibration-digits", type=int, default=1000)
    p.add_argument("--eval-digits", type=int, default=500)
    p.add_argument("--eval-nondigits", type=int, default=304)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(1)

    started = time.perf_counter()
    model, _ = load_checkpoint(args.checkpoint)
    data = load_mnist(config.DATA_DIR)
    stats = fit_statistics(model, data)
    print(f"fitted statistics on MNIST training images in {time.perf_counter() - started:.1f}s")
    calib, _ = preprocessed_digits(args.calibration_digits, seed=1001)
    digits, _ = preprocessed_digits(args.eval_digits, seed=2002)
    nondigits, kinds, rejected = preprocessed_nondigits(args.eval_nondigits, seed=4004)
    val = data.val.images[:5000].numpy().astype(np.float32) / 255
    n_non = len(nondigits) + rejected
    print(f"calibration: {len(calib)} drawn digits; evaluation: {len(digits)} drawn digits, {n_non} non-digits "
          f"({rejected} already rejected by preprocessing), {len(val)} MNIST validation digits")

    feats = {name: features(model, x) for name, x in (("digits", digits), ("nondigits", nondigits), ("val", val))}
    print(f"\n{'method':18s} {'non-digits flagged':>19s} {'drawn digits flagged':>21s} {'MNIST val flagged':>18s}")
    chosen = None
    for method in METHODS:
        s = calibrate(stats, method, model, calib, args.flag_rate)
        det = NoveltyDetector(s)
        flagged = {k: det.threshold < _scores(det, f) for k, f in feats.items()}
        non = (flagged["nondigits"].sum() + rejected) / n_non
        print(f"{method:18s} {100 * non:18.1f}% {100 * flagged['digits'].mean():20.1f}% {100 * flagged['val'].mean():17.1f}%")
        if method == args.method:
            chosen, chosen_flags = det, flagged
    missed = collections.Counter(k for k, f in zip(kinds, chosen_flags["nondigits"]) if not f)
    print(f"\n{args.method}: non-digits not flagged, by kind: {dict(missed.most_common())}")

    # Timing of one score (one image) as the app would call it.
    one = digits[0]
    chosen.score(model, one)
    t = time.perf_counter()
    for _ in range(50):
        chosen.score(model, one)
    print(f"one score: {1000 * (time.perf_counter() - t) / 50:.2f} ms")

    if not args.no_write:
        path = chosen.save(novelty_path(args.checkpoint))
        again = NoveltyDetector.from_file(path)
        assert np.allclose(_scores(again, feats["digits"]), _scores(chosen, feats["digits"]))
        print(f"wrote {path} ({path.stat().st_size // 1024} KiB), threshold {chosen.threshold:.3f}")
    print(f"total {time.perf_counter() - started:.1f}s")


def _scores(det, feats_logits):
    from src.novelty import combined_scores

    return combined_scores(det.stats, det.method, *feats_logits)


if __name__ == "__main__":
    main()
