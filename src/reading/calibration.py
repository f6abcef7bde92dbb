"""Fitting a model's "is it a digit?" statistics (src/model/novelty.py), the step before saving it:

    save_model(path, model, metadata, fit_novelty(model, data))

The thresholds come from tuning digits (calibration_digits): MNIST validation digits read as the app reads
a drawing (src.data.inputs.ink_inputs: a digit drawn in pieces may be split), and drawn digits from
src/data/digits.py (varied_mask: hairline to marker, upright to slanted). "Not a digit" flags at most
FLAG_MNIST of the MNIST drawings and FLAG_DRAWN of the drawn digits: a digit hidden behind "not a digit" is
worse than a scribble shown with its probabilities (the choice and its ROC: docs/model.md).

The fit runs after every training, so it reads each tuning input once, as drawn, and then at all nine
positions only the drawings whose energy as drawn is among the highest (flag_threshold): the threshold is the
one that reading every drawing nine times gives, as long as the drawings above it are among those. The
tuning digits do not depend on the weights: prepare() makes or reads them once per server (a background
thread at start), and every fit after it takes them from memory.
"""

import functools
import hashlib
import logging
import threading
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from src import settings
from src.atomic import cached_arrays
from src.data import digits, inputs, pools, preprocess, segment, strokes
from src.data.digits import preprocessed_digits
from src.data.inputs import SHIFTS, ink_inputs, shifted, upright
from src.data.mnist import DataUnavailable, load_mnist
from src.data.pools import as_ink
from src.model.checkpoint import weights_digest
from src.model.novelty import PCA_DIMS, NoveltyDetector, energy, not_digit_score
from src.reading.inference import run_network

log = logging.getLogger(__name__)

# Share of the tuning digits "not a digit" may flag: MNIST drawings (as the app reads them) and drawn digits.
FLAG_MNIST, FLAG_DRAWN = 0.002, 0.003
UNUSUAL_RATE = 0.01
CACHE_NAME = "calibration-digits.safetensors"  # in DATA_DIR, next to the synthetic training drawings
CACHE_FORMAT = 3  # bump when TuningDigits changes, so that a kept file is made again
PCA_IMAGES = 3000  # MNIST training images whose features give the digits' principal directions
SCREENED = 12  # drawings read at all nine positions at first, per drawing a threshold may flag (at least MIN_SCREENED)
MIN_SCREENED = 200
BATCH = 256  # images per pass: this small network runs faster in batches that stay in the CPU's cache


class TuningDigits(NamedTuple):
    mnist: np.ndarray  # (M, 28, 28): the inputs of the MNIST drawings, one per digit read in each
    owner: np.ndarray  # (M,): which drawing each input comes from
    drawings: int  # MNIST drawings in all (those with no input are refused by preprocessing: flagged)
    drawn: np.ndarray  # (K, 28, 28): drawn digits, one input each
    again: np.ndarray  # (S, 28, 28): the MNIST drawings' second looks (src.data.inputs.Inputs.again) ...
    again_of: np.ndarray  # (S,): ... and which drawing each is of
    drawn_again: np.ndarray  # (T, 28, 28): the same for the drawn digits
    drawn_again_of: np.ndarray  # (T,)


@functools.lru_cache(maxsize=1)
def _drawn_digits(n: int, seed: int) -> dict:
    drawn = preprocessed_digits(n, seed=seed, varied=True)[0]
    again = [upright(x) for x in drawn]
    return {"drawn": drawn, **_looks(again, "drawn_again")}


def _looks(again: list, name: str) -> dict:
    """The second looks that some drawings get (None for the others), as one array and their drawings' indices."""
    of = [i for i, x in enumerate(again) if x is not None]
    return {
        name: np.array([again[i][0] for i in of], np.float32).reshape(-1, 28, 28),
        name + "_of": np.array(of, np.int64),
    }


@functools.lru_cache(maxsize=1)
def _mnist_as_read(val_bytes: bytes) -> dict:
    found, again = [], []
    for image in np.frombuffer(val_bytes, np.uint8).reshape(-1, 28, 28):  # one 280x280 ink map at a time
        read = ink_inputs(as_ink(image))
        found.append(read.digits)
        again.append(read.again)
    owner = [i for i, x in enumerate(found) for _ in range(0 if x is None else len(x))]
    return {
        "mnist": np.concatenate([x for x in found if x is not None]),
        "owner": np.array(owner, np.int64),
        **_looks(again, "again"),
    }


