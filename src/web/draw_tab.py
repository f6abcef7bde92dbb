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
from src.reading.inference import ModelStore, Reading
from src.reading.saliency import READING_HINT, overlay, saliency
from src.web import corrections, live
from src.web.downloads import WeightLinks
from src.web.pad import Pad
from src.web.uploads import choice_only, uploads_only
from src.web.visitors import LimitReached, Visitors

DIGITS = [str(d) for d in range(10)]
FILLED_AREA = "This looks like dots or a filled area, not a stroke: draw the digit with lines."
# After a reading, the browser asks for Inside the network's maps only while the panel is open.
REFRESH_INSIDE = "() => { if (window.insideOpen) document.querySelector('#inside-refresh')?.click(); }"
RELOAD_INSIDE = "() => { if (window.insideOpen) document.querySelector('#inside-reload')?.click(); }"


class ServerReading(gr.HTML):
    """#prediction: the server's reading in one line under the browser's, from the same dict /predict and
    /classify answer with (None: nothing drawn). Its text starts with the digit or number read."""

    TEMPLATE = """<p class="server-reading">${(() => {
      const v = value || null, pct = (p) => Math.round(100 * p) + "%";
      if (!v) return "Draw a digit: the server reads it after each stroke";
      if (v.digit === null) return "Not a digit: dots or a filled area, says the server";
      const what = v.number ?? v.digit;
      if (!v.is_digit) return `Not a digit, says the server (best guess ${what}, ${pct(v.confidence)})`;
      return `${what} at ${pct(v.confidence)}, confirmed by the server${v.unusual ? ", which finds it unusual" : ""}`;
    })()}</p>"""

    def __init__(self, **kwargs):
        super().__init__(None, html_template=self.TEMPLATE, js_on_load=None, **kwargs)

    def postprocess(self, value):
        return value

    def api_info(self) -> dict:
        return {
            "type": "object",
            "description": "digit, confidence, probabilities (all ten), is_digit, unusual; "
            "digits and number for several; null when nothing is drawn",
        }


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
        """The pad's drawing (src/web/pad.py) -> (the reading, the 28x28 inputs the model saw, saliency, note, sample)."""
        reading, model, fallback = self.read(drawing, choice, request)
        if reading is None:
            return None, None, None, fallback, None
        if len(reading.images) == 0:  # ink that preprocessing could not turn into a digit
            return result_of(reading), None, None, FILLED_AREA, None
        heat = [overlay(image, saliency(model.model, image, d)) for image, d in zip(reading.images, reading.digits)]
        sample = reading.images[0] if len(reading.digits) == 1 else None  # corrections are for single digits
        note = ""
        if len(reading.digits) > 1:
            worst = int(np.argmin(reading.confidences))
            parts = ", ".join(f"**{d}** ({c:.0%})" for d, c in zip(reading.digits, reading.confidences))
            note = f"Read as the number **{reading.number}**, digit by digit: {parts}. The bars show digit {worst + 1}, the least certain."
        if not reading.is_digit:
            note = (
                f"The model is not sure this is any digit: its best guess would be {reading.number} "
                f"({min(reading.confidences):.0%}). " + note
            )
        elif reading.unusual:
            note = (
                f"An unusual {'number' if len(reading.digits) > 1 else 'way to write a'} **{reading.number}**: the model "
                "is sure, but this drawing is unlike most digits it learned from. " + note
            )
        return (
            result_of(reading),
            strip(list(reading.images)),
            np.concatenate(heat, axis=1),
            f"{note} {fallback}".strip(),
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
        """#live-reading for this visitor's model: the browser reads each stroke with its weights (src/web/live.py)."""
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

    def use_model(self, name, request: gr.Request = None):
        """Choose a model for this visitor only -> (their new choice, the text saying which)."""
        if not name:
            raise gr.Error("Pick a checkpoint first.", print_exception=False)
        choice = self.choice_of(name)
        try:
            self.store.get(choice, self.visitors.of(request).runs if choice else None)
        except CheckpointError as e:
            raise gr.Error(
                f"That checkpoint cannot be used, so your current model stays: {e}", print_exception=False
            ) from None
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
        """The Draw tab's layout and wiring, inside `with gr.Tab("Draw")`; `explore` (src/web/explore.py)
        serves Inside the network and the ONNX export."""
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=300):
                gr.Markdown("**Draw a digit**, or a number, large, anywhere on the pad.", elem_id="pad-title")
                pad = Pad(elem_id="sketchpad")  # a 2D canvas; its value is one PNG (src/web/pad.py)
                gr.Markdown(
                    "No mouse? Tab to the pad and use the arrow keys and Space, or choose **Draw with "
                    "clicks**. **Classify an image file**, further down, reads a picture of a digit.",
                    elem_id="keyboard-hint",
                )
            with gr.Column(scale=1, min_width=300):
                # The reading: the browser's at once, after every move (src/web/static/live.js), and the server's
                # after each stroke, in one line under it with the same numbers.
                with gr.Group(elem_id="reading"):
                    live_reading = gr.HTML(self.live_html(self.store.active), elem_id="live-reading", js_on_load=None)
                    prediction = ServerReading(elem_id="prediction")
                note = gr.Markdown("", elem_id="note")
                with gr.Row():
                    model_input = gr.Image(
                        label="What the model sees (28×28)",
                        elem_id="model-input",
                        interactive=False,
                        height=200,
                        buttons=[],
                        format="png",
                    )
                    heatmap = gr.Image(
                        label="Why: the pixels that counted",
                        elem_id="saliency",
                        interactive=False,
                        height=200,
                        buttons=[],
                        format="png",
                    )
                gr.Markdown(READING_HINT, elem_id="saliency-hint")
                with gr.Group():
                    correct_as = choice_only(
                        gr.Radio(DIGITS, label="Wrong? It was really a…", elem_id="correct-as"),
                        "Pick the digit it really was, from 0 to 9.",
                    )
                    correction_status = gr.Markdown("", elem_id="corrections-count")
        # Below the results, so that on a phone the prediction sits right under the canvas.
        with gr.Accordion("Model", open=False):
            model_picker = gr.Dropdown(
                choices=[],
                label="Model (yours/… are the runs you trained)",
                elem_id="model-picker",
                interactive=True,
                allow_custom_value=True,
            )  # the list grows as models are trained
            use_button = gr.Button("Use this model", elem_id="use-model", size="sm")
            active_model = gr.Markdown("", elem_id="active-model")
            with gr.Row():
                export_button = gr.Button("Download this model as ONNX", elem_id="export-onnx", size="sm")
                onnx_file = gr.File(
                    label="ONNX: input “image” (N, 1, 28, 28) in [0, 1]; outputs “logits”, “probabilities”",
                    elem_id="onnx-file",
                    interactive=False,
                )
        with gr.Accordion("Inside the network", open=False, elem_id="inside") as inside_panel:
            gr.Markdown(
                "What each layer of the network makes of your drawing (a single digit), after its "
                "ReLU: brighter means a stronger response. Each convolution's maps are halved in size "
                "by the pooling before the next layer."
            )
            maps = [
                gr.Image(label=label, elem_id=f"maps-{name}", interactive=False, buttons=[], format="png")
                for name, label in (
                    ("conv1", "conv1: 8 feature maps, 28×28"),
                    ("conv2", "conv2: 16 feature maps, 14×14"),
                    ("conv3", "conv3: 32 feature maps, 7×7"),
                )
            ]
            with gr.Row():
                with gr.Column():
                    gr.Markdown("**conv1's 8 learned filters** (3×3 weights; orange +, blue −)")
                    filters = gr.Image(show_label=False, elem_id="filters", interactive=False, buttons=[], format="png")
                summary = gr.Dataframe(
                    label="Model summary: each layer's output for one image", elem_id="model-summary", interactive=False
                )
            inside_refresh = gr.Button("Refresh", visible="hidden", elem_id="inside-refresh")  # the maps
            inside_reload = gr.Button("Reload", visible="hidden", elem_id="inside-reload")  # all: another model
        with gr.Accordion("Your corrections", open=False):
            gr.Markdown(
                "Your corrections are stored on this server as 28×28 PNGs, visible only to you, and can "
                "fine-tune your model (Train tab). They are removed some time after you leave: download "
                "them to keep them."
            )
            share = gr.Checkbox(
                False,
                label="Share my corrections to improve the model (the server's operator may then keep and use them)",
                elem_id="share-corrections",
            )
            share_status = gr.Markdown("", elem_id="share-status")
            with gr.Row():
                download_button = gr.Button("Download corrections (.zip)", elem_id="download-corrections")
                delete_button = gr.Button("Delete all corrections", variant="stop", elem_id="clear-corrections")
            corrections_zip = gr.File(label="Corrections", elem_id="corrections-zip", interactive=False)
        with gr.Accordion("Classify an image file", open=False):
            with gr.Row():
                upload = uploads_only(
                    gr.File(label="PNG, JPEG or WebP", file_types=["image"], type="filepath", elem_id="upload")
                )
                result = gr.JSON(label="Result", elem_id="classify-result")
            classify_button = gr.Button("Classify", elem_id="classify")
        sample = gr.State(None)  # the last single digit's 28x28 input, for a correction
        choice = gr.State(None)  # this visitor's model: None = the server's default, else a checkpoint name
        visitor_key = gr.BrowserState(None, storage_key="draw-a-digit-visitor")  # reloads: the same visitor

        # Every finished stroke, Undo and Clear sends the pad's PNG; only the latest one is read, without a spinner.
        reading = pad.change(
            self.predict,
            [pad, choice],
            [prediction, model_input, heatmap, note, sample],
            api_name="predict",
            trigger_mode="always_last",
            show_progress="hidden",
        )
        # Inside the network costs nothing while its panel is closed: only an open panel asks for the maps
        # (a click on its hidden refresh button, from the browser, after each reading).
        inside_outputs = [*maps, filters, summary]
        inside_panel.expand(explore.inside_panel, [sample, choice], inside_outputs, api_name=False)
        inside_panel.expand(None, js="() => { window.insideOpen = true; }")
        inside_panel.collapse(None, js="() => { window.insideOpen = false; }")
        reading.then(None, js=REFRESH_INSIDE)
        inside_refresh.click(
            explore.inside_maps,
            [sample, choice],
            maps,
            api_name=False,
            show_progress="hidden",
            trigger_mode="always_last",
        )
        inside_reload.click(
            explore.inside_panel, [sample, choice], inside_outputs, api_name=False, show_progress="hidden"
        )
        export_button.click(explore.export_onnx, choice, onnx_file, api_name=False)
        classify_button.click(self.classify, [upload, choice], result, api_name="classify")
        correct_as.input(
            self.save_correction, [correct_as, sample], [correct_as, correction_status], api_name="correct"
        )
        download_button.click(self.download_corrections, None, corrections_zip, api_name="download_corrections")
        delete_button.click(self.clear_corrections, None, correction_status, api_name="delete_corrections")
        share.input(self.set_sharing, share, share_status, api_name="share_corrections")
        use = use_button.click(self.use_model, model_picker, [choice, active_model], api_name="use_model")
        use.then(self.live_element, choice, live_reading, api_name=False)
        use.then(None, js=RELOAD_INSIDE)  # an open panel shows the new model's maps and filters
        arrival = demo.load(self.arrived, visitor_key, visitor_key, api_name=False)
        if not settings.ALLOW_TRAINING:  # with training, the Train tab fills every picker from one listing
            arrival.then(self.refresh_models, choice, [model_picker, active_model], api_name=False)
        arrival.then(self.live_element, choice, live_reading, api_name=False)
        arrival.then(self.corrections_text, None, correction_status, api_name=False)
        arrival.then(self.sharing, None, share, api_name=False)
        return DrawParts(choice, [model_picker, active_model], arrival)

    # ------------------------------------------------------------------------------------- visits
    def arrived(self, key=None, request: gr.Request = None):
        """On page load: the visitor key this browser keeps (gr.BrowserState), new on a first visit."""
        return self.visitors.arrived(request.session_hash if request else None, key)

    def left(self, request: gr.Request = None):
        self.visitors.left(request.session_hash if request else None)
