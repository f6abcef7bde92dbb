"""The whole app in one screen: draw a digit, and the network gives ten probabilities.

    python -m examples.minimal_app      # from the repository's root, then open http://127.0.0.1:7860

The same pieces as app.py: the pad, the shipped checkpoint, the preprocessing and `model(x)`, without the
rest (the live reading, numbers, "not a digit", training). Read it first, then app.py.
"""

import gradio as gr
import torch

from src.data.preprocess import preprocess
from src.model.checkpoint import load_checkpoint
from src.settings import CHECKPOINT_DIR, DEFAULT_CHECKPOINT
from src.web.pad import Pad

# The network (src/model/network.py) with the weights python train.py saved.
model, metadata = load_checkpoint(CHECKPOINT_DIR / DEFAULT_CHECKPOINT)
model.eval()


def read(drawing):
    """The pad's drawing (a PIL image, or None when empty) -> {digit: probability} for the bar chart."""
    if drawing is None:
        return None
    x = preprocess(drawing)  # 28x28 floats in [0, 1], centred and scaled like an MNIST digit; None when blank
    if x is None:
        return None
    with torch.no_grad():
        logits = model(torch.from_numpy(x)[None, None])  # a batch of one image with one channel
    probabilities = torch.softmax(logits, dim=1)[0]
    return {str(digit): float(p) for digit, p in enumerate(probabilities)}


with gr.Blocks(title="Draw a digit") as demo:
    gr.Markdown(f"# Draw a digit\nA network of 21,578 weights reads it ({metadata['test_acc']:.2f}% on MNIST test).")
    with gr.Row():
        pad = Pad(elem_id="sketchpad")
        bars = gr.Label(num_top_classes=10, label="Probabilities", elem_id="probabilities")
    pad.change(read, pad, bars, api_name="predict")

if __name__ == "__main__":
    demo.launch()
