"""The page's trainings on a GPU when there is one, as Hugging Face's ZeroGPU lends it (`@spaces.GPU`).

On ZeroGPU (SPACES_ZERO_GPU set) a `@spaces.GPU` function runs in a forked worker process: its arguments and
what it yields are pickled, nothing it changes in memory reaches the server, and a threading.Event set by the
server never reaches it. So these functions take plain settings, yield plain records and hand the weights
back on the CPU; the server (src/web/train_tab.py) saves them. Stop crosses as a file (StopFlag). Elsewhere
`@spaces.GPU` does nothing: they run in the server's own thread, on a local GPU if there is one, else the CPU.
"""

import functools
import os
import secrets
import tempfile
from dataclasses import replace
from pathlib import Path

import spaces  # Hugging Face's ZeroGPU; on any other machine its decorator returns the function as it is
import torch

from src.data.mnist import load_mnist, read_mnist
from src.data.synthetic import cached_training_pools
from src.training.loop import FAST, Pools, evaluate, fine_tune, resolve_device, seeded_model, threads_for_training, train_epochs

ZERO_GPU = os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true")
MAX_SECONDS = 20 * 60  # ZeroGPU ends a generator after 20 minutes
EXAMPLES = 48_000  # a full epoch: MNIST's training split


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


def training_seconds(epochs, batch_size, learning_rate, augment, seed, max_examples, data_dir, stop,
                     progress=None) -> int:
    """The GPU time `train_run` asks for: 30 s to start, then 2 s per full epoch (a generous guess: no GPU has
    timed this recipe yet), at most ZeroGPU's 20 minutes. A shorter request gets a visitor's turn sooner."""
    return int(min(MAX_SECONDS, 30 + 2 * epochs * min(max_examples or EXAMPLES, EXAMPLES) / EXAMPLES))


@spaces.GPU(duration=training_seconds)
def train_run(epochs, batch_size, learning_rate, augment, seed, max_examples, data_dir, stop: StopFlag,
              progress=None):
    """Train the Train tab's recipe; yields ("recipe", its settings), then ("epoch", record) after each epoch,
    then ("done", weights on the CPU or None if no epoch completed, test accuracy, test images).
    `progress` wraps each epoch's batches (src.training.loop.train_epochs); None on ZeroGPU, where it cannot cross."""
    device = resolve_device("auto")
    data = load_mnist(data_dir, device=device, seed=seed, limit=max_examples)
    pools = Pools.from_numpy(*cached_training_pools(data_dir), device=device)
    # What the page does not offer is FAST's: the precision, and the synthetic drawings' share of a batch.
    cfg = replace(FAST.at_batch_size(batch_size), epochs=epochs, lr=learning_rate, augment=augment,
                  seed=seed).resolved(device)
    yield "recipe", cfg.to_dict()
    model = seeded_model(seed)
    completed = 0
    with threads_for_training():  # the app serves with one thread; a training uses the cores
        for record in train_epochs(model, data, cfg, pools, stop=stop, **({"progress": progress} if progress else {})):
            completed += 1
            yield "epoch", record
    if not completed:
        yield "done", None, None, 0
        return
    # Always on all 10,000 test images (a run on fewer training examples has a proportional test subset),
    # so that the figure a run records is the one its evaluation (src/reading/evaluation.py) shows.
    test = data.test if max_examples is None else read_mnist(data_dir, train=False).to(device)
    _, test_acc = evaluate(model, test)
    yield "done", {k: v.detach().cpu() for k, v in model.state_dict().items()}, test_acc, len(test)


def fine_tune_seconds(weights, samples, data_dir, stop) -> int:
    return 60


@spaces.GPU(duration=fine_tune_seconds)
def fine_tune_run(weights: dict, samples, data_dir, stop: StopFlag):
    """src.training.loop.fine_tune of the model with `weights` (on the CPU: its steps are small) -> (weights, report)."""
    with threads_for_training():
        new, report = fine_tune(model_from(weights), samples, load_mnist(data_dir),
                                Pools.from_numpy(*cached_training_pools(data_dir)), stop=stop)
    return {k: v.detach().cpu() for k, v in new.state_dict().items()}, report


def model_from(weights: dict) -> torch.nn.Module:
    """The network with weights from a GPU run, on the CPU, in eval mode."""
    model = seeded_model(0)
    model.load_state_dict(weights)
    return model.eval()
