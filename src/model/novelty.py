"""Is it a digit? Two questions about a preprocessed 28x28 drawing, answered from one pass of the network.

1. **Not a digit.** The network is trained with outlier exposure (src/training/loop.py): besides MNIST it sees
   synthetic drawings that are not digits (src/data/nondigits.py) and learns to give them a high energy
   -logsumexp(logits), i.e. no strong logit for any digit, and digits a low one. So its own confidence
   answers the question. The score is the energy averaged over the drawing moved by up to a pixel each way
   (src.data.inputs.SHIFTS): a digit keeps its low energy when moved, a shape that lines up with a digit's
   strokes by chance loses it. Above `threshold` the drawing is "not a digit".
2. **An unusual digit.** The classifier is sure, but the drawing lies far from the digits it learned from:
   the log of how much of its 1568 penultimate features lies OUTSIDE the 64-dimensional subspace where
   digits' features live (PCA). Above `unusual_threshold` the page says "an unusual 7" and still shows it.

Both thresholds are fitted on tuning digits by src/reading/calibration.py, so that few of them are flagged.
Reported figures come from other data (bench/recognition.py).

The statistics belong to one set of weights. They are saved next to the checkpoint as
NAME.novelty.safetensors (tensors + metadata, no pickle), and the metadata records the SHA-256 of the
weights they were fitted to (src.model.checkpoint.weights_digest): a file fitted to other weights is refused
at load.
"""

from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import save_file

from src.atomic import write_temporary

FORMAT = "novelty-v3"  # a new name whenever saved statistics would be read differently (docs/model.md)
PCA_DIMS = 64


class NoveltyMismatch(ValueError):
    """A novelty file that does not belong to the weights it is paired with (or is not one)."""


def novelty_path(checkpoint) -> Path:
    """checkpoints/default.safetensors -> checkpoints/default.novelty.safetensors"""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.stem + ".novelty.safetensors")


def energy(logits: np.ndarray) -> np.ndarray:
    """-logsumexp of each row of (N, 10) logits: higher = less like any digit."""
    return -torch.logsumexp(torch.as_tensor(logits, dtype=torch.float64), dim=1).numpy()


def not_digit_score(logits: np.ndarray) -> np.ndarray:
    """(len(SHIFTS), N, 10) logits of the shifted inputs (src.data.inputs.shifted) -> (N,) mean energy over the
    shifts: higher = less like any digit."""
    return energy(logits.reshape(-1, 10)).reshape(len(logits), -1).mean(0)


class NoveltyDetector:
    """The fitted statistics and thresholds for one set of weights; see the module docstring."""

    def __init__(
        self, feature_mean: np.ndarray, pca_basis: np.ndarray, threshold: float, unusual_threshold: float, weights: str
    ):
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
        """(not a digit, an unusual digit): two (N,) boolean arrays; "unusual" only where it is a digit.
        feats: (N, 1568) of the inputs as drawn; logits: (len(SHIFTS), N, 10) (src.reading.inference.run_shifted)."""
        not_digit = not_digit_score(logits) > self.threshold
        return not_digit, ~not_digit & (self.residual(feats) > self.unusual_threshold)

    # ------------------------------------------------------------------------------------------- storage
    def write_temporary(self, path) -> str:
        """Write the detector to a temporary file next to `path` (see src.atomic); returns its name."""
        tensors = {"feature_mean": self.feature_mean, "pca_basis": self.pca_basis}
        meta = {
            "format": FORMAT,
            "score": "mean energy over SHIFTS",
            "threshold": repr(self.threshold),
            "unusual_threshold": repr(self.unusual_threshold),
            "weights_sha256": self.weights,
        }
        return write_temporary(path, lambda tmp: save_file(tensors, tmp, metadata=meta))

    @classmethod
    def load(cls, path, weights: str) -> "NoveltyDetector":
        """Read a detector; NoveltyMismatch if it is not one or was fitted to weights other than `weights`."""
        try:
            with safe_open(str(path), framework="numpy") as f:  # one read: metadata and tensors
                meta = f.metadata() or {}
                tensors = {name: f.get_tensor(name) for name in f.keys()}
        except Exception as e:  # safetensors raises several kinds for damaged files
            raise NoveltyMismatch(f"{path.name}: not a readable novelty file ({type(e).__name__})") from None
        if meta.get("format") != FORMAT or set(tensors) != {"feature_mean", "pca_basis"}:
            raise NoveltyMismatch(f"{path.name}: not a {FORMAT} novelty file")
        fitted = meta.get("weights_sha256", "?")
        if fitted != weights:
            raise NoveltyMismatch(f"{path.name} was fitted to other weights ({fitted[:12]}…, not {weights[:12]}…)")
        return cls(
            tensors["feature_mean"],
            tensors["pca_basis"],
            float(meta["threshold"]),
            float(meta["unusual_threshold"]),
            weights,
        )
