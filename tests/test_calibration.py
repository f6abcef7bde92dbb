"""Fitting "is it a digit?" (src/reading/calibration.py): the tuning digits are made once and kept in a file
and in memory; the fit reads only the drawings that matter at nine positions, with the thresholds unchanged."""

from pathlib import Path

import numpy as np
import pytest

from src.model.novelty import not_digit_score
from src.reading import calibration
from src.reading.calibration import CACHE_NAME, FLAG_DRAWN, FLAG_MNIST, calibration_digits, drawing_scores, fit_novelty
from src.reading.inference import run_shifted


def test_a_drawing_scores_its_highest_input_or_its_lower_second_look_and_one_with_none_is_flagged():
    owner, again_of = np.array([0, 1, 1, 3, 4, 4, 5]), np.array([1, 4, 5])
    scores = calibration.drawing_scores(
        owner, 6, np.array([-9.0, -8.0, -2.0, -7.0, -6.0, -5.0, -1.0]), again_of, np.array([-4.0, -3.0, -8.0])
    )
    # 1 was read as two digits and scores lower whole; 2 was refused; 4 scores lower in its parts; 5 upright
    assert scores.tolist() == [-9.0, -4.0, np.inf, -7.0, -5.0, -8.0]


def test_tuning_digits_are_kept_in_a_file_and_made_again_for_other_data_or_a_damaged_file(
    small_mnist, tmp_path, monkeypatch
):
    first = calibration_digits(small_mnist, n_mnist=20, n_drawn=10, folder=tmp_path)
    (kept,) = tmp_path.glob("*.safetensors")
    assert kept.name.startswith(Path(CACHE_NAME).stem)
    assert first.drawings == 20 and len(first.mnist) == len(first.owner) >= 19 and first.drawn.shape == (10, 28, 28)
    assert first.mnist.shape[1:] == (28, 28) and set(first.owner) <= set(range(20))
    assert first.again.shape == (len(first.again_of), 28, 28) and first.drawn_again.shape == (
        len(first.drawn_again_of),
        28,
        28,
    )
    made = []
    drawn = calibration._drawn_digits

    def counted(n, seed):
        made.append(seed)
        return drawn(n, seed)

    monkeypatch.setattr(calibration, "_drawn_digits", counted)
    calibration._kept.clear()  # a new server
    again = calibration_digits(small_mnist, n_mnist=20, n_drawn=10, folder=tmp_path)
    assert made == [] and all(np.array_equal(a, b) for a, b in zip(first, again))  # read from the file
    calibration_digits(small_mnist, n_mnist=20, n_drawn=10, seed=7, folder=tmp_path)  # other data: made again
    (other,) = set(tmp_path.glob("*.safetensors")) - {kept}
    assert made == [7] and kept.exists()  # ... in a file of its own, next to the first
    other.write_bytes(b"half a file")
    calibration_digits(small_mnist, n_mnist=20, n_drawn=10, seed=7, folder=tmp_path)
    assert made == [7]  # from memory: the file is not read again on this server ...
    calibration._kept.clear()
    calibration_digits(small_mnist, n_mnist=20, n_drawn=10, seed=7, folder=tmp_path)
    assert made == [7, 7] and len(list(tmp_path.glob("*.safetensors"))) == 2  # ... but on the next one, in its file


def test_the_first_drawings_of_the_digits_in_memory_are_not_made_again(small_mnist, tmp_path, monkeypatch):
    calibration_digits(small_mnist, n_mnist=40, n_drawn=10, folder=tmp_path)
    made = []
    monkeypatch.setattr(calibration, "_mnist_as_read", lambda val: made.append(val) or {})
    first = calibration_digits(small_mnist, n_mnist=25, n_drawn=10, folder=tmp_path)  # a training on fewer examples
    assert made == [] and len(list(tmp_path.glob("*.safetensors"))) == 1
    monkeypatch.undo()
    calibration._kept.clear()
    alone = calibration_digits(small_mnist, n_mnist=25, n_drawn=10, folder=tmp_path / "alone")
    assert first.drawings == alone.drawings == 25 and all(np.array_equal(a, b) for a, b in zip(first, alone))


@pytest.mark.slow  # fits the statistics on 14,000 tuning digits
def test_the_fit_reads_few_drawings_at_nine_positions_and_finds_the_threshold_all_of_them_give(
    loaded_model, small_mnist, tmp_path, monkeypatch
):
    model = loaded_model.model
    digits = calibration_digits(small_mnist, n_drawn=300, folder=tmp_path)  # 1,000 MNIST drawings and 300 drawn
    score = lambda x: not_digit_score(run_shifted(model, x)[1])  # noqa: E731
    every = [
        np.quantile(drawing_scores(owner, n, score(x), again_of, score(again)), 1 - share, method=method)
        for x, owner, n, again, again_of, share, method in (
            (digits.mnist, digits.owner, digits.drawings, digits.again, digits.again_of, FLAG_MNIST, "lower"),
            (digits.drawn, np.arange(300), 300, digits.drawn_again, digits.drawn_again_of, FLAG_DRAWN, "linear"),
        )
    ]
    read = []
    scores = calibration.shifted_scores
    monkeypatch.setattr(calibration, "shifted_scores", lambda m, x: read.append(len(x)) or scores(m, x))
    assert fit_novelty(model, small_mnist, digits).threshold == max(every)
    assert sum(read) < (len(digits.mnist) + len(digits.drawn)) / 2  # most drawings are read once, as drawn
    read.clear()
    monkeypatch.setattr(calibration, "MIN_SCREENED", 2)  # far too few at first: twice as many, again and again
    monkeypatch.setattr(calibration, "SCREENED", 1)
    assert fit_novelty(model, small_mnist, digits).threshold <= max(every)  # never above: the others count as lower
    assert len(read) > 4 and sum(read) < len(digits.mnist) + len(digits.again)  # each read once, not all of them
