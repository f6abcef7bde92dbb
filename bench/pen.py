"""The pen's cost: milliseconds per pointer move on the Draw tab next to a bare 2D-canvas page, in one run.

    python -m bench.pen [--strokes 3] [--moves 120] [--taps 12] [--repo PATH] [--webgl]

Two pages, on 127.0.0.1, drawn on in Debian's Chromium (Playwright, headless, --disable-gpu
--disable-software-rasterizer: no WebGL at all, everything painted in software; --webgl keeps SwiftShader):
  - "bare canvas": a <canvas> in <div id="sketchpad"> the size of our pad, which paints each pointermove's
    coalesced positions as one line with its 2D context (round caps, our pen's width): the least a drawing
    page can do (served from this process);
  - "ours": `python app.py` (of --repo, default this checkout: a worktree of an older commit gives "before").
On each, at 1x and at 4x CPU throttling (CDP Emulation.setCPUThrottlingRate, a slow school laptop):
  1. ms per move: `--strokes` circles of `--moves` mouse moves each; page.mouse.move returns once the
     page has handled the event. Mean and p95 over all moves, and the ratio to the bare canvas (target <= 1.5x).
  2. The live reading's delay (ours only): from pen-up to the page showing the reading of the whole stroke
     (0 if it showed before the pen went up), and from the stroke's last move, on the page's own clock
     (performance.now()), over the circles and `--taps` short strokes (target p95 <= 50 ms at 1x, 150 ms at 4x),
     and of that the reading itself (live.js's `upTo` to shown; the rest waits for the reading before it). While
     the pen moves live.js reads the digits only; the whole reading ("is it a digit?" too) follows pen-up.
  3. Where the time goes (ours only, 1x and 4x): a Chromium trace of one circle, its main thread's self time per
     event kind, and a JS profile's top functions, both per move.
  4. A pen: a circle of 60 moves in half a second (120 Hz), sent without waiting for the page (a busy page
     gets them coalesced); the pointer events the page got, the positions it kept (ours: the pad's points(),
     target >= 50 of the 60 moves), how round the ink came out, and screenshots (a temporary folder).
"""

import argparse
import asyncio
import contextlib
import json
import math
import tempfile
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

from bench.browser import FLAGS
from bench.browser import chromium as browser_path
from bench.launch import ROOT, start_app

SIZE, RADIUS = 320, 10  # as src/web/pad.py: the pen is 2 * RADIUS of SIZE across, on any screen
# The least a drawing page can do: one line through each pointermove's coalesced positions.
BARE_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>bare canvas</title>
<style>
  body {{ margin: 0; font-family: sans-serif; }}
  #sketchpad {{ width: 380px; margin: 40px auto; }}
  #sketchpad canvas {{ display: block; width: 380px; height: 380px; touch-action: none; background: #fff;
    border: 1px solid #a1a1aa; border-radius: 8px; box-sizing: border-box; }}
</style></head>
<body><div id="sketchpad"><canvas></canvas></div>
<script>
  const canvas = document.querySelector("#sketchpad canvas"), ctx = canvas.getContext("2d");
  canvas.width = canvas.height = Math.round(canvas.getBoundingClientRect().width * (window.devicePixelRatio || 1));
  const scale = canvas.width / {SIZE};
  let last = null, rect = null, kept = 0;
  const at = (e) => [(e.clientX - rect.left) * canvas.width / rect.width,
                     (e.clientY - rect.top) * canvas.height / rect.height];
  function pen() {{
    ctx.lineCap = ctx.lineJoin = "round";
    ctx.lineWidth = 2 * {RADIUS} * scale;
    ctx.strokeStyle = ctx.fillStyle = "#000";
  }}
  canvas.addEventListener("pointerdown", (e) => {{
    e.preventDefault();
    rect = canvas.getBoundingClientRect();
    canvas.setPointerCapture(e.pointerId);
    last = at(e);
    kept++;
    pen();
    ctx.beginPath();
    ctx.arc(last[0], last[1], {RADIUS} * scale, 0, 2 * Math.PI);
    ctx.fill();
  }});
  canvas.addEventListener("pointermove", (e) => {{
    if (!last) return;
    const moves = e.getCoalescedEvents && e.getCoalescedEvents().length ? e.getCoalescedEvents() : [e];
    ctx.beginPath();
    ctx.moveTo(last[0], last[1]);
    for (const m of moves) {{ last = at(m); ctx.lineTo(last[0], last[1]); }}
    kept += moves.length;
    ctx.stroke();
  }});
  for (const end of ["pointerup", "pointercancel"]) canvas.addEventListener(end, () => {{ last = null; }});
  window.bare = {{ points: () => kept,
                  clear: () => {{ ctx.clearRect(0, 0, canvas.width, canvas.height); kept = 0; }} }};
