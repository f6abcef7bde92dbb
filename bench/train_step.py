"""One training step, src.training.loop.train_step, on a real MNIST batch, in one run: the plain TutorialCNN
against the same network with the CPU kernels installed (src/training/kernels.py), each in fp32 and in bf16
where this CPU has it.

    python -m bench.train_step [--data-dir data] [--batch 384] [--steps 40] [--rounds 5]

The batch is the fast recipe's: --batch MNIST images plus the synthetic drawn digits and non-digits
src.training.recipes.FAST mixes in (72 for its batch of 384), channels-last, training_threads() threads.
Each variant runs --rounds rounds of --steps steps, interleaved; the median round counts.
"""

import argparse
import statistics
import time
from dataclasses import replace

import torch

from src import settings
from src.data.mnist import load_mnist
from src.data.pools import cached_training_pools
from src.model.network import TutorialCNN
from src.training import kernels
from src.training.augment import Pools
from src.training.hardware import native_bf16, training_threads
from src.training.loop import train_step
from src.training.recipes import FAST, seeded_generator


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=settings.DATA_DIR)
    p.add_argument("--batch", type=int, default=FAST.batch_size)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(training_threads())
    data = load_mnist(args.data_dir, limit=4 * args.batch)
    pools = Pools.from_numpy(*cached_training_pools(args.data_dir))
    generator = seeded_generator(0)
    x = data.train.images[: args.batch].unsqueeze(1).float() / 255
    x, labels = pools.mix(x, data.train.labels[: args.batch], FAST, generator, augmented=False)
    precisions = ["fp32", "bf16"] if native_bf16() else ["fp32"]
    variants = {}
    for name, installed in (("TutorialCNN", False), ("TutorialCNN with the CPU kernels", True)):
        for precision in precisions:
            model = TutorialCNN().to(memory_format=torch.channels_last).train()
            if installed:
                kernels.install(model)
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
            variants[f"{name}, {precision}"] = (model, optimizer, replace(FAST, precision=precision))
    times = {name: [] for name in variants}
    for round_ in range(args.rounds + 1):  # the first round warms up and is not counted
        for name, (model, optimizer, recipe) in variants.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                train_step(model, optimizer, x, labels, recipe)
            if round_:
                times[name].append((time.perf_counter() - start) / args.steps * 1000)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {len(x)} ({args.batch} MNIST + "
        f"{len(x) - args.batch} synthetic), median of {args.rounds} rounds of {args.steps} steps"
    )
    baseline = statistics.median(times[next(iter(times))])
    for name, t in times.items():
        print(f"{name}: {statistics.median(t):.1f} ms/step | {baseline / statistics.median(t):.2f}x")


if __name__ == "__main__":
    main()
