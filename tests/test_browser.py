"""A real Chromium, driven by Playwright: a person draws with the mouse and reads the prediction."""

import re
import time

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

# Digits as polylines in unit coordinates of the drawing square, drawn as a person would.
STROKES = {
    1: [[(0.40, 0.25), (0.52, 0.12), (0.52, 0.88)]],
    7: [[(0.28, 0.16), (0.72, 0.16), (0.45, 0.88)]],
    0: [[(0.50, 0.12), (0.70, 0.28), (0.72, 0.60), (0.55, 0.88), (0.38, 0.82),
         (0.28, 0.55), (0.32, 0.26), (0.50, 0.12)]],
}


@pytest.fixture(scope="module")
def page(chromium, server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(server.url)
        page.wait_for_selector("#sketchpad canvas", timeout=60_000)
        yield page
        browser.close()


BRUSH_READY = """() => document.querySelector('#sketchpad button[aria-label="Brush"]')?.classList.contains('highlight')"""


def draw(page, strokes, steps=5):
    """Mouse strokes inside the square image, which is centred in the editor's canvas element."""
    box = page.locator("#sketchpad canvas").first.bounding_box()
    side = 0.8 * min(box["width"], box["height"])
    x0, y0 = box["x"] + (box["width"] - side) / 2, box["y"] + (box["height"] - side) / 2
    for stroke in strokes:
        page.mouse.move(x0 + stroke[0][0] * side, y0 + stroke[0][1] * side)
        page.mouse.down()
        for u, v in stroke[1:]:
            page.mouse.move(x0 + u * side, y0 + v * side, steps=steps)
        page.mouse.up()


def shown_digit(page, timeout=30.0):
    """The digit #prediction shows as its top class, once one is shown."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = page.locator("#prediction").inner_text()
        match = re.search(r"^\s*(\d)\s*$", text, re.MULTILINE)
        if match:
            return int(match.group(1))
        page.wait_for_timeout(200)
    return None


def clear(page, how: str):
    if how == "button":
        page.click("#clear")
    else:
        page.click('#sketchpad button[aria-label="Clear canvas"]')
    page.wait_for_function("() => document.querySelector('#prediction').innerText.includes('Draw a digit')",
                           timeout=30_000)
    page.wait_for_function(BRUSH_READY, timeout=10_000)  # autobrush.js selects the brush again


def test_drawing_1_7_0_with_the_mouse_and_no_tool_click_shows_each_digit(page, screenshots):
    page.wait_for_function(BRUSH_READY, timeout=30_000)  # selected on load, with no tool click
    seen = {}
    for digit, clear_how in [(1, None), (7, "button"), (0, "builtin")]:
        if clear_how:
            clear(page, clear_how)
        draw(page, STROKES[digit])
        page.wait_for_timeout(500)
        seen[digit] = shown_digit(page)
        if digit == 7:
            page.wait_for_timeout(1500)  # let the chart and the 28x28 image render
            page.screenshot(path=str(screenshots / "screenshot.png"), full_page=True)
    assert seen == {1: 1, 7: 7, 0: 0}


def test_a_number_written_side_by_side_is_read_whole(page, screenshots):
    clear(page, "button")
    one = [[(0.14, 0.36), (0.24, 0.28), (0.24, 0.72)]]
    seven = [[(0.50, 0.30), (0.86, 0.30), (0.64, 0.72)]]
    draw(page, one + seven)
    try:
        page.wait_for_function("() => /\\b17\\b/.test(document.querySelector('#prediction').innerText)", timeout=30_000)
    finally:
        page.screenshot(path=str(screenshots / "number.png"), full_page=False)
    assert "Read as the number" in page.locator("#note").inner_text()
    page.wait_for_timeout(1000)
    page.screenshot(path=str(screenshots / "number.png"), full_page=False)


def test_a_hash_sign_is_not_a_digit_and_the_chart_still_shows_the_probabilities(page, screenshots):
    clear(page, "button")
    hash_sign = [[(0.40, 0.15), (0.36, 0.85)], [(0.64, 0.15), (0.60, 0.85)],
                 [(0.18, 0.38), (0.84, 0.38)], [(0.16, 0.62), (0.82, 0.62)]]
    draw(page, hash_sign)
    page.wait_for_function("() => document.querySelector('#prediction').innerText.includes(\"doesn't look like a digit\")",
                           timeout=30_000)
    assert "not sure this is any digit" in page.locator("#note").inner_text()
    page.wait_for_timeout(1000)
    bars = page.locator("#probabilities [aria-roledescription='bar']").count()
    page.screenshot(path=str(screenshots / "not-a-digit.png"), full_page=False)
    assert bars == 10


def test_start_training_and_watch_the_loss_plot_gain_points(page, screenshots):
    page.get_by_role("tab", name="Train").click()
    page.wait_for_selector("#start")
    for elem_id, value in (("epochs", "3"), ("max-examples", "6000")):
        box = page.locator(f"#{elem_id} input[type=number]")
        box.fill(value)
        box.press("Enter")
    # Record the number of plotted points at every change of the page, so no intermediate state is missed.
    page.evaluate("""() => {
        window.__points = [];
        const count = () => document.querySelectorAll('#loss-plot [aria-roledescription="point"]').length;
        new MutationObserver(() => window.__points.push(count())).observe(document.body, {subtree: true, childList: true});
    }""")
    page.click("#start")
    page.wait_for_function("() => document.querySelector('#train-status').innerText.startsWith('Finished')",
                           timeout=180_000)
    page.wait_for_timeout(1000)
    counts = page.evaluate("() => window.__points")
    assert counts[-1] == 6, counts  # two series, three epochs
    assert any(0 < c < 6 for c in counts), counts  # the plot grew while training ran
    strokes = page.eval_on_selector_all('#loss-plot [aria-roledescription="line mark"]',
                                        "marks => marks.map(m => m.getAttribute('stroke'))")
    assert len(strokes) == 2 and all(strokes) and strokes[0] != strokes[1]  # two visible, distinct lines
    assert page.locator("#train-status").inner_text().startswith("Finished 3 epochs")
    page.locator("#loss-plot").screenshot(path=str(screenshots / "loss-plot.png"))
    page.get_by_role("tab", name="Draw").click()
