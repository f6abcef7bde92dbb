"""The network: the tutorial's small CNN, defined once for the whole project.

conv 1->8 -> ReLU -> pool -> conv 8->16 -> ReLU -> pool -> conv 16->32 -> ReLU -> linear 1568->10
(computed as pool -> ReLU, which is the same function; see TutorialCNN.run)
28x28 -> 14x14 -> 7x7; 32 * 7 * 7 = 1568 features; 21,578 parameters.
"""

import torch
from torch import nn

from src.data.mnist import normalize
from src.training.kernels import MaxPool2x2

ARCHITECTURE = "TutorialCNN"
PARAMETER_COUNT = 21_578


class TutorialCNN(nn.Module):
    """Takes normalised (N, 1, 28, 28) images, returns (N, 10) logits."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.pool = MaxPool2x2()  # nn.MaxPool2d(2), computed faster on the CPU (src/training/kernels.py)
        self.fc = nn.Linear(32 * 7 * 7, 10)

    def run(self, x: torch.Tensor, maps: bool = False) -> tuple[torch.Tensor, tuple | None]:
        """(the 1568 penultimate features, and with maps=True each convolution's output after its ReLU:
        (N, 8, 28, 28), (N, 16, 14, 14), (N, 32, 7, 7); else None).

        The tutorial applies ReLU and then pools. Max-pooling and ReLU commute (the largest of four ReLU'd
        values is the ReLU of the largest), so this pools first and applies the ReLU to a quarter of the
        pixels: the same outputs and gradients (tests/test_model.py), for less work in every training step.
        The full-size maps are made only when asked for (Inside the network).
        """
        if maps:  # Inside the network shows conv1's whole output
            c1 = self.conv1(x)
            p1 = torch.relu(self.pool(c1))
        else:  # the same function; on the CPU one fused kernel, which never writes conv1's whole output
            p1 = self.pool.after_conv_relu(self.conv1, x)
        c2 = self.conv2(p1)
        a3 = torch.relu(self.conv3(torch.relu(self.pool(c2))))
        return torch.flatten(a3, 1), ((torch.relu(c1), torch.relu(c2), a3) if maps else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.run(x)[0])


def forward(model: TutorialCNN, images: torch.Tensor, maps: bool = False):
    """The one place the project runs the network: training, evaluation, reading a drawing, "is it a
    digit?", saliency, Inside the network and the ONNX export all come through here.

    (N, 1, 28, 28) images, uint8 [0, 255] or float [0, 1], white digit on black -> (the 1568 penultimate
    features, the 10 logits), and with maps=True also the three convolutions' outputs (TutorialCNN.run).
    Normalises with MNIST's statistics; channels-last memory is faster for training on the CPU and costs
    nothing measurable for one image.
    """
    features, activations = model.run(normalize(images).contiguous(memory_format=torch.channels_last), maps)
    logits = model.fc(features)
    return (features, logits, activations) if maps else (features, logits)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
