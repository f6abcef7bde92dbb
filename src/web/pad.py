"""The drawing pad: a Gradio custom HTML component whose value is one PNG of the drawing.

    pad = Pad(elem_id="sketchpad")     # in a Blocks; pad.change(fn, pad, ...) gets a PIL image, or None if empty
    value = encode(image)              # an image as the pad sends it (gradio_client's /predict takes this)
    image = decode(value)              # the pad's value, checked before anything is decoded

It draws on a 2D canvas (static/pad.js): mouse, touch and pen, and clicks or keys on a grid (WCAG 2.5.7, 2.1.1).
After each stroke, Undo and Clear it sends "data:image/png;base64,..." of its SIZE x SIZE drawing: black ink
on transparency. The static page (src/web/static_site.py) uses the same markup and script.
"""

import base64
import binascii
import struct
from io import BytesIO
from pathlib import Path

import gradio as gr
from PIL import Image

from src.data.preprocess import InvalidImage, readable_errors

SCRIPT = Path(__file__).parent / "static" / "pad.js"
SIZE = 320  # the drawing's pixels, on any screen
RADIUS = 10  # the pen: 20-pixel strokes
GRID = 8  # clicks and keys put points on an 8x8 grid
PREFIX = "data:image/png;base64,"
# A SIZE x SIZE RGBA PNG stored without compression is 410 KB; the pad's own are 2-20 KB. Base64 adds a third.
MAX_VALUE_LENGTH = len(PREFIX) + 4 * (SIZE * (4 * SIZE + 1) + 4096) // 3

MARKUP = f"""<div class="pad" data-size="{SIZE}" data-radius="{RADIUS}" data-grid="{GRID}">
  <div class="pad-surface">
    <canvas tabindex="0" role="application" aria-roledescription="drawing pad"
      aria-label="Drawing pad: draw one digit, or a number" aria-describedby="pad-keys"></canvas>
    <svg class="pad-guide" viewBox="0 0 {SIZE} {SIZE}" aria-hidden="true">
      <line stroke-width="{2 * RADIUS}" stroke-linecap="round" visibility="hidden"></line>
      <rect width="{SIZE // GRID}" height="{SIZE // GRID}" rx="4"></rect>
    </svg>
  </div>
  <div class="pad-tools">
    <button type="button" class="pad-undo">Undo</button>
    <button type="button" class="pad-clear">Clear</button>
    <button type="button" class="pad-grid" aria-pressed="false">Draw with clicks</button>
  </div>
  <span class="pad-status" role="status"></span>
  <p class="pad-keys" id="pad-keys">Keys: arrows move the cursor, Space sets a point (a line joins it to the last),
    Enter lifts the pen, Backspace undoes.</p>
</div>"""

# Scoped to the component by Gradio; the static page wraps it in #sketchpad { ... } itself.
CSS = f"""
.pad {{ display: flex; flex-direction: column; gap: 8px; }}
.pad-surface {{ position: relative; width: min(100%, 380px); aspect-ratio: 1; margin: 0 auto; }}
.pad canvas {{ display: block; width: 100%; height: 100%; touch-action: none; cursor: crosshair; border-radius: 8px;
  background: #fff; border: 1px solid #71717a; box-sizing: border-box; }}
.pad.by-grid canvas, .pad canvas:focus-visible {{
  background-image: radial-gradient(circle, #a1a1aa 2px, transparent 2.5px);
  background-size: calc(100% / {GRID}) calc(100% / {GRID}); }}
.pad-guide {{ position: absolute; inset: 0; width: 100%; height: 100%; pointer-events: none; }}
.pad-guide line {{ stroke: #71717a; opacity: 0.5; }}
.pad-guide rect {{ fill: none; stroke: #c2410c; stroke-width: 3; visibility: hidden; }}
.pad.by-grid .pad-guide rect, .pad-surface:has(canvas:focus-visible) .pad-guide rect {{ visibility: visible; }}
.pad-tools {{ display: flex; gap: 8px; justify-content: center; flex-wrap: wrap; }}
.pad-tools button {{ font: inherit; min-height: 36px; padding: 4px 14px; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--border-color-primary, #a1a1aa); background: var(--button-secondary-background-fill, #f4f4f5);
  color: var(--button-secondary-text-color, #18181b); }}
.pad-tools button[aria-pressed="true"] {{ background: #c2410c; border-color: #c2410c; color: #fff; }}
.pad-status {{ position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0);
  white-space: nowrap; }}
.pad-keys {{ margin: 0; font-size: 0.85em; color: var(--body-text-color-subdued, #52525b); text-align: center; }}
@media (max-width: 640px) {{ .pad-keys {{ display: none; }} }}
"""

