"""Settings (src/settings.py): environment variables with defaults that work on a laptop and on a Space."""

import importlib

import pytest

from src import settings


@pytest.mark.parametrize(
    "value, expected",
    [("0", False), ("false", False), ("off", False), ("", False), ("1", True), ("yes", True), ("TRUE", True)],
)
def test_flags_read_like_a_person_writes_them(monkeypatch, value, expected):
    monkeypatch.setenv("ALLOW_TRAINING", value)
    assert settings._flag("ALLOW_TRAINING", not expected) is expected


def test_defaults_and_overrides(monkeypatch, tmp_path):
    monkeypatch.delenv("MAX_EPOCHS", raising=False)
    monkeypatch.setenv("CHECKPOINT_DIR", str(tmp_path))
    try:
        fresh = importlib.reload(settings)
        assert fresh.MAX_EPOCHS == 50 and fresh.CHECKPOINT_DIR == tmp_path
        assert fresh.DEFAULT_CHECKPOINT == "default.safetensors"
    finally:
        monkeypatch.undo()
        importlib.reload(settings)
