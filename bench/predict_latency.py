"""Latency of /classify next to a trivial Gradio endpoint, measured in the same run, plus in-process cost.

    python -m bench.predict_latency [--requests 200]

1. Starts the app (`python app.py`) and a trivial Gradio app whose endpoint takes the same image file
   and returns a constant, each on its own port, and sends both the same 800x800 drawings one at a time
   through gradio_client, alternating between them. Prints p50/p95 of each and the ratio.
2. Times, in this process, the work /predict does for one drawing of the pad (320x320 PNG, src/web/pad.py):
   decoding its value, preprocessing, the reading, and a saliency map.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.launch import client, drawing_files, side_by_side

TRIVIAL_APP = """
import gradio as gr
with gr.Blocks() as demo:
    f = gr.File(type="filepath"); out = gr.JSON()
    answer = {"digit": 0, "confidence": 1.0, "probabilities": [0.1] * 10}
    gr.Button().click(lambda path: answer, f, out, api_name="classify")
demo.queue().launch()
"""


def percentiles(samples):
    return np.percentile(samples, 50) * 1000, np.percentile(samples, 95) * 1000


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=200)
    args = p.parse_args()

    from gradio_client import handle_file

    with tempfile.TemporaryDirectory() as tmp, side_by_side(Path(tmp), TRIVIAL_APP) as (app, trivial):
        paths = drawing_files(Path(tmp) / "drawings")
        clients = {"classify": client(app.url), "trivial": client(trivial.url)}
        times = {name: [] for name in clients}
        for i in range(args.requests + 10):
            for name, c in clients.items():
                start_t = time.perf_counter()
                c.predict(handle_file(str(paths[i % len(paths)])), api_name="/classify")
                if i >= 10:  # warm-up
                    times[name].append(time.perf_counter() - start_t)
    (c50, c95), (t50, t95) = percentiles(times["classify"]), percentiles(times["trivial"])
    print(f"{args.requests} sequential requests each, 800x800 PNG drawings")
    print(f"/classify          p50 {c50:6.1f} ms   p95 {c95:6.1f} ms")
    print(f"trivial endpoint   p50 {t50:6.1f} ms   p95 {t95:6.1f} ms")
    print(f"ratio              p50 {c50 / t50:.2f}x   p95 {c95 / t95:.2f}x")

    # In process: the work /predict does for one drawing of the pad, minus Gradio.
    import torch

    from src.data.preprocess import preprocess
    from src.settings import CHECKPOINT_DIR, DEFAULT_CHECKPOINT

    torch.set_num_threads(1)
    from src.data.digits import render_digit
    from src.reading.inference import ModelStore
    from src.web.pad import SIZE, decode, encode

    rng = np.random.default_rng(0)
    store = ModelStore(CHECKPOINT_DIR, DEFAULT_CHECKPOINT)
    model = store.activate(DEFAULT_CHECKPOINT)
    pngs = [encode(render_digit(i % 10, rng, canvas=SIZE, style="transparent")) for i in range(50)]
    t_decode = []
    for png in pngs:
        t0 = time.perf_counter()
        decode(png)  # its checks, then the PNG decoded (Pad.preprocess)
        t_decode.append(time.perf_counter() - t0)
    values = [decode(png) for png in pngs]
    for v in values[:5]:
        model.read(v)
    t_pre, t_all = [], []
    for v in values:
        t0 = time.perf_counter()
        preprocess(v)
        t1 = time.perf_counter()
        model.read(v)  # preprocessing, network, "is it a digit?" (the app's reading path)
        t_pre.append(t1 - t0)
        t_all.append(time.perf_counter() - t1)
    from src.reading.saliency import saliency

    t_read = []
    for v in values:
        t0 = time.perf_counter()
        reading = model.read(v)  # + splitting check and "is it a digit?"
        saliency(model.model, reading.images[0], reading.digits[0])
        t_read.append(time.perf_counter() - t0)
    t_sal = []
    for v in values:
        reading = model.read(v)
        t0 = time.perf_counter()
        saliency(model.model, reading.images[0], reading.digits[0])
        t_sal.append(time.perf_counter() - t0)
    print(f"in process, decoding the pad's value (a 320x320 PNG data URL): p50 {np.median(t_decode) * 1000:.2f} ms")
    print(f"in process, one saliency map: p50 {np.median(t_sal) * 1000:.2f} ms")
    print(
        f"in process, the whole Draw-tab reading (+ is-it-a-digit, number check, saliency): "
        f"p50 {np.median(t_read) * 1000:.2f} ms"
    )
    print(
        f"in process, per drawing of the pad: preprocessing p50 {np.median(t_pre) * 1000:.2f} ms, "
        f"reading (preprocessing + network + is-it-a-digit) p50 {np.median(t_all) * 1000:.2f} ms, "
        f"p95 {np.percentile(t_all, 95) * 1000:.2f} ms"
    )


if __name__ == "__main__":
    main()
