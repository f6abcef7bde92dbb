"""Checkpoints (src/model/checkpoint.py): weights + JSON + novelty statistics, saved together and loaded safely."""

import os
import pickle
import re
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from src.data.digits import render_digit
from src.data.mnist import load_mnist
from src.data.preprocess import preprocess
from src.model import checkpoint as ckpt
from src.model.checkpoint import CheckpointError, load_checkpoint, load_model
from src.model.network import TutorialCNN
from src.reading.inference import ModelStore, run_network
from src.training.loop import loss_and_accuracy
from src.training.recipes import Recipe

ROOT = Path(__file__).resolve().parent.parent


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


def test_shipped_checkpoint_beats_the_tutorial(default_checkpoint, data_dir):
    model, meta, detector = load_model(default_checkpoint)
    assert detector is not None, "the shipped novelty statistics must match the shipped weights"
    assert meta["test_acc"] >= 99.3  # the tutorial recipe: 98.6; issue 9 asked for 99.4 (see README)
    assert meta["parameters"] == 21_578 and meta["hyperparameters"] == Recipe().to_dict()
    assert [t["seed"] for t in meta["teachers"]] == [0, 10, 20]  # train.py with no flags
    _, acc = loss_and_accuracy(model, load_mnist(data_dir).test)
    assert acc == pytest.approx(meta["test_acc"], abs=0.02)


# --------------------------------------------------------------------- the live store refuses bad checkpoints
@pytest.fixture()
def store(tmp_path, default_checkpoint):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for suffix in (".safetensors", ".json", ".novelty.safetensors"):
        shutil.copy(default_checkpoint.with_name("default" + suffix), folder / f"default{suffix}")
    s = ModelStore(folder, "default.safetensors")
    s.activate_default()
    assert s.active is not None, s.error
    return s


@pytest.fixture(scope="module")
def eights():
    return np.stack([preprocess(render_digit(8, np.random.default_rng(seed), canvas=400)) for seed in range(5)])


def _good_copy(store, name):
    for suffix in (".safetensors", ".json"):
        shutil.copy(store.directory / f"default{suffix}", store.directory / f"{name}{suffix}")
    return store.directory / f"{name}.safetensors"


def _truncate(store):
    p = _good_copy(store, "bad")
    p.write_bytes(p.read_bytes()[:1000])


def _corrupt(store):
    p = _good_copy(store, "bad")
    data = bytearray(p.read_bytes())
    data[:8] = struct.pack("<Q", len(data) * 10)  # a header length pointing past the end
    p.write_bytes(bytes(data))


def _garbage(store):
    p = _good_copy(store, "bad")
    p.write_bytes(os.urandom(4096))


def _wrong_names(store):
    from safetensors.torch import save_file

    p = _good_copy(store, "bad")
    save_file({f"renamed.{k}": v for k, v in TutorialCNN().state_dict().items()}, p)


def _wrong_shape(store):
    from safetensors.torch import save_file

    p = _good_copy(store, "bad")
    tensors = dict(TutorialCNN().state_dict())
    tensors["conv1.weight"] = torch.zeros(3, 1, 3, 3)
    save_file(tensors, p)


def _not_finite(store):
    from safetensors.torch import save_file

    p = _good_copy(store, "bad")
    tensors = {k: v.clone() for k, v in TutorialCNN().state_dict().items()}
    next(iter(tensors.values()))[...] = float("nan")
    save_file(tensors, p)


def _no_json(store):
    _good_copy(store, "bad").with_suffix(".json").unlink()


def _bad_json(store):
    _good_copy(store, "bad").with_suffix(".json").write_text("{not json")


def _json_list(store):
    _good_copy(store, "bad").with_suffix(".json").write_text("[1, 2]")


def _other_architecture(store):
    _good_copy(store, "bad").with_suffix(".json").write_text('{"architecture": "ResNet50"}')


def _pickle_renamed(store):
    _good_copy(store, "bad")
    (store.directory / "bad.safetensors").write_bytes(pickle.dumps(TutorialCNN().state_dict()))


def _torch_save_renamed(store):
    _good_copy(store, "bad")
    torch.save(TutorialCNN().state_dict(), store.directory / "bad.safetensors")


BAD_CHECKPOINTS = {
    "truncated": (_truncate, "not a readable safetensors file"),
    "corrupted_header": (_corrupt, "not a readable safetensors file"),
    "random_bytes": (_garbage, "not a readable safetensors file"),
    "wrong_tensor_names": (_wrong_names, "has the wrong tensors"),
    "wrong_shape": (_wrong_shape, r"'conv1.weight' has shape \(3, 1, 3, 3\)"),
    "not_finite": (_not_finite, "not finite"),
    "missing_json": (_no_json, "bad.json is missing"),
    "invalid_json": (_bad_json, "bad.json is not valid JSON"),
    "json_not_an_object": (_json_list, "must hold a JSON object"),
    "other_architecture": (_other_architecture, "is for architecture 'ResNet50'"),
    "pickle_renamed": (_pickle_renamed, "not a readable safetensors file"),
    "torch_save_renamed": (_torch_save_renamed, "not a readable safetensors file"),
}


def _assert_unchanged(store, before, eights):
    assert store.active is before
    assert (run_network(store.active.model, eights)[1].argmax(axis=1) == 8).all()


