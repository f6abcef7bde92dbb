"""One stranger's worst case against a running app, and what an honest visitor sees meanwhile.

    python -m bench.abuse [--floods 200] [--rounds 40] [--flood-calls 300] [--closes 5000] ...
    python -m bench.abuse --warm 10 --rounds 10 --floods 10 --flood-calls 40 --big-at-once 4 \
        --names 20000 --upload-mb 40 --closes 200 --trainers 1          # a trial run, a few minutes

It starts `python app.py` on 127.0.0.1 (its own temporary checkpoint and visitor folders, an operator password)
and runs, bounded in count and time:
  1. quiet: an honest visitor draws (/predict with the pad's PNG, as the browser sends it), classifies a small
     PNG file (/classify, uploaded by gradio_client), presses Stop and loads the page; the p95 of each;
  2. bad drawings: what a stranger's script may send /predict instead of the pad's one 320x320 PNG (a
     6000x6000 drawing, the longest value an event's limit lets through, a header claiming 20000x20000
     pixels, 321x320 pixels, a 2-frame APNG, JPEGs, damaged base64, the old Sketchpad's value, a list of
     layers, a blob id, a body over the limit), each 4 times: the answer, and the server's peak memory above
     its level before, which must stay within MEMORY_BOUND;
  3. REST flood: /gradio_api/run/classify (must be 404), then --flood-calls POSTs of /gradio_api/call/classify
     with a 6000x6000 PNG (uploaded once), each from a fresh session, --flood-at-once at a time, all posted
     before any result is read (the queue holds the work, the stranger holds nothing); then their results.
     Meanwhile the honest visitor's /classify and /predict: every failure, and p95 as a ratio to quiet;
  4. big images through /classify: a 6000x6000 PNG drawing, a 6000x6000 JPEG photo and a 4000x4000 RGBA PNG,
     one at a time (the answer, the server's peak memory rise), then --big-at-once of each at once from fresh
     sessions while the honest visitor classifies and draws;
  5. /compare_runs with --names names (over an event's limit) and with as many short ones as fit under it: the
     time until the answer, and the answer;
  6. chunked uploads (Transfer-Encoding: chunked) from one address until refused, at most --upload-mb: the bytes
     accepted against UPLOAD_BYTES_PER_ADDRESS_HOUR, then whether a small ordinary upload is still taken;
  7. page closes: --closes pages of fresh visitors opened (heartbeat stream, the page's load event) and closed
     (the heartbeat dropped, which makes Gradio run demo.unload), --close-at-once at a time: the server's threads
     (peak during, after) and memory, before and after; then --trainers visitors with a training, --closes / 10
     other tabs of theirs opened and closed (each unload may start a grace timer), then their own pages: their
     trainings must stop after LEFT_GRACE_SECONDS;
  8. floods: N wrong operator sign-ins and N trainings (50 epochs each), each from a fresh session and one
     address (given as Spaces' proxy gives it: X-Forwarded-For, with TRUST_PROXY=1), sent as
     fast as 4 processes can send them, while the honest visitor does the same as in 1; every answer counted;
     then the honest visitor again while the admitted trainings run;
  9. paths: Gradio's file route for files under VISITOR_DIR and CHECKPOINT_DIR without a session, and the page
     and /config searched for the server's absolute folders;
 10. messages: the text of every error answer above (HTTP bodies, gradio_client's exceptions, error events),
     searched for the server's paths and for tracebacks.
The honest visitor's figures are ratios to the quiet ones of the same run (this machine is noisy).
"""

import argparse
import base64
import io
import json
import re
import secrets
import socket
import struct
import tempfile
import threading
import time
import zlib
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import requests
from gradio_client import handle_file
from PIL import Image, ImageOps

from bench.launch import ROOT, client, start_app
from src.data.digits import render_digit, render_mask
from src.data.strokes import png_bytes
from src.web.pad import PREFIX, SIZE, encode
from src.web.trainings import LEFT_GRACE_SECONDS
from src.web.uploads import MAX_EVENT_BYTES, MAX_FILE_BYTES, UPLOAD_BYTES_PER_ADDRESS_HOUR

PASSWORD = "abuse-bench-" + secrets.token_hex(4)
# The addresses Spaces' proxy would append (TRUST_PROXY=1): the stranger's and an honest visitor's.
STRANGER = {"X-Forwarded-For": "203.0.113.7"}
HONEST = {"X-Forwarded-For": "198.51.100.20"}
UPLOADER = {"X-Forwarded-For": "203.0.113.8"}  # the chunked uploads: a budget of its own
MEMORY_BOUND = 20e6  # bytes: the most one bad drawing may add to the server's peak memory
BIG_BOUND, BIG_ALL_BOUND = 150e6, 1e9  # the most one big image, and --big-at-once of them, may add
THREAD_BOUND = 50  # the server's threads, however many pages closed
TRAINING = [50, 128, 0.003, True, 0, 48000]  # /train's inputs: epochs, batch, learning rate, augment, seed, examples
MB = 1 << 20  # upload sizes and budgets are in MiB
MESSAGES: list[str] = []  # the text of every error answer the bench provoked (section 10 searches them)


