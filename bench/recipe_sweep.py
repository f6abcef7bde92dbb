"""Variants of the Train tab's recipe (src.training.loop.FAST), each from several seeds: validation accuracy (what
chooses), then test accuracy (read afterwards), and the seconds each run took.

    python -m bench.recipe_sweep "epochs=5, lr=2.5e-2" "epochs=4, lr=2e-2" [--seeds 0,1,2]

Each variant is a comma-separated list of TrainConfig fields that replace FAST's.
"""

import argparse
import time
from dataclasses import replace

import numpy as np
import torch

from src import config
from src.data.mnist import load_mnist
from src.data.synthetic import cached_training_pools
from src.training.loop import FAST, Pools, evaluate, seeded_model, train_epochs, training_threads


def variant(text: str) -> dict:
    """"epochs=5, lr=2.5e-2" -> {"epochs": 5, "lr": 0.025}, typed as FAST's own fields."""
    fields = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, value = (s.strip() for s in part.split("="))
        kind = type(getattr(FAST, name))
        fields[name] = value.lower() in ("1", "true", "yes") if kind is bool else kind(float(value)) if kind is int else kind(value)
    return fields


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("variants", nargs="+", help='e.g. "epochs=5, lr=2.5e-2"')
    p.add_argument("--seeds", default="0,1,2")
    args = p.parse_args()
    torch.set_num_threads(training_threads())
    data = load_mnist(config.DATA_DIR)
    pools = Pools.from_numpy(*cached_training_pools(config.DATA_DIR, mnist=data.train))
    seeds = [int(s) for s in args.seeds.split(",")]
    print("| variant of FAST | validation, mean | validation per seed | test per seed | seconds per run |")
    print("| --- | ---: | --- | --- | --- |")
    for text in args.variants:
        val, test, seconds = [], [], []
        for seed in seeds:
            model, started = seeded_model(seed), time.perf_counter()
            records = list(train_epochs(model, data, replace(FAST, seed=seed, **variant(text)), pools))
            seconds.append(time.perf_counter() - started)
            val.append(records[-1]["val_acc"])
            test.append(evaluate(model, data.test)[1])
        print(f"| {text} | {np.mean(val):.3f}% | {', '.join(f'{v:.2f}' for v in val)} | "
              f"{', '.join(f'{t:.2f}' for t in test)} | {', '.join(f'{s:.0f}' for s in seconds)} |", flush=True)


if __name__ == "__main__":
    main()
