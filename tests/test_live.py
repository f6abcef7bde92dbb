"""The live reading in the browser (src/web/static/live.js) against the server's reading, in a real Chromium.

live.js is the project's preprocessing, splitting of numbers, network and "is it a digit?" written a second
time; these tests are what keeps the two from drifting apart. tests/test_live_node.py checks a few drawings
the same way in Node, without a browser; the live reading on the running page is in tests/test_browser.py.
"""

import base64
import html
import json
import re

import numpy as np
import pytest
from PIL import Image

from src.data.digits import render_digit
from src.data.inputs import deslant
from src.data.nondigits import KINDS
from src.data.strokes import png_bytes
from src.model.novelty import novelty_path
from src.reading.inference import ModelStore
from src.web import live
from src.web.pad import SIZE
from tests.drawings import render_nondigit, render_number

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DRAWINGS = 1000  # the parity test's size, as issue 12 asks
CANVAS = SIZE  # the pad's drawing


def number_layer(rng) -> Image.Image:
    """2-4 digits side by side on the pad's square drawing."""
    strip = render_number(
        list(rng.integers(0, 10, rng.integers(2, 5))),
        rng,
        120,
        style="transparent",
        brush_frac=(0.03, 0.12),
        height_frac=(0.6, 0.9),
    )
    strip.thumbnail((CANVAS - 10, CANVAS))
    layer = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 0))
    layer.paste(strip, ((CANVAS - strip.width) // 2, (CANVAS - strip.height) // 2))
    return layer


def strokes_layer(ink: np.ndarray) -> Image.Image:
    """An ink map as the pad draws it: black, its alpha the ink."""
    return Image.fromarray(np.dstack([np.zeros(ink.shape + (3,), np.uint8), np.round(ink * 255).astype(np.uint8)]))


def drawings(n: int, seed: int):
    """n drawings as the pad sends them (RGBA PNGs, transparent where nothing is drawn): digits
    from hair-thin to marker-thick brushes, large and small; one in ten a thing that is not a digit (blobs
    included), and one in thirty a number."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        if i % 10 == 9:
            yield render_nondigit(KINDS[i // 10 % len(KINDS)], rng, CANVAS, style="transparent")
        elif i % 30 == 4:
            yield number_layer(rng)
        else:
            yield render_digit(
                i % 10,
                rng,
                CANVAS,
                style="transparent",
                brush_frac=(0.005, 0.12),
                height_frac=(0.1, 0.95),
                slant_deg=30,
            )


@pytest.fixture(scope="module")
def page(browser):
    """A blank page with live.js loaded: its global `liveReading` is its preprocessing and network."""
    page = browser.new_page()
    page.add_script_tag(content=live.SCRIPT.read_text())
    yield page
    page.close()


READ_ALL = """async ([pngs, weights, novelty, constants]) => {
  const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const tensors = liveReading.readSafetensors(bytes(weights).buffer);
  const statistics = novelty ? liveReading.readNovelty(bytes(novelty).buffer, constants.NOVELTY_FORMAT) : null;
  const out = [];
  for (const png of pngs) {
    const r = await liveReading.read(new Blob([bytes(png)], {type: "image/png"}), tensors, statistics, constants);
    out.push(r === null ? null : r.filled ? "filled" : {inputs: r.inputs.map((x) => Array.from(x)),
             probabilities: r.probabilities, isDigit: r.isDigit, unusual: r.unusual});
  }
  return out;
}"""


def read_in_browser(page, images, weights_path, with_novelty=True):
    pngs = [base64.b64encode(png_bytes(img)).decode() for img in images]
    weights = base64.b64encode(weights_path.read_bytes()).decode()
    novelty = base64.b64encode(novelty_path(weights_path).read_bytes()).decode() if with_novelty else ""
    return page.evaluate(READ_ALL, [pngs, weights, novelty, live.constants()])


def kind(reading) -> str:
    """What a reading found, the live one (None, "filled" or a dict) or the server's: "none", "filled" or "read"."""
    if isinstance(reading, dict):
        return "read"
    return "none" if reading is None else "filled" if reading == "filled" or len(reading.images) == 0 else "read"


def test_the_browser_reads_1000_drawings_as_the_server_does(page, default_checkpoint):
    from concurrent.futures import ThreadPoolExecutor

    images = list(drawings(DRAWINGS, seed=12))
    model = ModelStore(default_checkpoint.parent, default_checkpoint.name).load(default_checkpoint.name)
    assert model.novelty is not None
    with ThreadPoolExecutor(1) as pool:  # the server's readings on one core while Chromium reads on the other
        reading = pool.submit(lambda: [model.read(img) for img in images])  # LoadedModel.read: the server's path
        browser = []
        for start in range(0, len(images), 100):
            browser += read_in_browser(page, images[start : start + 100], default_checkpoint)
        server = reading.result()

    # Nothing drawn / a filled area / digits: the same for every drawing, with as many digits.
    assert [kind(b) for b in browser] == [kind(r) for r in server]
    read = [i for i, r in enumerate(server) if kind(r) == "read"]
    assert len(read) > 0.9 * DRAWINGS
    assert [len(browser[i]["inputs"]) for i in read] == [len(server[i].images) for i in read]
    numbers = sum(len(server[i].images) > 1 for i in read)

    # The same 28x28 inputs (Pillow's resampling is reproduced bit for bit: only float32 rounding differs) ...
    js_inputs = np.array([x for i in read for x in browser[i]["inputs"]], np.float32).reshape(-1, 28, 28)
    py_inputs = np.concatenate([server[i].images for i in read])
    assert np.abs(js_inputs - py_inputs).max() <= 1e-6
    # ... the same digits, with the same probabilities, from the same weights ...
    js_p = np.array([p for i in read for p in browser[i]["probabilities"]])
    py_p = np.concatenate([server[i].probabilities for i in read])
    # ... and the same verdict: a digit, not a digit, or an unusual digit.
    js_v = [(browser[i]["isDigit"], browser[i]["unusual"]) for i in read]
    py_v = [(server[i].is_digit, server[i].unusual) for i in read]
    print(
        f"\nlive.js against the server on {DRAWINGS} drawings: {len(read)} read ({numbers} as numbers, "
        f"{len(py_inputs)} digits), inputs bit-identical in {int((js_inputs == py_inputs).all(axis=(1, 2)).sum())}, "
        f"max input difference {np.abs(js_inputs - py_inputs).max():.1e}, same digit in "
        f"{int((js_p.argmax(1) == py_p.argmax(1)).sum())}, max probability difference {np.abs(js_p - py_p).max():.1e}; "
        f"the same verdict in {sum(a == b for a, b in zip(js_v, py_v))}: "
        f"{sum(not d for d, _ in py_v)} not a digit, {sum(u for _, u in py_v)} unusual"
    )
    assert numbers >= 20
    assert (js_p.argmax(1) == py_p.argmax(1)).all()
    assert np.abs(js_p - py_p).max() <= 1e-5
    assert js_v == py_v
    assert sum(not d for d, _ in py_v) >= 30  # the non-digits are among them


@pytest.mark.parametrize("drawings, digit", [("fives_in_pieces", 5), ("ones_leaning_back", 1)])
def test_the_browser_gives_a_second_look_as_the_server_does(page, default_checkpoint, request, drawings, digit):
    # Not a digit as first read (split into "52", or slanted far), each is read again (whole, or upright): a `digit`.
    layers = [strokes_layer(ink) for ink in request.getfixturevalue(drawings)]
    browser = read_in_browser(page, layers, default_checkpoint)
    model = ModelStore(default_checkpoint.parent, default_checkpoint.name).load(default_checkpoint.name)
    for b, layer in zip(browser, layers):
        server = model.read(layer)
        assert server.number == str(digit) and server.is_digit
        assert len(b["inputs"]) == 1 and np.argmax(b["probabilities"][0]) == digit and b["isDigit"]
        assert np.abs(np.array(b["inputs"][0]) - server.images[0].ravel()).max() <= 1e-6


def test_the_browser_reads_dots_alone_as_no_digit_as_the_server_does(page, default_checkpoint, dots_alone):
    layers = [strokes_layer(ink) for _, ink in dots_alone]
    model = ModelStore(default_checkpoint.parent, default_checkpoint.name).load(default_checkpoint.name)
    assert read_in_browser(page, layers, default_checkpoint) == ["filled"] * len(layers)
    assert all(len(model.read(layer).images) == 0 for layer in layers)


def test_the_browser_deslants_as_the_server_does(page, small_mnist):
    images = small_mnist.test.images[:200].numpy().astype(np.float32) / 255
    browser = page.evaluate(
        """(inputs) => inputs.map((x) => {
      const r = liveReading.deslant(Float32Array.from(x), 28);
      return {input: Array.from(r.input), slant: r.slant};
    })""",
        [x.ravel().tolist() for x in images],
    )
    for b, x in zip(browser, images):
        upright, slant = deslant(x)
        assert b["slant"] == pytest.approx(slant, abs=1e-12)
        assert np.abs(np.array(b["input"], np.float32).reshape(28, 28) - upright).max() <= 1e-6


def test_without_statistics_the_browser_falls_back_as_the_server_does(page, default_checkpoint, tmp_path, monkeypatch):
    import shutil

    from src.reading import inference

    # A stricter fallback than the app's, on both sides, so that some of these drawings fall below it.
    for module in (inference, live):
        monkeypatch.setattr(module, "FALLBACK_MIN_CONFIDENCE", 0.999)

    bare = tmp_path / "bare.safetensors"  # the weights alone: no novelty statistics next to them
    shutil.copyfile(default_checkpoint, bare)
    shutil.copyfile(default_checkpoint.with_suffix(".json"), bare.with_suffix(".json"))
    model = ModelStore(tmp_path, bare.name).load(bare.name)
    assert model.novelty is None
    images = list(drawings(100, seed=13))
    browser = read_in_browser(page, images, bare, with_novelty=False)
    server = [model.read(img) for img in images]
    pairs = [(b["isDigit"], r.is_digit) for b, r in zip(browser, server) if isinstance(b, dict)]
    assert pairs and all(a == b for a, b in pairs) and not all(b for _, b in pairs)


def blank_speck_and_filled() -> list[Image.Image]:
    """A blank pad, one pixel of ink, and a pad all ink: nothing, nothing and a filled area to both readings."""
    blank = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 0))
    speck = blank.copy()
    speck.putpixel((100, 100), (0, 0, 0, 255))
    return [blank, speck, Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 255))]


