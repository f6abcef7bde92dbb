"""The training loop: one generator that yields one record per epoch, and the one training step.

`train.py` prints the records and the Train tab plots them; both drive this same generator.

    for record in train_epochs(model, data, FAST, pools):
        print(record)   # {"epoch": 1, "train_loss": ..., "val_loss": ..., "val_acc": ..., "seconds": ...}

The long recipe, Recipe(), first trains three teachers with the same loop (train_teachers); the
network then learns from their mean answer as well as from the labels (knowledge distillation):

    teachers = train_teachers(data, Recipe(), pools)
    for record in train_epochs(model, data, Recipe(), pools, teachers=teachers): ...

`pools` (src.data.synthetic.cached_training_pools) adds to every batch some drawn digits, synthetic ones and
MNIST training images as the app reads them from a drawing, so that the network reads drawings as well as
MNIST's pen strokes, and some drawings that are not digits, with a loss that
keeps the network from being sure of any digit for them (outlier exposure, Hendrycks et al. 2019, with
the energy-margin loss of Liu et al. 2020; see train_step). That is what lets src/model/novelty.py tell
"not a digit" from the network's own confidence.

A `threading.Event` passed as `stop` halts training between two batches; the model then holds the
weights of the last completed epoch.
"""

import copy
import functools
import math
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from src import settings
from src.data.mnist import MNISTData, Split
from src.model.network import TutorialCNN
from src.training import kernels

PRECISIONS = ("auto", "bf16", "fp32")


@dataclass
class Recipe:
    """The default recipe; `python train.py` with no flags trains exactly this."""

    epochs: int = 30
    batch_size: int = 128
    lr: float = 5e-3  # the peak of the one-cycle schedule
    weight_decay: float = 1e-4
    augment: bool = True
    seed: int = 0
    drawn_per_batch: int = 32  # drawn digits added to every batch: synthetic ones and MNIST's as drawn (0: none)
    outliers_per_batch: int = 32  # synthetic non-digits added to every batch (0: no outlier exposure)
    outlier_weight: float = 0.02  # weight of the energy-margin loss (0: no outlier exposure)
    energy_digits: float = -10.0  # digits' energy (-logsumexp of the logits) is pushed below this ...
    energy_outliers: float = -5.0  # ... and non-digits' above this
    # "fp32", "bf16", or "auto" (bf16 on a CPU that computes it natively); this recipe stays fp32 (docs/model.md)
    precision: str = "fp32"
    # Knowledge distillation: `teachers` networks trained first with this recipe from other seeds (train_teachers)
    teachers: int = 3
    distill_weight: float = 0.5  # the share of the digits' loss that comes from the teachers
    distill_temperature: float = 2.0  # the softmax temperature at which the network matches the teachers

    def to_dict(self):
        return asdict(self)

    def at_batch_size(self, batch_size: int) -> "Recipe":
        """This recipe at another batch size, its synthetic drawings per batch scaled to keep their share."""

        def scaled(count):
            return max(1, round(count * batch_size / self.batch_size)) if count else 0

        return replace(
            self,
            batch_size=batch_size,
            drawn_per_batch=scaled(self.drawn_per_batch),
            outliers_per_batch=scaled(self.outliers_per_batch),
        )

    def teacher_recipes(self) -> list["Recipe"]:
        """This recipe's teachers: the same recipe without teachers, from seeds seed, seed + 10, seed + 20, ..."""
        return [replace(self, seed=self.seed + 10 * k, teachers=0) for k in range(self.teachers)]

    def resolved(self, device) -> "Recipe":
        """This recipe with "auto" precision replaced by what `device` will use, as a checkpoint records it."""
        return replace(self, precision="bf16" if compute_dtype(self.precision, device) == torch.bfloat16 else "fp32")


# The Train tab's default: a good model while a visitor waits (how it was chosen: docs/model.md).
FAST = Recipe(
    epochs=5,
    batch_size=384,
    lr=3e-2,
    augment=False,
    drawn_per_batch=24,
    outliers_per_batch=48,
    precision="auto",
    teachers=0,
)


