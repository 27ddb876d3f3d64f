"""Watching a self-supervised run: k-NN accuracy of the backbone's features after every epoch.

The training loss of a self-supervised method says how well the network solves its own task,
not how useful its features are. SSL libraries (solo-learn, lightly) therefore offer a cheap
proxy that runs during training: a k-nearest-neighbour classifier on the current features of a
few labelled images. :class:`KNNMonitor` does that here. It
is a plain majority vote of the ``k`` most cosine-similar memory images; Notebook 3 asks you to
write the weighted vote that DINO uses.

The monitor hooks into :func:`selfsup.train.fit` without changing it: :meth:`KNNMonitor.watch`
wraps the training loader, and the wrapper measures once each pass over the loader is over,
after the epoch's last optimiser step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from .data import ImageTensorDataset
from .probe import extract_features


def knn_vote(memory_feats: torch.Tensor, memory_labels: torch.Tensor, query_feats: torch.Tensor,
             k: int = 20) -> torch.Tensor:
    """Majority vote of the ``k`` most cosine-similar memory points (ties: the smallest class).

    Args:
        memory_feats: ``[N, D]`` features of labelled images.
        memory_labels: ``[N]`` their classes.
        query_feats: ``[M, D]`` features to classify (same device as ``memory_feats``).
        k: voters per query (at most ``N``).

    Returns:
        int64 ``[M]``: the predicted class of each query.
    """
    memory = F.normalize(memory_feats.float(), dim=1)
    query = F.normalize(query_feats.float(), dim=1)
    labels = memory_labels.to(memory.device).long()
    nearest = (query @ memory.T).topk(min(k, len(memory)), dim=1).indices
    votes = F.one_hot(labels[nearest], int(labels.max()) + 1).sum(1)
    return votes.argmax(1)


@dataclass
class KNNMonitor:
    """k-NN accuracy of a backbone's features on held-out images, measured before training and after every epoch.

    Args:
        memory: labelled images whose features vote, e.g. a slice of the training split.
        queries: held-out labelled images that are classified, e.g. a slice of the test split.
        device: where to compute the features.
        k: voters per query.

    Attributes:
        accuracies: one accuracy in [0, 1] per measurement, in order (with :meth:`watch`: before
            training, then after each epoch).

    Example:
        >>> knn = KNNMonitor(memory, queries, device)
        >>> history = train.fit(model, knn.watch(loader, model.backbone), step, num_epochs, lr, device)
        >>> knn.accuracies  # num_epochs + 1 values
    """

    memory: ImageTensorDataset
    queries: ImageTensorDataset
    device: torch.device
    k: int = 20
    accuracies: list[float] = field(default_factory=list)

    def measure(self, backbone: nn.Module) -> float:
        """k-NN accuracy of ``backbone``'s current features (eval mode, its mode restored after); also recorded."""
        memory_feats, memory_labels = extract_features(backbone, self.memory, self.device)
        query_feats, query_labels = extract_features(backbone, self.queries, self.device)
        predicted = knn_vote(memory_feats.to(self.device), memory_labels, query_feats.to(self.device), self.k)
        accuracy = (predicted.cpu() == query_labels).float().mean().item()
        self.accuracies.append(accuracy)
        return accuracy

    def watch(self, loader, backbone: nn.Module) -> "_Watched":
        """Measure ``backbone`` now, then after every complete pass over the returned loader.

        Pass the result to ``train.fit`` instead of ``loader``. Measuring draws no random numbers,
        so the training run is the same as without the monitor.
        """
        self.measure(backbone)
        return _Watched(loader, self, backbone)


class _Watched:
    """A loader that calls its monitor's :meth:`KNNMonitor.measure` each time a pass over it ends."""

    def __init__(self, loader, monitor: KNNMonitor, backbone: nn.Module):
        self.loader, self.monitor, self.backbone = loader, monitor, backbone

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        yield from self.loader
        # fit asks for the next batch only after the optimiser step of the last one: the epoch is over
        self.monitor.measure(self.backbone)
