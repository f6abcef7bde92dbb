"""A fix for Gradio 6.31's output cache: images are written into it atomically.

Gradio saves every output image to a file named by a hash of its bytes and serves it from there. Its
save_pil_to_cache writes that file in place (truncate, then write), so when two requests produce the
same image at once (a class drawing the same digit, or a load test sending one drawing), one request can
serve the file while the other is rewriting it: the download breaks with "Too little data for declared
Content-Length". Gradio's own save_file_to_cache already writes under a temporary name and renames; this
does the same for images, and skips the write when the identical file is already there.

    write_images_atomically()   # once, before the app serves (app.py)
"""

import os
import tempfile
from pathlib import Path

from gradio import processing_utils


def save_pil_to_cache(img, cache_dir: str, name: str = "image", format: str = "webp") -> str:
    """processing_utils.save_pil_to_cache, but never a half-written file at the served path."""
    data = processing_utils.encode_pil_to_bytes(img, format)
    folder = Path(cache_dir) / processing_utils.hash_bytes(data)
    folder.mkdir(exist_ok=True, parents=True)
    path = (folder / f"{name}.{format}").resolve()
    if path.is_file() and path.stat().st_size == len(data):  # the name is the hash: same bytes already there
        return str(path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)  # no fsync: a cache file need not survive a crash, only never be seen half-written
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return str(path)


def write_images_atomically() -> None:
    processing_utils.save_pil_to_cache = save_pil_to_cache
