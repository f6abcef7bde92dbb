"""Where "not a digit" should fire: its ROC on TUNING data, the data its thresholds may be chosen on.

    python -m bench.calibration [--checkpoint checkpoints/default.safetensors] [--fit]

The score is the network's energy, -logsumexp(logits), averaged over the input moved by up to a pixel each
way (not_digit_score in src/model/novelty.py). For each share of tuning
digits flagged, it prints the threshold and the share of tuning non-digits caught, and the same for a
score that adds the preprocessing's own measures (ink share, stroke width, aspect) in a logistic
regression fitted on half the tuning data and scored on the other half. The model's own thresholds
(src/reading/calibration.py) are printed with what they flag. --fit prints instead how long fit_novelty
takes after a training (one PyTorch thread, as the app fits) and the thresholds it fits for these weights.

Tuning sets only, none of them ever reported as a result (those are bench/recognition.py's):
  digits       MNIST validation images 5,000-9,999 as the app reads them from a drawing, and 2,000 drawn
               digits from src/data/digits.py's varied_mask, seed 2002
  non-digits   src/data/nondigits.py's non-digits, 10 of each kind, seed 3003, and 600 glyphs of the fonts
               kept for tuning (GLYPH_FONTS_TUNING, never trained on), seed 5005
  guard        bench/heldout.py's digits of each kind, 2,000 each, from GUARD_SEEDS: other seeds of the held-out
               generator than bench/recognition.py reports on. Recipes were chosen with them (docs/changelog.md), so
               they are tuning data too; the reported rows never were.
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from bench.heldout import HARD_KINDS, heldout_digits
from bench.recognition import loaded
from src import settings
from src.data.digits import preprocessed_digits
from src.data.inputs import AS_DRAWN
from src.data.mnist import load_mnist
from src.data.nondigits import KINDS, glyph_set, preprocessed_nondigits
from src.data.pools import as_drawings
from src.data.preprocess import MNIST_STROKE, _stroke_width, to_mnist
from src.model.novelty import not_digit_score
from src.reading.calibration import calibration_digits, fit_novelty
from src.reading.inference import run_shifted

RATES = (0.001, 0.002, 0.003, 0.005, 0.007, 0.01, 0.02)
# The held-out generator's pens and kinds (bench/recognition.py's rows), each from its own guard seed.
GUARD_SEEDS = {
    ("thin", None): 5031,
    ("marker", None): 5032,
    ("hairline", None): 5033,
    ("thick", None): 5034,
    **{("thin", kind): 5035 + i for i, kind in enumerate(HARD_KINDS)},
}


def measures(images: np.ndarray) -> np.ndarray:
    """Per 28x28 input: ink share, stroke width against MNIST's, and width / height of the ink."""
    rows = []
    for a in images:
        ink = a > 0.5
        ys, xs = np.nonzero(ink)
        aspect = (np.ptp(xs) + 1) / (np.ptp(ys) + 1) if len(xs) else 0.0
        width = _stroke_width(np.asarray(a * 255, np.uint8)) / MNIST_STROKE
        rows.append((ink.mean(), width, aspect))
    return np.array(rows)


def guard_rows(model, n=2000):
    """(row name, shown right, flagged) for n held-out-generator digits of each GUARD_SEEDS kind, each read as the
    app reads it (LoadedModel.read, with its second looks) with the checkpoint's threshold."""
    rows = []
    for (pen, kind), seed in GUARD_SEEDS.items():
        readings = [
            (label, model.read(np.asarray(mask, np.float32) / 255))
            for label, mask in heldout_digits(n, seed, pen, kind=kind)
        ]
        shown = [(label, r) for label, r in readings if r is not None and len(r.images) and r.is_digit]
        right = sum(r.number == str(label) for label, r in shown)
        rows.append((HARD_KINDS.get(kind, f"{pen} pen"), right / n, 1 - len(shown) / n))
    return rows


