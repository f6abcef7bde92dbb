"""A training's inputs from the page or gradio_client (epochs, batch size, learning rate, augment, seed,
examples), checked before anything is queued, and the one refusal when this server does not train."""

import gradio as gr

from src import settings

MIN_BATCH = 32  # the page's smallest: smaller batches cost the server more time per example
MAX_BATCH = 2048
MAX_SEED = 2**32 - 1
TRAINING_DISABLED = "Training is disabled on this server (ALLOW_TRAINING=0)."


def refuse_if_disabled() -> None:
    """gr.Error when this server does not train (ALLOW_TRAINING=0)."""
    if not settings.ALLOW_TRAINING:
        raise gr.Error(TRAINING_DISABLED, print_exception=False)


def number(value, kind):
    """`value` as int or float, or None if it is not a finite number (a bool, a string, NaN, 2**70 as a float...)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if kind is int and isinstance(value, float):
        if not value.is_integer() or abs(value) > 2**53:
            return None
        value = int(value)
    return kind(value) if abs(value) < float("inf") else None


def within(value, low, high) -> bool:
    return value is not None and low <= value <= high


def settings_problem(epochs, batch_size, learning_rate, seed, max_examples) -> tuple[int, str] | None:
    """(index of the input, message) for the first setting out of range, or None if all are fine."""
    epochs, batch_size, seed = number(epochs, int), number(batch_size, int), number(seed, int)
    learning_rate = number(learning_rate, float)
    checks = [
        (0, within(epochs, 1, settings.MAX_EPOCHS), f"Epochs must be between 1 and {settings.MAX_EPOCHS}."),
        (1, within(batch_size, MIN_BATCH, MAX_BATCH), f"Batch size must be between {MIN_BATCH} and {MAX_BATCH}."),
        (2, within(learning_rate, 1e-5, 0.1), "Learning rate must be between 0.00001 and 0.1."),
        (4, within(seed, 0, MAX_SEED), f"Seed must be a whole number between 0 and {MAX_SEED:,}."),
        (
            5,
            max_examples is None or within(number(max_examples, int) or 0, 500, 48_000),
            "Training examples must be between 500 and 48,000.",
        ),
    ]
    return next(((i, message) for i, ok, message in checks if not ok), None)


def validate(epochs, batch_size, learning_rate, seed, max_examples) -> None:
    """gr.Error unless this server trains and every setting is in range."""
    refuse_if_disabled()
    problem = settings_problem(epochs, batch_size, learning_rate, seed, max_examples)
    if problem:
        raise gr.Error(problem[1], print_exception=False)
