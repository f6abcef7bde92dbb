"""The live model: loaded once, used under inference_mode, swapped atomically when a new one is chosen.

A request takes `store.active` once and uses that object to the end, so swapping in another
model never disturbs a prediction already in flight: it finishes on the model it started with.
"""

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from src.checkpoint import CheckpointError, is_weights_name, load_model, read_metadata
from src.model import TutorialCNN, forward
from src.novelty import NoveltyDetector
from src.preprocess import has_ink, ink_map, to_mnist
from src.segment import split_digits

log = logging.getLogger(__name__)

# Without its novelty statistics (a missing or mismatched file), a drawing whose top probability is below
# this is reported as "doesn't look like a digit".
FALLBACK_MIN_CONFIDENCE = 0.5


@torch.inference_mode()
def run_network(model: torch.nn.Module, images: np.ndarray, batch_size: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """The network on numpy images, for inference: (N, 28, 28) or (28, 28), float [0, 1] or uint8, white
    on black -> (penultimate features (N, 1568), logits (N, 10)), float32 numpy arrays."""
    x = torch.as_tensor(np.asarray(images))
    x = (x if x.dtype == torch.uint8 else x.float()).reshape(-1, 1, 28, 28)
    model.eval()
    feats, logits = zip(*(forward(model, x[start:start + batch_size]) for start in range(0, len(x), batch_size)))
    return torch.cat(feats).numpy(), torch.cat(logits).numpy()


@dataclass(frozen=True)
class Reading:
    """What the model read in one drawing: one or more digits, left to right."""

    images: np.ndarray  # (k, 28, 28) float [0, 1]: exactly what the model saw, one per digit (k = 0: a filled area)
    probabilities: np.ndarray  # (k, 10) softmax probabilities
    is_digit: bool  # False when some part does not look like a digit at all
    unusual: bool = False  # a digit the model is sure of, drawn unlike the digits it learned from

    @property
    def digits(self) -> list[int]:
        return [int(d) for d in self.probabilities.argmax(1)]

    @property
    def confidences(self) -> list[float]:
        return [float(p) for p in self.probabilities.max(1)]

    @property
    def number(self) -> str:
        return "".join(map(str, self.digits))


@dataclass(frozen=True)
class LoadedModel:
    name: str  # the checkpoint's file name, e.g. "default.safetensors"
    model: TutorialCNN
    meta: dict = field(default_factory=dict)
    novelty: NoveltyDetector | None = None  # "is it a digit?", fitted for this model (see src/novelty.py)

    def read(self, value) -> Reading | None:
        """Read a drawing or image (anything src.preprocess accepts); None when it holds no ink (or a speck).

        Several digits side by side (e.g. "2026") are split apart and read one by one; a single digit is
        read exactly as src.preprocess.preprocess prepares it. Ink that preprocessing cannot turn into a
        digit (a filled area) is a Reading with no images that is not a digit.
        """
        ink = ink_map(value)
        whole = to_mnist(ink)  # == preprocess(value)
        if whole is None:
            return Reading(np.zeros((0, 28, 28), np.float32), np.zeros((0, 10)), False) if has_ink(ink) else None
        crops = split_digits(ink)
        parts = [m for m in map(to_mnist, crops) if m is not None] if len(crops) > 1 else []
        images = np.stack(parts if len(parts) > 1 else [whole])
        feats, logits = run_network(self.model, images)  # one pass of the network serves every question
        probabilities = torch.softmax(torch.from_numpy(logits).double(), dim=1).numpy()
        if self.novelty is None:
            return Reading(images, probabilities, bool(probabilities.max(1).min() >= FALLBACK_MIN_CONFIDENCE))
        not_digit, unusual = self.novelty.judge(feats, logits)
        return Reading(images, probabilities, not bool(not_digit.any()), bool(unusual.any()))


class ModelStore:
    """The checkpoints in one folder, and the one that serves predictions."""

    def __init__(self, directory: Path, default_name: str):
        self.directory = Path(directory)
        self.default_name = default_name
        self.active: LoadedModel | None = None
        self.error: str | None = None  # why no model is active, for the page
        self._lock = threading.Lock()

    def path_of(self, name: str) -> Path:
        """The checkpoint `name` inside the folder; refuses anything that would lead outside it."""
        plain = isinstance(name, str) and name == Path(name).name and is_weights_name(name)
        path = (self.directory / name).resolve() if plain else None
        if path is None or path.parent != self.directory.resolve():
            raise CheckpointError(f"{name!r} is not a checkpoint in {self.directory}")
        return path

    def checkpoints(self) -> list[tuple[str, dict]]:
        """(name, metadata) of every usable-looking checkpoint: the default first, then the newest first."""
        found = []
        for path in self.directory.glob("*.safetensors"):
            if not is_weights_name(path.name):
                continue
            try:
                found.append((path.name, read_metadata(path)))
            except CheckpointError:
                continue  # half-copied or foreign files are not offered
        found.sort(key=lambda item: str(item[1].get("created", "")), reverse=True)
        found.sort(key=lambda item: item[0] != self.default_name)  # stable: the default, then newest first
        return found

    def load(self, name: str) -> LoadedModel:
        return LoadedModel(name, *load_model(self.path_of(name)))

    def activate(self, name: str) -> LoadedModel:
        """Load `name` and make it the live model; on any CheckpointError the current model stays."""
        loaded = self.load(name)
        with self._lock:
            self.active, self.error = loaded, None
        return loaded

    def activate_default(self) -> None:
        """At start-up: the shipped model, or a clear message on the page if it cannot be used."""
        try:
            self.activate(self.default_name)
        except CheckpointError as e:
            self.error = f"No model could be loaded: {e}. Train one with `python train.py` or in the Train tab."
