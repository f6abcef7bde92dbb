"""Fitting "is it a digit?" (src/reading/calibration.py): the tuning digits are made once and kept in one file."""

import numpy as np

from src.reading import calibration
from src.reading.calibration import CACHE_NAME, calibration_digits


def test_a_drawing_scores_its_highest_input_or_its_lower_second_look_and_one_with_none_is_flagged():
    owner, again_of = np.array([0, 1, 1, 3, 4, 4, 5]), np.array([1, 4, 5])
    scores = calibration.drawing_scores(owner, 6, np.array([-9.0, -8.0, -2.0, -7.0, -6.0, -5.0, -1.0]), again_of,
                                        np.array([-4.0, -3.0, -8.0]))
    # 1 was read as two digits and scores lower whole; 2 was refused; 4 scores lower in its parts; 5 upright
    assert scores.tolist() == [-9.0, -4.0, np.inf, -7.0, -5.0, -8.0]


def test_tuning_digits_are_kept_in_one_file_and_made_again_for_other_data_or_a_damaged_file(
        small_mnist, tmp_path, monkeypatch):
    first = calibration_digits(small_mnist, n_mnist=20, n_drawn=10, folder=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [CACHE_NAME]
    assert first.drawings == 20 and len(first.mnist) == len(first.owner) >= 19 and first.drawn.shape == (10, 28, 28)
    assert first.mnist.shape[1:] == (28, 28) and set(first.owner) <= set(range(20))
    assert first.again.shape == (len(first.again_of), 28, 28) and first.drawn_again.shape == (len(first.drawn_again_of), 28, 28)
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
