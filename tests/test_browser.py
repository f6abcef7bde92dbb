"""A real Chromium, driven by Playwright: a person draws with the mouse and reads the prediction."""

import json
import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.drawings import mouse_strokes

pytestmark = [pytest.mark.browser, pytest.mark.slow]


# Digits as polylines in unit coordinates of the drawing square, drawn as a person would.
STROKES = {
    1: [[(0.40, 0.25), (0.52, 0.12), (0.52, 0.88)]],
    7: [[(0.28, 0.16), (0.72, 0.16), (0.45, 0.88)]],
    0: [
        [(0.50, 0.12), (0.70, 0.28), (0.72, 0.60), (0.55, 0.88), (0.38, 0.82), (0.28, 0.55), (0.32, 0.26), (0.50, 0.12)]
    ],
}


DESKTOP = {"viewport": {"width": 1280, "height": 900}}


@pytest.fixture
def page(browser, server):
    """A new visitor (a browser context of their own: its storage holds their visitor key) with the app's page
    loaded, on the Draw tab."""
    page = open_page(browser, server.url, **DESKTOP)
    yield page
    page.context.close()


def draw(page, strokes, steps=5):
    """Mouse strokes on the pad, in unit coordinates of its canvas."""
    page.locator("#sketchpad").scroll_into_view_if_needed()
    mouse_strokes(page, page.locator("#sketchpad canvas").first, strokes, steps)


def server_digit(page):
    """The digit (or number) the server's reading (#prediction) starts with now; None if it shows none."""
    match = re.match(r"\s*(\d+) at", page.locator("#prediction").inner_text())
    return int(match.group(1)) if match else None


def shown_digit(page, timeout=60.0):
    """The digit (or number) the server's reading (#prediction) starts with, once it shows one; None if none
    within `timeout` seconds."""
    try:
        page.wait_for_function(
            "() => /^\\s*\\d+ at/.test(document.querySelector('#prediction').innerText)", timeout=timeout * 1000
        )
    except PlaywrightTimeout:
        return None
    return server_digit(page)


def painted(page):
    """Returns once the page has drawn two more frames: what it changed last is on the screen (for screenshots)."""
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")


def clear(page, how: str = "button"):
    """Empties the pad with its Clear button, or with Undo until no stroke is left."""
    if how == "button":
        page.get_by_role("button", name="Clear").click()
    else:
        while page.evaluate("() => document.querySelector('#sketchpad .pad').pad.strokes()"):
            page.get_by_role("button", name="Undo").click()
    page.wait_for_function(
        "() => document.querySelector('#prediction').innerText.includes('Draw a digit')", timeout=30_000
    )


def test_drawing_1_7_0_with_the_mouse_shows_each_digit(page, screenshots):
    seen = {}
    for digit, clear_how in [(1, None), (7, "button"), (0, "undo")]:
        if clear_how:
            clear(page, clear_how)
        draw(page, STROKES[digit])
        seen[digit] = shown_digit(page)
        # One reading: the server confirms the browser's digit with the same confidence.
        assert live_becomes(page, str(digit))
        assert (
            page.locator("#prediction")
            .inner_text()
            .startswith(f"{digit} at {page.locator(LIVE).get_attribute('data-confidence')}")
        )
        if digit == 7:
            page.wait_for_selector("#model-input img", timeout=30_000)  # the 28x28 input, shown
            page.screenshot(path=str(screenshots / "screenshot.png"), full_page=True)
    assert seen == {1: 1, 7: 7, 0: 0}


def test_inside_the_network_shows_the_maps_of_each_drawing_while_open(page, screenshots):
    clear(page, "button")
    page.click("#inside .label-wrap")
    # The table is on the page before its rows arrive.
    page.wait_for_function(
        "() => document.querySelector('#model-summary').innerText.split(',').join('').includes('21578')", timeout=30_000
    )
    assert "21578" in page.locator("#model-summary").inner_text().replace(",", "")
    page.wait_for_selector("#filters img", timeout=30_000)
    sources = []
    for digit in (1, 7):
        clear(page, "button")
        draw(page, STROKES[digit])
        assert shown_digit(page) == digit
        page.wait_for_function(
            "(old) => { const img = document.querySelector('#maps-conv3 img');"
            " return img && img.getAttribute('src') !== old; }",
            arg=sources[-1] if sources else "",
            timeout=30_000,
        )
        sources.append(
            tuple(page.locator(f"#maps-{name} img").get_attribute("src") for name in ("conv1", "conv2", "conv3"))
        )
    assert all(a != b for a, b in zip(*sources))  # every layer's maps changed from the 1 to the 7
    page.wait_for_function("() => [...document.querySelectorAll('#inside img')].every((img) => img.complete)")
    painted(page)
    page.locator("#inside").screenshot(path=str(screenshots / "inside.png"))
    page.click("#inside .label-wrap")  # closed again: no maps are asked for