@contextmanager
def threads_for_training():
    """PyTorch's CPU threads set to training_threads() for the duration (the app serves with one)."""
    before = torch.get_num_threads()
    torch.set_num_threads(training_threads())
    try:
        yield
    finally:
        torch.set_num_threads(before)


def training_threads() -> int:
    """CPU threads for a training: all cores up to 4. This network's convolutions on a batch of a few hundred
    28x28 images are too small to keep more threads busy; measured on 2 cores only (bench/train_speed.py)."""
    return max(1, min(os.cpu_count() or 1, 4))


def seeded_generator(seed: int, device="cpu") -> torch.Generator:
    """The one seeding helper: sets PyTorch's global seed (initial weights) and returns a generator seeded
    the same way for the random streams of training (shuffling, augmentation, synthetic picks)."""
    torch.manual_seed(seed)
    return torch.Generator(device=device).manual_seed(seed)


def seeded_model(seed: int) -> TutorialCNN:
    """A new TutorialCNN whose initial weights come from `seed`."""
    seeded_generator(seed)
    return TutorialCNN()


@functools.lru_cache(maxsize=1)
def native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX): oneDNN's bf16 convolutions are then about
    twice as fast as fp32 ones for this network. On other CPUs bf16 would be emulated, so training stays fp32."""
    try:
        return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    except AttributeError:  # a PyTorch without these probes
        return False


def compute_dtype(precision: str, device) -> torch.dtype:
    """The dtype the network's convolutions and linear layer compute in during training (torch.autocast); the
    weights, the optimizer and the loss stay fp32. "auto" is bf16 on a CPU that computes it natively (measured:
    bench/train_speed.py) and fp32 elsewhere, CUDA included (not measured there)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be auto, bf16 or fp32, not {precision!r}")
    device = torch.device(device)
    if precision == "auto":
        return torch.bfloat16 if device.type == "cpu" and native_bf16() else torch.float32
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported(including_emulation=False):
        raise ValueError("--precision bf16 was asked for, but this GPU does not compute bf16.")
    return torch.bfloat16 if precision == "bf16" else torch.float32


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but PyTorch sees no CUDA GPU here.")
    return device


def _max3x3(x: torch.Tensor) -> torch.Tensor:
    """3x3 grey-scale dilation as four element-wise maxima of shifted copies (much faster than max_pool2d on CPU)."""
    p = F.pad(x, (1, 1, 0, 0))
    x = torch.maximum(torch.maximum(p[..., :-2], p[..., 1:-1]), p[..., 2:])
    p = F.pad(x, (0, 0, 1, 1))
    return torch.maximum(torch.maximum(p[..., :-2, :], p[..., 1:-1, :]), p[..., 2:, :])