def test_blank_and_tiny_drawings_are_not_read(page, default_checkpoint):
    assert read_in_browser(page, blank_speck_and_filled(), default_checkpoint) == [None, None, "filled"]


def test_the_element_hands_over_the_constants_and_the_links_to_the_checkpoints_own_files(default_checkpoint):
    from src.web.downloads import WeightLinks

    links = WeightLinks()
    link, novelty = links.url(default_checkpoint), links.url(novelty_path(default_checkpoint))
    markup = live.element(link, novelty)
    constants = json.loads(html.unescape(re.search(r'data-constants="([^"]*)"', markup)[1]))
    assert constants == live.constants() and constants["WORK"] == 80 and constants["MEAN"] == pytest.approx(0.1307)
    assert html.unescape(re.search(r'data-weights="([^"]*)"', markup)[1]) == link
    assert html.unescape(re.search(r'data-novelty="([^"]*)"', markup)[1]) == novelty != link
    assert str(default_checkpoint.parent.resolve()) not in markup
    assert 'data-weights=""' in live.element("", "")
    assert markup.count('class="live-bar"') == 10


PAD_PAGE = """<!doctype html><html><body><div id="sketchpad" style="width: 380px">{markup}</div>
<script>{pad}</script><script>window.values = []; window.drawPad(document.getElementById("sketchpad"),
  (png) => window.values.push(png));</script></body></html>"""

