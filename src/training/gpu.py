"""The page's trainings on a GPU when there is one, as Hugging Face's ZeroGPU lends it (`@spaces.GPU`).

On ZeroGPU (SPACES_ZERO_GPU set) a `@spaces.GPU` function runs in a forked worker process: its arguments and
what it yields are pickled, nothing it changes in memory reaches the server, and a threading.Event set by the
server never reaches it. So these functions take plain settings, yield plain records and hand the weights
back on the CPU; the server saves them. Stop crosses as a file (StopFlag). Elsewhere `@spaces.GPU` does
nothing: they run in the server's own thread, on a local GPU if there is one, else the CPU.

Each call asks ZeroGPU's scheduler for a GPU for a duration, in the server, before any worker exists. `spaces`
multiplies the duration its decorator is given by its card's `duration_factor` (spaces/zero/configs.json) and
sends the product, which the scheduler compares with what is left of the visitor's daily quota: a larger request
is refused with a gr.Error (`refusal` words it for the page). So the durations given here are the GPU time a
run needs divided by that factor (`request`).
"""

import functools
import math
import os
import re
import secrets
import tempfile
from dataclasses import replace
from pathlib import Path

import spaces  # Hugging Face's ZeroGPU; on any other machine its decorator returns the function as it is
import torch

from src import settings
from src.data.mnist import load_mnist, read_mnist
from src.data.pools import cached_training_pools
from src.training.augment import Pools
from src.training.fine_tune import fine_tune
from src.training.hardware import resolve_device, threads_for_training
from src.training.loop import loss_and_accuracy, train_epochs
from src.training.recipes import FAST, seeded_model

ZERO_GPU = os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true")
EXAMPLES = 48_000  # a full epoch: MNIST's training split
# A training's GPU time, generously (no GPU has timed this recipe yet): its start and end in the worker (the
# card, MNIST onto it, the test set), then each batch: on a GPU this small network's time goes with the number
# of batches more than with their size.
START_SECONDS = 30
BATCH_SECONDS = 0.016
FINE_TUNE_SECONDS = 60
# ZeroGPU's daily quotas as Hugging Face states them (docs/hosting.md): the most a visitor's request can be.
QUOTA_SECONDS = {"without an account": 2 * 60, "free account": 5 * 60}


@functools.cache
def stops_folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="digits-stops-"))


class StopFlag:
    """A Stop that also reaches a forked worker: a file in this server's temporary folder that exists once set.
    It pickles as its path. `set()` and `is_set()` as a threading.Event; `clear()` removes the file."""

    def __init__(self):
        self.path = str(stops_folder() / secrets.token_hex(8))

    def set(self) -> None:
        Path(self.path).touch()

    def is_set(self) -> bool:
        return os.path.exists(self.path)

    def clear(self) -> None:
        Path(self.path).unlink(missing_ok=True)


def duration_factor() -> float:
    """What `spaces` multiplies a requested duration by on this server's card (spaces.zero.client.
    get_duration_seconds: the card's `duration_factor`, except for an xlarge GPU); 1 outside ZeroGPU."""
    if not ZERO_GPU:
        return 1.0
    try:
        from spaces.zero import config as cards
        from spaces.zero import default_gpu_size
    except ImportError:  # a `spaces` from before the factor
        return 1.0
    return 1.0 if default_gpu_size() == "xlarge" else float(cards.get_config()["duration_factor"])


def request(seconds: int) -> int:
    """The duration to give `@spaces.GPU` for `seconds` of GPU time: the smallest whole number of seconds that
    `spaces` turns into at least `seconds` (it keeps whole seconds, multiplies by duration_factor, rounds)."""
    return math.ceil(seconds / duration_factor())


def asked(seconds: int) -> int:
    """The GPU time the scheduler is asked for, and compares with the visitor's quota, for `seconds` needed."""
    return round(request(seconds) * duration_factor())


def needed_seconds(epochs, batch_size, max_examples) -> int:
    """The GPU time a training needs (START_SECONDS, then BATCH_SECONDS a batch), never more than this server
    lets one training run (MAX_TRAINING_MINUTES: its clock stops the run, which keeps its completed epochs)."""
    batches = epochs * math.ceil(min(max_examples or EXAMPLES, EXAMPLES) / batch_size)
    return math.ceil(min(settings.MAX_TRAINING_MINUTES * 60, START_SECONDS + batches * BATCH_SECONDS))


def training_seconds(
    epochs, batch_size, learning_rate, augment, seed, max_examples, data_dir, stop, progress=None
) -> int:
    """`train_run`'s duration for `@spaces.GPU` (called with its arguments). As small as the run needs: a
    larger one would be refused where the visitor's quota left would have done."""
    return request(needed_seconds(epochs, batch_size, max_examples))