def heard(text) -> str:
    """An error answer's text, kept for section 10."""
    MESSAGES.append(str(text))
    return str(text)


# ------------------------------------------------------------------------------------------- what is sent
def bomb(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header claims width x height (CRC fixed): tiny on the wire, huge if decoded."""
    png = png_bytes(Image.new("L", (1, 1), 255))  # signature, IHDR chunk (length, b"IHDR", 13 bytes, CRC), ...
    ihdr = b"IHDR" + struct.pack(">II", width, height) + png[24:29]
    return png[:12] + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + png[33:]


def data_url(data: bytes, prefix: str = PREFIX) -> str:
    return prefix + base64.b64encode(data).decode()


def longest_png() -> bytes:
    """A real PNG of noise, which does not compress: as long as a request body may be once in a data URL."""
    side = int((3 * (MAX_EVENT_BYTES - 4096) / 4 / 3) ** 0.5)  # 3 bytes a pixel, base64 adds a third
    return png_bytes(Image.fromarray(np.random.default_rng(0).integers(0, 256, (side, side, 3), np.uint8)))


def big_mask(side: int = 6000) -> Image.Image:
    """A drawn 6 as an 'L' ink mask (255 = ink), side x side."""
    return render_mask(6, np.random.default_rng(6), canvas=side, supersample=1)


def big_png() -> bytes:
    """A 6000x6000 drawing, black on white, as an 'L' PNG: under 0.1 MB, 36 MP once decoded."""
    return png_bytes(ImageOps.invert(big_mask()))


def big_jpeg() -> bytes:
    """A 6000x6000 photo of a drawing on paper (uneven light, grain) as a JPEG: about 6 MB."""
    rng = np.random.default_rng(7)
    light = Image.fromarray(rng.integers(150, 230, (12, 12, 3), np.uint8)).resize(
        (6000, 6000), Image.Resampling.BICUBIC
    )
    grain = rng.normal(0, 6, (6000, 6000, 1)).astype(np.int16)
    photo = Image.fromarray((np.asarray(light, np.int16) + grain).clip(0, 255).astype(np.uint8))
    photo.paste((40, 40, 60), mask=big_mask())
    out = io.BytesIO()
    photo.save(out, "JPEG", quality=85)
    return out.getvalue()


def rgba_png(side: int = 4000) -> bytes:
    """Black ink on transparency, side x side (4000x4000 = 16 MP, as the pad draws but larger)."""
    image = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    image.putalpha(big_mask(side))
    return png_bytes(image)


def bad_drawings() -> list[tuple[str, object]]:
    """(name, value) of what a script may send /predict instead of the pad's value: one SIZE x SIZE PNG as a
    data URL (src/web/pad.py). Each is meant to be refused from its type, length or header, unread."""
    pad = png_bytes(render_digit(2, np.random.default_rng(9), canvas=SIZE, style="transparent"))
    strokes = [render_digit(d, np.random.default_rng(d), canvas=SIZE, style="transparent") for d in (3, 7)]
    apng, jpeg = io.BytesIO(), io.BytesIO()
    strokes[0].save(apng, "PNG", save_all=True, append_images=strokes[1:], duration=100)
    render_digit(5, np.random.default_rng(5), canvas=SIZE).convert("RGB").save(jpeg, "JPEG", quality=90)
    return [
        ("6000x6000 PNG drawing", data_url(png_bytes(big_mask()))),
        ("longest PNG an event's limit lets through", data_url(longest_png())),
        ("header claiming 20000x20000", data_url(bomb(20000, 20000))),
        ("321x320 PNG", data_url(png_bytes(Image.new("RGBA", (SIZE + 1, SIZE))))),
        ("2-frame APNG, 320x320", data_url(apng.getvalue())),
        ("JPEG with the PNG prefix", data_url(jpeg.getvalue())),
        ("JPEG data URL", data_url(jpeg.getvalue(), "data:image/jpeg;base64,")),
        ("damaged base64", data_url(pad)[:-3]),
        ("the old Sketchpad's value", {"background": None, "layers": [data_url(pad)], "composite": None, "id": None}),
        ("a list of layers", [data_url(pad), data_url(pad)]),
        ("blob id", {"id": "x"}),
        ("event over the limit", data_url(b"\0" * (3 * MAX_EVENT_BYTES // 4 + 1024))),
    ]


# ------------------------------------------------------------------------------------------- raw HTTP
def sse(response):
    """(event name or None, data) of a server-sent event stream; data parsed as JSON where it is JSON."""
    event = None
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            try:
                data = json.loads(line[5:])
            except ValueError:
                data = line[5:].strip()
            yield event, data
            event = None


def upload(url: str, name: str, data: bytes, headers: dict) -> str:
    """A file sent to Gradio's upload route -> its path on the server (as /call's FileData names it)."""
    r = requests.post(url + "gradio_api/upload", files={"files": (name, data)}, headers=headers, timeout=120)
    if r.status_code != 200:
        raise RuntimeError(f"upload of {name}: HTTP {r.status_code}: {heard(r.text)}")
    return r.json()[0]


def file_value(path: str) -> dict:
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


def rest(url: str, api: str, data: list, headers: dict, http=requests) -> tuple[str, object]:
    """Gradio's REST API as a script calls it, from a fresh session: POST /gradio_api/call/<api>, then its
    result stream. -> ("complete", output), ("error", message) or ("HTTP <status>", body)."""
    r = http.post(
        f"{url}gradio_api/call/{api}",
        json={"data": data, "session_hash": secrets.token_hex(6)},
        headers=headers,
        timeout=120,
    )
    if r.status_code != 200:
        return f"HTTP {r.status_code}", heard(r.text)
    return rest_result(url, api, r.json()["event_id"], headers, http)


def rest_result(url: str, api: str, event_id: str, headers: dict, http=requests) -> tuple[str, object]:
    """The second step of a REST call: the event's result stream, until its result."""
    with http.get(f"{url}gradio_api/call/{api}/{event_id}", headers=headers, stream=True, timeout=600) as r:
        if r.status_code != 200:
            return f"HTTP {r.status_code}", heard(r.text)
        for event, data in sse(r):
            if event == "complete":
                return "complete", data
            if event == "error":  # Gradio's output: {"error": message, ...}, or a plain message
                return "error", heard(data.get("error") if isinstance(data, dict) else data)
    return "error", "(the stream ended without a result)"


