"""Evaluating a frozen representation: feature extraction, the linear probe, and how the probe
does with few labels (:func:`label_efficiency`).

The linear probe is multinomial logistic regression on standardised features, fitted by
full-batch L-BFGS in torch, so it runs on the GPU when there is one. Its objective is
scikit-learn's ``LogisticRegression(C=1.0)`` (cross-entropy summed over samples plus
``||W||^2 / 2C``), divided by ``N`` for numerical comfort, so results agree with the usual
scikit-learn probe. On a GPU, many independent probes (a label-efficiency curve) are fitted
together as one problem (:func:`fit_logistic_regressions`).
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

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
            feats.append(h.float())  # kept on the device: one copy to the CPU at the end, not one wait per batch
            labels.append(torch.as_tensor(y))
    finally:
        model.train(was_training)
    return torch.cat(feats).cpu(), torch.cat([y.cpu() for y in labels]).long()


def standardize(train: torch.Tensor, test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero mean, unit variance per feature, with statistics from the training features only."""
    mean = train.mean(0, keepdim=True)
    std = train.std(0, keepdim=True).clamp_min(1e-6)
    return (train - mean) / std, (test - mean) / std


def fit_logistic_regressions(xs: Sequence[torch.Tensor], ys: Sequence[torch.Tensor], num_classes: int,
                              C: float = 1.0, max_iter: int = 500) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Several independent multinomial logistic regressions with an L2 penalty, fitted as one problem.

    Problem ``p`` minimises ``mean(CE(x_p W_p + b_p, y_p)) + ||W_p||^2 / (2 C N_p)``:
    scikit-learn's objective divided by ``N_p``. One L-BFGS run minimises the *sum* of these
    objectives. The problems share no parameter, so the sum is smallest exactly where each of
    them is: the same solutions as separate fits, from one sequence of loss evaluations instead
    of one per problem. On a GPU, where each small evaluation costs a few kernel launches and a
    wait for the result, that is what the time is made of. Problems of equal size are stacked and
    evaluated with one batched matrix product.

    Args:
        xs: features ``[N_p, D]`` of each problem (standardise them first), on one device.
        ys: labels ``[N_p]`` in ``[0, num_classes)``.
        num_classes: number of classes.
        C: inverse regularisation strength, as in scikit-learn.
        max_iter: L-BFGS iterations of the joint run.

    Returns:
        ``[(W_p, b_p)]``: ``[D, num_classes]`` and ``[num_classes]`` for each problem, in order.
    """
    groups: dict[tuple[int, ...], list[int]] = {}
    for p, x in enumerate(xs):
        groups.setdefault(tuple(x.shape), []).append(p)
    packed = []
    for (n, d), members in groups.items():
        x = torch.stack([xs[p] for p in members])  # [G, n, D]
        y = torch.stack([ys[p] for p in members]).reshape(-1)  # [G * n]
        weight = torch.zeros(len(members), d, num_classes, device=x.device, requires_grad=True)
        bias = torch.zeros(len(members), 1, num_classes, device=x.device, requires_grad=True)
        packed.append((members, x, y, weight, bias))
    params = [t for _, _, _, weight, bias in packed for t in (weight, bias)]
    optimizer = torch.optim.LBFGS(params, lr=1, max_iter=max_iter, history_size=20, tolerance_grad=1e-6,
                                  tolerance_change=1e-9, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = 0.0
        for _, x, y, weight, bias in packed:
            n = x.shape[1]
            logits = torch.baddbmm(bias, x, weight)  # [G, n, K]
            loss = loss + (F.cross_entropy(logits.reshape(-1, num_classes), y, reduction="sum")
                           + weight.pow(2).sum() / (2.0 * C)) / n
        loss.backward()
        return loss

    optimizer.step(closure)
    out: list = [None] * len(xs)
    for members, _, _, weight, bias in packed:
        for g, p in enumerate(members):
            out[p] = (weight[g].detach(), bias[g, 0].detach())
    return out


def fit_logistic_regression(x: torch.Tensor, y: torch.Tensor, num_classes: int, C: float = 1.0,
                            max_iter: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression with an L2 penalty, fitted by L-BFGS.

    Minimises ``mean(CE(xW + b, y)) + ||W||^2 / (2 C N)``: scikit-learn's objective divided
    by ``N`` (:func:`fit_logistic_regressions` with one problem).

    Args:
        x: features ``[N, D]`` (standardise them first).
        y: labels ``[N]`` in ``[0, num_classes)``.
        num_classes: number of classes.
        C: inverse regularisation strength, as in scikit-learn.
        max_iter: L-BFGS iterations.

    Returns:
        ``(W, b)``: ``[D, num_classes]`` and ``[num_classes]``.
    """
    return fit_logistic_regressions([x], [y], num_classes, C=C, max_iter=max_iter)[0]


