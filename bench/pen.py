"""The pen's cost: milliseconds per pointer move on the Draw tab next to a plain Gradio Sketchpad, in one run.

    python -m bench.pen [--strokes 3] [--moves 120] [--taps 12] [--repo PATH]

Four pages, each served by its own process on 127.0.0.1 and drawn on in Debian's Chromium (Playwright,
headless, --disable-gpu: it paints in software):
  - "plain, no tool selected": as the next, but its brush never clicked: the pen draws nothing;
  - "plain, Gradio's defaults": gr.Sketchpad() and a constant Label on its change event;
  - "plain, our settings": the same with src/web/draw_tab.py's SKETCHPAD settings (canvas, brush, no layers...);
  - "ours": `python app.py` (of --repo, default this checkout: a worktree of an older commit gives "before").
On each, at 1x and at 4x CPU throttling (CDP Emulation.setCPUThrottlingRate, a slow school laptop):
  1. ms per move: `--strokes` circles of `--moves` mouse moves each; page.mouse.move returns once the
     page has handled the event. Mean and p95 over all moves, and the ratio to "plain, our settings".
  2. The live reading's delay (ours only): from pen-up to the page showing the reading of the whole stroke
     (0 if it showed before the pen went up), and from the stroke's last move, on the page's own clock
     (performance.now()), over the circles and `--taps` short strokes.
  3. Where the time goes (ours only): a Chromium trace of one circle, its main thread's self time per
     event kind, and a JS profile's top functions, both per move.
  4. A pen: a circle of 60 moves in half a second, sent without waiting for the page (a busy page gets them
     coalesced, and draws a polygon); the pointer events the page got, and screenshots (a temporary folder).
"""

import argparse
import asyncio
import contextlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench.launch import ROOT, start_app, start_code

# Run from the repository (python -c PLAIN_APP ours|defaults): a Sketchpad with our settings or Gradio's.
PLAIN_APP = """
import sys
import gradio as gr
settings = {}
if sys.argv[1] == "ours":
    from src.web.draw_tab import SKETCHPAD as settings
with gr.Blocks() as demo:
    pad = gr.Sketchpad(elem_id="sketchpad", **settings)
    label = gr.Label()
    pad.change(lambda value: {"0": 1.0}, pad, label, trigger_mode="always_last", show_progress="hidden")
demo.queue().launch()
"""

NO_BRUSH = "plain, no tool selected"
LIVE = "document.querySelector('#live-reading .live-reading')"
# Heard before the page's own handlers (window, capture phase): when the pen last moved, and when it went up.
PEN_UP = """() => {
  window.addEventListener('pointermove', () => { window.movedAt = performance.now(); }, true);
  window.addEventListener('pointerup', () => { window.upAt = performance.now(); }, true);
}"""
# The first reading that holds the whole stroke: one that says it read the input up to the last move (live.js's
# `upTo`), or, for a page that reads inside its input handlers, the first one shown after the last move began.
WHOLE = """() => (window.liveReadings || []).find((r) => r.upTo === undefined ? r.at >= window.movedAt
                                                                       : r.upTo >= window.movedAt)"""


def circle(box, n, turns=1.0):
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    r = 0.3 * min(box["width"], box["height"])
    return [(cx + r * math.cos(2 * math.pi * turns * i / n), cy + r * math.sin(2 * math.pi * turns * i / n))
            for i in range(n + 1)]


async def stroke(page, points) -> list[float]:
    """One stroke through `points`: seconds each move took to be handled."""
    await page.mouse.move(*points[0])
    await page.mouse.down()
    times = []
    for x, y in points[1:]:
        t = time.perf_counter()
        await page.mouse.move(x, y)
        times.append(time.perf_counter() - t)
    await page.mouse.up()
    return times


BRUSH = '#sketchpad button[aria-label="Brush"]'
BRUSH_ON = f"() => document.querySelector('{BRUSH}')?.classList.contains('highlight')"


async def select_brush(page, ours, brush=True):
    """Ours selects its brush itself (autobrush.js); on a plain Sketchpad the brush is clicked, as a person would
    (a plain Sketchpad opens with no tool selected: its moves then draw nothing)."""
    if not brush:
        return
    if not ours and not await page.evaluate(BRUSH_ON):
        await page.click(BRUSH)
    await page.wait_for_function(BRUSH_ON, timeout=30_000)


async def open_page(browser, url, ours, brush=True):
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await page.goto(url)
    await page.wait_for_selector("#sketchpad canvas", timeout=120_000)
    if ours:  # the live reading needs its weights
        await page.wait_for_function(f"() => {LIVE}?.dataset.weights", timeout=60_000)
    await select_brush(page, ours, brush)
    await page.locator("#sketchpad").scroll_into_view_if_needed()
    await page.evaluate(PEN_UP)
    return page


