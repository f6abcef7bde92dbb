"""One stranger's worst case against a running app, and what an honest visitor sees meanwhile.

    python -m bench.abuse [--floods 200] [--rounds 40]

It starts `python app.py` on 127.0.0.1 (its own temporary checkpoint and visitor folders, an operator password)
and runs, bounded in count and time:
  1. quiet: an honest visitor draws (/predict with the pad's PNG, as the browser sends it), presses Stop and
     loads the page; the p95 of each;
  2. bad drawings: what a stranger's script may send /predict instead of the pad's one 320x320 PNG (a
     6000x6000 drawing, the longest value an event's limit lets through, a header claiming 20000x20000
     pixels, 321x320 pixels, a 2-frame APNG, JPEGs, damaged base64, the old Sketchpad's value, a list of
     layers, a blob id, a body over the limit), each 4 times: the answer, and the server's peak memory above
     its level before, which must stay within MEMORY_BOUND;
  3. floods: N wrong operator sign-ins and N trainings (50 epochs each), each from a fresh session and one
     address (given as Spaces' proxy gives it: X-Forwarded-For, with TRUST_PROXY=1), sent as
     fast as 4 processes can send them, while the honest visitor does the same as in 1; every answer counted;
  4. paths: Gradio's file route for files under VISITOR_DIR and CHECKPOINT_DIR without a session, and the page
     and /config searched for the server's absolute folders.
The honest visitor's figures are ratios to the quiet ones of the same run (this machine is noisy).
"""

import argparse
import base64
import io
import json
import secrets
import struct
import tempfile
import threading
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import requests
from PIL import Image

from bench.launch import ROOT, client, start_app
from src.data.synthetic import png_bytes, render_digit, render_mask
from src.web.pad import PREFIX, SIZE, encode
from src.web.uploads import MAX_EVENT_BYTES

PASSWORD = "abuse-bench-" + secrets.token_hex(4)
# The addresses Spaces' proxy would append (TRUST_PROXY=1): the stranger's and an honest visitor's.
STRANGER = {"X-Forwarded-For": "203.0.113.7"}
HONEST = {"X-Forwarded-For": "198.51.100.20"}
MEMORY_BOUND = 20e6  # bytes: the most one bad drawing may add to the server's peak memory


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


