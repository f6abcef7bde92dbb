"""Corrections: drawings the model got wrong, with the right label, kept locally and used to fine-tune.

The store is a folder of PNG files (28x28 greyscale, white digit on black, exactly the model's input),
one per correction, named `<UTC timestamp>-<random hex>-<label>.png`. It is append-only: each add() writes
a new file through a temporary name and os.replace, so a crash never leaves a half-written sample and
nothing is ever rewritten. PNGs can be looked at, zipped and downloaded, and contain no code.

    add(folder, image28, label)   -> Path of the new PNG     (image28: (28,28) float [0,1] or uint8)
    load(folder)                  -> (images uint8 (N,28,28), labels int64 (N,)), oldest first
    count(folder)                 -> int
    clear(folder)                 -> number of samples removed
    archive(folder)               -> Path of a new .zip of all samples (in a temporary folder), for download

    new_model, report = fine_tune(model, load(folder), mnist_data, epochs=3, stop=None)

fine_tune trains a COPY of the model (the live one is untouched) for `epochs` x STEPS_PER_EPOCH small
steps; every batch holds CORRECTIONS_PER_BATCH corrections (drawn with replacement, so a handful of samples
is oversampled, and augmented with src.engine.augment so the model learns the style, not the exact
pixels) and MNIST_PER_BATCH augmented MNIST training images, at a small learning rate, so that it does not
forget MNIST. The report gives accuracy (percent) before and after on the corrections, on MNIST validation
and on MNIST test, and the seconds it took. `stop` (a threading.Event) ends training early, between steps.
"""

import copy
import re
import tempfile
import threading
import time
import uuid
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from src.atomic import atomic_write
from src.data import MNISTData, Split
from src.engine import Pools, TrainConfig, augment, evaluate, seeded_generator, train_step

_NAME = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{12}-(\d)\.png$")

STEPS_PER_EPOCH = 50
CORRECTIONS_PER_BATCH = 32
MNIST_PER_BATCH = 96
LR = 5e-4
OUTLIERS = TrainConfig(drawn_per_batch=0, outliers_per_batch=32)  # non-digits mixed into each fine-tuning batch


# --------------------------------------------------------------------------------------------- the store
def add(folder: Path | str, image28: np.ndarray, label: int) -> Path:
    """Store one corrected sample as a new PNG in `folder` (created if needed); returns its path."""
    label = int(label)
    if not 0 <= label <= 9:
        raise ValueError(f"label must be a digit 0-9, not {label}")
    a = np.asarray(image28)
    if a.shape != (28, 28):
        raise ValueError(f"expected a (28, 28) image, not {a.shape}")
    if a.dtype != np.uint8:
        a = (np.clip(np.nan_to_num(a.astype(np.float32)), 0, 1) * 255 + 0.5).astype(np.uint8)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    path = folder / f"{stamp}-{uuid.uuid4().hex[:12]}-{label}.png"
    atomic_write(path, lambda tmp: Image.fromarray(a, "L").save(tmp, format="PNG"))
    return path


def _files(folder: Path | str) -> list[Path]:
    folder = Path(folder)
    return sorted(p for p in folder.iterdir() if _NAME.match(p.name)) if folder.is_dir() else []


def load(folder: Path | str) -> tuple[np.ndarray, np.ndarray]:
    """All samples, oldest first: (uint8 (N, 28, 28), int64 (N,)). Unreadable files are skipped."""
    images, labels = [], []
    for p in _files(folder):
        try:
            with Image.open(p) as img:
                a = np.asarray(img.convert("L"))
        except OSError:
            continue
        if a.shape == (28, 28):
            images.append(a)
            labels.append(int(_NAME.match(p.name)[1]))
    return np.array(images, np.uint8).reshape(-1, 28, 28), np.array(labels, np.int64)


def count(folder: Path | str) -> int:
    return len(_files(folder))


def clear(folder: Path | str) -> int:
    """Delete every sample in `folder` (only files named like samples); returns how many."""
    files = _files(folder)
    for p in files:
        p.unlink(missing_ok=True)
    return len(files)


def archive(folder: Path | str) -> Path:
    """A new zip of all samples (file names keep their labels), written to a fresh temporary folder."""
    out = Path(tempfile.mkdtemp(prefix="corrections-")) / f"corrections-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.zip"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for p in _files(folder):
            z.write(p, p.name)
    return out


# --------------------------------------------------------------------------------------------- fine-tuning
def _accuracy(model, images_uint8: np.ndarray, labels: np.ndarray) -> float | None:
    if len(labels) == 0:
        return None
    return round(evaluate(model, Split(torch.from_numpy(images_uint8), torch.from_numpy(labels)))[1], 2)


def fine_tune(model: torch.nn.Module, corrections: tuple[np.ndarray, np.ndarray], mnist_data: MNISTData,
              pools: Pools | None = None, epochs: int = 3, stop: threading.Event | None = None, seed: int = 0,
              evaluate_test: bool = True) -> tuple[torch.nn.Module, dict]:
    """(a fine-tuned copy of `model`, report); see the module docstring. `corrections` is what load() returns
    (uint8 or float [0, 1] images)."""
    images, labels = corrections
    images = np.asarray(images)
    if images.dtype != np.uint8:
        images = (np.clip(images, 0, 1) * 255 + 0.5).astype(np.uint8)
    labels = np.asarray(labels, np.int64)
    if len(labels) == 0:
        raise ValueError("there are no corrections to learn from")
    started = time.perf_counter()
    generator = seeded_generator(seed)
    new = copy.deepcopy(model).cpu().train()
    corr_x = torch.from_numpy(images).float().div_(255).unsqueeze(1)
    corr_y = torch.from_numpy(labels)
    train = mnist_data.train.to("cpu")

    def scores(m):
        out = {"corrections": _accuracy(m, images, labels),
               "mnist_val": round(evaluate(m, mnist_data.val.to("cpu"))[1], 2)}
        if evaluate_test:
            out["mnist_test"] = round(evaluate(m, mnist_data.test.to("cpu"))[1], 2)
        return out

    before = scores(model)
    optimizer = torch.optim.AdamW(new.parameters(), lr=LR, weight_decay=1e-4)
    steps, total = 0, epochs * STEPS_PER_EPOCH
    while steps < total and not (stop is not None and stop.is_set()):
        ci = torch.randint(len(corr_y), (CORRECTIONS_PER_BATCH,), generator=generator)
        mi = torch.randint(len(train), (MNIST_PER_BATCH,), generator=generator)
        x = augment(torch.cat([corr_x[ci], train.images[mi].unsqueeze(1).float().div_(255)]), generator)
        y = torch.cat([corr_y[ci], train.labels[mi]])
        if pools is not None:  # keep the non-digits in view, so that "is it a digit?" still works afterwards
            x, y = pools.mix(x, y, OUTLIERS, generator, augmented=True)
        train_step(new, optimizer, x, y, OUTLIERS)
        steps += 1
    new.eval()
    train_seconds = time.perf_counter() - started
    report = {"before": before, "after": scores(new), "corrections": int(len(labels)), "steps": steps,
              "stopped": steps < total, "seconds": round(train_seconds, 2)}
    return new, report
