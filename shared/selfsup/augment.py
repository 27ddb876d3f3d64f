"""Augmentations of whole batches on any device, with an independent random draw per image.

``torchvision.transforms.v2`` applied to a batched tensor draws ONE set of random parameters
for the whole batch (every image flipped, or none), which is not what training wants. The
functions here draw per sample and run as a few tensor operations on the batch's device.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def random_flip(x: torch.Tensor, p: float = 0.5, generator: torch.Generator | None = None) -> torch.Tensor:
    """Flip each image of ``x`` ``[B, C, H, W]`` horizontally with probability ``p``."""
    flip = torch.rand(x.shape[0], device=x.device, generator=generator) < p
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)


def random_crop(x: torch.Tensor, padding: int = 4, generator: torch.Generator | None = None) -> torch.Tensor:
    """Pad each image by ``padding`` (reflection) and cut a random crop of the original size.

    Args:
        x: ``[B, C, H, W]``.
        padding: pixels added on each side before cropping.

    Returns:
        ``[B, C, H, W]``; image ``i`` is shifted by its own random offset.
    """
    b, _, h, w = x.shape
    padded = F.pad(x, (padding,) * 4, mode="reflect")
    dy = torch.randint(0, 2 * padding + 1, (b,), device=x.device, generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (b,), device=x.device, generator=generator)
    rows = (dy.view(b, 1) + torch.arange(h, device=x.device)).view(b, 1, h, 1)
    cols = (dx.view(b, 1) + torch.arange(w, device=x.device)).view(b, 1, 1, w)
    batch = torch.arange(b, device=x.device).view(b, 1, 1, 1)
    channels = torch.arange(x.shape[1], device=x.device).view(1, -1, 1, 1)
    return padded[batch, channels, rows, cols]


def crop_and_flip(x: torch.Tensor) -> torch.Tensor:
    """The standard CIFAR training augmentation: random crop (padding 4) and horizontal flip."""
    return random_flip(random_crop(x))
