"""The page: a Draw tab (sketchpad -> probabilities) and a Train tab. Reads top to bottom like the page.

    demo = build_demo(store, visitors, links)   # all three created once, in app.py

The handlers live in src/web/draw_tab.py (Draw tab), src/web/train_tab.py (Train tab) and src/web/operator_page.py
(/operator, only when ADMIN_PASSWORD is set). Every visitor has their own model choice (a gr.State),
runs, corrections and Stop; see src/web/visitors.py.
"""

import gradio as gr

from src import config

from src.reading import evaluation
from src.web import live

from src.web import train_tab
from src.web.downloads import WeightLinks
from src.web.draw_tab import BLANK_HINT, DrawTab, probability_table
from src.web.explore import Explore
from src.reading.inference import ModelStore
from src.web.operator_page import OperatorPage
from src.reading.saliency import READING_HINT
from src.web.train_tab import TrainTab
from src.training.loop import FAST
from src.web.uploads import Sketchpad
from src.web.visitors import Visitors


# Passed to launch() (app.py). The operator's page (/operator) is reached by its address only, so Gradio's
# navigation bar is hidden. On a phone the intro's second line goes, so that the prediction fits on the
# screen together with the canvas.
CSS = """
.nav-holder { display: none !important; }
@media (max-width: 640px) { #intro p { display: none; } }
""" + live.CSS + evaluation.CSS


# The drawing surface: one fixed square canvas and one black brush, as live.js paints and reads it
# (bench/pen.py builds a plain gr.Sketchpad with these too).
SKETCHPAD = dict(
    type="pil", image_mode="RGBA", canvas_size=(live.CANVAS, live.CANVAS), fixed_canvas=True, height=380,
    brush=gr.Brush(default_size=live.BRUSH_RADIUS, colors=["#000000"], color_mode="fixed"),
    layers=False, transforms=(), sources=(), format="png",
)


# After a reading, the browser asks for Inside the network's maps only while the panel is open.
REFRESH_INSIDE = "() => { if (window.insideOpen) document.querySelector('#inside-refresh')?.click(); }"
RELOAD_INSIDE = "() => { if (window.insideOpen) document.querySelector('#inside-reload')?.click(); }"


