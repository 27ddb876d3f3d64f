"""selfsup.tsne: the exact t-SNE in torch against its definition and against scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.manifold import TSNE, trustworthiness

from selfsup import tsne, viz


def _blobs(n_per: int = 40, d: int = 10, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    centres = 6 * torch.randn(3, d, generator=g)
    return torch.cat([c + torch.randn(n_per, d, generator=g) for c in centres])


def _conditional(x: torch.Tensor, perplexity: float) -> torch.Tensor:
    """Rows of Gaussian affinities with the given perplexity, by bisection on the log-precision, in float64."""
    d = torch.cdist(x.double(), x.double()).pow(2).fill_diagonal_(float("inf"))
    low, high = torch.full((len(x), 1), -20.0, dtype=torch.float64), torch.full((len(x), 1), 20.0, dtype=torch.float64)
    for _ in range(100):
        middle = (low + high) / 2
        q = torch.softmax(-d * middle.exp(), 1)
        entropy = -(q * q.clamp_min(1e-300).log()).sum(1, keepdim=True)
        low, high = torch.where(entropy > math.log(perplexity), middle, low), torch.where(entropy > math.log(perplexity),
                                                                                           high, middle)
    return q


def test_affinities_are_the_symmetrised_rows_of_the_asked_perplexity():
    x = _blobs()
    p = tsne.joint_probabilities(x, perplexity=10.0)
    q = _conditional(x, 10.0)
    expected = (q + q.T) / (q + q.T).sum()
    assert p.shape == (120, 120) and p.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert torch.allclose(p.double(), expected.clamp_min(1e-12), rtol=1e-3, atol=1e-9)


def test_embedding_keeps_neighbours_as_well_as_scikit_learn():
    x = _blobs()
    ours = tsne.tsne(x, perplexity=10.0, max_iter=500).numpy()
    ref = TSNE(2, perplexity=10.0, init="pca", learning_rate="auto", max_iter=500, random_state=0).fit_transform(x.numpy())
    assert ours.shape == (120, 2) and np.isfinite(ours).all()
    assert trustworthiness(x.numpy(), ours, n_neighbors=5) >= trustworthiness(x.numpy(), ref, n_neighbors=5) - 0.01
    labels = np.repeat(np.arange(3), 40)
    centres = np.stack([ours[labels == c].mean(0) for c in range(3)])
    nearest = np.linalg.norm(ours[:, None] - centres[None], axis=2).argmin(1)
    assert (nearest == labels).mean() > 0.95  # the three blobs stay apart


def test_viz_uses_scikit_learn_on_a_cpu():
    emb = viz.tsne_embed(_blobs(), device=torch.device("cpu"))
    assert emb.shape == (120, 2)
