"""Reading a drawing (src/reading/inference.py): the app's one reading path, on blank, filled, single and several digits."""

import numpy as np
from PIL import Image, ImageDraw

from src.data.preprocess import DESLANT_FROM, deslant, to_mnist
from src.data.synthetic import render_digit, render_number
from src.reading.inference import AS_DRAWN, digit_inputs, run_network, run_shifted


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
        parts = digit_inputs(ink)
        assert len(parts) == 2 and not loaded_model.read_inputs(parts).is_digit  # "52": the bar alone is no digit
        reading = loaded_model.read(ink)
        assert reading.number == "5" and reading.is_digit and np.array_equal(reading.images, to_mnist(ink)[None])


def test_a_one_leaning_far_backwards_is_read_upright(loaded_model, ones_leaning_back):
    for ink in ones_leaning_back:
        as_drawn = digit_inputs(ink)
        assert len(as_drawn) == 1 and not loaded_model.read_inputs(as_drawn).is_digit
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