def _base_grid(h: int, w: int, device) -> torch.Tensor:
    """(h*w, 3) homogeneous pixel-centre coordinates in [-1, 1], as F.affine_grid uses with align_corners=False."""
    ys = (torch.arange(h, device=device) * 2 + 1) / h - 1
    xs = (torch.arange(w, device=device) * 2 + 1) / w - 1
    return torch.stack([xs.repeat(h), ys.repeat_interleave(w), torch.ones(h * w, device=device)], dim=1)


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random rotation (±12°), scale (0.85–1.15), shear, shift (±2.5 px) and stroke width, batched on the device.

    Drawings differ from MNIST in slant, size, placement and brush width; this teaches the
    network to shrug those off. `images` is (N, 1, 28, 28) float in [0, 1].
    """
    n, _, h, w = images.shape
    device = images.device

    def uniform(low, high):
        return torch.rand(n, device=device, generator=generator) * (high - low) + low

    angle = uniform(-12, 12) * math.pi / 180
    scale = uniform(0.85, 1.15)
    shear = uniform(-0.15, 0.15)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [
            torch.stack([cos, -sin + shear * cos, uniform(-2.5, 2.5) * 2 / w], dim=1),
            torch.stack([sin, cos + shear * sin, uniform(-2.5, 2.5) * 2 / h], dim=1),
        ],
        dim=1,
    )
    # Equal to F.affine_grid(theta, ...), which is several times slower on CPU.
    grid = torch.matmul(_base_grid(h, w, device), theta.transpose(1, 2)).view(n, h, w, 2)
    images = F.grid_sample(images, grid, align_corners=False, padding_mode="zeros")
    # Stroke width: thicken a quarter of the batch, thin another quarter.
    width = torch.rand(n, 1, 1, 1, device=device, generator=generator)
    images = torch.where(width < 0.25, 0.5 * (images + _max3x3(images)), images)
    images = torch.where(width > 0.75, 0.5 * (images - _max3x3(-images)), images)
    return images


@dataclass
class Pools:
    """Synthetic training images on the training device: drawn digits (uint8 (N, 28, 28)) with labels, and
    non-digits (uint8 (M, 28, 28)). From src.data.synthetic.training_pools."""

    drawn: torch.Tensor
    labels: torch.Tensor
    outliers: torch.Tensor

    @classmethod
    def from_numpy(cls, drawn, labels, outliers, device="cpu"):
        return cls(*(torch.from_numpy(a).to(device) for a in (drawn, labels, outliers)))

    def mix(self, x, labels, config: "Recipe", generator: torch.Generator, augmented: bool):
        """Append drawn digits (with their labels) and then non-digits (no labels) to a batch of float images."""

        def pick(images, n):
            i = torch.randint(len(images), (n,), device=images.device, generator=generator)
            picked = images[i].unsqueeze(1).float().div_(255)
            return (augment(picked, generator) if augmented else picked), i

        extra = []
        if config.drawn_per_batch and len(self.drawn):
            drawn, i = pick(self.drawn, config.drawn_per_batch)
            extra.append(drawn)
            labels = torch.cat([labels, self.labels[i]])
        if config.outliers_per_batch and config.outlier_weight and len(self.outliers):
            extra.append(pick(self.outliers, config.outliers_per_batch)[0])
        return torch.cat([x, *extra]), labels


def train_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    labels: torch.Tensor,
    config: Recipe,
    teachers: list[TutorialCNN] = (),
) -> torch.Tensor:
    """One optimisation step on float [0, 1] images `x` (N, 1, 28, 28); returns the digits' cross-entropy.

    The first len(labels) rows are digits (cross-entropy). Any rows after them are non-digits: outlier
    exposure with the energy-margin loss of Liu et al. (2020), E = -logsumexp(logits), weighted by
    config.outlier_weight: relu(E_digit - energy_digits)^2 + relu(energy_outliers - E_nondigit)^2. It asks
    only that digits be confidently some digit and non-digits be no digit at all, which costs the small
    network less accuracy than pulling non-digits' probabilities to uniform.

    With `teachers` (trained networks, train_teachers), the digits' loss becomes (1 - w) * cross-entropy
    + w * T^2 * KL(the teachers' mean softmax(logits / T) || the network's softmax(logits / T)), with
    w = config.distill_weight and T = config.distill_temperature. The teachers see the same augmented batch.

    The network runs in compute_dtype(config.precision) under torch.autocast; the losses are fp32.
    """
    device_type = x.device.type
    dtype = compute_dtype(config.precision, x.device)
    with torch.autocast(device_type, dtype=dtype, enabled=dtype != torch.float32):
        logits = model(x)
    logits = logits.float()
    n = len(labels)
    loss = F.cross_entropy(logits[:n], labels)
    total = loss
    if teachers:
        t = config.distill_temperature
        with torch.inference_mode(), torch.autocast(device_type, dtype=dtype, enabled=dtype != torch.float32):
            target = torch.stack([F.softmax(m(x[:n]).float() / t, dim=1) for m in teachers]).mean(0)
        # clone(): a tensor made under inference_mode cannot be saved for the backward pass.
        distill = F.kl_div(F.log_softmax(logits[:n] / t, dim=1), target.clone(), reduction="batchmean") * t * t
        total = (1 - config.distill_weight) * loss + config.distill_weight * distill
    if len(x) > n and config.outlier_weight:
        energy = -torch.logsumexp(logits, dim=1)
        total = total + config.outlier_weight * (
            F.relu(energy[:n] - config.energy_digits).pow(2).mean()
            + F.relu(config.energy_outliers - energy[n:]).pow(2).mean()
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
def evaluate(model: torch.nn.Module, split: Split, batch_size: int = 256) -> tuple[float, float]:
    """(mean cross-entropy, accuracy in percent) of `model` on `split`. Batches of 256 stay in the CPU's
    cache: twice as fast as 2,000 here (0.21 s against 0.46 s for 12,000 images on 2 cores)."""
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
    config: Recipe,
    pools: Pools | None = None,
    stop: threading.Event | None = None,
    progress: Callable[..., Iterable] = _no_progress,
    teachers: list[TutorialCNN] = (),
) -> Iterator[dict]:
    """Train `model` in place, yielding {epoch, train_loss, val_loss, val_acc, seconds} after each epoch.

    `pools` (on the training device) mixes synthetic drawn digits and non-digits into every batch, as
    `config` says; without it, training sees MNIST alone. `train_loss` is the digits' cross-entropy.

    A recipe with config.teachers > 0 needs that many trained `teachers` (train_teachers), or ValueError.

    `progress` wraps each epoch's batch iterator (tqdm, gr.Progress().tqdm, ...) to show progress
    within the epoch. If `stop` is set, training halts before the next batch, the model is put back to
    its weights at the end of the last completed epoch and the generator returns.
    """
    if len(teachers) != config.teachers:
        raise ValueError(
            f"this recipe learns from {config.teachers} teachers (train_teachers), but {len(teachers)} were given"
        )
    device = data.train.images.device
    generator = seeded_generator(config.seed, device)
    model.to(device=device, memory_format=torch.channels_last).train()
    for teacher in teachers:
        teacher.to(device=device, memory_format=torch.channels_last)
    networks = [model, *teachers]  # the teachers answer every step: the kernels serve them too
    for network in networks:
        accelerate(network)
    try:
        yield from _epochs(model, data, config, pools, stop, progress, teachers, generator)
    finally:
        for network in networks:  # the caller gets plain networks back: reading never runs the kernels
            kernels.uninstall(network)


def _epochs(model, data, config, pools, stop, progress, teachers, generator) -> Iterator[dict]:
    """train_epochs' loop, for networks on their device with the kernels installed where they serve."""
    device = data.train.images.device
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=device.type == "cuda"
    )
    steps_per_epoch = math.ceil(len(data.train) / config.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, epochs=config.epochs, steps_per_epoch=steps_per_epoch
    )
    completed = {k: v.clone() for k, v in model.state_dict().items()}

    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        total_loss = torch.zeros((), device=device)
        seen = 0
        epoch_batches = progress(
            training_batches(data.train, config.batch_size, generator, config.augment),
            total=steps_per_epoch,
            desc=f"epoch {epoch}",
        )
        for x, labels in epoch_batches:
            if stop is not None and stop.is_set():
                model.load_state_dict(completed)
                return
            if pools is not None:
                x, labels = pools.mix(x, labels, config, generator, config.augment)
            loss = train_step(model, optimizer, x, labels, config, teachers)
            scheduler.step()
            total_loss += loss.detach() * len(labels)
            seen += len(labels)
        val_loss, val_acc = evaluate(model, data.val)
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
    config: Recipe,
    pools: Pools | None = None,
    progress: Callable[..., Iterable] = _no_progress,
    report: Callable[[int, dict], None] | None = None,
) -> list[TutorialCNN]:
    """The config.teachers teachers of `config`, each trained with its config.teacher_recipes() recipe on the
    same data as the network that will learn from them; frozen, in eval mode. report(k, record) after each of
    teacher k's epochs (k from 1)."""
    teachers = []
    for k, recipe in enumerate(config.teacher_recipes(), start=1):
        teacher = seeded_model(recipe.seed)
        for record in train_epochs(teacher, data, recipe, pools, progress=progress):
            if report is not None:
                report(k, record)
        teachers.append(teacher.eval().requires_grad_(False))
    return teachers


