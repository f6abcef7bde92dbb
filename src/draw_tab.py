"""What the Draw tab does: read a drawing, explain it, classify uploaded files, keep corrections, pick models.

The functions here and the methods of DrawTab are the event handlers of src/ui.py. DrawTab is given the
live model store (created once, in app.py); each handler reads the live model once (`store.active`), so
a model swapped in meanwhile never affects a request already running.
"""

import numpy as np
import pandas as pd
import gradio as gr
from PIL import Image

from src import config, corrections
from src.checkpoint import CheckpointError
from src.inference import ModelStore, Reading
from src.preprocess import InvalidImage, load_image
from src.saliency import overlay, saliency

DIGITS = [str(d) for d in range(10)]
BLANK_HINT = "Draw a digit"
NOT_A_DIGIT = "This doesn't look like a digit"
FILLED_AREA = "This looks like a filled area, not a stroke: draw the digit with lines."

# ------------------------------------------------------------------------------------------------ drawing
def probability_table(probabilities=None) -> pd.DataFrame:
    """All ten digits in order 0-9, for the bar chart; zeros for a blank canvas."""
    p = np.zeros(10) if probabilities is None else np.asarray(probabilities, dtype=float)
    return pd.DataFrame({"digit": DIGITS, "probability": p.round(4)})


def strip(images: list[np.ndarray], size: int = 280) -> np.ndarray:
    """28x28 inputs side by side, enlarged with visible pixels (nearest neighbour)."""
    row = np.concatenate([np.clip(i, 0, 1) for i in images], axis=1)
    img = Image.fromarray((row * 255).astype(np.uint8))
    return np.asarray(img.resize((size * len(images), size), Image.Resampling.NEAREST))


# ------------------------------------------------------------------------------------------- corrections
def corrections_text() -> str:
    n = corrections.count(config.CORRECTIONS_DIR)
    return f"{n} correction{'s' * (n != 1)} stored." if n else "No corrections stored yet."


def save_correction(label, sample):
    if label is None or label == "":
        raise gr.Error("Pick the digit it really was.")
    if sample is None:
        raise gr.Error("Draw a single digit first; then say which digit it really was.")
    corrections.add(config.CORRECTIONS_DIR, sample, int(label))
    return None, f"Saved as a **{label}**. " + corrections_text()


def download_corrections():
    if corrections.count(config.CORRECTIONS_DIR) == 0:
        raise gr.Error("There are no corrections to download yet.")
    return str(corrections.archive(config.CORRECTIONS_DIR))


def clear_corrections():
    removed = corrections.clear(config.CORRECTIONS_DIR)
    return f"Deleted {removed} correction{'s' * (removed != 1)}. " + corrections_text()


# ------------------------------------------------------------------------------------------ with the model
class DrawTab:
    """The Draw tab's handlers that use the live model store (see src/inference.py)."""

    def __init__(self, store: ModelStore):
        self.store = store

    def live_model(self):
        model = self.store.active  # one read: a model swapped in meanwhile does not affect this request
        if model is None:
            raise gr.Error(self.store.error or "No model is loaded.")
        return model

    def read(self, value) -> tuple[Reading | None, object]:
        """(what the live model reads in `value`, that model); bad input becomes a message for the person."""
        model = self.live_model()
        try:
            return model.read(value), model
        except InvalidImage as e:
            raise gr.Error(str(e)) from None

    def predict(self, sketch):
        """Sketchpad value -> (bar chart, top prediction, the 28x28 input the model saw, saliency, note, sample)."""
        reading, model = self.read(sketch)
        if reading is None:
            return probability_table(), BLANK_HINT, None, None, "", None
        if len(reading.images) == 0:  # ink that preprocessing could not turn into a digit
            return probability_table(), NOT_A_DIGIT, None, None, FILLED_AREA, None
        heat = [overlay(image, saliency(model.model, image, d)) for image, d in zip(reading.images, reading.digits)]
        heat_strip = np.concatenate(heat, axis=1)
        worst = int(np.argmin(reading.confidences))
        chart = probability_table(reading.probabilities[worst])
        if len(reading.digits) > 1:
            parts = ", ".join(f"**{d}** ({c:.0%})" for d, c in zip(reading.digits, reading.confidences))
            label = {reading.number: float(np.prod(reading.confidences))}
            note = f"Read as the number **{reading.number}**, digit by digit: {parts}. The chart shows digit {worst + 1}, the least certain."
            sample = None  # corrections are for single digits
        else:
            label = {d: float(p) for d, p in zip(DIGITS, reading.probabilities[0])}
            note = ""
            sample = reading.images[0]
        if not reading.is_digit:
            label = NOT_A_DIGIT
            note = (f"The model is not sure this is any digit: its best guess would be {reading.number} "
                    f"({min(reading.confidences):.0%}). " + ("" if len(reading.digits) > 1 else note))
        elif reading.unusual:
            note = (f"An unusual {'number' if len(reading.digits) > 1 else 'way to write a'} **{reading.number}**: the model "
                    "is sure, but this drawing is unlike most digits it learned from. " + note)
        return chart, label, strip(list(reading.images)), heat_strip, note, sample

    def classify(self, file_path):
        """An image file -> {"digit", "confidence", "probabilities", "is_digit"} (+ "digits", "number" for several)."""
        if not file_path:
            raise gr.Error("Send an image file (PNG, JPEG or WebP).")
        try:
            image = load_image(file_path)
        except InvalidImage as e:
            raise gr.Error(str(e)) from None
        reading, _ = self.read(image)
        if reading is None or len(reading.images) == 0:
            return {"digit": None, "confidence": 0.0, "probabilities": [0.0] * 10, "is_digit": False, "unusual": False}
        worst = int(np.argmin(reading.confidences))
        result = {"digit": reading.digits[worst], "confidence": round(reading.confidences[worst], 6),
                  "probabilities": [round(float(v), 6) for v in reading.probabilities[worst]],
                  "is_digit": reading.is_digit, "unusual": reading.unusual}
        if len(reading.digits) > 1:
            result["digits"] = [{"digit": d, "confidence": round(c, 6)} for d, c in zip(reading.digits, reading.confidences)]
            result["number"] = reading.number
        return result

    def model_choices(self) -> list[tuple[str, str]]:
        def label(name, meta):
            acc = meta.get("test_acc")
            tag = " (shipped)" if name == config.DEFAULT_CHECKPOINT else ""
            return f"{name}{tag}: {acc:.2f}% test" if isinstance(acc, (int, float)) else f"{name}{tag}"

        return [(label(name, meta), name) for name, meta in self.store.checkpoints()]

    def active_model_text(self) -> str:
        active = self.store.active
        if active is None:
            return f"**No model loaded.** {self.store.error or ''}"
        return f"Using **{active.name}** ({active.meta.get('test_acc', '?')}% MNIST test accuracy)."

    def refresh_models(self):
        active = self.store.active.name if self.store.active else None
        return gr.Dropdown(choices=self.model_choices(), value=active), self.active_model_text()

    def use_model(self, name):
        if not name:
            raise gr.Error("Pick a checkpoint first.")
        try:
            self.store.activate(name)
        except CheckpointError as e:
            raise gr.Error(f"That checkpoint cannot be used, so the current model stays: {e}") from None
        return self.active_model_text()