def join(url: str, fn: int, data: list, session: str, headers: dict, http=requests, each=None) -> tuple[str, object]:
    """An event as the page sends it: POST queue/join, then the session's stream until the event completes
    (`each` sees every message of it). -> ("complete", output data), ("error", message) or ("HTTP <status>", body)."""
    body = json.dumps(
        {"data": data, "fn_index": fn, "session_hash": session, "event_data": None, "trigger_id": None},
        separators=(",", ":"),
    )
    r = http.post(
        url + "gradio_api/queue/join", data=body, timeout=120, headers={**headers, "Content-Type": "application/json"}
    )
    if r.status_code != 200:
        return f"HTTP {r.status_code}", heard(r.text)
    return completion(url, session, r.json()["event_id"], headers, http, each)


def completion(url, session, event_id, headers, http=requests, each=None) -> tuple[str, object]:
    """The session's stream (queue/data), read to its end: the outcome of the event `event_id`."""
    answer = ("error", "(the stream ended without a result)")
    with http.get(
        url + "gradio_api/queue/data", params={"session_hash": session}, headers=headers, stream=True, timeout=600
    ) as r:
        if r.status_code != 200:
            return f"HTTP {r.status_code}", heard(r.text)
        for _, message in sse(r):  # read to its end (close_stream), so that the connection is used again
            if not isinstance(message, dict):
                continue
            if message.get("msg") == "unexpected_error":
                answer = ("error", heard(message.get("message")))
            if message.get("event_id") != event_id:
                continue
            if each:
                each(message)
            if message.get("msg") == "process_completed":
                output = message.get("output") or {}
                answer = (
                    ("complete", output.get("data"))
                    if message.get("success")
                    else ("error", heard(output.get("error") or json.dumps(output)))
                )
    return answer


def describe(kind: str, answer) -> str:
    """One line for an answer: a reading, a refusal's message, or an HTTP status and its body."""
    if kind == "complete":
        first = answer[0] if isinstance(answer, list) and answer else answer
        if isinstance(first, dict) and "digit" in first:
            return f"READ: digit {first['digit']} ({first.get('confidence', 0):.0%})"
        return f"answered: {json.dumps(answer)[:100]}"
    text = str(answer).splitlines()[0][:160] if answer else repr(answer)
    return f"{'refused' if kind == 'error' else kind}: {text}"


