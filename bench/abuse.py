"""One stranger's worst case against a running app, and what an honest visitor sees meanwhile.

    python -m bench.abuse [--floods 200] [--rounds 40]

It starts `python app.py` on 127.0.0.1 (its own temporary checkpoint and visitor folders, an operator password)
and runs, bounded in count and time:
  1. quiet: an honest visitor draws (/predict by blob id, as the browser sends it), presses Stop and loads the
     page; the p95 of each;
  2. blob bombs: a 7000x7000 PNG (14 KB) by blob id, and a layer index of 10**9, each then read by /predict;
     the server's peak memory above its quiet level;
  3. floods: N wrong operator sign-ins and N trainings (50 epochs each), each from a fresh session and one
     address (given as Spaces' proxy gives it: X-Forwarded-For, with TRUST_PROXY=1), sent as
     fast as 4 processes can send them, while the honest visitor does the same as in 1; every answer counted;
  4. paths: Gradio's file route for files under VISITOR_DIR and CHECKPOINT_DIR without a session, and the page
     and /config searched for the server's absolute folders.
The honest visitor's figures are ratios to the quiet ones of the same run (this machine is noisy).
"""

import argparse
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
from src.data.synthetic import png_bytes, render_digit

PASSWORD = "abuse-bench-" + secrets.token_hex(4)
# The addresses Spaces' proxy would append (TRUST_PROXY=1): the stranger's and an honest visitor's.
STRANGER = {"X-Forwarded-For": "203.0.113.7"}
HONEST = {"X-Forwarded-For": "198.51.100.20"}


def bomb(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header claims width x height (CRC fixed): tiny on the wire, huge if decoded."""
    png = png_bytes(Image.new("L", (1, 1), 255))  # signature, IHDR chunk (length, b"IHDR", 13 bytes, CRC), ...
    ihdr = b"IHDR" + struct.pack(">II", width, height) + png[24:29]
    return png[:12] + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + png[33:]


def big_png(side: int) -> bytes:
    """A real PNG of side x side pixels (compresses to a few KB): what a blob bomb looks like for real."""
    return png_bytes(Image.new("1", (side, side), 1), optimize=True)


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
        self.sketchpad = next(c["id"] for c in config["components"] if c["type"] == "imageeditor")
        self.fn = {d.get("api_name"): i for i, d in enumerate(config["dependencies"]) if d.get("api_name")}
        self.memory = Memory(self.app.process.pid)

    def send_blob(self, session: str, blob_id: str, data: bytes, kind="layer", index="0") -> int:
        r = requests.post(self.url + "gradio_api/component_server", timeout=60, files={"file": ("layer.png", data)},
                          headers=HONEST,
                          data={"session_hash": session, "component_id": str(self.sketchpad),
                                "fn_name": "accept_blobs", "id": blob_id, "type": kind, "index": index})
        return r.status_code

    def join(self, api_name: str, data: list) -> int:
        """A raw queue/join from a fresh session, as a script would flood it: the HTTP status (200 admitted)."""
        body = {"data": data, "fn_index": self.fn[api_name], "session_hash": secrets.token_hex(6),
                "event_data": None, "trigger_id": None}
        return requests.post(self.url + "gradio_api/queue/join", json=body, timeout=60).status_code


class Honest:
    """A visitor who draws, presses Stop and reloads the page, timing each."""

    def __init__(self, app: App):
        self.app, self.client = app, client(app.url, headers=HONEST)
        self.drawing = png_bytes(render_digit(3, np.random.default_rng(5), canvas=320, style="transparent"))

    def predict(self) -> float:
        start = time.perf_counter()
        blob_id = secrets.token_hex(6)
        self.app.send_blob(self.client.session_hash, blob_id, self.drawing)
        label = self.client.predict({"id": blob_id, "background": None, "layers": [], "composite": None},
                                    api_name="/predict")[1]
        assert label["label"] == "3", label
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

            print("== 2. blob bombs")
            results = []
            for name, payload, index in (("7000x7000 PNG by blob id (real pixels)", big_png(7000), "0"),
                                         ("header claiming 20000x20000", bomb(20000, 20000), "0"),
                                         ("layer index 10**9", png_bytes(Image.new("RGBA", (320, 320))), str(10**9))):
                before = app.memory.reset()
                for _ in range(4):
                    blob_id = secrets.token_hex(6)
                    status = app.send_blob(honest.client.session_hash, blob_id, payload, index=index)
                    try:
                        honest.client.predict({"id": blob_id, "background": None, "layers": [], "composite": None},
                                              api_name="/predict")
                        answer = "READ (not refused)"
                    except Exception as e:  # noqa: BLE001 - the refusal is what is expected
                        answer = str(e).split("\n")[0][:110]
                results.append((name, len(payload), status, answer, (app.memory.peak - before) / 1e6))
            for name, size, status, answer, rise in results:
                print(f"  {name} ({size:,} bytes): accept_blobs HTTP {status}; /predict: {answer}; "
                      f"server's peak memory +{rise:.1f} MB over the level before")

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
