"""WCAG 2.1 AA in a real Chromium (src/web/accessibility.py): axe-core on both tabs, light and dark, desktop and
phone; the readings spoken by the page's live region; and the whole keyboard path, with no mouse.

axe-core comes from the npm registry (package.json): `npm ci` puts it in node_modules/, as .ci/run does.
"""

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.test_browser import LIVE, STROKES, draw, pad_ready, painted, shown_digit

pytestmark = [pytest.mark.browser, pytest.mark.slow]
AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
DESKTOP = {"viewport": {"width": 1280, "height": 900}}


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.exists():
        pytest.skip("axe-core is not installed: run `npm ci` in the repository root")
    return AXE.read_text()


def open_app(playwright, browser, url, device, theme, clock=False):
    """A new visitor's page of the app; with `clock`, the page's timers run on Playwright's clock (page.clock),
    which a test can move on."""
    context = browser.new_context(**(playwright.devices["Pixel 7"] if device == "phone" else DESKTOP))
    page = context.new_page()
    if clock:
        page.clock.install()  # time flows as it would, and run_for() moves it on at once
    page.goto(url + ("?__theme=dark" if theme == "dark" else ""))
    pad_ready(page)
    page.wait_for_function(f"() => document.querySelector('{LIVE}')?.dataset.weights", timeout=60_000)
    return page


OPEN_ALL = """() => { let n = 0; for (const b of document.querySelectorAll('button.label-wrap')) {
    const icon = b.querySelector('.icon');
    if (b.offsetParent && icon && /90deg/.test(icon.getAttribute('style') || '')) { b.click(); n++; } } return n; }"""
# Every request the page made is answered (Gradio's progress overlays hidden) and every image is loaded (but those
# that load lazily, once scrolled to).
SETTLED = """() => [...document.querySelectorAll('[data-testid="status-tracker"]')]
    .every((t) => t.classList.contains('hide'))
    && [...document.querySelectorAll('img')].every((img) => img.complete || img.loading === 'lazy')"""


def settled(page):
    """Returns once what the page asked for last is shown: two frames for the clicks' requests to start, then
    SETTLED."""
    painted(page)
    page.wait_for_function(SETTLED, timeout=60_000)
    painted(page)


def violations(page, axe_source) -> list[dict]:
    """axe-core's violations on the page as it is now: id, impact and the elements, shortest first."""
    page.add_script_tag(content=axe_source)
    return page.evaluate(
        """async (tags) => (await axe.run(document, {runOnly: {type: "tag", values: tags}}))
        .violations.map((v) => ({id: v.id, impact: v.impact, targets: v.nodes.map((n) => n.target.join(" "))}))""",
        RULES,
    )


@pytest.mark.parametrize("device", ["desktop", "phone"])
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_axe_finds_nothing_serious_on_either_tab_with_every_panel_open(
    playwright, browser, server, axe_source, theme, device, screenshots
):
    page = open_app(playwright, browser, server.url, device, theme)
    draw(page, STROKES[7])  # the readings filled in: chart, images, notes
    assert shown_digit(page) == 7
    page.evaluate(OPEN_ALL)  # every panel open: Model, Inside the network, corrections, the file upload
    settled(page)
    found = {"Draw": violations(page, axe_source)}
    page.screenshot(path=str(screenshots / f"a11y-draw-{theme}-{device}.png"), full_page=device == "desktop")
    page.get_by_role("tab", name="Train").click()
    page.wait_for_selector("#start")
    page.evaluate(OPEN_ALL)  # Compare runs, what the model trains on, fine-tuning
    settled(page)
    found["Train"] = violations(page, axe_source)
    page.screenshot(path=str(screenshots / f"a11y-train-{theme}-{device}.png"), full_page=device == "desktop")
    page.context.close()
    for tab, found_here in found.items():
        serious = [v for v in found_here if v["impact"] in ("serious", "critical")]
        print(
            f"\naxe-core, {tab} tab, {theme}, {device}: {len(serious)} serious or critical; all: "
            + (", ".join(f"{v['id']} ({v['impact']}, {len(v['targets'])})" for v in found_here) or "none")
        )
        assert not serious, serious


SAID = """() => { window.said = []; new MutationObserver(() => window.said.push(
    document.querySelector('#announcer').textContent)).observe(document.querySelector('#announcer'),
    {childList: true, characterData: true, subtree: true}); }"""


def test_a_settled_reading_is_announced_with_its_confidence(playwright, browser, server):
    page = open_app(playwright, browser, server.url, "desktop", "light", clock=True)
    region = page.locator("#announcer")  # there, empty, before anything is said
    assert region.get_attribute("aria-live") == "polite" and region.get_attribute("role") == "status"
    assert region.text_content() == ""
    page.evaluate(SAID)
    draw(page, STROKES[7])
    page.wait_for_function("() => /\\b7, \\d+%/.test(document.querySelector('#announcer').textContent)", timeout=30_000)
    print("\nannounced:", region.text_content())
    assert re.search(r"\b7, \d+%", region.text_content())
    page.get_by_role("button", name="Clear").click()
    page.wait_for_function(f"() => document.querySelector('{LIVE}').dataset.source === 'clear'", timeout=30_000)
    page.clock.run_for(800)  # the pad empty for longer than accessibility.js's SETTLE (700 ms): a pause it hears
    draw(page, STROKES[7])  # the same reading again, after Clear: said again
    page.wait_for_function("() => window.said.filter((t) => /\\b7, \\d+%/.test(t)).length >= 2", timeout=30_000)
    said = page.evaluate("() => window.said")
    print("said, in order:", said)
    assert not any("The server reads" in t for t in said)  # the server agreed: the live reading had said it
    page.context.close()


