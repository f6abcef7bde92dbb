"""The Train tab's charts and tables of a run's history (a list of per-epoch records, as train_epochs yields
them): the loss and accuracy plots, the per-epoch records, and the plots that compare runs."""

import gradio as gr
import pandas as pd

LOSS_COLOURS = {"train": "#c2410c", "validation": "#3b82f6"}


def epoch_axis(n: int) -> list[str]:
    """The plots' x values in order: whole epochs only. Epochs are categories ("1", "2", ...), so the axis
    never shows fractions of an epoch (a numeric axis labels 1.00, 1.10, 1.20 ... while it has one point)."""
    return [str(e) for e in range(1, max(1, n) + 1)]


def epoch_plot(table: pd.DataFrame, epochs: int):
    """A line plot's update whose axis lists every epoch up to `epochs` in order.

    A new sort order with the data also makes Gradio rebuild the chart, which it needs to colour the series:
    it takes the colour domain from the data only when the chart is (re)built.
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

    With no history yet, one empty (NaN) point per series: Gradio takes the series' colours from the first
    data it draws, so both series must be named from the start.
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


def run_chart(table: pd.DataFrame, y: str, title: str, elem_id: str, colours: dict, y_title: str, epochs: int):
    """A plot of a run's `y` per epoch, one line per series, its axis listing `epochs` epochs."""
    return gr.LinePlot(
        table,
        x="epoch",
        y=y,
        color="series",
        title=title,
        elem_id=elem_id,
        height=300,
        min_width=320,
        color_map=colours,
        x_title="epoch",
        y_title=y_title,
        sort=epoch_axis(epochs),
    )


def comparison_chart(metric: str, elem_id: str, **options):
    """A plot of the validation `metric` per epoch, one line per compared run."""
    return gr.LinePlot(
        x="epoch",
        y=f"validation {metric}",
        color="run",
        elem_id=elem_id,
        title=f"Validation {metric} per epoch",
        height=280,
        **options,
    )
