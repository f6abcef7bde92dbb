"""One training epoch: the tutorial's loop against both recipes of src/training/recipes.py, measured in the same run.

    python -m bench.train_speed [--data-dir data] [--device cpu|cuda|all] [--epochs 3]

The tutorial's loop: torchvision MNIST with ToTensor, a shuffled DataLoader at batch 64, Adam 1e-3, then a
validation pass, on a 48k/12k split, with the tutorial's network (src/model/network.py).
It is run a second time with the CPU kernels installed (src/training/kernels.py: the same function, computed
faster), so that the speed-up can be read against either.

The recipes: `src.training.loop.train_epochs` as the app runs them, with the synthetic digits and non-digits
mixed into every batch and their own validation pass:
  - fast: src.training.recipes.FAST, the Train tab's default (batch 384, no augmentation);
  - full: Recipe(), what `python train.py` trains (batch 128, augmentation), with its teachers' answers
    computed in every step (stand-ins with untrained weights here: they cost the same; the full recipe first
    trains its teachers, which bench/time_to_accuracy.py counts);
  - fast without the kernels (CPU_KERNELS off): what the kernels add, in the same run.
Each recipe computes in its own precision (printed): fast in bf16 on a CPU that computes it natively,
full in fp32.
All use src.training.hardware.training_threads() CPU threads. Data loading is excluded for all (it happens once).
Each loop runs --epochs epochs, one epoch of each loop in turn, and its fastest epoch counts (this machine
is noisy).
"""

import argparse
import os
import time
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, random_split
from torchvision import datasets, transforms

from src import settings
from src.data.mnist import load_mnist
from src.data.pools import cached_training_pools
from src.model.network import TutorialCNN
from src.training import kernels
from src.training.augment import Pools
from src.training.hardware import compute_dtype, training_threads
from src.training.loop import train_epochs, train_teachers
from src.training.recipes import FAST, Recipe

TUTORIAL, WITH_KERNELS = "tutorial loop", "tutorial loop with the CPU kernels (src/training/kernels.py)"
RECIPES = {"fast (Train tab)": FAST, "full (train.py)": Recipe()}
WITHOUT_KERNELS = "fast (Train tab) without the CPU kernels"
# The fast recipe once more in fp32, timed only here: what bf16 adds on this CPU, in the same run.
FAST_FP32 = replace(FAST, precision="fp32")


def sync(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def tutorial_epochs(data_dir: str, device: torch.device, epochs: int, seed: int = 0, with_kernels: bool = False):
    """The tutorial's recipe, one epoch at a time (train on 48k, validate on 12k): yields (seconds, model)."""
    torch.manual_seed(seed)
    ds = datasets.MNIST(data_dir, train=True, download=True, transform=transforms.ToTensor())
    train_set, val_set = random_split(ds, [48000, 12000], generator=torch.Generator().manual_seed(seed))
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
    val_loader = DataLoader(val_set, batch_size=64)
    model = TutorialCNN().to(device)
    if with_kernels:
        kernels.install(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            for images, labels in val_loader:
                model(images.to(device)).argmax(1).eq(labels.to(device)).sum().item()
        sync(device)
        yield time.perf_counter() - start, model


def recipe_epochs(
    data,
    pools,
    recipe: Recipe,
    device: torch.device,
    epochs: int | None = None,
    teachers: list | None = None,
    with_kernels: bool = True,
):
    """A recipe of src/training/recipes.py as the app runs it, one epoch at a time: yields (seconds, model). With
    `epochs`, only the first ones of the recipe's schedule. A recipe with teachers first trains them
    (train_teachers), and the first epoch's seconds include that, unless `teachers` are given. `with_kernels`
    sets settings.CPU_KERNELS for this recipe's training (read when its first epoch starts)."""
    model = TutorialCNN()
    settings.CPU_KERNELS = with_kernels
    start = time.perf_counter()
    if teachers is None:
        teachers = train_teachers(data, recipe, pools)
    for i, _ in enumerate(train_epochs(model, data, recipe, pools, teachers=teachers), start=1):
        sync(device)
        yield time.perf_counter() - start, model
        if epochs is not None and i >= epochs:
            return
        start = time.perf_counter()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=settings.DATA_DIR)
    p.add_argument("--device", default="cpu", help="cpu, cuda or all")
    p.add_argument("--epochs", type=int, default=3, help="epochs timed per loop (the fastest one counts)")
    args = p.parse_args()
    torch.set_num_threads(training_threads())
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads (training_threads), {os.cpu_count()} cores"
    )
    for name in devices:
        if name == "cuda" and not torch.cuda.is_available():
            print("cuda: not available, skipped")
            continue
        device = torch.device(name)
        label = torch.cuda.get_device_name() if name == "cuda" else "cpu"
        data = load_mnist(args.data_dir, device=device)
        pools = Pools.from_numpy(*cached_training_pools(args.data_dir, mnist=data.train), device=device)
        loops = {
            TUTORIAL: tutorial_epochs(args.data_dir, device, args.epochs),
            WITH_KERNELS: tutorial_epochs(args.data_dir, device, args.epochs, with_kernels=True),
        }
        timed = dict(RECIPES)
        if compute_dtype(FAST.precision, device) != torch.float32:
            timed["fast in fp32 (for comparison)"] = FAST_FP32
        for recipe_name, recipe in timed.items():
            # An epoch's speed does not depend on what the teachers learnt: untrained stand-ins cost the same.
            stand_ins = [
                TutorialCNN().to(device, memory_format=torch.channels_last).eval().requires_grad_(False)
                for _ in range(recipe.teachers)
            ]
            loops[f"{recipe_name}, {compute_dtype(recipe.precision, device)}"] = recipe_epochs(
                data, pools, recipe, device, args.epochs, teachers=stand_ins
            )
        if device.type == "cpu":
            loops[WITHOUT_KERNELS] = recipe_epochs(data, pools, FAST, device, args.epochs, with_kernels=False)
        # One epoch of each loop in turn, so that the machine's drift over the run hits every loop alike.
        times = {name: [] for name in loops}
        for _ in range(args.epochs):
            for name, epochs in loops.items():
                times[name].append(next(epochs)[0])
        best = {name: min(t) for name, t in times.items()}  # the first CUDA epoch includes kernel warm-up
        tutorial, with_kernels = best[TUTORIAL], best[WITH_KERNELS]
        for name, t in times.items():
            line = f"[{label}] {name}: {best[name]:.2f} s/epoch (epochs: {', '.join(f'{e:.2f}' for e in t)})"
            if not name.startswith("tutorial"):
                line += (
                    f" | speed-up {tutorial / best[name]:.2f}x "
                    f"({with_kernels / best[name]:.2f}x against the second tutorial loop)"
                )
            print(line, flush=True)


if __name__ == "__main__":
    main()