def focused(page) -> dict:
    """The element with the keyboard's focus: its element id (or the nearest ancestor's), text and outline."""
    return page.evaluate("""() => { const e = document.activeElement, s = getComputedStyle(e);
        return {id: (e.closest('[id]') || {}).id || '',
                text: (e.innerText || e.getAttribute('aria-label') || '').trim(), tag: e.tagName,
                outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2}; }""")


def tab_to(page, accept, most=120, key="Tab") -> dict:
    """Press Tab (or `key`) until `accept(focused element)`; fails after `most` presses. Every stop has a visible
    outline."""
    for _ in range(most):
        page.keyboard.press(key)
        now = focused(page)
        assert now["outline"] or now["tag"] in ("BODY", "CANVAS"), f"no visible focus on {now}"
        if accept(now):
            return now
    raise AssertionError("never reached with the keyboard")


def test_keyboard_only_upload_read_then_train_one_epoch_and_stop(playwright, browser, server, tmp_path, screenshots):
    image = np.full((280, 280), 255, np.uint8)
    image[60:220, 130:150] = 0  # a 1, black on white
    picture = tmp_path / "one.png"
    Image.fromarray(image).save(picture)
    page = open_app(playwright, browser, server.url, "desktop", "light")

    tab_to(page, lambda f: f["text"].startswith("Classify an image file"))
    page.keyboard.press("Enter")  # opens the accordion
    page.locator("#upload").wait_for(state="visible")
    tab_to(page, lambda f: f["id"] == "upload")
    for attempt in range(3):  # under load the drop zone may take the first Enter before it listens (CI, once)
        try:
            with page.expect_file_chooser(timeout=10_000) as chooser:
                page.keyboard.press("Enter")
            break
        except PlaywrightTimeout:
            assert attempt < 2 and focused(page)["id"] == "upload", "Enter on the drop zone opens no file chooser"
    chooser.value.set_files(str(picture))
    # Uploaded: Gradio drops a click made before ("Waiting for file(s) to finish uploading, please retry").
    page.locator('#upload a[download="one.png"]').wait_for(timeout=60_000)
    tab_to(page, lambda f: f["id"] == "classify")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => /The image reads: 1/.test(document.querySelector('#announcer')?.textContent ?? '')", timeout=60_000
    )
    assert re.search(r'"?digit"?\W+1', page.locator("#classify-result").inner_text())

    # Back up to the tabs, and into the Train tab.
    tab_to(page, lambda f: f["tag"] == "BUTTON" and f["text"] == "Train", key="Shift+Tab")
    page.keyboard.press("Enter")
    page.wait_for_selector("#start", state="visible")
    tab_to(page, lambda f: f["id"] == "epochs" and f["tag"] == "INPUT")
    page.keyboard.press("Control+A")
    page.keyboard.type("1")
    page.keyboard.press("Enter")
    tab_to(page, lambda f: f["id"] == "start")
    page.keyboard.press("Enter")  # one epoch of 48,000 examples: several seconds, stopped long before its end
    page.wait_for_function(
        "() => /Loading|Drawing|Epoch/.test(document.querySelector('#train-status').innerText)", timeout=60_000
    )  # running: Stop now stops it
    tab_to(page, lambda f: f["id"] == "stop")
    page.keyboard.press("Enter")
    page.wait_for_function("() => /^Stopped/.test(document.querySelector('#train-status').innerText)", timeout=180_000)
    page.wait_for_function("() => /Stopped/.test(document.querySelector('#announcer').textContent)", timeout=30_000)
    status = page.locator("#train-status").inner_text()
    page.screenshot(path=str(screenshots / "a11y-keyboard.png"))
    print("\nkeyboard only:", page.locator("#classify-result").inner_text().replace("\n", " ")[:80], "|", status[:120])
    page.context.close()


@pytest.mark.parametrize("width", [320, 640])  # WCAG's reflow width; a 1280-pixel screen at 200% zoom
def test_the_page_reflows_with_no_sideways_scrolling(browser, server, width, screenshots):
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_selector("#sketchpad canvas", timeout=60_000)
    wide = {}
    for tab, shown in (("Draw", "#sketchpad canvas"), ("Train", "#start")):
        page.get_by_role("tab", name=tab).click()
        page.locator(shown).first.wait_for(state="visible")
        painted(page)
        wide[tab] = page.evaluate("() => document.documentElement.scrollWidth")
        page.screenshot(path=str(screenshots / f"a11y-{tab.lower()}-{width}px.png"))
    context.close()
    print(f"\n{width} px wide: the page is {wide} px wide")
    assert all(w <= width + 1 for w in wide.values())


def test_the_live_bars_do_not_move_for_those_who_ask_for_less_motion(browser, server):
    durations = {}
    for motion in ("no-preference", "reduce"):
        context = browser.new_context(reduced_motion=motion, **DESKTOP)
        page = context.new_page()
        page.goto(server.url)
        page.wait_for_selector("#live-reading .live-bar i", state="attached", timeout=60_000)
        durations[motion] = page.evaluate(
            "() => getComputedStyle(document.querySelector('#live-reading .live-bar i')).transitionDuration"
        )
        context.close()
    assert durations == {"no-preference": "0.08s", "reduce": "0s"}, durations
