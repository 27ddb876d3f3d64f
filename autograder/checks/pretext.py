"""Strict hidden checks for Notebook 1 (pretext tasks)."""

from __future__ import annotations

from collections import Counter

import torch

from selfsup.checks import pretext as public
from selfsup.checks._core import as_int, calling, expect
from selfsup.data import denormalize

ToyImages = public.ToyImages


def _read(ds, index, exercise):
    with calling(exercise, f"dataset[{index}]"):
        return ds[index]


def _labels_are_random(ds, exercise, n_labels, draws, name):
    """Labels are drawn uniformly and afresh on every read (not fixed per index)."""
    counts = Counter(as_int(_read(ds, k % len(ds), exercise)[1], exercise, name) for k in range(draws))
    expected = draws / n_labels
    expect(len(counts) == n_labels and all(0.4 * expected <= c <= 1.7 * expected for c in counts.values()), exercise,
           f"{name} should be uniform over {n_labels} values; in {draws} reads got {dict(sorted(counts.items()))}.")
    repeated = {as_int(_read(ds, 0, exercise)[1], exercise, name) for _ in range(30)}
    expect(len(repeated) > 1, exercise, f"reading dataset[0] 30 times always gave {name} {repeated.pop()}; "
                                        "draw a new random label on every read, not one per index.")


def _base_untouched(base, ds, exercise):
    before = base.images.clone()
    for i in range(len(base)):
        _read(ds, i, exercise)
    expect(torch.equal(before, base.images), exercise,
           "reading the dataset modified the base images in place; work on a copy or use out-of-place ops.")


def check_rotation_dataset(RotationDataset) -> None:
    ex = "RotationDataset"
    public.check_rotation_dataset(RotationDataset)
    base = ToyImages(n=8, size=24, seed=3, label=2)  # a class label that is also a valid rotation
    with calling(ex, f"{ex}(base)"):
        ds = RotationDataset(base)
    for i in range(len(base)):
        for _ in range(4):
            x_rot, label = _read(ds, i, ex)
            k = as_int(label, ex, "label")
            expect(0 <= k <= 3 and torch.allclose(x_rot, torch.rot90(base.images[i], k, dims=(-2, -1))), ex,
                   f"on 24x24 images, x_rot does not equal torch.rot90(x, label) for label {k}; "
                   "do not assume 32x32 images, and rotate by the label you return.")
    _labels_are_random(ds, ex, 4, 400, "label")
    _base_untouched(base, ds, ex)


def check_jigsaw_dataset(JigsawDataset) -> None:
    ex = "JigsawDataset"
    public.check_jigsaw_dataset(JigsawDataset)
    base = ToyImages(n=6, size=32, seed=4, label=1)
    base.images = base.images[:, :, 6:26, 2:30].contiguous()  # 20 x 28: not square, not 32
    with calling(ex, f"{ex}(base)"):
        ds = JigsawDataset(base)
    for i in range(len(base)):
        for _ in range(4):
            x, label = _read(ds, i, ex)
            k = as_int(label, ex, "perm_index")
            expect(0 <= k < 24 and tuple(x.shape) == (3, 20, 28)
                   and torch.allclose(x, public.jigsaw_reference(base.images[i], public.PERMUTATIONS[k])), ex,
                   f"on a 20x28 image the tiles do not match PERMUTATIONS[{k}]; compute the tile size from "
                   "the image (H // 2, W // 2) instead of assuming 16x16.")
    _labels_are_random(ds, ex, 24, 1200, "perm_index")
    _base_untouched(base, ds, ex)


def check_colorization_dataset(ColorizationDataset) -> None:
    ex = "ColorizationDataset"
    public.check_colorization_dataset(ColorizationDataset)
    base = ToyImages(n=6, size=24, seed=5)
    with calling(ex, f"{ex}(base)"):
        ds = ColorizationDataset(base)
    for i in range(len(base)):
        gray, color = _read(ds, i, ex)
        expect(gray.dtype == torch.float32 and color.dtype == torch.float32, ex, "gray and color should be float32.")
        expect(torch.allclose(gray, public.gray_reference(base.images[i]), atol=1e-5), ex,
               "on 24x24 images gray is not the normalised BT.601 luma (tolerance 1e-5).")
        expect(torch.allclose(color, base.images[i], atol=1e-6), ex, "color should be the base image, unchanged.")
    _base_untouched(base, ds, ex)


def check_colorization_net(ColorizationNet) -> None:
    ex = "ColorizationNet"
    public.check_colorization_net(ColorizationNet)
    from selfsup.models import SmallConvNet

    torch.manual_seed(1)
    backbone = SmallConvNet()
    with calling(ex, "ColorizationNet(backbone)"):
        net = ColorizationNet(backbone)
    own = {id(p) for p in net.parameters()}
    expect(all(id(p) in own for p in backbone.parameters()), ex,
           "the backbone's parameters are not among net.parameters(), so an optimiser would not train them; "
           "keep the backbone as an attribute (self.backbone = backbone).")
    lo, hi = public.target_range()
    net.eval()
    with calling(ex, "net(x) in eval mode"), torch.no_grad():
        x = torch.randn(8, 3, 32, 32)
        extreme = net(x * 1000.0)
        y1, y2 = net(x[:1]), net(x[1:2])
    expect(bool(((extreme >= lo - 1e-3) & (extreme <= hi + 1e-3)).all()), ex,
           "for large inputs the outputs leave the normalised pixel range: the output is not bounded like the target "
           "(a linear output, or a sigmoid that is not mapped with data.normalize?).")
    span_lo = (extreme - lo).amin(dim=(0, 2, 3))
    span_hi = (hi - extreme).amin(dim=(0, 2, 3))
    expect(bool((span_lo < 0.25).all() and (span_hi < 0.25).all()), ex,
           "for large inputs the outputs never come close to the ends of the target range; the output activation "
           "does not cover it (tanh into [-1, 1]? a sigmoid left in [0, 1] while targets are normalised?).")
    rgb = denormalize(torch.cat([y1, y2]))
    expect(not (torch.allclose(rgb[:, 0], rgb[:, 1], atol=1e-5) and torch.allclose(rgb[:, 1], rgb[:, 2], atol=1e-5)), ex,
           "the three output channels are identical in pixel space: the decoder predicts a single channel "
           "(broadcast to 3 by data.normalize?); its last layer must output 3 channels.")
    expect(not torch.allclose(y1, y2), ex, "two different images give the same output: the decoder ignores its input.")
