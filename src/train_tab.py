"""Training from the page: the Train tab's generator around `src.training.train_epochs`.

One training runs at a time for the whole server (the Train event has concurrency_limit=1, so
other visitors wait in Gradio's queue and see their position). Stop sets an Event that the engine
checks before every batch. A finished or stopped run with at least one completed epoch is saved
atomically under a unique name in CHECKPOINT_DIR.
"""

import secrets
import threading
import time
from datetime import datetime, timezone

import gradio as gr
import pandas as pd

from src import config, corrections
from src.checkpoint import fit_and_save
from src.data import DataUnavailable, load_mnist
from src.inference import ModelStore
from src.training import Pools, TrainConfig, evaluate, fine_tune, seeded_model, train_epochs
from src.synthetic import cached_training_pools

_stop = threading.Event()


def request_stop() -> str:
    _stop.set()
    return "Stopping at the next batch…"


def loss_plot(history: list[dict], epochs: int):
    """The loss plot's update, its x axis spanning the whole run.

    Setting x_lim with the data also makes Gradio 6.31 rebuild the chart, which it needs to colour the
    series: it takes the colour domain from the data only when the chart is (re)built.
    """
    return gr.LinePlot(loss_table(history), x_lim=[1, max(2, epochs)])


def loss_table(history: list[dict]) -> pd.DataFrame:
    """Long format for gr.LinePlot: one row per (epoch, series).

    With no history yet, one empty (NaN) point per series: Gradio 6.31 takes the series' colours from the
    first data it draws, so both series must be named from the start.
    """
    if not history:
        return pd.DataFrame({"epoch": [1, 1], "loss": [float("nan")] * 2, "series": ["train", "validation"]})
    rows = [{"epoch": r["epoch"], "loss": r[key], "series": name}
            for r in history for key, name in (("train_loss", "train"), ("val_loss", "validation"))]
    return pd.DataFrame(rows, columns=["epoch", "loss", "series"]).astype({"epoch": int, "loss": float})


def records_table(history: list[dict]) -> pd.DataFrame:
    columns = ["epoch", "train_loss", "val_loss", "val_acc", "seconds"]
    return pd.DataFrame(history, columns=columns).astype({"epoch": int} | {c: float for c in columns[1:]})


def unique_name() -> str:
    return f"trained-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}.safetensors"


def validate(epochs, batch_size, learning_rate, max_examples) -> None:
    if not config.ALLOW_TRAINING:
        raise gr.Error("Training is disabled on this server (ALLOW_TRAINING=0).")
    checks = [
        (1 <= epochs <= config.MAX_EPOCHS, f"Epochs must be between 1 and {config.MAX_EPOCHS}."),
        (8 <= batch_size <= 2048, "Batch size must be between 8 and 2048."),
        (1e-5 <= learning_rate <= 0.1, "Learning rate must be between 0.00001 and 0.1."),
        (max_examples is None or 500 <= max_examples <= 48_000, "Training examples must be between 500 and 48,000."),
    ]
    for ok, message in checks:
        if not ok:
            raise gr.Error(message)


