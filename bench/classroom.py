"""A class drawing at once: N visitors, each sending the pad's real payload every P seconds for D seconds,
to the app's /predict and, in the same run, to a trivial Gradio endpoint with the same pad, given the same traffic.

    python -m bench.classroom [N=30] [P=2.0] [D=60]

While the N simulated visitors load the app, one more visitor draws in a real Chromium page (when one is
installed): a stroke every P seconds. It reports how long after each stroke (mouse up) the page showed
the live reading (read in the browser by src/web/static/live.js), and how long until the server's reading.

Each visitor is its own gradio_client.Client (its own session), on this machine like the server, and
sends what the browser sends after a stroke: the pad's value, a 320x320 PNG as a data URL (src/web/pad.py),
starting at a random offset within the first period. A request that takes longer
than the period delays that visitor's next one (as a browser's trigger_mode="always_last" would).
Prints, for the app and then the trivial endpoint: requests sent, p50 and p95 latency, failures.
The app runs from a temporary checkpoint and visitor folder, never the repository's.
"""

import argparse
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from bench.browser import FLAGS, chromium
from bench.launch import Timings, client, close_all, pad_values, start_app, start_code

# The same queue settings as app.py, the app's pad, and a constant answer (run from the repository).
TRIVIAL_APP = """
import gradio as gr
from app import QUEUE_OPTIONS
from src.web.pad import Pad
with gr.Blocks() as demo:
    pad = Pad(elem_id="sketchpad"); out = gr.JSON()
    pad.change(lambda drawing: {"digit": 7}, pad, out, api_name="predict", trigger_mode="always_last")
demo.queue(**QUEUE_OPTIONS).launch()
"""


def classroom(url: str, visitors: int, period: float, duration: float, drawings: list[str]):
    """-> (latencies in s, failure messages)."""
    clients = [client(url) for _ in range(visitors)]
    timings = Timings()
    start = time.monotonic() + 1.0
    rng = np.random.default_rng(1)
    offsets = rng.uniform(0, period, visitors)

    def visitor(i):
        next_at = start + offsets[i]
        k = i
        while next_at < start + duration:
            time.sleep(max(0.0, next_at - time.monotonic()))
            timings.call(clients[i].predict, drawings[k % len(drawings)], api_name="/predict")
            k += 1
            next_at = max(next_at + period, time.monotonic())

    threads = [threading.Thread(target=visitor, args=(i,), daemon=True) for i in range(visitors)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=duration + 300)
    close_all(clients)
    return timings.latencies, timings.failures


# A 1 and a 7, each in two strokes, in unit coordinates of the drawing square; drawn in turn.
DIGITS = {
    1: [[(0.40, 0.25), (0.52, 0.12)], [(0.52, 0.12), (0.52, 0.88)]],
    7: [[(0.28, 0.16), (0.72, 0.16)], [(0.72, 0.16), (0.45, 0.88)]],
}
SERVER_EVERY = 3  # wait for the server's reading of every third drawing only, so that more strokes are drawn
LIVE = "document.querySelector('#live-reading .live-reading')"
CLEAR = "#sketchpad button:text-is('Clear')"  # the pad's own Clear


