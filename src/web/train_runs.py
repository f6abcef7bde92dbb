"""A visitor's training or fine-tuning, from their turn in the line to the checkpoint saved among their runs:
the generators of the Train tab's /train and /fine_tune, around src.training.gpu's train_run and fine_tune_run.

A finished or stopped run with at least one completed epoch is saved atomically in the visitor's own folder,
where only they see it.
"""

import logging
import secrets
import time
from datetime import datetime, timezone
from pathlib import Path

import gradio as gr

from src import settings
from src.data.mnist import DataUnavailable, load_mnist
from src.data.pools import cached_training_pools
from src.model.checkpoint import CheckpointError, save_model
from src.reading.calibration import fit_novelty
from src.reading.inference import YOURS, ModelStore
from src.training import gpu
from src.web import corrections
from src.web.train_charts import accuracy_plot, loss_plot, loss_table, records_table
from src.web.train_inputs import refuse_if_disabled, validate
from src.web.train_line import in_own_thread
from src.web.trainings import CANCELLED, Trainings, time_up_text, waiting_text
from src.web.visitors import Visitor, Visitors

log = logging.getLogger(__name__)


def unique_name() -> str:
    return f"trained-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(6)}.safetensors"


def no_mnist(e: DataUnavailable) -> gr.Error:
    """The page's message when MNIST is missing (the log gets the server's folders, the visitor does not)."""
    log.warning("%s", e)
    return gr.Error(e.public, print_exception=False)


def no_gpu(e: BaseException, seconds: int, what: str) -> gr.Error | None:
    """The page's message when ZeroGPU lent no GPU for this `what` (nothing ran, nothing changed), else None."""
    refused = gpu.refusal(e, seconds, what)
    if refused is None:
        return None
    log.info("ZeroGPU refused a %s: %s", what, getattr(e, "message", e))
    return gr.Error(refused, title=f"No GPU for this {what}", duration=None, print_exception=False)  # until closed


def removed_text(removed: list[str]) -> str:
    if not removed:
        return ""
    return (
        f" To stay within this server's limit of runs per visitor, your oldest run"
        f"{'s' * (len(removed) > 1)} ({', '.join(removed)}) {'were' if len(removed) > 1 else 'was'} removed."
    )


def shown(history: list[dict], status: str, files=None, epochs: int | None = None) -> tuple:
    """(loss plot, records, status, files) for the page; with `epochs`, a plot update whose axis spans the run."""
    plot = loss_table(history) if epochs is None else loss_plot(history, epochs)
    return plot, records_table(history), status, files


def epoch_text(record: dict, epochs: int) -> str:
    return (
        f"Epoch {record['epoch']}/{epochs}: train loss {record['train_loss']:.4f}, "
        f"validation loss {record['val_loss']:.4f}, validation accuracy {record['val_acc']:.2f}%"
    )


def load_data(**options):
    """MNIST from DATA_DIR (load_mnist's `options`), or the page's message when it is missing."""
    try:
        return load_mnist(settings.DATA_DIR, **options)
    except DataUnavailable as e:
        raise no_mnist(e) from None


def fine_tune_table(report: dict) -> str:
    """Accuracy before and after a fine-tuning, as a Markdown table."""
    before, after = report["before"], report["after"]
    return "\n".join(
        [
            "| accuracy | before | after |",
            "| --- | --- | --- |",
            f"| your {report['corrections']} corrections | {before['corrections']}% | {after['corrections']}% |",
            f"| MNIST validation | {before['mnist_val']}% | {after['mnist_val']}% |",
            f"| MNIST test | {before['mnist_test']}% | {after['mnist_test']}% |",
        ]
    )