#: One linear-probe problem: ``(train_feats [N, D], train_labels [N], test_feats [M, D], test_labels [M])``.
Probe = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def linear_probes(problems: Sequence[Probe], device: torch.device | None = None, C: float = 1.0,
                  max_iter: int = 500, joint: bool | None = None) -> list[float]:
    """Test accuracies of several independent linear probes; on a GPU, fitted together as one problem.

    Each probe is standardised with its own training statistics and fitted as in
    :func:`linear_probe`. On a GPU all of them are fitted by one :func:`fit_logistic_regressions`
    run: there the time goes into L-BFGS's loss evaluations (kernel launches and waits), and one
    joint fit needs several times fewer of them than separate fits. On a CPU the time goes into
    arithmetic, which a joint fit does more of (every evaluation touches every problem), so each
    probe gets its own run there (``benchmarks/label_efficiency_cost.py`` measured the joint fit
    about 2x slower on a CPU). The solutions are the same either way.

    Args:
        problems: ``(train_feats, train_labels, test_feats, test_labels)`` of each probe.
        device: where to fit (the GPU if there is one, by default).
        C: inverse L2 strength, as in scikit-learn's ``LogisticRegression``.
        max_iter: L-BFGS iterations of the joint run.
        joint: one fit for all (True) or one per probe (False); by default, joint on a GPU.

    Returns:
        The test accuracy of each probe, in [0, 1], in order.
    """
    device = device or runtime.get_device()
    train, test = [], []
    for train_feats, train_labels, test_feats, test_labels in problems:
        xtr, xte = standardize(train_feats.float().to(device), test_feats.float().to(device))
        train.append((xtr, train_labels.long().to(device)))
        test.append((xte, test_labels.long().to(device)))
    num_classes = int(max(max(int(y.max()) for _, y in train), max(int(y.max()) for _, y in test))) + 1
    with torch.enable_grad():
        if not (device.type != "cpu" if joint is None else joint):
            fitted = [fit_logistic_regression(x, y, num_classes, C=C, max_iter=max_iter) for x, y in train]
        else:
            fitted = fit_logistic_regressions([x for x, _ in train], [y for _, y in train], num_classes, C=C,
                                              max_iter=max_iter)
    correct = torch.stack([((xte @ weight + bias).argmax(1) == yte).float().mean()
                           for (xte, yte), (weight, bias) in zip(test, fitted)])
    return correct.tolist()  # one read of every accuracy


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
    return linear_probes([(train_feats, train_labels, test_feats, test_labels)], device, C=C, max_iter=max_iter)[0]


def label_subsets(train_labels: torch.Tensor, per_class: tuple[int, ...], draws: int,
                  seed: int) -> list[tuple[int, torch.Tensor]]:
    """The labelled subsets of a label-efficiency curve: ``draws`` class-balanced draws of ``k``
    images per class for each budget ``k`` smaller than the smallest class.

    Returns:
        ``[(k, index)]``, ``index`` int64 ``[k * classes]`` into the training set, budget by budget.
    """
    labels = train_labels.long().cpu()
    by_class = [torch.nonzero(labels == c).flatten() for c in labels.unique()]
    smallest = min(len(members) for members in by_class)
    g = torch.Generator().manual_seed(seed)
    return [(k, torch.cat([members[torch.randperm(len(members), generator=g)[:k]] for members in by_class]))
            for k in per_class if k < smallest for _ in range(draws)]


def label_efficiency_many(features: Mapping[str, Probe], per_class: tuple[int, ...] = (10, 100, 1000),
                          draws: int = 3, device: torch.device | None = None, seed: int = 0,
                          max_iter: int = 500, joint: bool | None = None) -> dict[str, dict[int, list[float]]]:
    """:func:`label_efficiency` of several representations, all their probes fitted as one problem.

    Args:
        features: ``{name: (train_feats, train_labels, test_feats, test_labels)}``.
        per_class, draws, device, seed, max_iter: as in :func:`label_efficiency` (every
            representation gets the same subsets when its training labels are the same).
        joint: as in :func:`linear_probes`.

    Returns:
        ``{name: {k: [accuracy of each draw]}}``.
    """
    problems, slots = [], []
    for name, (train_feats, train_labels, test_feats, test_labels) in features.items():
        labels = train_labels.long().cpu()
        for k, index in label_subsets(labels, per_class, draws, seed):
            problems.append((train_feats[index], labels[index], test_feats, test_labels))
            slots.append((name, k))
    accuracies = linear_probes(problems, device, max_iter=max_iter, joint=joint) if problems else []
    curves: dict[str, dict[int, list[float]]] = {name: {} for name in features}
    for (name, k), accuracy in zip(slots, accuracies):
        curves[name].setdefault(k, []).append(accuracy)
    return curves


def label_efficiency(train_feats: torch.Tensor, train_labels: torch.Tensor, test_feats: torch.Tensor,
                     test_labels: torch.Tensor, per_class: tuple[int, ...] = (10, 100, 1000), draws: int = 3,
                     device: torch.device | None = None, seed: int = 0, max_iter: int = 500) -> dict[int, list[float]]:
    """Linear-probe test accuracy when only a few training images per class carry a label.

    For each budget ``k`` in ``per_class``, ``draws`` random class-balanced subsets of ``k``
    labelled training images per class are drawn, and a linear probe (as :func:`linear_probe`,
    standardised with that subset's statistics) is fitted on each and scored on the whole test
    set. On a GPU all these probes are fitted together as one problem (:func:`linear_probes`). A budget
    that is not smaller than the smallest class is left out: that is the probe on all labels.

    Args:
        train_feats: ``[N, D]`` features of the training images.
        train_labels: ``[N]`` their classes.
        test_feats: ``[M, D]``.
        test_labels: ``[M]``.
        per_class: labelled images per class, e.g. ``(10, 100, 1000)``.
        draws: random subsets per budget.
        device: where to fit.
        seed: of the subsets (the same subsets for every method given the same labels).
        max_iter: L-BFGS iterations of the joint fit.

    Returns:
        ``{k: [accuracy of each draw]}`` for every budget kept, accuracies in [0, 1].
    """
    return label_efficiency_many({"": (train_feats, train_labels, test_feats, test_labels)}, per_class, draws,
                                 device, seed, max_iter)[""]
