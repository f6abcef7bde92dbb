"""MNIST, loaded once into uint8 tensors that live on the training device.

`torchvision.datasets.MNIST(root, download=True)` downloads the four IDX files on a
user's machine and uses them from `<root>/MNIST/raw/` when they are already there.
Batches are then sliced from memory: no per-sample PIL or ToTensor work.
"""

from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision.datasets import MNIST

from src.atomic import one_at_a_time

VAL_FRACTION = 0.2


class DataUnavailable(RuntimeError):
    """MNIST is neither on disk nor downloadable. Its text names the server's folders (for the command line and
    the log); `public` does not (for a page)."""

    public = (
        "MNIST is not available on this server. Its operator can put the four MNIST files in "
        "DATA_DIR/MNIST/raw/ (see the README)."
    )


@dataclass
class Split:
    images: torch.Tensor  # (N, 28, 28) uint8, white digit on black
    labels: torch.Tensor  # (N,) int64

    def __len__(self):
        return len(self.labels)

    def to(self, device):
        return Split(self.images.to(device), self.labels.to(device))

    def subset(self, n: int | None):
        return self if n is None or n >= len(self) else Split(self.images[:n], self.labels[:n])


@dataclass
class MNISTData:
    train: Split
    val: Split
    test: Split


def read_mnist(data_dir: str, train: bool) -> Split:
    """One half of MNIST (the 60k training or the 10k test images) as uint8 tensors."""
    try:
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        with one_at_a_time(Path(data_dir) / ".mnist.lock"):  # torchvision writes the files in place, unlocked
            ds = MNIST(root=data_dir, train=train, download=True)
    except Exception as e:  # torchvision raises RuntimeError/URLError/OSError depending on what failed
        raise DataUnavailable(
            f"MNIST is not in {data_dir}/MNIST/raw/ and could not be downloaded ({type(e).__name__}: {e}). "
            f"Put the four IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
            f"t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte) in {data_dir}/MNIST/raw/ "
            f"or choose another folder with --data-dir / DATA_DIR."
        ) from None
    return Split(ds.data.clone(), ds.targets.clone())


def load_mnist(data_dir: str, device="cpu", seed: int = 0, limit: int | None = None) -> MNISTData:
    """The seeded 80/20 train/validation split of the 60k images, and the 10k test set.

    `limit` caps the number of training examples (validation and test are capped in proportion)
    for quick runs on slow machines and in tests.
    """
    full, test = read_mnist(data_dir, train=True), read_mnist(data_dir, train=False)
    order = torch.randperm(len(full), generator=torch.Generator().manual_seed(seed))
    n_val = int(len(full) * VAL_FRACTION)
    val = Split(full.images[order[:n_val]], full.labels[order[:n_val]])
    train = Split(full.images[order[n_val:]], full.labels[order[n_val:]])
    if limit is not None:
        scale = limit / len(train)
        train, val, test = (
            train.subset(limit),
            val.subset(max(1, int(len(val) * scale))),
            test.subset(max(1, int(len(test) * scale))),
        )
    return MNISTData(train.to(device), val.to(device), test.to(device))