LIVE = "#live-reading .live-reading"


# The pad takes strokes: its handlers are attached (its `pad` API) and a touch at its centre, scrolled into view
# if need be, reaches it. On a busy machine Gradio's loading screen covers the page a while after the handlers
# are attached, and a first stroke on it was lost.
PAD_READY = """() => { const canvas = document.querySelector('#sketchpad canvas');
  if (!canvas || !canvas.closest('.pad').pad) return false;
  canvas.scrollIntoView({block: 'nearest'});
  const r = canvas.getBoundingClientRect();
  return document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2) === canvas; }"""


def pad_ready(page, timeout=60_000):
    """Waits until the pad takes strokes (PAD_READY)."""
    page.wait_for_function(PAD_READY, timeout=timeout)


HASH_SIGN = [
    [(0.40, 0.15), (0.36, 0.85)],
    [(0.64, 0.15), (0.60, 0.85)],
    [(0.18, 0.38), (0.84, 0.38)],
    [(0.16, 0.62), (0.82, 0.62)],
]
QUEUE_JOIN = re.compile(r"/queue/join")  # the requests for the server's reading


def live_after(page, read_at, timeout=10_000):
    """The live reading (live.js, in this browser) once it has read a finished stroke after `read_at`: its digit
    or ''. A reading of something else (a clear, a new model) may land first and is passed over."""
    page.wait_for_function(
        f"(t) => {{ const d = document.querySelector('{LIVE}').dataset; "
        "return (d.readAt || '') !== t && d.source === 'up'; }",
        arg=read_at,
        timeout=timeout,
    )
    return page.locator(LIVE).get_attribute("data-reading")


def test_the_live_reading_updates_with_every_stroke_even_while_the_server_is_busy(page, screenshots):
    clear(page, "button")
    # Hold every request for the server's reading: what changes now is read by the browser alone.
    held, holding = [], [True]
    page.route(QUEUE_JOIN, lambda route: held.append(route) if holding[0] else route.continue_())
    try:
        bar, stem = [STROKES[7][0][:2]], [STROKES[7][0][1:]]
        read_at = page.locator(LIVE).get_attribute("data-read-at") or ""
        # The Sketchpad asks for the server's reading about half a second after a stroke: the bar's is held, and
        # the stem is drawn while it waits.
        with page.expect_request(QUEUE_JOIN, timeout=15_000):
            draw(page, bar)
            assert live_after(page, read_at) != ""  # read again in the browser after the stroke ...
        read_at = page.locator(LIVE).get_attribute("data-read-at") or ""
        draw(page, stem)
        assert live_after(page, read_at) != ""  # ... and after the next
        assert live_becomes(page, "7")  # ... and it is the 7 once the stem is in
        assert "%" in page.locator(LIVE).inner_text()
        assert server_digit(page) is None  # ... and no server reading has come: the live one did not need it
    finally:
        holding[0] = False
        for route in held:
            route.continue_()
        page.unroute(QUEUE_JOIN)
    assert shown_digit(page) == 7  # the server's reading agrees once it arrives


def live_becomes(page, digit, timeout=15_000):
    """Waits until the live reading shows `digit` ('' for nothing read); False if it never does."""
    try:
        page.wait_for_function(
            f"(d) => document.querySelector('{LIVE}').dataset.reading === d", arg=digit, timeout=timeout
        )
        return True
    except Exception:
        return False


