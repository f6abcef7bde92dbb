"""Train the digit classifier on MNIST and save a checkpoint.

python train.py                       # the default recipe; reproduces checkpoints/default.safetensors
                                      # (3 teachers, then the network itself: about 9 minutes on 2 cores)
python train.py --epochs 1 --limit 5000 --teachers 0 --out /tmp/quick.safetensors
"""

import argparse
import sys
from dataclasses import replace

import torch
from tqdm import tqdm

from src import settings
from src.data.mnist import DataUnavailable, load_mnist
from src.data.synthetic import POOL_SIZE, cached_training_pools
from src.model.checkpoint import save_model
from src.model.network import count_parameters
from src.reading.calibration import fit_novelty
from src.training.loop import (
    PRECISIONS,
    Pools,
    Recipe,
    evaluate,
    resolve_device,
    seeded_model,
    train_epochs,
    train_teachers,
)


def parse_args(argv=None):
    d = Recipe()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate of the one-cycle schedule")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--no-augment", dest="augment", action="store_false", help="train on the images as they are")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument(
        "--teachers",
        type=int,
        default=d.teachers,
        help="networks trained first (same recipe, other seeds) whose mean answer the network also "
        "learns from; 0: none",
    )
    p.add_argument(
        "--outlier-weight",
        type=float,
        default=d.outlier_weight,
        help='weight of the energy-margin loss on synthetic non-digits ("is it a digit?"); 0: none',
    )
    p.add_argument(
        "--energy-outliers",
        type=float,
        default=d.energy_outliers,
        help=f"the loss pushes non-digits' energy above this (digits' below {d.energy_digits})",
    )
    p.add_argument("--limit", type=int, default=None, help="use only this many training examples (quick runs)")
    p.add_argument("--data-dir", default=settings.DATA_DIR, help="MNIST root (env DATA_DIR; default ./data)")
    p.add_argument("--out", default=str(settings.CHECKPOINT_DIR / settings.DEFAULT_CHECKPOINT))
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch (default: PyTorch's)")
    p.add_argument(
        "--precision",
        default=d.precision,
        choices=PRECISIONS,
        help="what the network computes in while training; auto: bf16 on a CPU that has it natively",
    )
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
        # Another batch size keeps the synthetic drawings' share of a batch (Recipe.at_batch_size).
        cfg = replace(
            Recipe().at_batch_size(args.batch_size),
            epochs=args.epochs,
            lr=args.lr,
            weight_decay=args.weight_decay,
            augment=args.augment,
            seed=args.seed,
            teachers=args.teachers,
            precision=args.precision,
            outlier_weight=args.outlier_weight,
            energy_outliers=args.energy_outliers,
        ).resolved(device)
    except (DataUnavailable, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(
        f"synthetic drawings for training: {POOL_SIZE:,} digits and {POOL_SIZE:,} non-digits (cached in {args.data_dir})"
    )
    pools = Pools.from_numpy(*cached_training_pools(args.data_dir, mnist=data.train), device=device)
    model = seeded_model(args.seed)
    print(
        f"{count_parameters(model):,} parameters | {len(data.train):,} train, {len(data.val):,} val, "
        f"{len(data.test):,} test images | {device} | {cfg}"
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
        print(f"teacher {k}/{cfg.teachers} | {line(record)}")

    teachers = train_teachers(data, cfg, pools, progress=progress, report=report)
    history = []
    for record in train_epochs(model, data, cfg, pools, progress=progress, teachers=teachers):
        history.append(record)
        print(line(record))
    test_loss, test_acc = evaluate(model, data.test)
    print(f"test loss {test_loss:.4f} | test accuracy {test_acc:.2f}%")
    meta = {
        "hyperparameters": cfg.to_dict(),
        "seed": args.seed,
        "limit": args.limit,
        "history": history,
        "teachers": [{"seed": r.seed, "val_acc": teacher_acc[k]} for k, r in enumerate(cfg.teacher_recipes(), 1)],
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