def train(epochs, batch_size, learning_rate, augment, seed, max_examples, progress=gr.Progress()):
    """Stream (loss plot, records table, status, new checkpoint files) after every epoch."""
    epochs, batch_size, seed = int(epochs), int(batch_size), int(seed)
    max_examples = int(max_examples) if max_examples else None
    validate(epochs, batch_size, float(learning_rate), max_examples)
    _stop.clear()
    history: list[dict] = []
    yield loss_table(history), records_table(history), "Loading MNIST (the first run downloads it, about 11 MB)…", None

    try:
        data = load_mnist(config.DATA_DIR, seed=seed, limit=max_examples)
    except DataUnavailable as e:
        raise gr.Error(str(e)) from None
    yield (loss_table(history), records_table(history),
           "Drawing synthetic digits and non-digits to learn from (about 30 s the first time, then kept)…", None)
    pools = Pools.from_numpy(*cached_training_pools(config.DATA_DIR))
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=float(learning_rate), augment=bool(augment), seed=seed)
    model = seeded_model(seed)
    started = time.perf_counter()

    def tqdm(iterable, total, desc):
        return progress.tqdm(iterable, total=total, desc=f"{desc} of {epochs}")

    try:
        for record in train_epochs(model, data, cfg, pools, stop=_stop, progress=tqdm):
            history.append(record)
            status = (f"Epoch {record['epoch']}/{epochs}: train loss {record['train_loss']:.4f}, "
                      f"validation loss {record['val_loss']:.4f}, validation accuracy {record['val_acc']:.2f}%")
            yield loss_plot(history, epochs), records_table(history), status, None
    except Exception as e:  # the page gets the reason; the server, the live model and the checkpoints stay as they were
        raise gr.Error(f"Training failed during epoch {len(history) + 1} ({type(e).__name__}: {e}). "
                       "Nothing was saved and the model in use is unchanged.") from None

    stopped = len(history) < epochs
    if not history:
        yield loss_plot(history, epochs), records_table(history), "Stopped before the first epoch ended: nothing to save.", None
        return
    _, test_acc = evaluate(model, data.test)
    yield loss_plot(history, epochs), records_table(history), "Fitting the “is it a digit?” statistics and saving…", None
    try:
        path = fit_and_save(config.CHECKPOINT_DIR / unique_name(), model, {
            "hyperparameters": cfg.to_dict(), "seed": seed, "limit": max_examples, "history": history,
            "test_acc": round(test_acc, 3), "stopped_early": stopped,
        }, data)
    except OSError as e:
        raise gr.Error(f"The trained model could not be saved ({e}); no partial file was left behind.") from None
    status = (f"{'Stopped after' if stopped else 'Finished'} {len(history)} epoch{'s' * (len(history) != 1)} "
              f"in {time.perf_counter() - started:.0f} s. Test accuracy {test_acc:.2f}% "
              f"on {len(data.test):,} test images. Saved as **{path.name}**: pick it in the Draw tab to use it.")
    yield loss_plot(history, epochs), records_table(history), status, [str(path), str(path.with_suffix(".json"))]


def fine_tune_on_corrections(store: ModelStore, progress=gr.Progress()):
    """Fine-tune the live model of `store` on the stored corrections mixed with MNIST; report before/after;
    save it."""
    if not config.ALLOW_TRAINING:
        raise gr.Error("Training is disabled on this server (ALLOW_TRAINING=0).")
    samples = corrections.load(config.CORRECTIONS_DIR)
    if len(samples[1]) == 0:
        raise gr.Error("There are no corrections yet: in the Draw tab, draw a digit and say which digit it really was.")
    base = store.active
    if base is None:
        raise gr.Error(store.error or "No model is loaded.")
    _stop.clear()
    yield f"Fine-tuning **{base.name}** on {len(samples[1])} corrections mixed with MNIST…", None
    progress(0, desc="Loading MNIST")
    try:
        data = load_mnist(config.DATA_DIR)
    except DataUnavailable as e:
        raise gr.Error(str(e)) from None
    pools = Pools.from_numpy(*cached_training_pools(config.DATA_DIR))
    progress(0.2, desc="Fine-tuning")
    model, report = fine_tune(base.model, samples, data, pools, stop=_stop)
    before, after = report["before"], report["after"]
    progress(0.9, desc="Fitting the “is it a digit?” statistics and saving")
    try:
        path = fit_and_save(config.CHECKPOINT_DIR / unique_name().replace("trained-", "finetuned-"), model, {
            "base": base.name, "fine_tune": report, "history": [], "test_acc": after["mnist_test"],
        }, data)
    except OSError as e:
        raise gr.Error(f"The fine-tuned model could not be saved ({e}); no partial file was left behind.") from None
    table = "\n".join([
        "| accuracy | before | after |", "| --- | --- | --- |",
        f"| your {report['corrections']} corrections | {before['corrections']}% | {after['corrections']}% |",
        f"| MNIST validation | {before['mnist_val']}% | {after['mnist_val']}% |",
        f"| MNIST test | {before['mnist_test']}% | {after['mnist_test']}% |",
    ])
    yield (f"{'Stopped early. ' if report['stopped'] else ''}Fine-tuned in {report['seconds']:.0f} s "
           f"and saved as **{path.name}**; pick it in the Draw tab to use it.\n\n{table}",
           [str(path), str(path.with_suffix(".json"))])