async def clear(page, ours, brush=True):
    await page.click('#sketchpad button[aria-label="Clear canvas"]')
    await page.wait_for_timeout(300)
    await select_brush(page, ours, brush)


async def live_delay(page) -> tuple[float, float]:
    """(pen-up to the whole stroke's reading on the page, 0 if it was there before; last move to it)."""
    await page.wait_for_function(WHOLE, timeout=60_000)
    return await page.evaluate(f"""() => {{ const r = ({WHOLE})();
        return [Math.max(0, r.at - window.upAt), r.at - window.movedAt]; }}""")


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, max(0, math.ceil(q / 100 * len(values)) - 1))]


def self_times(trace: dict, moves: int) -> list[tuple[str, float]]:
    """The renderer main thread's self time per event name, ms per move, from a Chromium trace."""
    events = trace["traceEvents"]
    main = {(e["pid"], e["tid"]) for e in events if e.get("name") == "thread_name"
            and e.get("args", {}).get("name") == "CrRendererMain"}
    spans = sorted(((e["ts"], e["ts"] + e["dur"], e["name"]) for e in events
                    if e.get("ph") == "X" and "dur" in e and (e["pid"], e["tid"]) in main), key=lambda s: (s[0], -s[1]))
    total, stack = defaultdict(float), []  # stack: (end, name) of the spans that hold this one
    for start, end, name in spans:
        while stack and stack[-1][0] <= start:
            stack.pop()
        total[name] += end - start
        if stack:
            total[stack[-1][1]] -= end - start  # a child's time is not its parent's self time
        stack.append((end, name))
    return sorted(((n, t / 1000 / moves) for n, t in total.items()), key=lambda x: -x[1])


def top_functions(profile: dict, moves: int) -> list[tuple[str, float]]:
    """A CDP Profiler profile's self time per function (name, file:line), ms per move."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    total = defaultdict(float)
    for node_id, delta in zip(profile["samples"], profile["timeDeltas"]):
        frame = nodes[node_id]["callFrame"]
        where = f"{Path(frame['url']).name or '-'}:{frame['lineNumber'] + 1}" if frame["url"] else ""
        total[f"{frame['functionName'] or '(anonymous)'} {where}".strip()] += delta
    return sorted(((n, t / 1000 / moves) for n, t in total.items()), key=lambda x: -x[1])


async def pen_circle(page, cdp, box, hz=120, seconds=0.5):
    """A circle drawn as a real pen draws it: `hz` moves a second, each sent without waiting for the page,
    so a busy page gets them late and coalesced. -> (moves sent, pointer events the page's handlers got)."""
    points = circle(box, int(hz * seconds), turns=1.1)
    await page.evaluate("""() => { window.moves = 0;
        if (!window.counting) window.addEventListener('pointermove', () => window.moves++, true);
        window.counting = true; }""")

    def mouse(kind, x, y):
        return cdp.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left",
                                                     "buttons": 0 if kind == "mouseReleased" else 1, "clickCount": 1})
    await mouse("mouseMoved", *points[0])
    await mouse("mousePressed", *points[0])
    sent, start = [], time.perf_counter()
    for i, (x, y) in enumerate(points[1:], 1):
        sent.append(asyncio.ensure_future(mouse("mouseMoved", x, y)))
        await asyncio.sleep(max(0.0, start + i / hz - time.perf_counter()))
    await asyncio.gather(*sent)
    await mouse("mouseReleased", *points[-1])
    return len(points) - 1, await page.evaluate("() => window.moves")


