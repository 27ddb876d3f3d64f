"""Public self-checks for Notebook 1 (pretext tasks).

Each check takes your class (not an instance), builds it on a tiny deterministic dataset and
tests what the docstring of the exercise promises. A failure names the likely mistake.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn
from torch.utils.data import Dataset

from ..data import CIFAR_MEAN, CIFAR_STD, denormalize, normalize
from ._core import as_int, calling, expect, expect_tensor, passed

#: The 24 orderings of the 2x2 jigsaw, in ``itertools.permutations`` order.
PERMUTATIONS = list(itertools.permutations(range(4)))
#: ITU-R BT.601 luma weights (R, G, B).
LUMA = (0.299, 0.587, 0.114)


class ToyImages(Dataset):
    """A tiny base dataset of random normalised images: ``(x [3, size, size], label)``.

    Every image is different and has no rotational or mirror symmetry (almost surely), so any
    two different rotations or patch orders of it differ. Labels are all ``label`` by default.
    Items are views of ``self.images``, so an exercise that edits its input in place shows up.
    """

    def __init__(self, n: int = 16, size: int = 32, seed: int = 0, label: int = 7):
        g = torch.Generator().manual_seed(seed)
        self.images = normalize(torch.rand(n, 3, size, size, generator=g))
        self.label = label

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.images[index], self.label


def jigsaw_reference(x: torch.Tensor, perm) -> torch.Tensor:
    """Output position ``p`` holds input patch ``perm[p]``; patches 0=TL, 1=TR, 2=BL, 3=BR."""
    _, h, w = x.shape
    hh, hw = h // 2, w // 2
    patches = [x[:, r * hh:(r + 1) * hh, c * hw:(c + 1) * hw] for r in range(2) for c in range(2)]
    out = [patches[i] for i in perm]
    return torch.cat([torch.cat(out[0:2], dim=2), torch.cat(out[2:4], dim=2)], dim=1)


def gray_reference(color: torch.Tensor) -> torch.Tensor:
    """Luma of a normalised image, repeated over 3 channels, normalised like the input."""
    rgb = denormalize(color)
    luma = sum(w * rgb[..., c, :, :] for c, w in enumerate(LUMA))
    return normalize(luma.unsqueeze(-3).expand_as(rgb).contiguous())


def target_range(device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel bounds ``[1, 3, 1, 1]`` of normalised pixels: ``(0 - mean) / std`` to ``(1 - mean) / std``."""
    mean = torch.tensor(CIFAR_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR_STD, device=device).view(1, 3, 1, 1)
    return (0 - mean) / std, (1 - mean) / std


def _items(cls, exercise: str, base: Dataset, draws: int):
    with calling(exercise, f"{exercise}(base)"):
        ds = cls(base)
    with calling(exercise, "len(dataset)"):
        n = len(ds)
    expect(n == len(base), exercise, f"len(dataset) should equal len(base) = {len(base)}, got {n}.")
    out = []
    for k in range(draws):
        i = k % len(base)
        with calling(exercise, f"dataset[{i}]"):
            item = ds[i]
        expect(isinstance(item, tuple) and len(item) == 2, exercise,
               f"dataset[{i}] should return a tuple (x, label), got {type(item).__name__}.")
        out.append((i, item))
    return out


def check_rotation_dataset(RotationDataset, draws: int = 64) -> None:
    """Public check of Exercise 1.1: ``RotationDataset(base)[i] == (rot90(x, k), k)``."""
    ex = "RotationDataset"
    base = ToyImages()
    seen, clockwise, wrong = set(), 0, 0
    for i, (x_rot, label) in _items(RotationDataset, ex, base, draws):
        x = base[i][0]
        x_rot = expect_tensor(x_rot, ex, "x_rot", x.shape)
        k = as_int(label, ex, "label")
        expect(k != base.label, ex, "the label is the image's class label; it must be the rotation index 0-3.")
        expect(0 <= k <= 3, ex, f"label should be in {{0, 1, 2, 3}}, got {k}.")
        if not torch.allclose(x_rot, torch.rot90(x, k, dims=(-2, -1))):
            if torch.allclose(x_rot, torch.rot90(x, -k, dims=(-2, -1))):
                clockwise += 1
            else:
                wrong += 1
        seen.add(k)
    expect(not wrong, ex, f"in {wrong} of {draws} reads x_rot is not x rotated by label x 90 degrees "
                          "counter-clockwise. Did you draw the label separately from the rotation, or rotate by an "
                          "arbitrary angle?")
    expect(not clockwise, ex, "the images are rotated clockwise; use torch.rot90(x, label, dims=(-2, -1)), which "
                              "rotates counter-clockwise.")
    expect(len(seen) == 4, ex, f"in {draws} draws only rotations {sorted(seen)} appeared; draw k uniformly from 0-3.")
    passed(ex)


