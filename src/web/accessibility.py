"""A page every learner can use (WCAG 2.2 AA): colours, names, focus, motion, and spoken readings.

    THEME    Gradio's default theme with darker shades where its own miss 4.5:1 for text or 3:1 for controls
    CSS      a visible focus ring, no bar animation for those who ask for less motion, a visually hidden class
    SCRIPT   static/accessibility.js: one polite live region that says each reading once it settles, and
             small repairs to Gradio's markup (a role for labelled boxes, names for charts, focusable scrolling)

app.py passes all three to launch(); tests/test_accessibility.py checks the page with axe-core.
"""

from pathlib import Path

import gradio as gr

SCRIPT = Path(__file__).parent / "static" / "accessibility.js"

# White text on orange-700 is 5.2:1 (orange-500 was 2.8:1), on red-700 6.5:1: the same on light and dark pages.
BUTTONS = {
    "button_primary_background_fill": "*primary_700",
    "button_primary_background_fill_hover": "*primary_800",
    "button_cancel_background_fill": "#b91c1c",
    "button_cancel_background_fill_hover": "#991b1b",
}
THEME = gr.themes.Default().set(
    **BUTTONS,
    **{f"{name}_dark": colour for name, colour in BUTTONS.items()},
    body_text_color_subdued="*neutral_600",  # 7.7:1 on white
    body_text_color_subdued_dark="*neutral_400",
    input_placeholder_color="*neutral_500",
    input_placeholder_color_dark="*neutral_400",
    color_accent="*primary_700",  # the selected tab, sliders, the live bars; lighter on dark pages (CSS)
)

CSS = """
.dark { --color-accent: var(--primary-500); }
.visually-hidden { position: absolute !important; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0);
  white-space: nowrap; }
:focus-visible { outline: 3px solid var(--color-accent) !important; outline-offset: 2px; }
/* On a phone the keyboard hint is for screen readers only: the reading stays right under the canvas. */
@media (max-width: 640px) { #keyboard-hint { position: absolute !important; width: 1px; height: 1px; overflow: hidden;
  clip: rect(0 0 0 0); } }
@media (prefers-reduced-motion: reduce) {
  *, *::before, *::after { transition: none !important; animation: none !important; }
}
"""