def test_the_live_reading_follows_undo_and_clear_and_reads_off_the_main_thread(page, screenshots):
    clear(page)
    draw(page, STROKES[1])
    assert live_becomes(page, "1")
    assert page.evaluate("() => window.liveReaderIn") == "worker"  # never inside the pen's handlers
    page.get_by_role("button", name="Undo").click()
    assert live_becomes(page, "")
    draw(page, [[(0.28, 0.16), (0.72, 0.16)]])  # a 7's bar, then its stem
    draw(page, [[(0.72, 0.16), (0.45, 0.88)]])
    assert live_becomes(page, "7")
    page.get_by_role("button", name="Undo").click()  # the stem goes: the bar alone is read again, and is no 7
    page.wait_for_function(f"() => document.querySelector('{LIVE}').dataset.source === 'undo'", timeout=15_000)
    bar = page.locator(LIVE).get_attribute("data-reading"), page.locator(LIVE).get_attribute("data-verdict")
    assert bar[0] != "7" or bar[1] == "not a digit", bar
    page.get_by_role("button", name="Clear").click()
    assert live_becomes(page, "")
    assert page.evaluate("() => document.querySelector('#sketchpad .pad').pad.strokes()") == 0


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
    assert live_becomes(page, "17")  # the live reading splits the number as the server does
    page.wait_for_selector("#saliency img", timeout=30_000)
    page.screenshot(path=str(screenshots / "number.png"), full_page=False)


