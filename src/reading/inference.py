"""The live model: loaded once, used under inference_mode, swapped atomically when a new one is chosen.

    reading = store.get(choice).read(drawing)   # src.data.inputs makes every input; the network reads and judges

A request takes `store.active` once and uses that object to the end, so swapping in another
model never disturbs a prediction already in flight: it finishes on the model it started with.
"""

import functools
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from src.atomic import atomic_write
from src.data.inputs import AS_DRAWN, SHIFTS, Inputs, drawing_inputs, shifted
from src.model.checkpoint import CheckpointError, is_weights_name, load_model, read_metadata
from src.model.network import TutorialCNN
from src.model.novelty import NoveltyDetector

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
    starts = range(0, max(len(x), 1), batch_size)  # no images: one empty batch, no rows
    feats = torch.cat([model.features(x[start : start + batch_size]) for start in starts])
    return feats.numpy(), model.fc(feats).numpy()


def run_copies(model: torch.nn.Module, copies: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """run_network on the shifted copies of N inputs (src.data.inputs.shifted), for "is it a digit?": (features
    of the inputs as drawn (N, 1568), logits (len(SHIFTS), N, 10)); logits[AS_DRAWN] are as drawn."""
    feats, logits = run_network(model, copies)
    n = len(copies) // len(SHIFTS)
    return feats[AS_DRAWN * n : (AS_DRAWN + 1) * n], logits.reshape(len(SHIFTS), n, 10)


def run_shifted(model: torch.nn.Module, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """run_copies of (N, 28, 28) inputs, moved by each of src.data.inputs.SHIFTS here."""
    return run_copies(model, shifted(images))


def softmax(logits: np.ndarray) -> np.ndarray:
    """(N, 10) logits -> (N, 10) probabilities, in float64."""
    return torch.softmax(torch.from_numpy(np.asarray(logits)).double(), dim=1).numpy()


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
    novelty: NoveltyDetector | None = None  # "is it a digit?", fitted for this model (see src/model/novelty.py)
    path: Path | None = None  # its .safetensors file (the browser's live reading fetches it too)

    @property
    def weights_key(self) -> str:
        """What identifies these weights in caches and file names: their SHA-256 as saved with them."""
        return self.meta.get("weights_sha256") or f"{abs(hash(str(self.path))):x}"

    def read(self, value) -> Reading | None:
        """Read a drawing or image (anything src.data.preprocess accepts); None when it holds no ink (or a speck)."""
        return self.read_inputs(drawing_inputs(value))

    def read_inputs(self, inputs: Inputs) -> Reading | None:
        """The reading of every input of a drawing (src.data.inputs.Inputs): its digits; ink that is no digit (a
        filled area) is a Reading with no images that is not a digit. Digits that do not read as a digit give way
        to the second look (whole, or upright) if that reads as one."""
        if inputs.digits is None or len(inputs.digits) == 0:
            return None if inputs.digits is None else Reading(inputs.digits, np.zeros((0, 10)), False)
        reading = self.judge(inputs.digits, inputs.shifted)
        if reading.is_digit or inputs.again is None:
            return reading
        other = self.judge(inputs.again, inputs.again_shifted)
        return other if other.is_digit else reading

    def judge(self, images: np.ndarray, copies: np.ndarray) -> Reading:
        """The reading of (k, 28, 28) network inputs, one per digit, given their shifted copies too: one pass of
        the network serves every question (without statistics, only the inputs as drawn are read)."""
        if self.novelty is None:
            probabilities = softmax(run_network(self.model, images)[1])
            return Reading(images, probabilities, bool(probabilities.max(1).min() >= FALLBACK_MIN_CONFIDENCE))
        feats, logits = run_copies(self.model, copies)
        probabilities = softmax(logits[AS_DRAWN])
        not_digit, unusual = self.novelty.judge(feats, logits)
        return Reading(images, probabilities, not bool(not_digit.any()), bool(unusual.any()))


DEFAULT_POINTER = "DEFAULT"  # CHECKPOINT_DIR/DEFAULT: the name of the model the operator promoted
YOURS = "yours/"  # a model choice that names one of the visitor's own runs: "yours/trained-....safetensors"
CACHE_SIZE = 32  # models chosen by visitors kept loaded, the most recently used


MAX_NAME = 200  # characters in a model name; longer ones are refused before they reach the file system


def check_name(name) -> str:
    """`name` if it can be a model's name (a string of at most MAX_NAME characters), else CheckpointError."""
    if not isinstance(name, str):
        raise CheckpointError(f"a model's name is text, not {type(name).__name__}")
    if len(name) > MAX_NAME:
        raise CheckpointError(f"a model's name has at most {MAX_NAME} characters, not {len(name):,}")
    return name


def _inside(folder: Path, name: str) -> Path:
    """The checkpoint `name` directly inside `folder`; refuses anything that would lead outside it."""
    check_name(name)
    plain = name == Path(name).name and is_weights_name(name)
    path = (folder / name).resolve() if plain else None
    if path is None or path.parent != folder.resolve():
        raise CheckpointError(f"{Path(name).name!r} is not a checkpoint here")  # its last part: no path echoed
    return path


def _load_file(path: Path, name: str) -> LoadedModel:
    """The checkpoint at `path` loaded as the model `name`; CheckpointError if it cannot be used."""
    return LoadedModel(name, *load_model(path), path=path)


def _listing(folder: Path) -> list[tuple[str, dict]]:
    """(name, metadata) of every usable-looking checkpoint in `folder`, the newest first."""
    found = []
    for path in folder.glob("*.safetensors") if folder.is_dir() else []:
        if not is_weights_name(path.name):
            continue
        try:
            found.append((path.name, read_metadata(path)))
        except CheckpointError:
            continue  # half-copied or foreign files are not offered
    return sorted(found, key=lambda item: str(item[1].get("created", "")), reverse=True)


class ModelStore:
    """The server's checkpoints (one folder) and its default model, plus the models visitors chose.

    `active` is the server's default: what every visitor uses until they choose another. Only the operator
    changes it (activate). A visitor's choice lives in their own gr.State and is resolved by `get`, which
    keeps recently used models loaded so that choosing one never slows the prediction path.
    """

    def __init__(self, directory: Path, default_name: str):
        self.directory = Path(directory)
        self.default_name = default_name
        self.active: LoadedModel | None = None
        self.error: str | None = None  # why no model is active, for the page
        self._lock = threading.Lock()
        self._recent = functools.lru_cache(maxsize=CACHE_SIZE)(_load_file)  # the models visitors chose lately

    def path_of(self, name: str) -> Path:
        return _inside(self.directory, name)

    def checkpoints(self) -> list[tuple[str, dict]]:
        """(name, metadata) of the server's checkpoints: the default first, then the newest first."""
        default = self.active.name if self.active else self.default_name
        return sorted(_listing(self.directory), key=lambda item: item[0] != default)  # stable sort

    def runs(self, folder: Path) -> list[tuple[str, dict]]:
        """(choice, metadata) of a visitor's own runs in `folder`, the newest first."""
        return [(YOURS + name, meta) for name, meta in _listing(folder)]

    def load(self, name: str) -> LoadedModel:
        return _load_file(self.path_of(name), name)

    def activate(self, name: str) -> LoadedModel:
        """Load `name` and make it the server's default; on any CheckpointError the current model stays."""
        loaded = self.load(name)
        with self._lock:
            self.active, self.error = loaded, None
        return loaded

    def promote(self, name: str) -> LoadedModel:
        """The operator's choice of default: activate `name` and remember it (DEFAULT_POINTER) across restarts."""
        loaded = self.activate(name)
        atomic_write(self.directory / DEFAULT_POINTER, lambda tmp: Path(tmp).write_text(name + "\n"))
        return loaded

    def activate_default(self) -> None:
        """At start-up: the operator's last promoted model, else the shipped one, or a clear message on the
        page if none can be used."""
        try:
            promoted = (self.directory / DEFAULT_POINTER).read_text().strip()
            self.activate(promoted)
            return
        except (OSError, CheckpointError):
            pass
        try:
            self.activate(self.default_name)
        except CheckpointError as e:
            self.error = f"No model could be loaded: {e}. Train one with `python train.py` or in the Train tab."

    def path_for(self, choice: str | None, runs: Path | None = None) -> Path:
        """The file of a visitor's choice: None is the server's default; "yours/NAME" is in their `runs`; any
        other name is a server checkpoint."""
        if choice is None:
            active = self.active
            if active is None:
                raise CheckpointError(self.error or "No model is loaded.")
            return active.path
        if check_name(choice).startswith(YOURS):
            if runs is None:
                raise CheckpointError(f"{choice!r} is not one of your runs")
            return _inside(runs, choice[len(YOURS) :])
        return self.path_of(choice)

    def get(self, choice: str | None, runs: Path | None = None) -> LoadedModel:
        """The model for a visitor's choice: None is the server's default; "yours/NAME" is their run NAME in
        `runs`; any other name is one of the server's checkpoints. Raises CheckpointError if it cannot be used."""
        if choice is None:
            active = self.active  # one read: a default swapped in meanwhile does not affect this request
            if active is None:
                raise CheckpointError(self.error or "No model is loaded.")
            return active
        return self._recent(self.path_for(choice, runs), choice)