@pytest.mark.parametrize("case", list(BAD_CHECKPOINTS))
def test_bad_checkpoint_is_refused_and_the_active_model_stays(store, eights, case):
    make, message = BAD_CHECKPOINTS[case]
    make(store)
    before = store.active
    with pytest.raises(CheckpointError, match=message):
        store.activate("bad.safetensors")
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(store.directory / "bad.safetensors")
    _assert_unchanged(store, before, eights)


def test_names_leading_outside_the_folder_are_refused(store, eights, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    for suffix in (".safetensors", ".json"):
        shutil.copy(store.directory / f"default{suffix}", outside / f"x{suffix}")
    (store.directory / "link.safetensors").symlink_to(outside / "x.safetensors")
    (store.directory / "link.json").symlink_to(outside / "x.json")
    (store.directory / "sub").mkdir()
    before = store.active
    names = [
        "../outside/x.safetensors",
        "../x.safetensors",
        str(outside / "x.safetensors"),
        "/etc/passwd",
        "link.safetensors",
        "sub/../../outside/x.safetensors",
        "",
        ".",
        "..",
        "default.json",
        "default",
        "default.safetensors/",
        "sub/x.safetensors",
    ]
    for name in names:
        with pytest.raises(CheckpointError, match="is not a checkpoint here"):
            store.activate(name)
        _assert_unchanged(store, before, eights)


def test_a_missing_checkpoint_is_refused_clearly(store, eights):
    before = store.active
    with pytest.raises(CheckpointError, match="does not exist"):
        store.activate("nope.safetensors")
    _assert_unchanged(store, before, eights)


def test_only_safetensors_files_are_loaded(tmp_path):
    path = tmp_path / "m.pt"
    torch.save(TutorialCNN().state_dict(), path)
    with pytest.raises(CheckpointError, match="only .safetensors checkpoints are loaded"):
        load_checkpoint(path)


UNSAFE = [
    r"\btorch\.load\s*\(",
    r"\bimport\s+pickle\b",
    r"\bfrom\s+pickle\b",
    r"\bpickle\.loads?\s*\(",
    r"\bcPickle\b",
    r"\bdill\b",
    r"\bjoblib\b",
    r"\bcloudpickle\b",
    r"allow_pickle\s*=\s*True",
    r"\bmarshal\.loads?\b",
    r"\bshelve\b",
    r"\bnp\.load\s*\(",
    r"\bnumpy\.load\s*\(",
    r"\bpd\.read_pickle\b",
    r"\btorch\.jit\.load\b",
]


def test_nothing_in_the_project_can_load_a_pickle():
    this = Path(__file__).resolve()
    skip = {".git", ".venv", "venv", "node_modules", "__pycache__", "data", ".pytest_cache", ".scratch"}
    offenders = []
    for path in ROOT.rglob("*.py"):
        if path.resolve() == this or skip & set(path.relative_to(ROOT).parts):
            continue
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            code = line.split("#", 1)[0]
            offenders += [f"{path.relative_to(ROOT)}:{n}: {line.strip()}" for p in UNSAFE if re.search(p, code)]
    assert not offenders, "\n".join(offenders)


# ------------------------------------------------------------------------------------------ failed saves
def _files_in(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def _no_space(*args, **kwargs):
    raise OSError(28, "No space left on device")


@pytest.mark.parametrize("failure", ["json_enospc", "json_half_written", "weights_exception"])
def test_failed_save_over_the_active_checkpoint_changes_nothing(store, eights, monkeypatch, failure, save_model):
    before, files_before = store.active, _files_in(store.directory)
    if failure == "weights_exception":

        def boom(tensors, filename, metadata=None):
            Path(filename).write_bytes(b"partial")
            raise RuntimeError("simulated crash while writing the weights")

        monkeypatch.setattr(ckpt, "save_file", boom)
        expected = "simulated crash"
    else:
        real_write_text = Path.write_text

        def failing_write_text(self, data, *args, **kwargs):
            if self.name.endswith(".tmp") and ".json" in self.name:
                if failure == "json_half_written":
                    real_write_text(self, data[: len(data) // 2], *args, **kwargs)
                _no_space()
            return real_write_text(self, data, *args, **kwargs)

        monkeypatch.setattr(Path, "write_text", failing_write_text)
        expected = "No space left"
    with pytest.raises((OSError, RuntimeError), match=expected):
        save_model(store.directory / "default.safetensors", TutorialCNN(), {"test_acc": 0.0})
    monkeypatch.undo()
    assert _files_in(store.directory) == files_before  # old files byte for byte, and no temporary files
    assert not [p for p in store.directory.iterdir() if p.name.startswith(".")]
    _assert_unchanged(store, before, eights)
    # and the checkpoint on disk is still the old, complete one
    reloaded = store.activate("default.safetensors")
    assert (run_network(reloaded.model, eights)[1].argmax(axis=1) == 8).all()
    assert reloaded.meta == before.meta


def test_failed_save_of_a_new_checkpoint_leaves_nothing_behind(store, monkeypatch, save_model):
    files_before = _files_in(store.directory)
    monkeypatch.setattr(ckpt.os, "replace", _no_space)
    with pytest.raises(OSError, match="No space left"):
        save_model(store.directory / "new.safetensors", TutorialCNN(), {})
    monkeypatch.undo()
    assert _files_in(store.directory) == files_before
    assert "new.safetensors" not in [name for name, _ in _list_checkpoints(store)]


def _list_checkpoints(store):
    lister = getattr(store, "checkpoints", None)
    return lister() if lister else [(p.name, None) for p in store.directory.glob("*.safetensors")]
