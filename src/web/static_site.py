"""The static page: the live reading alone, as a folder any web server (or a free Static Space) serves as it is.

    python -m src static OUT/ [--checkpoint checkpoints/default.safetensors] [--app-url URL]

It draws on the app's own pad, and reads and shows the ten bars, "is it a digit?" and the 28x28 input in the
visitor's browser, with live.js and copies of the checkpoint's own .safetensors file and its novelty statistics;
the constants come from src.web.live, as on the full page. It has no server, so no Train tab: it says so, and
links to the full app.
"""

import html
import shutil
from pathlib import Path

from src.atomic import atomic_write
from src.model.checkpoint import load_model
from src.model.novelty import novelty_path
from src.web import live, pad

SPACE_README = """---
title: Draw a digit (static)
emoji: ✏️
colorFrom: gray
colorTo: blue
sdk: static
app_file: index.html
pinned: false
---

Draw a digit: a small convolutional network trained on MNIST reads it in your browser as you draw.
This page has no server; training and the rest are in the full app.
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Draw a digit</title>
<style>
:root {{ --border-color-primary: #d4d4d8; --color-accent: #f97316; --body-text-color-subdued: #52525b; }}
body {{ font-family: system-ui, sans-serif; margin: 0 auto; max-width: 760px; padding: 12px; color: #18181b; }}
main {{ display: flex; flex-wrap: wrap; gap: 16px; }}
#sketchpad {{ width: min(92vw, 380px); }}
#sketchpad {{ {pad_css} }}
#side {{ flex: 1; min-width: 260px; display: flex; flex-direction: column; gap: 12px; }}
#input28 {{ width: 112px; height: 112px; image-rendering: pixelated; border-radius: 4px; }}
button {{ font: inherit; padding: 6px 16px; }}
{css}
</style>
</head>
<body>
<h1>Draw a digit</h1>
<main>
  <div id="sketchpad">{pad}</div>
  <div id="side">
    <div id="live-reading">{element}</div>
    <div><canvas id="input28" width="28" height="28"></canvas><br><small>What the network sees: 28&times;28,
      as in MNIST</small></div>
    <p><small>Model: {model}. This page has no server, so it does not train: the Train tab and the
      heatmaps are in the full app{link}.</small></p>
  </div>
</main>
<script src="pad.js"></script>
<script src="live.js"></script>
<script>window.drawPad(document.getElementById("sketchpad"), () => {{}});</script>
</body>
</html>
"""


def build(out: Path | str, checkpoint: Path | str, app_url: str = "") -> Path:
    """Write the static page into `out` (created if needed): index.html, pad.js, live.js, model.safetensors and
    model.novelty.safetensors if it has statistics (the checkpoint's own files, copied), and a Static Space's
    README.md. -> out"""
    out, checkpoint = Path(out), Path(checkpoint)
    _, meta, novelty = load_model(checkpoint)  # a file that is not a checkpoint of this network fails here
    out.mkdir(parents=True, exist_ok=True)
    element = live.element("model.safetensors", "")
    files = [(pad.SCRIPT, "pad.js"), (live.SCRIPT, "live.js"), (checkpoint, "model.safetensors")]
    if novelty is not None:  # statistics fitted to these very weights (else the page falls back, as the server does)
        element = element.replace('data-novelty=""', 'data-novelty="model.novelty.safetensors"')
        files.append((novelty_path(checkpoint), "model.novelty.safetensors"))
    link = (
        f': <a href="{html.escape(app_url)}">{html.escape(app_url)}</a>' if app_url else " (<code>python app.py</code>)"
    )
    model = f"{checkpoint.stem}, {meta['test_acc']}% on MNIST test" if "test_acc" in meta else checkpoint.stem
    atomic_write(
        out / "index.html",
        lambda tmp: Path(tmp).write_text(
            PAGE.format(
                css=live.CSS, pad_css=pad.CSS, pad=pad.MARKUP, element=element, model=html.escape(model), link=link
            )
        ),
    )
    for source, name in files:
        atomic_write(out / name, lambda tmp, source=source: shutil.copyfile(source, tmp))
    atomic_write(out / "README.md", lambda tmp: Path(tmp).write_text(SPACE_README))
    return out
