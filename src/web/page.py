"""The page: a Draw tab (sketchpad -> probabilities) and a Train tab, each built by its own module.

    demo = build_demo(store, visitors, links)   # all three created once, in app.py

The Draw tab is src/web/draw_tab.py, the Train tab src/web/train_tab.py, the teaching views they share
src/web/explore.py, and /operator (only when ADMIN_PASSWORD is set) src/web/operator_page.py. Every visitor
has their own model choice (a gr.State), runs, corrections and Stop; see src/web/visitors.py.
"""

import gradio as gr

from src import settings
from src.reading.inference import ModelStore
from src.web import evaluation_view, live
from src.web.downloads import WeightLinks
from src.web.draw_tab import DrawTab
from src.web.explore import Explore
from src.web.operator_page import OperatorPage
from src.web.train_tab import TrainTab
from src.web.visitors import Visitors

# Passed to launch() (app.py). The operator's page (/operator) is reached by its address only, so Gradio's
# navigation bar is hidden. On a phone the intro's second line goes, so that the prediction fits on the
# screen together with the canvas.
CSS = (
    """
.nav-holder { display: none !important; }
@media (max-width: 640px) { #intro p { display: none; } }
#reading #live-reading .live-reading { border: none; }
#prediction .server-reading { margin: 0; padding: 0 12px 8px; color: var(--body-text-color-subdued); }
"""
    + live.CSS
    + evaluation_view.CSS
)


def build_demo(store: ModelStore, visitors: Visitors, links: WeightLinks) -> gr.Blocks:
    """The whole page, its handlers bound to the live model store, the visitors and the weights' links."""
    draw, train = DrawTab(store, visitors, links), TrainTab(store, visitors)
    explore = Explore(draw)

    # Gradio's upload and output cache: every 10 minutes, its files older than an hour are removed.
    with gr.Blocks(title="Draw a digit", delete_cache=(600, 3600)) as demo:
        gr.Markdown(
            "# Draw a digit\nA 21,578-parameter convolutional network trained on MNIST reads your drawing.",
            elem_id="intro",
        )
        if store.error:
            gr.Markdown(f"**⚠ {store.error}**", elem_id="model-error")
        with gr.Tab("Draw"):
            draw_parts = draw.build(demo, explore)
        with gr.Tab("Train"):
            train.build(explore, draw_parts)
        explore.api()  # the teaching views for gradio_client

        def left(request: gr.Request):  # a page closed: if none of theirs is back within 30 s, their training stops
            train.left(request)  # first: it needs to know whose page this was
            draw.left(request)

        demo.unload(left)

    if settings.ADMIN_PASSWORD:  # the operator's page; without the secret it does not exist at all
        with demo.route("Operator", "/operator", show_in_navbar=False):
            OperatorPage(store, visitors, settings.ADMIN_PASSWORD).build()
    return demo
