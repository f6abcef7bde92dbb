"""The corrections store and fine-tuning on it (src/web/corrections.py)."""

import threading
import zipfile

import numpy as np
import pytest

from src.data.digits import style_images
from src.data.mnist import load_mnist
from src.reading.inference import run_network
from src.training.fine_tune import fine_tune
from src.web import corrections


def test_store_add_load_count_clear_archive(tmp_path):
    folder = tmp_path / "corr"
    assert corrections.count(folder) == 0 and len(corrections.load(folder)[1]) == 0
    rng = np.random.default_rng(0)
    images = [rng.random((28, 28)).astype(np.float32) for _ in range(3)]
    paths = [corrections.add(folder, im, label) for im, label in zip(images, (3, 7, 0))]
    assert all(p.suffix == ".png" and p.name.endswith(f"-{label}.png") for p, label in zip(paths, (3, 7, 0)))
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in paths)  # no temporary files left
    loaded, labels = corrections.load(folder)
    assert loaded.dtype == np.uint8 and loaded.shape == (3, 28, 28)
    assert list(labels) == [3, 7, 0]
    assert np.abs(loaded[0] / 255 - images[0]).max() <= 0.5 / 255 + 1e-6
    (tmp_path / "archives").mkdir()
    zip_path = corrections.archive(folder, tmp_path / "archives")
    with zipfile.ZipFile(zip_path) as z:
        assert sorted(z.namelist()) == sorted(p.name for p in paths)
    (folder / "notes.txt").write_text("not a sample")
    assert corrections.count(folder) == 3
    assert corrections.clear(folder) == 3 and corrections.count(folder) == 0
    assert (folder / "notes.txt").exists()
    with pytest.raises(ValueError):
        corrections.add(folder, images[0], 10)


def _accuracy(model, images, labels):
    return float((run_network(model, images)[1].argmax(1) == labels).mean())


@pytest.mark.slow
def test_fine_tune_learns_a_personal_style_without_forgetting(tmp_path, model, data_dir):
    data = load_mnist(data_dir)
    # A 0 with a slash through it: the default model reads most of them as another digit.
    train_x, train_y = style_images("zero_slash", 20, seed=100)
    new_x, new_y = style_images("zero_slash", 100, seed=300)
    for image, label in zip(train_x, train_y):
        corrections.add(tmp_path, image, label)
    before = _accuracy(model, new_x, new_y)
    tuned, report = fine_tune(model, corrections.load(tmp_path), data, epochs=3)
    after = _accuracy(tuned, new_x, new_y)
    drop = report["before"]["mnist_test"] - report["after"]["mnist_test"]
    print(
        f"\nnew drawings of the style: {100 * before:.0f}% -> {100 * after:.0f}%; MNIST test "
        f"{report['before']['mnist_test']}% -> {report['after']['mnist_test']}%; {report['seconds']}s"
    )
    assert before < 0.9 and after >= 0.9
    assert drop <= 0.3
    assert _accuracy(model, new_x, new_y) == before  # the original model is untouched


def test_fine_tune_stops_when_asked(model, small_mnist):
    stop = threading.Event()
    stop.set()
    x, y = style_images("one_long_flag", 4, seed=1)
    _, report = fine_tune(model, (x, y), small_mnist, stop=stop, evaluate_test=False)
    assert report["steps"] == 0 and report["stopped"]
