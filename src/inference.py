"""The live model: loaded once, used under inference_mode, swapped atomically when a new one is chosen.

A request takes `store.active` once and uses that object to the end, so swapping in another
model never disturbs a prediction already in flight: it finishes on the model it started with.
"""

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from src.checkpoint import CheckpointError, load_checkpoint, read_metadata
from src.data import normalize
from src.model import TutorialCNN


@dataclass(frozen=True)
class LoadedModel:
    name: str  # the checkpoint's file name, e.g. "default.safetensors"
    model: TutorialCNN
    meta: dict = field(default_factory=dict)

    @torch.inference_mode()
    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """(28, 28) or (N, 28, 28) float images in [0, 1], white on black -> (10,) or (N, 10) softmax probabilities."""
        x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
        single = x.ndim == 2
        x = normalize(x.reshape(-1, 1, 28, 28))
        p = torch.softmax(self.model(x), dim=1).numpy()
        return p[0] if single else p


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
        plain = isinstance(name, str) and name == Path(name).name and name not in ("", ".", "..")
        path = (self.directory / name).resolve() if plain else None
        if path is None or path.parent != self.directory.resolve() or path.suffix != ".safetensors":
            raise CheckpointError(f"{name!r} is not a checkpoint in {self.directory}")
        return path

    def checkpoints(self) -> list[tuple[str, dict]]:
        """(name, metadata) of every usable-looking checkpoint: the default first, then the newest first."""
        found = []
        for path in self.directory.glob("*.safetensors"):
            try:
                found.append((path.name, read_metadata(path)))
            except CheckpointError:
                continue  # half-copied or foreign files are not offered
        found.sort(key=lambda item: str(item[1].get("created", "")), reverse=True)
        found.sort(key=lambda item: item[0] != self.default_name)  # stable: the default, then newest first
        return found

    def load(self, name: str) -> LoadedModel:
        model, meta = load_checkpoint(self.path_of(name))
        return LoadedModel(name, model, meta)

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
