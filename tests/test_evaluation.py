"""The evaluation on the MNIST test set (src.reading.evaluation) and its heatmap (src.web.evaluation_view), on the
shipped checkpoint and real MNIST."""

import json

import numpy as np
import pytest

from src.data.mnist import read_mnist
from src.model.checkpoint import sidecar
from src.reading.evaluation import confusion_and_mistakes
from src.web.evaluation_view import heatmap_html


@pytest.fixture(scope="module")
def shipped(model, data_dir):
    return confusion_and_mistakes(model, read_mnist(data_dir, train=False))


def test_the_shipped_models_confusion_matrix_agrees_with_its_recorded_test_accuracy(shipped, default_checkpoint):
    recorded = json.loads(sidecar(default_checkpoint).read_text())["test_acc"]
    print(
        f"\nshipped model: confusion matrix sums to {shipped.confusion.sum():,}, diagonal / 10,000 = "
        f"{np.trace(shipped.confusion) / 100:.2f}%, default.json test_acc = {recorded}%"
    )
    assert shipped.confusion.shape == (10, 10) and shipped.confusion.sum() == 10_000
    assert np.trace(shipped.confusion) / 10_000 * 100 == pytest.approx(recorded, abs=0.005)
    # Each row holds every test image of that digit (MNIST test: 980 zeros ... 1009 nines).
    assert shipped.confusion.sum(1).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_per_class_accuracy_and_the_confident_mistakes(shipped):
    assert shipped.per_class == pytest.approx(100 * np.diag(shipped.confusion) / shipped.confusion.sum(1))
    assert len(shipped.mistakes) == 12
    confidences = [c for *_, c in shipped.mistakes]
    assert confidences == sorted(confidences, reverse=True) and confidences[0] > 0.9
    assert all(true != answer and image.shape == (28, 28) for image, true, answer, _ in shipped.mistakes)
    report = shipped.to_json()
    assert sum(map(sum, report["confusion"])) == 10_000 and set(report["per_class_accuracy"]) == set("0123456789")


def test_the_heatmap_shows_every_count(shipped):
    html = heatmap_html(shipped)
    assert html.count("<tr>") == 11 and f"{shipped.accuracy:.2f}%" in html
    assert f">{shipped.confusion[1, 1]}<" in html
