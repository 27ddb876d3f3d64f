"""The course backbone and the small heads put on top of it.

Every method in Notebooks 1 and 2 uses the same :class:`SmallConvNet`, so the linear-probe
accuracies compare pretext tasks, not architectures.
"""

from __future__ import annotations

import torch
from torch import nn

#: Size of the representation ``h`` that the backbone returns.
FEATURE_DIM = 256


def conv_block(c_in: int, c_out: int, pool: bool) -> nn.Sequential:
    """3x3 convolution (padding 1) + BatchNorm + ReLU, optionally followed by 2x2 max-pooling."""
    layers = [nn.Conv2d(c_in, c_out, kernel_size=3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class SmallConvNet(nn.Module):
    """The seed course's backbone: three conv blocks and a linear layer to a 256-d vector.

    Conv(3->32)+BN+ReLU -> Conv(32->64)+BN+ReLU+MaxPool -> Conv(64->128)+BN+ReLU+MaxPool ->
    AdaptiveAvgPool(4) -> Linear(2048, 256). 618,240 parameters.

    Args:
        feature_dim: size of the output representation.

    Shape:
        - Input: ``[B, 3, H, W]`` normalised images (32x32 for CIFAR-10).
        - Output: ``[B, feature_dim]``, the representation ``h``.
    """

    def __init__(self, feature_dim: int = FEATURE_DIM):
        super().__init__()
        self.feature_dim = feature_dim
        self.features = nn.Sequential(
            conv_block(3, 32, pool=False),
            conv_block(32, 64, pool=True),
            conv_block(64, 128, pool=True),
            nn.AdaptiveAvgPool2d(4),
        )
        self.fc = nn.Linear(128 * 4 * 4, feature_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.features(x), 1))


class Classifier(nn.Module):
    """A backbone followed by a linear head: used for supervised training and pretext tasks.

    Args:
        backbone: maps images to ``[B, D]`` representations.
        num_outputs: classes of the task (10 for CIFAR-10, 4 rotations, 24 permutations).
        feature_dim: ``D``.

    Shape:
        ``[B, 3, H, W] -> [B, num_outputs]`` logits.
    """

    def __init__(self, backbone: nn.Module, num_outputs: int, feature_dim: int = FEATURE_DIM):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(feature_dim, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
