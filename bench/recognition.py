"""How well the app reads digits, and how often it says "not a digit", on data nothing was tuned on.

    python -m bench.recognition [--checkpoint checkpoints/default.safetensors] [--quick]

Every image goes through the app's own reading path (LoadedModel.read, as /classify and /predict use it),
as a PNG file. "flagged" means the page shows no digit: "This doesn't look like a digit", or a drawing
preprocessing rejects. "right" means the top digit is the true one, flagged or not; "shown right" means
right and not flagged: what a person sees.

The sets, none of them used to train the model or to tune a threshold:
  MNIST test          all 10,000 test digits as 280x280 black-on-white PNGs (bicubic enlargement)
  drawn, independent  bench/heldout.py's digit generator (its own strokes and styles): thin pen, marker, and
                      the harder kinds: hairline and thick pens, strongly slanted, European 1s and 7s,
                      open and closed 4s, small in a corner; numbers of 2-4 such digits ("right": every digit)
  drawn, new seeds    src/data/digits.py's generator (the tuning family) with seeds used nowhere else
  non-digits          bench/heldout.py's non-digits: letters and symbols in real fonts, shapes, scribbles,
                      hatching, filled blobs; the share flagged per kind is printed below the table. Seed 999's
                      misses were looked at to design the training non-digits; seed 1999's never were
Tuning used: MNIST validation digits, src.data's drawings, seeds 1001 (thresholds), 2002, 3003 and 4004
(bench.calibration and the number splitting) and 10**6 up (training), bench/heldout.py's digits from the
guard seeds 5031-5038 and 5135-5335 (bench.calibration's guard rows, the fifth round's slanted digits), its
non-digits from seeds 5041-5044 (the fourth and fifth rounds, docs/changelog.md) and its numbers from seed 5051,
never the seeds below.
"""

import argparse
import collections
import functools
import io
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench.heldout import HARD_KINDS, heldout_digits, heldout_nondigits, heldout_numbers
from src import settings
from src.data.digits import render_mask
from src.data.mnist import read_mnist
from src.reading.inference import ModelStore

SEEDS = {
    "independent_thin": 31,
    "independent_marker": 32,
    "new_seed_thin": 777001,
    "new_seed_marker": 777002,
    "nondigits": 999,
    "hairline": 33,
    "thick": 34,
    "slanted": 35,
    "european": 36,
    "fours": 37,
    "small": 38,
    "numbers": 39,
    "nondigits_new": 1999,
}


def as_png(img: Image.Image) -> Image.Image:
    """Encode and decode as PNG, as an uploaded file would be."""
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    buf.seek(0)
    return Image.open(buf)


def black_on_white(mask: Image.Image) -> Image.Image:
    return Image.eval(mask.convert("L"), lambda v: 255 - v)


def mnist_test(n: int):
    test = read_mnist(settings.DATA_DIR, train=False)
    for i in range(min(n, len(test))):
        yield (
            int(test.labels[i]),
            Image.fromarray(255 - test.images[i].numpy()).resize((280, 280), Image.Resampling.BICUBIC),
        )


def own_generator(n: int, seed: int, brush_frac):
    rng = np.random.default_rng(seed)
    for i in range(n):
        yield i % 10, render_mask(i % 10, rng, 400, brush_frac=brush_frac)


def run(reader, items) -> dict:
    """Read every (label, image); label None = a non-digit. Returns counts and per-kind flags."""
    n = right = shown_right = flagged = 0
    kinds = collections.defaultdict(lambda: [0, 0])
    for label, img in items:
        reading = reader(as_png(img))
        shown = reading is not None and len(reading.images) > 0 and reading.is_digit
        n += 1
        flagged += not shown
        if isinstance(label, int) or label.isdigit():  # a digit, or a number as a string
            is_right = reading is not None and len(reading.images) > 0 and reading.number == str(label)
            right += is_right
            shown_right += is_right and shown
        else:
            kinds[label][0] += 1
            kinds[label][1] += not shown
    return {"n": n, "right": right, "shown_right": shown_right, "flagged": flagged, "kinds": dict(kinds)}


def loaded(checkpoint: str):
    """The model a --checkpoint names, with its statistics, read on one thread as the app reads."""
    torch.set_num_threads(1)
    path = Path(checkpoint)
    return ModelStore(path.parent, path.name).load(path.name)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=str(settings.CHECKPOINT_DIR / settings.DEFAULT_CHECKPOINT))
    p.add_argument(
        "--quick", action="store_true", help="100 MNIST digits, 20 per drawn set, 40 non-digits (a smoke run)"
    )
    args = p.parse_args()
    model = loaded(args.checkpoint)
    statistics = "with its novelty statistics" if model.novelty else "NO novelty statistics (fallback)"
    print(f"{Path(args.checkpoint).name}: {statistics}")
    n_mnist, n_drawn, n_non = (100, 20, 40) if args.quick else (10_000, 600, 600)

    sets = {
        "MNIST test (280 px PNG)": lambda: mnist_test(n_mnist),
        "drawn, independent, thin pen": lambda: heldout_digits(n_drawn, SEEDS["independent_thin"], pen="thin"),
        "drawn, independent, marker": lambda: heldout_digits(n_drawn, SEEDS["independent_marker"], pen="marker"),
        "drawn, independent, hairline pen": lambda: heldout_digits(n_drawn, SEEDS["hairline"], pen="hairline"),
        "drawn, independent, thick marker": lambda: heldout_digits(n_drawn, SEEDS["thick"], pen="thick"),
        **{
            f"drawn, independent, {HARD_KINDS[kind]}": functools.partial(
                heldout_digits, n_drawn, SEEDS[kind], "thin", kind=kind
            )
            for kind in HARD_KINDS
        },
        "numbers of 2-4 digits, independent": lambda: heldout_numbers(n_drawn // 2, SEEDS["numbers"]),
        "drawn, new seeds, thin (1-2.5%)": lambda: own_generator(n_drawn, SEEDS["new_seed_thin"], (0.008, 0.025)),
        "drawn, new seeds, marker (6-10%)": lambda: own_generator(n_drawn, SEEDS["new_seed_marker"], (0.06, 0.10)),
        "non-digits, independent": lambda: heldout_nondigits(n_non, SEEDS["nondigits"]),
        "non-digits, independent, a seed never looked at": lambda: heldout_nondigits(n_non, SEEDS["nondigits_new"]),
    }
    print("\n| set | n | right | shown right | flagged | seconds |\n| --- | ---: | ---: | ---: | ---: | ---: |")
    kinds = {}
    for name, items in sets.items():
        started = time.perf_counter()
        if not name.startswith("MNIST"):  # the generators give ink masks (255 = ink): draw them black on white
            items = ((label, black_on_white(mask)) for label, mask in items())
        else:
            items = items()
        r = run(model.read, items)
        right, shown = (
            ("–", "–")
            if name.startswith("non")
            else (f"{100 * r['right'] / r['n']:.2f}%", f"{100 * r['shown_right'] / r['n']:.2f}%")
        )
        print(
            f"| {name} | {r['n']:,} | {right} | {shown} | {100 * r['flagged'] / r['n']:.2f}% | "
            f"{time.perf_counter() - started:.0f} |",
            flush=True,
        )
        if name == "non-digits, independent":
            kinds.update(r["kinds"])
    print("\nnon-digits flagged by kind: " + ", ".join(f"{k} {100 * f / n:.0f}% of {n}" for k, (n, f) in kinds.items()))


if __name__ == "__main__":
    main()
