"""Inside the network: what each layer makes of one 28x28 input, the learned filters, and the model's summary.

    feature_maps(model, image)  -> {"conv1": (8, 28, 28), "conv2": (16, 14, 14), "conv3": (32, 7, 7)}
    maps_image(maps)            -> one picture per layer: every map side by side, brighter = stronger
    filters_image(model)        -> the 8 learned 3x3 filters of the first layer (orange +, blue -)
    summary()                   -> each layer with its output shape and parameter count (21,578 in all)

The maps are TutorialCNN.maps: each convolution's full-size output after its ReLU, before the pooling halves it.
"""

import functools

import numpy as np
import pandas as pd
import torch
from PIL import Image

from src.model.network import TutorialCNN, count_parameters

CONVOLUTIONS = ("conv1", "conv2", "conv3")
MAP_PIXELS = {"conv1": 84, "conv2": 56, "conv3": 42}  # each map's displayed size, so all stay readable


@torch.inference_mode()
def feature_maps(model: TutorialCNN, image: np.ndarray) -> dict[str, np.ndarray]:
    """The ReLU'd output of every convolution for one (28, 28) float [0, 1] input: name -> (C, H, W) float32.
    From TutorialCNN.maps, so no hook ever touches a model other requests share."""
    model.eval()
    activations = model.maps(torch.as_tensor(np.asarray(image, np.float32)).reshape(1, 1, 28, 28))
    return {name: a[0].float().contiguous().numpy() for name, a in zip(CONVOLUTIONS, activations)}


def tile(images: np.ndarray, size: int, columns: int, gap: int = 2, background: int = 64) -> np.ndarray:
    """(N, h, w) pictures in [0, 1] -> one uint8 grey picture: each enlarged to `size` pixels (nearest, so the
    pixels stay visible), in rows of `columns`, `gap` pixels apart."""
    rows = -(-len(images) // columns)
    out = np.full((rows * (size + gap) - gap, columns * (size + gap) - gap), background, np.uint8)
    for i, m in enumerate(images):
        picture = Image.fromarray((np.clip(m, 0, 1) * 255).round().astype(np.uint8))
        r, k = divmod(i, columns)
        out[r * (size + gap) : r * (size + gap) + size, k * (size + gap) : k * (size + gap) + size] = np.asarray(
            picture.resize((size, size), Image.Resampling.NEAREST)
        )
    return out


def maps_image(maps: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each layer's maps as one picture, every map scaled by its own strongest value (black = silent)."""
    pictures = {}
    for name, m in maps.items():
        peak = m.reshape(len(m), -1).max(1).reshape(-1, 1, 1)
        pictures[name] = tile(m / np.maximum(peak, 1e-6), MAP_PIXELS[name], columns=8)
    return pictures


def filters_image(model: TutorialCNN, size: int = 90, columns: int = 4, gap: int = 6) -> np.ndarray:
    """The first layer's 8 filters (3x3 weights), each enlarged, in rows of `columns`: orange for positive,
    blue for negative, white for zero."""
    w = model.conv1.weight.detach().float().cpu().numpy()[:, 0]  # (8, 3, 3)
    w = w / max(float(np.abs(w).max()), 1e-6)
    orange, blue, white = np.array([249, 115, 22]), np.array([59, 130, 246]), np.array([255, 255, 255])
    rgb = np.where(w[..., None] >= 0, white + w[..., None] * (orange - white), white - w[..., None] * (blue - white))
    # Each colour channel is a grey picture of the 8 filters: tile them alike and stack them again.
    return np.stack([tile(rgb[..., c] / 255, size, columns, gap, background=255) for c in range(3)], axis=-1)


@functools.lru_cache(maxsize=1)
def summary() -> pd.DataFrame:
    """One row per layer as the data flows (its output shape for one image, read by forward hooks on a model
    of its own) with its parameters, then the total. The same for every checkpoint: computed once."""
    model, seen = TutorialCNN().eval(), []
    for name, module in (
        ("conv1", model.conv1),
        ("conv2", model.conv2),
        ("conv3", model.conv3),
        ("relu + pool", model.pool),
        ("fc", model.fc),
    ):
        module.register_forward_hook(lambda m, _, out, name=name: seen.append((name, m, tuple(out.shape[1:]))))
    with torch.inference_mode():
        model(torch.zeros(1, 1, 28, 28))
    seen.insert(-1, ("relu + flatten", None, (model.fc.in_features,)))  # after conv3, before fc
    rows = [{"layer": "input", "output shape": "1×28×28", "parameters": 0}]
    for name, module, shape in seen:
        own = module is not None and name != "relu + pool"
        rows.append(
            {
                "layer": name,
                "output shape": "×".join(map(str, shape)),
                "parameters": count_parameters(module) if own else 0,
            }
        )
    rows.append({"layer": "total", "output shape": "10 logits", "parameters": count_parameters(model)})
    return pd.DataFrame(rows)
