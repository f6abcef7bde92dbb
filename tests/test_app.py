"""The running app through gradio_client, as users' scripts call it: /predict and /classify."""

import numpy as np
import pytest
from gradio_client import handle_file
from PIL import Image

from src.data.digits import render_digit
from src.data.mnist import read_mnist
from src.web.pad import SIZE, encode
from tests.conftest import app_client

BLANK = (None, None, None, "")  # /predict's answer for an empty pad: no reading, no pictures, no note


def classify_many(server, paths):
    """/classify for every path, in order, as scripts of a few visitors send them (answers())."""
    return answers(server, [(handle_file(str(p)),) for p in paths], "/classify")


def answers(server, inputs: list[tuple], api_name: str, visitors: int = 4) -> list:
    """The answers to one request per inputs tuple, in order, sent by `visitors` clients at once, each one request
    after another (one gradio_client Client with several jobs in flight can lose an answer)."""
    from concurrent.futures import ThreadPoolExecutor

    def send(share):
        client = app_client(server.url)
        return [client.predict(*args, api_name=api_name) for args in share]

    with ThreadPoolExecutor(visitors) as pool:
        shares = list(pool.map(send, [inputs[i::visitors] for i in range(visitors)]))
    return [shares[i % visitors][i // visitors] for i in range(len(inputs))]


def on_pad(drawing: Image.Image) -> str:
    """A drawing (black ink on transparency) as the pad sends it: in its SIZE x SIZE square (a larger one scaled
    down to fit, centred), as a PNG data URL (src.web.pad.encode)."""
    drawing = drawing.convert("RGBA")
    if drawing.size != (SIZE, SIZE):
        drawing.thumbnail((SIZE, SIZE), Image.Resampling.LANCZOS)
        square = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
        square.paste(drawing, ((SIZE - drawing.width) // 2, (SIZE - drawing.height) // 2))
        drawing = square
    return encode(drawing)


def drawn(digit: int, rng) -> str:
    """One mouse-like drawing of `digit` as the pad sends it."""
    return on_pad(render_digit(digit, rng, canvas=SIZE, style="transparent"))


@pytest.mark.slow
def test_classify_reads_50_thick_stroke_drawings(server, tmp_path):
    """Drawn on 800x800 at 30-85% of its height, anywhere, slant ±10°, brush 2.5-7% of the canvas. (How well the
    model reads drawings is bench/recognition.py's to measure; this is the served path, uploads to answers.)"""
    rng = np.random.default_rng(2026)
    digits = np.arange(50) % 10
    paths = []
    for i, d in enumerate(digits):
        path = tmp_path / f"{i}.png"
        render_digit(int(d), rng, canvas=800, style="composite").convert("RGB").save(path)
        paths.append(path)
    results = classify_many(server, paths)
    accuracy = np.mean([r["digit"] == d for r, d in zip(results, digits)])
    print(f"/classify on 50 drawn digits: {accuracy:.1%}")
    assert accuracy >= 0.98
    assert all(len(r["probabilities"]) == 10 and abs(sum(r["probabilities"]) - 1) < 1e-3 for r in results)


@pytest.mark.slow
def test_classify_reads_mnist_test_digits_as_280px_black_on_white_pngs(server, data_dir, tmp_path):
    test = read_mnist(data_dir, train=False)
    idx = np.random.default_rng(0).choice(len(test), 50, replace=False)
    paths = []
    for i in idx:
        img = Image.fromarray(255 - test.images[i].numpy()).resize((280, 280), Image.Resampling.BICUBIC)
        img.save(tmp_path / f"{i}.png")
        paths.append(tmp_path / f"{i}.png")
    results = classify_many(server, paths)
    accuracy = np.mean([r["digit"] == int(test.labels[i]) for r, i in zip(results, idx)])
    print(f"/classify on 50 MNIST test digits (280px, black on white): {accuracy:.1%}")
    assert accuracy >= 0.98


@pytest.mark.slow
def test_predict_reads_30_drawings_from_the_pad(server):
    rng = np.random.default_rng(7)
    digits = np.arange(30) % 10
    readings = [reading for reading, *_ in answers(server, [(drawn(int(d), rng),) for d in digits], "/predict")]
    correct = sum(r["digit"] == d for r, d in zip(readings, digits))
    print(f"/predict, pad drawings: {correct}/30")
    assert correct >= 29


def test_blank_canvas_gives_no_digit_and_no_error(client, tmp_path):
    Image.new("RGB", (800, 800), "white").save(tmp_path / "blank.png")
    assert client.predict(handle_file(str(tmp_path / "blank.png")), api_name="/classify") == {
        "digit": None,
        "confidence": 0.0,
        "probabilities": [0.0] * 10,
        "is_digit": False,
        "unusual": False,
    }
    for empty in ("", None, on_pad(Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0)))):  # nothing drawn, or cleared
        assert client.predict(empty, api_name="/predict") == BLANK


def test_predict_returns_the_reading_as_classify_does_and_the_model_input(client, tmp_path):
    strokes = render_digit(4, np.random.default_rng(1), canvas=SIZE, style="transparent")
    reading, image, heat, note = client.predict(on_pad(strokes), api_name="/predict")
    assert set(reading) == {"digit", "confidence", "probabilities", "is_digit", "unusual"}
    assert reading["digit"] == 4 and reading["is_digit"] and not reading["unusual"] and note == ""
    probabilities = reading["probabilities"]  # all ten, in digit order
    assert len(probabilities) == 10 and abs(sum(probabilities) - 1) < 1e-3 and all(0 <= p <= 1 for p in probabilities)
    assert reading["confidence"] == max(probabilities) == probabilities[4]
    seen = np.asarray(Image.open(image).convert("L"))
    assert seen.shape == (280, 280) and seen.max() > 200 and seen[:20].max() < 30  # white digit, dark margin
    strokes.save(tmp_path / "four.png")  # the same drawing as a file: /classify reads it the same
    assert client.predict(handle_file(str(tmp_path / "four.png")), api_name="/classify") == reading


BAD_VALUES = {
    "a long string": "x" * 500_000,
    "a long list": ["a"] * 50_000,
    "a dict": {"a": [1] * 1000},
    "a huge number": -(10**30),
    "nested lists": [[[[[]]]]] * 1000,
}


def test_every_endpoint_answers_absurd_inputs_with_a_short_message(server, client):
    """Each input of each named endpoint, given values of the wrong kind and size through the REST route: refused
    before the queue (4xx) or answered with an error message of a few lines, quickly, and the server serves on."""
    import time

    import requests

    endpoints = app_client(server.url).view_api(return_format="dict", print_info=False)["named_endpoints"]
    tried = 0
    for name, info in endpoints.items():
        defaults = [p.get("parameter_default") for p in info["parameters"]]
        for i in range(len(defaults)):
            for kind, bad in BAD_VALUES.items():
                data = defaults[:i] + [bad] + defaults[i + 1 :]
                started = time.monotonic()
                r = requests.post(f"{server.url}gradio_api/call{name}", json={"data": data}, timeout=60)
                if r.status_code == 200:
                    answer = requests.get(f"{server.url}gradio_api/call{name}/{r.json()['event_id']}", timeout=60).text
                    assert "event: error" in answer, (name, kind, answer[:300])
                    message = answer.split("event: error", 1)[1].split("data: ", 1)[1].split("\n")[0]
                    assert '"error": null' not in message and len(message) < 600, (name, i, kind, message[:300])
                else:
                    assert 400 <= r.status_code < 500 and len(r.text) < 2000, (
                        name,
                        i,
                        kind,
                        r.status_code,
                        r.text[:300],
                    )
                assert time.monotonic() - started < 10, (name, i, kind)
                tried += 1
    assert tried >= 50
    assert requests.get(server.url, timeout=30).status_code == 200
    client.predict(drawn(3, np.random.default_rng(3)), api_name="/predict")  # and good values are taken
    assert client.predict("5", api_name="/correct")[1].startswith("Saved as a **5**")
    assert "Deleted your" in client.predict(api_name="/delete_corrections")
