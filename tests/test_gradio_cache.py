"""src/web/gradio_cache.py: output images are written atomically (src/atomic.py), once per content."""

from pathlib import Path

import numpy as np
from gradio import processing_utils
from PIL import Image

from src.web.gradio_cache import save_pil_to_cache


def picture(seed: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (280, 560, 3), dtype=np.uint8))


def test_an_image_is_saved_once_under_its_hash_and_not_rewritten(tmp_path):
    first = Path(save_pil_to_cache(picture(0), str(tmp_path), format="png"))
    inode = first.stat().st_ino
    again = Path(save_pil_to_cache(picture(0), str(tmp_path), format="png"))
    other = Path(save_pil_to_cache(picture(1), str(tmp_path), format="png"))
    assert again == first and first.stat().st_ino == inode  # the same bytes: not written again
    assert other != first and Image.open(first).tobytes() == picture(0).tobytes()
    assert not [p for p in tmp_path.rglob(".*")]  # no temporary files left


def test_a_truncated_file_at_the_path_is_replaced_whole(tmp_path):
    path = Path(save_pil_to_cache(picture(0), str(tmp_path), format="png"))
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])  # what Gradio's own in-place write can leave for a moment
    assert Path(save_pil_to_cache(picture(0), str(tmp_path), format="png")).read_bytes() == whole


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
