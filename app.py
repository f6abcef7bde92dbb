"""Draw a digit: `python app.py` serves the page (also on Hugging Face Spaces).

GRADIO_SERVER_NAME and GRADIO_SERVER_PORT choose the address, as everywhere in Gradio;
CHECKPOINT_DIR, DATA_DIR, CORRECTIONS_DIR, ALLOW_TRAINING and MAX_EPOCHS configure the app (see README).
"""

from pathlib import Path

import torch

from src import config
from src.inference import ModelStore
from src.ui import build_demo
from src.uploads import MAX_FILE_SIZE

# Two cores serve many small requests: one thread per request beats fighting over both.
torch.set_num_threads(1)

# The live model store, created here once and handed to both tabs: the shipped model, or a clear
# message on the page when it cannot be loaded.
store = ModelStore(config.CHECKPOINT_DIR, config.DEFAULT_CHECKPOINT)
store.activate_default()
demo = build_demo(store)

# Chosen by measurement (bench/load_test.py): 4 requests at a time, 64 waiting at most.
QUEUE_OPTIONS = dict(default_concurrency_limit=4, max_size=64)
LAUNCH_OPTIONS = dict(
    js=(Path(__file__).parent / "src" / "static" / "autobrush.js").read_text(),  # selects the brush
    allowed_paths=[str(config.CHECKPOINT_DIR)],  # so the Train tab can offer new checkpoints for download
    max_file_size=MAX_FILE_SIZE,  # uploads over 10 MB are refused with HTTP 413 before any of our code runs
)

if __name__ == "__main__":
    demo.queue(**QUEUE_OPTIONS).launch(**LAUNCH_OPTIONS)
