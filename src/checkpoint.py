"""Checkpoints: weights in .safetensors plus a JSON sidecar with the same stem.

    checkpoints/default.safetensors   the tensors (no pickle: safetensors cannot run code)
    checkpoints/default.json          architecture, parameter count, hyperparameters, seed,
                                      per-epoch history, test accuracy, creation time, versions

Both files are written to temporary names in the same folder and renamed into place only once both are
complete, so a crash or a full disk never leaves a half-written checkpoint, and an old checkpoint is
replaced only once its new version is complete.
"""

import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

import safetensors
import torch
from safetensors.torch import load_file, save_file

from src.atomic import write_temporary
from src.model import ARCHITECTURE, TutorialCNN, count_parameters


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message says why."""


def sidecar(path: Path | str) -> Path:
    return Path(path).with_suffix(".json")


def save_checkpoint(path: Path | str, model: torch.nn.Module, metadata: dict) -> Path:
    """Write `path` (.safetensors) and its JSON sidecar atomically; returns `path`."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise CheckpointError(f"checkpoint names end in .safetensors, not {path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    meta = {
        "architecture": ARCHITECTURE,
        "parameters": count_parameters(model),
        **metadata,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "safetensors": safetensors.__version__,
        },
    }
    text = json.dumps(meta, indent=2)
    # Both files are complete on disk before either replaces anything, so a full disk or a crash while
    # writing leaves the old checkpoint (weights and JSON) as it was. Then weights first, JSON second:
    # a checkpoint is listed by its JSON, so it appears only when both are in place.
    tmp_weights = write_temporary(path, lambda tmp: save_file(tensors, tmp, metadata={"architecture": ARCHITECTURE}))
    tmp_json = None
    try:
        tmp_json = write_temporary(sidecar(path), lambda tmp: Path(tmp).write_text(text))
        os.replace(tmp_weights, path)
        os.replace(tmp_json, sidecar(path))
    except BaseException:
        for tmp in (tmp_weights, tmp_json):
            if tmp is not None:
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
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{meta_path.name} is not valid JSON ({e})") from None
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
        raise CheckpointError(f"{path} does not exist")
    meta = read_metadata(path)
    try:
        tensors = load_file(path, device="cpu")
    except Exception as e:  # safetensors raises SafetensorError / OSError for truncated or corrupted files
        raise CheckpointError(f"{path.name} is not a readable safetensors file ({e})") from None

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
