"""Atomic file writes: write a temporary file next to the target, fsync it, then rename it into place.

A crash, a full disk or an exception part-way leaves the previous file untouched and no temporary
file behind. Used for checkpoints, novelty statistics and corrections; cached_arrays keeps arrays that take
a while to make (synthetic pools, MNIST as drawn, tuning digits) in a few files each.
"""

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Callable

from filelock import FileLock
from safetensors import safe_open
from safetensors.numpy import save_file


def write_temporary(path: Path, write: Callable[[str], None]) -> str:
    """Call write(tmp) for a new temporary file in path's folder and fsync it; on any failure remove it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; these files are meant to be read and shared
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def commit(tmp: str, path: Path) -> None:
    """Rename a finished temporary file over `path`; on failure remove the temporary file."""
    try:
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: Path | str, write: Callable[[str], None]) -> Path:
    """Write `path` atomically: write(tmp) fills a temporary file, which then replaces `path`."""
    path = Path(path)
    commit(write_temporary(path, write), path)
    return path


KEPT = 4  # files of one name kept side by side: a few datasets (the app's, a smaller run's), never one per visitor


def cached_arrays(path: Path | str, key: str, make: Callable[[], dict], kept: int = KEPT) -> dict:
    """The numpy arrays made for `key`, kept next to `path` in a file named for the key: read back if there,
    else make() them and keep them, removing the least recently used of that name beyond `kept` files. One
    process or thread makes them; the others wait for them (10 minutes at most). In a folder that cannot be
    written they are made on every call."""
    path = Path(path)
    mine = path.with_name(f"{path.stem}-{key[:16]}{path.suffix}")
    arrays = _read_kept(mine, key)
    if arrays is not None:
        return arrays
    with one_at_a_time(path.with_name(f".{path.stem}.lock")):
        arrays = _read_kept(mine, key)  # made meanwhile by whoever held the lock
        if arrays is None:
            arrays = make()
            _keep(arrays, path, mine, key, kept)
    return arrays


@contextlib.contextmanager
def one_at_a_time(lock_path: Path):
    """A file lock at `lock_path`, held for the duration: one process or thread at a time does the work. Without
    it where it cannot be taken: a read-only folder, or a holder that hangs for 10 minutes (filelock.Timeout)."""
    lock = FileLock(lock_path, timeout=600)
    try:
        lock.acquire()
    except OSError:
        lock = None
    try:
        yield
    finally:
        if lock is not None:
            lock.release()


def _read_kept(mine: Path, key: str) -> dict | None:
    try:
        with safe_open(str(mine), "np") as f:
            if (f.metadata() or {}).get("key") != key:
                return None
            arrays = {name: f.get_tensor(name) for name in f.keys()}
    except Exception:  # not there yet, or damaged
        return None
    with contextlib.suppress(OSError):  # used now: the last of its name to go (unless the folder is read-only)
        os.utime(mine)
    return arrays


def _keep(arrays: dict, path: Path, mine: Path, key: str, kept: int) -> None:
    try:
        atomic_write(mine, lambda tmp: save_file(arrays, tmp, metadata={"key": key}))
    except OSError:  # a read-only folder or a full disk: kept nowhere
        return
    others = []
    for other in path.parent.glob(f"{path.stem}-{'?' * 16}{path.suffix}"):
        with contextlib.suppress(OSError):  # gone meanwhile
            others.append((other.stat().st_mtime, other))
    for old in [path, *(p for _, p in sorted(others)[:-kept])]:  # and the one file of earlier versions
        with contextlib.suppress(OSError):
            old.unlink(missing_ok=True)
