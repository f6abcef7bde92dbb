"""The Train tab: its layout, and its generators around `src.training.loop.train_epochs` and `fine_tune`.

    train = TrainTab(store, visitors)
    with gr.Tab("Train"):
        train.build(explore, draw_parts)   # draw_parts: the Draw tab's (DrawTab.build), whose pickers it refreshes

Trainings run one at a time for the whole server, first come, first served (TrainingLine): a visitor
whose training waits sees their place in the line. Each visitor has their own Stop: it stops their
running training at the next batch (the completed epochs are kept), or cancels it while it waits.
A finished or stopped run with at least one completed epoch is saved atomically in the visitor's own
folder (src/web/visitors.py), where only they see it.
"""

import asyncio
import contextlib
import contextvars
import logging
import os
import secrets
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pandas as pd

from src import settings
from src.data.mnist import DataUnavailable, load_mnist
from src.data.synthetic import cached_training_pools
from src.model.checkpoint import CheckpointError, save_model
from src.reading.calibration import fit_novelty
from src.reading.inference import YOURS, ModelStore
from src.training import gpu
from src.training.loop import FAST
from src.web import clients, corrections
from src.web.visitors import LimitReached, Visitor, Visitors

log = logging.getLogger(__name__)
MIN_BATCH = 32  # the page's smallest: smaller batches cost the server more time per example
LEFT_GRACE_SECONDS = 30.0  # after a visitor's last page closed, their training stops unless they come back


class TrainingLine:
    """One training at a time, first come, first served; the others wait and can see their place."""

    def __init__(self):
        self._lock = threading.Lock()
        self._line: list[object] = []

    def __len__(self) -> int:
        with self._lock:
            return len(self._line)

    def join(self) -> object:
        ticket = object()
        with self._lock:
            self._line.append(ticket)
        return ticket

    def ahead_of(self, ticket: object) -> int:
        """How many trainings are ahead of `ticket` (0: it runs)."""
        with self._lock:
            return self._line.index(ticket) if ticket in self._line else 0

    def leave(self, ticket: object) -> None:
        with self._lock:
            if ticket in self._line:
                self._line.remove(ticket)

    async def wait(self, ticket: object, stop: gpu.StopFlag, poll: float = 0.25):
        """Yield the number of trainings ahead whenever it changes, until it is this ticket's turn or `stop` is
        set. It sleeps on the event loop, so a waiting training holds no worker thread."""
        shown = None
        while not stop.is_set():
            ahead = self.ahead_of(ticket)
            if ahead == 0:
                return
            if ahead != shown:
                shown = ahead
                yield ahead
            await asyncio.sleep(poll)


TRAINING_NICE = 10  # a training's thread yields the CPU to readings and page loads (Linux: per thread)


async def in_own_thread(steps, stop: gpu.StopFlag):
    """A blocking generator (a training) run in a thread of its own at a lower priority, its items passed to
    the event loop as they come. If the consumer goes away, `stop` ends the training at the next batch."""
    loop = asyncio.get_running_loop()
    items: asyncio.Queue = asyncio.Queue()

    def run():
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), TRAINING_NICE)
        try:
            for item in steps:
                loop.call_soon_threadsafe(items.put_nowait, (True, item))
            loop.call_soon_threadsafe(items.put_nowait, (False, None))
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which raises it
            loop.call_soon_threadsafe(items.put_nowait, (False, e))

    # In this request's context: ZeroGPU's @spaces.GPU reads the visitor's request from it (their GPU quota).
    threading.Thread(target=contextvars.copy_context().run, args=(run,), name="training", daemon=True).start()
    try:
        while True:
            more, value = await items.get()
            if not more:
                if value is not None:
                    raise value
                return
            yield value
    finally:
        stop.set()  # finished: no effect; abandoned: the training stops at its next batch


def epoch_axis(n: int) -> list[str]:
    """The plots' x values in order: whole epochs only. Epochs are categories ("1", "2", ...), so the axis
    never shows fractions of an epoch (a numeric axis labels 1.00, 1.10, 1.20 ... while it has one point)."""
    return [str(e) for e in range(1, max(1, n) + 1)]


def epoch_plot(table: pd.DataFrame, epochs: int):
    """A line plot's update whose axis lists every epoch up to `epochs` in order.

    A new sort order with the data also makes Gradio 6.31 rebuild the chart, which it needs to colour the
    series: it takes the colour domain from the data only when the chart is (re)built.
    """
    return gr.LinePlot(table, sort=epoch_axis(epochs))


