"""The static page (`python -m src static OUT/`), served by a plain static file server and drawn on in Chromium
with the mouse and with a finger."""

import functools
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from src.model.novelty import novelty_path
from tests.test_browser import HASH_SIGN, STROKES

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def static_url(tmp_path_factory):
    """The static page in a plain static file server (Python's own), listening from the moment it is made."""
    out = tmp_path_factory.mktemp("static")
    subprocess.run([sys.executable, "-m", "src", "static", str(out)], cwd=ROOT, check=True, capture_output=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(out)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_the_folder_holds_the_checkpoints_own_files_and_a_static_space_readme(tmp_path):
    from src import settings

    out = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "src", "static", str(out)], cwd=ROOT, check=True, capture_output=True)
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "index.html",
        "live.js",
        "model.novelty.safetensors",
        "model.safetensors",
        "pad.js",
    ]
    checkpoint = settings.CHECKPOINT_DIR / settings.DEFAULT_CHECKPOINT
    assert (out / "model.safetensors").read_bytes() == checkpoint.read_bytes()
    assert (out / "model.novelty.safetensors").read_bytes() == novelty_path(checkpoint).read_bytes()
    assert (out / "live.js").read_text() == (ROOT / "src" / "web" / "static" / "live.js").read_text()
    assert "sdk: static" in (out / "README.md").read_text()


def test_a_checkpoint_without_statistics_gives_a_page_that_falls_back(tmp_path, default_checkpoint):
    import shutil

    bare = tmp_path / "bare.safetensors"  # the weights alone
    shutil.copyfile(default_checkpoint, bare)
    shutil.copyfile(default_checkpoint.with_suffix(".json"), bare.with_suffix(".json"))
    out = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "src", "static", str(out), "--checkpoint", str(bare)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    assert not (out / "model.novelty.safetensors").exists()
    assert 'data-novelty=""' in (out / "index.html").read_text()


def reading(page, expected=None):
    """The live reading, once it is `expected` (or after 10 s, whatever it is then)."""
    try:
        page.wait_for_function(
            "(d) => document.querySelector('#live-reading .live-reading').dataset.reading === d",
            arg=expected or "",
            timeout=10_000,
        )
    except Exception:
        pass
    return page.locator("#live-reading .live-reading").get_attribute("data-reading")


def points(box, stroke):
    side = 0.8 * box["width"]
    x0, y0 = box["x"] + 0.1 * box["width"], box["y"] + 0.1 * box["height"]
    return [(x0 + u * side, y0 + v * side) for u, v in stroke]


def steps(path, n=6):
    """Each segment of `path` cut into n moves, as a hand moves."""
    for (x0, y0), (x1, y1) in zip(path, path[1:]):
        for i in range(1, n + 1):
            yield x0 + (x1 - x0) * i / n, y0 + (y1 - y0) * i / n


def mouse_draw(page, strokes):
    box = page.locator("#sketchpad canvas").bounding_box()
    for stroke in strokes:
        path = points(box, stroke)
        page.mouse.move(*path[0])
        page.mouse.down()
        for x, y in steps(path):
            page.mouse.move(x, y)
        page.mouse.up()


def finger_draw(page, strokes):
    cdp = page.context.new_cdp_session(page)
    box = page.locator("#sketchpad canvas").bounding_box()

    def touch(kind, p):
        touching = [] if kind == "touchEnd" else [{"x": p[0], "y": p[1], "id": 1}]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": touching})

    for stroke in strokes:
        path = points(box, stroke)
        touch("touchStart", path[0])
        for p in steps(path):
            touch("touchMove", p)
        touch("touchEnd", path[-1])


@pytest.mark.parametrize("how", ["mouse", "finger"])
def test_the_static_page_reads_a_1_a_7_and_a_0_with_no_server_behind_it(
    browser, playwright, static_url, how, screenshots
):
    options = playwright.devices["Pixel 7"] if how == "finger" else {"viewport": {"width": 1280, "height": 900}}
    context = browser.new_context(**options)
    page = context.new_page()
    page.goto(static_url)
    page.wait_for_function("() => document.querySelector('#live-reading .live-text').textContent.startsWith('Draw')")
    page.wait_for_function("() => document.querySelector('#sketchpad .pad')?.pad")  # the pad takes strokes
    read = {}
    for digit in (1, 7, 0):
        page.get_by_role("button", name="Clear").click()
        assert reading(page) == ""  # an empty pad: each digit is read alone
        (mouse_draw if how == "mouse" else finger_draw)(page, STROKES[digit])
        read[digit] = reading(page, str(digit))
    page.get_by_role("button", name="Clear").click()
    (mouse_draw if how == "mouse" else finger_draw)(page, HASH_SIGN)  # "is it a digit?" works here too
    page.wait_for_function(
        "() => document.querySelector('#live-reading .live-reading').dataset.verdict === 'not a digit'", timeout=10_000
    )
    verdict = page.locator("#live-reading .live-reading").get_attribute("data-verdict")
    page.screenshot(path=str(screenshots / f"static-{how}.png"), full_page=True)
    print(how, read, verdict)
    assert read == {1: "1", 7: "7", 0: "0"}
    assert verdict == "not a digit"
    assert "does not train" in page.locator("body").inner_text()
    assert page.evaluate("() => window.liveReaderIn") == "worker"  # live.js's worker, from the script's address
    context.close()
