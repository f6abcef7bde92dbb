"""The Draw tab's layout, section by section, top to bottom; DrawTab.build puts the
sections in place and wires them to its handlers. Each section returns the components the wiring needs."""

from types import SimpleNamespace

import gradio as gr

from src.reading.saliency import READING_HINT
from src.web.pad import Pad, ValueHTML
from src.web.uploads import choice_only, uploads_only

DIGITS = [str(d) for d in range(10)]


class ServerReading(ValueHTML):
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
    API_INFO = {
        "type": "object",
        "description": "digit, confidence, probabilities (all ten), is_digit, unusual; "
        "digits and number for several; null when nothing is drawn",
    }

    def __init__(self, **kwargs):
        super().__init__(None, html_template=self.TEMPLATE, js_on_load=None, **kwargs)


def picture(label: str | None, elem_id: str, **options) -> gr.Image:
    """An image the page shows: not editable, no buttons, sent as PNG."""
    return gr.Image(label=label, elem_id=elem_id, interactive=False, buttons=[], format="png", **options)


def drawing_column() -> Pad:
    gr.Markdown("**Draw a digit**, or a number, large, anywhere on the pad.", elem_id="pad-title")
    pad = Pad(elem_id="sketchpad")
    gr.Markdown(
        "No mouse? Tab to the pad and use the arrow keys and Space, or choose **Draw with "
        "clicks**. **Classify an image file**, further down, reads a picture of a digit.",
        elem_id="keyboard-hint",
    )
    return pad


def reading_column(live_html: str) -> SimpleNamespace:
    """The browser's reading after every move (static/live.js), the server's after each stroke in one line under
    it, then what the model saw, why, and the correction picker."""
    with gr.Group(elem_id="reading"):
        live = gr.HTML(live_html, elem_id="live-reading", js_on_load=None)
        prediction = ServerReading(elem_id="prediction")
    note = gr.Markdown("", elem_id="note")
    with gr.Row():
        model_input = picture("What the model sees (28×28)", "model-input", height=200)
        heatmap = picture("Why: the pixels that counted", "saliency", height=200)
    gr.Markdown(READING_HINT, elem_id="saliency-hint")
    with gr.Group():
        correct_as = choice_only(
            gr.Radio(DIGITS, label="Wrong? It was really a…", elem_id="correct-as"),
            "Pick the digit it really was, from 0 to 9.",
        )
        status = gr.Markdown("", elem_id="corrections-count")
    return SimpleNamespace(
        live=live,
        prediction=prediction,
        note=note,
        model_input=model_input,
        heatmap=heatmap,
        correct_as=correct_as,
        status=status,
    )


def model_panel() -> SimpleNamespace:
    with gr.Accordion("Model", open=False):
        picker = gr.Dropdown(
            choices=[],  # the list grows as models are trained
            label="Model (yours/… are the runs you trained)",
            elem_id="model-picker",
            interactive=True,
            allow_custom_value=True,
        )
        use = gr.Button("Use this model", elem_id="use-model", size="sm")
        text = gr.Markdown("", elem_id="active-model")
        with gr.Row():
            export = gr.Button("Download this model as ONNX", elem_id="export-onnx", size="sm")
            onnx_file = gr.File(
                label="ONNX: input “image” (N, 1, 28, 28) in [0, 1]; outputs “logits”, “probabilities”",
                elem_id="onnx-file",
                interactive=False,
            )
    return SimpleNamespace(picker=picker, use=use, text=text, export=export, onnx_file=onnx_file)


def inside_panel() -> SimpleNamespace:
    """Inside the network; its hidden buttons are clicked by the browser: refresh the maps, or reload all."""
    with gr.Accordion("Inside the network", open=False, elem_id="inside") as panel:
        gr.Markdown(
            "What each layer of the network makes of your drawing (a single digit), after its "
            "ReLU: brighter means a stronger response. Each convolution's maps are halved in size "
            "by the pooling before the next layer."
        )
        maps = [
            picture(label, f"maps-{name}")
            for name, label in (
                ("conv1", "conv1: 8 feature maps, 28×28"),
                ("conv2", "conv2: 16 feature maps, 14×14"),
                ("conv3", "conv3: 32 feature maps, 7×7"),
            )
        ]
        with gr.Row():
            with gr.Column():
                gr.Markdown("**conv1's 8 learned filters** (3×3 weights; orange +, blue −)")
                filters = picture(None, "filters", show_label=False)
            summary = gr.Dataframe(
                label="Model summary: each layer's output for one image", elem_id="model-summary", interactive=False
            )
        refresh = gr.Button("Refresh", visible="hidden", elem_id="inside-refresh")
        reload = gr.Button("Reload", visible="hidden", elem_id="inside-reload")
    return SimpleNamespace(panel=panel, maps=maps, filters=filters, summary=summary, refresh=refresh, reload=reload)


def corrections_panel() -> SimpleNamespace:
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
            download = gr.Button("Download corrections (.zip)", elem_id="download-corrections")
            delete = gr.Button("Delete all corrections", variant="stop", elem_id="clear-corrections")
        archive = gr.File(label="Corrections", elem_id="corrections-zip", interactive=False)
    return SimpleNamespace(share=share, share_status=share_status, download=download, delete=delete, archive=archive)


def classify_panel() -> SimpleNamespace:
    with gr.Accordion("Classify an image file", open=False):
        with gr.Row():
            upload = uploads_only(
                gr.File(label="PNG, JPEG or WebP", file_types=["image"], type="filepath", elem_id="upload")
            )
            result = gr.JSON(label="Result", elem_id="classify-result")
        button = gr.Button("Classify", elem_id="classify")
    return SimpleNamespace(upload=upload, result=result, button=button)