def calibration_digits(
    data, n_mnist: int | None = None, n_drawn: int = 2000, seed: int = 1001, folder=None
) -> TuningDigits:
    """Tuning digits: MNIST validation drawings (all 12,000 unless n_mnist) as the app reads them, and drawn
    digits from src.data.digits. All 12,000, so that the threshold depends less on which few digits it may flag
    (docs/model.md). Slow to make: they are kept in `folder` (DATA_DIR) under a key of the digits and of
    the code that draws and reads them, the last few sets in a file each (src.atomic.cached_arrays: other data,
    a visitor's seed, never grows the folder past them). The last ones made or read are also kept in memory, and
    serve the first drawings of theirs too (a training on fewer examples validates on the first ones)."""
    val = np.ascontiguousarray(data.val.images[:n_mnist].cpu().numpy())
    code = b"".join(Path(m.__file__).read_bytes() for m in (preprocess, segment, inputs, strokes, digits, pools))
    recipe = f"{n_drawn}-{seed}-{CACHE_FORMAT}".encode() + code
    path = Path(folder or settings.DATA_DIR) / CACHE_NAME
    with _kept_lock:  # one thread makes them; another training waits for them rather than making them too
        kept = _kept.get((path, recipe))
        if kept is None or len(kept["val"]) < len(val) or not np.array_equal(kept["val"][: len(val)], val):
            key = hashlib.sha256(val.tobytes() + recipe).hexdigest()
            arrays = cached_arrays(path, key, lambda: {**_mnist_as_read(val.tobytes()), **_drawn_digits(n_drawn, seed)})
            _kept.clear()
            _kept[path, recipe] = kept = {"val": val, **arrays}
    # The inputs and second looks of val's drawings: the first ones (both are in the drawings' order).
    m, a = np.searchsorted(kept["owner"], len(val)), np.searchsorted(kept["again_of"], len(val))
    return TuningDigits(
        kept["mnist"][:m],
        kept["owner"][:m],
        len(val),
        kept["drawn"],
        kept["again"][:a],
        kept["again_of"][:a],
        kept["drawn_again"],
        kept["drawn_again_of"],
    )


_kept: dict = {}  # the last tuning digits made or read, by (file, how they are made): their MNIST images and arrays
_kept_lock = threading.Lock()


def prepare(data_dir=None) -> None:
    """Make or read the tuning digits of the MNIST in `data_dir` (settings.DATA_DIR) into memory, so that no
    training's fit waits for them: for a background thread at server start (without MNIST it logs and returns;
    a training then says that MNIST is missing)."""
    try:
        calibration_digits(load_mnist(data_dir or settings.DATA_DIR), folder=data_dir)
    except DataUnavailable as e:
        log.warning("no tuning digits made: %s", e)


def drawing_scores(
    owner: np.ndarray, drawings: int, scores: np.ndarray, again_of: np.ndarray, again_scores: np.ndarray
) -> np.ndarray:
    """(drawings,) score of each drawing as LoadedModel.read judges it, from its inputs' `scores` (`owner`: whose
    each is) and its second look's: the highest of its inputs (one flagged input flags the drawing), or the
    second look's if lower (it is shown when that is a digit); +inf for a drawing with no input."""
    per = np.full(drawings, -np.inf)
    np.maximum.at(per, owner, scores)
    per[again_of] = np.minimum(per[again_of], again_scores)
    per[np.bincount(owner, minlength=drawings) == 0] = np.inf
    return per


