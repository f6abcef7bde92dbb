"""What the Draw tab does: read a drawing, explain it, classify uploaded files, keep corrections, pick models.

The methods of DrawTab are the event handlers of src/web/page.py. DrawTab is given the live model store and
the visitors (both created once, in app.py); every handler works for the visitor who sent the request.
"""

import numpy as np
import pandas as pd
import gradio as gr
from PIL import Image

from src.web import corrections

from src.web import live
from src.model.checkpoint import CheckpointError
from src.web.downloads import WeightLinks
from src.reading.inference import ModelStore, Reading
from src.web.visitors import LimitReached, Visitors
from src.data.preprocess import InvalidImage, load_image
from src.reading.saliency import overlay, saliency
from src.web.uploads import Drawings, drawing

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


# ------------------------------------------------------------------------------------------ the handlers
class DrawTab:
    """The Draw tab's handlers, for one visitor at a time.

    Each visitor's choice of model is their own gr.State (None: the server's default), resolved by the
    live model store (src/reading/inference.py); their corrections are in their own folder (src/web/visitors.py).
    A handler resolves the model once, so a model swapped meanwhile never affects a request in flight.
    """

    def __init__(self, store: ModelStore, visitors: Visitors, links: WeightLinks):
        self.store = store
        self.visitors = visitors
        self.links = links  # the live reading's links to the weights (src/web/downloads.py)
        self.drawings = Drawings()  # the sketchpad's images sent by the browser, until its reading takes them

    def model_for(self, choice: str | None, request: gr.Request | None):
        """(the model this visitor chose, a note when it had to fall back to the server's default)."""
        runs = self.visitors.of(request).runs  # also marks the visitor active: their files are kept
        try:
            return self.store.get(choice, runs), ""
        except CheckpointError as e:
            if choice is None:
                raise gr.Error(str(e), print_exception=False) from None
        try:
            return self.store.get(None), f"Your model {choice} is no longer on this server; using the default."
        except CheckpointError as e:
            raise gr.Error(str(e), print_exception=False) from None

    def read(self, value, choice, request) -> tuple[Reading | None, object, str]:
        """(what the chosen model reads in `value`, that model, a note); bad input becomes a message."""
        model, note = self.model_for(choice, request)
        try:
            return model.read(value), model, note
        except InvalidImage as e:
            raise gr.Error(str(e), print_exception=False) from None

    def predict(self, sketch, choice=None, request: gr.Request = None):
        """Sketchpad value -> (bar chart, top prediction, the 28x28 input the model saw, saliency, note, sample)."""
        reading, model, fallback = self.read(drawing(sketch, self.drawings, request), choice, request)
        if reading is None:
            return probability_table(), BLANK_HINT, None, None, fallback, None
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
        return chart, label, strip(list(reading.images)), heat_strip, f"{note} {fallback}".strip(), sample

    def classify(self, file_path, choice=None, request: gr.Request = None):
        """An image file -> {"digit", "confidence", "probabilities", "is_digit"} (+ "digits", "number" for several)."""
        if not file_path:
            raise gr.Error("Send an image file (PNG, JPEG or WebP).", print_exception=False)
        try:
            image = load_image(file_path)
        except InvalidImage as e:
            raise gr.Error(str(e), print_exception=False) from None
        reading, _, _ = self.read(image, choice, request)
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

    # ------------------------------------------------------------------------------------- models
    def model_choices(self, request: gr.Request | None) -> list[tuple[str, str]]:
        """The server's checkpoints, then this visitor's own runs: (label, choice)."""
        def label(name, meta, tag):
            acc = meta.get("test_acc")
            return f"{name}{tag}: {acc:.2f}% test" if isinstance(acc, (int, float)) else f"{name}{tag}"

        default = self.store.active.name if self.store.active else None
        shared = [(label(n, m, " (default)" if n == default else ""), n) for n, m in self.store.checkpoints()]
        mine = [(label(c, m, ""), c) for c, m in self.store.runs(self.visitors.of(request).runs)]
        return shared + mine

    def model_text(self, choice, request) -> str:
        try:
            model, note = self.model_for(choice, request)
        except gr.Error:
            return f"**No model loaded.** {self.store.error or ''}"
        whose = "the server's default" if choice is None else "your choice"
        return f"Using **{model.name}**, {whose} ({model.meta.get('test_acc', '?')}% MNIST test accuracy). {note}".strip()

    def refresh_models(self, choice=None, request: gr.Request = None, choices=None):
        """The picker and the text for this visitor (on page load and after their trainings). `choices`:
        model_choices(request), if the caller has it already."""
        value = choice or (self.store.active.name if self.store.active else None)
        choices = self.model_choices(request) if choices is None else choices
        return gr.Dropdown(choices=choices, value=value), self.model_text(choice, request)

    def live_element(self, choice=None, request: gr.Request = None) -> str:
        """#live-reading for this visitor's model: the browser reads each stroke with its weights (src/web/live.py)."""
        try:
            model, _ = self.model_for(choice, request)
        except gr.Error:
            return live.element("")
        return live.element(self.links.url(model.path))

    def choice_of(self, name: str | None) -> str | None:
        """A model picker's name as a visitor's choice: None (the server's default) for the default's name or none."""
        active = self.store.active
        return None if not name or (active and name == active.name) else name

    def use_model(self, name, request: gr.Request = None):
        """Choose a model for this visitor only -> (their new choice, the text saying which)."""
        if not name:
            raise gr.Error("Pick a checkpoint first.", print_exception=False)
        choice = self.choice_of(name)
        try:
            self.store.get(choice, self.visitors.of(request).runs if choice else None)
        except CheckpointError as e:
            raise gr.Error(f"That checkpoint cannot be used, so your current model stays: {e}", print_exception=False) from None
        return choice, self.model_text(choice, request)

    # -------------------------------------------------------------------------------- corrections
    def corrections_text(self, request: gr.Request = None) -> str:
        n = corrections.count(self.visitors.of(request).corrections)
        return f"You have {n} correction{'s' * (n != 1)} stored." if n else "You have no corrections stored yet."

    def save_correction(self, label, sample, request: gr.Request = None):
        if label is None or label == "":
            raise gr.Error("Pick the digit it really was.", print_exception=False)
        if sample is None:
            raise gr.Error("Draw a single digit first; then say which digit it really was.", print_exception=False)
        try:
            self.visitors.add_correction(self.visitors.of(request), sample, int(label))
        except LimitReached as e:
            raise gr.Error(str(e), print_exception=False) from None
        return None, f"Saved as a **{label}**. " + self.corrections_text(request)

    def download_corrections(self, request: gr.Request = None):
        folder = self.visitors.of(request).corrections
        if corrections.count(folder) == 0:
            raise gr.Error("You have no corrections to download yet.", print_exception=False)
        return str(corrections.archive(folder, self.visitors.archives))

    def clear_corrections(self, request: gr.Request = None):
        removed = corrections.clear(self.visitors.of(request).corrections)
        return f"Deleted your {removed} correction{'s' * (removed != 1)}. " + self.corrections_text(request)

    def sharing(self, request: gr.Request = None) -> bool:
        return self.visitors.of(request).shares

    def set_sharing(self, share, request: gr.Request = None) -> str:
        self.visitors.of(request).set_sharing(bool(share))
        return ("Thank you: the operator of this server may use your corrections to improve the model."
                if share else "Your corrections stay yours: they are removed when you leave.")

    # ------------------------------------------------------------------------------------- visits
    def arrived(self, key=None, request: gr.Request = None):
        """On page load: the visitor key this browser keeps (gr.BrowserState), new on a first visit."""
        return self.visitors.arrived(request.session_hash if request else None, key)

    def left(self, request: gr.Request = None):
        self.visitors.left(request.session_hash if request else None)