# Each drawing's strokes, drawn through the pad's own pointer handlers; -> [{png, pixels' reading}] in order.
DRAW_ON_PAD = """async ([drawings, weights, novelty, constants]) => {
  const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const tensors = liveReading.readSafetensors(bytes(weights).buffer);
  const statistics = liveReading.readNovelty(bytes(novelty).buffer, constants.NOVELTY_FORMAT);
  const pad = document.querySelector("#sketchpad .pad").pad, canvas = document.querySelector("#sketchpad canvas");
  const r = canvas.getBoundingClientRect();
  const at = ([u, v], type) => new PointerEvent(type, {clientX: r.left + u * r.width, clientY: r.top + v * r.height,
    button: 0, buttons: type === "pointerup" ? 0 : 1, pointerId: 1, pointerType: "mouse", bubbles: true});
  const out = [];
  for (const strokes of drawings) {
    pad.clear();
    for (const stroke of strokes) {
      canvas.dispatchEvent(at(stroke[0], "pointerdown"));
      for (const p of stroke.slice(1)) canvas.dispatchEvent(at(p, "pointermove"));
      canvas.dispatchEvent(at(stroke[stroke.length - 1], "pointerup"));
    }
    const n = window.values.length, img = pad.pixels();
    const read = liveReading.readPixels(img.data, img.width, img.height, tensors, statistics, constants);
    // The PNG the pad sends once the last stroke is committed.
    const sent = () => window.values.length > n && window.values[window.values.length - 1];
    while (!sent()) await new Promise((f) => setTimeout(f, 5));
    out.push({png: window.values[window.values.length - 1], read: read === null ? null : read.filled ? "filled" :
      {inputs: read.inputs.map((x) => Array.from(x)), probabilities: read.probabilities, isDigit: read.isDigit}});
  }
  return out;
}"""


