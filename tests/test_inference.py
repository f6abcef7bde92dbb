"""Reading a drawing: its inputs (src/data/inputs.py) and their reading (src/reading/inference.py), the app's one
reading path, on blank, filled, single and several digits."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from src.data.digits import render_digit
from src.data.inputs import DESLANT_FROM, deslant, drawing_inputs, ink_inputs, shifted
from src.data.preprocess import to_mnist
from src.reading.inference import AS_DRAWN, run_network, run_shifted
from tests.drawings import render_number


def test_run_network_takes_uint8_or_float_images_one_or_many(loaded_model, small_mnist):
    images = small_mnist.test.images[:5].numpy()
    feats, logits = run_network(loaded_model.model, images)
    assert feats.shape == (5, 1568) and logits.shape == (5, 10) and feats.dtype == np.float32
    assert np.allclose(run_network(loaded_model.model, images.astype(np.float32) / 255)[1], logits, atol=1e-4)
    assert np.allclose(run_network(loaded_model.model, images[0])[1], logits[:1], atol=1e-4)


def test_run_shifted_reads_the_input_moved_by_a_pixel_each_way(loaded_model, small_mnist):
    images = small_mnist.test.images[:3].numpy().astype(np.float32) / 255
    feats, logits = run_shifted(loaded_model.model, images)
    as_drawn = run_network(loaded_model.model, images)
    assert (
        logits.shape == (9, 3, 10)
        and np.array_equal(feats, as_drawn[0])
        and np.array_equal(logits[AS_DRAWN], as_drawn[1])
    )
    moved = np.zeros_like(images)
    moved[:, 1:, :-1] = images[:, :-1, 1:]  # one pixel down and one to the left
    assert np.allclose(logits[6], run_network(loaded_model.model, moved)[1], atol=1e-5)


def test_a_drawing_gives_every_input_at_once_its_digits_their_shifted_copies_and_a_second_look():
    rng = np.random.default_rng(3)
    number = drawing_inputs(render_number([4, 2], rng, canvas_height=300))
    assert number.digits.shape == (2, 28, 28) and np.array_equal(number.shifted, shifted(number.digits))
    assert number.again.shape == (1, 28, 28) and np.array_equal(number.again_shifted, shifted(number.again))
    seven = drawing_inputs(render_digit(7, rng, canvas=400))
    assert seven.digits.shape == (1, 28, 28) and seven.shifted.shape == (9, 28, 28)
    assert (seven.again is None) == (abs(deslant(seven.digits[0])[1]) <= DESLANT_FROM)
    blank = drawing_inputs(np.zeros((300, 300), np.float32))
    assert blank.digits is None and blank.shifted is None and blank.again is None


def test_deslant_stands_a_slanted_stroke_upright_and_leaves_an_upright_one(small_mnist):
    line = np.zeros((28, 28), np.float32)
    for row in range(4, 24):
        line[row, 8 + (row - 4) * 12 // 20] = 1.0  # leaning backwards: 12 columns over 20 rows
    upright, slant = deslant(line)
    assert slant == pytest.approx(0.6, abs=0.03)
    cols = (upright * np.arange(28)).sum(1)[4:24] / upright.sum(1)[4:24]
    assert np.ptp(cols) < 1.5 and upright.sum() == pytest.approx(line.sum(), rel=0.02)  # upright, no ink lost
    bar = np.zeros((28, 28), np.float32)
    bar[4:24, 13:15] = 1.0
    assert deslant(bar)[1] == 0 and np.array_equal(deslant(bar)[0], bar)
    # MNIST's own digits: the ink's slant is gone after deslanting
    for image in small_mnist.test.images[:50].numpy().astype(np.float32) / 255:
        assert abs(deslant(deslant(image)[0])[1]) < 0.05


def test_blank_canvas_reads_as_nothing(loaded_model):
    assert loaded_model.read(Image.new("RGB", (400, 400), "white")) is None


def test_a_filled_area_is_not_a_digit_and_shows_no_input(loaded_model):
    img = Image.new("RGB", (400, 400), "white")
    ImageDraw.Draw(img).ellipse((100, 100, 300, 300), fill="black")
    reading = loaded_model.read(img)
    assert reading is not None and not reading.is_digit and len(reading.images) == 0


def test_a_row_of_dots_is_not_a_number(loaded_model):
    # Each dot alone is a blob (src.data.preprocess), so the row is not read as digits, not even as one.
    img = Image.new("RGB", (800, 300), "white")
    for x in (100, 300, 500):
        ImageDraw.Draw(img).ellipse((x, 100, x + 90, 190), fill="black")
    reading = loaded_model.read(img)
    assert reading is not None and not reading.is_digit and len(reading.images) == 0


def test_a_digit_in_pieces_that_are_not_digits_is_read_whole(loaded_model, fives_in_pieces):
    for ink in fives_in_pieces:
        inputs = ink_inputs(ink)
        assert len(inputs.digits) == 2 and not loaded_model.judge(inputs.digits, inputs.shifted).is_digit  # "52"
        assert np.array_equal(inputs.again, to_mnist(ink)[None])  # its second look: whole
        reading = loaded_model.read(ink)
        assert reading.number == "5" and reading.is_digit and np.array_equal(reading.images, to_mnist(ink)[None])


def test_a_one_leaning_far_backwards_is_read_upright(loaded_model, ones_leaning_back):
    for ink in ones_leaning_back:
        inputs = ink_inputs(ink)
        as_drawn = inputs.digits
        assert len(as_drawn) == 1 and not loaded_model.judge(as_drawn, inputs.shifted).is_digit
        reading = loaded_model.read(ink)
        upright, slant = deslant(as_drawn[0])
        assert reading.number == "1" and reading.is_digit and slant > DESLANT_FROM
        assert np.array_equal(reading.images, upright[None])  # the page shows what was read


def test_one_digit_and_a_number(loaded_model):
    rng = np.random.default_rng(42)
    seven = loaded_model.read(render_digit(7, rng, canvas=400))
    assert seven.digits == [7] and seven.is_digit and seven.images.shape == (1, 28, 28)
    number = loaded_model.read(render_number([2, 0, 2, 6], rng))
    assert number.number == "2026" and number.probabilities.shape == (4, 10)