def principal_directions(feats: np.ndarray, k: int, steps: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Mean and the k leading principal directions (d, k) of (N, d) features: subspace iteration on their
    covariance, k + 32 directions wide from a seeded start (faster than a full eigh of the covariance)."""
    mean = feats.mean(0)
    x = torch.from_numpy(np.ascontiguousarray(feats - mean))
    cov = x.T @ x / len(x)
    q = torch.randn(cov.shape[0], min(k + 32, cov.shape[0]), generator=torch.Generator().manual_seed(0))
    for _ in range(steps):
        q = torch.linalg.qr(cov @ q)[0]
    _, v = torch.linalg.eigh(q.T @ cov @ q)  # ascending
    return mean, np.ascontiguousarray((q @ v.flip(1))[:, :k].numpy())  # contiguous: safetensors saves its buffer


def shifted_scores(model: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    """not_digit_score of each input: the network at all nine positions (as run_shifted, in smaller batches)."""
    logits = run_network(model, shifted(images), BATCH)[1]
    return not_digit_score(logits.reshape(len(SHIFTS), len(images), 10))


def flag_threshold(
    model: torch.nn.Module,
    inputs: np.ndarray,
    as_drawn: np.ndarray,
    owner: np.ndarray,
    drawings: int,
    again: np.ndarray,
    again_of: np.ndarray,
    share: float,
    method: str,
) -> float:
    """np.quantile(drawing_scores(...), 1 - share, method): the score above which `share` of the drawings lie,
    from their inputs' and second looks' not_digit_score. Only the drawings whose highest energy as drawn
    (`as_drawn`, one per input) is among the highest are read at all nine positions, and the others are taken
    to score lower than all of these: a drawing that scores high at nine positions scores high as drawn. As
    a check, the drawings at or above the threshold must be in the first half of those read, else twice as
    many are read."""
    order = np.argsort(-drawing_scores(owner, drawings, as_drawn, again_of[:0], as_drawn[:0]), kind="stable")
    scores, again_scores = np.full(len(inputs), np.nan), np.full(len(again), np.nan)
    count = max(SCREENED * int(np.ceil(share * drawings)), MIN_SCREENED)
    while True:
        read = np.zeros(drawings, bool)
        read[order[:count]] = True
        mine, theirs = read[owner], read[again_of]
        for have, x, rows in ((scores, inputs, mine), (again_scores, again, theirs)):
            rows = rows & np.isnan(have)  # not read yet (when the count has doubled)
            if rows.any():
                have[rows] = shifted_scores(model, x[rows])
        per = drawing_scores(owner[mine], drawings, scores[mine], again_of[theirs], again_scores[theirs])
        per[~read] = -np.inf
        threshold = float(np.quantile(per, 1 - share, method=method))
        if count >= drawings or (per[order[count // 2 : count]] < threshold).all():
            return threshold
        count *= 2


def fit_novelty(model: torch.nn.Module, data, digits: TuningDigits | None = None) -> NoveltyDetector:
    """Fit a detector for `model`: PCA of the features of PCA_IMAGES MNIST training images, thresholds from the
    tuning digits (calibration_digits(data) unless given). `data` is a src.data.mnist.MNISTData."""
    digits = digits or calibration_digits(data)
    feats, _ = run_network(model, data.train.images[:PCA_IMAGES].cpu().numpy(), BATCH)
    mean, basis = principal_directions(feats, PCA_DIMS)
    detector = NoveltyDetector(mean, basis, np.inf, np.inf, weights_digest(model))

    # Every tuning input once, as drawn: its features for the unusual threshold, its energy to choose
    # which drawings flag_threshold reads at all nine positions.
    f_m, l_m = run_network(model, digits.mnist, BATCH)
    f_d, l_d = run_network(model, digits.drawn, BATCH)
    mnist = flag_threshold(
        model,
        digits.mnist,
        energy(l_m),
        digits.owner,
        digits.drawings,
        digits.again,
        digits.again_of,
        FLAG_MNIST,
        "lower",
    )
    drawn = flag_threshold(
        model,
        digits.drawn,
        energy(l_d),
        np.arange(len(digits.drawn)),
        len(digits.drawn),
        digits.drawn_again,
        digits.drawn_again_of,
        FLAG_DRAWN,
        "linear",
    )
    # The higher of the two: each set has at most its share flagged.
    detector.threshold = max(mnist, drawn)
    residual = detector.residual(np.concatenate([f_m, f_d]))
    detector.unusual_threshold = float(np.quantile(residual, 1 - UNUSUAL_RATE))
    return detector
