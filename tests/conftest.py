"""Shared fixtures: real MNIST from DATA_DIR (default ./data), and the shipped checkpoint."""

import os
from pathlib import Path

import pytest

from src import config
from src.data import load_mnist

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def data_dir() -> str:
    raw = Path(config.DATA_DIR) / "MNIST" / "raw"
    if not (raw / "t10k-images-idx3-ubyte").exists() and not (raw / "t10k-images-idx3-ubyte.gz").exists():
        pytest.fail(f"MNIST IDX files are not in {raw}: set DATA_DIR or put them there (see README, Tests)")
    return config.DATA_DIR


@pytest.fixture(scope="session")
def small_mnist(data_dir):
    """4,000 training examples (and proportionally fewer validation and test ones), on the CPU."""
    return load_mnist(data_dir, limit=4000)


@pytest.fixture(scope="session")
def default_checkpoint() -> Path:
    path = config.CHECKPOINT_DIR / config.DEFAULT_CHECKPOINT
    assert path.exists(), f"the shipped checkpoint {path} is missing"
    return path
