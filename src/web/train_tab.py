"""The Train tab: its layout, section by section, and its events.

    train = TrainTab(store, visitors)
    with gr.Tab("Train"):
        train.build(explore, draw_parts)   # draw_parts: the Draw tab's (DrawTab.build), whose pickers it refreshes

The handlers behind /train, /stop and /fine_tune are TrainRuns' (a training's run) and Trainings' (the line,
admission and Stop). Trainings run one at a time for the whole server, first come, first served: a visitor
whose training waits sees their place in the line.
"""

from types import SimpleNamespace

import gradio as gr

from src import settings
from src.training.recipes import FAST
from src.web.train_charts import LOSS_COLOURS, accuracy_table, comparison_chart, loss_table, records_table, run_chart
from src.web.train_inputs import MIN_BATCH
from src.web.train_runs import TrainRuns

SWITCHED_OFF = (
    "Training is switched off on this server (`ALLOW_TRAINING=0`), so that a public demo "
    "stays fast for everyone. Run the app yourself to train: `python app.py`."
)


def intro(runs_kept: int) -> None:
    gr.Markdown(
        "Retrain the network on MNIST and watch the training and validation loss after every "
        "epoch. The settings below reach about 99% MNIST test accuracy in about 15 seconds on two "
        "CPU cores; `python train.py` trains the shipped model with a longer recipe, in which the network "
        "also learns from three teachers trained first (about 9 minutes). One training "
        "runs at a time on this server: yours waits its turn and shows its place in line. Your "
        f"runs are yours alone; this server keeps your last {runs_kept}."
    )


def settings_inputs() -> list:
    """The training's inputs, defaulting to the fast recipe: [epochs, batch size, learning rate, augment, seed,
    examples], in the order of /train's parameters."""
    with gr.Row():
        epochs = gr.Slider(
            1,
            settings.MAX_EPOCHS,
            value=min(FAST.epochs, settings.MAX_EPOCHS),
            step=1,
            label="Epochs",
            elem_id="epochs",
        )
        batch_size = gr.Dropdown(
            [MIN_BATCH, 64, 128, 256, 384, 512], value=FAST.batch_size, label="Batch size", elem_id="batch-size"
        )
        learning_rate = gr.Number(
            value=FAST.lr, label="Learning rate (peak)", elem_id="learning-rate", minimum=1e-5, maximum=0.1
        )
    with gr.Row():
        with gr.Column(min_width=220):  # its own column, so that a phone does not squeeze its label away
            augment = gr.Checkbox(
                value=FAST.augment, elem_id="augment", label="Augment (rotate, scale, shift, stroke width)"
            )
        seed = gr.Number(value=FAST.seed, precision=0, label="Seed", elem_id="seed")
        max_examples = gr.Slider(
            500,
            48_000,
            value=48_000,
            step=500,
            elem_id="max-examples",
            label="Training examples (fewer = faster on slow CPUs)",
        )
    return [epochs, batch_size, learning_rate, augment, seed, max_examples]


def downloads(label: str, elem_id: str) -> gr.File:
    """Where a saved run's files (weights and JSON) can be downloaded."""
    return gr.File(label=label, elem_id=elem_id, file_count="multiple", interactive=False)


def run_section() -> SimpleNamespace:
    """Start and Stop, and what a run shows: its status, loss and accuracy plots, records and checkpoint."""
    with gr.Row():
        start = gr.Button("Start training", variant="primary", elem_id="start")
        stop = gr.Button("Stop", variant="stop", elem_id="stop")
    status = gr.Markdown("Press Start to train.", elem_id="train-status")
    with gr.Row():
        loss = run_chart(
            loss_table([]), "loss", "Loss per epoch", "loss-plot", LOSS_COLOURS, "cross-entropy loss", FAST.epochs
        )
        accuracy = run_chart(
            accuracy_table([]),
            "accuracy",
            "Validation accuracy per epoch",
            "accuracy-plot",
            {"validation": LOSS_COLOURS["validation"]},
            "accuracy (%)",
            FAST.epochs,
        )
    records = gr.Dataframe(records_table([]), label="Per-epoch records", elem_id="records", interactive=False)
    files = downloads("Download the new checkpoint (Spaces disks are not permanent)", "download")
    return SimpleNamespace(
        start=start, stop=stop, status=status, loss=loss, accuracy=accuracy, records=records, files=files
    )


def evaluate_section() -> SimpleNamespace:
    """A model's confusion matrix and most confident mistakes on the MNIST test set."""
    with gr.Accordion("Evaluate a model on the MNIST test set", open=True, elem_id="evaluate"):
        gr.Markdown(
            "How a model does on each of the 10,000 test images: every new run is evaluated "
            "when it finishes, and any model can be picked here."
        )
        with gr.Row():
            picker = gr.Dropdown(
                choices=[], label="Model to evaluate", elem_id="evaluate-picker", allow_custom_value=True, scale=3
            )
            button = gr.Button("Evaluate", elem_id="evaluate-button", scale=1)
        confusion = gr.HTML("", elem_id="confusion", js_on_load=None)
        mistakes = gr.Gallery(
            label="Its most confident mistakes: the true digit → its answer, its confidence",
            elem_id="mistakes",
            columns=6,
            height="auto",
            object_fit="contain",
            allow_preview=False,
        )
    return SimpleNamespace(picker=picker, button=button, outputs=[confusion, mistakes])