async def measure(args, servers) -> dict:
    from playwright.async_api import async_playwright

    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        sys.exit("needs Chromium: apt-get install chromium (or set CHROMIUM)")
    out = {"moves": {}, "delays": defaultdict(list), "pen": {}}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        for name, server in servers.items():
            ours, brush = name == "ours", name != NO_BRUSH
            page = await open_page(browser, server.url, ours, brush)
            cdp = await page.context.new_cdp_session(page)
            box = await page.locator("#sketchpad canvas").first.bounding_box()
            centre, r = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2), 0.25 * min(box["width"], box["height"])
            for rate in (1, 4):
                await cdp.send("Emulation.setCPUThrottlingRate", {"rate": rate})
                await stroke(page, circle(box, 10))  # warm-up
                await page.wait_for_timeout(1500)
                await clear(page, ours, brush)
                times = []
                for _ in range(args.strokes):
                    times += await stroke(page, circle(box, args.moves))
                    if ours:
                        out["delays"][rate].append(await live_delay(page))
                    await page.wait_for_timeout(1500)  # the server's reading comes and goes
                    await clear(page, ours, brush)
                out["moves"][name, rate] = times
                if ours:  # short strokes through the centre, in every direction
                    for i in range(args.taps):
                        a = 2 * math.pi * i / args.taps
                        await stroke(page, [(centre[0] + r * f * math.cos(a), centre[1] + r * f * math.sin(a))
                                            for f in (-1, -0.6, -0.2, 0.2, 0.6, 1)])
                        out["delays"][rate].append(await live_delay(page))
                        await page.wait_for_timeout(300)
                    await page.wait_for_timeout(1500)
                    await clear(page, ours, brush)
                out["pen"][name, rate] = await pen_circle(page, cdp, box)
                await page.wait_for_timeout(2000)
                if ours or name == "plain, our settings":
                    shot = out["shots"] = out.get("shots", []) + [args.out / f"pen-circle-{rate}x-{name.split(',')[-1].strip().replace(' ', '-')}.png"]
                    await page.locator("#sketchpad").screenshot(path=str(shot[-1]))
                await clear(page, ours, brush)
            if ours:
                await cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
                await browser.start_tracing(page=page, categories=["devtools.timeline", "blink", "v8"])
                await stroke(page, circle(box, args.moves))
                out["trace"] = json.loads(await browser.stop_tracing())
                await page.wait_for_timeout(1500)
                await clear(page, ours, brush)
                await cdp.send("Profiler.enable")
                await cdp.send("Profiler.setSamplingInterval", {"interval": 200})
                await cdp.send("Profiler.start")
                await stroke(page, circle(box, args.moves))
                out["profile"] = (await cdp.send("Profiler.stop"))["profile"]
            await page.close()
        await browser.close()
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repo", type=Path, default=ROOT, help="the checkout whose app.py is 'ours'")
    p.add_argument("--strokes", type=int, default=3, help="circles per page and throttling")
    p.add_argument("--moves", type=int, default=120, help="mouse moves per circle")
    p.add_argument("--taps", type=int, default=12, help="short strokes for the live reading's delay")
    p.add_argument("--top", type=int, default=8, help="rows of each profile table")
    args = p.parse_args()

    tmp = args.out = Path(tempfile.mkdtemp(prefix="pen-"))
    pages = {NO_BRUSH: lambda: start_code(PLAIN_APP, "ours"),
             "plain, Gradio's defaults": lambda: start_code(PLAIN_APP, "defaults"),
             "plain, our settings": lambda: start_code(PLAIN_APP, "ours"),
             "ours": lambda: start_app(tmp / "ours", cwd=args.repo.resolve())}
    print(f"ours: app.py of {args.repo.resolve()}; {args.strokes} circles of {args.moves} moves per page and rate")
    with contextlib.ExitStack() as running:
        servers = {name: running.enter_context(start()) for name, start in pages.items()}
        out = asyncio.run(measure(args, servers))

    moves = out["moves"]
    print("\n== ms per pointer move (mean, p95), and the mean's ratio to 'plain, our settings'")
    for rate in (1, 4):
        base = sum(moves["plain, our settings", rate]) / len(moves["plain, our settings", rate])
        for name in pages:
            t = moves[name, rate]
            mean = sum(t) / len(t)
            print(f"  {rate}x CPU  {name:26s} mean {mean * 1000:6.1f}  p95 {pct(t, 95) * 1000:6.1f}  "
                  f"= {mean / base:5.2f}x")
    print("\n== a pen at 120 moves a second (half a second, sent without waiting): pointer events the page got")
    for rate in (1, 4):
        for name in pages:
            sent, got = out["pen"][name, rate]
            print(f"  {rate}x CPU  {name:26s} {got:3d} of {sent} ({100 * got / sent:3.0f}%)")
    print("\n== the live reading of the whole stroke, on the page's clock (ms): after pen-up (0: shown before it),"
          " and after the last move")
    for rate in (1, 4):
        up, moved = zip(*out["delays"][rate])
        print(f"  {rate}x CPU  {len(up)} strokes: after pen-up p50 {pct(up, 50):6.1f}  p95 {pct(up, 95):6.1f}  "
              f"max {max(up):6.1f};  after the last move p50 {pct(moved, 50):6.1f}  p95 {pct(moved, 95):6.1f}")
    print(f"\n== where one circle's time goes on ours, 1x CPU (ms per move; {args.moves} moves)")
    print("  renderer main thread, self time per trace event:")
    for n, t in self_times(out["trace"], args.moves)[:args.top]:
        print(f"    {t:7.2f}  {n}")
    print("  JavaScript, self time per function (CDP Profiler):")
    for n, t in top_functions(out["profile"], args.moves)[:args.top]:
        print(f"    {t:7.2f}  {n}")
    print("\nthe pen's circles:", *out["shots"], sep="\n  ")


if __name__ == "__main__":
    main()