# --------------------------------------------------------------------------------------------- fine-tuning
# fine_tune trains a COPY of the model (the live one is untouched) for `epochs` x STEPS_PER_EPOCH small
# steps; every batch holds CORRECTIONS_PER_BATCH corrections (src/web/corrections.py; drawn with replacement,
# so a handful of samples is oversampled, and augmented so the model learns the style, not the exact
# pixels), MNIST_PER_BATCH augmented MNIST training images and, with `pools`, OUTLIERS.outliers_per_batch
# non-digits, at a small learning rate, so that it forgets neither MNIST nor what is not a digit. The report
# gives accuracy (percent) before and after on the corrections, on MNIST validation and on MNIST test, and
# the seconds it took. `stop` (a threading.Event) ends training early, between steps.
STEPS_PER_EPOCH = 50
CORRECTIONS_PER_BATCH = 32
MNIST_PER_BATCH = 96
LR = 5e-4
OUTLIERS = Recipe(drawn_per_batch=0, outliers_per_batch=32, teachers=0)  # non-digits mixed into each fine-tuning batch


def _accuracy(model, images_uint8: np.ndarray, labels: np.ndarray) -> float | None:
    if len(labels) == 0:
        return None
    return round(evaluate(model, Split(torch.from_numpy(images_uint8), torch.from_numpy(labels)))[1], 2)


