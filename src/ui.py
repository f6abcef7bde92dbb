"""The page: a Draw tab (sketchpad -> probabilities) and a Train tab. Read top to bottom like the page."""

from pathlib import Path

import numpy as np
import pandas as pd
import gradio as gr
from PIL import Image

from src import config, training_session
from src.checkpoint import CheckpointError
from src.engine import TrainConfig
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


# ------------------------------------------------------------------------------------------ model picker
def model_choices() -> list[tuple[str, str]]:
    def label(name, meta):
        acc = meta.get("test_acc")
        tag = " (shipped)" if name == config.DEFAULT_CHECKPOINT else ""
        return f"{name}{tag}: {acc:.2f}% test" if isinstance(acc, (int, float)) else f"{name}{tag}"

    return [(label(name, meta), name) for name, meta in store.checkpoints()]


def active_model_text() -> str:
    active = store.active
    if active is None:
        return f"**No model loaded.** {store.error or ''}"
    return f"Using **{active.name}** ({active.meta.get('test_acc', '?')}% MNIST test accuracy)."


def refresh_models():
    active = store.active.name if store.active else None
    return gr.Dropdown(choices=model_choices(), value=active), active_model_text()


def use_model(name):
    if not name:
        raise gr.Error("Pick a checkpoint first.")
    try:
        store.activate(name)
    except CheckpointError as e:
        raise gr.Error(f"That checkpoint cannot be used, so the current model stays: {e}") from None
    return active_model_text()


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
                with gr.Group():
                    model_picker = gr.Dropdown(choices=model_choices(), value=store.active and store.active.name,
                                               label="Model", elem_id="model-picker", interactive=True,
                                               allow_custom_value=True)  # the list grows as models are trained
                    use_button = gr.Button("Use this model", elem_id="use-model", size="sm")
                    active_model = gr.Markdown(active_model_text(), elem_id="active-model")
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
        if not config.ALLOW_TRAINING:
            gr.Markdown("Training is switched off on this server (`ALLOW_TRAINING=0`), so that a public demo "
                        "stays fast for everyone. Run the app yourself to train: `python app.py`.",
                        elem_id="training-disabled")
        else:
            defaults = TrainConfig()
            gr.Markdown("Retrain the network on MNIST and watch the training and validation loss after every "
                        "epoch. One training runs at a time on this server; others wait in the queue.")
            with gr.Row():
                epochs = gr.Slider(1, config.MAX_EPOCHS, value=min(defaults.epochs, config.MAX_EPOCHS), step=1,
                                   label="Epochs", elem_id="epochs")
                batch_size = gr.Dropdown([32, 64, 128, 256, 512], value=defaults.batch_size, label="Batch size",
                                         elem_id="batch-size")
                learning_rate = gr.Number(value=defaults.lr, label="Learning rate (peak)", elem_id="learning-rate",
                                          minimum=1e-5, maximum=0.1)
            with gr.Row():
                augment = gr.Checkbox(value=defaults.augment, label="Augment (rotate, scale, shift, stroke width)",
                                      elem_id="augment")
                seed = gr.Number(value=defaults.seed, precision=0, label="Seed", elem_id="seed")
                max_examples = gr.Slider(500, 48_000, value=48_000, step=500, elem_id="max-examples",
                                         label="Training examples (fewer = faster on slow CPUs)")
            with gr.Row():
                start_button = gr.Button("Start training", variant="primary", elem_id="start")
                stop_button = gr.Button("Stop", variant="stop", elem_id="stop")
            train_status = gr.Markdown("Press Start to train.", elem_id="train-status")
            loss_plot = gr.LinePlot(training_session.loss_table([]), x="epoch", y="loss", color="series",
                                    title="Loss per epoch", elem_id="loss-plot", height=300,
                                    color_map={"train": "#f97316", "validation": "#3b82f6"}, x_title="epoch",
                                    y_title="cross-entropy loss")
            records = gr.Dataframe(training_session.records_table([]), label="Per-epoch records",
                                   elem_id="records", interactive=False)
            new_checkpoint = gr.File(label="Download the new checkpoint (Spaces disks are not permanent)",
                                     elem_id="download", file_count="multiple", interactive=False)

    # Live: every finished stroke sends the canvas; only the latest one is processed, without a spinner.
    sketchpad.change(
        predict, sketchpad, [chart, prediction, model_input],
        api_name="predict", trigger_mode="always_last", show_progress="hidden",
    )
    clear_button.click(clear, None, [sketchpad, chart, prediction, model_input], api_name=False, show_progress="hidden")
    classify_button.click(classify, upload, result, api_name="classify")
    use_button.click(use_model, model_picker, active_model, api_name="use_model")
    demo.load(refresh_models, None, [model_picker, active_model], api_name=False)

    if config.ALLOW_TRAINING:
        training = start_button.click(
            training_session.train, [epochs, batch_size, learning_rate, augment, seed, max_examples],
            [loss_plot, records, train_status, new_checkpoint], api_name="train", concurrency_limit=1,
            concurrency_id="train",
        )
        training.then(refresh_models, None, [model_picker, active_model], api_name=False)
        stop_button.click(training_session.request_stop, None, train_status, api_name="stop",
                          concurrency_limit=None, show_progress="hidden")

LAUNCH_OPTIONS = dict(
    js=(STATIC / "autobrush.js").read_text(),
    allowed_paths=[str(config.CHECKPOINT_DIR)],  # so the Train tab can offer new checkpoints for download
)
