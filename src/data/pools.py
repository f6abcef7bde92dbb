"""The synthetic training pools for outlier exposure, drawn digits and non-digits through to_mnist, kept in
DATA_DIR after the first time; and MNIST's own training images as the app reads them from a drawing.

This is the tuning family: the "is it a digit?" training, its thresholds and the tests use it. Reported
figures use bench/heldout.py, an independent generator that nothing here is tuned on.
"""

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from src.atomic import cached_arrays
from src.data.digits import varied_mask
from src.data.nondigits import KINDS, nondigit_mask
from src.data.preprocess import to_mnist


def as_ink(image28: np.ndarray) -> np.ndarray:
    """An MNIST image (28x28 uint8, white on black) as a drawing's ink map: enlarged to 280x280 (bicubic, as a
    scan or a screenshot would be), float32 in [0, 1]."""
    big = Image.fromarray(np.asarray(image28, np.uint8)).resize((280, 280), Image.Resampling.BICUBIC)
    return np.asarray(big, np.float32) / 255


def as_drawing(image28: np.ndarray) -> np.ndarray:
    """An MNIST image as the app reads it from a drawing: as_ink put through to_mnist:
    float32 (28, 28) in [0, 1]."""
    out = to_mnist(as_ink(image28))
    return np.zeros((28, 28), np.float32) if out is None else out


def as_drawings(images) -> np.ndarray:
    """as_drawing of each of (N, 28, 28) MNIST images: float32 (N, 28, 28)."""
    return np.stack([as_drawing(a) for a in images])


# Letters too close to a digit to be taught as "not a digit" (B ~ 8, T ~ 7); they stay in the tuning set.
OUTLIER_KINDS = tuple(k for k in KINDS if k not in ("letter_B", "letter_T"))


POOL_VERSION = 7  # bump when the generator changes, so that cached pools are drawn again
POOL_SIZE = 10_000  # drawn digits and non-digits for training (drawn once, then kept)
POOLS_CACHE = "synthetic-pools.safetensors"  # in DATA_DIR, a file for each (n, seed) of the last few


def cached_training_pools(
    folder, n: int = POOL_SIZE, seed: int = 0, mnist=None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """training_pools(n, seed), kept in `folder` (DATA_DIR) after the first call (src.atomic.cached_arrays).
    With `mnist` (a src.data.mnist Split of training images), the drawn digits also hold n of them as the app
    reads them from a drawing (mnist_as_drawn): the network learns the very input it is served."""
    key = hashlib.sha256(f"pools-v{POOL_VERSION}-{n}-{seed}".encode()).hexdigest()
    z = cached_arrays(
        Path(folder) / POOLS_CACHE, key, lambda: dict(zip(("drawn", "labels", "outliers"), training_pools(n, seed)))
    )
    drawn, labels, outliers = z["drawn"], z["labels"], z["outliers"]
    if mnist is not None:
        more, more_labels = mnist_as_drawn(mnist, folder, n, seed)
        drawn, labels = np.concatenate([drawn, more]), np.concatenate([labels, more_labels])
    return drawn, labels, outliers


AS_DRAWN_CACHE = "mnist-as-drawn.safetensors"  # in DATA_DIR: the last few sets made, a file each


def mnist_as_drawn(split, folder, n: int = POOL_SIZE, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n images of `split` (training images only, never validation ones), picked by `seed`, as_drawing: (uint8
    (n, 28, 28), labels). The last few sets made are kept in `folder`, keyed by their
    images and the code that reads them."""
    pick = np.random.default_rng(seed).permutation(len(split))[:n]
    images, labels = split.images.cpu().numpy()[pick], split.labels.cpu().numpy()[pick].astype(np.int64)
    key = hashlib.sha256(
        images.tobytes() + Path(__file__).read_bytes() + Path(to_mnist.__code__.co_filename).read_bytes()
    ).hexdigest()
    kept = cached_arrays(
        Path(folder) / AS_DRAWN_CACHE, key, lambda: {"drawn": (as_drawings(images) * 255 + 0.5).astype(np.uint8)}
    )
    return kept["drawn"], labels


def training_pools(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic training images for outlier exposure, drawn on 200x200 canvases (digits by varied_mask) and
    put through to_mnist: (drawn digits (n, 28, 28) uint8, their labels (n,), non-digits (m, 28, 28)
    uint8, m <= n: the ones preprocessing rejects, e.g. filled blobs, are left out). Seeds from 10**6 * seed up,
    never the tuning or test seeds."""
    rng = np.random.default_rng(1_000_000 * (seed + 1))
    digits, labels, others = [], [], []
    for i in range(n):
        d = to_mnist(np.asarray(varied_mask(i % 10, rng, 200), np.float32) / 255)
        if d is not None:
            digits.append(d)
            labels.append(i % 10)
        kind = "glyph" if i % 2 else OUTLIER_KINDS[i // 2 % len(OUTLIER_KINDS)]  # half of them font glyphs
        o = to_mnist(np.asarray(nondigit_mask(kind, rng, 200, varied=True), np.float32) / 255)
        if o is not None:
            others.append(o)

    def u8(images):
        return (np.array(images, np.float32).reshape(-1, 28, 28) * 255 + 0.5).astype(np.uint8)

    return u8(digits), np.array(labels, np.int64), u8(others)
