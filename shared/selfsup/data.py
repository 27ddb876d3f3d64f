"""CIFAR-10 as tensors: loading, normalisation, a per-sample dataset and a batched device loader.

Two ways to read a split, both from one uint8 tensor of images:

* ``dataset[i]`` gives ``(x, y)`` of one image, to look at and to plot;
* ``dataset.batch(index)`` gives a whole batch with a few tensor operations on the device.
  :class:`DeviceLoader` cuts the split into batches this way, from a permutation drawn on the
  device, for any dataset with a ``batch`` method (the pretext datasets of Notebook 1 too). No
  per-image Python runs and the host never waits for the GPU, so a Colab T4 is not starved by
  its 2 CPU cores.

In grading mode (see :mod:`selfsup.runtime`) :func:`load_cifar10` returns a few hundred
synthetic CIFAR-shaped images instead of downloading anything.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from . import runtime

CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)
#: Per-channel mean and standard deviation of the CIFAR-10 training images, in [0, 1] units.
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)

#: Sizes of the synthetic stand-in used in grading mode.
GRADING_TRAIN_SIZE = 400
GRADING_TEST_SIZE = 200

_CACHE_FILE = "cifar10_uint8.npz"


def data_dir() -> Path:
    """Where CIFAR-10 is cached: ``$SELFSUP_DATA``, else ``/content/data`` on Colab, else
    ``~/.cache/selfsup``."""
    if os.environ.get("SELFSUP_DATA"):
        return Path(os.environ["SELFSUP_DATA"]).expanduser()
    if runtime.on_colab():
        return Path("/content/data")
    return Path.home() / ".cache" / "selfsup"


_STATS: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}


def _stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR_MEAN and CIFAR_STD as tensors on ``x``'s device, shaped to broadcast over ``x``.

    They are made once per device and kept: a tensor made from Python numbers is a copy from
    host memory, which on a GPU would make every call wait.
    """
    if x.device not in _STATS:
        _STATS[x.device] = (torch.tensor(CIFAR_MEAN, device=x.device, dtype=torch.float32).view(1, 3, 1, 1),
                            torch.tensor(CIFAR_STD, device=x.device, dtype=torch.float32).view(1, 3, 1, 1))
    mean, std = _STATS[x.device]
    return (mean[0], std[0]) if x.dim() == 3 else (mean, std)


def normalize(x: torch.Tensor) -> torch.Tensor:
    """Map images to the normalised space every model here sees.

    Args:
        x: uint8 images in [0, 255] or float images in [0, 1]; shape ``[3, H, W]`` or
            ``[B, 3, H, W]``.

    Returns:
        float32 tensor of the same shape: ``(x - CIFAR_MEAN) / CIFAR_STD``.
    """
    if x.dtype == torch.uint8:
        x = x.float().div_(255.0)
    mean, std = _stats(x)
    return (x.float() - mean) / std


