"""Is it a digit? A novelty score for a preprocessed 28x28 drawing, and a threshold on it.

The chosen score ("energy+residual", picked by measurement in bench/novelty.py) adds two signs that an
input is not like the digits the network was trained on:

    energy    -logsumexp(logits): low (very negative) when some class fits strongly, high when none does;
    residual  log of how much of the penultimate 1568-d feature vector lies OUTSIDE the 64-dimensional
              subspace in which MNIST training digits' features live (PCA fitted on MNIST training images).
              Letters, shapes and scribbles excite feature combinations digits never do.

Each is put in units of its spread on digits ((s - median) / (90th percentile - median), measured on
held-out digits) and the two are summed; above `threshold` the drawing is flagged as "not a digit".
Other scores (max softmax probability, energy alone, Mahalanobis distance on the logits, residual alone)
are available for comparison via METHODS; bench/novelty.py prints how each one does.

    det = NoveltyDetector.from_file("checkpoints/default.novelty.json")
    det.score(model, image28)        -> float (higher = less digit-like)
    det.is_digit(model, image28)     -> bool (score <= det.threshold)

    stats = fit_novelty(model, data, drawn=my_digits)   # data: src.data.MNISTData; drawn: (N,28,28) floats
    NoveltyDetector(stats).save("checkpoints/default.novelty.json")

`model` is a TutorialCNN (the LoadedModel.model of src.inference), `image28` the (28, 28) float [0, 1]
output of src.preprocess.preprocess. The statistics belong to one checkpoint: a detector fitted for
default.safetensors is saved as default.novelty.json next to it (JSON with base64 float16 arrays; no
pickle). Its name does not end in .safetensors, so it is never listed as a checkpoint.
"""

import base64
import json
from pathlib import Path

import numpy as np
import torch

from src.atomic import atomic_write
from src.data import MNISTData, normalize

METHODS = ("msp", "energy", "maha_logit", "residual", "energy+residual")
DEFAULT_METHOD = "energy+residual"
PCA_DIMS = 64
FORMAT = "novelty-v1"


def novelty_path(checkpoint: Path | str) -> Path:
    """checkpoints/default.safetensors -> checkpoints/default.novelty.json"""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.stem + ".novelty.json")