def test_a_hash_sign_is_not_a_digit_on_the_server_and_in_the_live_reading(page, screenshots):
    clear(page, "button")
    draw(page, HASH_SIGN)
    page.wait_for_function(
        "() => document.querySelector('#prediction').innerText.startsWith('Not a digit')", timeout=30_000
    )
    assert "not sure this is any digit" in page.locator("#note").inner_text()
    # One verdict on the page: the live reading says so too, from the same score and threshold.
    page.wait_for_function(f"() => document.querySelector('{LIVE}').dataset.verdict === 'not a digit'", timeout=15_000)
    assert "Not a digit" in page.locator(LIVE).inner_text()
    titles = page.eval_on_selector_all(f"{LIVE} .live-bar", "bars => bars.map((b) => b.title)")
    page.screenshot(path=str(screenshots / "not-a-digit.png"), full_page=False)
    # Ten bars, the tallest the confidence the reading states.
    assert len(titles) == 10 and max(int(t.split(": ")[1][:-1]) for t in titles) == int(
        page.locator(LIVE).get_attribute("data-confidence")[:-1]
    )
    assert page.locator(".toast-body").count() == 0  # Clear on the fresh page's empty canvas was no error


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
        new MutationObserver(() => window.__points.push(count()))
            .observe(document.body, {subtree: true, childList: true});
    }""")
    page.click("#start")
    page.wait_for_function(
        "() => document.querySelector('#train-status').innerText.startsWith('Finished')", timeout=180_000
    )
    # The last epoch's points may be drawn after the status says it finished.
    page.wait_for_function("() => window.__points.at(-1) === 6", timeout=30_000)
    counts = page.evaluate("() => window.__points")
    assert counts[-1] == 6, counts  # two series, three epochs
    assert any(0 < c < 6 for c in counts), counts  # the plot grew while training ran
    strokes = page.eval_on_selector_all(
        '#loss-plot [aria-roledescription="line mark"]', "marks => marks.map(m => m.getAttribute('stroke'))"
    )
    assert len(strokes) == 2 and all(strokes) and strokes[0] != strokes[1]  # two visible, distinct lines
    assert page.locator("#train-status").inner_text().startswith("Finished 3 epochs")
    # Whole epochs only on both plots' x axes, and the accuracy plot has its three points.
    for plot in ("loss-plot", "accuracy-plot"):
        axis = page.locator(f'#{plot} [aria-roledescription="axis"][aria-label^="X-axis"]').get_attribute("aria-label")
        assert re.search(r"discrete scale with 3 values: 1, 2, 3$", axis), axis
    assert page.locator('#accuracy-plot [aria-roledescription="point"]').count() == 3
    page.locator("#loss-plot").screenshot(path=str(screenshots / "loss-plot.png"))
    page.locator("#loss-plot").locator("xpath=..").screenshot(path=str(screenshots / "loss-and-accuracy.png"))


def test_after_a_run_its_evaluation_shows_and_it_compares_with_the_default(page, screenshots, default_checkpoint):
    """A short run (1 epoch, 1,000 examples): its evaluation on the test set, then Compare runs with the default."""
    start_training(page, epochs=1, examples=1000)
    wait_text(page, "train-status", "^Finished 1 epoch")
    page.wait_for_function(
        "() => /read correctly/.test(document.querySelector('#confusion').innerText)", timeout=60_000
    )
    assert "yours/trained-" in page.locator("#confusion").inner_text()  # the run just trained
    assert page.locator("#confusion td").count() == 10 * 11  # ten rows of ten counts and an accuracy
    page.wait_for_function("() => document.querySelectorAll('#mistakes img').length === 12", timeout=30_000)
    page.locator("#evaluate").screenshot(path=str(screenshots / "evaluation.png"))

    page.click("#compare .label-wrap")
    picked = page.locator("#compare-picker").inner_text()  # after a run: the new run and the default
    assert "yours/trained-" in picked and "default.safetensors" in picked, picked
    page.click("#compare-button")
    for plot in ("compare-loss", "compare-accuracy"):
        page.wait_for_function(
            f"() => document.querySelectorAll('#{plot} [aria-roledescription=\"line mark\"]').length === 2",
            timeout=30_000,
        )
    table = page.locator("#compare-table").inner_text()
    recorded = json.loads(default_checkpoint.with_suffix(".json").read_text())["test_acc"]
    assert "yours/trained-" in table and "default.safetensors" in table and str(recorded) in table
    painted(page)
    page.locator("#compare").screenshot(path=str(screenshots / "compare.png"))


def test_what_the_model_trains_on_and_a_reroll(page, screenshots):
    page.get_by_role("tab", name="Train").click()
    page.click("#examples .label-wrap")
    page.wait_for_selector("#examples-image img", timeout=30_000)
    first = page.locator("#examples-image img").get_attribute("src")
    page.click("#reroll")
    page.wait_for_function(
        "(src) => document.querySelector('#examples-image img')?.getAttribute('src') !== src", arg=first, timeout=30_000
    )
    page.locator("#examples").screenshot(path=str(screenshots / "examples.png"))


# ------------------------------------------------------------------------------------ two visitors, phone
def open_page(browser, url, **context):
    """A loaded page of the app at `url`, in a new context of `browser` (a new visitor) or in the context given."""
    page = (browser.new_context(**context) if hasattr(browser, "new_context") else browser).new_page()
    page.goto(url)
    pad_ready(page)
    page.wait_for_function(f"() => document.querySelector('{LIVE}')?.dataset.weights", timeout=60_000)
    return page


def text_of(page, elem_id):
    return page.locator(f"#{elem_id}").inner_text()


def wait_text(page, elem_id, pattern, timeout=180_000):
    page.wait_for_function(
        "([id, pattern]) => new RegExp(pattern).test(document.getElementById(id)?.innerText ?? '')",
        arg=[elem_id, pattern],
        timeout=timeout,
    )


def start_training(page, epochs, examples):
    page.get_by_role("tab", name="Train").click()
    page.wait_for_selector("#start")
    for elem_id, value in (("epochs", str(epochs)), ("max-examples", str(examples))):
        box = page.locator(f"#{elem_id} input[type=number]")
        box.fill(value)
        box.press("Enter")
    page.click("#start")


def model_options(page) -> list[str]:
    page.locator("#model-picker input").click()
    options = page.locator("ul.options li").all_inner_texts()
    page.keyboard.press("Escape")
    return [o.strip() for o in options]


def test_two_visitors_in_two_browsers_do_not_affect_each_other(browser, server, screenshots):
    """A trains, uses its run and stores and deletes corrections; B's page and answers stay the same, and B
    sees A's training only as a place in the line (B's Stop cancels only B's waiting run)."""
    # two browser contexts: two visitors, each with their own storage
    a, b = (open_page(browser, server.url, **DESKTOP) for _ in range(2))
    draw(b, STROKES[7])
    assert shown_digit(b) == 7
    b_reading = text_of(b, "prediction")

    start_training(a, epochs=2, examples=16000)  # long enough (about 5 s) for B to be seen waiting
    wait_text(a, "train-status", "Loading|Drawing|Epoch", timeout=60_000)
    start_training(b, epochs=1, examples=1000)
    wait_text(b, "train-status", "1 training ahead of yours", timeout=60_000)
    b.click("#stop")
    wait_text(b, "train-status", "Cancelled before it started", timeout=30_000)
    wait_text(a, "train-status", "^Finished 2 epochs")  # B's Stop did not stop A
    run = re.search(r"yours/(trained-[\w-]+)\.safetensors", text_of(a, "train-status"))[0]

    # A switches to its own run; B's picker does not even list it.
    a.get_by_role("tab", name="Draw").click()
    a.get_by_text("Model", exact=True).click()
    a.locator("#model-picker input").fill(run)
    a.keyboard.press("Enter")
    a.click("#use-model")
    wait_text(a, "active-model", re.escape(run), timeout=30_000)
    b.get_by_role("tab", name="Draw").click()
    b.get_by_text("Model", exact=True).click()
    assert not [o for o in model_options(b) if "yours/" in o]
    assert "the server's default" in text_of(b, "active-model")

    # A's live reading loads A's run by its own link and reads with it; B's page never had that link.
    a.wait_for_function(
        f"(old) => document.querySelector('{LIVE}').dataset.weights !== old",
        arg=b.locator(LIVE).get_attribute("data-weights"),
        timeout=30_000,
    )
    link = a.locator(LIVE).get_attribute("data-weights")
    assert link.startswith("weights/") and "/" not in link[len("weights/") :], link
    fetched = a.evaluate(
        "async (url) => { const r = await fetch(url); return [r.status, (await r.arrayBuffer()).byteLength]; }", link
    )
    assert (
        fetched[0] == 200
        and fetched[1] == (server.visitor_dir.glob(f"*/runs/{run.split('/')[1]}").__next__()).stat().st_size
    )
    assert link not in b.content()
    read_at = a.locator(LIVE).get_attribute("data-read-at") or ""
    # A stores a correction, then deletes all of its corrections; B's correction stays.
    draw(a, STROKES[7])
    assert live_after(a, read_at) == "7"  # read in A's browser, by A's run
    assert shown_digit(a) is not None  # read by A's own run on the server
    for page, label in ((b, "5"), (a, "1")):
        page.locator("#correct-as").get_by_text(label, exact=True).click()
        wait_text(page, "corrections-count", "You have 1 correction stored", timeout=30_000)
    a.get_by_text("Your corrections", exact=True).click()
    a.click("#clear-corrections")
    wait_text(a, "corrections-count", "Deleted your 1 correction")
    b.reload()  # a new session of the same browser: the same visitor, nothing lost (gr.BrowserState)
    pad_ready(b)
    wait_text(b, "corrections-count", "You have 1 correction stored", timeout=30_000)
    draw(b, STROKES[7])
    assert shown_digit(b) == 7
    assert text_of(b, "prediction") == b_reading
    a.screenshot(path=str(screenshots / "visitor-a.png"), full_page=True)
    a.context.close()
    b.context.close()


