"""Atomic writes (src/atomic.py): a file is replaced whole or not at all, and no temporary file is left."""

import threading

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


def test_a_reader_never_sees_a_half_written_file_while_writers_rewrite_it(tmp_path):
    """Three writers rewrite one 2 MB file 40 times each (every call really writes) while a reader reads it."""
    path, data = tmp_path / "image.png", bytes(range(256)) * 8192
    atomic_write(path, lambda tmp: open(tmp, "wb").write(data))
    sizes, stop = [], threading.Event()

    def write():
        for _ in range(40):
            atomic_write(path, lambda tmp: open(tmp, "wb").write(data))

    def read():
        while not stop.is_set():
            sizes.append(len(path.read_bytes()))

    writers, reader = [threading.Thread(target=write) for _ in range(3)], threading.Thread(target=read)
    reader.start()
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    reader.join()
    assert len(sizes) > 10 and set(sizes) == {len(data)}
    assert [p.name for p in tmp_path.iterdir()] == ["image.png"]
