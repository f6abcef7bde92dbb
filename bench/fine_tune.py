"""Does fine-tuning on a few corrections teach the model a personal style without forgetting MNIST?

    python -m bench.fine_tune [--style zero_slash] [--corrections 20] [--epochs 3]

Draws --corrections samples of one consistent personal writing style (PERSONAL_STYLES; e.g. a 0 with a slash
through it, which the default model mostly reads as another digit), stores them with src.web.corrections.add,
fine-tunes a copy of the default model on them (src.training.fine_tune) and prints accuracy before/after on 300 NEW
drawings of that style (other seed), on the stored corrections and on MNIST validation and test.
"""

import argparse
import tempfile
import time

import torch

from src import settings
from src.data.digits import PERSONAL_STYLES as STYLES
from src.data.digits import style_images
from src.data.mnist import load_mnist
from src.model.checkpoint import load_checkpoint
from src.training.fine_tune import fine_tune
from src.web import corrections


def style_accuracy(model, images, labels):
    from src.reading.inference import run_network

    return 100 * float((run_network(model, images)[1].argmax(1) == labels).mean())


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--style", default="zero_slash", choices=list(STYLES))
    p.add_argument("--corrections", type=int, default=20)
    p.add_argument("--epochs", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(1)

    model, _ = load_checkpoint(settings.CHECKPOINT_DIR / settings.DEFAULT_CHECKPOINT)
    data = load_mnist(settings.DATA_DIR)
    train_images, train_labels = style_images(args.style, args.corrections, seed=100)
    new_images, new_labels = style_images(args.style, 300, seed=200)
    with tempfile.TemporaryDirectory() as folder:
        for image, label in zip(train_images, train_labels):
            corrections.add(folder, image, label)
        stored = corrections.load(folder)
        started = time.perf_counter()
        tuned, report = fine_tune(model, stored, data, epochs=args.epochs)
        seconds = time.perf_counter() - started
    print(
        f"style {args.style!r} (label {STYLES[args.style][0]}), {len(stored[1])} corrections, "
        f"{report['steps']} steps, fine_tune() took {seconds:.1f}s including before/after evaluation"
    )
    print(f"{'':28s} {'before':>8s} {'after':>8s}")
    print(
        f"{'new drawings of the style':28s} {style_accuracy(model, new_images, new_labels):7.1f}% "
        f"{style_accuracy(tuned, new_images, new_labels):7.1f}%"
    )
    for key in ("corrections", "mnist_val", "mnist_test"):
        print(f"{key:28s} {report['before'][key]:7.2f}% {report['after'][key]:7.2f}%")
    print(f"MNIST test change: {report['after']['mnist_test'] - report['before']['mnist_test']:+.2f} points")


if __name__ == "__main__":
    main()