def bad_drawings() -> list[tuple[str, object]]:
    """(name, value) of what a script may send /predict instead of the pad's value: one SIZE x SIZE PNG as a
    data URL (src/web/pad.py). Each is meant to be refused from its type, length or header, unread."""
    pad = png_bytes(render_digit(2, np.random.default_rng(9), canvas=SIZE, style="transparent"))
    strokes = [render_digit(d, np.random.default_rng(d), canvas=SIZE, style="transparent") for d in (3, 7)]
    apng, jpeg = io.BytesIO(), io.BytesIO()
    strokes[0].save(apng, "PNG", save_all=True, append_images=strokes[1:], duration=100)
    render_digit(5, np.random.default_rng(5), canvas=SIZE).convert("RGB").save(jpeg, "JPEG", quality=90)
    return [
        ("6000x6000 PNG drawing", data_url(png_bytes(render_mask(6, np.random.default_rng(6), canvas=6000,
                                                                 supersample=1)))),
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


class Memory:
    """The server's resident memory, sampled every 10 ms from /proc: the peak since `reset`."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def now(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS"))

    def reset(self) -> int:
        self.peak = self.now()
        return self.peak

    def _run(self):
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.now())
            except (OSError, StopIteration):
                return
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
        self.memory = Memory(self.app.process.pid)

    def join(self, api_name: str, data: list) -> int:
        """A raw queue/join from a fresh session, as a script would flood it: the HTTP status (200 admitted)."""
        body = {"data": data, "fn_index": self.fn[api_name], "session_hash": secrets.token_hex(6),
                "event_data": None, "trigger_id": None}
        return requests.post(self.url + "gradio_api/queue/join", json=body, timeout=60).status_code


class Honest:
    """A visitor who draws, presses Stop and reloads the page, timing each."""

    def __init__(self, app: App):
        self.app, self.client = app, client(app.url, headers=HONEST)
        self.drawing = encode(render_digit(3, np.random.default_rng(5), canvas=SIZE, style="transparent"))

    def predict(self) -> float:
        start = time.perf_counter()
        reading = self.client.predict(self.drawing, api_name="/predict")[0]
        assert reading["digit"] == 3, reading
        return time.perf_counter() - start

    def stop(self) -> float:
        start = time.perf_counter()
        assert "no training" in self.client.predict(api_name="/stop")
        return time.perf_counter() - start

    def page(self) -> float:
        start = time.perf_counter()
        assert requests.get(self.app.url, timeout=60, headers=HONEST).status_code == 200
        return time.perf_counter() - start

    def rounds(self, n: int, until: threading.Event | None = None) -> dict:
        times, failures = {"predict": [], "stop": [], "page": []}, 0
        i = 0
        while i < n or (until is not None and not until.is_set()):
            for name in times:
                try:
                    times[name].append(getattr(self, name)())
                except Exception as e:  # noqa: BLE001 - counted: every honest request must succeed
                    failures += 1
                    print(f"  honest {name} failed: {type(e).__name__}: {str(e)[:120]}")
            i += 1
        return {"failures": failures, **{k: np.array(v) for k, v in times.items()}}


ATTACKERS = 4  # processes sending the flood, each request as soon as the last one was answered
_session = None


def attack(job) -> tuple[str, int]:
    """One flood request from a fresh session (in an attacker process): (kind, HTTP status)."""
    global _session
    url, fn, kind = job
    _session = _session or requests.Session()
    api, data = (("operator_sign_in", ["wrong-" + secrets.token_hex(3)]) if kind == "sign-in"
                 else ("train", [50, 128, 0.003, True, 0, 48000]))
    body = {"data": data, "fn_index": fn[api], "session_hash": secrets.token_hex(6), "event_data": None,
            "trigger_id": None}
    return kind, _session.post(url + "gradio_api/queue/join", json=body, timeout=60, headers=STRANGER).status_code


def p95(values) -> float:
    return float(np.percentile(values, 95)) * 1000 if len(values) else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--floods", type=int, default=200, help="sign-ins and trainings in the flood, each")
    parser.add_argument("--rounds", type=int, default=40, help="the honest visitor's rounds when quiet")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="abuse-") as tmp:
        app = App(Path(tmp))
        try:
            honest = Honest(app)
            warm = time.monotonic() + 60  # app.py warms up the CPU training kernels meanwhile (src/training/kernels.py)
            while time.monotonic() < warm:
                honest.rounds(1)
            print("== 1. quiet")
            base_memory = app.memory.reset()
            quiet = honest.rounds(args.rounds)
            print(f"  p95 /predict {p95(quiet['predict']):.0f} ms, /stop {p95(quiet['stop']):.0f} ms, "
                  f"page {p95(quiet['page']):.0f} ms; failures {quiet['failures']}; memory {base_memory / 1e6:.0f} MB")

            print("== 2. bad drawings, each 4 times")
            stranger, results = client(app.url, headers=STRANGER), []
            for name, value in bad_drawings():
                before = app.memory.reset()
                for _ in range(4):
                    try:
                        stranger.predict(value, api_name="/predict")
                        answer = "READ (not refused)"
                    except Exception as e:  # noqa: BLE001 - the refusal is what is expected
                        answer = str(e).split("\n")[0][:110]
                results.append((name, len(value if isinstance(value, str) else json.dumps(value)), answer,
                                (app.memory.peak - before) / 1e6))
            for name, size, answer, rise in results:
                print(f"  {name} ({size:,} characters): /predict: {answer}; "
                      f"server's peak memory +{rise:.1f} MB over the level before")
            worst = max(rise for *_, rise in results)
            print(f"  largest rise +{worst:.1f} MB: {'within' if worst <= MEMORY_BOUND / 1e6 else 'OVER'} the "
                  f"{MEMORY_BOUND / 1e6:.0f} MB bound; honest /predict after them: {honest.predict() * 1000:.0f} ms")

            print(f"== 3. floods: {args.floods} wrong sign-ins and {args.floods} trainings from fresh sessions")
            app.memory.reset()
            done = threading.Event()
            codes: dict[str, dict[int, int]] = {"sign-in": {}, "training": {}}

            def flood():
                # In processes of their own: the attacker's threads must not share the honest client's GIL.
                start = time.perf_counter()
                with ProcessPoolExecutor(ATTACKERS) as pool:
                    jobs = [(app.url, app.fn, kind) for kind in ("sign-in", "training") * args.floods]
                    for kind, status in pool.map(attack, jobs, chunksize=4):
                        codes[kind][status] = codes[kind].get(status, 0) + 1
                flood.seconds = time.perf_counter() - start
                done.set()

            attacker = threading.Thread(target=flood)
            attacker.start()
            during = honest.rounds(5, until=done)
            attacker.join()
            print(f"  the flood took {flood.seconds:.1f} s; answers by HTTP status: {json.dumps(codes)} "
                  "(200: queued, 422: refused before the queue, 429: too fast)")
            for name in ("predict", "stop", "page"):
                print(f"  honest {name}: {len(during[name])} calls, p95 {p95(during[name]):.0f} ms = "
                      f"{p95(during[name]) / p95(quiet[name]):.2f}x quiet")
            print(f"  honest failures: {during['failures']}; server peak memory +"
                  f"{(app.memory.peak - base_memory) / 1e6:.1f} MB")

            print("== 3b. after the flood, while its admitted trainings run")
            after = honest.rounds(args.rounds // 2)
            for name in ("predict", "stop", "page"):
                print(f"  honest {name}: p95 {p95(after[name]):.0f} ms = {p95(after[name]) / p95(quiet[name]):.2f}x quiet")

            print("== 4. files by path, without a session")
            honest.predict()
            honest.client.predict("3", api_name="/correct")  # the honest visitor stores a correction
            run = next(iter(sorted(app.visitors.rglob("*.png"))), None)
            targets = [app.checkpoints / "default.safetensors", app.checkpoints / "default.json",
                       app.visitors / "v-0000" / "runs" / "x.safetensors"] + ([run] if run else [])
            for path in targets:
                r = requests.get(f"{app.url}gradio_api/file={path}", timeout=30)
                print(f"  GET gradio_api/file={path.relative_to(tmp)} (under the temp folder): HTTP {r.status_code}")
            page = requests.get(app.url, timeout=30).text + requests.get(app.url + "config", timeout=30).text
            for folder in (tmp, str(ROOT)):
                print(f"  {folder!r} in the page or /config: {folder in page}")
        finally:
            app.app.stop()


if __name__ == "__main__":
    main()
