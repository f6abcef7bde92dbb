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
from src.data.synthetic import as_ink, preprocessed_digits
from src.model.checkpoint import weights_digest
from src.model.novelty import PCA_DIMS, NoveltyDetector, not_digit_score
from src.reading.inference import digit_inputs, run_network, run_shifted, second_look

# Share of the tuning digits "not a digit" may flag: MNIST drawings (as the app reads them) and drawn digits.
FLAG_MNIST, FLAG_DRAWN = 0.002, 0.003
UNUSUAL_RATE = 0.01
CACHE_NAME = "calibration-digits.safetensors"  # in DATA_DIR, next to the synthetic training drawings
CACHE_FORMAT = 3  # bump when TuningDigits changes, so that a kept file is made again


class TuningDigits(NamedTuple):
    mnist: np.ndarray  # (M, 28, 28): the inputs of the MNIST drawings, one per digit read in each
    owner: np.ndarray  # (M,): which drawing each input comes from
    drawings: int  # MNIST drawings in all (those with no input are refused by preprocessing: flagged)
    drawn: np.ndarray  # (K, 28, 28): drawn digits, one input each
    again: np.ndarray  # (S, 28, 28): the MNIST drawings' second looks (src.reading.inference.second_look) ...
    again_of: np.ndarray  # (S,): ... and which drawing each is of
    drawn_again: np.ndarray  # (T, 28, 28): the same for the drawn digits
    drawn_again_of: np.ndarray  # (T,)


@functools.lru_cache(maxsize=1)
def _drawn_digits(n: int, seed: int) -> dict:
    drawn = preprocessed_digits(n, seed=seed, varied=True)[0]
    again = [second_look(x[None]) for x in drawn]
    return {"drawn": drawn, **_looks(again, "drawn_again")}


def _looks(again: list, name: str) -> dict:
    """The second looks that some drawings get (None for the others), as one array and their drawings' indices."""
    of = [i for i, x in enumerate(again) if x is not None]
    return {name: np.array([again[i][0] for i in of], np.float32).reshape(-1, 28, 28), name + "_of": np.array(of, np.int64)}


@functools.lru_cache(maxsize=1)
def _mnist_as_read(val_bytes: bytes) -> dict:
    inks = [as_ink(a) for a in np.frombuffer(val_bytes, np.uint8).reshape(-1, 28, 28)]
    inputs = [digit_inputs(ink) for ink in inks]
    owner = [i for i, x in enumerate(inputs) for _ in range(0 if x is None else len(x))]
    again = [second_look(x, ink) if x is not None and len(x) else None for x, ink in zip(inputs, inks)]
    return {"mnist": np.concatenate([x for x in inputs if x is not None]), "owner": np.array(owner, np.int64),
            **_looks(again, "again")}


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
                         lambda: {**_mnist_as_read(val.tobytes()), **_drawn_digits(n_drawn, seed)})
    return TuningDigits(*(len(val) if name == "drawings" else kept[name] for name in TuningDigits._fields))


def drawing_scores(owner: np.ndarray, drawings: int, scores: np.ndarray, again_of: np.ndarray,
                   again_scores: np.ndarray) -> np.ndarray:
    """(drawings,) score of each drawing as LoadedModel.read judges it, from its inputs' `scores` (`owner`: whose
    each is) and its second look's: the highest of its inputs (one flagged input flags the drawing), or the
    second look's if lower (it is shown when that is a digit); +inf for a drawing with no input."""
    per = np.full(drawings, -np.inf)
    np.maximum.at(per, owner, scores)
    per[again_of] = np.minimum(per[again_of], again_scores)
    per[np.bincount(owner, minlength=drawings) == 0] = np.inf
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
    again = lambda x: not_digit_score(run_shifted(model, x)[1])  # noqa: E731
    mnist = drawing_scores(digits.owner, digits.drawings, not_digit_score(l_m), digits.again_of, again(digits.again))
    drawn = drawing_scores(np.arange(len(digits.drawn)), len(digits.drawn), not_digit_score(l_d),
                           digits.drawn_again_of, again(digits.drawn_again))
    # The higher of the two: each set has at most its share flagged.
    detector.threshold = float(max(np.quantile(mnist, 1 - FLAG_MNIST, method="lower"), np.quantile(drawn, 1 - FLAG_DRAWN)))
    residual = detector.residual(np.concatenate([f_m, f_d]))
    detector.unusual_threshold = float(np.quantile(residual, 1 - UNUSUAL_RATE))
    return detector