def touch_stroke(page, cdp, points, steps=12):
    """One finger stroke through `points` (unit coordinates of the pad's canvas), as CDP touch events."""
    box = page.locator("#sketchpad canvas").first.bounding_box()
    path = [
        (u0 + k / steps * (u1 - u0), v0 + k / steps * (v1 - v0))
        for (u0, v0), (u1, v1) in zip(points, points[1:])
        for k in range(steps)
    ] + [points[-1]]
    pixels = [{"x": box["x"] + u * box["width"], "y": box["y"] + v * box["height"]} for u, v in path]
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [pixels[0]]})
    for point in pixels[1:]:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
        page.evaluate("() => new Promise(requestAnimationFrame)")  # a move a frame, as a finger's: none merged
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def test_on_a_phone_a_finger_draws_a_7_and_the_pad_and_reading_fit_on_one_screen(
    playwright, browser, server, screenshots
):
    phone = playwright.devices["Pixel 7"]
    page = open_page(browser, server.url, **phone)
    page.evaluate("() => { window.scrolled = 0; window.addEventListener('scroll', () => window.scrolled++); }")
    cdp = page.context.new_cdp_session(page)
    touch_stroke(page, cdp, STROKES[7][0])
    assert shown_digit(page) == 7
    assert live_becomes(page, "7")
    page.screenshot(path=str(screenshots / "phone.png"))
    assert page.evaluate("() => [window.scrollY, window.scrolled]") == [0, 0]  # the finger drew, the page stayed
    viewport = phone["viewport"]["height"]
    canvas = page.locator("#sketchpad canvas").first.bounding_box()
    reading = page.locator("#prediction").bounding_box()
    assert canvas["y"] >= 0 and reading["y"] + reading["height"] <= viewport, (reading, viewport)
    # Sharp on a 2.6x screen: the canvas has a device pixel for each of the screen's.
    width, css = page.evaluate(
        "() => { const c = document.querySelector('#sketchpad canvas');"
        " return [c.width, c.clientWidth * devicePixelRatio]; }"
    )
    assert abs(width - css) <= 1
    page.context.close()


