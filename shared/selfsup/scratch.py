"""The baseline a label-efficiency curve must beat: the same network trained from scratch on the
same few labels.

A frozen representation that reaches some accuracy with 10 labelled images per class is only
worth its pretraining if those 10 images, used on their own, give less. :func:`from_scratch`
trains a fresh ``SmallConvNet`` with a linear head on exactly the labelled subsets that
:func:`selfsup.probe.label_efficiency` draws (:func:`labelled_subsets`, same seed), with the
crop-and-flip augmentation of the supervised baseline, for the same number of optimiser steps at
every budget, and scores it on the whole test set. UvA's SimCLR tutorial and the Keras SimCLR
example make the same comparison.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from . import augment, runtime, train
from .data import DeviceLoader, ImageTensorDataset
from .models import Classifier, SmallConvNet


def labelled_subsets(labels: torch.Tensor, per_class: tuple[int, ...], draws: int, seed: int = 0) -> dict[int, list[torch.Tensor]]:
    """The class-balanced subsets the probes of :func:`selfsup.probe.label_efficiency` are fitted on
    with the same ``seed`` (one definition: :func:`selfsup.probe.label_subsets`), grouped by budget.

    Args:
        labels: ``[N]`` classes of the training images.
        per_class: labelled images per class, e.g. ``(10, 100, 1000)``.
        draws: subsets per budget.
        seed: of the generator.

    Returns:
        ``{k: [index [k * classes] of each draw]}``; a budget not smaller than the smallest class is left out.
    """
    from .probe import label_subsets

    out: dict[int, list[torch.Tensor]] = {}
    for k, index in label_subsets(labels, per_class, draws, seed):
        out.setdefault(k, []).append(index)
    return out


def describe(curve: dict[int, list[float]]) -> str:
    """A curve as text: ``"10 per class 25.3% (1 run), 100 per class ..."`` (mean over the runs)."""
    return ", ".join(f"{k} per class {100 * sum(a) / len(a):.1f}% ({len(a)} run{'s' if len(a) > 1 else ''})"
                     for k, a in curve.items())


def _classification_step(model, batch):
    x, y = batch
    return F.cross_entropy(model(augment.crop_and_flip(x)), y)


def train_on_labels(train_set: ImageTensorDataset, index: torch.Tensor, steps: int, device: torch.device,
                    seed: int = 0, lr: float = 2e-3, batch_size: int = 128) -> Classifier:
    """A fresh ``SmallConvNet`` + linear head trained on ``train_set``'s images ``index`` only.

    Args:
        train_set: the training split.
        index: which of its images carry a label here.
        steps: optimiser steps (at least; whole passes over the subset, shuffled, batch
            ``min(batch_size, len(index))``).
        device: where to train.
        seed: of the weights and the shuffling.
        lr: peak learning rate of :func:`selfsup.train.fit`'s one-cycle schedule.
        batch_size: images per step when the subset has more.
    """
    subset = ImageTensorDataset(train_set.images[index.to(train_set.images.device)], train_set.labels[index],
                                train_set.device)
    loader = DeviceLoader(subset, min(batch_size, len(subset)), shuffle=True, drop_last=True, seed=seed)
    runtime.seed_everything(seed)
    model = Classifier(SmallConvNet(), num_outputs=int(train_set.labels.max()) + 1)
    epochs = -(-steps // len(loader))
    train.fit(model, loader, _classification_step, epochs, lr, device, desc=f"from scratch, {len(subset)} labels")
    return model


def from_scratch(train_set: ImageTensorDataset, test_set: ImageTensorDataset, per_class: tuple[int, ...] = (10, 100, 1000),
                 draws: int = 3, steps: int = 500, device: torch.device | None = None, seed: int = 0,
                 lr: float = 2e-3, runs: int | None = None) -> dict[int, list[float]]:
    """Test accuracy of the network trained from scratch on few labels, in the shape of a label-efficiency curve.

    Args:
        train_set: the training split (its labels pick the subsets).
        test_set: scored whole.
        per_class: labelled images per class.
        draws: subsets per budget, drawn as the probes draw them (see :func:`labelled_subsets`).
        steps: optimiser steps of every run, the same at every budget.
        device: where to train.
        seed: of the subsets (as for the probes) and of every run's weights.
        lr: peak learning rate.
        runs: train on the first ``runs`` subsets of each budget only (all ``draws`` by default),
            so that a cheaper baseline still uses the probes' own subsets.

    Returns:
        ``{k: [test accuracy of each run]}``, accuracies in [0, 1].
    """
    device = device or runtime.get_device()
    test_loader = DeviceLoader(test_set.to(device), 512)
    curve = {}
    for k, subsets in labelled_subsets(train_set.labels, per_class, draws, seed).items():
        curve[k] = [train.accuracy(train_on_labels(train_set, index, steps, device, seed=seed + d, lr=lr),
                                   test_loader, device)
                    for d, index in enumerate(subsets[:runs])]
    return curve
