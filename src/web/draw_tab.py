"""The Draw tab: read a drawing, explain it, classify uploaded files, keep corrections, pick models.

    draw = DrawTab(store, visitors, links)     # the live model store, the visitors, the weights' links (app.py)
    with gr.Tab("Draw"):
        parts = draw.build(demo, explore)      # its layout and wiring; the handlers are DrawTab's methods

Every handler works for the visitor who sent the request.
"""

from dataclasses import dataclass

import gradio as gr
import numpy as np
from PIL import Image

from src import settings
from src.data.preprocess import InvalidImage, load_image
from src.model.checkpoint import CheckpointError
from src.model.novelty import novelty_path
from src.reading.inference import LoadedModel, ModelStore, Reading
from src.reading.saliency import overlay, saliency
from src.web import corrections, live
from src.web import draw_layout as layout
from src.web.downloads import WeightLinks
from src.web.visitors import LimitReached, Visitors

FILLED_AREA = "This looks like dots or a filled area, not a stroke: draw the digit with lines."
# After a reading, the browser asks for Inside the network's maps only while the panel is open.
REFRESH_INSIDE = "() => { if (window.insideOpen) document.querySelector('#inside-refresh')?.click(); }"
RELOAD_INSIDE = "() => { if (window.insideOpen) document.querySelector('#inside-reload')?.click(); }"


def result_of(reading: Reading | None) -> dict:
    """A reading as /predict and /classify answer: {"digit", "confidence", "probabilities", "is_digit", "unusual"}
    (+ "digits", "number" for several); digit None for ink that is no digit (or nothing, for /classify)."""
    if reading is None or len(reading.images) == 0:
        return {"digit": None, "confidence": 0.0, "probabilities": [0.0] * 10, "is_digit": False, "unusual": False}
    worst = int(np.argmin(reading.confidences))
    result = {
        "digit": reading.digits[worst],
        "confidence": round(reading.confidences[worst], 6),
        "probabilities": [round(float(v), 6) for v in reading.probabilities[worst]],
        "is_digit": reading.is_digit,
        "unusual": reading.unusual,
    }
    if len(reading.digits) > 1:
        result["digits"] = [
            {"digit": d, "confidence": round(c, 6)} for d, c in zip(reading.digits, reading.confidences)
        ]
        result["number"] = reading.number
    return result


@dataclass
class DrawParts:
    """What the rest of the page wires to: the visitor's model choice, the Draw tab's model picker and its
    text, and the page's load event."""

    choice: gr.State
    pickers: list
    arrival: object


# ------------------------------------------------------------------------------------------------ drawing
def strip(images: list[np.ndarray], size: int = 280) -> np.ndarray:
    """28x28 inputs side by side, enlarged with visible pixels (nearest neighbour)."""
    row = np.concatenate([np.clip(i, 0, 1) for i in images], axis=1)
    img = Image.fromarray((row * 255).astype(np.uint8))
    return np.asarray(img.resize((size * len(images), size), Image.Resampling.NEAREST))


def note_on(reading: Reading) -> str:
    """What the page says under a reading: the number digit by digit, not a digit, or unusual ("" for none)."""
    note = ""
    if len(reading.digits) > 1:
        worst = int(np.argmin(reading.confidences))
        parts = ", ".join(f"**{d}** ({c:.0%})" for d, c in zip(reading.digits, reading.confidences))
        note = (
            f"Read as the number **{reading.number}**, digit by digit: {parts}. "
            f"The bars show digit {worst + 1}, the least certain."
        )
    if not reading.is_digit:
        return (
            f"The model is not sure this is any digit: its best guess would be {reading.number} "
            f"({min(reading.confidences):.0%}). " + note
        )
    if reading.unusual:
        what = "number" if len(reading.digits) > 1 else "way to write a"
        return (
            f"An unusual {what} **{reading.number}**: the model "
            "is sure, but this drawing is unlike most digits it learned from. " + note
        )
    return note