# ------------------------------------------------------------------------------- without WebGL, keys, clicks
def test_without_webgl_a_1_a_7_and_a_0_drawn_with_the_mouse_are_read(playwright, chromium, server, screenshots):
    from tests.conftest import CHROMIUM_ARGS

    browser = playwright.chromium.launch(
        executable_path=chromium, args=CHROMIUM_ARGS + ["--disable-software-rasterizer"]
    )
    try:
        page = open_page(browser, server.url, **DESKTOP)
        assert not page.evaluate("() => !!document.createElement('canvas').getContext('webgl')")  # no WebGL at all
        seen = {}
        for digit in (1, 7, 0):
            clear(page)
            draw(page, STROKES[digit])
            seen[digit] = (live_becomes(page, str(digit)) and digit, shown_digit(page))
            if digit == 7:
                page.screenshot(path=str(screenshots / "no-webgl.png"))
        assert seen == {1: (1, 1), 7: (7, 7), 0: (0, 0)}
    finally:
        browser.close()


def keys(page, *presses):
    for press in presses:
        name, _, times = press.partition("*")
        for _ in range(int(times or 1)):
            page.keyboard.press(name)


def test_a_1_and_a_7_drawn_with_the_keyboard_and_a_7_drawn_with_clicks_are_read(page, screenshots):
    clear(page)
    page.locator("#sketchpad canvas").focus()  # as Tab reaches it
    # The cursor starts on cell (3, 3) of 8x8. A 1: from (4, 1) down to (4, 6).
    keys(page, "ArrowRight", "ArrowUp*2", "Space", "ArrowDown*5", "Space", "Enter")
    assert live_becomes(page, "1") and shown_digit(page) == 1
    clear(page)
    page.locator("#sketchpad canvas").focus()
    # A 7: (4, 6) -> (2, 1), then (5, 1), then (3, 6).
    keys(
        page,
        "ArrowLeft*2",
        "ArrowUp*5",
        "Space",
        "ArrowRight*3",
        "Space",
        "ArrowLeft*2",
        "ArrowDown*5",
        "Space",
        "Enter",
    )
    assert live_becomes(page, "7") and shown_digit(page) == 7
    page.locator("#sketchpad").screenshot(path=str(screenshots / "keyboard-7.png"))
    clear(page)
    page.get_by_role("button", name="Draw with clicks").click()
    box = page.locator("#sketchpad canvas").first.bounding_box()
    for col, row in ((2, 1), (5, 1), (3, 6), (3, 6)):  # the last point clicked again lifts the pen
        page.mouse.click(box["x"] + (col + 0.5) / 8 * box["width"], box["y"] + (row + 0.5) / 8 * box["height"])
    assert live_becomes(page, "7") and shown_digit(page) == 7
    page.get_by_role("button", name="Draw with clicks").click()  # back to strokes


