"""Synthetic drawings (src.data.digits, nondigits, glyphs, shapes, pools): deterministic, readable by the app, and
the cached training pools."""

import numpy as np

from src.data import digits, pools, strokes
from src.data.digits import render_digit
from src.data.glyphs import GLYPH_FONTS, GLYPH_FONTS_TUNING, _digit_like, font_glyphs
from src.data.nondigits import KINDS, nondigit_mask
from src.data.pools import as_drawing, cached_training_pools, training_pools
from src.data.shapes import LETTERS, _hatching
from src.data.strokes import arc, line


def test_drawings_are_deterministic_for_a_seed():
    a = np.asarray(render_digit(7, np.random.default_rng(3), canvas=200))
    b = np.asarray(render_digit(7, np.random.default_rng(3), canvas=200))
    c = np.asarray(render_digit(7, np.random.default_rng(4), canvas=200))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_as_drawing_gives_the_app_s_28x28_input(small_mnist):
    image = as_drawing(small_mnist.test.images[0].numpy())
    assert image.shape == (28, 28) and image.dtype == np.float32 and 0 <= image.min() and image.max() == 1


def test_training_pools_are_cached_as_safetensors_and_read_back_identical(tmp_path, monkeypatch):
    first = cached_training_pools(tmp_path, n=len(KINDS), seed=5)
    assert len(list(tmp_path.glob("*.safetensors"))) == 1
    monkeypatch.setattr(pools, "training_pools", lambda n, seed: (_ for _ in ()).throw(AssertionError("drawn again")))
    again = cached_training_pools(tmp_path, n=len(KINDS), seed=5)
    assert all(np.array_equal(x, y) for x, y in zip(first, again))
    drawn, labels, outliers = first
    assert drawn.dtype == outliers.dtype == np.uint8 and drawn.shape[1:] == (28, 28)
    assert set(labels) <= set(range(10)) and len(outliers) > 0
    assert np.array_equal(training_pools(len(KINDS), 5)[0], drawn)  # the cache holds exactly what was drawn


def test_font_glyphs_train_and_tune_on_different_fonts_and_leave_out_digit_like_ones():
    assert not set(GLYPH_FONTS) & set(GLYPH_FONTS_TUNING)
    training, tuning = font_glyphs(GLYPH_FONTS), font_glyphs(GLYPH_FONTS_TUNING)
    assert len(training) > 900 and len(tuning) > 300
    assert not any(_digit_like(g) for g in training + tuning)
    # a ring is a 0, a bar or a slash a 1; a letter X is neither
    assert _digit_like([arc(0, 0.5, 0.3, 0.5, 0, 360)]) and _digit_like([line((0, 0), (0.05, 1))])
    assert _digit_like([line((-0.5, 0), (0.5, 1))]) and not _digit_like(LETTERS["X"](np.zeros(8)))


def test_about_a_third_of_the_digits_have_boxy_loops(monkeypatch):
    powers = []  # a one-loop template that records the loop power it is drawn with

    def loop(j):
        powers.append(strokes.LOOP_POWER.get())
        return [arc(0, 0.5, 0.3, 0.5, 0, 360)]

    monkeypatch.setitem(digits.TEMPLATES, 0, [loop])
    rng = np.random.default_rng(0)
    loops = [digits.digit_strokes(0, rng)[0] for _ in range(600)]
    boxy = np.array(powers) > 2
    assert 0.25 < boxy.mean() < 0.35 and strokes.LOOP_POWER.get() == 2.0  # and set back after each digit
    # how far into the corners of its box the loop reaches: sqrt(2) for an ellipse (plus the wobble), 2 for a box
    reach = np.array([np.max(np.abs(p[:, 0]) / 0.3 + np.abs(p[:, 1] - 0.5) / 0.5) for p in loops])
    assert reach[~boxy].mean() + 0.1 < reach[boxy].mean()


def test_hatching_is_clipped_to_a_region_inside_the_box():
    lengths = []
    for seed in range(20):
        hatched = _hatching(np.random.default_rng(seed), cross=seed % 2 == 1)
        points = np.concatenate(hatched)
        assert (
            points[:, 0].min() >= -0.5
            and points[:, 0].max() <= 0.5
            and points[:, 1].min() >= 0
            and points[:, 1].max() <= 1
        )
        lengths += [np.linalg.norm(s[-1] - s[0]) for s in hatched]
    assert min(lengths) < 0.5 * max(lengths)  # lines end at the region's edge, not all the same length


def test_varied_nondigits_draw_every_pen_and_sometimes_hollow_or_filled():
    rng = np.random.default_rng(11)
    ink = [np.asarray(nondigit_mask("heart", rng, 200, varied=True), np.float32).mean() / 255 for _ in range(200)]
    assert max(ink) > 8 * min(ink)  # from hairline to a filled heart


def test_pools_with_mnist_add_training_images_as_drawn(tmp_path, small_mnist):
    drawn, labels, _ = cached_training_pools(tmp_path, n=len(KINDS), seed=5)
    more, more_labels, _ = cached_training_pools(tmp_path, n=len(KINDS), seed=5, mnist=small_mnist.train)
    n = len(KINDS)
    assert len(more) == len(drawn) + n and np.array_equal(more[: len(drawn)], drawn)
    pick = np.random.default_rng(5).permutation(len(small_mnist.train))[:n]
    expected = (np.stack([as_drawing(a) for a in small_mnist.train.images.numpy()[pick]]) * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(more[len(drawn) :], expected)
    assert np.array_equal(more_labels[len(drawn) :], small_mnist.train.labels.numpy()[pick])
    assert list(tmp_path.glob(pools.AS_DRAWN_CACHE.replace(".", "-*.")))  # kept: the next call reads it back
    again, again_labels, _ = cached_training_pools(tmp_path, n=n, seed=5, mnist=small_mnist.train)
    assert np.array_equal(again, more) and np.array_equal(again_labels, more_labels)