def check_jigsaw_dataset(JigsawDataset, draws: int = 96) -> None:
    """Public check of Exercise 1.2: output position p holds input patch PERMUTATIONS[k][p]."""
    ex = "JigsawDataset"
    base = ToyImages()
    seen, scatter, wrong = set(), 0, []
    for i, (x_shuf, label) in _items(JigsawDataset, ex, base, draws):
        x = base[i][0]
        x_shuf = expect_tensor(x_shuf, ex, "x_shuffled", x.shape)
        k = as_int(label, ex, "perm_index")
        expect(0 <= k < 24, ex, f"perm_index should be in 0-23, got {k}. Is it the class label?")
        perm = PERMUTATIONS[k]
        if not torch.allclose(x_shuf, jigsaw_reference(x, perm)):
            inverse = tuple(perm.index(p) for p in range(4))
            if torch.allclose(x_shuf, jigsaw_reference(x, inverse)):
                scatter += 1
            else:
                wrong.append((k, perm))
        seen.add(k)
    if wrong:
        k, perm = wrong[0]
        expect(False, ex, f"in {len(wrong)} of {draws} reads x_shuffled does not match its permutation (e.g. index "
                          f"{k}, {perm}). Tiles are numbered row by row: 0=top-left, 1=top-right, 2=bottom-left, "
                          "3=bottom-right, and you must shuffle with the permutation whose index you return.")
    expect(not scatter, ex, "you put tile p at position perm[p] (a scatter); output position p must hold input tile "
                            "perm[p] (a gather).")
    expect(len(seen) >= 12, ex, f"only {len(seen)} of the 24 permutations appeared in {draws} draws; "
                                "draw the permutation index uniformly.")
    passed(ex)


def check_colorization_dataset(ColorizationDataset, draws: int = 16) -> None:
    """Public check of Exercise 1.3: ``(gray, color)`` with gray the normalised BT.601 luma."""
    ex = "ColorizationDataset"
    base = ToyImages()
    for i, (gray, color) in _items(ColorizationDataset, ex, base, draws):
        x = base[i][0]
        gray = expect_tensor(gray, ex, "gray", x.shape)
        color = expect_tensor(color, ex, "color", x.shape)
        expect(torch.allclose(color, x, atol=1e-5), ex, "color should be the base image unchanged (still normalised).")
        expect(not torch.allclose(gray, color, atol=1e-3), ex, "gray equals color: the input must not contain the colour.")
        rgb = denormalize(gray)
        expect(torch.allclose(rgb[0], rgb[1], atol=1e-4) and torch.allclose(rgb[1], rgb[2], atol=1e-4), ex,
               "after undoing the normalisation, the three channels of gray should be equal (one luma repeated).")
        expect(torch.allclose(gray, gray_reference(x), atol=1e-4), ex,
               "gray is not the BT.601 luma 0.299R + 0.587G + 0.114B of the de-normalised image, re-normalised "
               "with CIFAR_MEAN/CIFAR_STD. Did you average the channels, or forget to undo or redo the normalisation?")
    passed(ex)


def check_colorization_net(ColorizationNet, backbone_factory=None) -> None:
    """Public check of Exercise 1.4: shape, output range, and gradients into the backbone."""
    ex = "ColorizationNet"
    from ..models import SmallConvNet

    torch.manual_seed(0)
    backbone = (backbone_factory or SmallConvNet)()
    with calling(ex, "ColorizationNet(backbone)"):
        net = ColorizationNet(backbone)
    expect(isinstance(net, nn.Module), ex, "ColorizationNet should be an nn.Module.")
    x = normalize(torch.rand(4, 3, 32, 32))
    with calling(ex, "net(x)"):
        y = net(x)
    y = expect_tensor(y, ex, "net(x)", (4, 3, 32, 32))
    lo, hi = target_range()
    expect(bool(((y >= lo - 1e-4) & (y <= hi + 1e-4)).all()), ex,
           "outputs leave the range of normalised pixels [(0-mean)/std, (1-mean)/std]. End the decoder with a "
           "sigmoid and map it to that range (e.g. data.normalize(torch.sigmoid(out))).")
    y.pow(2).mean().backward()
    grads = [p.grad for p in backbone.parameters()]
    expect(all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads), ex,
           "no gradient reaches the backbone: the decoder must be trained through backbone(x) (no detach, no no_grad).")
    passed(ex)
