"""What a visitor waits for: the Train tab's defaults, from Start to a saved model, in tutorial epochs.

    python -m bench.train_wait [--runs 1]

It starts `python app.py` on 127.0.0.1 (folders of its own), times one epoch of the tutorial's loop (batch 64,
Adam 1e-3, bench/train_speed.py) in this process while the app is idle, then calls `/train` with the page's
defaults through gradio_client and times every status line as it streams. The wait is split into loading
(Start to the first epoch's start), training (the epochs), the "is it a digit?" statistics and saving (after the
last epoch). The synthetic pools are drawn before the clock starts, as on a server that has trained before.
"""

import argparse
import re
import tempfile
import time
from pathlib import Path

import torch

from bench.launch import client, start_app
from bench.train_speed import tutorial_epochs
from src import settings
from src.data.mnist import load_mnist
from src.data.pools import cached_training_pools
from src.training.hardware import training_threads


def tutorial_epoch(data_dir: str) -> float:
    """Seconds of one epoch of the tutorial's loop (its second: the first pays for loading)."""
    torch.set_num_threads(training_threads())
    epochs = tutorial_epochs(data_dir, torch.device("cpu"), 2)
    next(epochs)
    return next(epochs)[0]


def timed_training(url: str) -> tuple[list[tuple[float, str]], list[dict]]:
    """(seconds from Start, status line) for each new status of /train with its defaults, and its epoch records."""
    c = client(url)
    started = time.perf_counter()
    job = c.submit(api_name="/train")
    lines, seen = [], 0
    while not job.done() or seen < len(job.outputs()):
        outputs = job.outputs()
        for out in outputs[seen:]:
            if not lines or out[2] != lines[-1][1]:
                lines.append((time.perf_counter() - started, out[2]))
        seen = len(outputs)
        time.sleep(0.02)
    final = job.result()
    table = final[1]
    records = [dict(zip(table["headers"], row)) for row in table["data"]]
    return lines, records


def split(lines: list[tuple[float, str]], records: list[dict]) -> dict:
    """Loading, training, statistics and saving, in seconds, from the status lines and the epochs' own seconds."""
    epoch_lines = [t for t, text in lines if text.startswith("Epoch ")]
    fitting = next(t for t, text in lines if text.startswith("Fitting"))
    first_epoch_start = epoch_lines[0] - records[0]["seconds"]
    return {
        "loading": first_epoch_start,
        "training": epoch_lines[-1] - first_epoch_start,
        "statistics and saving": lines[-1][0] - epoch_lines[-1],
        "total": lines[-1][0],
        "of which after the last epoch, before 'Fitting'": fitting - epoch_lines[-1],
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=1, help="trainings, one after another (each split is printed)")
    args = p.parse_args()
    data = load_mnist(settings.DATA_DIR)
    cached_training_pools(settings.DATA_DIR, mnist=data.train)  # drawn once, kept on disk: not the visitor's wait
    with tempfile.TemporaryDirectory(prefix="train-wait-") as tmp, start_app(Path(tmp)) as app:
        tutorial = tutorial_epoch(settings.DATA_DIR)  # meanwhile the app compiles its CPU kernels (app.py)
        print(
            f"one epoch of the tutorial's loop: {tutorial:.1f} s (torch {torch.__version__}, "
            f"{training_threads()} threads)"
        )
        for run in range(1, args.runs + 1):
            lines, records = timed_training(app.url)
            print(f"\nrun {run}: /train with the page's defaults")
            print("| from Start | status |\n| ---: | --- |")
            for t, text in lines:
                print(f"| {t:.1f} s | {re.sub(r'[*]', '', text)[:110]} |")
            parts = split(lines, records)
            accuracy = re.search(r"Test accuracy ([\d.]+)%", lines[-1][1])
            print(
                f"epochs: {len(records)}, validation {records[-1]['val_acc']}%, test "
                f"{accuracy[1] if accuracy else '?'}%"
            )
            print("\n".join(f"  {k}: {s:.1f} s = {s / tutorial:.2f} tutorial epochs" for k, s in parts.items()))


if __name__ == "__main__":
    main()
