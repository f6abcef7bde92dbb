"""Settings from environment variables, each with a default that works on a laptop and on a Space."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() not in ("0", "false", "no", "off", "")


DATA_DIR = os.environ.get("DATA_DIR", str(ROOT / "data"))
CHECKPOINT_DIR = Path(os.environ.get("CHECKPOINT_DIR", str(ROOT / "checkpoints")))
DEFAULT_CHECKPOINT = "default.safetensors"
ALLOW_TRAINING = _flag("ALLOW_TRAINING", True)
MAX_EPOCHS = int(os.environ.get("MAX_EPOCHS", "50"))
CORRECTIONS_DIR = Path(os.environ.get("CORRECTIONS_DIR", str(ROOT / "corrections")))
