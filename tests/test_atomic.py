"""Atomic writes (src/atomic.py): a file is replaced whole or not at all, and no temporary file is left."""

import pytest

from src.atomic import atomic_write


def test_a_write_replaces_the_file_whole(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("old")
    atomic_write(path, lambda tmp: open(tmp, "w").write("new"))
    assert path.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("old")

    def half_then_full_disk(tmp):
        open(tmp, "w").write("ne")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic_write(path, half_then_full_disk)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["x.txt"]