def compare_section() -> SimpleNamespace:
    """Several runs' validation curves and settings side by side."""
    with gr.Accordion("Compare runs", open=False, elem_id="compare"):
        with gr.Row():
            picker = gr.Dropdown(
                choices=[], multiselect=True, label="Models (two or more)", elem_id="compare-picker", scale=3
            )
            button = gr.Button("Compare", elem_id="compare-button", scale=1)
        with gr.Row():
            loss = comparison_chart("loss", "compare-loss")
            accuracy = comparison_chart("accuracy", "compare-accuracy", y_title="accuracy (%)")
        table = gr.Dataframe(label="Settings and test accuracy", elem_id="compare-table", interactive=False)
    return SimpleNamespace(picker=picker, button=button, outputs=[loss, accuracy, table])


def examples_section() -> SimpleNamespace:
    """MNIST training images as the network sees them, before and after augmentation."""
    with gr.Accordion("What the model trains on", open=False, elem_id="examples") as panel:
        gr.Markdown(
            "Top row: MNIST training images as the network sees them (28×28). Below: the same "
            "images as augmentation changes them (rotation, scale, shear, shift, stroke width), "
            "new at every epoch."
        )
        image = gr.Image(
            label="Training examples", elem_id="examples-image", interactive=False, buttons=[], format="png"
        )
        reroll = gr.Button("Re-roll the augmentations", elem_id="reroll", size="sm")
        seed = gr.State(0)
    return SimpleNamespace(panel=panel, image=image, reroll=reroll, seed=seed)


def fine_tune_section() -> SimpleNamespace:
    with gr.Accordion("Fine-tune on my corrections", open=False):
        gr.Markdown(
            "Teach the current model your handwriting: it trains briefly on your corrections "
            "(Draw tab) mixed with MNIST, so that it does not forget the digits it knew."
        )
        button = gr.Button("Fine-tune on my corrections", elem_id="fine-tune")
        report = gr.Markdown("", elem_id="fine-tune-report")
        files = downloads("Download the fine-tuned checkpoint", "fine-tuned-download")
    return SimpleNamespace(button=button, report=report, files=files)


def wire_views(explore, evaluate, compare, examples) -> None:
    """The teaching views' events (`explore` serves them): evaluate, compare, the training examples."""
    evaluate.button.click(explore.evaluate_view, evaluate.picker, evaluate.outputs, api_name=False)
    compare.button.click(explore.compare_view, compare.picker, compare.outputs, api_name=False)
    examples.panel.expand(explore.examples_view, examples.seed, examples.image, api_name=False)
    examples.reroll.click(explore.reroll, examples.seed, [examples.seed, examples.image], api_name=False)


class TrainTab(TrainRuns):
    """The Train tab: TrainRuns' handlers, and the layout that calls them."""

    def build(self, explore, draw) -> None:
        """The Train tab's layout and wiring, inside `with gr.Tab("Train")`. `explore` (an Explore) serves
        evaluation, comparison and examples; `draw` is the Draw tab's DrawParts."""
        if not settings.ALLOW_TRAINING:
            gr.Markdown(SWITCHED_OFF, elem_id="training-disabled")
            return
        intro(self.visitors.limits.runs_per_visitor)
        inputs = settings_inputs()
        run = run_section()
        evaluate, compare, examples = evaluate_section(), compare_section(), examples_section()
        tune = fine_tune_section()

        pickers = [*draw.pickers, evaluate.picker, compare.picker]  # filled from one listing of the models
        draw.arrival.then(explore.all_pickers, draw.choice, pickers, api_name=False)
        wire_views(explore, evaluate, compare, examples)
        self._wire_training(explore, draw, pickers, inputs, run, evaluate)
        self._wire_fine_tune(explore, draw, pickers, tune)

    def _wire_training(self, explore, draw, pickers, inputs, run, evaluate) -> None:
        """Start (/train), its new run listed and evaluated, and Stop (/stop)."""
        outputs = [run.loss, run.records, run.status, run.files, run.accuracy]
        training = run.start.click(
            self.train,
            inputs,
            outputs,
            api_name="train",
            validator=self.admit_training,  # refused before Gradio's queue: full line, limits, bad settings
            preprocess=False,  # plain numbers: the validator's own range checks give the messages
            concurrency_limit=1 + settings.MAX_WAITING_TRAININGS,
            concurrency_id="train",  # = the line: never queued
        )
        listed = training.success(
            explore.new_run_pickers, [run.files, draw.choice], pickers, api_name=False
        )  # a refused or failed run saved nothing
        listed.then(explore.evaluate_new_run, run.files, evaluate.outputs, api_name=False)
        # The button's answer is the training's own status: a reply written to the status could arrive after
        # the training's last word ("Stopped…") and replace it for good. gradio_client gets the reply (/stop).
        run.stop.click(self.stop_from_page, None, None, api_name=False, concurrency_limit=None, show_progress="hidden")
        gr.api(self.request_stop, api_name="stop", concurrency_limit=None)

    def _wire_fine_tune(self, explore, draw, pickers, tune) -> None:
        """Fine-tune (/fine_tune) in the trainings' line, then every picker lists the new run."""
        tuning = tune.button.click(
            self.fine_tune_on_corrections,
            draw.choice,
            [tune.report, tune.files],
            api_name="fine_tune",
            validator=self.admit_fine_tune,
            concurrency_limit=1 + settings.MAX_WAITING_TRAININGS,
            concurrency_id="train",
        )
        tuning.then(explore.all_pickers, draw.choice, pickers, api_name=False)
