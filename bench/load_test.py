"""Throughput under concurrent load: /classify of the app next to a trivial Gradio endpoint, same run.

    python -m bench.load_test [--clients 32] [--requests 8] [--rounds 1] [--train]

Starts `python app.py` and a trivial Gradio app (gr.File -> gr.JSON returning a constant, queued the way
app.py queues its Blocks), each on a free loopback port. Then, for each, --clients threads each open
their own gradio_client.Client and send --requests /classify requests (800x800 drawings), all at once.
Prints req/s, p50, p95 and failures for both, and the ratio of the app's req/s to the trivial one's.
With --rounds N the two are measured alternately N times and the median round is reported.

--train: also starts a training run through the app's /train endpoint (epochs=10 on 20,000 examples, long
enough to outlast the load), sends the same /classify load while it runs and reports it, then presses
Stop. The app saves into a temporary copy of the checkpoint folder, never into the repository. Skipped
(with a message) when the app has no /train endpoint.
"""

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from bench.launch import Timings, client, close_all, drawing_files, side_by_side

# Kept in step with app.py: the same launch path (demo.queue(...)), the same torch thread setting.
# The queue settings are app.py's own (importing app.py builds its page too; that costs only start-up time).
TRIVIAL_APP = """
import torch
torch.set_num_threads(1)
import gradio as gr
from app import QUEUE_OPTIONS
with gr.Blocks() as demo:
    f = gr.File(type="filepath", file_types=["image"]); out = gr.JSON()
    gr.Button().click(lambda path: {"digit": 0, "confidence": 1.0, "probabilities": [0.1] * 10}, f, out,
                      api_name="classify")
demo.queue(**QUEUE_OPTIONS).launch(max_file_size="10mb")
"""


def load(url, paths, clients, requests_each):
    """All clients at once, each its own Client; returns (req/s, latencies in s, failure messages)."""
    from gradio_client import handle_file

    conns = [client(url) for _ in range(clients)]  # connected before the clock starts
    timings = Timings()
    barrier = threading.Barrier(clients + 1)

    def worker(i):
        barrier.wait()
        for k in range(requests_each):
            path = paths[(i * requests_each + k) % len(paths)]
            timings.call(conns[i].predict, handle_file(str(path)), api_name="/classify")

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join(timeout=600)
    wall = time.perf_counter() - t0
    close_all(conns)
    return len(timings.latencies) / wall, timings.latencies, timings.failures


def summary(name, rate, latencies, failures):
    p50, p95 = (np.percentile(latencies, q) * 1000 for q in (50, 95)) if latencies else (float("nan"),) * 2
    print(f"{name:<22} {rate:7.1f} req/s   p50 {p50:7.0f} ms   p95 {p95:7.0f} ms   failures {len(failures)}")
    for f in failures[:3]:
        print("    ", f)
    return p50, p95


def train_load(url, paths, clients, requests_each):
    trainer = client(url)
    info = trainer.view_api(print_info=False, return_format="dict")
    if "/train" not in info.get("named_endpoints", {}):
        print("--train: the app has no /train endpoint yet; skipped.")
        return
    params = [p["parameter_name"] for p in info["named_endpoints"]["/train"]["parameters"]]
    kwargs = {"epochs": 10}
    for name in params:
        if name in ("max_examples", "limit", "examples"):
            kwargs[name] = 20000  # long enough to outlast the load; stopped right after it
    print(f"--train: /train with {kwargs} (parameters: {params})")
    job = trainer.submit(api_name="/train", **kwargs)
    time.sleep(2)  # let it start
    rate, lat, fails = load(url, paths, clients, requests_each)
    running = not job.done()
    summary("app during training", rate, lat, fails)
    print(f"    training still running at the end of the load: {running}")
    trainer.predict(api_name="/stop")
    try:
        job.result(timeout=600)
    except Exception as e:  # noqa: BLE001
        print(f"    /train ended with {type(e).__name__}: {e}"[:300])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--requests", type=int, default=8, help="per client")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--train", action="store_true")
    args = p.parse_args()

    # The app gets its own copy of the shipped checkpoint: a --train run saves into that, never into the repo.
    with tempfile.TemporaryDirectory() as tmp, side_by_side(Path(tmp), TRIVIAL_APP) as (app, trivial):
        paths = drawing_files(Path(tmp) / "drawings")
        app_url, trivial_url = app.url, trivial.url
        for url in (app_url, trivial_url):  # warm up: first requests load caches
            load(url, paths, 2, 2)
        print(f"{args.clients} clients x {args.requests} /classify requests each, {os.cpu_count()} CPUs")
        rounds = {"app": [], "trivial": []}
        for r in range(args.rounds):
            for name, url in (("app", app_url), ("trivial", trivial_url)):
                rate, lat, fails = load(url, paths, args.clients, args.requests)
                rounds[name].append((rate, lat, fails))
                if args.rounds > 1:
                    summary(f"  round {r + 1} {name}", rate, lat, fails)
        results = {}
        for name, runs in rounds.items():
            rate, lat, fails = sorted(runs, key=lambda x: x[0])[len(runs) // 2]
            results[name] = rate
            summary(f"{name} /classify" if name == "app" else "trivial endpoint", rate, lat, fails)
        print(f"ratio app / trivial: {results['app'] / results['trivial']:.2f}x")
        if args.train:
            train_load(app_url, paths, args.clients, args.requests)


if __name__ == "__main__":
    main()
