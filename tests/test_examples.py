"""examples/minimal_app.py, served and used in a real Chromium: a 7 drawn with the mouse is read as 7."""

import pytest

from tests.drawings import mouse_strokes
from tests.test_browser import pad_ready

SEVEN = [[(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)]]  # one stroke: the bar, then the stem


@pytest.fixture(scope="module")
def minimal_app():
    from examples.minimal_app import demo

    demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    yield demo
    demo.close()


@pytest.mark.slow
@pytest.mark.browser
def test_the_minimal_app_reads_a_7_drawn_with_the_mouse(minimal_app, browser, screenshots):
    page = browser.new_page(viewport={"width": 1000, "height": 700})
    page.goto(minimal_app.local_url)
    canvas = page.locator("#sketchpad canvas").first
    pad_ready(page)
    mouse_strokes(page, canvas, SEVEN, steps=8)
    # gr.Label's heading is the most likely class; wait for the reading itself, not for a fixed time
    page.wait_for_function("document.querySelector('#probabilities h2')?.textContent.trim() === '7'", timeout=30000)
    bars = page.locator("#probabilities").inner_text()
    assert bars.count("%") == 10, bars  # all ten probabilities are shown
    page.screenshot(path=screenshots / "minimal-app.png")
    page.close()
