"""Evaluating a frozen representation: feature extraction, the linear probe, and how the probe
does with few labels (:func:`label_efficiency`).

The linear probe is multinomial logistic regression on standardised features, fitted by
full-batch L-BFGS in torch, so it runs on the GPU when there is one. Its objective is
scikit-learn's ``LogisticRegression(C=1.0)`` (cross-entropy summed over samples plus
``||W||^2 / 2C``), divided by ``N`` for numerical comfort, so results agree with the usual
scikit-learn probe.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn
from torch.nn import functional as F

from . import runtime
from .data import DeviceLoader, ImageTensorDataset


@torch.no_grad()
def extract_features(model: nn.Module, data: ImageTensorDataset | Iterable, device: torch.device,
                     batch_size: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Representations of every image, computed in eval mode without gradients.

    The model's train/eval state is restored afterwards, and eval mode means BatchNorm uses
    (and never updates) its running statistics, so extracting features has no side effect.

    Args:
        model: maps ``[B, 3, H, W]`` images to ``[B, D]`` features.
        data: an :class:`~selfsup.data.ImageTensorDataset` or any iterable of ``(x, y)`` batches.
        device: where to run the model.
        batch_size: images per forward pass (for a dataset).

    Returns:
        ``(features, labels)``: float32 ``[N, D]`` and int64 ``[N]``, on the CPU.
    """
    if isinstance(data, ImageTensorDataset):
        data = DeviceLoader(data.to(device), batch_size)
    was_training = model.training
    model.eval()
    model.to(device)
    feats, labels = [], []
    try:
        for x, y in data:
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=device.type == "cuda"):
                h = model(x.to(device, non_blocking=True))
            feats.append(h.float().cpu())
            labels.append(torch.as_tensor(y).cpu())
    finally:
        model.train(was_training)
    return torch.cat(feats), torch.cat(labels).long()


def standardize(train: torch.Tensor, test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero mean, unit variance per feature, with statistics from the training features only."""
    mean = train.mean(0, keepdim=True)
    std = train.std(0, keepdim=True).clamp_min(1e-6)
    return (train - mean) / std, (test - mean) / std


def fit_logistic_regression(x: torch.Tensor, y: torch.Tensor, num_classes: int, C: float = 1.0,
                            max_iter: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression with an L2 penalty, fitted by L-BFGS.

    Minimises ``mean(CE(xW + b, y)) + ||W||^2 / (2 C N)``: scikit-learn's objective divided
    by ``N``.

    Args:
        x: features ``[N, D]`` (standardise them first).
        y: labels ``[N]`` in ``[0, num_classes)``.
        num_classes: number of classes.
        C: inverse regularisation strength, as in scikit-learn.
        max_iter: L-BFGS iterations.

    Returns:
        ``(W, b)``: ``[D, num_classes]`` and ``[num_classes]``.
    """
    n, d = x.shape
    weight = torch.zeros(d, num_classes, device=x.device, requires_grad=True)
    bias = torch.zeros(num_classes, device=x.device, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1, max_iter=max_iter, history_size=20,
                                  tolerance_grad=1e-6, tolerance_change=1e-9, line_search_fn="strong_wolfe")
    penalty = 1.0 / (2.0 * C * n)

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(x @ weight + bias, y) + penalty * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weight.detach(), bias.detach()


def linear_probe(train_feats: torch.Tensor, train_labels: torch.Tensor, test_feats: torch.Tensor,
                 test_labels: torch.Tensor, device: torch.device | None = None, C: float = 1.0,
                 max_iter: int = 500) -> float:
    """Test accuracy of a linear classifier trained on frozen, standardised features.

    Args:
        train_feats: ``[N, D]``.
        train_labels: ``[N]``.
        test_feats: ``[M, D]``.
        test_labels: ``[M]``.
        device: where to fit (the GPU if there is one, by default).
        C: inverse L2 strength, as in scikit-learn's ``LogisticRegression``.
        max_iter: L-BFGS iterations.

    Returns:
        Accuracy on the test features, in [0, 1].
    """
    device = device or runtime.get_device()
    xtr, xte = standardize(train_feats.float().to(device), test_feats.float().to(device))
    ytr, yte = train_labels.long().to(device), test_labels.long().to(device)
    num_classes = int(max(ytr.max(), yte.max())) + 1
    with torch.enable_grad():
        weight, bias = fit_logistic_regression(xtr, ytr, num_classes, C=C, max_iter=max_iter)
    pred = (xte @ weight + bias).argmax(1)
    return (pred == yte).float().mean().item()



def label_efficiency(train_feats: torch.Tensor, train_labels: torch.Tensor, test_feats: torch.Tensor,
                     test_labels: torch.Tensor, per_class: tuple[int, ...] = (10, 100, 1000), draws: int = 3,
                     device: torch.device | None = None, seed: int = 0, max_iter: int = 500) -> dict[int, list[float]]:
    """Linear-probe test accuracy when only a few training images per class carry a label.

    For each budget ``k`` in ``per_class``, ``draws`` random class-balanced subsets of ``k``
    labelled training images per class are drawn, and :func:`linear_probe` is fitted on each
    (standardised with that subset's statistics) and scored on the whole test set. A budget that
    is not smaller than the smallest class is left out: that is the probe on all labels.

    Args:
        train_feats: ``[N, D]`` features of the training images.
        train_labels: ``[N]`` their classes.
        test_feats: ``[M, D]``.
        test_labels: ``[M]``.
        per_class: labelled images per class, e.g. ``(10, 100, 1000)``.
        draws: random subsets per budget.
        device: where to fit.
        seed: of the subsets (the same subsets for every method given the same labels).
        max_iter: L-BFGS iterations of each probe.

    Returns:
        ``{k: [accuracy of each draw]}`` for every budget kept, accuracies in [0, 1].
    """
    labels = train_labels.long().cpu()
    by_class = [torch.nonzero(labels == c).flatten() for c in labels.unique()]
    smallest = min(len(members) for members in by_class)
    g = torch.Generator().manual_seed(seed)
    curves = {}
    for k in per_class:
        if k >= smallest:
            continue
        curves[k] = []
        for _ in range(draws):
            index = torch.cat([members[torch.randperm(len(members), generator=g)[:k]] for members in by_class])
            curves[k].append(linear_probe(train_feats[index], labels[index], test_feats, test_labels, device,
                                          max_iter=max_iter))
    return curves