class TrainRuns(Trainings):
    """The trainings' generators: each waits its turn on the event loop, then runs in a worker thread."""

    def __init__(self, store: ModelStore, visitors: Visitors):
        super().__init__(visitors)
        self.store = store

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

    def _download(self, path: Path) -> list[str]:
        """A saved run's weights and JSON, staged for a gr.File output."""
        return self.visitors.downloads.copies([path, path.with_suffix(".json")])

    # -------------------------------------------------------------------------------------- training
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
        run_args = (epochs, batch_size, float(learning_rate), bool(augment), seed, max_examples)
        visitor = self.visitors.of(request)
        history: list[dict] = []
        with self._turn(visitor, request) as (ticket, stop):
            async for ahead in self.line.wait(ticket, stop):
                yield *shown(history, waiting_text(ahead)), accuracy_plot(history, epochs)
            if stop.is_set():
                yield *shown(history, CANCELLED), accuracy_plot(history, epochs)
                return
            with self._clock(request, stop) as clock:
                async for update in in_own_thread(self._train(visitor, stop, history, run_args, progress, clock), stop):
                    yield *update, accuracy_plot(history, epochs)

    def _train(self, visitor, stop, history, run_args, progress, clock):
        """The training itself (blocking; `train` runs it in a worker thread): its epochs in gpu.train_run, on a GPU
        when there is one (on ZeroGPU, in a forked worker), the saving here. `run_args`: train_run's first six."""
        epochs, batch_size, _, _, seed, max_examples = run_args
        yield shown(history, "Loading MNIST (the first run downloads it, about 11 MB)…")
        data = load_data(seed=seed, limit=max_examples)  # on the CPU: the novelty statistics
        yield shown(
            history, "Drawing synthetic digits and non-digits to learn from (about 30 s the first time, then kept)…"
        )
        cached_training_pools(settings.DATA_DIR)  # drawn here, on the CPU, and kept on disk for the training
        started = time.perf_counter()
        needed = gpu.needed_seconds(epochs, batch_size, max_examples)
        if gpu.ZERO_GPU:  # the GPU time asked for, before it is
            yield shown(history, gpu.asking_text(needed))
        recipe, weights, test_acc, n_test = yield from self._epochs(history, run_args, stop, progress, needed)
        stopped = len(history) < epochs
        if not history:
            yield shown(
                history, "Stopped before the first epoch ended: nothing to save." + time_up_text(clock), None, epochs
            )
            return
        yield shown(history, "Fitting the “is it a digit?” statistics and saving…", None, epochs)
        meta = {
            "hyperparameters": recipe,
            "seed": seed,
            "limit": max_examples,
            "history": history,
            "test_acc": round(test_acc, 3),
            "stopped_early": stopped,
        }
        path, removed = self._save(visitor, unique_name(), gpu.model_from(weights), meta, data)
        status = (
            f"{'Stopped after' if stopped else 'Finished'} {len(history)} epoch{'s' * (len(history) != 1)} "
            f"in {time.perf_counter() - started:.0f} s. Test accuracy {test_acc:.2f}% "
            f"on {n_test:,} test images. Saved as **{YOURS}{path.name}**, visible only to you: pick it "
            "in the Draw tab to use it." + removed_text(removed) + time_up_text(clock)
        )
        yield shown(history, status, self._download(path), epochs)

    def _epochs(self, history, run_args, stop, progress, needed):
        """The epochs (gpu.train_run), each one's status as it ends -> (its recipe, weights, test
        accuracy, test images); the weights are None if no epoch completed."""
        epochs = run_args[0]

        def tqdm(iterable, total, desc):
            return progress.tqdm(iterable, total=total, desc=f"{desc} of {epochs}")

        recipe = weights = test_acc = n_test = None
        try:
            for kind, *value in gpu.train_run(*run_args, settings.DATA_DIR, stop, None if gpu.ZERO_GPU else tqdm):
                if kind == "recipe":
                    recipe = value[0]
                elif kind == "epoch":
                    history.append(value[0])
                    yield shown(history, epoch_text(value[0], epochs), None, epochs)
                else:
                    weights, test_acc, n_test = value
        except Exception as e:  # the page gets the kind of failure (its text may name server paths: the log gets it)
            refused = no_gpu(e, needed, "training")
            if refused is not None:
                raise refused from None
            log.warning("training failed: %s: %s", type(e).__name__, e)
            raise gr.Error(
                f"Training failed during epoch {len(history) + 1} ({type(e).__name__}). "
                "Nothing was saved and the model in use is unchanged.",
                print_exception=False,
            ) from None
        return recipe, weights, test_acc, n_test

    # ----------------------------------------------------------------------------------- fine-tuning
    async def fine_tune_on_corrections(self, choice=None, request: gr.Request = None, progress=gr.Progress()):
        """Fine-tune this visitor's model on their corrections mixed with MNIST; report before/after; save it
        among their runs."""
        refuse_if_disabled()
        visitor = self.visitors.of(request)
        with self._turn(visitor, request) as (ticket, stop):
            samples = corrections.load(visitor.corrections)
            if len(samples[1]) == 0:
                raise gr.Error(
                    "You have no corrections yet: in the Draw tab, draw a digit and say which digit it really was.",
                    print_exception=False,
                )
            try:
                base = self.store.get(choice, visitor.runs)
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
        asking = f" {gpu.asking_text(gpu.FINE_TUNE_SECONDS, 'fine-tuning')}" if gpu.ZERO_GPU else ""
        yield f"Fine-tuning **{base.name}** on your {len(samples[1])} corrections mixed with MNIST…" + asking, None
        progress(0, desc="Loading MNIST")
        data = load_data()
        cached_training_pools(settings.DATA_DIR)
        progress(0.2, desc="Fine-tuning")
        try:
            weights, report = gpu.fine_tune_run(
                {k: v.cpu() for k, v in base.model.state_dict().items()}, samples, settings.DATA_DIR, stop
            )
        except gr.Error as e:
            refused = no_gpu(e, gpu.FINE_TUNE_SECONDS, "fine-tuning")
            if refused is None:
                raise
            raise refused from None
        model = gpu.model_from(weights)
        progress(0.9, desc="Fitting the “is it a digit?” statistics and saving")
        meta = {"base": base.name, "fine_tune": report, "history": [], "test_acc": report["after"]["mnist_test"]}
        name = unique_name().replace("trained-", "finetuned-")
        path, removed = self._save(visitor, name, model, meta, data)
        yield (
            f"{'Stopped early. ' if report['stopped'] else ''}Fine-tuned in {report['seconds']:.0f} s "
            f"and saved as **{YOURS}{path.name}**; pick it in the Draw tab to use it.{removed_text(removed)}"
            f"{time_up_text(clock)}\n\n{fine_tune_table(report)}",
            self._download(path),
        )