# ------------------------------------------------------------------------------------------- the server
class Memory:
    """The server's resident memory and threads, sampled every 10 ms from /proc: the peaks since `reset`."""

    def __init__(self, pid: int):
        self.pid, self.peak, self.peak_threads, self._stop = pid, 0, 0, threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _status(self) -> tuple[int, int]:
        with open(f"/proc/{self.pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f)
        return int(fields["VmRSS"].split()[0]) * 1024, int(fields["Threads"])

    def now(self) -> int:
        return self._status()[0]

    def threads(self) -> int:
        return self._status()[1]

    def reset(self) -> int:
        self.peak, self.peak_threads = self._status()
        return self.peak

    def _run(self):
        while not self._stop.is_set():
            try:
                rss, threads = self._status()
            except (OSError, KeyError):
                return
            self.peak, self.peak_threads = max(self.peak, rss), max(self.peak_threads, threads)
            time.sleep(0.01)


class App:
    def __init__(self, work: Path):
        self.checkpoints, self.visitors = work / "checkpoints", work / "visitors"
        # TRUST_PROXY: as behind Spaces' proxy, each client's address is its X-Forwarded-For.
        self.app = start_app(work, log_path=work / "server.log", env={"ADMIN_PASSWORD": PASSWORD, "TRUST_PROXY": "1"})
        self.url = self.app.url
        config = requests.get(self.url + "config", timeout=30).json()
        self.config = config
        self.fn = {d.get("api_name"): i for i, d in enumerate(config["dependencies"]) if d.get("api_name")}
        # The page's load event (the Draw tab's `arrived`, the first one): what a browser sends on opening it.
        self.load_fn = next(
            i for i, d in enumerate(config["dependencies"]) if any(t[1] == "load" for t in d.get("targets") or [])
        )
        self.memory = Memory(self.app.process.pid)


def timed_map(fn, items, at_once: int) -> tuple[list, float]:
    """fn over items, at_once at a time: (the results in order, the seconds it took)."""
    start = time.perf_counter()
    with ThreadPoolExecutor(at_once) as pool:
        results = list(pool.map(fn, items))
    return results, time.perf_counter() - start


def timed(call) -> float:
    """Seconds `call()` took; it must return True (the answer was the one expected)."""
    start = time.perf_counter()
    assert call(), "an unexpected answer"
    return time.perf_counter() - start


class Honest:
    """A visitor who draws, classifies a file, presses Stop and reloads the page, timing each."""

    NAMES = ("predict", "classify", "stop", "page")

    def __init__(self, app: App, work: Path):
        self.app, self.client = app, client(app.url, headers=HONEST)
        self.drawing = encode(render_digit(3, np.random.default_rng(5), canvas=SIZE, style="transparent"))
        self.file = work / "honest-3.png"  # a small PNG drawing, black on white
        render_digit(3, np.random.default_rng(5), canvas=SIZE).convert("RGB").save(self.file)

    def predict(self) -> float:
        return timed(lambda: self.client.predict(self.drawing, api_name="/predict")[0]["digit"] == 3)

    def classify(self) -> float:
        return timed(lambda: self.client.predict(handle_file(str(self.file)), api_name="/classify")["digit"] == 3)

    def stop(self) -> float:
        return timed(lambda: "no training" in self.client.predict(api_name="/stop"))

    def page(self) -> float:
        return timed(lambda: requests.get(self.app.url, timeout=60, headers=HONEST).status_code == 200)

    def rounds(self, n: int, until=None, names=NAMES) -> dict:
        """n rounds of `names`, and more until `until()` (if given) is true: seconds per success, failures."""
        times, failures = {name: [] for name in names}, Counter()
        i = 0
        while i < n or (until is not None and not until()):
            for name in names:
                try:
                    times[name].append(getattr(self, name)())
                except Exception as e:  # noqa: BLE001 - counted: every honest request must succeed
                    failures[name] += 1
                    print(f"  honest {name} failed: {type(e).__name__}: {heard(e)[:120]}")
            i += 1
        return {"failures": failures, **{k: np.array(v) for k, v in times.items()}}


def p95(values) -> float:
    return float(np.percentile(values, 95)) * 1000 if len(values) else float("nan")


def report(during: dict, quiet: dict, names=("classify", "predict")) -> None:
    """The honest visitor's successes, failures and p95 against quiet, per endpoint."""
    for name in names:
        ratio = p95(during[name]) / p95(quiet[name])
        print(
            f"  honest /{name}: {len(during[name])} succeeded, {during['failures'][name]} failed; p95 "
            f"{p95(during[name]):.0f} ms = {ratio:.2f}x quiet ({'within' if ratio <= 3 else 'OVER'} 3x)"
        )


# ------------------------------------------------------------------------------------------- 3. REST flood
def rest_flood(job) -> dict:
    """The stranger's REST flood, in a process of its own: the big PNG uploaded once, `calls` POSTs of
    /call/classify from fresh sessions, `at_once` at a time, all posted before any result is read; then
    every admitted event's result, read."""
    url, png, calls, at_once = job
    MESSAGES.clear()  # this process's own (a forked copy starts with the parent's)
    value = file_value(upload(url, "big.png", png, STRANGER))
    local = threading.local()

    def http():
        local.session = getattr(local, "session", None) or requests.Session()
        return local.session

    def post(_):
        r = http().post(
            url + "gradio_api/call/classify",
            json={"data": [value], "session_hash": secrets.token_hex(6)},
            headers=STRANGER,
            timeout=120,
        )
        return r.status_code, (r.json()["event_id"] if r.status_code == 200 else heard(r.text))

    posted, posting = timed_map(post, range(calls), at_once)
    events = [e for status, e in posted if status == 200]
    results, answering = timed_map(lambda e: rest_result(url, "classify", e, STRANGER, http()), events, at_once)
    return {
        "codes": Counter(status for status, _ in posted),
        "posting": posting,
        "seconds": posting + answering,
        "messages": list(MESSAGES),
        "results": Counter(describe(kind, answer)[:90] for kind, answer in results),
    }


def flood_rest(app: App, honest: Honest, args, quiet: dict) -> None:
    r = requests.post(app.url + "gradio_api/run/classify", json={"data": [None]}, headers=STRANGER, timeout=30)
    print(
        f"  POST /gradio_api/run/classify: HTTP {r.status_code} "
        f"({'as it must' if r.status_code == 404 else 'NOT 404'}): "
        f"{heard(r.text)[:100]}"
    )
    base = app.memory.reset()
    with ProcessPoolExecutor(1) as pool:  # its threads do not share the honest client's GIL
        flood = pool.submit(rest_flood, (app.url, big_png(), args.flood_calls, args.flood_at_once))
        during = honest.rounds(1, until=flood.done, names=("classify", "predict"))
        out = flood.result()
    MESSAGES.extend(out["messages"])
    print(
        f"  {args.flood_calls} POSTs in {out['posting']:.1f} s, by HTTP status: {dict(out['codes'])} "
        "(200: queued, 429: too fast, 503: queue full)"
    )
    print(f"  the admitted events' results (read after all were posted; all done after {out['seconds']:.1f} s):")
    for answer, n in out["results"].most_common():
        print(f"    {n} x {answer}")
    report(during, quiet)
    print(f"  server peak memory +{(app.memory.peak - base) / 1e6:.0f} MB")


# ------------------------------------------------------------------------------------------- 4. big images
def big_images(app: App, honest: Honest, args, quiet: dict) -> None:
    files = [
        ("6000x6000 PNG drawing", "drawing.png", big_png()),
        ("6000x6000 JPEG photo", "photo.jpg", big_jpeg()),
        ("4000x4000 RGBA PNG", "rgba.png", rgba_png()),
    ]
    values = {}
    for name, filename, data in files:
        values[name] = file_value(upload(app.url, filename, data, STRANGER))
        before = app.memory.reset()
        answer = describe(*rest(app.url, "classify", [values[name]], STRANGER))
        rise = app.memory.peak - before
        print(
            f"  {name} ({len(data) / 1e6:.2f} MB): {answer}; server's peak memory +{rise / 1e6:.0f} MB "
            f"({'within' if rise <= BIG_BOUND else 'OVER'} {BIG_BOUND / 1e6:.0f} MB)"
        )
    for name, value in values.items():  # the 6000x6000 PNG as asked; the others, which the server may read
        big_at_once(app, honest, args.big_at_once, name, value, quiet)


def big_at_once(app: App, honest: Honest, n: int, name: str, value: dict, quiet: dict) -> None:
    """n of one big image through /classify at once, from fresh sessions, while the honest visitor is served."""
    before = app.memory.reset()
    with ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(rest, app.url, "classify", [value], STRANGER) for _ in range(n)]
        during = honest.rounds(1, until=lambda: all(f.done() for f in futures), names=("classify", "predict"))
    answers = Counter(describe(*f.result())[:90] for f in futures)
    rise = app.memory.peak - before
    print(
        f"  {n} x {name} at once: {dict(answers)}; server's peak memory +{rise / 1e6:.0f} MB "
        f"({'within' if rise <= BIG_ALL_BOUND else 'OVER'} {BIG_ALL_BOUND / 1e9:.0f} GB)"
    )
    report(during, quiet)