def browser_visitor(url: str, period: float, duration: float, results: dict):
    """One visitor in Chromium, drawing a 1 or a 7 (two strokes) every `period` s -> results["live"]: seconds
    from each stroke's mouse-up to the live reading; results["server"]: from a drawing's last mouse-up to the
    server's reading of it (every SERVER_EVERY-th drawing). Needs playwright."""
    from playwright.sync_api import sync_playwright

    if not (os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")):
        return
    live, server = results.setdefault("live", []), results.setdefault("server", [])
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url)
        page.wait_for_selector("#sketchpad canvas", timeout=60_000)
        # Mouse-up times, heard before live.js hears them (window, capture phase).
        page.evaluate("() => window.addEventListener('pointerup', () => { window.upAt = performance.now(); }, true)")
        box = page.locator("#sketchpad canvas").first.bounding_box()
        side = 0.8 * min(box["width"], box["height"])
        x0, y0 = box["x"] + (box["width"] - side) / 2, box["y"] + (box["height"] - side) / 2
        end, drawn = time.monotonic() + duration, 0
        while time.monotonic() + period < end:
            started, digit = time.monotonic(), (1, 7)[drawn % 2]
            page.click(CLEAR)
            page.wait_for_function(f"() => {LIVE}.dataset.reading === ''", timeout=60_000)
            for stroke in DIGITS[digit]:
                page.mouse.move(x0 + stroke[0][0] * side, y0 + stroke[0][1] * side)
                page.mouse.down()
                for u, v in stroke[1:]:
                    page.mouse.move(x0 + u * side, y0 + v * side, steps=5)
                page.mouse.up()
                up = time.monotonic()
                first = "() => window.liveReadings.find((r) => r.at > window.upAt)"  # the first reading after it
                page.wait_for_function(first, timeout=60_000)
                seconds, source = page.evaluate(
                    f"() => {{ const r = ({first})(); return [(r.at - window.upAt) / 1000, r.why]; }}"
                )
                live.append(seconds)
                results.setdefault("sources", []).append(source)
            if drawn % SERVER_EVERY == 0:  # the server's line starts with the digit it read: "7 at 98%, ..."
                page.wait_for_function(
                    f"() => /^\\s*{digit} at /.test(document.querySelector('#prediction').innerText)", timeout=60_000
                )
                server.append(time.monotonic() - up)
            drawn += 1
            time.sleep(max(0.0, period - (time.monotonic() - started)))
        browser.close()


def report(name, latencies, failures, visitors, period, duration):
    p50, p95 = (np.percentile(latencies, q) * 1000 for q in (50, 95)) if latencies else (float("nan"),) * 2
    expected = int(visitors * duration / period)
    print(
        f"{name:<36} {len(latencies):5d} answered of ~{expected:<5d} p50 {p50:7.0f} ms   p95 {p95:7.0f} ms   "
        f"failures {len(failures)}"
    )
    for f in failures[:3]:
        print("    ", f)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, kind, default in (("N", int, 30), ("P", float, 2.0), ("D", float, 60.0)):
        p.add_argument(name, type=kind, default=default, nargs="?")
    args = p.parse_args()
    visitors, period, duration = args.N, args.P, args.D
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        drawings = pad_values()
        print(f"{visitors} visitors, one drawing each every {period:g} s, for {duration:g} s, on this machine")
        for name, start in (
            ("app /predict", lambda: start_app(tmp / "app")),
            ("trivial endpoint, same pad", lambda: start_code(TRIVIAL_APP)),
        ):
            with start() as app:
                classroom(app.url, 2, period, 2 * period, drawings)  # warm up
                drawing, seen = None, {}
                if name.startswith("app"):  # one more visitor, in a real browser, among the simulated ones
                    drawing = threading.Thread(target=browser_visitor, args=(app.url, period, duration, seen))
                    drawing.start()
                latencies, failures = classroom(app.url, visitors, period, duration, drawings)
                report(name, latencies, failures, visitors, period, duration)
                if drawing:
                    drawing.join(timeout=300)
                    if not seen:
                        print("  (no Chromium: the browser visitor was skipped)")
                    else:
                        report("  its live reading, in a real browser", seen["live"], [], 2, period, duration)
                        slow = [f"{t * 1000:.0f} ms ({s})" for t, s in zip(seen["live"], seen["sources"]) if t > 0.1]
                        print(
                            f"    read while the pen moved {seen['sources'].count('pen')} times, at pen-up "
                            f"{seen['sources'].count('up')} times; over 100 ms: {', '.join(slow) or 'none'}"
                        )
                        report(
                            "  the server's reading, same browser",
                            seen["server"],
                            [],
                            1 / SERVER_EVERY,
                            period,
                            duration,
                        )


if __name__ == "__main__":
    main()
