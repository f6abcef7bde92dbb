"""MNIST loading (src/data/mnist.py): the seeded split, and one clear message without data."""

import pytest
import torch

from src.data.mnist import DataUnavailable, load_mnist, read_mnist


def test_mnist_loads_from_idx_files_with_a_seeded_80_20_split(data_dir):
    data = load_mnist(data_dir)
    assert (len(data.train), len(data.val), len(data.test)) == (48_000, 12_000, 10_000)
    assert data.train.images.dtype == torch.uint8 and data.train.images.shape[1:] == (28, 28)
    assert set(data.test.labels.unique().tolist()) == set(range(10))
    again = load_mnist(data_dir)
    assert torch.equal(again.val.labels, data.val.labels)
    other_seed = load_mnist(data_dir, seed=1)
    assert not torch.equal(other_seed.val.labels, data.val.labels)


def test_missing_data_gives_one_clear_message(tmp_path, monkeypatch):
    from torchvision.datasets import MNIST

    monkeypatch.setattr(MNIST, "mirrors", ["http://127.0.0.1:9/"])  # no download, even where there is internet
    with pytest.raises(DataUnavailable, match="MNIST/raw") as err:
        read_mnist(str(tmp_path), train=False)
    assert str(tmp_path) in str(err.value)


def test_mnist_is_read_by_one_process_or_thread_at_a_time(tmp_path, monkeypatch):
    """torchvision writes the downloaded files in place: a second reader would find them half written."""
    from filelock import FileLock, Timeout

    from src.data import mnist

    held = []

    class Downloading:
        def __init__(self, root, train, download):
            try:  # the lock read_mnist holds, taken again from here
                FileLock(tmp_path / ".mnist.lock", timeout=0).acquire()
                held.append(False)
            except Timeout:
                held.append(True)
            self.data, self.targets = torch.zeros(1, 28, 28, dtype=torch.uint8), torch.zeros(1, dtype=torch.int64)

    monkeypatch.setattr(mnist, "MNIST", Downloading)
    mnist.read_mnist(str(tmp_path), train=False)
    assert held == [True]
