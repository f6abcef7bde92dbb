"""The Draw tab (src/web/draw_tab.py) through the running app: why (saliency), not a digit, corrections, numbers."""

import numpy as np
import pytest
from gradio_client import handle_file
from PIL import Image

from src.data.digits import render_digit, style_mask
from src.web import corrections
from src.web.draw_tab import FILLED_AREA
from src.web.pad import SIZE
from tests.conftest import app_client
from tests.drawings import render_nondigit, render_number
from tests.test_app import drawn, on_pad


def classify_image(client, img: Image.Image, path):
    img.convert("RGB").save(path)
    return client.predict(handle_file(str(path)), api_name="/classify")


def test_every_prediction_comes_with_a_saliency_map_over_the_input(client, tmp_path):
    rng = np.random.default_rng(11)
    for digit in (0, 3, 8):
        reading, model_input, heat, note = client.predict(drawn(digit, rng), api_name="/predict")
        heat = np.asarray(Image.open(heat).convert("RGB")).astype(int)
        seen = np.asarray(Image.open(model_input).convert("L"))
        assert heat.shape[:2] == seen.shape == (280, 280)
        warm = (heat[..., 0] - heat[..., 2]) > 60  # red/yellow heat, not grey
        assert warm.mean() > 0.01 and (seen[warm] > 0).mean() > 0.5  # the heat sits on the strokes


def test_non_digits_are_flagged_and_digits_are_not(client, tmp_path):
    rng = np.random.default_rng(5150)
    kinds = ["star", "heart", "spiral", "hash", "smiley", "letter_A", "letter_K", "letter_M", "letter_W", "scribble"]
    flagged = [
        not classify_image(client, render_nondigit(k, rng, canvas=400), tmp_path / f"{k}.png")["is_digit"]
        for k in kinds * 2
    ]
    digits = [classify_image(client, render_digit(d % 10, rng, canvas=400), tmp_path / f"n{d}.png") for d in range(60)]
    missed = [not r["is_digit"] for r in digits]
    print(f"non-digits flagged {np.mean(flagged):.0%}, drawn digits flagged {np.mean(missed):.0%}")
    assert np.mean(flagged) >= 0.85
    assert sum(missed) <= 3  # python -m bench.recognition measures the share on held-out drawings
    assert np.mean([r["digit"] == d % 10 for d, r in enumerate(digits)]) >= 0.95


def test_the_draw_tab_says_when_it_is_not_a_digit(client):
    sign = render_nondigit("hash", np.random.default_rng(1), canvas=SIZE, style="transparent")
    reading, model_input, heat, note = client.predict(on_pad(sign), api_name="/predict")
    assert not reading["is_digit"] and reading["digit"] is not None  # a best guess, shown as no digit
    assert note.startswith("The model is not sure this is any digit") and model_input is not None


def test_dots_alone_give_no_digit_and_say_why(client, dots_alone):
    for centres, ink in dots_alone:
        drawing = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
        drawing.putalpha(Image.fromarray((ink * 255).astype(np.uint8)))  # black ink on transparency, as the pad draws
        reading, model_input, heat, note = client.predict(on_pad(drawing), api_name="/predict")
        assert reading["digit"] is None and not reading["is_digit"] and reading["probabilities"] == [0.0] * 10
        assert note == FILLED_AREA and model_input is None and heat is None


def test_a_number_drawn_on_the_pad_is_read_digit_by_digit(client):
    drawing = render_number(
        [4, 2],
        np.random.default_rng(42),
        canvas_height=200,
        gap=(0.15, 0.3),
        height_frac=(0.6, 0.85),
        style="transparent",
    )  # two digits side by side, a gap apart
    reading, model_input, heat, note = client.predict(on_pad(drawing), api_name="/predict")
    assert reading["number"] == "42" and [d["digit"] for d in reading["digits"]] == [4, 2]
    assert reading["digit"] in (4, 2) and len(reading["probabilities"]) == 10  # the least certain digit's
    assert "Read as the number **42**" in note
    assert np.asarray(Image.open(model_input)).shape[:2] == (280, 560)  # both inputs, side by side


def test_a_written_number_is_read_digit_by_digit(client, tmp_path):
    rng = np.random.default_rng(2026)
    right = 0
    numbers = [[int(d) for d in str(n)] for n in rng.integers(100, 10000, size=20)]
    for i, digits in enumerate(numbers):
        result = classify_image(client, render_number(digits, rng), tmp_path / f"num{i}.png")
        right += result.get("number") == "".join(map(str, digits))
    print(f"numbers read entirely right: {right}/20")
    assert right >= 18
    single = classify_image(client, render_digit(4, rng), tmp_path / "four.png")
    assert "digits" not in single and single["digit"] == 4


def test_a_correction_is_stored_and_counted(server):
    client = app_client(server.url)  # its own session: the correction applies to its last drawing
    folder = server.visitor(client).corrections  # this visitor's own
    before = corrections.count(folder)
    client.predict(drawn(1, np.random.default_rng(3)), api_name="/predict")
    radio, status = client.predict("7", api_name="/correct")
    assert corrections.count(folder) == before + 1 and f"{before + 1} correction" in status
    images, labels = corrections.load(folder)
    assert labels[-1] == 7 and images[-1].shape == (28, 28) and images[-1].max() > 200


@pytest.mark.slow
def test_fine_tune_on_corrections_reports_before_and_after_and_saves_a_model(server):
    client = app_client(server.url)  # its own visitor: the corrections and the run are theirs alone
    visitor = server.visitor(client)
    rng = np.random.default_rng(20)
    from src.data.preprocess import preprocess

    for _ in range(20):
        corrections.add(visitor.corrections, preprocess(style_mask("one_long_flag", rng, canvas=400)), 1)
    before = set(visitor.runs.glob("finetuned-*"))
    report, files = client.predict(api_name="/fine_tune")
    assert "| MNIST test |" in report and "| your" in report
    new = sorted(p.name for p in set(visitor.runs.glob("finetuned-*")) - before)  # among this visitor's runs
    stem = new[0].split(".")[0]  # weights, JSON and novelty statistics, saved together
    assert new == [f"{stem}.json", f"{stem}.novelty.safetensors", f"{stem}.safetensors"]
    from src.model.checkpoint import load_model

    assert load_model(visitor.runs / f"{stem}.safetensors")[2] is not None


def test_a_sure_but_unusual_digit_is_shown_with_a_note(client, loaded_model, small_mnist):
    """The page tells "an unusual 7" (digit shown) apart from "not a digit" (no digit shown)."""
    from src.data.pools import as_drawing
    from src.reading.inference import AS_DRAWN, run_shifted

    images = small_mnist.test.images[:600].numpy()
    feats, logits = run_shifted(loaded_model.model, np.stack([as_drawing(a) for a in images]))
    not_digit, unusual = loaded_model.novelty.judge(feats, logits)
    pick = int(np.flatnonzero(unusual)[0])  # a digit the model is sure of, drawn unlike most
    digit = int(logits[AS_DRAWN][pick].argmax())
    strokes = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    strokes.putalpha(Image.fromarray(images[pick]).resize((SIZE, SIZE), Image.Resampling.BICUBIC))
    reading, model_input, heat, note = client.predict(on_pad(strokes), api_name="/predict")
    assert reading["digit"] == digit and reading["is_digit"] and reading["unusual"] and "unusual" in note
    probabilities = reading["probabilities"]  # still all ten
    assert len(probabilities) == 10 and max(probabilities) == probabilities[digit] > 0.5