def fit_time(model, data):
    """The time to make or read the tuning digits (once per server), then fit_novelty's, best of 3, with them
    in memory (every training after the first), and the thresholds it fits against the checkpoint's."""
    start = time.perf_counter()
    calibration_digits(data)
    prepared = time.perf_counter() - start
    times = []
    for _ in range(3):
        start = time.perf_counter()
        fitted = fit_novelty(model.model, data)
        times.append(time.perf_counter() - start)
    print(
        f"{model.name}: tuning digits made or read in {prepared:.2f} s; then fit_novelty in {min(times):.2f} s "
        f"(best of {', '.join(f'{t:.2f}' for t in times)})"
    )
    print(
        f"threshold {fitted.threshold:.4f}, unusual threshold {fitted.unusual_threshold:.4f} (the checkpoint's: "
        f"{model.novelty.threshold:.4f}, {model.novelty.unusual_threshold:.4f})"
    )


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=str(settings.CHECKPOINT_DIR / settings.DEFAULT_CHECKPOINT))
    p.add_argument("--fit", action="store_true", help="time fit_novelty instead, and print what it fits")
    p.add_argument("--quick", action="store_true", help="a fortieth of every set (a smoke run; the tests use it)")
    args = p.parse_args()
    model = loaded(args.checkpoint)
    data = load_mnist(settings.DATA_DIR)
    if args.fit:
        return fit_time(model, data)
    part = 40 if args.quick else 1
    mnist = as_drawings(data.val.images[5000 : 5000 + 5000 // part].numpy())
    drawn, _ = preprocessed_digits(2000 // part, seed=2002, varied=True)
    others, _, rejected = preprocessed_nondigits(10 * len(KINDS), seed=3003)
    glyphs = [to_mnist(np.asarray(mask, np.float32) / 255) for mask in glyph_set(600 // part, seed=5005)]
    glyphs = np.stack([g for g in glyphs if g is not None])
    digits = np.concatenate([mnist, drawn])
    l_mnist, l_drawn, l_others, l_glyphs = (run_shifted(model.model, x)[1] for x in (mnist, drawn, others, glyphs))
    e_digits = np.concatenate([not_digit_score(l_mnist), not_digit_score(l_drawn)])
    e_others, e_glyphs = not_digit_score(l_others), not_digit_score(l_glyphs)
    labels = data.val.labels[5000 : 5000 + len(mnist)].numpy()
    right = (l_mnist[AS_DRAWN].argmax(1) == labels).mean()  # one pass serves both
    print(
        f"{Path(args.checkpoint).name}: {len(mnist):,} MNIST and {len(drawn):,} drawn tuning digits, "
        f"{len(others) + rejected} "
        f"tuning non-digits ({rejected} refused by preprocessing already; the table counts the others)"
    )

    # The energy with the preprocessing's measures: a logistic regression, fitted on the even rows, scored on the odd.
    x = np.concatenate([np.c_[e_digits, measures(digits)], np.c_[e_others, measures(others)]])
    y = np.r_[np.zeros(len(digits)), np.ones(len(others))]
    x = (x - x.mean(0)) / x.std(0)
    w = torch.zeros(x.shape[1] + 1, requires_grad=True)
    xt, yt = torch.tensor(np.c_[x, np.ones(len(x))], dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    fit = torch.optim.LBFGS([w], max_iter=200)

    def loss():
        fit.zero_grad()
        value = torch.nn.functional.binary_cross_entropy_with_logits(xt[::2] @ w, yt[::2])
        value.backward()
        return value

    fit.step(loss)
    combined = (xt @ w).detach().numpy()
    c_digits, c_others = combined[: len(digits)][1::2], combined[len(digits) :][1::2]

    print(
        "\n| digits flagged | energy threshold | non-digits caught (energy) | tuning-font glyphs caught (energy) | "
        "non-digits caught (energy + measures) |\n| ---: | ---: | ---: | ---: | ---: |"
    )
    for rate in RATES:
        t = np.quantile(e_digits, 1 - rate)
        caught = (e_others[1::2] > t).mean()  # the same half as the combined score's
        tc = np.quantile(c_digits, 1 - rate)
        caught_c = (c_others > tc).mean()
        print(
            f"| {100 * rate:.1f}% | {t:.2f} | {100 * caught:.2f}% | {100 * (e_glyphs > t).mean():.2f}% "
            f"| {100 * caught_c:.2f}% |"
        )
    t = model.novelty.threshold
    print(
        f"\nthe checkpoint's threshold {t:.2f}: "
        f"flags {100 * (e_digits[: len(mnist)] > t).mean():.2f}% of the MNIST and "
        f"{100 * (e_digits[len(mnist) :] > t).mean():.2f}% of the drawn tuning digits, catches "
        f"{100 * ((e_others > t).sum() + rejected) / (len(others) + rejected):.2f}% of the tuning non-digits and "
        f"{100 * (e_glyphs > t).mean():.2f}% of the tuning-font glyphs"
    )
    print(f"the network reads {100 * right:.2f}% of the MNIST tuning digits right (as drawn)")

    print("\n| guard digits (held-out generator, guard seeds) | shown right | flagged |\n| --- | ---: | ---: |")
    for name, shown_right, flagged in guard_rows(model, n=2000 // part):
        print(f"| {name} | {100 * shown_right:.2f}% | {100 * flagged:.2f}% |")


if __name__ == "__main__":
    main()
