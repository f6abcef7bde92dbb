"""src/web/gradio_cache.py: identical output images written by concurrent requests are never served half-written."""

import threading

import numpy as np
from gradio import processing_utils
from PIL import Image

from src.web.gradio_cache import save_pil_to_cache


def race(save, cache_dir, rounds=60) -> list[int]:
    """Writers save one image over and over while a reader reads the file; returns the sizes it read."""
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (280, 560, 3), dtype=np.uint8))
    path = save(img, str(cache_dir), format="png")
    full = len(open(path, "rb").read())
    sizes, stop = [], threading.Event()

    def write():
        for _ in range(rounds):
            save(img, str(cache_dir), format="png")

    def read():
        while not stop.is_set():
            with open(path, "rb") as f:
                sizes.append(len(f.read()))

    writers = [threading.Thread(target=write) for _ in range(3)]
    reader = threading.Thread(target=read)
    reader.start()
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    reader.join()
    return [s for s in sizes if s != full]


def test_gradio_s_own_in_place_write_can_be_read_half_written(tmp_path):
    """The bug being fixed: unpatched, the served file is sometimes seen truncated."""
    original = processing_utils.save_pil_to_cache
    assert original is not save_pil_to_cache

    def rewrite_always(img, cache_dir, name="image", format="webp"):  # what Gradio 6.31 does on every call
        data = processing_utils.encode_pil_to_bytes(img, format)
        folder = tmp_path / "in-place" / processing_utils.hash_bytes(data)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.{format}").write_bytes(data)
        return str(folder / f"{name}.{format}")

    assert race(rewrite_always, tmp_path) != []


def test_atomic_writes_are_never_read_half_written(tmp_path):
    assert race(save_pil_to_cache, tmp_path) == []
    assert not [p for p in tmp_path.rglob(".*")]  # no temporary files left


def test_gradio_s_image_output_goes_through_the_atomic_writer(monkeypatch, tmp_path):
    """The fix takes effect only if gr.Image saves its outputs through processing_utils.save_pil_to_cache."""
    import gradio as gr

    from src.web import gradio_cache

    calls = []

    def spy(*args, **kwargs):
        calls.append(args)
        return save_pil_to_cache(*args, **kwargs)

    monkeypatch.setattr(gradio_cache, "save_pil_to_cache", spy)
    monkeypatch.setattr(processing_utils, "save_pil_to_cache", processing_utils.save_pil_to_cache)  # restored after
    gradio_cache.write_images_atomically()
    image = gr.Image(format="png")
    image.GRADIO_CACHE = str(tmp_path)
    out = image.postprocess(np.zeros((28, 28, 3), np.uint8))
    assert len(calls) == 1 and out.path.startswith(str(tmp_path))
