"""Draw a digit: `python app.py` serves the page (also on Hugging Face Spaces).

GRADIO_SERVER_NAME and GRADIO_SERVER_PORT choose the address, as everywhere in Gradio;
CHECKPOINT_DIR, DATA_DIR, CORRECTIONS_DIR, ALLOW_TRAINING and MAX_EPOCHS configure the app (see README).
"""

import torch

# Two cores serve many small requests: one thread per request beats fighting over both.
torch.set_num_threads(1)

from src.hardening import QUEUE_OPTIONS  # noqa: E402
from src.ui import LAUNCH_OPTIONS, demo  # noqa: E402

if __name__ == "__main__":
    demo.queue(**QUEUE_OPTIONS).launch(**LAUNCH_OPTIONS)
