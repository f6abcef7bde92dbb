"""A fix for Gradio 6.31's output cache: images are written into it atomically.

Gradio saves every output image to a file named by a hash of its bytes and serves it from there. Its
save_pil_to_cache writes that file in place (truncate, then write), so when two requests produce the
same image at once (a class drawing the same digit, or a load test sending one drawing), one request can
serve the file while the other is rewriting it: the download breaks with "Too little data for declared
Content-Length". Gradio's own save_file_to_cache already writes under a temporary name and renames; this
does the same for images, and skips the write when the identical file is already there.

    write_images_atomically()   # once, before the app serves (app.py)
"""

from pathlib import Path

from gradio import processing_utils

from src.atomic import atomic_write


def save_pil_to_cache(img, cache_dir: str, name: str = "image", format: str = "webp") -> str:
    """processing_utils.save_pil_to_cache, but never a half-written file at the served path."""
    data = processing_utils.encode_pil_to_bytes(img, format)
    path = (Path(cache_dir) / processing_utils.hash_bytes(data) / f"{name}.{format}").resolve()
    if not (path.is_file() and path.stat().st_size == len(data)):  # the name is the hash: same bytes already there
        atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    return str(path)


def write_images_atomically() -> None:
    processing_utils.save_pil_to_cache = save_pil_to_cache
