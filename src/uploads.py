"""Limits and guards for what strangers can send to the app.

    MAX_FILE_SIZE                 the upload limit for `launch(max_file_size=...)`: refused by Gradio's
                                  upload route with HTTP 413 before any of our code runs
    guard_image_editor(sketchpad) makes a gr.Sketchpad / gr.ImageEditor check its uploads like load_image

Why the guard: Gradio decodes a sketchpad's images itself (PIL.Image.open + convert) before our function
runs. Without it, a file that is not an image, a truncated PNG or a decompression bomb sent to /predict
fails inside Gradio with its generic "has not enabled verbose error reporting" message, and an image just
under Pillow's own limit (e.g. 12000x12000, 144 million pixels) is decoded in full, taking seconds and
over half a gigabyte. The guard reads each file's header first (size against preprocess.MAX_PIXELS) and
turns every decoding error into a gr.Error with the same messages as /classify.
"""

import gradio as gr
from PIL import Image

from src.preprocess import InvalidImage, check_size, readable_errors

# A 6000x6000 drawing is well under 1 MB as PNG, a 6000x6000 photo about 5-10 MB as JPEG; the
# biggest image MAX_PIXELS allows, as an uncompressed 8-bit RGB file, would be 120 MB: not worth taking.
MAX_FILE_SIZE = "10mb"


def _files(payload):
    """The FileData objects of an ImageEditor payload (background, layers, composite)."""
    if payload is None:
        return []
    candidates = [getattr(payload, "background", None), getattr(payload, "composite", None),
                  *(getattr(payload, "layers", None) or [])]
    return [f for f in candidates if f is not None and getattr(f, "path", None)]


def guard_image_editor(component):
    """Wrap `component.preprocess` (a gr.Sketchpad or gr.ImageEditor): header-only size check of every
    uploaded image, then Gradio's own preprocessing, with Pillow's errors turned into gr.Error."""
    original = component.preprocess

    def preprocess(payload):
        try:
            with readable_errors():
                for f in _files(payload):
                    with Image.open(f.path) as img:  # reads the header only
                        check_size(img)
                return original(payload)
        except InvalidImage as e:
            raise gr.Error(f"The drawing could not be read: {e}") from None

    component.preprocess = preprocess
    return component