def loss_plot(history: list[dict], epochs: int):
    """The loss plot's update, its axis spanning the whole run."""
    return epoch_plot(loss_table(history), max(epochs, len(history)))


def accuracy_plot(history: list[dict], epochs: int):
    """The accuracy plot's update, on the same axis as the loss plot."""
    return epoch_plot(accuracy_table(history), max(epochs, len(history)))


def accuracy_table(history: list[dict]) -> pd.DataFrame:
    """Validation accuracy per epoch for gr.LinePlot (one empty point before the first epoch, as loss_table)."""
    if not history:
        return pd.DataFrame({"epoch": ["1"], "accuracy": [float("nan")], "series": ["validation"]})
    return pd.DataFrame(
        {
            "epoch": [str(r["epoch"]) for r in history],
            "accuracy": [float(r["val_acc"]) for r in history],
            "series": "validation",
        }
    )


def loss_table(history: list[dict]) -> pd.DataFrame:
    """Long format for gr.LinePlot: one row per (epoch, series), epochs as categories (see epoch_axis).

    With no history yet, one empty (NaN) point per series: Gradio 6.31 takes the series' colours from the
    first data it draws, so both series must be named from the start.
    """
    if not history:
        return pd.DataFrame({"epoch": ["1", "1"], "loss": [float("nan")] * 2, "series": ["train", "validation"]})
    rows = [
        {"epoch": str(r["epoch"]), "loss": r[key], "series": name}
        for r in history
        for key, name in (("train_loss", "train"), ("val_loss", "validation"))
    ]
    return pd.DataFrame(rows, columns=["epoch", "loss", "series"]).astype({"loss": float})


def records_table(history: list[dict]) -> pd.DataFrame:
    columns = ["epoch", "train_loss", "val_loss", "val_acc", "seconds"]
    return pd.DataFrame(history, columns=columns).astype({"epoch": int} | {c: float for c in columns[1:]})


def unique_name() -> str:
    return f"trained-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(6)}.safetensors"


MAX_SEED = 2**32 - 1
RESERVATION_SECONDS = 30.0  # a place taken at admission whose event never came is given back after this


def number(value, kind):
    """`value` as int or float, or None if it is not a finite number (a bool, a string, NaN, 2**70 as a float...)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if kind is int and isinstance(value, float):
        if not value.is_integer() or abs(value) > 2**53:
            return None
        value = int(value)
    return kind(value) if abs(value) < float("inf") else None


def settings_problem(epochs, batch_size, learning_rate, seed, max_examples) -> tuple[int, str] | None:
    """(index of the input, message) for the first setting out of range, or None if all are fine."""
    epochs, batch_size, seed = number(epochs, int), number(batch_size, int), number(seed, int)
    learning_rate = number(learning_rate, float)
    checks = [
        (
            0,
            epochs is not None and 1 <= epochs <= settings.MAX_EPOCHS,
            f"Epochs must be between 1 and {settings.MAX_EPOCHS}.",
        ),
        (
            1,
            batch_size is not None and MIN_BATCH <= batch_size <= 2048,
            f"Batch size must be between {MIN_BATCH} and 2048.",
        ),
        (
            2,
            learning_rate is not None and 1e-5 <= learning_rate <= 0.1,
            "Learning rate must be between 0.00001 and 0.1.",
        ),
        (4, seed is not None and 0 <= seed <= MAX_SEED, f"Seed must be a whole number between 0 and {MAX_SEED:,}."),
        (
            5,
            max_examples is None or (number(max_examples, int) or 0) in range(500, 48_001),
            "Training examples must be between 500 and 48,000.",
        ),
    ]
    return next(((i, message) for i, ok, message in checks if not ok), None)


def validate(epochs, batch_size, learning_rate, seed, max_examples) -> None:
    if not settings.ALLOW_TRAINING:
        raise gr.Error("Training is disabled on this server (ALLOW_TRAINING=0).", print_exception=False)
    problem = settings_problem(epochs, batch_size, learning_rate, seed, max_examples)
    if problem:
        raise gr.Error(problem[1], print_exception=False)


def no_mnist(e: DataUnavailable) -> gr.Error:
    """The page's message when MNIST is missing (the log gets the server's folders, the visitor does not)."""
    log.warning("%s", e)
    return gr.Error(e.public, print_exception=False)


CANCELLED = "Cancelled before it started: nothing was trained."
NO_TRAINING = "You have no training running."


def waiting_text(ahead: int) -> str:
    return (
        f"Waiting for the server: {ahead} training{'s' * (ahead != 1)} ahead of yours "
        f"(you are number {ahead + 1} in line). It starts by itself; Stop cancels it."
    )


@dataclass
class _Place:
    """A visitor's training from admission (before it is queued) until it ends."""

    stop: gpu.StopFlag  # a file: it reaches a forked ZeroGPU worker, as a threading.Event would not
    ticket: object
    addr: str
    since: float
    claimed: bool = False  # its event has started (until then the place may be given back)


