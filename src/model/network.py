"""The network: the tutorial's small CNN, defined once for the whole project.

conv 1->8 -> ReLU -> pool -> conv 8->16 -> ReLU -> pool -> conv 16->32 -> ReLU -> linear 1568->10
28x28 -> 14x14 -> 7x7; 32 * 7 * 7 = 1568 features; 21,578 parameters.

    model = TutorialCNN()
    logits = model(pixels)   # (N, 1, 28, 28), uint8 [0, 255] or float [0, 1], white digit on black -> (N, 10)
"""

import torch
from torch import nn

ARCHITECTURE = "TutorialCNN"
PARAMETER_COUNT = 21_578
MEAN, STD = 0.1307, 0.3081  # MNIST's pixel statistics, as in the tutorial's transforms.Normalize


def normalize(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] or float [0, 1] pixels -> the scale the network computes on."""
    x = pixels.float() / 255 if pixels.dtype == torch.uint8 else pixels
    return (x - MEAN) / STD


class TutorialCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(32 * 7 * 7, 10)

    def maps(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Each convolution's output after its ReLU: (N, 8, 28, 28), (N, 16, 14, 14), (N, 32, 7, 7)."""
        a1 = torch.relu(self.conv1(normalize(pixels)))
        a2 = torch.relu(self.conv2(self.pool(a1)))
        a3 = torch.relu(self.conv3(self.pool(a2)))
        return a1, a2, a3

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        """The 1568 inputs of the last layer (what "is it a digit?" measures)."""
        return torch.flatten(self.maps(pixels)[2], 1)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(pixels))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