# ------------------------------------------------------------------------------------------ the handlers
class DrawTab:
    """The Draw tab's handlers, for one visitor at a time.

    Each visitor's choice of model is their own gr.State (None: the server's default), resolved by the
    live model store; their corrections are in their own folder.
    A handler resolves the model once, so a model swapped meanwhile never affects a request in flight.
    """

    def __init__(self, store: ModelStore, visitors: Visitors, links: WeightLinks):
        self.store = store
        self.visitors = visitors
        self.links = links  # the live reading's links to the weights

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

    def predict(self, drawing, choice=None, request: gr.Request = None):
        """The pad's drawing -> (the reading, the 28x28 inputs the model saw, saliency, note, sample)."""
        reading, model, fallback = self.read(drawing, choice, request)
        if reading is None:
            return None, None, None, fallback, None
        if len(reading.images) == 0:  # ink that preprocessing could not turn into a digit
            return result_of(reading), None, None, FILLED_AREA, None
        heat = [overlay(image, saliency(model.model, image, d)) for image, d in zip(reading.images, reading.digits)]
        sample = reading.images[0] if len(reading.digits) == 1 else None  # corrections are for single digits
        return (
            result_of(reading),
            strip(list(reading.images)),
            np.concatenate(heat, axis=1),
            f"{note_on(reading)} {fallback}".strip(),
            sample,
        )

    def classify(self, file_path, choice=None, request: gr.Request = None):
        """An image file -> {"digit", "confidence", "probabilities", "is_digit"} (+ "digits", "number" for several)."""
        if not file_path:
            raise gr.Error("Send an image file (PNG, JPEG or WebP).", print_exception=False)
        try:
            image = load_image(file_path)
        except InvalidImage as e:
            raise gr.Error(str(e), print_exception=False) from None
        reading, _, _ = self.read(image, choice, request)
        return result_of(reading)

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
        return (
            f"Using **{model.name}**, {whose} ({model.meta.get('test_acc', '?')}% MNIST test accuracy). {note}".strip()
        )

    def refresh_models(self, choice=None, request: gr.Request = None, choices=None):
        """The picker and the text for this visitor (on page load and after their trainings). `choices`:
        model_choices(request), if the caller has it already."""
        value = choice or (self.store.active.name if self.store.active else None)
        choices = self.model_choices(request) if choices is None else choices
        return gr.Dropdown(choices=choices, value=value), self.model_text(choice, request)

    def live_element(self, choice=None, request: gr.Request = None) -> str:
        """#live-reading for this visitor's model: the browser reads each stroke with its weights."""
        try:
            model, _ = self.model_for(choice, request)
        except gr.Error:
            model = None
        return self.live_html(model)

    def live_html(self, model) -> str:
        """#live-reading with links to `model`'s weights and its novelty statistics (none for None)."""
        if model is None:
            return live.element("", "")
        return live.element(
            self.links.url(model.path), self.links.url(novelty_path(model.path)) if model.novelty else ""
        )

    def choice_of(self, name: str | None) -> str | None:
        """A model picker's name as a visitor's choice: None (the server's default) for the default's name or none."""
        active = self.store.active
        return None if not name or (active and name == active.name) else name

    def model_named(self, name: str | None, request: gr.Request | None, refusal: str) -> LoadedModel:
        """The model a picker's name stands for, for this visitor; if it cannot be used, gr.Error with `refusal`
        (its "{}" is the reason)."""
        choice = self.choice_of(name)
        try:
            return self.store.get(choice, self.visitors.of(request).runs if choice else None)
        except CheckpointError as e:
            raise gr.Error(refusal.format(e), print_exception=False) from None

    def use_model(self, name, request: gr.Request = None):
        """Choose a model for this visitor only -> (their new choice, the text saying which)."""
        if not name:
            raise gr.Error("Pick a checkpoint first.", print_exception=False)
        self.model_named(name, request, "That checkpoint cannot be used, so your current model stays: {}")
        choice = self.choice_of(name)
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
        return str(corrections.archive(folder, self.visitors.downloads.folder()))

    def clear_corrections(self, request: gr.Request = None):
        removed = corrections.clear(self.visitors.of(request).corrections)
        return f"Deleted your {removed} correction{'s' * (removed != 1)}. " + self.corrections_text(request)

    def sharing(self, request: gr.Request = None) -> bool:
        return self.visitors.of(request).shares

    def set_sharing(self, share, request: gr.Request = None) -> str:
        if not isinstance(share, bool):
            raise gr.Error("Sharing is on (true) or off (false).", print_exception=False)
        self.visitors.of(request).set_sharing(share)
        return (
            "Thank you: the operator of this server may use your corrections to improve the model."
            if share
            else "Your corrections stay yours: they are removed when you leave."
        )

    # ----------------------------------------------------------------------------------------- the tab
    def build(self, demo: gr.Blocks, explore) -> DrawParts:
        """The Draw tab's layout and wiring, inside `with gr.Tab("Draw")`; `explore` (an Explore)
        serves Inside the network and the ONNX export."""
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=300):
                pad = layout.drawing_column()
            with gr.Column(scale=1, min_width=300):
                shown = layout.reading_column(self.live_html(self.store.active))
        # Below the results, so that on a phone the prediction sits right under the canvas.
        models, inside = layout.model_panel(), layout.inside_panel()
        kept, files = layout.corrections_panel(), layout.classify_panel()
        sample = gr.State(None)  # the last single digit's 28x28 input, for a correction
        choice = gr.State(None)  # this visitor's model: None = the server's default, else a checkpoint name
        visitor_key = gr.BrowserState(None, storage_key="draw-a-digit-visitor")  # reloads: the same visitor

        self._wire_reading(pad, shown, inside, explore, sample, choice)
        models.export.click(explore.export_onnx, choice, models.onnx_file, api_name=False)
        files.button.click(self.classify, [files.upload, choice], files.result, api_name="classify")
        self._wire_corrections(shown, kept, sample)
        use = models.use.click(self.use_model, models.picker, [choice, models.text], api_name="use_model")
        use.then(self.live_element, choice, shown.live, api_name=False)
        use.then(None, js=RELOAD_INSIDE)  # an open panel shows the new model's maps and filters
        arrival = demo.load(self.arrived, visitor_key, visitor_key, api_name=False)
        if not settings.ALLOW_TRAINING:  # with training, the Train tab fills every picker from one listing
            arrival.then(self.refresh_models, choice, [models.picker, models.text], api_name=False)
        arrival.then(self.live_element, choice, shown.live, api_name=False)
        arrival.then(self.corrections_text, None, shown.status, api_name=False)
        arrival.then(self.sharing, None, kept.share, api_name=False)
        return DrawParts(choice, [models.picker, models.text], arrival)

    def _wire_reading(self, pad, shown, inside, explore, sample, choice) -> None:
        """Every finished stroke, Undo and Clear sends the pad's PNG; only the latest one is read, without a
        spinner. Inside the network costs nothing while its panel is closed: only an open panel asks for the
        maps (a click on its hidden refresh button, from the browser, after each reading)."""
        reading = pad.change(
            self.predict,
            [pad, choice],
            [shown.prediction, shown.model_input, shown.heatmap, shown.note, sample],
            api_name="predict",
            trigger_mode="always_last",
            show_progress="hidden",
        )
        everything = [*inside.maps, inside.filters, inside.summary]
        inside.panel.expand(explore.inside_panel, [sample, choice], everything, api_name=False)
        inside.panel.expand(None, js="() => { window.insideOpen = true; }")
        inside.panel.collapse(None, js="() => { window.insideOpen = false; }")
        reading.then(None, js=REFRESH_INSIDE)
        inside.refresh.click(
            explore.inside_maps,
            [sample, choice],
            inside.maps,
            api_name=False,
            show_progress="hidden",
            trigger_mode="always_last",
        )
        inside.reload.click(explore.inside_panel, [sample, choice], everything, api_name=False, show_progress="hidden")

    def _wire_corrections(self, shown, kept, sample) -> None:
        shown.correct_as.input(
            self.save_correction, [shown.correct_as, sample], [shown.correct_as, shown.status], api_name="correct"
        )
        kept.download.click(self.download_corrections, None, kept.archive, api_name="download_corrections")
        kept.delete.click(self.clear_corrections, None, shown.status, api_name="delete_corrections")
        kept.share.input(self.set_sharing, kept.share, kept.share_status, api_name="share_corrections")

    # ------------------------------------------------------------------------------------- visits
    def arrived(self, key=None, request: gr.Request = None):
        """On page load: the visitor key this browser keeps (gr.BrowserState), new on a first visit."""
        return self.visitors.arrived(request.session_hash if request else None, key)

    def left(self, request: gr.Request = None):
        self.visitors.left(request.session_hash if request else None)
