"""What "Inside the network" costs: per stroke while its panel is open, and nothing while it is closed.

    python -m bench.inside [--strokes 200] [--requests 100] [--before c545f34~1]

1. In this process, on one thread (as the app serves): the work /predict does for one drawing, and the
   work the open panel adds after it (src.web.explore.Explore.inside_maps: the feature maps of the three
   convolutions as pictures; the filters and the summary change only with the model). Prints p50 of each.
2. /predict over HTTP with the panel closed, against the app as it was before the panel (git revision
   --before, unpacked into a temporary folder with `git archive`), alternating requests in the same run.
   Each app is sent the same drawings as its own page sends them: now the pad's PNG (src/web/pad.py), before
   a Gradio Sketchpad's three 320x320 PNG uploads; so the ratio holds that change too, not the panel's alone.
   Prints both p50s and their ratio. Skipped with a message where git or the revision is missing.
The apps run from temporary checkpoint and visitor folders, never the repository's.
"""

import argparse
import subprocess
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from bench.launch import ROOT, client, pad_values, start_app


def p50(samples) -> float:
    return float(np.percentile(samples, 50) * 1000)


def in_process(strokes: int):
    import torch

    torch.set_num_threads(1)
    from src import settings
    from src.data.digits import render_digit
    from src.reading.inference import ModelStore
    from src.web.downloads import WeightLinks
    from src.web.draw_tab import DrawTab
    from src.web.explore import Explore
    from src.web.pad import SIZE, decode, encode
    from src.web.visitors import Visitors

    with tempfile.TemporaryDirectory() as tmp:
        store = ModelStore(settings.CHECKPOINT_DIR, settings.DEFAULT_CHECKPOINT)
        store.activate_default()
        draw = DrawTab(store, Visitors(Path(tmp)), WeightLinks())
        explore = Explore(draw)
        rng = np.random.default_rng(0)
        # As the pad sends them; /predict's handler gets them decoded (src/web/pad.py), and so does draw.predict here.
        values = [encode(render_digit(i % 10, rng, canvas=SIZE, style="transparent")) for i in range(20)]
        predict, panel = [], []
        visitor = SimpleNamespace(session_hash="bench")  # what gr.Request tells the handlers: whose request
        for i in range(strokes + 10):
            t = time.perf_counter()
            *_, sample = draw.predict(decode(values[i % len(values)]), None, visitor)
            t1 = time.perf_counter()
            explore.inside_maps(sample, None, visitor)  # what an open panel asks for after each stroke
            t2 = time.perf_counter()
            if i >= 10:  # warm-up
                predict.append(t1 - t)
                panel.append(t2 - t1)
    print(f"In process, one thread, {strokes} drawings (the pad's 320x320 PNGs, decoded):")
    print(f"  /predict's work                          p50 {p50(predict):6.2f} ms")
    print(f"  + Inside the network (panel open)        p50 {p50(panel):6.2f} ms per stroke")


def sketchpad_uploads(folder: Path, drawings: list[str]) -> list[dict]:
    """The pad's drawings as a Gradio Sketchpad's value (the page before the pad): its white background, the
    strokes layer and their composite, each an uploaded file, as gradio_client sends them."""
    from gradio_client import handle_file
    from PIL import Image

    from src.web.pad import decode

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, value in enumerate(drawings):
        layer = decode(value)
        background = Image.new("RGBA", layer.size, "white")
        images = {"background": background, "layer": layer, "composite": Image.alpha_composite(background, layer)}
        files = {}
        for key, image in images.items():
            image.save(folder / f"{i}-{key}.png")
            files[key] = handle_file(str(folder / f"{i}-{key}.png"))
        out.append(
            {"id": None, "background": files["background"], "layers": [files["layer"]], "composite": files["composite"]}
        )
    return out


def takes_the_pad(c) -> bool:
    """Whether the app behind client `c` has the pad (its /predict takes the pad's PNG), not a Sketchpad."""
    parameters = c.view_api(return_format="dict", print_info=False)["named_endpoints"]["/predict"]["parameters"]
    return parameters[0]["component"] == "Pad"


def over_http(requests: int, before: str):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        old = tmp / "before"
        old.mkdir()
        try:
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", before], check=True, capture_output=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        except (OSError, subprocess.CalledProcessError) as e:
            print(f"/predict against {before}: skipped (no git or no such revision: {e})")
            return
        drawings = pad_values()  # what the browser sends after a stroke
        uploads = sketchpad_uploads(tmp / "sketchpad", drawings)  # the same, as the page before the pad sent them
        # Both read the same weights: this checkout's shipped checkpoint, each from a copy of its own.
        with (
            start_app(tmp / "now") as now_app,
            start_app(tmp / "then", cwd=old, checkpoints=ROOT / "checkpoints") as then_app,
        ):
            apps = {"now (panel closed)": now_app, f"before ({before})": then_app}
            clients = {name: client(app.url) for name, app in apps.items()}
            sent = {name: drawings if takes_the_pad(c) else uploads for name, c in clients.items()}
            times = {name: [] for name in apps}
            for i in range(requests + 10):
                for name, c in clients.items():
                    t = time.perf_counter()
                    c.predict(sent[name][i % len(drawings)], api_name="/predict")
                    if i >= 10:
                        times[name].append(time.perf_counter() - t)
    now, then = times  # in insertion order
    print(f"/predict over HTTP, {requests} alternating requests each:")
    for name in times:
        print(f"  {name:<28} p50 {p50(times[name]):6.1f} ms")
    print(f"  ratio now / before            {p50(times[now]) / p50(times[then]):.3f}x")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", default="c545f34~1", help="the git revision before the panel existed")
    p.add_argument("--strokes", type=int, default=200, help="drawings read in this process")
    p.add_argument("--requests", type=int, default=100, help="/predict requests over HTTP to each app")
    args = p.parse_args()
    in_process(args.strokes)
    over_http(args.requests, args.before)


if __name__ == "__main__":
    main()
