"""The live reading in the visitor's browser (static/live.js): the page element it draws into.

live.js is the project's preprocessing, splitting of numbers, network and "is it a digit?" written once more,
in JavaScript, so that every stroke is read at once in the visitor's own browser, however busy the server is.
It has no constants, weights or thresholds of its own: this element hands it the constants (from the modules
that define them) and the addresses of the chosen checkpoint's own .safetensors file and of its novelty
statistics, which hold the thresholds.

    element(weights_url, novelty_url)   -> the HTML of #live-reading, for the model a visitor uses
    constants()                         -> the constants it hands over
"""

import html
import json
from pathlib import Path

from src.data import inputs, preprocess, segment
from src.model import novelty
from src.model.network import MEAN, STD
from src.reading.inference import FALLBACK_MIN_CONFIDENCE

SCRIPT = Path(__file__).parent / "static" / "live.js"


def constants() -> dict:
    """Every constant live.js's preprocessing, splitting and network use, from the modules that define them."""
    names = (
        "INK_THRESHOLD",
        "MIN_PEAK",
        "MIN_INK_FRACTION",
        "MIN_EXTENT",
        "MAX_INK_FRACTION",
        "MAX_BLOB",
        "MAX_STROKE",
        "BOX",
        "FRAME",
        "WORK",
        "MNIST_STROKE",
    )
    splitting = (
        "WORK_SIDE",
        "SPECK",
        "SPECK_EXTENT",
        "MERGE_OVERLAP",
        "MIN_NUMBER_ASPECT",
        "NARROW_PART_HEIGHT",
        "NARROW_GAP",
    )
    return {
        **{name: getattr(preprocess, name) for name in names},
        **{name: getattr(segment, name) for name in splitting},
        "MEAN": MEAN,
        "STD": STD,
        "DESLANT_FROM": inputs.DESLANT_FROM,
        "SHIFTS": [list(s) for s in inputs.SHIFTS],
        "NOVELTY_FORMAT": novelty.FORMAT,
        "FALLBACK_MIN_CONFIDENCE": FALLBACK_MIN_CONFIDENCE,
    }


def element(weights_url: str, novelty_url: str) -> str:
    """#live-reading's content: ten empty bars and a big digit that live.js fills in after every stroke.
    `weights_url`: where the browser fetches the model's .safetensors, "" for none;
    `novelty_url`: its novelty statistics, "" for none (then live.js, as the server, uses FALLBACK_MIN_CONFIDENCE)."""
    bars = "".join(f'<span class="live-bar"><i style="transform:scaleY(0)"></i><b>{d}</b></span>' for d in range(10))
    attributes = (
        f'data-constants="{html.escape(json.dumps(constants()))}" '
        f'data-weights="{html.escape(weights_url)}" data-novelty="{html.escape(novelty_url)}"'
    )
    return (
        f'<div class="live-reading" {attributes}><div class="live-head"><span class="live-digit">–</span>'
        f'<span class="live-text">Draw a digit: your browser reads it as you draw</span></div>'
        f'<div class="live-bars">{bars}</div></div>'
    )


# Styles for the element, added to the page's CSS.
CSS = """
#live-reading .live-reading { padding: 8px 12px; border: 1px solid var(--border-color-primary); border-radius: 8px;
  contain: layout paint; }
#live-reading .live-head { display: flex; align-items: baseline; gap: 10px; }
#live-reading .live-digit { font-size: 3em; font-weight: 700; min-width: 1ch; line-height: 1.1; }
#live-reading .live-text { color: var(--body-text-color-subdued); }
#live-reading .live-bars { display: flex; gap: 4px; height: 84px; }
#live-reading .live-bar { flex: 1; display: flex; flex-direction: column; align-items: center; }
/* A bar's height is a transform: redrawn by the compositor, with no layout of the page on every reading. */
#live-reading .live-bar i { flex: 1; display: block; width: 100%; background: var(--color-accent);
  border-radius: 2px 2px 0 0; transform-origin: bottom; transition: transform 80ms; }
#live-reading .live-bar b { font-weight: 400; font-size: 0.8em; }
"""
