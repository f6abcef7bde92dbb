"""The training loop: one generator that yields one record per epoch, the one training step, the teachers, and
a model's loss and accuracy on a split.

`train.py` prints the records and the Train tab plots them; both drive this same generator.

    for record in train_epochs(model, data, FAST, pools):
        print(record)   # {"epoch": 1, "train_loss": ..., "val_loss": ..., "val_acc": ..., "seconds": ...}

The long recipe, Recipe(), first trains three teachers with the same loop (train_teachers); the
network then learns from their mean answer as well as from the labels (knowledge distillation):

    teachers = train_teachers(data, Recipe(), pools)
    for record in train_epochs(model, data, Recipe(), pools, teachers=teachers): ...

`pools` (a Pools of src.data.pools.cached_training_pools) adds to every batch some drawn digits,
synthetic ones and MNIST training images as the app reads them from a drawing, so that the network reads
drawings as well as MNIST's pen strokes, and some drawings that are not digits, with a loss that keeps the
network from being sure of any digit for them (outlier exposure, Hendrycks et al. 2019, with the
energy-margin loss of Liu et al. 2020; see train_step). That is what lets src/model/novelty.py tell
"not a digit" from the network's own confidence.

A `threading.Event` passed as `stop` halts training between two batches; the model then holds the
weights of the last completed epoch.
"""

import math
import threading
import time
from typing import Callable, Iterable, Iterator

import torch
import torch.nn.functional as F

from src import settings
from src.data.mnist import MNISTData, Split
from src.model.network import TutorialCNN
from src.training import kernels
from src.training.augment import Pools, augment
from src.training.hardware import compute_dtype
from src.training.recipes import Recipe, seeded_generator, seeded_model


def train_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    labels: torch.Tensor,
    recipe: Recipe,
    teachers: list[TutorialCNN] = (),
) -> torch.Tensor:
    """One optimisation step on float [0, 1] images `x` (N, 1, 28, 28); returns the digits' cross-entropy.

    The first len(labels) rows are digits (cross-entropy). Any rows after them are non-digits: outlier
    exposure with the energy-margin loss of Liu et al. (2020), E = -logsumexp(logits), weighted by
    recipe.outlier_weight: relu(E_digit - energy_digits)^2 + relu(energy_outliers - E_nondigit)^2. It asks
    only that digits be confidently some digit and non-digits be no digit at all, which costs the small
    network less accuracy than pulling non-digits' probabilities to uniform.

    With `teachers` (trained networks, train_teachers), the digits' loss becomes (1 - w) * cross-entropy
    + w * T^2 * KL(the teachers' mean softmax(logits / T) || the network's softmax(logits / T)), with
    w = recipe.distill_weight and T = recipe.distill_temperature. The teachers see the same augmented batch.

    The network runs in compute_dtype(recipe.precision) under torch.autocast; the losses are fp32.
    """
    device_type = x.device.type
    dtype = compute_dtype(recipe.precision, x.device)
    with torch.autocast(device_type, dtype=dtype, enabled=dtype != torch.float32):
        logits = model(x)
    logits = logits.float()
    n = len(labels)
    loss = F.cross_entropy(logits[:n], labels)
    total = loss
    if teachers:
        t = recipe.distill_temperature
        with torch.inference_mode(), torch.autocast(device_type, dtype=dtype, enabled=dtype != torch.float32):
            target = torch.stack([F.softmax(m(x[:n]).float() / t, dim=1) for m in teachers]).mean(0)
        # clone(): a tensor made under inference_mode cannot be saved for the backward pass.
        distill = F.kl_div(F.log_softmax(logits[:n] / t, dim=1), target.clone(), reduction="batchmean") * t * t
        total = (1 - recipe.distill_weight) * loss + recipe.distill_weight * distill
    if len(x) > n and recipe.outlier_weight:
        energy = -torch.logsumexp(logits, dim=1)
        total = total + recipe.outlier_weight * (
            F.relu(energy[:n] - recipe.energy_digits).pow(2).mean()
            + F.relu(recipe.energy_outliers - energy[n:]).pow(2).mean()
        )
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    optimizer.step()
    return loss.detach()


def batches(split: Split, batch_size: int):
    """(uint8 images (B, 1, 28, 28), labels) batches in order, sliced from the in-memory tensors."""
    for start in range(0, len(split), batch_size):
        yield split.images[start : start + batch_size].unsqueeze(1), split.labels[start : start + batch_size]


def training_batches(split: Split, batch_size: int, generator: torch.Generator, augmented: bool):
    """Shuffled (images float [0, 1] (B, 1, 28, 28), labels) batches for one epoch, augmented when asked.

    On the CPU each batch is augmented as it is drawn (a small batch stays in cache). On a GPU the whole
    epoch is augmented up front in a few large calls, because hundreds of small kernel launches per epoch
    would cost more than the arithmetic.
    """
    order = torch.randperm(len(split), device=split.labels.device, generator=generator)
    images, labels = split.images[order].unsqueeze(1), split.labels[order]
    upfront = augmented and images.is_cuda
    if upfront:
        images = torch.cat([augment(chunk.float().div_(255), generator) for chunk in images.split(8192)])
    for start in range(0, len(labels), batch_size):
        x = images[start : start + batch_size]
        if not upfront:
            x = x.float().div_(255)
            if augmented:
                x = augment(x, generator)
        yield x, labels[start : start + batch_size]


