"""The ONNX export (src/model/export.py), run in onnxruntime against PyTorch on real MNIST test images."""

import numpy as np
import pytest
import torch

from src.data.mnist import read_mnist
from src.model.export import to_onnx
from src.reading.inference import run_network


@pytest.mark.slow  # the ONNX export
def test_onnxruntime_reads_1000_mnist_test_images_as_pytorch_does(model, data_dir, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    path = to_onnx(model, tmp_path / "model.onnx")
    images = read_mnist(data_dir, train=False).images[:1000].numpy()
    x = images[:, None].astype(np.float32) / 255
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits, probabilities = session.run(["logits", "probabilities"], {"image": x})
    _, expected = run_network(model, images)
    expected_p = torch.softmax(torch.from_numpy(expected), dim=1).numpy()
    print(
        f"\nONNX in onnxruntime against PyTorch on 1,000 MNIST test images: same digit in "
        f"{int((probabilities.argmax(1) == expected_p.argmax(1)).sum())}, max probability difference "
        f"{np.abs(probabilities - expected_p).max():.1e}"
    )
    assert probabilities.shape == (1000, 10)
    assert (probabilities.argmax(1) == expected_p.argmax(1)).all()
    assert np.abs(probabilities - expected_p).max() <= 1e-5
    assert np.abs(logits - expected).max() <= 1e-4
    assert list(tmp_path.iterdir()) == [path]  # written atomically: no temporary file left behind