# ------------------------------------------------------------------------------------------- 5. /compare_runs
def short_names(n: int, fit: bool) -> list[str]:
    """n names like "a1"; with `fit`, only as many as an event's limit lets through."""
    names = [f"a{i}" for i in range(n)]
    while fit and len(json.dumps(names, separators=(",", ":"))) > MAX_EVENT_BYTES - 2048:
        names = names[: int(len(names) * 0.95)]
    return names


def compare_runs(app: App, args) -> None:
    every, fitting = short_names(args.names, fit=False), short_names(args.names, fit=True)
    for label, names in (("all", every), ("as many as fit under an event's limit", fitting))[: 1 + (fitting != every)]:
        size = len(json.dumps(names, separators=(",", ":")))
        start = time.perf_counter()
        kind, answer = join(app.url, app.fn["compare_runs"], [names], secrets.token_hex(6), STRANGER)
        seconds = time.perf_counter() - start
        print(
            f"  {label}: {len(names):,} names ({size / 1e6:.2f} MB of JSON): {seconds:.2f} s "
            f"({'within' if seconds < 1 else 'OVER'} 1 s), {describe(kind, answer)}"
        )


# ------------------------------------------------------------------------------------------- 6. chunked uploads
def chunks(boundary: str, size: int, seed: int, piece: int = 1 << 20):
    """A multipart body with one file of `size` bytes of noise, in pieces: requests sends it with
    Transfer-Encoding: chunked. Noise of its own each (Gradio's cache keeps one copy of identical files)."""
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="noise.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    rng = np.random.default_rng(seed)
    for start in range(0, size, piece):
        yield rng.bytes(min(piece, size - start))
    yield f"\r\n--{boundary}--\r\n".encode()


