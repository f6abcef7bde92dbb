"""Whole numbers (src/data/segment.py): splitting a drawing into digits and reading them."""

import numpy as np
from PIL import Image, ImageDraw

from src.data.digits import render_digit
from src.data.inputs import ink_inputs
from src.data.preprocess import ink_map, to_mnist
from src.data.segment import split_digits
from tests.drawings import render_number


def test_reads_multi_digit_drawings(loaded_model):
    rng = np.random.default_rng(2026)
    n, right, counted = 60, 0, 0
    for i in range(n):
        digits = [int(d) for d in rng.integers(0, 10, 3 + i % 2)]
        reading = loaded_model.read(render_number(digits, rng))  # the app's own reading path
        right += reading.digits == digits
        counted += len(reading.digits) == len(digits)
        assert reading.number == "".join(map(str, reading.digits))
        assert len(reading.confidences) == len(reading.digits) == len(reading.images)
    print(f"\n3-4 digit numbers read entirely correctly: {right}/{n}; right digit count {counted}/{n}")
    assert right / n >= 0.9


def test_single_digit_is_one_segment():
    rng = np.random.default_rng(5)
    for digit in range(10):
        for style in ("composite", "transparent"):
            img = render_digit(digit, rng, style=style)
            assert len(split_digits(ink_map(img))) == 1, (digit, style)


def test_detached_strokes_merge_and_specks_are_ignored():
    img = Image.new("L", (600, 300), 0)
    d = ImageDraw.Draw(img)
    d.line([(80, 60), (80, 150), (150, 150), (160, 240), (70, 250)], fill=255, width=14)  # body of a 5
    d.line([(95, 50), (170, 50)], fill=255, width=14)  # its bar, drawn apart
    d.line([(350, 50), (350, 250)], fill=255, width=14)  # a 1
    d.ellipse((500, 280, 504, 284), fill=255)  # a speck
    parts = split_digits(np.asarray(img, np.float32) / 255)
    assert len(parts) == 2
    assert all(to_mnist(p) is not None for p in parts)
    assert split_digits(np.zeros((50, 50), np.float32)) == []


def test_dots_alone_are_split_into_their_dots_and_read_as_no_digit(dots_alone):
    for centres, ink in dots_alone:
        parts = split_digits(ink)
        assert len(parts) == len(centres) and all(to_mnist(p) is None for p in parts)
        assert len(ink_inputs(ink).digits) == 0  # "dots or a filled area": no digit, whatever the network would say


def test_a_stroke_beside_a_dot_is_still_read():
    # One part that is a stroke is enough: a 1 with a dot above it (an i) stays one part, as before.
    img = Image.new("L", (320, 320), 0)
    ImageDraw.Draw(img).ellipse((150, 50, 170, 70), fill=255)
    ImageDraw.Draw(img).line([(160, 110), (160, 290)], fill=255, width=14)
    parts = split_digits(np.asarray(img, np.float32) / 255)
    assert len(parts) == 1 and to_mnist(parts[0]) is not None
