"""Fitting a model's "is it a digit?" statistics (src/model/novelty.py), the step before saving it:

    save_model(path, model, metadata, fit_novelty(model, data))

The thresholds come from tuning digits (calibration_digits): MNIST validation digits read as the app reads
a drawing (src.reading.inference.digit_inputs: a digit drawn in pieces may be split), and drawn digits from
src/data/synthetic.py (varied_mask: hairline to marker, upright to slanted). "Not a digit" flags at most
FLAG_MNIST of the MNIST drawings and FLAG_DRAWN of the drawn digits: a digit hidden behind "not a digit" is
worse than a scribble shown with its probabilities (the choice and its ROC: docs/model.md).
"""

import functools
import hashlib
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from src import config
from src.atomic import cached_arrays
from src.data import preprocess, segment, synthetic
from src.data.preprocess import to_mnist
from src.data.synthetic import as_ink, preprocessed_digits
from src.model.checkpoint import weights_digest
from src.model.novelty import PCA_DIMS, NoveltyDetector, not_digit_score
from src.reading.inference import digit_inputs, run_network, run_shifted

# Share of the tuning digits "not a digit" may flag: MNIST drawings (as the app reads them) and drawn digits.
FLAG_MNIST, FLAG_DRAWN = 0.002, 0.003
UNUSUAL_RATE = 0.01
CACHE_NAME = "calibration-digits.safetensors"  # in DATA_DIR, next to the synthetic training drawings
CACHE_FORMAT = 2  # bump when TuningDigits changes, so that a kept file is made again


class TuningDigits(NamedTuple):
    mnist: np.ndarray  # (M, 28, 28): the inputs of the MNIST drawings, one per digit read in each
    owner: np.ndarray  # (M,): which drawing each input comes from
    drawings: int  # MNIST drawings in all (those with no input are refused by preprocessing: flagged)
    drawn: np.ndarray  # (K, 28, 28): drawn digits, one input each
    whole: np.ndarray  # (S, 28, 28): the drawings split into parts, read whole (LoadedModel.read's second look)
    split: np.ndarray  # (S,): which drawing each of those is


@functools.lru_cache(maxsize=1)
def _drawn_digits(n: int, seed: int) -> np.ndarray:
    return preprocessed_digits(n, seed=seed, varied=True)[0]


@functools.lru_cache(maxsize=1)
def _mnist_as_read(val_bytes: bytes) -> dict:
    inks = [as_ink(a) for a in np.frombuffer(val_bytes, np.uint8).reshape(-1, 28, 28)]
    inputs = [digit_inputs(ink) for ink in inks]
    owner = [i for i, x in enumerate(inputs) for _ in range(0 if x is None else len(x))]
    split = [i for i, x in enumerate(inputs) if x is not None and len(x) > 1]
    return {"mnist": np.concatenate([x for x in inputs if x is not None]), "owner": np.array(owner, np.int64),
            "whole": np.array([to_mnist(inks[i]) for i in split], np.float32).reshape(-1, 28, 28),
            "split": np.array(split, np.int64)}


def calibration_digits(data, n_mnist: int | None = None, n_drawn: int = 2000, seed: int = 1001, folder=None) -> TuningDigits:
    """Tuning digits: MNIST validation drawings (all 12,000 unless n_mnist) as the app reads them, and drawn
    digits from src.data.synthetic. With all 12,000, the 0.2% that may be flagged are 24 digits, not 10, and
    the threshold depends less on which few they are (for one model, the first 5,000 and the next 7,000 gave
    thresholds 1.4 apart). About 25 s to make; the last ones made are kept in one file in `folder` (DATA_DIR),
    with a key of the digits and of the code that draws and reads them: other data (a visitor's seed) makes
    them again and replaces the file, so it never grows."""
    val = np.ascontiguousarray(data.val.images[:n_mnist].cpu().numpy())
    code = b"".join(Path(m.__file__).read_bytes() for m in (preprocess, segment, synthetic))
    key = hashlib.sha256(val.tobytes() + f"{n_drawn}-{seed}-{CACHE_FORMAT}".encode() + code).hexdigest()
    kept = cached_arrays(Path(folder or config.DATA_DIR) / CACHE_NAME, key,
                         lambda: {**_mnist_as_read(val.tobytes()), "drawn": _drawn_digits(n_drawn, seed)})
    return TuningDigits(kept["mnist"], kept["owner"], len(val), kept["drawn"], kept["whole"], kept["split"])


def drawing_scores(digits: TuningDigits, scores: np.ndarray, whole_scores: np.ndarray) -> np.ndarray:
    """(drawings,) score of each MNIST drawing as LoadedModel.read judges it, from its inputs' `scores` and the
    split drawings' `whole_scores`: the highest of its inputs (one flagged input flags the drawing), or for a
    split drawing the lower of that and its score whole (it is read whole when that is a digit); +inf for a
    drawing with none."""
    per = np.full(digits.drawings, -np.inf)
    np.maximum.at(per, digits.owner, scores)
    per[digits.split] = np.minimum(per[digits.split], whole_scores)
    per[np.bincount(digits.owner, minlength=digits.drawings) == 0] = np.inf
    return per


def fit_novelty(model: torch.nn.Module, data, digits: TuningDigits | None = None) -> NoveltyDetector:
    """Fit a detector for `model`: PCA of the features of MNIST training images, thresholds from the tuning
    digits (calibration_digits(data) unless given). `data` is a src.data.mnist.MNISTData."""
    digits = digits or calibration_digits(data)
    feats, _ = run_network(model, data.train.images[:20000].cpu().numpy())
    mean = feats.mean(0)
    centred = (feats - mean).astype(np.float64)
    _, vectors = np.linalg.eigh(centred.T @ centred / len(centred))
    detector = NoveltyDetector(mean, vectors[:, ::-1][:, :PCA_DIMS], np.inf, np.inf, weights_digest(model))

    f_m, l_m = run_shifted(model, digits.mnist)
    f_d, l_d = run_shifted(model, digits.drawn)
    # The higher of the two: each set has at most its share flagged.
    mnist = drawing_scores(digits, not_digit_score(l_m), not_digit_score(run_shifted(model, digits.whole)[1]))
    detector.threshold = float(max(np.quantile(mnist, 1 - FLAG_MNIST, method="lower"),
                                   np.quantile(not_digit_score(l_d), 1 - FLAG_DRAWN)))
    residual = detector.residual(np.concatenate([f_m, f_d]))
    detector.unusual_threshold = float(np.quantile(residual, 1 - UNUSUAL_RATE))
    return detector
