"""Checkpoints: a model and everything that belongs to it, saved and loaded in one place.

    checkpoints/default.safetensors          the tensors (no pickle: safetensors cannot run code)
    checkpoints/default.json                 architecture, parameter count, hyperparameters, seed,
                                             per-epoch history, test accuracy, weights' SHA-256, versions
    checkpoints/default.novelty.safetensors  the "is it a digit?" statistics fitted to these weights

save_model is the only function that writes a model: train.py, the Train tab (finished or stopped runs)
and fine-tuning all call it. All three files are written to temporary names in the same folder and
renamed into place only once all are complete, so a crash or a full disk never leaves a half-written
checkpoint, and an old checkpoint is replaced only once its new version is complete.
"""

import hashlib
import json
import logging
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

import safetensors
import torch
from safetensors.torch import load_file, save_file

from src.atomic import write_temporary
from src.model.network import ARCHITECTURE, TutorialCNN, count_parameters
from src.model.novelty import NoveltyDetector, NoveltyMismatch, novelty_path

log = logging.getLogger(__name__)


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message says why."""


def sidecar(path: Path | str) -> Path:
    return Path(path).with_suffix(".json")


def checkpoint_files(weights: Path | str) -> list[Path]:
    """The three files of the checkpoint whose weights are `weights`: weights, JSON, novelty statistics."""
    weights = Path(weights)
    return [weights, sidecar(weights), novelty_path(weights)]


def is_weights_name(name: str) -> bool:
    """Whether a file name is a model's weights (NAME.safetensors), not its novelty statistics."""
    return name.endswith(".safetensors") and not name.endswith(".novelty.safetensors")


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 of the weights (names, shapes and float32 values), to pair novelty statistics with them."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().to("cpu", torch.float32).contiguous()
        h.update(f"{name}:{tuple(t.shape)};".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def save_model(path: Path | str, model: torch.nn.Module, metadata: dict, detector: NoveltyDetector) -> Path:
    """Write the weights (`path`, .safetensors), the JSON sidecar and the novelty statistics atomically."""
    path = Path(path)
    if not is_weights_name(path.name):
        raise CheckpointError(f"checkpoint names end in .safetensors, not {path.name!r}")
    digest = weights_digest(model)
    if detector.weights != digest:
        raise CheckpointError("the novelty statistics were fitted to other weights than the ones being saved")
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    meta = {
        "architecture": ARCHITECTURE,
        "parameters": count_parameters(model),
        **metadata,
        "weights_sha256": digest,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "safetensors": safetensors.__version__,
        },
    }
    text = json.dumps(meta, indent=2)
    # All three files are complete on disk before any replaces anything, so a full disk or a crash while
    # writing leaves the old checkpoint as it was. Then statistics, weights, and the JSON last: a
    # checkpoint is listed by its JSON, so it appears only when everything is in place.
    temporary = []
    try:
        temporary.append((detector.write_temporary(novelty_path(path)), novelty_path(path)))
        temporary.append(
            (write_temporary(path, lambda tmp: save_file(tensors, tmp, metadata={"architecture": ARCHITECTURE})), path)
        )
        temporary.append((write_temporary(sidecar(path), lambda tmp: Path(tmp).write_text(text)), sidecar(path)))
        for tmp, final in temporary:
            os.replace(tmp, final)
    except BaseException:
        for tmp, _ in temporary:
            Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_metadata(path: Path | str) -> dict:
    """The JSON sidecar of a checkpoint, or CheckpointError."""
    meta_path = sidecar(path)
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{meta_path.name} is missing: every checkpoint needs its JSON sidecar") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CheckpointError(f"{meta_path.name} is not valid JSON") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{meta_path.name} must hold a JSON object")
    if meta.get("architecture") != ARCHITECTURE:
        raise CheckpointError(
            f"{meta_path.name} is for architecture {meta.get('architecture')!r}; this app runs {ARCHITECTURE!r}"
        )
    return meta


def load_checkpoint(path: Path | str, device="cpu") -> tuple[TutorialCNN, dict]:
    """(model in eval mode, metadata) from a .safetensors file and its JSON; CheckpointError if unusable."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise CheckpointError(f"{path.name}: only .safetensors checkpoints are loaded (never pickles)")
    if not path.is_file():
        raise CheckpointError(f"{path.name} does not exist")  # the name only: messages reach visitors
    meta = read_metadata(path)
    try:
        tensors = load_file(path, device="cpu")
    except Exception as e:  # safetensors raises SafetensorError / OSError for truncated or corrupted files
        raise CheckpointError(f"{path.name} is not a readable safetensors file ({type(e).__name__})") from None

    model = TutorialCNN()
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{path.name} has the wrong tensors: missing {missing}, unexpected {unexpected}")
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape:
            raise CheckpointError(
                f"{path.name}: tensor {name!r} has shape {tuple(tensor.shape)}, expected {tuple(expected[name].shape)}"
            )
        if not tensor.is_floating_point() or not torch.isfinite(tensor).all():
            raise CheckpointError(f"{path.name}: tensor {name!r} is not finite floating point")
    model.load_state_dict(tensors)
    return model.to(device).eval(), meta


def load_model(path: Path | str) -> tuple[TutorialCNN, dict, NoveltyDetector | None]:
    """(model, metadata, its novelty detector or None). A missing or mismatched novelty file costs only the
    "is it a digit?" check, never the model, and is logged."""
    model, meta = load_checkpoint(path)
    stats = novelty_path(path)
    if not stats.exists():
        log.warning(
            '%s has no novelty statistics (%s): "is it a digit?" falls back to the top probability',
            Path(path).name,
            stats.name,
        )
        return model, meta, None
    try:
        return model, meta, NoveltyDetector.load(stats, weights_digest(model))
    except NoveltyMismatch as e:
        log.warning("refusing %s: %s", stats.name, e)
        return model, meta, None
