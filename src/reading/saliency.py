"""Why did the model say that? A saliency map of which pixels pushed it towards a class.

    heat = saliency(model, image28)            # (28, 28) float in [0, 1], for the top class
    heat = saliency(model, image28, target=3)  # ... or for another class
    rgb  = overlay(image28, heat)              # (280, 280, 3) uint8: grey digit, warm colours where heat is

Method: integrated gradients (the gradient x input of the class logit, averaged over STEPS images fading in
from black, i.e. from "no ink"), which is gradient x input made less noisy. Only the positive part is kept
(the pixels that pushed the model TOWARDS the class), smoothed with a 3x3 blur and scaled so the strongest
pixel is 1. The baseline is a blank canvas, so heat lies on (and, after the blur, just around) the ink: it
answers "which of the strokes you drew made it a 7?". All STEPS images go through the network in one batch.

`model` is a TutorialCNN (LoadedModel.model), `image28` the (28, 28) float [0, 1] white-on-black output of
src.data.preprocess.preprocess.
"""

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

READING_HINT = (
    "Red and yellow pixels pushed the model towards its answer: the brighter, the more they counted; "
    "grey strokes hardly mattered."
)
STEPS = 16


def saliency(model: torch.nn.Module, image28: np.ndarray, target: int | None = None) -> np.ndarray:
    """(28, 28) float32 heat in [0, 1]: how much each pixel pushed `model` towards `target` (default: its top class)."""
    x = torch.as_tensor(np.asarray(image28, dtype=np.float32)).reshape(1, 1, 28, 28)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            alphas = torch.linspace(1.0 / STEPS, 1.0, STEPS).view(-1, 1, 1, 1)
            path = (alphas * x).requires_grad_(True)  # the image fading in from black (no ink)
            logits = model(path)
            if target is None:
                target = int(logits[-1].argmax())  # the last path image is the input itself
            (grad,) = torch.autograd.grad(logits[:, target].sum(), path)
    finally:
        model.train(was_training)
    attribution = (grad.mean(0, keepdim=True) * x).clamp_(min=0)  # integrated gradients, positive part
    heat = F.avg_pool2d(attribution, 3, stride=1, padding=1, count_include_pad=False)[0, 0]
    top = float(heat.max())
    return (heat / top).numpy() if top > 0 else np.zeros((28, 28), np.float32)


def overlay(image28: np.ndarray, heat: np.ndarray, size: int = 280) -> np.ndarray:
    """(size, size, 3) uint8: the input enlarged as a grey digit on black, with the heat laid over it in a
    black-red-yellow scale (smoothly enlarged, so it reads as a glow rather than as squares)."""
    digit = Image.fromarray((np.clip(image28, 0, 1) * 255).astype(np.uint8)).resize(
        (size, size), Image.Resampling.NEAREST
    )
    h = Image.fromarray((np.clip(heat, 0, 1) * 255).astype(np.uint8)).resize((size, size), Image.Resampling.BILINEAR)
    grey = np.asarray(digit, np.float32)[..., None] / 255 * np.array([110, 110, 110], np.float32)
    h = np.asarray(h, np.float32)[..., None] / 255
    warm = np.concatenate([np.minimum(1, 2 * h), np.clip(2 * h - 1, 0, 1), np.zeros_like(h)], axis=2) * 255
    alpha = np.clip(1.4 * h, 0, 1) ** 0.8
    return (grey * (1 - alpha) + warm * alpha + 0.5).clip(0, 255).astype(np.uint8)
