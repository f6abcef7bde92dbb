"""Time to a good model: seconds of training until MNIST test accuracy first reaches 98.5%, 99.0% and 99.3%,
for the tutorial's loop and for both recipes of src/training/loop.py, in one run.

    python bench/time_to_accuracy.py [--data-dir data] [--tutorial-epochs 10] [--skip-full]

Each loop runs epoch by epoch (bench/train_speed.py has them); after every epoch the model is scored on
the 10,000 MNIST test images, outside the clock (the tutorial's on ToTensor's [0, 1] pixels, as it
trained). The clock counts what a visitor of the Train tab waits
for: the training steps and each recipe's own validation pass, not loading MNIST (the same for all).
  - tutorial loop: DataLoader, batch 64, Adam 1e-3, up to --tutorial-epochs epochs;
  - fast: src.training.loop.FAST, the Train tab's default (10 epochs);
  - full: TrainConfig(), what `python train.py` trains for checkpoints/default: its 3 teachers (30 epochs each),
    whose time is counted in its first epoch, then the network itself (30 epochs); about 9 minutes.
All use src.training.loop.training_threads() CPU threads.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from bench.train_speed import RECIPES, recipe_epochs, tutorial_epochs  # noqa: E402
from src import config  # noqa: E402
from src.data.mnist import load_mnist  # noqa: E402
from src.data.synthetic import cached_training_pools  # noqa: E402
from src.training.loop import Pools, evaluate, training_threads  # noqa: E402

TARGETS = (98.5, 99.0, 99.3)


@torch.inference_mode()
def tutorial_accuracy(model, test) -> float:
    """Test accuracy of a tutorial-loop model on what it trained on: ToTensor's [0, 1] pixels, not normalised."""
    model.eval()
    correct = sum((model(x.unsqueeze(1).float() / 255).argmax(1) == y).sum().item()
                  for x, y in zip(test.images.split(1000), test.labels.split(1000)))
    model.train()
    return 100.0 * correct / len(test)


def recipe_accuracy(model, test) -> float:
    return evaluate(model, test)[1]


def time_to(epochs, test, score) -> tuple[dict, list]:
    """Run (seconds, model) epochs; -> ({target: seconds when first reached}, [(clock, test accuracy)])."""
    clock, reached, curve = 0.0, {}, []
    for seconds, model in epochs:
        clock += seconds
        acc = score(model, test)
        curve.append((clock, acc))
        for target in TARGETS:
            if acc >= target and target not in reached:
                reached[target] = clock
    return reached, curve


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=config.DATA_DIR)
    p.add_argument("--tutorial-epochs", type=int, default=10)
    p.add_argument("--skip-full", action="store_true", help="leave out the long recipe")
    args = p.parse_args()
    torch.set_num_threads(training_threads())
    device = torch.device("cpu")
    data = load_mnist(args.data_dir)
    pools = Pools.from_numpy(*cached_training_pools(args.data_dir))
    loops = {"tutorial loop (batch 64, Adam 1e-3)": tutorial_epochs(args.data_dir, device, args.tutorial_epochs)}
    for name, recipe in RECIPES.items():
        if not (args.skip_full and name.startswith("full")):
            loops[name] = recipe_epochs(data, pools, recipe, device)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, {os.cpu_count()} cores; "
          "seconds of training until MNIST test accuracy first reaches each target")
    print(f"| loop | {' | '.join(f'to {t}%' for t in TARGETS)} | epochs | final test | total |")
    print("| --- | " + " | ".join("---:" for _ in TARGETS) + " | ---: | ---: | ---: |")
    for name, epochs in loops.items():
        reached, curve = time_to(epochs, data.test, tutorial_accuracy if name.startswith("tutorial") else recipe_accuracy)
        cells = " | ".join(f"{reached[t]:.1f} s" if t in reached else "not reached" for t in TARGETS)
        print(f"| {name} | {cells} | {len(curve)} | {curve[-1][1]:.2f}% | {curve[-1][0]:.1f} s |", flush=True)


if __name__ == "__main__":
    main()
