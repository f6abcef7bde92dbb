"""The page: a Draw tab (sketchpad -> probabilities) and a Train tab. Read top to bottom like the page."""

from pathlib import Path

import numpy as np
import pandas as pd
import gradio as gr
from PIL import Image

from src import config
from src.inference import ModelStore
from src.preprocess import InvalidImage, load_image, preprocess

DIGITS = [str(d) for d in range(10)]
STATIC = Path(__file__).resolve().parent / "static"

store = ModelStore(config.CHECKPOINT_DIR, config.DEFAULT_CHECKPOINT)
store.activate_default()


# ------------------------------------------------------------------------------------------ Draw tab logic
def probability_table(probabilities) -> pd.DataFrame:
    """All ten digits in order 0-9, for the bar chart; zeros for a blank canvas."""
    p = np.zeros(10) if probabilities is None else np.asarray(probabilities, dtype=float)
    return pd.DataFrame({"digit": DIGITS, "probability": p.round(4)})


def enlarge(image28: np.ndarray | None, size: int = 280) -> np.ndarray | None:
    """The 28x28 model input, enlarged with visible pixels (nearest neighbour)."""
    if image28 is None:
        return None
    img = Image.fromarray((np.clip(image28, 0, 1) * 255).astype(np.uint8))
    return np.asarray(img.resize((size, size), Image.Resampling.NEAREST))


def classify_array(image28: np.ndarray | None) -> np.ndarray | None:
    """Softmax probabilities from the live model, or None for a blank input. Raises gr.Error without a model."""
    if image28 is None:
        return None
    model = store.active  # one read: a model swapped in meanwhile does not affect this request
    if model is None:
        raise gr.Error(store.error or "No model is loaded.")
    return model.probabilities(image28)


def predict(sketch):
    """Sketchpad value -> (bar chart, top prediction, the 28x28 input the model saw)."""
    try:
        image28 = preprocess(sketch)
    except InvalidImage as e:
        raise gr.Error(str(e)) from None
    p = classify_array(image28)
    if p is None:
        return probability_table(None), "Draw a digit", None
    label = {d: float(v) for d, v in zip(DIGITS, p)}
    return probability_table(p), label, enlarge(image28)


def classify(file_path):
    """An image file (PNG, JPEG, WebP, ...) -> {"digit", "confidence", "probabilities"}; digit is None when blank."""
    if not file_path:
        raise gr.Error("Send an image file (PNG, JPEG or WebP).")
    try:
        image28 = preprocess(load_image(file_path))
    except InvalidImage as e:
        raise gr.Error(str(e)) from None
    p = classify_array(image28)
    if p is None:
        return {"digit": None, "confidence": 0.0, "probabilities": [0.0] * 10}
    digit = int(np.argmax(p))
    return {"digit": digit, "confidence": round(float(p[digit]), 6), "probabilities": [round(float(v), 6) for v in p]}


def clear():
    return None, probability_table(None), "Draw a digit", None


# ------------------------------------------------------------------------------------------------ the page
with gr.Blocks(title="Draw a digit") as demo:
    gr.Markdown("# Draw a digit\nA 21,578-parameter convolutional network trained on MNIST reads your drawing.")
    if store.error:
        gr.Markdown(f"**⚠ {store.error}**", elem_id="model-error")

    with gr.Tab("Draw"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=300):
                sketchpad = gr.Sketchpad(
                    elem_id="sketchpad",
                    label="Draw one digit, large, anywhere",
                    type="pil",
                    image_mode="RGBA",
                    canvas_size=(320, 320),
                    fixed_canvas=True,
                    height=380,
                    brush=gr.Brush(default_size=10, colors=["#000000"], color_mode="fixed"),  # a radius: 20 px strokes
                    layers=False,
                    transforms=(),
                    sources=(),
                    format="png",
                )
                clear_button = gr.Button("Clear", elem_id="clear", variant="secondary")
            with gr.Column(scale=1, min_width=300):
                prediction = gr.Label(value="Draw a digit", num_top_classes=3, label="Prediction", elem_id="prediction")
                chart = gr.BarPlot(
                    probability_table(None), x="digit", y="probability", y_lim=[0, 1], sort="x",
                    label="Probability of each digit", elem_id="probabilities", height=260,
                )
                model_input = gr.Image(
                    label="What the model sees (28×28)", elem_id="model-input", interactive=False,
                    height=180, width=180, buttons=[], format="png",
                )
        with gr.Accordion("Classify an image file", open=False):
            with gr.Row():
                upload = gr.File(label="PNG, JPEG or WebP", file_types=["image"], type="filepath", elem_id="upload")
                result = gr.JSON(label="Result", elem_id="classify-result")
            classify_button = gr.Button("Classify", elem_id="classify")

    with gr.Tab("Train"):
        gr.Markdown("Training from the browser is coming soon. Meanwhile: `python train.py`.")

    # Live: every finished stroke sends the canvas; only the latest one is processed, without a spinner.
    sketchpad.change(
        predict, sketchpad, [chart, prediction, model_input],
        api_name="predict", trigger_mode="always_last", show_progress="hidden",
    )
    clear_button.click(clear, None, [sketchpad, chart, prediction, model_input], api_name=False, show_progress="hidden")
    classify_button.click(classify, upload, result, api_name="classify")

LAUNCH_OPTIONS = dict(js=(STATIC / "autobrush.js").read_text())
