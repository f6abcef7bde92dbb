"""How a model does on the whole MNIST test set: what a teacher shows after training.

result = evaluate(model, test_split)   # 10,000 images, about 0.3 s on 2 cores
result.confusion      (10, 10) counts: row = the true digit, column = the model's answer
result.per_class      (10,) accuracy in percent for each true digit
result.mistakes       the most confident mistakes: (28x28 image, true digit, answer, confidence)
result.to_json()      what /evaluate returns
heatmap_html(result)  the confusion matrix as a table whose cells are shaded by their counts
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


def evaluate(model: torch.nn.Module, split: Split, mistakes: int = MISTAKES_SHOWN) -> Evaluation:
    """The model on every image of `split` (uint8 images, as src.data.mnist loads them), through run_network."""
    images, labels = split.images.cpu().numpy(), split.labels.cpu().numpy()
    _, logits = run_network(model, images, batch_size=256)  # batches that stay in the CPU's cache (training.evaluate)
    answers = logits.argmax(1)
    confusion = np.zeros((10, 10), np.int64)
    np.add.at(confusion, (labels, answers), 1)
    p = softmax(logits)
    wrong = np.flatnonzero(answers != labels)
    worst = wrong[np.argsort(-p[wrong, answers[wrong]], kind="stable")][:mistakes]
    return Evaluation(confusion, [(images[i], int(labels[i]), int(answers[i]), float(p[i, answers[i]])) for i in worst])


def heatmap_html(result: Evaluation, title: str = "") -> str:
    """The confusion matrix as an HTML table: counts in every cell, shaded by their share of the row (the
    diagonal in blue, mistakes in orange), with each digit's accuracy in the last column."""
    rows, per_class = [], result.per_class
    for t in range(10):
        row_total = max(1, result.confusion[t].sum())
        cells = []
        for a in range(10):
            n = int(result.confusion[t, a])
            share = n / row_total
            if t == a:
                style = f"background: rgba(59, 130, 246, {0.15 + 0.85 * share:.2f}); color: white; font-weight: 600"
            elif n:
                style = f"background: rgba(249, 115, 22, {min(1.0, 0.12 + 8 * share):.2f})"
            else:
                style = "color: var(--body-text-color-subdued)"
            cells.append(f'<td style="{style}">{n}</td>')
        rows.append(f"<tr><th>{t}</th>{''.join(cells)}<td class='acc'>{per_class[t]:.1f}%</td></tr>")
    head = "".join(f"<th>{a}</th>" for a in range(10))
    return (
        f'<div class="confusion"><p>{title} <b>{result.accuracy:.2f}%</b> of {result.total:,} MNIST test '
        f"images read correctly. Rows: the true digit; columns: the model's answer.</p>"
        f"<table><tr><th>true ↓</th>{head}<th>accuracy</th></tr>{''.join(rows)}</table></div>"
    )


CSS = """
.confusion { overflow-x: auto; }
.confusion table { border-collapse: collapse; font-variant-numeric: tabular-nums; margin: 4px 0; }
@media (max-width: 640px) { .confusion th, .confusion td { padding: 2px 3px !important; font-size: 0.8em; } }
.confusion th, .confusion td { padding: 3px 7px; text-align: right; border: 1px solid var(--border-color-primary); }
.confusion td.acc { font-weight: 600; }
"""
