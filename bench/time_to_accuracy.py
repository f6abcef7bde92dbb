"""Time to a good model: seconds of training until MNIST test accuracy first reaches 98.5%, 99.0% and 99.3%,
for the tutorial's loop and for both recipes of src/training/recipes.py, in one run.

    python -m bench.time_to_accuracy [--data-dir data] [--tutorial-epochs 10] [--skip-full] [--fast-epochs N]
                                     [--limit N]

The loops take turns, one epoch each (bench/train_speed.py has them); after every epoch the model is scored on
the 10,000 MNIST test images, outside the clock. The clock counts what a visitor of the Train tab waits
for: the training steps and each recipe's own validation pass, not loading MNIST (the same for all).
  - tutorial loop: DataLoader, batch 64, Adam 1e-3, up to --tutorial-epochs epochs (0: left out);
  - fast: src.training.recipes.FAST, the Train tab's default (10 epochs), with and without the CPU kernels
    (src/training/kernels.py); the last line gives the ratio;
  - full: Recipe(), what `python train.py` trains for checkpoints/default: its 3 teachers (30 epochs each),
    whose time is counted in its first epoch, then the network itself (30 epochs); about 9 minutes.
All use src.training.hardware.training_threads() CPU threads.
"""

import argparse
import os

import torch

from bench.train_speed import RECIPES, WITHOUT_KERNELS, recipe_epochs, tutorial_epochs
from src import settings
from src.data.mnist import load_mnist
from src.data.pools import cached_training_pools
from src.training.augment import Pools
from src.training.hardware import training_threads
from src.training.loop import loss_and_accuracy

TARGETS = (98.5, 99.0, 99.3)


def accuracy(model, test) -> float:
    return loss_and_accuracy(model, test)[1]


def time_to(loops: dict, test, score) -> dict:
    """Run the loops' (seconds, model) epochs, one epoch of each in turn, so that the machine's drift over the
    run hits every loop alike; -> {name: ({target: seconds when first reached}, [(clock, test accuracy)])}."""
    results, running = {name: ({}, []) for name in loops}, dict(loops)
    while running:
        for name, epochs in list(running.items()):
            step = next(epochs, None)
            if step is None:
                del running[name]
                continue
            reached, curve = results[name]
            clock = (curve[-1][0] if curve else 0.0) + step[0]
            curve.append((clock, score(step[1], test)))
            for target in TARGETS:
                if curve[-1][1] >= target and target not in reached:
                    reached[target] = clock
    return results


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=settings.DATA_DIR)
    p.add_argument("--tutorial-epochs", type=int, default=10)
    p.add_argument("--skip-full", action="store_true", help="leave out the long recipe")
    p.add_argument(
        "--fast-epochs",
        type=int,
        default=None,
        help="only the first N epochs of the fast recipe's schedule (a quick check of the bench)",
    )
    p.add_argument("--limit", type=int, default=None, help="N training examples, test in proportion (a smoke run)")
    args = p.parse_args()
    torch.set_num_threads(training_threads())
    device = torch.device("cpu")
    data = load_mnist(args.data_dir, limit=args.limit)
    pools = Pools.from_numpy(*cached_training_pools(args.data_dir, mnist=data.train))
    loops = {}
    if args.tutorial_epochs:  # 0 leaves it out
        loops["tutorial loop (batch 64, Adam 1e-3)"] = tutorial_epochs(args.data_dir, device, args.tutorial_epochs)
    for name, recipe in RECIPES.items():
        if not (args.skip_full and name.startswith("full")):
            loops[name] = recipe_epochs(
                data, pools, recipe, device, args.fast_epochs if name.startswith("fast") else None
            )
    loops[WITHOUT_KERNELS] = recipe_epochs(
        data, pools, RECIPES["fast (Train tab)"], device, args.fast_epochs, with_kernels=False
    )
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, {os.cpu_count()} cores; "
        "seconds of training until MNIST test accuracy first reaches each target"
    )
    print(f"| loop | {' | '.join(f'to {t}%' for t in TARGETS)} | epochs | final test | total |")
    print("| --- | " + " | ".join("---:" for _ in TARGETS) + " | ---: | ---: | ---: |")
    results = time_to(loops, data.test, accuracy)
    for name, (reached, curve) in results.items():
        cells = " | ".join(f"{reached[t]:.1f} s" if t in reached else "not reached" for t in TARGETS)
        print(f"| {name} | {cells} | {len(curve)} | {curve[-1][1]:.2f}% | {curve[-1][0]:.1f} s |", flush=True)
    (fast, _), (plain, plain_curve) = results["fast (Train tab)"], results[WITHOUT_KERNELS]
    target = 99.0 if 99.0 in fast and 99.0 in plain else None
    speed_up = plain[target] / fast[target] if target else plain_curve[-1][0] / results["fast (Train tab)"][1][-1][0]
    print(
        f"the CPU kernels: {speed_up:.2f}x faster {'to 99.0%' if target else 'over the whole recipe'} "
        f"for the Train tab's recipe (keep them if at least 1.20x)"
    )


if __name__ == "__main__":
    main()