def chunked_uploads(app: App, args) -> None:
    size = MAX_FILE_BYTES - (64 << 10)  # each just under the file limit
    cap = args.upload_mb * MB if args.upload_mb else UPLOAD_BYTES_PER_ADDRESS_HOUR + 3 * size
    boundary, sent, accepted, codes, refusal = secrets.token_hex(8), 0, 0, Counter(), None
    headers = {**UPLOADER, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    start = time.perf_counter()
    while sent < cap and refusal is None:
        r = requests.post(
            app.url + "gradio_api/upload",
            data=chunks(boundary, size, sum(codes.values())),
            headers=headers,
            timeout=120,
        )
        sent, codes[r.status_code] = sent + size, codes[r.status_code] + 1
        if r.status_code == 200:
            accepted += size
        else:
            refusal = f"HTTP {r.status_code}: {heard(r.text)[:120]}"
    print(
        f"  {sum(codes.values())} chunked uploads of {size / MB:.1f} MiB in {time.perf_counter() - start:.1f} s, "
        f"by HTTP status {dict(codes)}: {accepted / MB:.0f} MiB accepted, then "
        f"{refusal or f'no refusal (stopped at the bench cap of {cap / MB:.0f} MiB)'}"
    )
    print(
        f"  the budget: {UPLOAD_BYTES_PER_ADDRESS_HOUR / MB:.0f} MiB per address and hour; accepted "
        f"{accepted / UPLOAD_BYTES_PER_ADDRESS_HOUR:.2f}x of it"
    )
    r = requests.post(
        app.url + "gradio_api/upload",
        files={"files": ("small.png", png_bytes(Image.new("L", (8, 8))))},
        headers=UPLOADER,
        timeout=30,
    )
    print(
        f"  then a small ordinary upload from the same address: HTTP {r.status_code} "
        f"({'the chunks were counted' if r.status_code == 429 else 'taken'})"
    )
    if r.status_code != 200:
        heard(r.text)


# ------------------------------------------------------------------------------------------- 7. page closes
def heartbeat(url: str, session: str, addr: str) -> socket.socket:
    """A page's heartbeat stream, open once its first "ALIVE" came; closing the socket closes the page."""
    host, port = urlparse(url).hostname, urlparse(url).port
    s = socket.create_connection((host, port), timeout=60)
    s.sendall(
        f"GET /gradio_api/heartbeat/{session} HTTP/1.1\r\nHost: {host}:{port}\r\nX-Forwarded-For: {addr}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    seen = b""
    while b"ALIVE" not in seen:
        chunk = s.recv(4096)
        seen += chunk
        if not chunk or (b"\r\n" in seen and not seen.startswith(b"HTTP/1.1 200")):
            s.close()
            raise ConnectionError(f"heartbeat: {seen.decode(errors='replace')[:300]}")
    return s


class Trainer:
    """A visitor whose page (a heartbeat, the load event with their key) started a training that it watches."""

    def __init__(self, app: App, i: int):
        self.key, self.session = "k-" + secrets.token_hex(16), secrets.token_hex(6)
        self.addr, self.last, self.closed_at, self.ended_at = f"198.19.0.{i + 1}", None, None, None
        self.socket = heartbeat(app.url, self.session, self.addr)
        self.loaded = join(app.url, app.load_fn, [self.key], self.session, self.headers)[0]
        self.thread = threading.Thread(target=self._train, args=(app,), daemon=True)
        self.thread.start()

    @property
    def headers(self) -> dict:
        return {"X-Forwarded-For": self.addr}

    def _train(self, app: App):
        self.answer = join(
            app.url, app.fn["train"], TRAINING, self.session, self.headers, each=lambda m: setattr(self, "last", m)
        )
        self.ended_at = time.monotonic()

    def close(self):
        self.socket.close()
        self.closed_at = time.monotonic()

    def ending(self) -> str:
        """How the training ended (its last status), or that it still runs."""
        if self.ended_at is None:
            return "STILL RUNNING"
        status = re.search(r"(Stopped|Cancelled|Stopping)[^\"\\]*", json.dumps(self.last or self.answer))
        return (
            f"{status.group(0)[:80] if status else describe(*self.answer)[:80]} "
            f"({self.ended_at - self.closed_at:.0f} s after its last page closed)"
        )


def page_cycle(app: App, i: int, key: str | None, http) -> str:
    """Page i opened (its heartbeat, its load event) and closed: the load event's outcome."""
    addr, session = f"198.18.{i // 250 % 250}.{i % 250 + 1}", secrets.token_hex(6)
    hb = heartbeat(app.url, session, addr)
    try:
        return join(app.url, app.load_fn, [key], session, {"X-Forwarded-For": addr}, http)[0]
    finally:
        hb.close()


def cycles(app: App, n: int, at_once: int, keys: list[str | None]) -> str:
    """n pages opened and closed, at_once at a time, page i with keys[i % len(keys)]: one line of what happened."""
    local = threading.local()

    def cycle(i):
        local.http = getattr(local, "http", None) or requests.Session()
        try:
            return page_cycle(app, i, keys[i % len(keys)], local.http)
        except Exception as e:  # noqa: BLE001 - counted
            return f"{type(e).__name__}: {heard(e)[:80]}"

    outcomes, seconds = timed_map(cycle, range(n), at_once)
    outcomes = Counter(outcomes)
    return (
        f"{n} pages opened and closed in {seconds:.0f} s ({n / seconds:.0f}/s), {at_once} at a time; "
        f"load events: {dict(outcomes)}"
    )


def page_closes(app: App, args) -> None:
    rss, threads = app.memory.reset(), app.memory.threads()
    steps = []  # memory after each fifth of the pages: Gradio keeps the state of the most recent sessions only
    for part in range(5):
        n = args.closes // 5 + (args.closes % 5 if part == 4 else 0)
        print(f"  {cycles(app, n, args.close_at_once, [None])}")
        steps.append(app.memory.now())
    time.sleep(2)  # the last unloads run
    after = app.memory.now()
    print("  memory after each fifth: " + ", ".join(f"{m / 1e6:.0f} MB" for m in steps))
    print(
        f"  server threads: {threads} before, peak {app.memory.peak_threads} during, {app.memory.threads()} after "
        f"(target < {THREAD_BOUND}); memory {rss / 1e6:.0f} MB before, {after / 1e6:.0f} MB after "
        f"({(after - rss) / args.closes / 1e3:+.0f} kB a page; target: flat)"
    )
    if not args.trainers:
        return
    trainers = [Trainer(app, i) for i in range(args.trainers)]
    time.sleep(2)  # their trainings admitted and under way
    tabs = max(args.closes // 10, 1)
    print(
        f"  {len(trainers)} visitors with a training (page loaded: {[t.loaded for t in trainers]}); other tabs of "
        f"theirs: {cycles(app, tabs, args.close_at_once, [t.key for t in trainers])}"
    )
    for t in trainers:
        t.close()
    deadline = time.monotonic() + LEFT_GRACE_SECONDS + 180
    while any(t.thread.is_alive() for t in trainers) and time.monotonic() < deadline:
        time.sleep(0.5)
    for i, t in enumerate(trainers):
        print(
            f"  trainer {i + 1}'s training, once their own page closed too (grace {LEFT_GRACE_SECONDS:.0f} s): "
            f"{t.ending()}"
        )
    time.sleep(2)
    print(
        f"  after: server threads {app.memory.threads()} (peak {app.memory.peak_threads} in this section; target "
        f"< {THREAD_BOUND}), memory {app.memory.now() / 1e6:.0f} MB (peak {app.memory.peak / 1e6:.0f} MB)"
    )


# ------------------------------------------------------------------------------------------- 8. floods
ATTACKERS = 4  # processes sending the flood, each request as soon as the last one was answered
_session = None


def attack(job) -> tuple[str, int, str]:
    """One flood request from a fresh session (in an attacker process): (kind, HTTP status, body unless 200)."""
    global _session
    url, fn, kind = job
    _session = _session or requests.Session()
    api, data = ("operator_sign_in", ["wrong-" + secrets.token_hex(3)]) if kind == "sign-in" else ("train", TRAINING)
    body = {
        "data": data,
        "fn_index": fn[api],
        "session_hash": secrets.token_hex(6),
        "event_data": None,
        "trigger_id": None,
    }
    r = _session.post(url + "gradio_api/queue/join", json=body, timeout=60, headers=STRANGER)
    return kind, r.status_code, "" if r.status_code == 200 else r.text


def floods(app: App, honest: Honest, args, quiet: dict) -> None:
    base = app.memory.reset()
    done = threading.Event()
    codes: dict[str, dict[int, int]] = {"sign-in": {}, "training": {}}

    def flood():
        # In processes of their own: the attacker's threads must not share the honest client's GIL.
        start = time.perf_counter()
        with ProcessPoolExecutor(ATTACKERS) as pool:
            jobs = [(app.url, app.fn, kind) for kind in ("sign-in", "training") * args.floods]
            for kind, status, text in pool.map(attack, jobs, chunksize=4):
                codes[kind][status] = codes[kind].get(status, 0) + 1
                if text:
                    heard(text)
        flood.seconds = time.perf_counter() - start
        done.set()

    attacker = threading.Thread(target=flood)
    attacker.start()
    during = honest.rounds(5, until=done.is_set)
    attacker.join()
    print(
        f"  the flood took {flood.seconds:.1f} s; answers by HTTP status: {json.dumps(codes)} "
        "(200: queued, 422: refused before the queue, 429: too fast)"
    )
    report(during, quiet, Honest.NAMES)
    print(f"  server peak memory +{(app.memory.peak - base) / 1e6:.1f} MB")
    print("== 8b. after the flood, while its admitted trainings run")
    report(honest.rounds(args.rounds // 2), quiet, Honest.NAMES)


# ------------------------------------------------------------------------------------------- 9, 10
def paths(app: App, honest: Honest, tmp: str) -> None:
    honest.predict()
    try:
        honest.client.predict("3", api_name="/correct")  # the honest visitor stores a correction
    except Exception as e:  # noqa: BLE001 - reported: the files below are asked for all the same
        print(f"  honest /correct failed: {type(e).__name__}: {heard(e)[:120]}")
    run = next(iter(sorted(app.visitors.rglob("*.png"))), None)
    targets = [
        app.checkpoints / "default.safetensors",
        app.checkpoints / "default.json",
        app.visitors / "v-0000" / "runs" / "x.safetensors",
    ] + ([run] if run else [])
    for path in targets:
        # Not kept for section 10: a refusal may name the path asked for, which the client sent itself.
        r = requests.get(f"{app.url}gradio_api/file={path}", timeout=30)
        print(f"  GET gradio_api/file={path.relative_to(tmp)} (under the temp folder): HTTP {r.status_code}")
    page = requests.get(app.url, timeout=30).text + requests.get(app.url + "config", timeout=30).text
    for folder in (tmp, str(ROOT)):
        print(f"  {folder!r} in the page or /config: {folder in page}")


def leaks(tmp: str) -> None:
    needles = (tmp, str(ROOT), "/home", "/tmp/", "Traceback")
    hits = sorted({m for m in MESSAGES if any(n in m for n in needles)})
    print(
        f"  {len(MESSAGES)} error answers ({len(set(MESSAGES))} distinct); {len(hits)} distinct name a server "
        f"path or hold a traceback (target 0)"
    )
    for message in hits[:10]:
        print(f"    {message[:300]!r}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--floods", type=int, default=200, help="sign-ins and trainings in the flood, each")
    parser.add_argument("--rounds", type=int, default=40, help="the honest visitor's rounds when quiet")
    parser.add_argument("--warm", type=float, default=60, help="seconds of warm-up (the app compiles its kernels)")
    parser.add_argument("--flood-calls", type=int, default=300, help="/call/classify POSTs with a 6000x6000 PNG")
    parser.add_argument("--flood-at-once", type=int, default=40, help="of them sent at a time")
    parser.add_argument("--big-at-once", type=int, default=12, help="6000x6000 PNGs through /classify at once")
    parser.add_argument("--names", type=int, default=200_000, help="names sent to /compare_runs")
    parser.add_argument(
        "--upload-mb", type=float, default=0, help="cap on the chunked uploads, MiB (0: budget + 3 files)"
    )
    parser.add_argument("--closes", type=int, default=5000, help="pages opened and closed")
    parser.add_argument("--close-at-once", type=int, default=16, help="pages open at a time")
    parser.add_argument("--trainers", type=int, default=3, help="visitors with a training among the closed pages")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="abuse-") as tmp:
        app = App(Path(tmp))
        try:
            honest = Honest(app, Path(tmp))
            warm = (
                time.monotonic() + args.warm
            )  # app.py warms up the CPU training kernels meanwhile (src/training/kernels.py)
            while time.monotonic() < warm:
                honest.rounds(1)
            print("== 1. quiet")
            base_memory = app.memory.reset()
            quiet = honest.rounds(args.rounds)
            print(
                "  p95 "
                + ", ".join(f"/{name} {p95(quiet[name]):.0f} ms" for name in Honest.NAMES)
                + f"; failures {sum(quiet['failures'].values())}; memory {base_memory / 1e6:.0f} MB"
            )

            print("== 2. bad drawings, each 4 times")
            stranger, results = client(app.url, headers=STRANGER), []
            for name, value in bad_drawings():
                before = app.memory.reset()
                for _ in range(4):
                    try:
                        stranger.predict(value, api_name="/predict")
                        answer = "READ (not refused)"
                    except Exception as e:  # noqa: BLE001 - the refusal is what is expected
                        answer = heard(e).split("\n")[0][:110]
                results.append(
                    (
                        name,
                        len(value if isinstance(value, str) else json.dumps(value)),
                        answer,
                        (app.memory.peak - before) / 1e6,
                    )
                )
            for name, size, answer, rise in results:
                print(
                    f"  {name} ({size:,} characters): /predict: {answer}; "
                    f"server's peak memory +{rise:.1f} MB over the level before"
                )
            worst = max(rise for *_, rise in results)
            print(
                f"  largest rise +{worst:.1f} MB: {'within' if worst <= MEMORY_BOUND / 1e6 else 'OVER'} the "
                f"{MEMORY_BOUND / 1e6:.0f} MB bound; honest /predict after them: {honest.predict() * 1000:.0f} ms"
            )

            print(
                f"== 3. REST flood: {args.flood_calls} /call/classify with a 6000x6000 PNG, {args.flood_at_once} "
                "at a time, fresh sessions"
            )
            flood_rest(app, honest, args, quiet)
            print("== 4. big images through /classify")
            big_images(app, honest, args, quiet)
            print("== 5. /compare_runs with many names (target: refused within 1 s, with a message)")
            compare_runs(app, args)
            print("== 6. chunked uploads from one address, until refused")
            chunked_uploads(app, args)
            print(f"== 7. {args.closes} page closes")
            page_closes(app, args)
            print(f"== 8. floods: {args.floods} wrong sign-ins and {args.floods} trainings from fresh sessions")
            floods(app, honest, args, quiet)
            print("== 9. files by path, without a session")
            paths(app, honest, tmp)
            print("== 10. error messages for the server's paths")
            leaks(tmp)
        finally:
            app.app.stop()


if __name__ == "__main__":
    main()
