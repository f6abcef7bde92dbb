"""What a training batch holds besides MNIST as it is: random augmentation, and the synthetic drawn digits and
non-digits (`Pools`) mixed into every batch."""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from src.training.recipes import Recipe


def _dilate(x: torch.Tensor) -> torch.Tensor:
    """3x3 grey-scale dilation of (N, 1, H, W) images, their surroundings counted as 0. PyTorch's CPU pooling is
    slow on one-channel maps (docs/kernels.md), so the batch is pooled as the channels of one channels-last map."""
    n, _, h, w = x.shape
    batch = F.pad(x, (1, 1, 1, 1)).view(1, n, h + 2, w + 2).contiguous(memory_format=torch.channels_last)
    return F.max_pool2d(batch, 3, stride=1).view(n, 1, h, w).contiguous()


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random rotation (±12°), scale (0.85–1.15), shear, shift (±2.5 px) and stroke width, batched on the device.

    Drawings differ from MNIST in slant, size, placement and brush width; this teaches the
    network to shrug those off. `images` is (N, 1, 28, 28) float in [0, 1].
    """
    n, _, h, w = images.shape
    device = images.device

    def uniform(low, high):
        return torch.rand(n, device=device, generator=generator) * (high - low) + low

    angle = uniform(-12, 12) * math.pi / 180
    scale = uniform(0.85, 1.15)
    shear = uniform(-0.15, 0.15)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [
            torch.stack([cos, -sin + shear * cos, uniform(-2.5, 2.5) * 2 / w], dim=1),
            torch.stack([sin, cos + shear * sin, uniform(-2.5, 2.5) * 2 / h], dim=1),
        ],
        dim=1,
    )
    grid = F.affine_grid(theta, [n, 1, h, w], align_corners=False)
    images = F.grid_sample(images, grid, align_corners=False, padding_mode="zeros")
    # Stroke width: thicken a quarter of the batch, thin another quarter.
    width = torch.rand(n, 1, 1, 1, device=device, generator=generator)
    images = torch.where(width < 0.25, 0.5 * (images + _dilate(images)), images)
    images = torch.where(width > 0.75, 0.5 * (images - _dilate(-images)), images)
    return images


@dataclass
class Pools:
    """Synthetic training images on the training device: drawn digits (uint8 (N, 28, 28)) with labels, and
    non-digits (uint8 (M, 28, 28)). From src.data.pools.training_pools."""

    drawn: torch.Tensor
    labels: torch.Tensor
    outliers: torch.Tensor

    @classmethod
    def from_numpy(cls, drawn, labels, outliers, device="cpu"):
        return cls(*(torch.from_numpy(a).to(device) for a in (drawn, labels, outliers)))

    def mix(self, x, labels, recipe: Recipe, generator: torch.Generator, augmented: bool):
        """Append drawn digits (with their labels) and then non-digits (no labels) to a batch of float images."""

        def pick(images, n):
            i = torch.randint(len(images), (n,), device=images.device, generator=generator)
            picked = images[i].unsqueeze(1).float().div_(255)
            return (augment(picked, generator) if augmented else picked), i

        extra = []
        if recipe.drawn_per_batch and len(self.drawn):
            drawn, i = pick(self.drawn, recipe.drawn_per_batch)
            extra.append(drawn)
            labels = torch.cat([labels, self.labels[i]])
        if recipe.outliers_per_batch and recipe.outlier_weight and len(self.outliers):
            extra.append(pick(self.outliers, recipe.outliers_per_batch)[0])
        return torch.cat([x, *extra]), labels
