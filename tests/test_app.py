"""The running app through gradio_client, as users' scripts call it: /predict and /classify."""

import numpy as np
import pytest
from gradio_client import handle_file
from PIL import Image

from src.data.mnist import read_mnist
from src.data.synthetic import render_digit, sketchpad_value


def classify_many(server, paths):
    """/classify for every path, in order, as scripts of a few visitors send them (answers())."""
    return answers(server, [(handle_file(str(p)),) for p in paths], "/classify")


def answers(server, inputs: list[tuple], api_name: str, visitors: int = 4) -> list:
    """The answers to one request per inputs tuple, in order, sent by `visitors` clients at once, each one request
    after another (one gradio_client Client with several jobs in flight can lose an answer)."""
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client

    def send(share):
        client = Client(server.url, verbose=False)
        return [client.predict(*args, api_name=api_name) for args in share]

    with ThreadPoolExecutor(visitors) as pool:
        shares = list(pool.map(send, [inputs[i::visitors] for i in range(visitors)]))
    return [shares[i % visitors][i // visitors] for i in range(len(inputs))]


def predicted_digit(label: dict):
    return int(label["label"]) if label and label.get("confidences") else None  # None: blank or "not a digit"


def save_sketch(value: dict, folder, stem) -> dict:
    """A sketchpad value as gradio_client sends it: each image as an uploaded file."""
    out = {"id": None}
    for key in ("background", "composite"):
        if value.get(key) is None:
            out[key] = None
        else:
            value[key].save(folder / f"{stem}-{key}.png")
            out[key] = handle_file(str(folder / f"{stem}-{key}.png"))
    out["layers"] = []
    for i, layer in enumerate(value.get("layers") or []):
        layer.save(folder / f"{stem}-layer{i}.png")
        out["layers"].append(handle_file(str(folder / f"{stem}-layer{i}.png")))
    return out


@pytest.mark.slow
def test_classify_reads_200_thick_stroke_drawings(server, tmp_path):
    """Drawn on 800x800 at 30-85% of its height, anywhere, slant ±10°, brush 2.5-7% of the canvas."""
    rng = np.random.default_rng(2026)
    digits = np.arange(200) % 10
    paths = []
    for i, d in enumerate(digits):
        path = tmp_path / f"{i}.png"
        render_digit(int(d), rng, canvas=800, style="composite").convert("RGB").save(path)
        paths.append(path)
    results = classify_many(server, paths)
    accuracy = np.mean([r["digit"] == d for r, d in zip(results, digits)])
    print(f"/classify on 200 drawn digits: {accuracy:.1%}")
    assert accuracy >= 0.98
    assert all(len(r["probabilities"]) == 10 and abs(sum(r["probabilities"]) - 1) < 1e-3 for r in results)


@pytest.mark.slow
def test_classify_reads_mnist_test_digits_as_280px_black_on_white_pngs(server, data_dir, tmp_path):
    test = read_mnist(data_dir, train=False)
    idx = np.random.default_rng(0).choice(len(test), 300, replace=False)
    paths = []
    for i in idx:
        img = Image.fromarray(255 - test.images[i].numpy()).resize((280, 280), Image.Resampling.BICUBIC)
        img.save(tmp_path / f"{i}.png")
        paths.append(tmp_path / f"{i}.png")
    results = classify_many(server, paths)
    accuracy = np.mean([r["digit"] == int(test.labels[i]) for r, i in zip(results, idx)])
    print(f"/classify on 300 MNIST test digits (280px, black on white): {accuracy:.1%}")
    assert accuracy >= 0.99


@pytest.mark.slow
@pytest.mark.parametrize("theme", ["dark", "transparent"])
def test_predict_reads_drawings_on_dark_and_transparent_canvases(server, tmp_path, theme):
    rng = np.random.default_rng(7 if theme == "dark" else 8)
    digits = np.arange(60) % 10
    sketches = []
    for i, d in enumerate(digits):
        strokes = render_digit(int(d), rng, canvas=400, style="transparent")  # black ink, as the brush draws
        if theme == "dark":  # the dark theme's opaque #333 composite, without layers: ink against the background
            background = Image.new("RGBA", strokes.size, (0x33, 0x33, 0x33, 255))
            value = {"background": background, "layers": [], "composite": Image.alpha_composite(background, strokes)}
        else:  # a transparent background and no layers: the ink is in the alpha channel
            value = {"background": None, "layers": [], "composite": strokes}
        sketches.append((save_sketch(value, tmp_path, f"{theme}{i}"),))
    labels = [label for chart, label, image, *_ in answers(server, sketches, "/predict")]
    correct = sum(predicted_digit(label) == d for label, d in zip(labels, digits))
    print(f"/predict, {theme} canvas: {correct}/60")
    assert correct >= 58


def test_blank_canvas_gives_no_digit_and_no_error(client, tmp_path):
    Image.new("RGB", (800, 800), "white").save(tmp_path / "blank.png")
    assert client.predict(handle_file(str(tmp_path / "blank.png")), api_name="/classify") == {
        "digit": None, "confidence": 0.0, "probabilities": [0.0] * 10, "is_digit": False, "unusual": False}
    blank = Image.new("RGBA", (320, 320), (0, 0, 0, 0))
    chart, label, image, *_ = client.predict(
        save_sketch({"background": Image.new("RGBA", (320, 320), "white"), "layers": [blank],
                     "composite": Image.new("RGBA", (320, 320), "white")}, tmp_path, "blank"),
        api_name="/predict")
    assert label["label"] == "Draw a digit" and image is None
    assert [row[1] for row in chart["data"]] == [0.0] * 10


def test_predict_returns_the_chart_in_digit_order_the_label_and_the_model_input(client, tmp_path):
    strokes = render_digit(4, np.random.default_rng(1), canvas=320, style="transparent")
    chart, label, image, *_ = client.predict(save_sketch(sketchpad_value(strokes), tmp_path, "four"), api_name="/predict")
    assert [row[0] for row in chart["data"]] == [str(d) for d in range(10)]
    probabilities = [row[1] for row in chart["data"]]
    assert abs(sum(probabilities) - 1) < 1e-2 and all(0 <= p <= 1 for p in probabilities)
    assert predicted_digit(label) == 4 and len(label["confidences"]) == 3
    seen = np.asarray(Image.open(image).convert("L"))
    assert seen.shape == (280, 280) and seen.max() > 200 and seen[:20].max() < 30  # white digit, dark margin
