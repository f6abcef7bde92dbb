"""Is it a digit? Two questions about a preprocessed 28x28 drawing, answered from one pass of the network.

1. **Not a digit.** The network is trained with outlier exposure (src/training/loop.py): besides MNIST it sees
   synthetic drawings that are not digits (src/data/synthetic.py) and learns to give them a high energy
   -logsumexp(logits), i.e. no strong logit for any digit, and digits a low one. So its own confidence
   answers the question: above `threshold` the drawing is "not a digit".
2. **An unusual digit.** The classifier is sure, but the drawing lies far from the digits it learned from:
   the log of how much of its 1568 penultimate features lies OUTSIDE the 64-dimensional subspace where
   digits' features live (PCA). Above `unusual_threshold` the page says "an unusual 7" and still shows it.

Both thresholds are calibrated on tuning digits (calibration_digits: MNIST validation digits as the app
reads them, plus drawn digits from src/data/synthetic.py), so that few of them are flagged. Reported figures
come from other data (bench/recognition.py).

The statistics belong to one set of weights. They are saved next to the checkpoint as
NAME.novelty.safetensors (tensors + metadata, no pickle), and the metadata records the SHA-256 of the
weights they were fitted to (src.model.checkpoint.weights_digest): a file fitted to other weights is refused
at load.
"""

import functools
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import save_file
from safetensors import safe_open

from src.atomic import write_temporary
from src.data.synthetic import as_drawing, preprocessed_digits

FORMAT = "novelty-v2"
PCA_DIMS = 64
# Share of the tuning digits each threshold may flag: MNIST digits (as the app reads them) and drawn ones.
FLAG_MNIST, FLAG_DRAWN = 0.007, 0.01
UNUSUAL_RATE = 0.01


class NoveltyMismatch(ValueError):
    """A novelty file that does not belong to the weights it is paired with (or is not one)."""


def novelty_path(checkpoint) -> Path:
    """checkpoints/default.safetensors -> checkpoints/default.novelty.safetensors"""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.stem + ".novelty.safetensors")


def energy(logits: np.ndarray) -> np.ndarray:
    """-logsumexp of each row of (N, 10) logits: higher = less like any digit."""
    return -torch.logsumexp(torch.as_tensor(logits, dtype=torch.float64), dim=1).numpy()


class NoveltyDetector:
    """The fitted statistics and thresholds for one set of weights; see the module docstring."""

    def __init__(self, feature_mean: np.ndarray, pca_basis: np.ndarray, threshold: float,
                 unusual_threshold: float, weights: str):
        self.feature_mean = np.asarray(feature_mean, np.float32)
        self.pca_basis = np.asarray(pca_basis, np.float32)
        self.threshold = float(threshold)
        self.unusual_threshold = float(unusual_threshold)
        self.weights = weights  # SHA-256 of the weights these statistics were fitted to

    def residual(self, feats: np.ndarray) -> np.ndarray:
        """log of the squared length of each feature row outside the digits' PCA subspace."""
        centred = np.asarray(feats, np.float32) - self.feature_mean
        off = centred - (centred @ self.pca_basis) @ self.pca_basis.T
        return np.log((off.astype(np.float64) ** 2).sum(1) + 1e-9)

    def judge(self, feats: np.ndarray, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(not a digit, an unusual digit): two (N,) boolean arrays; "unusual" only where it is a digit."""
        not_digit = energy(logits) > self.threshold
        return not_digit, ~not_digit & (self.residual(feats) > self.unusual_threshold)

    # ------------------------------------------------------------------------------------------- storage
    def write_temporary(self, path) -> str:
        """Write the detector to a temporary file next to `path` (see src.atomic); returns its name."""
        tensors = {"feature_mean": self.feature_mean, "pca_basis": self.pca_basis}
        meta = {"format": FORMAT, "score": "energy", "threshold": repr(self.threshold),
                "unusual_threshold": repr(self.unusual_threshold), "weights_sha256": self.weights}
        return write_temporary(path, lambda tmp: save_file(tensors, tmp, metadata=meta))

    @classmethod
    def load(cls, path, weights: str) -> "NoveltyDetector":
        """Read a detector; NoveltyMismatch if it is not one or was fitted to weights other than `weights`."""
        try:
            with safe_open(str(path), framework="numpy") as f:  # one read: metadata and tensors
                meta = f.metadata() or {}
                tensors = {name: f.get_tensor(name) for name in f.keys()}
        except Exception as e:  # safetensors raises several kinds for damaged files
            raise NoveltyMismatch(f"{path.name}: not a readable novelty file ({e})") from None
        if meta.get("format") != FORMAT or set(tensors) != {"feature_mean", "pca_basis"}:
            raise NoveltyMismatch(f"{path.name}: not a {FORMAT} novelty file")
        if meta.get("weights_sha256") != weights:
            raise NoveltyMismatch(f"{path.name} was fitted to other weights (sha256 {meta.get('weights_sha256', '?')[:12]}…, "
                                  f"these are {weights[:12]}…)")
        return cls(tensors["feature_mean"], tensors["pca_basis"], float(meta["threshold"]),
                   float(meta["unusual_threshold"]), weights)


# ------------------------------------------------------------------------------------------------ fitting
@functools.lru_cache(maxsize=1)
def _drawn_digits(n: int, seed: int) -> np.ndarray:
    return preprocessed_digits(n, seed=seed)[0]


@functools.lru_cache(maxsize=1)
def _mnist_as_drawn(val_bytes: bytes) -> np.ndarray:
    images = np.frombuffer(val_bytes, np.uint8).reshape(-1, 28, 28)
    return np.stack([as_drawing(a) for a in images])


def calibration_digits(data, n_mnist: int = 5000, n_drawn: int = 1000, seed: int = 1001):
    """Tuning digits: (MNIST validation digits as the app reads them from a drawing, drawn digits from
    src.data.synthetic), each (N, 28, 28) float [0, 1]. A few seconds; kept for the next model of the same data."""
    val = np.ascontiguousarray(data.val.images[:n_mnist].cpu().numpy())
    return _mnist_as_drawn(val.tobytes()), _drawn_digits(n_drawn, seed)


def fit_novelty(model: torch.nn.Module, data, weights: str, mnist_digits=None, drawn_digits=None) -> NoveltyDetector:
    """Fit a detector for `model` (whose weights have digest `weights`): PCA of the features of MNIST
    training images, thresholds from the tuning digits (calibration_digits(data) unless given)."""
    from src.reading.inference import run_network  # here, not at the top: src.reading.inference loads checkpoints, which load this

    if mnist_digits is None:
        mnist_digits, drawn_digits = calibration_digits(data)
    feats, _ = run_network(model, data.train.images[:20000].cpu().numpy())
    mean = feats.mean(0)
    centred = (feats - mean).astype(np.float64)
    _, vectors = np.linalg.eigh(centred.T @ centred / len(centred))
    detector = NoveltyDetector(mean, vectors[:, ::-1][:, :PCA_DIMS], np.inf, np.inf, weights)

    f_m, l_m = run_network(model, mnist_digits)
    f_d, l_d = run_network(model, drawn_digits)
    # The higher of the two: each set has at most its share flagged.
    detector.threshold = float(max(np.quantile(energy(l_m), 1 - FLAG_MNIST), np.quantile(energy(l_d), 1 - FLAG_DRAWN)))
    residual = detector.residual(np.concatenate([f_m, f_d]))
    detector.unusual_threshold = float(np.quantile(residual, 1 - UNUSUAL_RATE))
    return detector