</script></body></html>"""

BARE, OURS = "bare canvas", "ours"
PAD = "document.querySelector('#sketchpad .pad')?.pad"
LIVE = "document.querySelector('#live-reading .live-reading')"
POINTS = {BARE: "() => window.bare.points()", OURS: f"() => {PAD}.points()"}
# Heard before the page's own handlers (window, capture phase): when the pen last moved, and when it went up.
PEN_UP = """() => {
  window.addEventListener('pointermove', () => { window.movedAt = performance.now(); }, true);
  window.addEventListener('pointerup', () => { window.upAt = performance.now(); }, true);
}"""
# The first reading that holds the whole stroke: one that says it read the input up to the last move (live.js's
# `upTo`), or, for a page that reads inside its input handlers, the first one shown after the last move began.
WHOLE = """() => (window.liveReadings || []).find((r) => r.upTo === undefined ? r.at >= window.movedAt
                                                                       : r.upTo >= window.movedAt)"""
# The first whole reading ("is it a digit?" too: live.js reads quickly, the digits only, while the pen moves).
FULL = """() => (window.liveReadings || []).find((r) => !r.quick && r.upTo >= window.movedAt)"""
TARGET_RATIO, TARGET_DELAY, TARGET_KEPT = 1.5, {1: 50, 4: 150}, 50


@contextlib.contextmanager
def serve(html: str):
    """`html` at / of a local HTTP server (a thread of this process): SimpleNamespace(url=...)."""
    body = html.encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            ok = self.path.split("?")[0] == "/"
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body) if ok else 0))
            self.end_headers()
            if ok:
                self.wfile.write(body)

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_address[1]}/")
    finally:
        server.shutdown()
        server.server_close()


def circle(box, n, turns=1.0):
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    r = 0.3 * min(box["width"], box["height"])
    return [
        (cx + r * math.cos(2 * math.pi * turns * i / n), cy + r * math.sin(2 * math.pi * turns * i / n))
        for i in range(n + 1)
    ]


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


async def open_page(browser, url, ours):
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await page.goto(url)
    await page.wait_for_selector("#sketchpad canvas", timeout=120_000)
    if ours:  # the pad's script, and the live reading's weights
        await page.wait_for_function(f"() => {PAD}", timeout=60_000)
        await page.wait_for_function(f"() => {LIVE}?.dataset.weights", timeout=60_000)
    await page.locator("#sketchpad").scroll_into_view_if_needed()
    await page.evaluate(PEN_UP)
    return page


async def clear(page, ours):
    """Ours: its Clear button, as a person would; the bare page: its canvas emptied."""
    if ours:
        await page.locator("#sketchpad").get_by_role("button", name="Clear", exact=True).click()
        await page.wait_for_function(f"() => {PAD}.points() === 0")
        await page.wait_for_timeout(300)
    else:
        await page.evaluate("() => window.bare.clear()")


async def live_delay(page) -> tuple[float, float, float, float]:
    """(pen-up to the whole stroke's reading on the page, 0 if it was there before; last move to it; of that, its
    own reading: from its pixels taken to it shown, the rest is waiting for the reading before it; pen-up to the
    first whole reading with its verdict)."""
    await page.wait_for_function(WHOLE, timeout=60_000)
    await page.wait_for_function(FULL, timeout=60_000)
    return await page.evaluate(f"""() => {{ const r = ({WHOLE})(), full = ({FULL})();
        return [Math.max(0, r.at - window.upAt), r.at - window.movedAt,
                r.upTo === undefined ? 0 : r.at - r.upTo, Math.max(0, full.at - window.upAt)]; }}""")


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, max(0, math.ceil(q / 100 * len(values)) - 1))]


def self_times(trace: dict, moves: int) -> list[tuple[str, float]]:
    """The renderer main thread's self time per event name, ms per move, from a Chromium trace."""
    events = trace["traceEvents"]
    main = {
        (e["pid"], e["tid"])
        for e in events
        if e.get("name") == "thread_name" and e.get("args", {}).get("name") == "CrRendererMain"
    }
    spans = sorted(
        (
            (e["ts"], e["ts"] + e["dur"], e["name"])
            for e in events
            if e.get("ph") == "X" and "dur" in e and (e["pid"], e["tid"]) in main
        ),
        key=lambda s: (s[0], -s[1]),
    )
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


