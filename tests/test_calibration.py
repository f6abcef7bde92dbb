"""Fitting "is it a digit?" (src/reading/calibration.py): the tuning digits are made once and kept in one file."""

import numpy as np

from src.reading import calibration
from src.reading.calibration import CACHE_NAME, calibration_digits


def test_a_drawing_scores_its_highest_input_or_lower_whole_and_one_with_none_is_flagged():
    digits = calibration.TuningDigits(np.zeros((6, 28, 28)), np.array([0, 1, 1, 3, 4, 4]), 5, np.zeros((0, 28, 28)),
                                      np.zeros((2, 28, 28)), np.array([1, 4]))
    scores = calibration.drawing_scores(digits, np.array([-9.0, -8.0, -2.0, -7.0, -6.0, -5.0]), np.array([-4.0, -3.0]))
    # drawing 1 was read as two digits and scores lower whole; 2 was refused; 4 scores lower in its parts
    assert scores.tolist() == [-9.0, -4.0, np.inf, -7.0, -5.0]


def test_tuning_digits_are_kept_in_one_file_and_made_again_for_other_data_or_a_damaged_file(
        small_mnist, tmp_path, monkeypatch):
    first = calibration_digits(small_mnist, n_mnist=20, n_drawn=10, folder=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [CACHE_NAME]
    assert first.drawings == 20 and len(first.mnist) == len(first.owner) >= 19 and first.drawn.shape == (10, 28, 28)
    assert first.mnist.shape[1:] == (28, 28) and set(first.owner) <= set(range(20))
    assert first.whole.shape == (len(first.split), 28, 28)  # the drawings read as several digits, whole
    made = []
    drawn = calibration._drawn_digits

    def counted(n, seed):
        made.append(seed)
        return drawn(n, seed)

    monkeypatch.setattr(calibration, "_drawn_digits", counted)
    again = calibration_digits(small_mnist, n_mnist=20, n_drawn=10, folder=tmp_path)
    assert made == [] and all(np.array_equal(a, b) for a, b in zip(first, again))  # read from the file
    calibration_digits(small_mnist, n_mnist=20, n_drawn=10, seed=7, folder=tmp_path)  # other data: made again
    assert made == [7] and [p.name for p in tmp_path.iterdir()] == [CACHE_NAME]  # ... and the one file replaced
    (tmp_path / CACHE_NAME).write_bytes(b"half a file")
    calibration_digits(small_mnist, n_mnist=20, n_drawn=10, seed=7, folder=tmp_path)
    assert made == [7, 7] and [p.name for p in tmp_path.iterdir()] == [CACHE_NAME]