class TrainTab:
    """The Train tab's handlers: one line of trainings for the server, one Stop per visitor.

    A training is admitted before it enters Gradio's queue (`admit`, the events' validator): one per visitor,
    MAX_TRAININGS_PER_ADDRESS per client address, MAX_WAITING_TRAININGS waiting in all, and room for its run.
    Refused, it never holds a queue slot; admitted, it has its place in the line, and its event (whose
    concurrency limit is the line's length) starts at once and waits there without holding a worker.
    """

    def __init__(self, store: ModelStore, visitors: Visitors):
        self.store = store
        self.visitors = visitors
        self.line = TrainingLine()
        self._places: dict[str, _Place] = {}  # visitor id -> their training's place
        self._leaving: dict[str, float] = {}  # visitor id -> when their last page closed, while they train
        self._watcher: threading.Thread | None = None  # the one thread that stops the trainings of those gone
        self._used = clients.Hourly(settings.TRAINING_MINUTES_PER_ADDRESS * 60)  # seconds trained per address and hour
        self._lock = threading.Lock()

    # ----------------------------------------------------------------------------------------- the tab
    def build(self, explore, draw) -> None:
        """The Train tab's layout and wiring, inside `with gr.Tab("Train")`. `explore` (src/web/explore.py) serves
        evaluation, comparison and examples; `draw` is the Draw tab's DrawParts."""
        if not settings.ALLOW_TRAINING:
            gr.Markdown(
                "Training is switched off on this server (`ALLOW_TRAINING=0`), so that a public demo "
                "stays fast for everyone. Run the app yourself to train: `python app.py`.",
                elem_id="training-disabled",
            )
            return
        defaults = FAST  # the fast recipe: how it was chosen and how long it takes are in docs/
        gr.Markdown(
            "Retrain the network on MNIST and watch the training and validation loss after every "
            "epoch. The settings below reach about 99% MNIST test accuracy in about 15 seconds on two "
            "CPU cores; `python train.py` trains the shipped model with a longer recipe, in which the network "
            "also learns from three teachers trained first (about 9 minutes). One training "
            "runs at a time on this server: yours waits its turn and shows its place in line. Your "
            f"runs are yours alone; this server keeps your last {self.visitors.limits.runs_per_visitor}."
        )
        with gr.Row():
            epochs = gr.Slider(
                1,
                settings.MAX_EPOCHS,
                value=min(defaults.epochs, settings.MAX_EPOCHS),
                step=1,
                label="Epochs",
                elem_id="epochs",
            )
            batch_size = gr.Dropdown(
                [MIN_BATCH, 64, 128, 256, 384, 512], value=defaults.batch_size, label="Batch size", elem_id="batch-size"
            )
            learning_rate = gr.Number(
                value=defaults.lr, label="Learning rate (peak)", elem_id="learning-rate", minimum=1e-5, maximum=0.1
            )
        with gr.Row():
            with gr.Column(min_width=220):  # its own column, so that a phone does not squeeze its label away
                augment = gr.Checkbox(
                    value=defaults.augment, elem_id="augment", label="Augment (rotate, scale, shift, stroke width)"
                )
            seed = gr.Number(value=defaults.seed, precision=0, label="Seed", elem_id="seed")
            max_examples = gr.Slider(
                500,
                48_000,
                value=48_000,
                step=500,
                elem_id="max-examples",
                label="Training examples (fewer = faster on slow CPUs)",
            )
        with gr.Row():
            start_button = gr.Button("Start training", variant="primary", elem_id="start")
            stop_button = gr.Button("Stop", variant="stop", elem_id="stop")
        train_status = gr.Markdown("Press Start to train.", elem_id="train-status")
        with gr.Row():
            loss_plot = gr.LinePlot(
                loss_table([]),
                x="epoch",
                y="loss",
                color="series",
                title="Loss per epoch",
                elem_id="loss-plot",
                height=300,
                min_width=320,
                color_map={"train": "#c2410c", "validation": "#3b82f6"},
                x_title="epoch",
                y_title="cross-entropy loss",
                sort=epoch_axis(defaults.epochs),
            )
            accuracy_plot = gr.LinePlot(
                accuracy_table([]),
                x="epoch",
                y="accuracy",
                color="series",
                title="Validation accuracy per epoch",
                elem_id="accuracy-plot",
                height=300,
                min_width=320,
                color_map={"validation": "#3b82f6"},
                x_title="epoch",
                y_title="accuracy (%)",
                sort=epoch_axis(defaults.epochs),
            )
        records = gr.Dataframe(records_table([]), label="Per-epoch records", elem_id="records", interactive=False)
        new_checkpoint = gr.File(
            label="Download the new checkpoint (Spaces disks are not permanent)",
            elem_id="download",
            file_count="multiple",
            interactive=False,
        )
        with gr.Accordion("Evaluate a model on the MNIST test set", open=True, elem_id="evaluate"):
            gr.Markdown(
                "How a model does on each of the 10,000 test images: every new run is evaluated "
                "when it finishes, and any model can be picked here."
            )
            with gr.Row():
                evaluate_picker = gr.Dropdown(
                    choices=[], label="Model to evaluate", elem_id="evaluate-picker", allow_custom_value=True, scale=3
                )
                evaluate_button = gr.Button("Evaluate", elem_id="evaluate-button", scale=1)
            confusion = gr.HTML("", elem_id="confusion", js_on_load=None)
            mistakes = gr.Gallery(
                label="Its most confident mistakes: the true digit → its answer, its confidence",
                elem_id="mistakes",
                columns=6,
                height="auto",
                object_fit="contain",
                allow_preview=False,
            )
        with gr.Accordion("Compare runs", open=False, elem_id="compare"):
            with gr.Row():
                compare_picker = gr.Dropdown(
                    choices=[], multiselect=True, label="Models (two or more)", elem_id="compare-picker", scale=3
                )
                compare_button = gr.Button("Compare", elem_id="compare-button", scale=1)
            with gr.Row():
                compare_loss = gr.LinePlot(
                    x="epoch",
                    y="validation loss",
                    color="run",
                    elem_id="compare-loss",
                    title="Validation loss per epoch",
                    height=280,
                )
                compare_accuracy = gr.LinePlot(
                    x="epoch",
                    y="validation accuracy",
                    color="run",
                    elem_id="compare-accuracy",
                    title="Validation accuracy per epoch",
                    height=280,
                    y_title="accuracy (%)",
                )
            compare_table = gr.Dataframe(label="Settings and test accuracy", elem_id="compare-table", interactive=False)
        with gr.Accordion("What the model trains on", open=False, elem_id="examples") as examples_panel:
            gr.Markdown(
                "Top row: MNIST training images as the network sees them (28×28). Below: the same "
                "images as augmentation changes them (rotation, scale, shear, shift, stroke width), "
                "new at every epoch."
            )
            examples = gr.Image(
                label="Training examples", elem_id="examples-image", interactive=False, buttons=[], format="png"
            )
            reroll = gr.Button("Re-roll the augmentations", elem_id="reroll", size="sm")
            examples_seed = gr.State(0)
        with gr.Accordion("Fine-tune on my corrections", open=False):
            gr.Markdown(
                "Teach the current model your handwriting: it trains briefly on your corrections "
                "(Draw tab) mixed with MNIST, so that it does not forget the digits it knew."
            )
            fine_tune_button = gr.Button("Fine-tune on my corrections", elem_id="fine-tune")
            fine_tune_report = gr.Markdown("", elem_id="fine-tune-report")
            fine_tuned = gr.File(
                label="Download the fine-tuned checkpoint",
                elem_id="fine-tuned-download",
                file_count="multiple",
                interactive=False,
            )

        every_picker = [*draw.pickers, evaluate_picker, compare_picker]  # filled from one listing of the models
        draw.arrival.then(explore.all_pickers, draw.choice, every_picker, api_name=False)
        evaluate_button.click(explore.evaluate_view, evaluate_picker, [confusion, mistakes], api_name=False)
        compare_button.click(
            explore.compare_view, compare_picker, [compare_loss, compare_accuracy, compare_table], api_name=False
        )
        examples_panel.expand(explore.examples_view, examples_seed, examples, api_name=False)
        reroll.click(explore.reroll, examples_seed, [examples_seed, examples], api_name=False)
        training = start_button.click(
            self.train,
            [epochs, batch_size, learning_rate, augment, seed, max_examples],
            [loss_plot, records, train_status, new_checkpoint, accuracy_plot],
            api_name="train",
            validator=self.admit_training,  # refused before Gradio's queue: full line, limits, bad settings
            preprocess=False,  # plain numbers: the validator's own range checks give the messages
            concurrency_limit=1 + settings.MAX_WAITING_TRAININGS,
            concurrency_id="train",  # = the line: never queued
        )
        listed = training.success(
            explore.new_run_pickers, [new_checkpoint, draw.choice], every_picker, api_name=False
        )  # a refused or failed run saved nothing
        listed.then(explore.evaluate_new_run, new_checkpoint, [confusion, mistakes], api_name=False)
        # The button's answer is the training's own status: a reply written to the status could arrive after
        # the training's last word ("Stopped…") and replace it for good. gradio_client gets the reply (/stop).
        stop_button.click(
            self.stop_from_page, None, None, api_name=False, concurrency_limit=None, show_progress="hidden"
        )
        gr.api(self.request_stop, api_name="stop", concurrency_limit=None)
        tuning = fine_tune_button.click(
            self.fine_tune_on_corrections,
            draw.choice,
            [fine_tune_report, fine_tuned],
            api_name="fine_tune",
            validator=self.admit_fine_tune,
            concurrency_limit=1 + settings.MAX_WAITING_TRAININGS,
            concurrency_id="train",
        )
        tuning.then(explore.all_pickers, draw.choice, every_picker, api_name=False)

    # ------------------------------------------------------------------------------------ admission
    def _admit(self, visitor: Visitor, addr: str) -> _Place:
        """A place in the line for this visitor, or gr.Error saying why not. Call with the lock held."""
        now = time.monotonic()
        for vid, place in list(self._places.items()):  # places whose event never came
            if not place.claimed and now - place.since > RESERVATION_SECONDS:
                self.line.leave(place.ticket)
                del self._places[vid]
        if visitor.id in self._places:
            raise gr.Error(
                "You already have a training running or waiting: stop it first, or wait for it.", print_exception=False
            )
        if sum(p.addr == addr for p in self._places.values()) >= settings.MAX_TRAININGS_PER_ADDRESS:
            raise gr.Error(
                f"{settings.MAX_TRAININGS_PER_ADDRESS} trainings from your network are already running or "
                "waiting on this server, the most it takes from one address. Try again when one has "
                "finished.",
                print_exception=False,
            )
        if not clients.is_loopback(addr) and self._used.over(addr):
            raise gr.Error(
                f"Trainings from your network have used this server for {settings.TRAINING_MINUTES_PER_ADDRESS} "
                "minutes in the last hour, the most it gives one address. Try again later, or run the app "
                "on your own machine (`python app.py`).",
                print_exception=False,
            )
        if len(self.line) >= 1 + settings.MAX_WAITING_TRAININGS:
            raise gr.Error(
                f"The line of trainings is full ({settings.MAX_WAITING_TRAININGS} waiting besides the one "
                "running). Try again in a few minutes, or run the app on your own machine "
                "(`python app.py`).",
                print_exception=False,
            )
        place = _Place(gpu.StopFlag(), self.line.join(), addr, now)
        self._places[visitor.id] = place
        return place

    def admit(self, request: gr.Request | None, *settings) -> list:
        """The validator of the Train tab's events (before they are queued): [gr.validate] per input. `settings`
        are the training's inputs (epochs, batch size, learning rate, augment, seed, examples), or none."""
        problem = settings_problem(*[settings[i] for i in (0, 1, 2, 4, 5)]) if settings else None
        if problem is None:
            try:
                if not settings.ALLOW_TRAINING:
                    raise gr.Error("Training is disabled on this server (ALLOW_TRAINING=0).", print_exception=False)
                visitor = self.visitors.of(request)
                with self._lock:
                    self.visitors.check_room_for_run(visitor)
                    self._admit(visitor, clients.address(request))
            except LimitReached as e:
                problem = (0, str(e))
            except gr.Error as e:
                problem = (0, e.message)
        checks = [
            gr.validate(problem is None or problem[0] != i, problem[1] if problem and problem[0] == i else "")
            for i in range(max(1, len(settings)))
        ]
        return checks if settings else checks[0]  # one input: Gradio takes the value itself

    def admit_training(
        self, epochs, batch_size, learning_rate, augment, seed, max_examples, request: gr.Request = None
    ):
        return self.admit(request, epochs, batch_size, learning_rate, augment, seed, max_examples)

    def admit_fine_tune(self, choice=None, request: gr.Request = None):
        return self.admit(request)

    @contextmanager
    def _turn(self, visitor: Visitor, request=None):
        """This visitor's place in the line (taken at admission, or now), their Stop, and the room for their run."""
        with self._lock:
            place = self._places.get(visitor.id)
            if place is None or place.claimed:
                place = self._admit(visitor, clients.address(request))
            place.claimed = True
        try:
            with self.visitors.working(visitor):  # room reserved for the run; their files kept meanwhile
                yield place.ticket, place.stop
        except LimitReached as e:  # raised only on entering `working`, before anything was trained
            raise gr.Error(str(e), print_exception=False) from None
        finally:
            self.line.leave(place.ticket)
            with self._lock:
                if self._places.get(visitor.id) is place:
                    del self._places[visitor.id]
            place.stop.clear()

    def request_stop(self, request: gr.Request = None) -> str:
        """Stop this visitor's training (only theirs): at the next batch if it runs, at once if it waits."""
        place = self._places.get(self.visitors.of(request).id)
        if place is None:
            return NO_TRAINING
        place.stop.set()
        # Waiting, it is cancelled at once, and its training says so with this very message.
        return "Stopping at the next batch…" if self.line.ahead_of(place.ticket) == 0 else CANCELLED

    def stop_from_page(self, request: gr.Request = None) -> None:
        """The Stop button: request_stop; the training's status then says "Stopped…" or "Cancelled…"."""
        if self.request_stop(request) == NO_TRAINING:
            gr.Info(NO_TRAINING)

    def left(self, request: gr.Request = None) -> None:
        """A page closed (call before Visitors.left). If none of the visitor's pages is open LEFT_GRACE_SECONDS
        after their last one closed (a reload is), their training stops, so that nobody waits for a run that
        nobody watches; what it completed is saved among their runs. One thread watches them all."""
        visitor = self.visitors.of(request)
        with self._lock:
            if visitor.id not in self._places:
                return
            self._leaving[visitor.id] = time.monotonic()
            if self._watcher is None:
                self._watcher = threading.Thread(target=self._watch_leavers, name="leavers", daemon=True)
                self._watcher.start()

    def _watch_leavers(self) -> None:
        """Stops the trainings of visitors gone for LEFT_GRACE_SECONDS; ends when nobody is leaving."""
        while True:
            time.sleep(LEFT_GRACE_SECONDS / 10)
            if self._stop_leavers(time.monotonic()):
                return

    def _stop_leavers(self, now: float) -> bool:
        """Stop the trainings of visitors whose last page closed LEFT_GRACE_SECONDS before `now` and who did not
        come back; True once nobody is leaving (the watcher then ends)."""
        with self._lock:
            due = [vid for vid, closed in self._leaving.items() if now - closed >= LEFT_GRACE_SECONDS]
            places = [(vid, self._places.get(vid)) for vid in due]
            for vid in due:
                del self._leaving[vid]
            done = not self._leaving
            if done:
                self._watcher = None
        for vid, place in places:
            if place is not None and not self.visitors.is_present(vid):
                place.stop.set()
        return done

    def _save(self, visitor: Visitor, name: str, model, meta: dict, data) -> tuple[Path, list[str]]:
        """Save into the visitor's runs (their oldest go first beyond the limit) -> (path, names removed)."""
        try:
            removed = self.visitors.make_room_for_run(visitor)
            return save_model(visitor.runs / name, model, meta, fit_novelty(model, data)), removed
        except OSError as e:
            log.warning("saving a run failed: %s", e)
            raise gr.Error(
                f"The model could not be saved ({e.strerror or type(e).__name__}); no partial file was left behind.",
                print_exception=False,
            ) from None

    @contextmanager
    def _clock(self, request, stop):
        """A training's time on this server, from when its turn comes: it stops at MAX_TRAINING_MINUTES (`.up` says
        so), and counts against its address's TRAINING_MINUTES_PER_ADDRESS in the hour."""
        clock, started = SimpleNamespace(up=False), time.monotonic()

        def time_up():
            clock.up = True
            stop.set()

        timer = threading.Timer(settings.MAX_TRAINING_MINUTES * 60, time_up)
        timer.daemon = True
        timer.start()
        try:
            yield clock
        finally:
            timer.cancel()
            addr = clients.address(request)
            if not clients.is_loopback(addr):
                self._used.spend(addr, time.monotonic() - started)

    def _download(self, path: Path) -> list[str]:
        """A saved run's weights and JSON, staged for a gr.File output (src/web/downloads.py)."""
        return self.visitors.downloads.copies([path, path.with_suffix(".json")])

    async def train(
        self,
        epochs,
        batch_size,
        learning_rate,
        augment,
        seed,
        max_examples,
        request: gr.Request = None,
        progress=gr.Progress(),
    ):
        """Stream (loss plot, records table, status, new checkpoint files, accuracy plot) while waiting and after
        every epoch. It waits on the event loop; the epochs run in worker threads."""
        validate(epochs, batch_size, learning_rate, seed, max_examples)
        epochs, batch_size, seed = int(epochs), int(batch_size), int(seed)
        max_examples = int(max_examples) if max_examples else None
        visitor = self.visitors.of(request)
        history: list[dict] = []
        with self._turn(visitor, request) as (ticket, stop):
            async for ahead in self.line.wait(ticket, stop):
                yield (
                    loss_table(history),
                    records_table(history),
                    waiting_text(ahead),
                    None,
                    accuracy_plot(history, epochs),
                )
            if stop.is_set():
                yield (loss_table(history), records_table(history), CANCELLED, None, accuracy_plot(history, epochs))
                return
            with self._clock(request, stop) as clock:
                async for update in in_own_thread(
                    self._train(
                        visitor,
                        stop,
                        history,
                        epochs,
                        batch_size,
                        float(learning_rate),
                        bool(augment),
                        seed,
                        max_examples,
                        progress,
                        clock,
                    ),
                    stop,
                ):
                    yield *update, accuracy_plot(history, epochs)

    def _train(
        self, visitor, stop, history, epochs, batch_size, learning_rate, augment, seed, max_examples, progress, clock
    ):
        """The training itself (blocking; `train` runs it in a worker thread): its epochs in src.training.gpu.train_run,
        on a GPU when there is one (on ZeroGPU, in a forked worker), the saving here."""
        yield (
            loss_table(history),
            records_table(history),
            "Loading MNIST (the first run downloads it, about 11 MB)…",
            None,
        )
        try:
            data = load_mnist(settings.DATA_DIR, seed=seed, limit=max_examples)  # on the CPU: the novelty statistics
        except DataUnavailable as e:
            raise no_mnist(e) from None
        yield (
            loss_table(history),
            records_table(history),
            "Drawing synthetic digits and non-digits to learn from (about 30 s the first time, then kept)…",
            None,
        )
        cached_training_pools(settings.DATA_DIR)  # drawn here, on the CPU, and kept on disk for the training
        started = time.perf_counter()
        needed = gpu.needed_seconds(epochs, batch_size, max_examples)
        if gpu.ZERO_GPU:  # the GPU time asked for, before it is
            yield loss_table(history), records_table(history), gpu.asking_text(needed), None

        def tqdm(iterable, total, desc):
            return progress.tqdm(iterable, total=total, desc=f"{desc} of {epochs}")

        try:
            for kind, *value in gpu.train_run(
                epochs,
                batch_size,
                learning_rate,
                augment,
                seed,
                max_examples,
                settings.DATA_DIR,
                stop,
                None if gpu.ZERO_GPU else tqdm,
            ):
                if kind == "recipe":
                    recipe = value[0]
                elif kind == "epoch":
                    record = value[0]
                    history.append(record)
                    status = (
                        f"Epoch {record['epoch']}/{epochs}: train loss {record['train_loss']:.4f}, "
                        f"validation loss {record['val_loss']:.4f}, validation accuracy {record['val_acc']:.2f}%"
                    )
                    yield loss_plot(history, epochs), records_table(history), status, None
                else:
                    weights, test_acc, n_test = value
        except Exception as e:  # the page gets the kind of failure (its text may name server paths: the log gets it)
            if (refused := gpu.refusal(e, needed)) is not None:  # ZeroGPU lent no GPU: nothing ran, nothing changed
                log.info("ZeroGPU refused a training: %s", getattr(e, "message", e))
                raise gr.Error(
                    refused,
                    title="No GPU for this training",
                    duration=None,  # stays until closed
                    print_exception=False,
                ) from None
            log.warning("training failed: %s: %s", type(e).__name__, e)
            raise gr.Error(
                f"Training failed during epoch {len(history) + 1} ({type(e).__name__}). "
                "Nothing was saved and the model in use is unchanged.",
                print_exception=False,
            ) from None

        stopped = len(history) < epochs
        if not history:
            yield (
                loss_plot(history, epochs),
                records_table(history),
                "Stopped before the first epoch ended: nothing to save." + time_up_text(clock),
                None,
            )
            return
        yield (
            loss_plot(history, epochs),
            records_table(history),
            "Fitting the “is it a digit?” statistics and saving…",
            None,
        )
        path, removed = self._save(
            visitor,
            unique_name(),
            gpu.model_from(weights),
            {
                "hyperparameters": recipe,
                "seed": seed,
                "limit": max_examples,
                "history": history,
                "test_acc": round(test_acc, 3),
                "stopped_early": stopped,
            },
            data,
        )
        status = (
            f"{'Stopped after' if stopped else 'Finished'} {len(history)} epoch{'s' * (len(history) != 1)} "
            f"in {time.perf_counter() - started:.0f} s. Test accuracy {test_acc:.2f}% "
            f"on {n_test:,} test images. Saved as **{YOURS}{path.name}**, visible only to you: pick it "
            "in the Draw tab to use it." + removed_text(removed) + time_up_text(clock)
        )
        yield loss_plot(history, epochs), records_table(history), status, self._download(path)

    async def fine_tune_on_corrections(self, choice=None, request: gr.Request = None, progress=gr.Progress()):
        """Fine-tune this visitor's model on their corrections mixed with MNIST; report before/after; save it
        among their runs."""
        if not settings.ALLOW_TRAINING:
            raise gr.Error("Training is disabled on this server (ALLOW_TRAINING=0).", print_exception=False)
        visitor = self.visitors.of(request)
        with self._turn(visitor, request) as (ticket, stop):
            samples = corrections.load(visitor.corrections)
            if len(samples[1]) == 0:
                raise gr.Error(
                    "You have no corrections yet: in the Draw tab, draw a digit and say which digit it really was.",
                    print_exception=False,
                )
            try:
                base = self.store.get(choice, visitor.runs if choice else None)
            except CheckpointError as e:
                raise gr.Error(f"Your model cannot be loaded: {e}", print_exception=False) from None
            async for ahead in self.line.wait(ticket, stop):
                yield waiting_text(ahead), None
            if stop.is_set():
                yield CANCELLED, None
                return
            with self._clock(request, stop) as clock:
                async for update in in_own_thread(self._fine_tune(visitor, base, samples, stop, progress, clock), stop):
                    yield update

    def _fine_tune(self, visitor, base, samples, stop, progress, clock):
        """The fine-tuning itself (blocking; fine_tune_on_corrections runs it in worker threads)."""
        yield (
            (
                f"Fine-tuning **{base.name}** on your {len(samples[1])} corrections mixed with MNIST…"
                + (f" {gpu.asking_text(gpu.FINE_TUNE_SECONDS, 'fine-tuning')}" if gpu.ZERO_GPU else "")
            ),
            None,
        )
        progress(0, desc="Loading MNIST")
        try:
            data = load_mnist(settings.DATA_DIR)
        except DataUnavailable as e:
            raise no_mnist(e) from None
        cached_training_pools(settings.DATA_DIR)
        progress(0.2, desc="Fine-tuning")
        try:
            weights, report = gpu.fine_tune_run(
                {k: v.cpu() for k, v in base.model.state_dict().items()}, samples, settings.DATA_DIR, stop
            )
        except gr.Error as e:
            if (refused := gpu.refusal(e, gpu.FINE_TUNE_SECONDS, "fine-tuning")) is None:
                raise
            log.info("ZeroGPU refused a fine-tuning: %s", e.message)
            raise gr.Error(refused, title="No GPU for this fine-tuning", duration=None, print_exception=False) from None
        model = gpu.model_from(weights)
        before, after = report["before"], report["after"]
        progress(0.9, desc="Fitting the “is it a digit?” statistics and saving")
        path, removed = self._save(
            visitor,
            unique_name().replace("trained-", "finetuned-"),
            model,
            {
                "base": base.name,
                "fine_tune": report,
                "history": [],
                "test_acc": after["mnist_test"],
            },
            data,
        )
        table = "\n".join(
            [
                "| accuracy | before | after |",
                "| --- | --- | --- |",
                f"| your {report['corrections']} corrections | {before['corrections']}% | {after['corrections']}% |",
                f"| MNIST validation | {before['mnist_val']}% | {after['mnist_val']}% |",
                f"| MNIST test | {before['mnist_test']}% | {after['mnist_test']}% |",
            ]
        )
        yield (
            f"{'Stopped early. ' if report['stopped'] else ''}Fine-tuned in {report['seconds']:.0f} s "
            f"and saved as **{YOURS}{path.name}**; pick it in the Draw tab to use it.{removed_text(removed)}"
            f"{time_up_text(clock)}\n\n{table}",
            self._download(path),
        )


def time_up_text(clock) -> str:
    return (
        f" It was stopped at this server's limit of {settings.MAX_TRAINING_MINUTES:g} minutes per training."
        if clock.up
        else ""
    )


def removed_text(removed: list[str]) -> str:
    if not removed:
        return ""
    return (
        f" To stay within this server's limit of runs per visitor, your oldest run"
        f"{'s' * (len(removed) > 1)} ({', '.join(removed)}) {'were' if len(removed) > 1 else 'was'} removed."
    )