@torch.inference_mode()
def loss_and_accuracy(model: torch.nn.Module, split: Split, batch_size: int = 256) -> tuple[float, float]:
    """(mean cross-entropy, accuracy in percent) of `model` on `split`, in batches small enough to stay in the
    CPU's cache (docs/kernels.md)."""
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    for images, labels in batches(split, batch_size):
        logits = model(images)
        total_loss += F.cross_entropy(logits, labels, reduction="sum").item()
        correct += (logits.argmax(1) == labels).sum().item()
    model.train(was_training)
    return total_loss / len(split), 100.0 * correct / len(split)


def accelerate(model: TutorialCNN) -> TutorialCNN:
    """`model` with numba's CPU kernels installed (src/training/kernels.py) if it lives on the CPU and
    settings.CPU_KERNELS is on: the same function, a faster training."""
    if settings.CPU_KERNELS and next(model.parameters()).device.type == "cpu":
        kernels.install(model)  # compiles them first (a few seconds, once), before the first epoch's clock
    return model


def _no_progress(iterable: Iterable, **_) -> Iterable:
    return iterable


def train_epochs(
    model: torch.nn.Module,
    data: MNISTData,
    recipe: Recipe,
    pools: Pools | None = None,
    stop: threading.Event | None = None,
    progress: Callable[..., Iterable] = _no_progress,
    teachers: list[TutorialCNN] = (),
) -> Iterator[dict]:
    """Train `model` in place, yielding {epoch, train_loss, val_loss, val_acc, seconds} after each epoch.

    `pools` (on the training device) mixes synthetic drawn digits and non-digits into every batch, as
    `recipe` says; without it, training sees MNIST alone. `train_loss` is the digits' cross-entropy.

    A recipe with teachers > 0 needs that many trained `teachers` (train_teachers), or ValueError.

    `progress` wraps each epoch's batch iterator (tqdm, gr.Progress().tqdm, ...) to show progress
    within the epoch. If `stop` is set, training halts before the next batch, the model is put back to
    its weights at the end of the last completed epoch and the generator returns.
    """
    if len(teachers) != recipe.teachers:
        raise ValueError(
            f"this recipe learns from {recipe.teachers} teachers (train_teachers), but {len(teachers)} were given"
        )
    device = data.train.images.device
    generator = seeded_generator(recipe.seed, device)
    model.to(device=device, memory_format=torch.channels_last).train()
    for teacher in teachers:
        teacher.to(device=device, memory_format=torch.channels_last)
    networks = [model, *teachers]  # the teachers answer every step: the kernels serve them too
    for network in networks:
        accelerate(network)
    try:
        yield from _epochs(model, data, recipe, pools, stop, progress, teachers, generator)
    finally:
        for network in networks:  # the caller gets plain networks back: reading never runs the kernels
            kernels.uninstall(network)


def _epochs(model, data, recipe, pools, stop, progress, teachers, generator) -> Iterator[dict]:
    """train_epochs' loop, for networks on their device with the kernels installed where they serve."""
    device = data.train.images.device
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay, fused=device.type == "cuda"
    )
    steps_per_epoch = math.ceil(len(data.train) / recipe.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=recipe.lr, epochs=recipe.epochs, steps_per_epoch=steps_per_epoch
    )
    completed = {k: v.clone() for k, v in model.state_dict().items()}

    for epoch in range(1, recipe.epochs + 1):
        started = time.perf_counter()
        total_loss = torch.zeros((), device=device)
        seen = 0
        epoch_batches = progress(
            training_batches(data.train, recipe.batch_size, generator, recipe.augment),
            total=steps_per_epoch,
            desc=f"epoch {epoch}",
        )
        for x, labels in epoch_batches:
            if stop is not None and stop.is_set():
                model.load_state_dict(completed)
                return
            if pools is not None:
                x, labels = pools.mix(x, labels, recipe, generator, recipe.augment)
            loss = train_step(model, optimizer, x, labels, recipe, teachers)
            scheduler.step()
            total_loss += loss.detach() * len(labels)
            seen += len(labels)
        val_loss, val_acc = loss_and_accuracy(model, data.val)
        completed = {k: v.clone() for k, v in model.state_dict().items()}
        yield {
            "epoch": epoch,
            "train_loss": round(total_loss.item() / seen, 5),
            "val_loss": round(val_loss, 5),
            "val_acc": round(val_acc, 3),
            "seconds": round(time.perf_counter() - started, 3),
        }


def train_teachers(
    data: MNISTData,
    recipe: Recipe,
    pools: Pools | None = None,
    progress: Callable[..., Iterable] = _no_progress,
    report: Callable[[int, dict], None] | None = None,
) -> list[TutorialCNN]:
    """The recipe.teachers teachers of `recipe`, each trained with its recipe.teacher_recipes() recipe on the
    same data as the network that will learn from them; frozen, in eval mode. report(k, record) after each of
    teacher k's epochs (k from 1)."""
    teachers = []
    for k, teacher_recipe in enumerate(recipe.teacher_recipes(), start=1):
        teacher = seeded_model(teacher_recipe.seed)
        for record in train_epochs(teacher, data, teacher_recipe, pools, progress=progress):
            if report is not None:
                report(k, record)
        teachers.append(teacher.eval().requires_grad_(False))
    return teachers
