"""Fine-tuning on a visitor's corrections (drawings the model got wrong, with the right label).

fine_tune trains a COPY of the model (the live one is untouched) for `epochs` x STEPS_PER_EPOCH small steps.
Every batch holds CORRECTIONS_PER_BATCH corrections (drawn with replacement, so that a handful is oversampled,
and augmented, so that the model learns the style, not the exact pixels), MNIST_PER_BATCH augmented MNIST
training images and, with `pools`, FINE_TUNE_MIX's non-digits, at a small learning rate, so that it forgets
neither MNIST nor what is not a digit. The report gives accuracy (percent) before and after on the corrections,
on MNIST validation and on MNIST test, and the seconds it took. `stop` (a threading.Event) ends training early,
between steps.
"""

import copy
import threading
import time

import numpy as np
import torch

from src.data.mnist import MNISTData, Split
from src.training import kernels
from src.training.augment import Pools, augment
from src.training.loop import accelerate, loss_and_accuracy, train_step
from src.training.recipes import Recipe, seeded_generator

STEPS_PER_EPOCH = 50
CORRECTIONS_PER_BATCH = 32
MNIST_PER_BATCH = 96
FINE_TUNE_LR = 5e-4
# What a fine-tuning batch mixes in from `pools` (non-digits only) and the loss they get in train_step.
FINE_TUNE_MIX = Recipe(drawn_per_batch=0, outliers_per_batch=32, teachers=0)


def fine_tune(
    model: torch.nn.Module,
    corrections: tuple[np.ndarray, np.ndarray],
    mnist_data: MNISTData,
    pools: Pools | None = None,
    epochs: int = 3,
    stop: threading.Event | None = None,
    seed: int = 0,
    evaluate_test: bool = True,
) -> tuple[torch.nn.Module, dict]:
    """(a fine-tuned copy of `model`, report); see the module docstring. `corrections` is what
    src.web.corrections' load() returns (uint8 or float [0, 1] images, labels)."""
    images, labels = corrections
    images = np.asarray(images)
    if images.dtype != np.uint8:
        images = (np.clip(images, 0, 1) * 255 + 0.5).astype(np.uint8)
    samples = Split(torch.from_numpy(images), torch.from_numpy(np.asarray(labels, np.int64)))
    if len(samples) == 0:
        raise ValueError("there are no corrections to learn from")
    started = time.perf_counter()
    generator = seeded_generator(seed)
    new = accelerate(copy.deepcopy(model).cpu().train())
    before = _accuracies(model, samples, mnist_data, evaluate_test)
    total = epochs * STEPS_PER_EPOCH
    steps = _train(new, samples, mnist_data.train.to("cpu"), pools, total, stop, generator)
    new.eval()
    train_seconds = time.perf_counter() - started
    report = {
        "before": before,
        "after": _accuracies(new, samples, mnist_data, evaluate_test),
        "corrections": len(samples),
        "steps": steps,
        "stopped": steps < total,
        "seconds": round(train_seconds, 2),
    }
    return kernels.uninstall(new), report


def _accuracies(model, corrections: Split, mnist_data: MNISTData, evaluate_test: bool) -> dict:
    """Accuracy in percent on the corrections, MNIST validation and (with evaluate_test) MNIST test."""
    splits = {"corrections": corrections, "mnist_val": mnist_data.val.to("cpu")}
    if evaluate_test:
        splits["mnist_test"] = mnist_data.test.to("cpu")
    return {name: round(loss_and_accuracy(model, split)[1], 2) for name, split in splits.items()}


def _train(model, corrections: Split, train: Split, pools, steps: int, stop, generator) -> int:
    """Up to `steps` fine-tuning steps of `model`, fewer if `stop` is set; -> the steps taken."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=FINE_TUNE_LR, weight_decay=1e-4)
    corrections_x = corrections.images.float().div_(255).unsqueeze(1)
    taken = 0
    while taken < steps and not (stop is not None and stop.is_set()):
        ci = torch.randint(len(corrections), (CORRECTIONS_PER_BATCH,), generator=generator)
        mi = torch.randint(len(train), (MNIST_PER_BATCH,), generator=generator)
        x = augment(torch.cat([corrections_x[ci], train.images[mi].unsqueeze(1).float().div_(255)]), generator)
        y = torch.cat([corrections.labels[ci], train.labels[mi]])
        if pools is not None:  # keep the non-digits in view, so that "is it a digit?" still works afterwards
            x, y = pools.mix(x, y, FINE_TUNE_MIX, generator, augmented=True)
        train_step(model, optimizer, x, y, FINE_TUNE_MIX)
        taken += 1
    return taken
