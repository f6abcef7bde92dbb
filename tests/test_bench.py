"""Smoke tests of the bench scripts that report recognition figures: they run and print their table."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def test_recognition_bench_prints_its_table(data_dir):
    result = subprocess.run([sys.executable, "bench/recognition.py", "--quick"], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "with its novelty statistics" in result.stdout
    for row in ("MNIST test", "drawn, independent, thin pen", "drawn, independent, marker", "non-digits, independent"):
        assert f"| {row}" in result.stdout
    assert "non-digits flagged by kind: letter" in result.stdout


def test_heldout_generator_is_independent_of_the_tuning_one():
    source = (ROOT / "bench" / "heldout.py").read_text()
    assert "src" not in {line.split()[1].split(".")[0] for line in source.splitlines()
                         if line.startswith(("import ", "from "))}


def test_time_to_accuracy_bench_prints_its_table(data_dir):
    result = subprocess.run([sys.executable, "bench/time_to_accuracy.py", "--skip-full", "--tutorial-epochs", "1"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| tutorial loop" in result.stdout
    fast = next(line for line in result.stdout.splitlines() if line.startswith("| fast (Train tab)"))
    assert fast.split("|")[2].strip().endswith(" s")  # the Train tab's default reaches 98.5%
    tutorial = next(line for line in result.stdout.splitlines() if line.startswith("| tutorial loop"))
    assert float(tutorial.split("|")[6].strip().rstrip("%")) > 96  # scored on the pixels it trained on


def test_train_step_bench_times_both_layer_orders(data_dir):
    result = subprocess.run([sys.executable, "bench/train_step.py", "--steps", "2", "--rounds", "1"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if " ms/step | " in line]
    assert rows[0].startswith("tutorial order (ReLU, nn.MaxPool2d), fp32") and rows[0].endswith("| 1.00x")
    assert any(line.startswith("src.model.network (src/training/kernels.py, ReLU), fp32") for line in rows)


def test_each_heldout_drawing_is_on_a_canvas_of_its_own():
    """Every held-out image holds one digit: drawn again from the same seed it is the same image, and the
    images of a set do not pile up on one canvas (a cached canvas once made each drawing hold all before it)."""
    import numpy as np

    from bench.heldout import heldout_digit, heldout_digits

    images = [np.asarray(img) for _, img in heldout_digits(10, 7, pen="thin")]
    alone = np.asarray(heldout_digit(9, np.random.default_rng(0), pen="thin"))
    again = np.asarray(heldout_digit(9, np.random.default_rng(0), pen="thin"))
    assert (alone == again).all()
    for earlier, later in zip(images, images[1:]):  # piled up, each drawing would hold all of the one before
        kept = np.count_nonzero((earlier > 127) & (later > 127)) / np.count_nonzero(earlier > 127)
        assert kept < 0.5, kept