def denormalize(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`normalize`: back to [0, 1] pixel units (not clamped)."""
    mean, std = _stats(x)
    return x.float() * std + mean


def normalized_range(device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel bounds ``[1, 3, 1, 1]`` of normalised pixels: ``normalize(0)`` and ``normalize(1)``."""
    return normalize(torch.zeros(1, 3, 1, 1, device=device)), normalize(torch.ones(1, 3, 1, 1, device=device))


def synthetic_cifar(n: int, seed: int, num_classes: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-shaped synthetic images that carry class structure (a stand-in, not CIFAR-10).

    Each class has a fixed smooth colour pattern with an oriented gradient and a mark in one
    corner (so rotations and tile positions are recognisable); each image blends its class
    pattern with a random other class's, shifted by a few pixels, with random brightness and
    strong pixel noise, so that classes are learnable but not trivially separable. Labels are
    balanced.

    Args:
        n: number of images.
        seed: per-image randomness; class patterns are the same for every seed.
        num_classes: number of classes.

    Returns:
        ``(images, labels)``: uint8 ``[n, 3, 32, 32]`` and int64 ``[n]``.
    """
    protos = []
    for c in range(num_classes):
        g = torch.Generator().manual_seed(1000 + c)
        coarse = torch.rand(1, 3, 4, 4, generator=g)
        field = torch.nn.functional.interpolate(coarse, size=(32, 32), mode="bicubic",
                                                align_corners=False)[0]
        angle = 2 * np.pi * c / num_classes
        yy, xx = torch.meshgrid(torch.linspace(-1, 1, 32), torch.linspace(-1, 1, 32), indexing="ij")
        ramp = (np.cos(angle) * xx + np.sin(angle) * yy) * 0.35
        corner = ((xx > 0.3) & (yy < -0.3)).float() * 0.4  # an asymmetric mark: top-right
        protos.append((field + ramp + corner).clamp(0, 1))
    protos = torch.stack(protos)

    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % num_classes
    labels = labels[torch.randperm(n, generator=g)]
    distractor = protos[torch.randint(0, num_classes, (n,), generator=g)]
    x = 0.6 * protos[labels] + 0.4 * distractor
    shifts = torch.randint(-4, 5, (n, 2), generator=g)
    x = torch.stack([torch.roll(img, (int(s[0]), int(s[1])), dims=(1, 2)) for img, s in zip(x, shifts)])
    x = x * (0.8 + 0.4 * torch.rand(n, 1, 1, 1, generator=g))
    x = x + 0.2 * torch.randn(x.shape, generator=g)
    images = (x.clamp(0, 1) * 255).round().to(torch.uint8)
    return images, labels


def _load_real(train: bool, root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    cache = root / _CACHE_FILE
    split = "train" if train else "test"
    if cache.exists():
        with np.load(cache) as f:
            return torch.from_numpy(f[f"x_{split}"]), torch.from_numpy(f[f"y_{split}"]).long()
    from torchvision.datasets import CIFAR10

    ds = CIFAR10(str(root), train=train, download=True)
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
    return images, torch.tensor(ds.targets, dtype=torch.long)


def load_cifar10(train: bool, device: torch.device | str = "cpu") -> "ImageTensorDataset":
    """CIFAR-10 (full mode) or its synthetic stand-in (grading mode) as a dataset.

    Full mode reads ``cifar10_uint8.npz`` from :func:`data_dir` if it exists (arrays
    ``x_train, y_train, x_test, y_test``, images ``[N, 3, 32, 32]`` uint8), else downloads
    CIFAR-10 through torchvision into :func:`data_dir`.

    Args:
        train: the 50,000-image training split if True, else the 10,000-image test split.
        device: where the uint8 images live; ``"cuda"`` keeps the whole split on the GPU.

    Returns:
        An :class:`ImageTensorDataset`.
    """
    if runtime.is_grading():
        n, seed = (GRADING_TRAIN_SIZE, 1) if train else (GRADING_TEST_SIZE, 2)
        images, labels = synthetic_cifar(n, seed)
    else:
        root = data_dir()
        root.mkdir(parents=True, exist_ok=True)
        images, labels = _load_real(train, root)
    return ImageTensorDataset(images, labels, device=device)


class ImageTensorDataset(Dataset):
    """A split of images held as one uint8 tensor; yields normalised ``(x, y)`` pairs.

    Args:
        images: uint8 ``[N, 3, H, W]``.
        labels: int64 ``[N]``.
        device: where the images are kept, with a copy of the labels (``labels`` stays on the CPU).

    Shape:
        ``dataset[i]`` is ``(x, y)`` with ``x`` float32 ``[3, H, W]`` (normalised, on
        ``device``) and ``y`` a Python int; ``dataset.batch(index)`` is the batch of those.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, device: torch.device | str = "cpu"):
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be uint8 [N, 3, H, W], got {images.dtype} {tuple(images.shape)}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = images.to(device)
        self.labels = labels.long().cpu()
        self.device = torch.device(device)
        self._labels_on_device = self.labels.to(self.images.device)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return normalize(self.images[index]), int(self.labels[index])

    def batch(self, index) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised images ``[B, 3, H, W]`` and labels ``[B]`` (both on ``device``).

        Args:
            index: ``[B]`` integer indices; keep them on ``device`` (as :class:`DeviceLoader`
                does) and nothing is copied from the host. A list or range works too.
        """
        if not isinstance(index, torch.Tensor) or index.device != self.images.device:
            index = torch.as_tensor(index).to(self.images.device)
        return normalize(self.images[index]), self._labels_on_device[index]

    def subset(self, n: int, seed: int = 0) -> "ImageTensorDataset":
        """A random subset of ``n`` images (all of them if ``n >= len(self)``)."""
        if n >= len(self):
            return self
        g = torch.Generator().manual_seed(seed)
        index = torch.randperm(len(self), generator=g)[:n]
        return ImageTensorDataset(self.images[index.to(self.images.device)], self.labels[index], self.device)

    def to(self, device: torch.device | str) -> "ImageTensorDataset":
        """The same split on another device."""
        return ImageTensorDataset(self.images, self.labels, device)


def device_of(dataset) -> torch.device:
    """Where a dataset keeps its images: its ``device``, else that of the dataset it wraps (``base``)."""
    while not hasattr(dataset, "device") and hasattr(dataset, "base"):
        dataset = dataset.base
    return torch.device(getattr(dataset, "device", "cpu"))


class DeviceLoader:
    """Batches of a device-resident dataset, cut by index on the device.

    It behaves like a DataLoader (``len``, iteration, a new shuffle each epoch) but does no
    per-sample work: each batch is ``dataset.batch(index)`` with ``index`` a slice of a
    permutation drawn on the device, e.g. one gather and one normalisation for an
    :class:`ImageTensorDataset`.

    Args:
        dataset: any dataset with ``len`` and ``batch(index)``; its images stay where they are
            (:func:`device_of`).
        batch_size: images per batch.
        shuffle: draw a new permutation each epoch.
        drop_last: drop the last incomplete batch (keeps BatchNorm statistics stable).
        seed: seed of the shuffling generator (on the dataset's device), so that epochs are
            repeatable.

    Shape:
        Each item is what ``dataset.batch`` returns, e.g. ``(x, y)``: float32 ``[B, 3, H, W]``
        and int64 ``[B]`` on the device.
    """

    def __init__(self, dataset, batch_size: int, shuffle: bool = False, drop_last: bool = False, seed: int = 0):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not callable(getattr(dataset, "batch", None)):
            raise TypeError(f"{type(dataset).__name__} has no batch(index) method, so DeviceLoader cannot cut it "
                            "into batches; use a torch.utils.data.DataLoader for a per-item dataset.")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.device = device_of(dataset)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator, device=self.device)
        else:
            order = torch.arange(n, device=self.device)
        for b in range(len(self)):
            yield self.dataset.batch(order[b * self.batch_size:(b + 1) * self.batch_size])