@spaces.GPU(duration=training_seconds)
def train_run(epochs, batch_size, learning_rate, augment, seed, max_examples, data_dir, stop: StopFlag, progress=None):
    """Train the Train tab's recipe; yields ("recipe", its settings), then ("epoch", record) after each epoch,
    then ("done", weights on the CPU or None if no epoch completed, test accuracy, test images).
    `progress` wraps each epoch's batches (train_epochs); None on ZeroGPU, where it cannot cross.
    On ZeroGPU the server waits for each next item at most spaces' GENERATOR_GLOBAL_TIMEOUT, which bounds an
    epoch, not the run; the run's bound is the duration it asked for."""
    device = resolve_device("auto")
    data = load_mnist(data_dir, device=device, seed=seed, limit=max_examples)
    pools = Pools.from_numpy(*cached_training_pools(data_dir), device=device)
    # What the page does not offer is FAST's: the precision, and the synthetic drawings' share of a batch.
    recipe = replace(FAST.at_batch_size(batch_size), epochs=epochs, lr=learning_rate, augment=augment, seed=seed)
    recipe = recipe.resolved(device)
    yield "recipe", recipe.to_dict()
    model = seeded_model(seed)
    completed = 0
    options = {"progress": progress} if progress else {}
    with threads_for_training():  # the app serves with one thread; a training uses the cores
        for record in train_epochs(model, data, recipe, pools, stop=stop, **options):
            completed += 1
            yield "epoch", record
    if not completed:
        yield "done", None, None, 0
        return
    # Always on all 10,000 test images (a run on fewer training examples has a proportional test subset),
    # so that the figure a run records is the one its evaluation shows.
    test = data.test if max_examples is None else read_mnist(data_dir, train=False).to(device)
    _, test_acc = loss_and_accuracy(model, test)
    yield "done", {k: v.detach().cpu() for k, v in model.state_dict().items()}, test_acc, len(test)


def fine_tune_seconds(weights, samples, data_dir, stop) -> int:
    return request(FINE_TUNE_SECONDS)


@spaces.GPU(duration=fine_tune_seconds)
def fine_tune_run(weights: dict, samples, data_dir, stop: StopFlag):
    """fine_tune of the model with `weights` (on the CPU: its steps are small) -> (weights, report)."""
    with threads_for_training():
        new, report = fine_tune(
            model_from(weights),
            samples,
            load_mnist(data_dir),
            Pools.from_numpy(*cached_training_pools(data_dir)),
            stop=stop,
        )
    return {k: v.detach().cpu() for k, v in new.state_dict().items()}, report


KEPT = "Nothing was trained, and your runs and settings are as they were."
LOCAL = "run this app on your own computer (`python app.py`), where trainings use no quota"


def quotas_text() -> str:
    return (
        f"{QUOTA_SECONDS['without an account'] // 60} minutes a day without a Hugging Face account, "
        f"{QUOTA_SECONDS['free account'] // 60} with a free one"
    )


def asking_text(seconds: int, what: str = "training") -> str:
    """The page's status while a run that needs `seconds` asks ZeroGPU for a GPU."""
    return (
        f"Asking ZeroGPU for a GPU: this {what} asks for {asked(seconds)} s of GPU time, which must fit in what "
        f"is left of your daily ZeroGPU quota ({quotas_text()})…"
    )


def refusal(error: BaseException, seconds: int, what: str = "training") -> str | None:
    """The page's message when ZeroGPU lent no GPU for a run that needs `seconds`: why, and what the visitor can
    do; None for any other error. `spaces` refuses with a gr.Error raised in the server before anything ran
    (spaces/zero/client.py, `schedule`), told apart here by its text: its title is not set with every Gradio."""
    text = str(getattr(error, "message", ""))  # a gr.Error's, read without importing the page's library

    def you_can(*choices):
        *some, last = [c for c in choices if c]
        return f"{KEPT} You can {', '.join(some)}{', or ' if some else ''}{last}."

    less = "ask for less (fewer epochs or training examples, or a larger batch)" if what == "training" else ""
    free, without = QUOTA_SECONDS["free account"] // 60, QUOTA_SECONDS["without an account"] // 60
    sign_in = (
        f"sign in to Hugging Face and reload this page (a free account has {free} minutes a day, {without} without one)"
    )
    if text.startswith("No GPU was available"):  # none free now, or none after a wait in ZeroGPU's line
        return f"No GPU was free on ZeroGPU for this {what}: they were all busy. " + you_can(
            "try again in a minute (visitors signed in to Hugging Face get a higher priority in ZeroGPU's line)", LOCAL
        )
    if text.startswith("The requested GPU duration"):
        return f"This {what} asks ZeroGPU for {asked(seconds)} s of GPU time, more than it lends at once. " + you_can(
            less, LOCAL
        )
    if "ZeroGPU credits allocated to running tasks" in text:
        return "ZeroGPU is still counting the GPU time of your other tasks that are running. " + you_can(
            "try again when they have ended", LOCAL
        )
    if "ZeroGPU runs limit" in text:
        return f"ZeroGPU refused this {what}: you have started as many GPU tasks as it allows for now. " + you_can(
            "try again later", LOCAL
        )
    if "has reached its GPU limit" in text:  # a visitor ZeroGPU cannot tell: no X-IP-Token came with the request
        return (
            f"ZeroGPU refused this {what}: the GPU time it lends to visitors it cannot identify is used up for "
            "now. "
            + you_can(
                "open this page signed in to Hugging Face for a quota of your own (an API call: "
                "with a Hugging Face token)",
                "try again later",
                LOCAL,
            )
        )
    if (figures := re.search(r"ZeroGPU quota \((\d+)s requested vs\. (\d+)s left\)", text)) is None:
        return None
    wait = re.search(r"Try again in ([\w:, ]+)", text)
    signed_in = "free ZeroGPU quota" in text or "Pro ZeroGPU quota" in text
    return (
        f"ZeroGPU refused this {what}: it asks for {figures[1]} s of GPU time, and your daily quota has "
        f"{figures[2]} s left{f' (try again in {wait[1].strip()})' if wait else ''}. "
        + you_can("" if signed_in else sign_in, less, "try again later", LOCAL)
    )


def model_from(weights: dict) -> torch.nn.Module:
    """The network with weights from a GPU run, on the CPU, in eval mode."""
    model = seeded_model(0)
    model.load_state_dict(weights)
    return model.eval()
