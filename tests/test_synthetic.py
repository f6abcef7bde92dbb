"""Synthetic drawings (src/data/synthetic.py): deterministic, readable by the app, and the cached training pools."""

import numpy as np

from src.data.synthetic import KINDS, as_drawing, cached_training_pools, render_digit, training_pools


def test_drawings_are_deterministic_for_a_seed():
    a = np.asarray(render_digit(7, np.random.default_rng(3), canvas=200))
    b = np.asarray(render_digit(7, np.random.default_rng(3), canvas=200))
    c = np.asarray(render_digit(7, np.random.default_rng(4), canvas=200))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_as_drawing_gives_the_app_s_28x28_input(small_mnist):
    image = as_drawing(small_mnist.test.images[0].numpy())
    assert image.shape == (28, 28) and image.dtype == np.float32 and 0 <= image.min() and image.max() == 1


def test_training_pools_are_cached_as_safetensors_and_read_back_identical(tmp_path, monkeypatch):
    import src.data.synthetic as synthetic

    first = cached_training_pools(tmp_path, n=len(KINDS), seed=5)
    assert [p.suffix for p in tmp_path.iterdir()] == [".safetensors"]
    monkeypatch.setattr(synthetic, "training_pools", lambda n, seed: (_ for _ in ()).throw(AssertionError("drawn again")))
    again = cached_training_pools(tmp_path, n=len(KINDS), seed=5)
    assert all(np.array_equal(x, y) for x, y in zip(first, again))
    drawn, labels, outliers = first
    assert drawn.dtype == outliers.dtype == np.uint8 and drawn.shape[1:] == (28, 28)
    assert set(labels) <= set(range(10)) and len(outliers) > 0
    assert np.array_equal(training_pools(len(KINDS), 5)[0], drawn)  # the cache holds exactly what was drawn
