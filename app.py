"""Draw a digit: `python app.py` serves the page (also on Hugging Face Spaces).

GRADIO_SERVER_NAME and GRADIO_SERVER_PORT choose the address, as everywhere in Gradio;
CHECKPOINT_DIR, DATA_DIR, VISITOR_DIR, ADMIN_PASSWORD, ALLOW_TRAINING, MAX_EPOCHS and the visitor limits
configure the app (src/settings.py; docs/hosting.md, "Running a public Space").
"""

import threading

import spaces  # noqa: F401 - first: on ZeroGPU it patches torch before anything uses CUDA (src/training/gpu.py)
import torch
from starlette.middleware import Middleware

from src import settings
from src.reading import calibration
from src.reading.inference import ModelStore
from src.training import kernels
from src.training.gpu import ZERO_GPU
from src.web import accessibility, live
from src.web.downloads import WeightLinks
from src.web.gradio_cache import write_images_atomically
from src.web.page import CSS, build_demo
from src.web.uploads import MAX_FILE_SIZE, RequestLimits
from src.web.visitors import Limits, Visitors

# Two cores serve many small requests: one thread per request beats fighting over both.
torch.set_num_threads(1)
# numba compiles the CPU training kernels meanwhile, not in the first visitor's training (ZeroGPU trains on CUDA).
if settings.ALLOW_TRAINING and not ZERO_GPU:
    threading.Thread(target=kernels.warm_up, daemon=True).start()
# The tuning digits of every training's "is it a digit?" fit, made (or read from DATA_DIR) meanwhile, kept in memory.
if settings.ALLOW_TRAINING:
    threading.Thread(target=calibration.prepare, daemon=True).start()
# Identical output images of concurrent requests must not break each other's downloads.
write_images_atomically()

# The live model store, created here once and handed to every page: the default model (the shipped one,
# or the one the operator promoted), or a clear message on the page when it cannot be loaded.
store = ModelStore(settings.CHECKPOINT_DIR, settings.DEFAULT_CHECKPOINT)
store.activate_default()
# Every visitor's own runs and corrections, within the server's limits; idle visitors' files are swept.
visitors = Visitors(
    settings.VISITOR_DIR,
    Limits(
        runs_per_visitor=settings.MAX_RUNS_PER_VISITOR,
        corrections_per_visitor=settings.MAX_CORRECTIONS_PER_VISITOR,
        total_bytes=int(settings.VISITOR_DATA_MB * 1e6),
        idle_seconds=settings.VISITOR_IDLE_MINUTES * 60,
        bytes_per_address=int(settings.VISITOR_DATA_MB_PER_ADDRESS * 1e6),
        shared_bytes=int(settings.SHARED_CORRECTIONS_MB * 1e6),
    ),
)
# Links to checkpoints' weights for the live reading, each given only to the page that uses it.
links = WeightLinks()
demo = build_demo(store, visitors, links)

# 4 requests at a time, 64 waiting at most: chosen by python -m bench.load_test.
# Only through the queue: /gradio_api/run/... and /api/... answer 404 (api_open=False; Spaces' own default).
QUEUE_OPTIONS = dict(default_concurrency_limit=4, max_size=64, api_open=False)
LAUNCH_OPTIONS = dict(
    theme=accessibility.THEME,  # Gradio's own, with colours that meet WCAG 2.1 AA
    css=CSS + accessibility.CSS,  # no navigation bar; a compact header on phones; focus rings
    # Each stroke read at once in the browser; readings spoken once they settle.
    head=f"<script>{live.SCRIPT.read_text()}</script><script>{accessibility.SCRIPT.read_text()}</script>",
    # No server folder in allowed_paths: no file is reachable by its path. Downloads go through Gradio's cache.
    max_file_size=MAX_FILE_SIZE,  # uploads over 10 MB are refused with HTTP 413 before any of our code runs
    # Gradio keeps a copy of the page's settings per session for an hour after it closes; fresh sessions cost
    # nothing to a stranger, so only the most recently used ones are kept (docs/security.md).
    state_session_capacity=1000,
    app_kwargs=dict(
        routes=[links.route],  # the live reading's weights, by link
        middleware=[Middleware(RequestLimits)],
    ),  # body size, and uploads per address and hour
)

if __name__ == "__main__":
    visitors.start_sweeper(every_seconds=min(60.0, settings.VISITOR_IDLE_MINUTES * 60 / 4))
    demo.queue(**QUEUE_OPTIONS).launch(**LAUNCH_OPTIONS)
