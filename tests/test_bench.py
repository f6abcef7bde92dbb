"""Smoke tests of the bench scripts that report recognition and training figures: each runs as a module from the
repository root (python -m bench.NAME) and prints its table. Nothing here imports bench/."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def bench(name: str, *args: str) -> str:
    """What `python -m bench.NAME ARGS` prints, run from the repository root; it must exit 0."""
    result = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def row(out: str, start: str) -> list[str]:
    """The cells of the first table row of `out` that starts with `start`."""
    return [cell.strip() for cell in next(line for line in out.splitlines() if line.startswith(start)).split("|")]


def test_recognition_bench_prints_its_table(data_dir):
    out = bench("recognition", "--quick")
    assert "with its novelty statistics" in out
    for name in (
        "MNIST test",
        "drawn, independent, thin pen",
        "drawn, independent, marker",
        "non-digits, independent",
        "drawn, independent, hairline pen",
        "drawn, independent, thick marker",
        "drawn, independent, slanted",
        "drawn, independent, European 1s and 7s",
        "drawn, independent, open and closed 4s",
        "drawn, independent, 10-20% of the canvas high, in a corner",
        "numbers of 2-4 digits, independent",
        "non-digits, independent, a seed never looked at",
    ):
        assert f"| {name}" in out
    assert "non-digits flagged by kind: letter" in out
    right = float(row(out, "| numbers of 2-4 digits")[3].rstrip("%"))
    assert right >= 90  # numbers with a 1 in them are split too


def test_calibration_bench_prints_the_roc_on_tuning_data(data_dir):
    out = bench("calibration", "--quick")
    caught = [float(row(out, f"| {rate}% |")[3].rstrip("%")) for rate in ("0.1", "1.0")]
    assert 50 <= caught[0] <= caught[1]  # catching more non-digits costs more digits flagged
    assert "the checkpoint's threshold" in out
    guard = [float(row(out, f"| {name} |")[3].rstrip("%")) for name in ("thin pen", "hairline pen", "marker pen")]
    assert max(guard) <= 1.0  # the held-out generator's digits (guard seeds): few flagged


def test_heldout_generator_is_independent_of_the_tuning_one():
    source = (ROOT / "bench" / "heldout.py").read_text()
    assert "src" not in {
        line.split()[1].split(".")[0] for line in source.splitlines() if line.startswith(("import ", "from "))
    }


def test_time_to_accuracy_bench_prints_its_table(data_dir):
    out = bench("time_to_accuracy", "--skip-full", "--tutorial-epochs", "0", "--fast-epochs", "1", "--limit", "12000")
    assert "| tutorial loop" not in out
    for name in ("| fast (Train tab)", "| fast (Train tab) without the CPU kernels"):
        assert row(out, name)[5] == "1" and float(row(out, name)[6].rstrip("%")) > 50  # 1 epoch: learning (chance 10%)
    assert re.search(r"the CPU kernels: [\d.]+x faster", out)


def test_train_step_bench_times_the_network_with_and_without_the_kernels(data_dir):
    rows = [line for line in bench("train_step", "--steps", "2", "--rounds", "1").splitlines() if " ms/step | " in line]
    assert rows[0].startswith("TutorialCNN, fp32") and rows[0].endswith("| 1.00x")
    assert any(line.startswith("TutorialCNN with the CPU kernels, fp32") for line in rows)


def test_each_heldout_drawing_is_on_a_canvas_of_its_own():
    """Every held-out image holds one digit: drawn again from the same seed it is the same image, and the
    images of a set do not pile up on one canvas (a cached canvas once made each drawing hold all before it)."""
    out = bench("heldout", "digits", "--n", "10", "--seed", "7", "--pen", "thin")
    kept = [float(share) for share in re.findall(r"; ([\d.]+)% of the one before's ink", out)]
    assert len(kept) == 9 and max(kept) < 50, out  # piled up, each drawing would hold all of the one before
    assert "the same seed again, in this process: the same 10 images" in out, out


def test_the_heldout_digits_of_the_reported_rows_are_the_images_they_always_were():
    """New pens and kinds must not change what the existing rows draw: the pixels of the first 20 thin-pen
    and marker drawings, hashed (as the generator drew them before the harder kinds were added)."""
    code = (
        "import hashlib, numpy as np; from bench.heldout import heldout_digits\n"
        "for seed, pen in ((31, 'thin'), (32, 'marker')):\n"
        "    d = hashlib.sha256()\n"
        "    for label, image in heldout_digits(20, seed, pen=pen):\n"
        "        d.update(bytes([label])); d.update(np.asarray(image).tobytes())\n"
        "    print(d.hexdigest()[:16])"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["e25b1b93e5987ff3", "7630d6196b5d69e2"]