def roundness(png: Path) -> tuple[float, float, int]:
    """The circle in a screenshot of the canvas: (its radius; how far the middle of its ink strays,
    max - min over 5-degree sectors, in px: a circle 0-1, a polygon of n sides r(1 - cos(pi/n)) at least;
    sectors without ink)."""
    import numpy as np
    from PIL import Image

    ink = np.asarray(Image.open(png).convert("L")) < 100  # black ink; not the grey border, not the page
    ys, xs = np.nonzero(ink)
    if not len(xs):
        return 0.0, 0.0, 72
    dx, dy = xs - (xs.min() + xs.max()) / 2, ys - (ys.min() + ys.max()) / 2  # from the ink's own centre
    r, sector = np.hypot(dx, dy), ((np.arctan2(dy, dx) + math.pi) / (2 * math.pi) * 72).astype(int) % 72
    middles = [(r[sector == s].min() + r[sector == s].max()) / 2 for s in range(72) if (sector == s).any()]
    return float(np.median(middles)), float(max(middles) - min(middles)), 72 - len(middles)


async def pen_circle(page, cdp, box, kept, hz=120, seconds=0.5):
    """A circle drawn as a real pen draws it: `hz` moves a second, each sent without waiting for the page,
    so a busy page gets them late and coalesced. -> (moves sent, pointer events the page's handlers got,
    positions the page kept, pen-down included)."""
    points = circle(box, int(hz * seconds), turns=1.1)
    await page.evaluate("""() => { window.moves = 0;
        if (!window.counting) window.addEventListener('pointermove', () => window.moves++, true);
        window.counting = true; }""")

    def mouse(kind, x, y):
        return cdp.send(
            "Input.dispatchMouseEvent",
            {
                "type": kind,
                "x": x,
                "y": y,
                "button": "left",
                "buttons": 0 if kind == "mouseReleased" else 1,
                "clickCount": 1,
            },
        )

    await mouse("mouseMoved", *points[0])
    await mouse("mousePressed", *points[0])
    sent, start = [], time.perf_counter()
    for i, (x, y) in enumerate(points[1:], 1):
        sent.append(asyncio.ensure_future(mouse("mouseMoved", x, y)))
        await asyncio.sleep(max(0.0, start + i / hz - time.perf_counter()))
    await asyncio.gather(*sent)
    await mouse("mouseReleased", *points[-1])
    return len(points) - 1, await page.evaluate("() => window.moves"), await page.evaluate(kept)


