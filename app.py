"""Draw a digit: `python app.py` serves the page (also on Hugging Face Spaces).

GRADIO_SERVER_NAME and GRADIO_SERVER_PORT choose the address, as everywhere in Gradio;
CHECKPOINT_DIR, DATA_DIR, ALLOW_TRAINING and MAX_EPOCHS configure the app (see README).
"""

from src.ui import LAUNCH_OPTIONS, demo

if __name__ == "__main__":
    demo.queue().launch(**LAUNCH_OPTIONS)
