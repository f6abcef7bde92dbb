"""Variants of the Train tab's settings, each from several seeds, trained as the page trains them
(src.training.gpu.train_run): validation accuracy (what chooses), then test accuracy (read afterwards), and the
seconds each run took.

    python -m bench.recipe_sweep "epochs=5, learning_rate=2.5e-2" "epochs=4, learning_rate=2e-2" [--seeds 0,1,2]

Each variant is a comma-separated list of the page's settings (epochs, batch_size, learning_rate, augment,
max_examples) that replace its defaults (src.training.recipes.FAST).
"""

import argparse
import time

import numpy as np
import torch

from src.settings import DATA_DIR
from src.training.gpu import train_run
from src.training.recipes import FAST

DEFAULTS = dict(
    epochs=FAST.epochs, batch_size=FAST.batch_size, learning_rate=FAST.lr, augment=FAST.augment, max_examples=None
)


def variant(text: str) -> dict:
    """ "epochs=5, learning_rate=2.5e-2" -> the page's settings with those two replaced, typed as the defaults."""
    settings = dict(DEFAULTS)
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, value = (s.strip() for s in part.split("="))
        kind = type(DEFAULTS[name]) if DEFAULTS[name] is not None else int
        settings[name] = value.lower() in ("1", "true", "yes") if kind is bool else kind(float(value))
    return settings


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("variants", nargs="+", help='e.g. "epochs=5, lr=2.5e-2"')
    p.add_argument("--seeds", default="0,1,2")
    args = p.parse_args()
    torch.set_num_threads(1)  # as the app serves; train_run takes the training threads itself
    seeds = [int(s) for s in args.seeds.split(",")]
    print("| variant of FAST | validation, mean | validation per seed | test per seed | seconds per run |")
    print("| --- | ---: | --- | --- | --- |")
    for text in args.variants:
        val, test, seconds = [], [], []
        for seed in seeds:
            settings, started = variant(text), time.perf_counter()
            steps = list(train_run(**settings, seed=seed, data_dir=DATA_DIR, stop=None))
            seconds.append(time.perf_counter() - started)
            val.append([s[1] for s in steps if s[0] == "epoch"][-1]["val_acc"])
            test.append(steps[-1][2])
        print(
            f"| {text} | {np.mean(val):.3f}% | {', '.join(f'{v:.2f}' for v in val)} | "
            f"{', '.join(f'{t:.2f}' for t in test)} | {', '.join(f'{s:.0f}' for s in seconds)} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
