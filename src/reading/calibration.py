"""Fitting a model's "is it a digit?" statistics (src/model/novelty.py), the step before saving it:

    save_model(path, model, metadata, fit_novelty(model, data))

The thresholds come from tuning digits (calibration_digits): MNIST validation digits as the app reads them
from a drawing, and drawn digits from src/data/synthetic.py (varied_mask: hairline to marker, upright to
slanted). "Not a digit" flags at most FLAG_MNIST and FLAG_DRAWN of them: a digit hidden behind "not a digit"
is worse than a scribble shown with its probabilities (the choice and its ROC: docs/model.md).
"""

import functools
import hashlib
from pathlib import Path

import numpy as np
import torch

from src import config
from src.atomic import cached_arrays
from src.data import preprocess, synthetic
from src.data.synthetic import as_drawings, preprocessed_digits
from src.model.checkpoint import weights_digest
from src.model.novelty import PCA_DIMS, NoveltyDetector, energy
from src.reading.inference import run_network

# Share of the tuning digits "not a digit" may flag: MNIST digits (as the app reads them) and drawn ones.
FLAG_MNIST, FLAG_DRAWN = 0.002, 0.003
UNUSUAL_RATE = 0.01
CACHE_NAME = "calibration-digits.safetensors"  # in DATA_DIR, next to the synthetic training drawings


@functools.lru_cache(maxsize=1)
def _drawn_digits(n: int, seed: int) -> np.ndarray:
    return preprocessed_digits(n, seed=seed, varied=True)[0]


@functools.lru_cache(maxsize=1)
def _mnist_as_drawn(val_bytes: bytes) -> np.ndarray:
    images = np.frombuffer(val_bytes, np.uint8).reshape(-1, 28, 28)
    return as_drawings(images)


def calibration_digits(data, n_mnist: int | None = None, n_drawn: int = 2000, seed: int = 1001, folder=None):
    """Tuning digits: (MNIST validation digits as the app reads them from a drawing, all 12,000 unless
    n_mnist, and drawn digits from src.data.synthetic), each (N, 28, 28) float [0, 1]. With all 12,000, the 0.2%
    that may be flagged are 24 digits, not 10, and the threshold depends less on which few they are (for one
    model, the first 5,000 and the next 7,000 gave thresholds 1.4 apart). About 15 s to make; the last ones made
    are kept in one file in `folder` (DATA_DIR), with a key of the digits and of the code that draws and reads
    them: other data (a visitor's seed) makes them again and replaces the file, so it never grows."""
    val = np.ascontiguousarray(data.val.images[:n_mnist].cpu().numpy())
    key = hashlib.sha256(val.tobytes() + f"{n_drawn}-{seed}".encode()
                         + Path(preprocess.__file__).read_bytes() + Path(synthetic.__file__).read_bytes()).hexdigest()
    kept = cached_arrays(Path(folder or config.DATA_DIR) / CACHE_NAME, key,
                         lambda: {"mnist": _mnist_as_drawn(val.tobytes()), "drawn": _drawn_digits(n_drawn, seed)})
    return kept["mnist"], kept["drawn"]


def fit_novelty(model: torch.nn.Module, data, mnist_digits=None, drawn_digits=None) -> NoveltyDetector:
    """Fit a detector for `model`: PCA of the features of MNIST training images, thresholds from the tuning
    digits (calibration_digits(data) unless given). `data` is a src.data.mnist.MNISTData."""
    if mnist_digits is None:
        mnist_digits, drawn_digits = calibration_digits(data)
    feats, _ = run_network(model, data.train.images[:20000].cpu().numpy())
    mean = feats.mean(0)
    centred = (feats - mean).astype(np.float64)
    _, vectors = np.linalg.eigh(centred.T @ centred / len(centred))
    detector = NoveltyDetector(mean, vectors[:, ::-1][:, :PCA_DIMS], np.inf, np.inf, weights_digest(model))

    f_m, l_m = run_network(model, mnist_digits)
    f_d, l_d = run_network(model, drawn_digits)
    # The higher of the two: each set has at most its share flagged.
    detector.threshold = float(max(np.quantile(energy(l_m), 1 - FLAG_MNIST), np.quantile(energy(l_d), 1 - FLAG_DRAWN)))
    residual = detector.residual(np.concatenate([f_m, f_d]))
    detector.unusual_threshold = float(np.quantile(residual, 1 - UNUSUAL_RATE))
    return detector