def pad_strokes(n: int, seed: int) -> list:
    """n drawings as strokes in the pad's unit square: a 1, a 7, a 0, a 4 or a 17, moved, scaled and shaken as
    hands do, or a scribble."""
    rng = np.random.default_rng(seed)
    shapes = [
        [[(0.40, 0.25), (0.52, 0.12), (0.52, 0.88)]],
        [[(0.28, 0.16), (0.72, 0.16), (0.45, 0.88)]],
        [
            [
                (0.50, 0.12),
                (0.70, 0.28),
                (0.72, 0.60),
                (0.55, 0.88),
                (0.38, 0.82),
                (0.28, 0.55),
                (0.32, 0.26),
                (0.50, 0.12),
            ]
        ],
        [[(0.60, 0.88), (0.60, 0.12), (0.25, 0.62), (0.78, 0.62)]],
        [[(0.14, 0.36), (0.24, 0.28), (0.24, 0.72)], [(0.50, 0.30), (0.86, 0.30), (0.64, 0.72)]],
    ]
    out = []
    for i in range(n):
        if i % 6 == 5:
            strokes = [[tuple(p) for p in rng.uniform(0.1, 0.9, (int(rng.integers(3, 12)), 2))]]
        else:
            scale, (dx, dy) = rng.uniform(0.5, 1.0), rng.uniform(-0.1, 0.1, 2)
            strokes = [
                [
                    (
                        0.5 + (u - 0.5) * scale + dx + rng.normal(0, 0.01),
                        0.5 + (v - 0.5) * scale + dy + rng.normal(0, 0.01),
                    )
                    for u, v in s
                ]
                for s in shapes[i % 5]
            ]
        # Each segment as a hand moves: in steps of a few pixels.
        out.append(
            [
                [
                    (u0 + (u1 - u0) * k / 8, v0 + (v1 - v0) * k / 8)
                    for (u0, v0), (u1, v1) in zip(s, s[1:])
                    for k in range(8)
                ]
                + [s[-1]]
                for s in strokes
            ]
        )
    return out


def test_drawings_made_on_the_pad_read_the_same_in_the_browser_and_from_the_png_the_server_gets(
    browser, default_checkpoint
):
    from src.web import pad

    page = browser.new_page()
    page.set_content(PAD_PAGE.format(markup=pad.MARKUP, pad=pad.SCRIPT.read_text()))
    page.add_script_tag(content=live.SCRIPT.read_text())
    weights = base64.b64encode(default_checkpoint.read_bytes()).decode()
    novelty = base64.b64encode(novelty_path(default_checkpoint).read_bytes()).decode()
    drawn = page.evaluate(DRAW_ON_PAD, [pad_strokes(120, seed=38), weights, novelty, live.constants()])
    page.close()
    model = ModelStore(default_checkpoint.parent, default_checkpoint.name).load(default_checkpoint.name)
    read = 0
    for d in drawn:
        server = model.read(pad.decode(d["png"]))  # the PNG the pad sends, as the server decodes it
        if d["read"] is None or d["read"] == "filled":
            assert server is None or len(server.images) == 0
            continue
        read += 1
        assert np.abs(np.array(d["read"]["inputs"], np.float32).reshape(-1, 28, 28) - server.images).max() <= 1e-6
        assert np.abs(np.array(d["read"]["probabilities"]) - server.probabilities).max() <= 1e-5
        assert d["read"]["isDigit"] == server.is_digit
    assert read >= 90