# ------------------------------------------------------------------------------------------------ the page
def build_demo(store: ModelStore, visitors: Visitors, links: WeightLinks) -> gr.Blocks:
    """The whole page, its handlers bound to the live model store, the visitors and the weights' links."""
    draw, trainer = DrawTab(store, visitors, links), TrainTab(store, visitors)
    explore = Explore(draw)

    def left(request: gr.Request):
        trainer.left(request)  # first: it needs to know whose page this was
        draw.left(request)

    # Gradio's upload and output cache: every 10 minutes, its files older than an hour are removed.
    with gr.Blocks(title="Draw a digit", delete_cache=(600, 3600)) as demo:
        gr.Markdown("# Draw a digit\nA 21,578-parameter convolutional network trained on MNIST reads your drawing.",
                    elem_id="intro")
        if store.error:
            gr.Markdown(f"**⚠ {store.error}**", elem_id="model-error")

        with gr.Tab("Draw"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=1, min_width=300):
                    sketchpad = Sketchpad(  # gr.Sketchpad, its uploads checked on every route (src/web/uploads.py)
                        elem_id="sketchpad", label="Draw a digit (or a whole number), large, anywhere",
                        **SKETCHPAD)
                    sketchpad.drawings = draw.drawings  # the browser's images, until its reading takes them
                    clear_button = gr.Button("Clear", elem_id="clear", variant="secondary")
                with gr.Column(scale=1, min_width=300):
                    # Filled in by the visitor's browser after every stroke (src/web/static/live.js), at once.
                    live_reading = gr.HTML(live.element(links.url(store.active.path if store.active else None)),
                                           elem_id="live-reading", js_on_load=None)
                    prediction = gr.Label(value=BLANK_HINT, num_top_classes=3, label="Prediction", elem_id="prediction")
                    note = gr.Markdown("", elem_id="note")
                    chart = gr.BarPlot(
                        probability_table(), x="digit", y="probability", y_lim=[0, 1], sort="x",
                        label="Probability of each digit", elem_id="probabilities", height=240,
                    )
                    with gr.Row():
                        model_input = gr.Image(label="What the model sees (28×28)", elem_id="model-input",
                                               interactive=False, height=200, buttons=[], format="png")
                        heatmap = gr.Image(label="Why: the pixels that counted", elem_id="saliency",
                                           interactive=False, height=200, buttons=[], format="png")
                    gr.Markdown(READING_HINT, elem_id="saliency-hint")
                    with gr.Group():
                        correct_as = gr.Radio([str(d) for d in range(10)], label="Wrong? It was really a…",
                                              elem_id="correct-as")
                        correction_status = gr.Markdown("", elem_id="corrections-count")
            # Below the results, so that on a phone the prediction sits right under the canvas.
            with gr.Accordion("Model", open=False):
                model_picker = gr.Dropdown(choices=[], label="Model (yours/… are the runs you trained)",
                                           elem_id="model-picker", interactive=True,
                                           allow_custom_value=True)  # the list grows as models are trained
                use_button = gr.Button("Use this model", elem_id="use-model", size="sm")
                active_model = gr.Markdown("", elem_id="active-model")
                with gr.Row():
                    export_button = gr.Button("Download this model as ONNX", elem_id="export-onnx", size="sm")
                    onnx_file = gr.File(label="ONNX: input “image” (N, 1, 28, 28) in [0, 1]; outputs “logits”, "
                                        "“probabilities”", elem_id="onnx-file", interactive=False)
            with gr.Accordion("Inside the network", open=False, elem_id="inside") as inside_panel:
                gr.Markdown("What each layer of the network makes of your drawing (a single digit), after its "
                            "ReLU: brighter means a stronger response. Each convolution's maps are halved in size "
                            "by the pooling before the next layer.")
                maps = [gr.Image(label=label, elem_id=f"maps-{name}", interactive=False, buttons=[], format="png")
                        for name, label in (("conv1", "conv1: 8 feature maps, 28×28"),
                                            ("conv2", "conv2: 16 feature maps, 14×14"),
                                            ("conv3", "conv3: 32 feature maps, 7×7"))]
                with gr.Row():
                    with gr.Column():
                        gr.Markdown("**conv1's 8 learned filters** (3×3 weights; orange +, blue −)")
                        filters = gr.Image(show_label=False, elem_id="filters", interactive=False, buttons=[],
                                           format="png")
                    summary = gr.Dataframe(label="Model summary: each layer's output for one image",
                                           elem_id="model-summary", interactive=False)
                inside_refresh = gr.Button("Refresh", visible="hidden", elem_id="inside-refresh")  # the maps
                inside_reload = gr.Button("Reload", visible="hidden", elem_id="inside-reload")  # all: another model
            with gr.Accordion("Your corrections", open=False):
                gr.Markdown("Your corrections are stored on this server as 28×28 PNGs, visible only to you, and can "
                            "fine-tune your model (Train tab). They are removed some time after you leave: download "
                            "them to keep them.")
                share = gr.Checkbox(False, label="Share my corrections to improve the model (the server's operator "
                                    "may then keep and use them)", elem_id="share-corrections")
                share_status = gr.Markdown("", elem_id="share-status")
                with gr.Row():
                    download_button = gr.Button("Download corrections (.zip)", elem_id="download-corrections")
                    delete_button = gr.Button("Delete all corrections", variant="stop", elem_id="clear-corrections")
                corrections_zip = gr.File(label="Corrections", elem_id="corrections-zip", interactive=False)
            with gr.Accordion("Classify an image file", open=False):
                with gr.Row():
                    upload = gr.File(label="PNG, JPEG or WebP", file_types=["image"], type="filepath", elem_id="upload")
                    result = gr.JSON(label="Result", elem_id="classify-result")
                classify_button = gr.Button("Classify", elem_id="classify")
            sample = gr.State(None)  # the last single digit's 28x28 input, for a correction
            choice = gr.State(None)  # this visitor's model: None = the server's default, else a checkpoint name
            visitor_key = gr.BrowserState(None, storage_key="draw-a-digit-visitor")  # reloads: the same visitor

        with gr.Tab("Train"):
            if not config.ALLOW_TRAINING:
                gr.Markdown("Training is switched off on this server (`ALLOW_TRAINING=0`), so that a public demo "
                            "stays fast for everyone. Run the app yourself to train: `python app.py`.",
                            elem_id="training-disabled")
            else:
                defaults = FAST  # about 99% MNIST test in about half a minute on 2 cores; train.py trains the long recipe
                gr.Markdown("Retrain the network on MNIST and watch the training and validation loss after every "
                            "epoch. The settings below reach about 99% MNIST test accuracy in about half a minute on two "
                            "CPU cores; `python train.py` trains the shipped model with a longer recipe, in which the network also "
                            "learns from three teachers trained first (about 9 minutes). One training "
                            "runs at a time on this server: yours waits its turn and shows its place in line. Your "
                            f"runs are yours alone; this server keeps your last {visitors.limits.runs_per_visitor}.")
                with gr.Row():
                    epochs = gr.Slider(1, config.MAX_EPOCHS, value=min(defaults.epochs, config.MAX_EPOCHS), step=1,
                                       label="Epochs", elem_id="epochs")
                    batch_size = gr.Dropdown([32, 64, 128, 256, 384, 512], value=defaults.batch_size, label="Batch size",
                                             elem_id="batch-size")
                    learning_rate = gr.Number(value=defaults.lr, label="Learning rate (peak)", elem_id="learning-rate",
                                              minimum=1e-5, maximum=0.1)
                with gr.Row():
                    with gr.Column(min_width=220):  # its own column, so that a phone does not squeeze its label away
                        augment = gr.Checkbox(value=defaults.augment, elem_id="augment",
                                              label="Augment (rotate, scale, shift, stroke width)")
                    seed = gr.Number(value=defaults.seed, precision=0, label="Seed", elem_id="seed")
                    max_examples = gr.Slider(500, 48_000, value=48_000, step=500, elem_id="max-examples",
                                             label="Training examples (fewer = faster on slow CPUs)")
                with gr.Row():
                    start_button = gr.Button("Start training", variant="primary", elem_id="start")
                    stop_button = gr.Button("Stop", variant="stop", elem_id="stop")
                train_status = gr.Markdown("Press Start to train.", elem_id="train-status")
                with gr.Row():
                    loss_plot = gr.LinePlot(train_tab.loss_table([]), x="epoch", y="loss", color="series",
                                            title="Loss per epoch", elem_id="loss-plot", height=300, min_width=320,
                                            color_map={"train": "#f97316", "validation": "#3b82f6"}, x_title="epoch",
                                            y_title="cross-entropy loss", sort=train_tab.epoch_axis(defaults.epochs))
                    accuracy_plot = gr.LinePlot(train_tab.accuracy_table([]), x="epoch", y="accuracy",
                                                color="series", title="Validation accuracy per epoch",
                                                elem_id="accuracy-plot", height=300, min_width=320,
                                                color_map={"validation": "#3b82f6"},
                                                x_title="epoch", y_title="accuracy (%)",
                                                sort=train_tab.epoch_axis(defaults.epochs))
                records = gr.Dataframe(train_tab.records_table([]), label="Per-epoch records",
                                       elem_id="records", interactive=False)
                new_checkpoint = gr.File(label="Download the new checkpoint (Spaces disks are not permanent)",
                                         elem_id="download", file_count="multiple", interactive=False)
                with gr.Accordion("Evaluate a model on the MNIST test set", open=True, elem_id="evaluate"):
                    gr.Markdown("How a model does on each of the 10,000 test images: every new run is evaluated "
                                "when it finishes, and any model can be picked here.")
                    with gr.Row():
                        evaluate_picker = gr.Dropdown(choices=[], label="Model to evaluate", elem_id="evaluate-picker",
                                                      allow_custom_value=True, scale=3)
                        evaluate_button = gr.Button("Evaluate", elem_id="evaluate-button", scale=1)
                    confusion = gr.HTML("", elem_id="confusion", js_on_load=None)
                    mistakes = gr.Gallery(label="Its most confident mistakes: the true digit → its answer, its confidence",
                                          elem_id="mistakes", columns=6,
                                          height="auto", object_fit="contain", allow_preview=False)
                with gr.Accordion("Compare runs", open=False, elem_id="compare"):
                    with gr.Row():
                        compare_picker = gr.Dropdown(choices=[], multiselect=True, label="Models (two or more)",
                                                     elem_id="compare-picker", scale=3)
                        compare_button = gr.Button("Compare", elem_id="compare-button", scale=1)
                    with gr.Row():
                        compare_loss = gr.LinePlot(x="epoch", y="validation loss", color="run", elem_id="compare-loss",
                                                   title="Validation loss per epoch", height=280)
                        compare_accuracy = gr.LinePlot(x="epoch", y="validation accuracy", color="run",
                                                       elem_id="compare-accuracy", title="Validation accuracy per epoch",
                                                       height=280, y_title="accuracy (%)")
                    compare_table = gr.Dataframe(label="Settings and test accuracy", elem_id="compare-table",
                                                 interactive=False)
                with gr.Accordion("What the model trains on", open=False, elem_id="examples") as examples_panel:
                    gr.Markdown("Top row: MNIST training images as the network sees them (28×28). Below: the same "
                                "images as augmentation changes them (rotation, scale, shear, shift, stroke width), "
                                "new at every epoch.")
                    examples = gr.Image(label="Training examples", elem_id="examples-image", interactive=False,
                                        buttons=[], format="png")
                    reroll = gr.Button("Re-roll the augmentations", elem_id="reroll", size="sm")
                    examples_seed = gr.State(0)
                with gr.Accordion("Fine-tune on my corrections", open=False):
                    gr.Markdown("Teach the current model your handwriting: it trains briefly on your corrections "
                                "(Draw tab) mixed with MNIST, so that it does not forget the digits it knew.")
                    fine_tune_button = gr.Button("Fine-tune on my corrections", elem_id="fine-tune")
                    fine_tune_report = gr.Markdown("", elem_id="fine-tune-report")
                    fine_tuned = gr.File(label="Download the fine-tuned checkpoint", elem_id="fine-tuned-download",
                                         file_count="multiple", interactive=False)

        # Live: every finished stroke sends the canvas; only the latest one is processed, without a spinner.
        reading = sketchpad.change(
            draw.predict, [sketchpad, choice], [chart, prediction, model_input, heatmap, note, sample],
            api_name="predict", trigger_mode="always_last", show_progress="hidden",
        )
        # Inside the network costs nothing while its panel is closed: only an open panel asks for the maps
        # (a click on its hidden refresh button, from the browser, after each reading).
        inside_outputs = [*maps, filters, summary]
        inside_panel.expand(explore.inside_panel, [sample, choice], inside_outputs, api_name=False)
        inside_panel.expand(None, js="() => { window.insideOpen = true; }")
        inside_panel.collapse(None, js="() => { window.insideOpen = false; }")
        reading.then(None, js=REFRESH_INSIDE)
        inside_refresh.click(explore.inside_maps, [sample, choice], maps, api_name=False,
                             show_progress="hidden", trigger_mode="always_last")
        export_button.click(explore.export_onnx, choice, onnx_file, api_name=False)
        # Clear = the sketchpad's own trash button: it empties the canvas and its change event blanks the outputs.
        # (Setting the sketchpad's value to None from Python does not always empty the canvas in Gradio 6.31.)
        clear_button.click(None, None, None, api_name=False,
                           js="() => document.querySelector('#sketchpad button[aria-label=\"Clear canvas\"]')?.click()")
        classify_button.click(draw.classify, [upload, choice], result, api_name="classify")
        correct_as.input(draw.save_correction, [correct_as, sample], [correct_as, correction_status], api_name="correct")
        download_button.click(draw.download_corrections, None, corrections_zip, api_name="download_corrections")
        delete_button.click(draw.clear_corrections, None, correction_status, api_name="delete_corrections")
        share.input(draw.set_sharing, share, share_status, api_name="share_corrections")
        use = use_button.click(draw.use_model, model_picker, [choice, active_model], api_name="use_model")
        use.then(draw.live_element, choice, live_reading, api_name=False)
        use.then(None, js=RELOAD_INSIDE)  # an open panel shows the new model's maps and filters
        inside_reload.click(explore.inside_panel, [sample, choice], inside_outputs, api_name=False,
                            show_progress="hidden")
        arrival = demo.load(draw.arrived, visitor_key, visitor_key, api_name=False)
        if not config.ALLOW_TRAINING:  # (with training, one listing fills the Train tab's pickers too: below)
            arrival.then(draw.refresh_models, choice, [model_picker, active_model], api_name=False)
        arrival.then(draw.live_element, choice, live_reading, api_name=False)
        arrival.then(draw.corrections_text, None, correction_status, api_name=False)
        arrival.then(draw.sharing, None, share, api_name=False)
        demo.unload(left)  # a page closed: if none of theirs is back within 30 s, their training stops

        if config.ALLOW_TRAINING:
            every_picker = [model_picker, active_model, evaluate_picker, compare_picker]
            arrival.then(explore.all_pickers, choice, every_picker, api_name=False)
            evaluate_button.click(explore.evaluate_view, evaluate_picker, [confusion, mistakes], api_name=False)
            compare_button.click(explore.compare_view, compare_picker, [compare_loss, compare_accuracy, compare_table],
                                 api_name=False)
            examples_panel.expand(explore.examples_view, examples_seed, examples, api_name=False)
            reroll.click(explore.reroll, examples_seed, [examples_seed, examples], api_name=False)
            training = start_button.click(
                trainer.train, [epochs, batch_size, learning_rate, augment, seed, max_examples],
                [loss_plot, records, train_status, new_checkpoint, accuracy_plot], api_name="train",
                validator=trainer.admit_training,  # refused before Gradio's queue: full line, limits, bad settings
                preprocess=False,  # plain numbers: the validator's own range checks give the messages
                concurrency_limit=1 + config.MAX_WAITING_TRAININGS, concurrency_id="train",  # = the line: never queued
            )
            listed = training.success(explore.new_run_pickers, [new_checkpoint, choice], every_picker,
                                      api_name=False)  # a refused or failed run saved nothing
            listed.then(explore.evaluate_new_run, new_checkpoint, [confusion, mistakes], api_name=False)
            stop_button.click(trainer.request_stop, None, train_status, api_name="stop",
                              concurrency_limit=None, show_progress="hidden")
            tuning = fine_tune_button.click(trainer.fine_tune_on_corrections, choice, [fine_tune_report, fine_tuned],
                                            api_name="fine_tune", validator=trainer.admit_fine_tune,
                                            concurrency_limit=1 + config.MAX_WAITING_TRAININGS, concurrency_id="train")
            tuning.then(explore.all_pickers, choice, every_picker, api_name=False)

        # The teaching views for gradio_client (src/web/explore.py); models are named as in the model picker.
        gr.api(explore.inside_api, api_name="inside_the_network")
        gr.api(explore.evaluate_api, api_name="evaluate")
        gr.api(explore.compare_api, api_name="compare_runs")
        gr.api(explore.export_api, api_name="export_onnx")
        gr.api(explore.examples_api, api_name="training_examples")

    if config.ADMIN_PASSWORD:  # the operator's page; without the secret it does not exist at all
        with demo.route("Operator", "/operator", show_in_navbar=False):
            OperatorPage(store, visitors, config.ADMIN_PASSWORD).build()
    return demo
