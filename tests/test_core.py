"""The model, the MNIST loader, the training engine and the checkpoint format."""

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from src import checkpoint as ckpt
from src.checkpoint import CheckpointError, load_checkpoint, load_model
from src.data import DataUnavailable, load_mnist, read_mnist
from src.training import TrainConfig, augment, evaluate, train_epochs
from src.model import PARAMETER_COUNT, TutorialCNN, count_parameters

ROOT = Path(__file__).resolve().parent.parent
RECORD_KEYS = {"epoch", "train_loss", "val_loss", "val_acc", "seconds"}


def test_model_has_the_tutorial_size_and_output_shape():
    model = TutorialCNN()
    assert count_parameters(model) == PARAMETER_COUNT == 21_578
    assert model(torch.zeros(5, 1, 28, 28)).shape == (5, 10)


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


def test_augment_keeps_shape_and_range_and_changes_images(small_mnist):
    x = small_mnist.train.images[:64].unsqueeze(1).float() / 255
    y = augment(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    assert (y - x).abs().mean() > 0.01
    # the digit survives: no image loses most of its ink or gains a blob, and on average ink is kept
    ratio = y.sum((1, 2, 3)) / x.sum((1, 2, 3))
    assert ratio.min() > 0.3 and ratio.max() < 2.5 and 0.8 < ratio.mean() < 1.25


def test_short_training_run_lowers_the_loss(small_mnist):
    records = list(train_epochs(TutorialCNN(), small_mnist, TrainConfig(epochs=3, batch_size=64)))
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert all(RECORD_KEYS <= set(r) for r in records)
    assert records[-1]["train_loss"] < records[0]["train_loss"]
    assert records[-1]["val_loss"] < records[0]["val_loss"]
    assert records[-1]["val_acc"] > 85


def test_stop_event_halts_between_batches_and_keeps_the_last_completed_epoch(small_mnist):
    stop, batches_seen, snapshots = threading.Event(), [], []

    def progress(iterable, **_):
        for item in iterable:
            batches_seen.append(1)
            if len(batches_seen) == 70:  # epoch 2 (63 batches per epoch at 4,000 / 64)
                stop.set()
            yield item

    model = TutorialCNN()
    for record in train_epochs(model, small_mnist, TrainConfig(epochs=5, batch_size=64), stop=stop, progress=progress):
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
    assert len(snapshots) == 1
    assert len(batches_seen) == 70
    assert all(torch.equal(v, snapshots[0][k]) for k, v in model.state_dict().items())


def test_checkpoint_round_trip(tmp_path, small_mnist, save_model):
    model = TutorialCNN().eval()
    path = save_model(tmp_path / "m.safetensors", model, {"test_acc": 12.5, "history": []})
    loaded, meta, detector = load_model(path)
    assert detector is not None and detector.weights == meta["weights_sha256"]
    x = small_mnist.test.images[:8].unsqueeze(1).float()
    assert torch.equal(loaded(x), model(x))
    assert meta["architecture"] == "TutorialCNN" and meta["parameters"] == 21_578 and meta["test_acc"] == 12.5
    assert {"created", "versions"} <= set(meta)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.novelty.safetensors", "m.safetensors"]


def test_truncated_checkpoint_is_refused_clearly(tmp_path, save_model):
    path = save_model(tmp_path / "m.safetensors", TutorialCNN(), {})
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_checkpoint(path)


def test_wrong_shape_checkpoint_is_refused_clearly(tmp_path, save_model):
    from safetensors.torch import save_file

    path = save_model(tmp_path / "m.safetensors", TutorialCNN(), {})
    tensors = {k: v.clone() for k, v in TutorialCNN().state_dict().items()}
    tensors["fc.weight"] = torch.zeros(10, 100)
    save_file(tensors, path)
    with pytest.raises(CheckpointError, match=r"'fc.weight' has shape \(10, 100\), expected \(10, 1568\)"):
        load_checkpoint(path)


def test_interrupted_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch, save_model):
    path = save_model(tmp_path / "m.safetensors", TutorialCNN(), {"test_acc": 1.0})
    before = path.read_bytes(), ckpt.sidecar(path).read_text(), ckpt.novelty_path(path).read_bytes()

    def full_disk(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ckpt, "save_file", full_disk)
    with pytest.raises(OSError, match="No space left"):
        save_model(path, TutorialCNN(), {"test_acc": 2.0})
    assert (path.read_bytes(), ckpt.sidecar(path).read_text(), ckpt.novelty_path(path).read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.novelty.safetensors", "m.safetensors"]
    assert load_model(path)[2] is not None


def test_novelty_statistics_fitted_to_other_weights_are_refused_with_a_log_line(tmp_path, save_model, caplog):
    a = save_model(tmp_path / "a.safetensors", TutorialCNN(), {})
    b = save_model(tmp_path / "b.safetensors", TutorialCNN(), {})  # other (random) weights
    ckpt.novelty_path(a).write_bytes(ckpt.novelty_path(b).read_bytes())
    with caplog.at_level("WARNING"):
        model, _, detector = load_model(a)
    assert detector is None  # the model still loads; "is it a digit?" falls back
    assert "refusing a.novelty.safetensors" in caplog.text and "fitted to other weights" in caplog.text


def test_train_cli_end_to_end(tmp_path, data_dir):
    out = tmp_path / "X.safetensors"
    result = subprocess.run(
        [sys.executable, "train.py", "--epochs", "1", "--limit", "3000", "--data-dir", data_dir,
         "--out", str(out), "--seed", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "epoch   1 | train loss" in result.stdout and "val loss" in result.stdout
    assert "test accuracy" in result.stdout
    meta = json.loads(out.with_suffix(".json").read_text())
    assert len(meta["history"]) == 1 and RECORD_KEYS <= set(meta["history"][0])
    assert meta["hyperparameters"]["seed"] == 0
    model, _, detector = load_model(out)  # weights, JSON and the novelty statistics that belong to them
    assert detector is not None and detector.weights == meta["weights_sha256"]


def test_train_cli_without_data_prints_one_clear_line(tmp_path):
    env_code = (
        "import sys, torchvision; torchvision.datasets.MNIST.mirrors = ['http://127.0.0.1:9/'];"
        "sys.argv = ['train.py', '--data-dir', sys.argv[1], '--out', sys.argv[2]];"
        "import runpy; runpy.run_path('train.py', run_name='__main__')"
    )
    result = subprocess.run([sys.executable, "-c", env_code, str(tmp_path), str(tmp_path / "o.safetensors")],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("error: MNIST is not in") and "Traceback" not in result.stderr


def test_shipped_checkpoint_beats_the_tutorial(default_checkpoint, data_dir):
    model, meta, detector = load_model(default_checkpoint)
    assert detector is not None, "the shipped novelty statistics must match the shipped weights"
    assert meta["test_acc"] >= 99.3  # the tutorial recipe: 98.6; issue 9 asked for 99.4 (see README)
    assert meta["parameters"] == 21_578 and meta["hyperparameters"] == TrainConfig().to_dict()
    _, acc = evaluate(model, load_mnist(data_dir).test)
    assert acc == pytest.approx(meta["test_acc"], abs=0.02)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run on a GPU machine)")
def test_training_runs_on_cuda_with_data_resident_on_the_gpu(data_dir):
    data = load_mnist(data_dir, device="cuda", limit=8000)
    assert data.train.images.is_cuda
    model = TutorialCNN()
    records = list(train_epochs(model, data, TrainConfig(epochs=3)))
    assert next(model.parameters()).is_cuda
    assert records[-1]["val_acc"] > 90 and records[-1]["train_loss"] < records[0]["train_loss"]