async def measure(args, servers) -> dict:
    from playwright.async_api import async_playwright

    chromium = browser_path()
    flags = [*FLAGS, *([] if args.webgl else ["--disable-software-rasterizer"])]
    out = {"moves": {}, "delays": defaultdict(list), "pen": {}, "shots": [], "boxes": {}}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=flags)
        out["browser"] = f"Chromium {browser.version} {' '.join(flags)}"
        for name, server in servers.items():
            ours = name == OURS
            page = await open_page(browser, server.url, ours)
            cdp = await page.context.new_cdp_session(page)
            canvas = page.locator("#sketchpad canvas").first
            box = out["boxes"][name] = await canvas.bounding_box()
            centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            r = 0.25 * min(box["width"], box["height"])
            for rate in (1, 4):
                await cdp.send("Emulation.setCPUThrottlingRate", {"rate": rate})
                await stroke(page, circle(box, 10))  # warm-up
                await page.wait_for_timeout(1500 if ours else 200)
                await clear(page, ours)
                times = []
                for _ in range(args.strokes):
                    times += await stroke(page, circle(box, args.moves))
                    if ours:
                        out["delays"][rate].append(await live_delay(page))
                        await page.wait_for_timeout(1500)  # the server's reading comes and goes
                    await clear(page, ours)
                out["moves"][name, rate] = times
                if ours:  # short strokes through the centre, in every direction
                    for i in range(args.taps):
                        a = 2 * math.pi * i / args.taps
                        await stroke(
                            page,
                            [
                                (centre[0] + r * f * math.cos(a), centre[1] + r * f * math.sin(a))
                                for f in (-1, -0.6, -0.2, 0.2, 0.6, 1)
                            ],
                        )
                        out["delays"][rate].append(await live_delay(page))
                        await page.wait_for_timeout(300)
                    await page.wait_for_timeout(1500)
                    await clear(page, ours)
                out["pen"][name, rate] = await pen_circle(page, cdp, box, POINTS[name])
                await page.wait_for_timeout(2000 if ours else 300)
                shot = args.out / f"pen-circle-{rate}x-{name.replace(' ', '-')}.png"
                await canvas.screenshot(path=str(shot))
                out["shots"].append(shot)
                out["round"] = {**out.get("round", {}), (name, rate): roundness(shot)}
                await clear(page, ours)
            for rate in (1, 4) if ours else ():
                await cdp.send("Emulation.setCPUThrottlingRate", {"rate": rate})
                await browser.start_tracing(page=page, categories=["devtools.timeline", "blink", "v8"])
                await stroke(page, circle(box, args.moves))
                out["trace", rate] = json.loads(await browser.stop_tracing())
                await page.wait_for_timeout(1500)
                await clear(page, ours)
                await cdp.send("Profiler.enable")
                await cdp.send("Profiler.setSamplingInterval", {"interval": 200})
                await cdp.send("Profiler.start")
                await stroke(page, circle(box, args.moves))
                out["profile", rate] = (await cdp.send("Profiler.stop"))["profile"]
                await page.wait_for_timeout(1500)
                await clear(page, ours)
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
    p.add_argument("--webgl", action="store_true", help="let Chromium keep WebGL in software (SwiftShader)")
    args = p.parse_args()

    tmp = args.out = Path(tempfile.mkdtemp(prefix="pen-"))
    pages = {BARE: lambda: serve(BARE_PAGE), OURS: lambda: start_app(tmp / "ours", cwd=args.repo.resolve())}
    print(f"ours: app.py of {args.repo.resolve()}; {args.strokes} circles of {args.moves} moves per page and rate")
    with contextlib.ExitStack() as running:
        servers = {name: running.enter_context(start()) for name, start in pages.items()}
        out = asyncio.run(measure(args, servers))

    print(out["browser"])
    print("canvas (CSS px):", ";  ".join(f"{n} {b['width']:.0f} x {b['height']:.0f}" for n, b in out["boxes"].items()))
    moves = out["moves"]
    ok = lambda good: "ok" if good else "OVER"  # noqa: E731
    print(f"\n== ms per pointer move (mean, p95), and the mean's ratio to the bare canvas (target <= {TARGET_RATIO}x)")
    for rate in (1, 4):
        base = sum(moves[BARE, rate]) / len(moves[BARE, rate])
        for name in pages:
            t = moves[name, rate]
            mean = sum(t) / len(t)
            print(
                f"  {rate}x CPU  {name:12s} mean {mean * 1000:6.1f}  p95 {pct(t, 95) * 1000:6.1f}  "
                f"= {mean / base:5.2f}x" + (f"  {ok(mean / base <= TARGET_RATIO)}" if name == OURS else "")
            )
    print(
        "\n== the live reading of the whole stroke, on the page's clock (ms): after pen-up (0: shown before it),"
        " and after the last move (target p95 " + ", ".join(f"<= {v} at {k}x" for k, v in TARGET_DELAY.items()) + ")"
    )
    for rate in (1, 4):
        up, moved, read, full = zip(*out["delays"][rate])
        print(
            f"  {rate}x CPU  {len(up)} strokes: after pen-up p50 {pct(up, 50):6.1f}  p95 {pct(up, 95):6.1f}  "
            f"max {max(up):6.1f};  after the last move p50 {pct(moved, 50):6.1f}  p95 {pct(moved, 95):6.1f}  "
            f"max {max(moved):6.1f}  {ok(pct(moved, 95) <= TARGET_DELAY[rate])}"
        )
        print(
            f"  {'':8s} {'':{len(str(len(up))) + 9}s}of which the reading itself (its pixels taken -> shown) "
            f"p50 {pct(read, 50):6.1f}  p95 {pct(read, 95):6.1f}  max {max(read):6.1f}"
        )
        print(
            f"  {'':8s} {'':{len(str(len(up))) + 9}s}the whole reading, 'is it a digit?' too, after pen-up "
            f"p50 {pct(full, 50):6.1f}  p95 {pct(full, 95):6.1f}  max {max(full):6.1f}"
        )
    print(
        "\n== a pen at 120 moves a second (half a second, sent without waiting): pointer events the page got, the"
        f" positions it kept (pen-down included; ours: the pad's points(), target >= {TARGET_KEPT} of the moves),"
        " and the ink's roundness (its middle's spread over 5-degree sectors: a circle 0-1 px)"
    )
    for rate in (1, 4):
        for name in pages:
            sent, got, kept = out["pen"][name, rate]
            radius, spread, empty = out["round"][name, rate]
            print(
                f"  {rate}x CPU  {name:12s} events {got:3d} of {sent} ({100 * got / sent:3.0f}%);  kept {kept:3d} of "
                f"{sent + 1}"
                + (f" {ok(kept - 1 >= TARGET_KEPT)}" if name == OURS else "   ")
                + f";  radius {radius:5.1f} px, spread {spread:4.1f} px"
                + (f", {empty} sectors without ink" if empty else "")
            )
    for rate in (1, 4):
        print(f"\n== where one circle's time goes on ours, {rate}x CPU (ms per move; {args.moves} moves)")
        print("  renderer main thread, self time per trace event:")
        for n, t in self_times(out["trace", rate], args.moves)[: args.top]:
            print(f"    {t:7.2f}  {n}")
        print("  JavaScript, self time per function (CDP Profiler):")
        for n, t in top_functions(out["profile", rate], args.moves)[: args.top]:
            print(f"    {t:7.2f}  {n}")
    print("\nthe pen's circles:", *out["shots"], sep="\n  ")


if __name__ == "__main__":
    main()
