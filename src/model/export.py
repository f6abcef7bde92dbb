"""A model as an ONNX file, for use outside this app (onnxruntime, ONNX.js, C#, phones...).

    to_onnx(model, path)   # input "image": (N, 1, 28, 28) float in [0, 1], white digit on black
                           # outputs "logits" and "probabilities": (N, 10)

The file holds the whole forward path of the network, MNIST normalisation included, so a caller feeds the 28x28
input exactly as the app's preprocessing (src/data/preprocess.py) makes it.
"""

from pathlib import Path

import torch
from torch import nn

from src.atomic import atomic_write
from src.model.network import TutorialCNN

OPSET = 18


class WithSoftmax(nn.Module):
    """The network, returning logits and probabilities."""

    def __init__(self, model: TutorialCNN):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor):
        logits = self.model(image)
        return logits, torch.softmax(logits, dim=1)


def to_onnx(model: TutorialCNN, path: Path | str) -> Path:
    """Write the model as ONNX to `path`, atomically; any batch size."""
    path = Path(path)
    wrapped = WithSoftmax(model).eval()
    example = torch.zeros(2, 1, 28, 28)  # not 1: the exporter would fix a batch of one

    def write(tmp):
        torch.onnx.export(
            wrapped,
            (example,),
            str(tmp),
            input_names=["image"],
            output_names=["logits", "probabilities"],
            opset_version=OPSET,
            dynamo=True,
            external_data=False,
            verbose=False,  # one self-contained file, quietly
            dynamic_shapes={"image": {0: torch.export.Dim("batch")}},
        )

    atomic_write(path, write)
    return path
