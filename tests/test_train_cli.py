"""train.py, the command line: a short run writes a whole checkpoint; no data gives one clear line."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from src.model.checkpoint import load_model

ROOT = Path(__file__).resolve().parent.parent
RECORD_KEYS = {"epoch", "train_loss", "val_loss", "val_acc", "seconds"}


def run(args: list[str], timeout: int) -> subprocess.CompletedProcess:
    """Python with `args`, from the repository root; its output as text."""
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_train_cli_end_to_end(tmp_path, data_dir):
    out = tmp_path / "X.safetensors"
    flags = "--epochs 1 --limit 3000 --seed 0 --teachers 1 --outlier-weight 0.05 --energy-outliers -3".split()
    result = run(["train.py", *flags, "--data-dir", data_dir, "--out", str(out)], timeout=300)
    assert result.returncode == 0, result.stderr
    assert "teacher 1/1 | epoch   1 | train loss" in result.stdout
    assert "\nepoch   1 | train loss" in result.stdout and "val loss" in result.stdout
    assert "test accuracy" in result.stdout
    meta = json.loads(out.with_suffix(".json").read_text())
    assert len(meta["history"]) == 1 and RECORD_KEYS <= set(meta["history"][0])
    assert meta["hyperparameters"]["seed"] == 0 and meta["hyperparameters"]["teachers"] == 1
    assert (meta["hyperparameters"]["outlier_weight"], meta["hyperparameters"]["energy_outliers"]) == (0.05, -3)
    assert [t["seed"] for t in meta["teachers"]] == [0] and 0 < meta["teachers"][0]["val_acc"] <= 100
    model, _, detector = load_model(out)  # weights, JSON and the novelty statistics that belong to them
    assert detector is not None and detector.weights == meta["weights_sha256"]


@pytest.mark.slow  # a fresh Python with PyTorch
def test_train_cli_without_data_prints_one_clear_line(tmp_path):
    env_code = (
        "import sys, torchvision; torchvision.datasets.MNIST.mirrors = ['http://127.0.0.1:9/'];"
        "sys.argv = ['train.py', '--data-dir', sys.argv[1], '--out', sys.argv[2]];"
        "import runpy; runpy.run_path('train.py', run_name='__main__')"
    )
    result = run(["-c", env_code, str(tmp_path), str(tmp_path / "o.safetensors")], timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("error: MNIST is not in") and "Traceback" not in result.stderr