def test_a_fast_circle_at_4x_throttling_keeps_its_positions_and_comes_out_round(page, screenshots):
    """60 moves at 120 a second on a CPU four times slower, as pointer events dispatched on the page (each is
    handled: the browser's coalescing of real input is measured by bench/pen.py)."""
    import math

    import numpy as np

    from src.web.pad import decode

    clear(page)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
    try:
        box = page.locator("#sketchpad canvas").first.bounding_box()
        cx, cy, r = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, 0.3 * box["width"]
        points = [(cx + r * math.cos(2 * math.pi * i / 60), cy + r * math.sin(2 * math.pi * i / 60)) for i in range(61)]
        page.evaluate(
            """(points) => new Promise((done) => {
            const canvas = document.querySelector('#sketchpad canvas');
            const at = ([x, y], type, buttons) => new PointerEvent(type, {clientX: x, clientY: y, buttons, button: 0,
                pointerId: 1, pointerType: 'mouse', bubbles: true});
            canvas.dispatchEvent(at(points[0], 'pointerdown', 1));
            let i = 1;
            const timer = setInterval(() => {  // 120 a second, whatever the page is doing
                canvas.dispatchEvent(at(points[i], 'pointermove', 1));
                if (++i === points.length) {
                    clearInterval(timer);
                    canvas.dispatchEvent(at(points[i - 1], 'pointerup', 0));
                    done();
                }
            }, 1000 / 120);
        })""",
            points,
        )
    finally:
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
    assert page.evaluate("() => document.querySelector('#sketchpad .pad').pad.points()") >= 50
    page.locator("#sketchpad").screenshot(path=str(screenshots / "pen-circle-4x.png"))
    # Round: the ink's distance from the centre varies by less than the brush's width around the circle.
    value = page.evaluate(
        "() => new Promise((done) => { const c = document.createElement('canvas');"
        " const pad = document.querySelector('#sketchpad .pad').pad, img = pad.pixels();"
        " c.width = img.width; c.height = img.height; c.getContext('2d').putImageData(img, 0, 0);"
        " done(c.toDataURL('image/png')); })"
    )
    ink = np.asarray(decode(value))[..., 3] > 127
    ys, xs = np.nonzero(ink)
    centre = np.array([ys.mean(), xs.mean()])
    angles = np.arctan2(ys - centre[0], xs - centre[1])
    radius = np.hypot(ys - centre[0], xs - centre[1])
    outer = [
        radius[(angles >= a) & (angles < a + math.pi / 18)].max()
        for a in np.arange(-math.pi, math.pi - 1e-9, math.pi / 18)
    ]
    assert max(outer) - min(outer) < 6, outer  # a polygon of 10-13 sides would be 10+ pixels out at its corners


PAD = "document.querySelector('#sketchpad .pad').pad"


def test_the_pad_takes_one_pointer_at_a_time_and_the_keys_own_their_stroke(page):
    clear(page)
    canvas = page.locator("#sketchpad canvas")
    canvas.focus()
    page.keyboard.press("Space")  # a stroke of the keys, open
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + 20)  # the mouse passing over the pad draws nothing
    page.mouse.move(box["x"] + 300, box["y"] + 300, steps=5)
    assert page.evaluate(f"() => {PAD}.points()") == 1
    keys(page, "ArrowDown*3", "Space", "ArrowRight*2", "Space", "Backspace")  # Backspace: its last point only
    assert page.evaluate(f"() => {PAD}.points()") == 2
    page.keyboard.press("Enter")
    assert page.evaluate(f"() => {PAD}.strokes()") == 1
    # Two fingers: the second is ignored while the first draws, and the first's stroke is whole.
    page.evaluate("""() => {
        const c = document.querySelector('#sketchpad canvas'), r = c.getBoundingClientRect();
        const at = (id, type, x, y) => c.dispatchEvent(new PointerEvent(type, {pointerId: id, pointerType: 'touch',
            clientX: r.left + x, clientY: r.top + y, button: 0, buttons: type === 'pointerup' ? 0 : 1, bubbles: true}));
        at(1, 'pointerdown', 100, 60);
        at(2, 'pointerdown', 250, 250);
        for (let k = 1; k <= 5; k++) {
            at(1, 'pointermove', 100, 60 + 40 * k);
            at(2, 'pointermove', 250 - 20 * k, 250);
        }
        at(2, 'pointerup', 150, 250);
        at(1, 'pointermove', 100, 300);
        at(1, 'pointerup', 100, 300);
    }""")
    assert page.evaluate(f"() => [{PAD}.strokes(), {PAD}.points()]") == [2, 2 + 7]
    # A click on the pad gives it the keys: Enter lifts the pen there, and does not press a button.
    page.get_by_role("button", name="Draw with clicks").click()
    for col, row in ((2, 1), (5, 1)):
        page.mouse.click(box["x"] + (col + 0.5) / 8 * box["width"], box["y"] + (row + 0.5) / 8 * box["height"])
    assert page.evaluate("() => document.activeElement === document.querySelector('#sketchpad canvas')")
    page.keyboard.press("Enter")
    assert page.evaluate(f"() => {PAD}.strokes()") == 3
    assert page.get_by_role("button", name="Draw with clicks").get_attribute("aria-pressed") == "true"
    page.get_by_role("button", name="Draw with clicks").click()
