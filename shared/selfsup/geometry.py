"""How a batch of representations is spread out: cosine similarities, with or without centring,
and how much of the batch lies along its common (mean) direction.

A randomly initialised network maps every input to nearly the same direction: its outputs share
one large component, so all their cosine similarities are close to 1, although the linear probe,
which centres (standardises) the features first, reads them well (Notebook 2, Part 5).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def cosine_similarities(features: torch.Tensor, centre: bool = False) -> torch.Tensor:
    """Cosine similarity of every pair of rows.

    Args:
        features: ``[N, D]``.
        centre: subtract the mean row of the batch first, so that what every row shares does not count.

    Returns:
        float32 ``[N, N]`` on the features' device, ones on the diagonal.
    """
    x = features.float()
    if centre:
        x = x - x.mean(0, keepdim=True)
    x = F.normalize(x, dim=1)
    return x @ x.T


def mean_direction_share(features: torch.Tensor) -> float:
    """The share of the batch's energy along its mean: ``|mean row|^2 / mean(|row|^2)``, in [0, 1].

    1 means every row is the same vector; about ``1 / N`` for rows that point in random directions.

    Args:
        features: ``[N, D]``.
    """
    x = features.float()
    return (x.mean(0).pow(2).sum() / x.pow(2).sum(1).mean().clamp_min(1e-30)).item()


def off_diagonal(similarities: torch.Tensor) -> torch.Tensor:
    """The ``N * (N - 1)`` entries of an ``[N, N]`` matrix that are not on its diagonal, as a vector."""
    n = similarities.shape[0]
    return similarities[~torch.eye(n, dtype=torch.bool, device=similarities.device)]
