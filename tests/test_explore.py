"""The teaching views' API (src/web/explore.py) through the running app, as gradio_client users call them."""

import json
import shutil

import numpy as np
import pytest
from gradio_client import handle_file
from PIL import Image

from src.data.digits import render_digit


def test_evaluate_the_default_model_on_the_mnist_test_set(client, default_checkpoint):
    report = client.predict(api_name="/evaluate")
    recorded = json.loads(default_checkpoint.with_suffix(".json").read_text())["test_acc"]
    assert report["model"] == "default.safetensors" and report["images"] == 10_000
    confusion = np.array(report["confusion"])
    assert confusion.shape == (10, 10) and confusion.sum() == 10_000
    assert np.trace(confusion) / 100 == pytest.approx(recorded, abs=0.005) == report["accuracy"]
    assert len(report["per_class_accuracy"]) == 10 and len(report["confident_mistakes"]) == 12


def test_a_model_that_is_not_there_gets_a_clear_message(client, server):
    with pytest.raises(Exception, match="no-such-model.safetensors does not exist") as error:
        client.predict("no-such-model.safetensors", api_name="/evaluate")
    assert str(server.checkpoint_dir) not in str(error.value)  # no server paths in messages


def test_inside_the_network_takes_uploaded_files_only(client, server):
    """gr.api passes file values through as sent: a bare server path must not be opened."""
    target = str(server.checkpoint_dir / "default.json")
    with pytest.raises(Exception, match="as a file upload"):
        client.predict({"path": target}, api_name="/inside_the_network")


def test_compare_two_runs_from_their_histories(client, server, default_checkpoint):
    for suffix in (".safetensors", ".json", ".novelty.safetensors"):  # a second model on the server
        shutil.copy(server.checkpoint_dir / f"default{suffix}", server.checkpoint_dir / f"copy{suffix}")
    try:
        with pytest.raises(Exception, match="two or more"):
            client.predict(["default.safetensors"], api_name="/compare_runs")
        for names in ([f"run-{i}" for i in range(11)], ["default.safetensors"] * 101, [{"path": "/etc"}] * 2):
            with pytest.raises(Exception, match="at most 10 models"):  # refused before any file is looked up
                client.predict(names, api_name="/compare_runs")
        runs = client.predict(["default.safetensors", "copy.safetensors"], api_name="/compare_runs")
        assert set(runs) == {"default.safetensors", "copy.safetensors"}
        assert len(runs["copy.safetensors"]["history"]) == runs["copy.safetensors"]["epochs"] == 30
        recorded = json.loads(default_checkpoint.with_suffix(".json").read_text())["test_acc"]
        assert runs["default.safetensors"]["test accuracy %"] == recorded
    finally:
        for suffix in (".safetensors", ".json", ".novelty.safetensors"):
            (server.checkpoint_dir / f"copy{suffix}").unlink()


def test_export_onnx_gives_a_file_onnxruntime_reads(client, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    path = client.predict(api_name="/export_onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (probabilities,) = session.run(["probabilities"], {"image": np.zeros((3, 1, 28, 28), np.float32)})
    assert probabilities.shape == (3, 10) and np.allclose(probabilities.sum(1), 1, atol=1e-5)


def test_inside_the_network_of_a_drawn_digit(client, tmp_path):
    path = tmp_path / "seven.png"
    render_digit(7, np.random.default_rng(5), 320).convert("RGB").save(path)
    inside = client.predict(handle_file(str(path)), api_name="/inside_the_network")
    assert inside["digit"] == 7
    shapes = {name: np.array(m).shape for name, m in inside["feature_maps"].items()}
    assert shapes == {"conv1": (8, 28, 28), "conv2": (16, 14, 14), "conv3": (32, 7, 7)}
    assert np.array(inside["filters"]).shape == (8, 3, 3) and inside["summary"][-1]["parameters"] == 21_578


def test_training_examples_with_their_augmentations(client):
    first, again = (Image.open(client.predict(3, api_name="/training_examples")) for _ in range(2))
    assert first.size == (8 * 88 - 4, 4 * 88 + 8) and np.array_equal(np.asarray(first), np.asarray(again))
    other = Image.open(client.predict(4, api_name="/training_examples"))
    assert not np.array_equal(np.asarray(first), np.asarray(other))  # another seed: other examples
    with pytest.raises(Exception, match="seed must be a whole number"):
        client.predict(-1, api_name="/training_examples")
