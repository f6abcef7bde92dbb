"""The live reading in the browser (src/web/static/live.js) against the Python path, in a real Chromium.

live.js is the project's preprocessing and network written a second time; these tests are what keeps the
two from drifting apart. The browser test of the live reading on the running page is in tests/test_browser.py.
"""

import base64
import html
import json
import re

import numpy as np
import pytest

from src.web import live
from src.reading.inference import run_network
from src.model.checkpoint import load_checkpoint
from src.data.preprocess import ink_map, measure_ink, to_mnist
from src.data.synthetic import KINDS, png_bytes, render_digit, render_nondigit

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DRAWINGS = 1000  # the parity test's size, as issue 12 asks
CANVAS = 320  # the app's Sketchpad


def drawings(n: int, seed: int):
    """n strokes layers as the Sketchpad sends them (RGBA PNGs, transparent where nothing is drawn): 90% digits
    from hair-thin to marker-thick brushes, large and small, 10% things that are not digits (blobs included)."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        if i % 10 == 9:
            yield render_nondigit(KINDS[i // 10 % len(KINDS)], rng, CANVAS, style="transparent")
        else:
            yield render_digit(i % 10, rng, CANVAS, style="transparent", brush_frac=(0.005, 0.12),
                               height_frac=(0.1, 0.95))


@pytest.fixture(scope="module")
def page(browser):
    """A blank page with live.js loaded: window.liveReading is its preprocessing and network."""
    page = browser.new_page()
    page.add_script_tag(content=live.SCRIPT.read_text())
    yield page
    page.close()


READ_ALL = """async ([pngs, weights, config]) => {
  const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const tensors = liveReading.readSafetensors(bytes(weights).buffer);
  const out = [];
  for (const png of pngs) {
    const r = await liveReading.read(new Blob([bytes(png)], {type: "image/png"}), tensors, config);
    out.push(r === null ? null : r.filled ? "filled" : {input: Array.from(r.input), probabilities: r.probabilities});
  }
  return out;
}"""


def read_in_browser(page, images, weights_path):
    pngs = [base64.b64encode(png_bytes(img)).decode() for img in images]
    weights = base64.b64encode(weights_path.read_bytes()).decode()
    return page.evaluate(READ_ALL, [pngs, weights, live.config()])


def test_the_browser_reads_1000_drawings_as_python_does(page, default_checkpoint):
    images = list(drawings(DRAWINGS, seed=12))
    browser = []
    for start in range(0, len(images), 100):
        browser += read_in_browser(page, images[start:start + 100], default_checkpoint)
    inks = [ink_map(img) for img in images]
    python = [to_mnist(ink) for ink in inks]
    model, _ = load_checkpoint(default_checkpoint)

    # Nothing drawn / a filled area / a digit: the same verdict for every drawing.
    verdict = lambda r: "none" if r is None else "filled" if isinstance(r, str) else "digit"  # noqa: E731
    python_verdicts = ["none" if not measure_ink(ink) else "filled" if p is None else "digit"
                       for ink, p in zip(inks, python)]
    assert [verdict(b) for b in browser] == python_verdicts
    digits = [i for i, p in enumerate(python) if p is not None]
    assert len(digits) > 0.9 * DRAWINGS

    # The same 28x28 input (Pillow's resampling is reproduced bit for bit: only float32 rounding differs) ...
    js_inputs = np.array([browser[i]["input"] for i in digits], np.float32).reshape(-1, 28, 28)
    py_inputs = np.stack([python[i] for i in digits])
    assert np.abs(js_inputs - py_inputs).max() <= 1e-6
    # ... and the same digit, with the same probabilities, from the same weights.
    _, logits = run_network(model, py_inputs)
    py_p = np.exp(logits - logits.max(1, keepdims=True))
    py_p /= py_p.sum(1, keepdims=True)
    js_p = np.array([browser[i]["probabilities"] for i in digits])
    print(f"\nlive.js against Python on {DRAWINGS} drawings: {len(digits)} read as digits, inputs bit-identical in "
          f"{int((js_inputs == py_inputs).all(axis=(1, 2)).sum())}, max input difference {np.abs(js_inputs - py_inputs).max():.1e}, "
          f"same digit in {int((js_p.argmax(1) == py_p.argmax(1)).sum())}, max probability difference "
          f"{np.abs(js_p - py_p).max():.1e}")
    assert (js_p.argmax(1) == py_p.argmax(1)).all()
    assert np.abs(js_p - py_p).max() <= 1e-5


def test_blank_and_tiny_drawings_are_not_read(page, default_checkpoint):
    from PIL import Image

    blank = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 0))
    speck = blank.copy()
    speck.putpixel((100, 100), (0, 0, 0, 255))
    filled = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 255))
    assert read_in_browser(page, [blank, speck, filled], default_checkpoint) == [None, None, "filled"]


def test_the_element_hands_over_the_constants_and_the_link_to_the_checkpoints_own_weights(default_checkpoint):
    from src.web.downloads import WeightLinks

    link = WeightLinks().url(default_checkpoint)
    markup = live.element(link)
    config = json.loads(html.unescape(re.search(r'data-config="([^"]*)"', markup)[1]))
    assert config == live.config() and config["WORK"] == 80 and config["MEAN"] == pytest.approx(0.1307)
    assert html.unescape(re.search(r'data-weights="([^"]*)"', markup)[1]) == link
    assert str(default_checkpoint.parent.resolve()) not in markup
    assert 'data-weights=""' in live.element("")
    assert markup.count('class="live-bar"') == 10
