"""Train the digit classifier on MNIST and save a checkpoint.

python train.py                       # the default recipe, as checkpoints/default.safetensors was trained
                                      # (3 teachers, then the network itself; its time: docs/measurements.md)
python train.py --epochs 1 --limit 5000 --teachers 0 --out /tmp/quick.safetensors
"""

import argparse
import sys
from dataclasses import replace

import torch
from tqdm import tqdm

from src import settings
from src.data.mnist import DataUnavailable, load_mnist
from src.data.pools import POOL_SIZE, cached_training_pools
from src.model.checkpoint import save_model
from src.model.network import count_parameters
from src.reading.calibration import fit_novelty
from src.training.augment import Pools
from src.training.hardware import PRECISIONS, resolve_device
from src.training.loop import loss_and_accuracy, train_epochs, train_teachers
from src.training.recipes import Recipe, seeded_model


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)

    def recipe_flag(name: str, help: str | None = None, **kwargs):
        """--name sets the recipe's field of that name; its type and default are the default recipe's."""
        default = getattr(Recipe(), name.replace("-", "_"))
        p.add_argument(f"--{name}", type=type(default), default=default, help=help, **kwargs)

    recipe_flag("epochs")
    recipe_flag("batch-size")
    recipe_flag("lr", "peak learning rate of the one-cycle schedule")
    recipe_flag("weight-decay")
    p.add_argument("--no-augment", dest="augment", action="store_false", help="train on the images as they are")
    recipe_flag("seed")
    recipe_flag("teachers", "networks first trained from other seeds, whose mean answer it also learns from (0: none)")
    recipe_flag("outlier-weight", "weight of the energy-margin loss on synthetic non-digits (0: none)")
    recipe_flag("energy-outliers", f"non-digits' energy is pushed above this (digits': below {Recipe().energy_digits})")
    recipe_flag("precision", "what the network computes in; auto: bf16 on a CPU with native bf16", choices=PRECISIONS)
    p.add_argument("--limit", type=int, default=None, help="use only this many training examples (quick runs)")
    p.add_argument("--data-dir", default=settings.DATA_DIR, help="MNIST root (env DATA_DIR; default ./data)")
    p.add_argument("--out", default=str(settings.CHECKPOINT_DIR / settings.DEFAULT_CHECKPOINT))
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch (default: PyTorch's)")
    args = p.parse_args(argv)
    if args.teachers < 0:
        p.error(f"--teachers must be 0 or more, not {args.teachers}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        device = resolve_device(args.device)
        data = load_mnist(args.data_dir, device=device, seed=args.seed, limit=args.limit)
        # Each flag named after a field of the recipe sets it; another batch size also scales the synthetic
        # drawings per batch, to keep their share (Recipe.at_batch_size).
        recipe = Recipe().at_batch_size(args.batch_size)
        recipe = replace(recipe, **{k: v for k, v in vars(args).items() if k in vars(recipe)}).resolved(device)
    except (DataUnavailable, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(
        f"synthetic drawings for training: {POOL_SIZE:,} digits and {POOL_SIZE:,} non-digits "
        f"(cached in {args.data_dir})"
    )
    pools = Pools.from_numpy(*cached_training_pools(args.data_dir, mnist=data.train), device=device)
    model = seeded_model(args.seed)
    print(
        f"{count_parameters(model):,} parameters | {len(data.train):,} train, {len(data.val):,} val, "
        f"{len(data.test):,} test images | {device} | {recipe}"
    )

    def progress(iterable, total, desc):
        return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True)

    def line(record):
        return (
            f"epoch {record['epoch']:3d} | train loss {record['train_loss']:.4f} | val loss "
            f"{record['val_loss']:.4f} | val acc {record['val_acc']:6.2f}% | {record['seconds']:.1f}s"
        )

    teacher_acc = {}

    def report(k, record):
        teacher_acc[k] = record["val_acc"]
        print(f"teacher {k}/{recipe.teachers} | {line(record)}")

    teachers = train_teachers(data, recipe, pools, progress=progress, report=report)
    history = []
    for record in train_epochs(model, data, recipe, pools, progress=progress, teachers=teachers):
        history.append(record)
        print(line(record))
    test_loss, test_acc = loss_and_accuracy(model, data.test)
    print(f"test loss {test_loss:.4f} | test accuracy {test_acc:.2f}%")
    meta = {
        "hyperparameters": recipe.to_dict(),
        "seed": args.seed,
        "limit": args.limit,
        "history": history,
        "teachers": [{"seed": r.seed, "val_acc": teacher_acc[k]} for k, r in enumerate(recipe.teacher_recipes(), 1)],
        "test_loss": round(test_loss, 5),
        "test_acc": round(test_acc, 3),
    }
    print("fitting the “is it a digit?” statistics…")
    model = model.cpu()
    path = save_model(args.out, model, meta, fit_novelty(model, data))
    print(f"saved {path}, {path.with_suffix('.json').name} and {path.stem}.novelty.safetensors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