def fine_tune(
    model: torch.nn.Module,
    corrections: tuple[np.ndarray, np.ndarray],
    mnist_data: MNISTData,
    pools: Pools | None = None,
    epochs: int = 3,
    stop: threading.Event | None = None,
    seed: int = 0,
    evaluate_test: bool = True,
) -> tuple[torch.nn.Module, dict]:
    """(a fine-tuned copy of `model`, report); see the module docstring. `corrections` is what load() returns
    (uint8 or float [0, 1] images)."""
    images, labels = corrections
    images = np.asarray(images)
    if images.dtype != np.uint8:
        images = (np.clip(images, 0, 1) * 255 + 0.5).astype(np.uint8)
    labels = np.asarray(labels, np.int64)
    if len(labels) == 0:
        raise ValueError("there are no corrections to learn from")
    started = time.perf_counter()
    generator = seeded_generator(seed)
    new = accelerate(copy.deepcopy(model).cpu().train())
    corr_x = torch.from_numpy(images).float().div_(255).unsqueeze(1)
    corr_y = torch.from_numpy(labels)
    train = mnist_data.train.to("cpu")

    def scores(m):
        out = {
            "corrections": _accuracy(m, images, labels),
            "mnist_val": round(evaluate(m, mnist_data.val.to("cpu"))[1], 2),
        }
        if evaluate_test:
            out["mnist_test"] = round(evaluate(m, mnist_data.test.to("cpu"))[1], 2)
        return out

    before = scores(model)
    optimizer = torch.optim.AdamW(new.parameters(), lr=LR, weight_decay=1e-4)
    steps, total = 0, epochs * STEPS_PER_EPOCH
    while steps < total and not (stop is not None and stop.is_set()):
        ci = torch.randint(len(corr_y), (CORRECTIONS_PER_BATCH,), generator=generator)
        mi = torch.randint(len(train), (MNIST_PER_BATCH,), generator=generator)
        x = augment(torch.cat([corr_x[ci], train.images[mi].unsqueeze(1).float().div_(255)]), generator)
        y = torch.cat([corr_y[ci], train.labels[mi]])
        if pools is not None:  # keep the non-digits in view, so that "is it a digit?" still works afterwards
            x, y = pools.mix(x, y, OUTLIERS, generator, augmented=True)
        train_step(new, optimizer, x, y, OUTLIERS)
        steps += 1
    new.eval()
    train_seconds = time.perf_counter() - started
    report = {
        "before": before,
        "after": scores(new),
        "corrections": int(len(labels)),
        "steps": steps,
        "stopped": steps < total,
        "seconds": round(train_seconds, 2),
    }
    return kernels.uninstall(new), report