# The component's own script runs once it is on the page: every drawing becomes its value.
ON_LOAD = "window.drawPad(element, (png) => { props.value = png; });"


def decode(value) -> Image.Image | None:
    """The pad's value -> its drawing (RGBA), or None when empty. Anything but one PNG of SIZE x SIZE pixels is
    refused with InvalidImage, from its length and header, before any pixel is decoded."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidImage(f"the pad sends a data URL of a PNG ({PREFIX}...), not {type(value).__name__}.")
    if not value.startswith(PREFIX):
        raise InvalidImage(f"the pad sends a data URL of a PNG, which starts with {PREFIX!r}.")
    if len(value) > MAX_VALUE_LENGTH:
        raise InvalidImage(f"that is {len(value):,} characters; a drawing of the pad is at most {MAX_VALUE_LENGTH:,}.")
    try:
        data = base64.b64decode(value[len(PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidImage("its base64 text is damaged.") from None
    if len(data) >= 24 and data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":  # the size, before Pillow's
        width, height = struct.unpack(">II", data[16:24])
        if (width, height) != (SIZE, SIZE):
            raise InvalidImage(f"the pad's drawings are {SIZE}x{SIZE} pixels, not {width}x{height}.")
    with readable_errors():
        img = Image.open(BytesIO(data))  # reads the header only
        if img.format != "PNG":
            raise InvalidImage(f"the pad sends PNG images, not {img.format or 'this format'}.")
        if img.size != (SIZE, SIZE):
            raise InvalidImage(f"the pad's drawings are {SIZE}x{SIZE} pixels, not {img.size[0]}x{img.size[1]}.")
        if getattr(img, "n_frames", 1) != 1:
            raise InvalidImage("the pad sends one frame, not an animation.")
        return img.convert("RGBA")


def encode(image: Image.Image) -> str:
    """A SIZE x SIZE image (black ink on transparency, as the pad draws) as the pad's value."""
    out = BytesIO()
    image.save(out, format="PNG")
    return PREFIX + base64.b64encode(out.getvalue()).decode()


class ValueHTML(gr.HTML):
    """A custom HTML component whose value is data for its template (a drawing, a reading), passed through as it
    is; API_INFO describes that value to gradio_client."""

    API_INFO: dict = {"type": "string"}

    def postprocess(self, value):
        return value

    def api_info(self) -> dict:
        return self.API_INFO


class Pad(ValueHTML):
    """The drawing pad (see the module's doc). Its handlers get a PIL image, or None for an empty pad."""

    API_INFO = {
        "type": "string",
        "description": f"the drawing: '{PREFIX}...' of one {SIZE}x{SIZE} PNG, black "
        "ink on transparency (src.web.pad.encode); '' for none",
    }

    def __init__(self, **kwargs):
        super().__init__(
            value="",
            html_template=MARKUP,
            css_template=CSS,
            js_on_load=ON_LOAD,
            head=f"<script>{SCRIPT.read_text()}</script>",
            **kwargs,
        )

    def preprocess(self, payload) -> Image.Image | None:
        try:
            return decode(payload)
        except InvalidImage as e:
            raise gr.Error(f"The drawing could not be read: {e}", print_exception=False) from None

    def example_payload(self):
        return ""

    def example_value(self):
        return ""
