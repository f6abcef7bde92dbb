"""Corrections: drawings the model got wrong, with the right label, kept locally (src.training.fine_tune.fine_tune
learns from them).

The store is a folder of PNG files (28x28 greyscale, white digit on black, exactly the model's input),
one per correction, named `<UTC timestamp>-<random hex>-<label>.png`. It is append-only: each add() writes
a new file through a temporary name and os.replace, so a crash never leaves a half-written sample and
nothing is ever rewritten. PNGs can be looked at, zipped and downloaded, and contain no code.

    add(folder, image28, label)   -> Path of the new PNG     (image28: (28,28) float [0,1] or uint8)
    load(folder)                  -> (images uint8 (N,28,28), labels int64 (N,)), oldest first
    count(folder)                 -> int
    clear(folder)                 -> number of samples removed
    files(folder)                 -> the sample files, oldest first
    archive(folder or files, out) -> Path of a new .zip of the samples in `out`, for download
"""

import re
import uuid
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image

from src.atomic import atomic_write

_NAME = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{12}-(\d)\.png$")


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


def files(folder: Path | str) -> list[Path]:
    folder = Path(folder)
    return sorted(p for p in folder.iterdir() if _NAME.match(p.name)) if folder.is_dir() else []


def load(folder: Path | str) -> tuple[np.ndarray, np.ndarray]:
    """All samples, oldest first: (uint8 (N, 28, 28), int64 (N,)). Unreadable files are skipped."""
    images, labels = [], []
    for p in files(folder):
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
    return len(files(folder))


def clear(folder: Path | str) -> int:
    """Delete every sample in `folder` (only files named like samples); returns how many."""
    samples = files(folder)
    for p in samples:
        p.unlink(missing_ok=True)
    return len(samples)


def archive(folder_or_files: Path | str | list[Path], out_dir: Path) -> Path:
    """A new zip of all samples in a folder (or of the given sample files; file names keep their labels), in
    `out_dir` (a download's staging folder)."""
    samples = folder_or_files if isinstance(folder_or_files, list) else files(folder_or_files)
    out = Path(out_dir) / f"corrections-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.zip"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for p in samples:
            z.write(p, p.name)
    return out
