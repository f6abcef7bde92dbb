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
CPU_KERNELS = _flag("CPU_KERNELS", True)  # CPU training with numba's kernels (src/training/kernels.py)
TRAINING_THREADS = int(os.environ.get("TRAINING_THREADS", "0"))  # CPU threads of a training; 0: cores up to 4
MAX_EPOCHS = int(os.environ.get("MAX_EPOCHS", "50"))

# A public server: each visitor's runs and corrections live in their own folder under VISITOR_DIR
# (src/web/visitors.py), within these limits.
VISITOR_DIR = Path(os.environ.get("VISITOR_DIR", str(ROOT / "visitors")))
MAX_RUNS_PER_VISITOR = int(os.environ.get("MAX_RUNS_PER_VISITOR", "3"))
MAX_CORRECTIONS_PER_VISITOR = int(os.environ.get("MAX_CORRECTIONS_PER_VISITOR", "500"))
VISITOR_DATA_MB = float(os.environ.get("VISITOR_DATA_MB", "500"))
VISITOR_DATA_MB_PER_ADDRESS = float(
    os.environ.get("VISITOR_DATA_MB_PER_ADDRESS", "50")
)  # of all visitors at one address
SHARED_CORRECTIONS_MB = float(os.environ.get("SHARED_CORRECTIONS_MB", "50"))  # of visitors who left, together
VISITOR_IDLE_MINUTES = float(os.environ.get("VISITOR_IDLE_MINUTES", "60"))
MAX_WAITING_TRAININGS = int(os.environ.get("MAX_WAITING_TRAININGS", "10"))  # besides the one running

# The operator (whoever runs the server) signs in on /operator with this secret. Without it there is no
# operator page and no operator endpoint at all.
ADMIN_PASSWORD = os.environ.get("ADMIN_PASSWORD") or None

# Limits per client address (src/web/clients.py), since a session costs nothing. On a Space the address is the last
# X-Forwarded-For entry, the one Spaces' proxy appends (TRUST_PROXY, on by itself where SPACE_ID is set).
TRUST_PROXY = _flag("TRUST_PROXY", bool(os.environ.get("SPACE_ID")))
MAX_TRAINING_MINUTES = float(os.environ.get("MAX_TRAINING_MINUTES", "10"))  # one training stops after this
TRAINING_MINUTES_PER_ADDRESS = float(os.environ.get("TRAINING_MINUTES_PER_ADDRESS", "30"))  # per hour (not loopback)
MAX_TRAININGS_PER_ADDRESS = int(os.environ.get("MAX_TRAININGS_PER_ADDRESS", "3"))  # running or waiting
EVENTS_PER_SECOND = float(os.environ.get("EVENTS_PER_SECOND", "10"))  # per address (not loopback); 0: no limit
EVENTS_IN_FLIGHT_PER_ADDRESS = int(os.environ.get("EVENTS_IN_FLIGHT_PER_ADDRESS", "3"))  # readings queued or running
MAX_SIGN_IN_FAILURES = int(os.environ.get("MAX_SIGN_IN_FAILURES", "5"))  # per address in 10 minutes
