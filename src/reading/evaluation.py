"""How a model does on the whole MNIST test set: what a teacher shows after training.

result = confusion_and_mistakes(model, test_split)
result.confusion      (10, 10) counts: row = the true digit, column = the model's answer
result.per_class      (10,) accuracy in percent for each true digit
result.mistakes       the most confident mistakes: (28x28 image, true digit, answer, confidence)
result.to_json()      what /evaluate returns
"""

from dataclasses import dataclass

import numpy as np
import torch

from src.data.mnist import Split
from src.reading.inference import run_network, softmax

MISTAKES_SHOWN = 12


@dataclass(frozen=True)
class Evaluation:
    confusion: np.ndarray  # (10, 10) int: rows true digits, columns answers
    mistakes: list  # [(uint8 (28, 28) image, true digit, answer, confidence)], the most confident first

    @property
    def total(self) -> int:
        return int(self.confusion.sum())

    @property
    def accuracy(self) -> float:
        """Percent of the test set read correctly (the diagonal over the total)."""
        return float(100.0 * np.trace(self.confusion) / max(1, self.total))

    @property
    def per_class(self) -> np.ndarray:
        return 100.0 * np.diag(self.confusion) / np.maximum(1, self.confusion.sum(1))

    def to_json(self) -> dict:
        return {
            "images": self.total,
            "accuracy": round(float(self.accuracy), 2),
            "confusion": self.confusion.tolist(),  # confusion[true][answer]
            "per_class_accuracy": {str(d): round(float(a), 2) for d, a in enumerate(self.per_class)},
            "confident_mistakes": [{"true": t, "answer": a, "confidence": round(c, 4)} for _, t, a, c in self.mistakes],
        }


def confusion_and_mistakes(model: torch.nn.Module, split: Split, mistakes: int = MISTAKES_SHOWN) -> Evaluation:
    """The model on every image of `split` (uint8 images, as src.data.mnist loads them), through run_network: its
    confusion matrix and its `mistakes` most confident mistakes."""
    images, labels = split.images.cpu().numpy(), split.labels.cpu().numpy()
    _, logits = run_network(model, images, batch_size=256)  # batches that stay in the CPU's cache
    answers = logits.argmax(1)
    confusion = np.zeros((10, 10), np.int64)
    np.add.at(confusion, (labels, answers), 1)
    p = softmax(logits)
    wrong = np.flatnonzero(answers != labels)
    worst = wrong[np.argsort(-p[wrong, answers[wrong]], kind="stable")][:mistakes]
    return Evaluation(confusion, [(images[i], int(labels[i]), int(answers[i]), float(p[i, answers[i]])) for i in worst])
