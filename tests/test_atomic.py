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


def test_cached_arrays_keep_the_last_few_sets_used_and_no_more(tmp_path):
    """Each key's arrays are made once and read back; a fifth key removes the least recently used file (and
    the one file an earlier version kept)."""
    import os

    import numpy as np

    from src.atomic import KEPT, cached_arrays

    made = []

    def make(key):
        made.append(key)
        return {"x": np.full(3, len(made), np.int64)}

    (tmp_path / "digits.safetensors").write_bytes(b"the single file of an earlier version")
    keys = [f"{k:x}" * 64 for k in range(KEPT + 1)]
    first = {key: cached_arrays(tmp_path / "digits.safetensors", key, lambda: make(key))["x"] for key in keys[:KEPT]}
    for key, when in zip(keys[:KEPT], range(KEPT)):  # file times one second apart: key 0 the oldest
        os.utime(tmp_path / f"digits-{key[:16]}.safetensors", (when, when))
    again = cached_arrays(tmp_path / "digits.safetensors", keys[0], lambda: make(keys[0]))["x"]
    assert made == keys[:KEPT] and np.array_equal(again, first[keys[0]])  # read back, and now the newest
    cached_arrays(tmp_path / "digits.safetensors", keys[KEPT], lambda: make(keys[KEPT]))
    left = sorted(p.name for p in tmp_path.glob("*.safetensors"))
    assert len(left) == KEPT and f"digits-{keys[1][:16]}.safetensors" not in left  # key 1 was used longest ago
    assert "digits.safetensors" not in left


def test_cached_arrays_are_made_once_while_others_wait_for_them(tmp_path):
    """Two trainings starting at once on a fresh server: one makes the arrays, the other reads what it made."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from src.atomic import cached_arrays

    started, made = threading.Event(), []

    def make():
        made.append(1)
        started.set()
        return {"x": np.arange(3)}

    def get():
        return cached_arrays(tmp_path / "pools.safetensors", "f" * 64, make)["x"]

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(get)
        started.wait(10)  # the first one is making them, holding the lock
        second = pool.submit(get)
        results = [first.result(), second.result()]
    assert made == [1] and all(np.array_equal(r, np.arange(3)) for r in results)