# --------------------------------------------------------------------------------------------- features
@torch.inference_mode()
def features(model: torch.nn.Module, images: np.ndarray, batch_size: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """(N, 28, 28) or (28, 28) float [0, 1] (or uint8) images -> (penultimate (N, 1568), logits (N, 10)), float64."""
    x = torch.as_tensor(np.asarray(images))
    x = normalize(x if x.dtype == torch.uint8 else x.float()).reshape(-1, 1, 28, 28).float()
    m = model.eval()
    feats, logits = [], []
    for start in range(0, len(x), batch_size):
        f = m.features(x[start:start + batch_size])
        feats.append(f)
        logits.append(m.fc(f))
    return torch.cat(feats).double().numpy(), torch.cat(logits).double().numpy()


def _logsumexp(logits: np.ndarray) -> np.ndarray:
    top = logits.max(1, keepdims=True)
    return (top + np.log(np.exp(logits - top).sum(1, keepdims=True)))[:, 0]


def raw_scores(stats: dict, feats: np.ndarray, logits: np.ndarray) -> dict[str, np.ndarray]:
    """The un-normalised component scores (higher = less digit-like) that `stats` allows, each (N,)."""
    out = {
        "msp": -np.exp(logits.max(1) - _logsumexp(logits)),
        "energy": -_logsumexp(logits),
    }
    if "logit_means" in stats:
        mu, prec = stats["logit_means"], stats["logit_precision"]
        d = np.stack([(((logits - m) @ prec) * (logits - m)).sum(1) for m in mu], axis=1)
        out["maha_logit"] = d.min(1)
    if "pca_basis" in stats:
        centred = feats - stats["feature_mean"]
        off = centred - (centred @ stats["pca_basis"]) @ stats["pca_basis"].T
        out["residual"] = np.log((off ** 2).sum(1) + 1e-9)
    return out


def combined_scores(stats: dict, method: str, feats: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """The score of `method` for each row: a single component, or the sum of the normalised components."""
    raw = raw_scores(stats, feats, logits)
    parts = method.split("+")
    if len(parts) == 1:
        return raw[method]
    total = 0.0
    for p in parts:
        lo, hi = stats["scale"][p]
        total = total + (raw[p] - lo) / (hi - lo)
    return total


# --------------------------------------------------------------------------------------------- fitting
def fit_statistics(model: torch.nn.Module, data: MNISTData, pca_dims: int = PCA_DIMS, limit: int | None = 30000) -> dict:
    """Class means and shared precision of the logits, and the mean and top-`pca_dims` principal directions
    of the penultimate features, on (up to `limit`) MNIST training images."""
    images, labels = data.train.images[:limit].cpu().numpy(), data.train.labels[:limit].cpu().numpy()
    feats, logits = features(model, images)
    mu = np.stack([logits[labels == c].mean(0) for c in range(10)])
    resid = logits - mu[labels]
    cov = resid.T @ resid / len(resid) + 1e-6 * np.eye(10)
    mean = feats.mean(0)
    centred = feats - mean
    _, vectors = np.linalg.eigh(centred.T @ centred / len(centred))
    basis = vectors[:, ::-1][:, :pca_dims]
    # Stored as float16: round now so that fitting-time and loaded scores are identical.
    return {
        "logit_means": mu, "logit_precision": np.linalg.inv(cov),
        "feature_mean": mean.astype(np.float16).astype(np.float64),
        "pca_basis": basis.astype(np.float16).astype(np.float64),
    }


def calibrate(stats: dict, method: str, model, digits: np.ndarray, flag_rate: float = 0.02) -> dict:
    """A copy of `stats` with `method`, its normalisation (measured on `digits`) and the threshold that flags
    `flag_rate` of `digits` (held-out digit images, (N, 28, 28) floats in [0, 1])."""
    feats, logits = features(model, digits)
    stats = {**stats, "method": method, "scale": {}}
    raw = raw_scores(stats, feats, logits)
    for p in method.split("+"):
        lo, hi = np.median(raw[p]), np.quantile(raw[p], 0.9)
        stats["scale"][p] = [float(lo), float(hi if hi > lo else lo + 1e-6)]
    scores = combined_scores(stats, method, feats, logits)
    stats["threshold"] = float(np.quantile(scores, 1 - flag_rate))
    return stats


def fit_novelty(model: torch.nn.Module, data: MNISTData, drawn: np.ndarray | None = None,
                method: str = DEFAULT_METHOD, flag_rate: float = 0.02) -> dict:
    """Everything a NoveltyDetector needs, for `model`.

    Statistics come from MNIST training images; the normalisation and threshold from held-out digits:
    `drawn` (your own drawn digits through src.preprocess, the kind of input the app sees) when given,
    otherwise MNIST validation images. The threshold flags `flag_rate` of those digits.
    """
    stats = fit_statistics(model, data)
    digits = drawn if drawn is not None else data.val.images[:5000].cpu().numpy().astype(np.float32) / 255
    return calibrate(stats, method, model, digits, flag_rate)


# --------------------------------------------------------------------------------------------- storage
_ARRAYS = ("logit_means", "logit_precision", "feature_mean", "pca_basis")


def _encode(a: np.ndarray, dtype) -> dict:
    a = np.ascontiguousarray(a, dtype=dtype)
    return {"dtype": a.dtype.str, "shape": list(a.shape), "base64": base64.b64encode(a.tobytes()).decode("ascii")}


def _decode(d: dict) -> np.ndarray:
    raw = base64.b64decode(d["base64"])
    return np.frombuffer(raw, dtype=np.dtype(d["dtype"])).reshape(d["shape"]).astype(np.float64)


class NoveltyDetector:
    """A fitted novelty score and its threshold; see the module docstring."""

    def __init__(self, stats: dict):
        if stats.get("method") not in METHODS:
            raise ValueError(f"unknown novelty method {stats.get('method')!r}; expected one of {METHODS}")
        self.stats = stats
        self.method: str = stats["method"]
        self.threshold: float = float(stats["threshold"])

    def scores(self, model: torch.nn.Module, images: np.ndarray) -> np.ndarray:
        """(N, 28, 28) images -> (N,) scores."""
        return self.scores_of(*features(model, images))

    def scores_of(self, feats: np.ndarray, logits: np.ndarray) -> np.ndarray:
        """Scores from features and logits already computed (see features())."""
        return combined_scores(self.stats, self.method, feats, logits)

    def score(self, model: torch.nn.Module, image28: np.ndarray) -> float:
        """How un-digit-like one (28, 28) preprocessed image is; above self.threshold means "not a digit"."""
        return float(self.scores(model, np.asarray(image28)[None])[0])

    def is_digit(self, model: torch.nn.Module, image28: np.ndarray) -> bool:
        return self.score(model, image28) <= self.threshold

    def to_dict(self) -> dict:
        out = {"format": FORMAT}
        for k, v in self.stats.items():
            if k in _ARRAYS:
                # Float16 keeps the file small (the 64x1568 basis is most of it); logits' stats stay float64.
                out[k] = _encode(v, np.float16 if k in ("feature_mean", "pca_basis") else np.float64)
            else:
                out[k] = v
        return out

    def save(self, path: Path | str) -> Path:
        """Write the detector as JSON atomically (temporary file in the same folder, then os.replace)."""
        return atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(self.to_dict())))

    @classmethod
    def from_file(cls, path: Path | str) -> "NoveltyDetector":
        """Load a detector written by save(); ValueError if the file is not one."""
        try:
            d = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{path}: not a readable novelty file ({e})") from None
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ValueError(f"{path}: not a {FORMAT} novelty file")
        stats = {k: (_decode(v) if k in _ARRAYS else v) for k, v in d.items() if k != "format"}
        return cls(stats)
