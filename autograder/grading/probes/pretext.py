"""Re-check probes of Notebook 1 (pretext tasks): the four exercises on seeded, odd-sized inputs.

The judges ask what the strict checks of :mod:`autograder.checks.pretext` ask, on inputs the
student cannot know in advance (image sizes, contents and the class label are drawn from the
grading-time seed), and compare with the references of :mod:`selfsup.checks.pretext`
(``torch.rot90``, :func:`jigsaw_reference`, :func:`gray_reference`, :func:`target_range`).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch
from torch.utils.data import Dataset

from selfsup.checks.pretext import PERMUTATIONS, gray_reference, jigsaw_reference, target_range
from selfsup.data import denormalize, normalize

from . import Exercise, Verdict, array, calling, expect, integer, read, stacked

ASSIGNMENT = "01_pretext_tasks"
CONTEXT = "PERMUTATIONS = list(itertools.permutations(range(4)))\n"
# Captured when the sandbox imports this module, before any student code can rebind them.
_backward = torch.autograd.backward
_parameters = torch.nn.Module.parameters
_train = torch.nn.Module.train


class ProbeImages(Dataset):
    """A base dataset over given images: items ``(images[i], label)`` are views, so in-place edits show."""

    def __init__(self, images: torch.Tensor, label: int):
        self.images, self.label = images, label

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.images[index], self.label


def _generator(seed: int, salt: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1000003 + salt) % 2**63)


def _images(g: torch.Generator, n: int, height: int, width: int) -> torch.Tensor:
    return normalize(torch.rand(n, 3, height, width, generator=g))


def _even(g: torch.Generator, low: int, high: int) -> int:
    return 2 * int(torch.randint(low // 2, high // 2 + 1, (1,), generator=g))


def _dataset_reads(cls, name: str, inp: dict, reads_per_image: int, draws: int, what: str) -> dict:
    """Shared by the two classification datasets: items, many labels, repeated reads, base after."""
    base = ProbeImages(inp["images"], inp["label"])
    with calling(name, f"{name}(base)"):
        ds = cls(base)
    with calling(name, "len(dataset)"):
        length = integer(len(ds), name, "len(dataset)")
    shape = tuple(inp["images"].shape[1:])
    xs, labels = [], []
    for i in range(len(base)):
        for _ in range(reads_per_image):
            x, label = read(ds, i, name)
            xs.append(array(x, name, what, shape))
            labels.append(integer(label, name, "label"))
    n = max(1, min(length, len(base)))
    many = [integer(read(ds, k % n, name)[1], name, "label") for k in range(draws)]
    repeated = [integer(read(ds, 0, name)[1], name, "label") for _ in range(30)]
    return {"length": length, "x": stacked(xs), "labels": labels, "many": many, "repeated": repeated,
            "base_after": inp["images"].clone()}


def _labels_uniform(out: dict, name: str, n_labels: int, what: str) -> None:
    many = [int(v) for v in out["many"]]
    counts = Counter(many)
    expected = len(many) / n_labels
    expect(len(set(counts) - set(range(n_labels))) == 0, name, f"{what} should lie in 0-{n_labels - 1}; got "
                                                               f"{sorted(set(counts) - set(range(n_labels)))}.")
    expect(len(counts) == n_labels and all(0.4 * expected <= c <= 1.7 * expected for c in counts.values()), name,
           f"{what} should be drawn uniformly from {n_labels} values; in {len(many)} reads only "
           f"{len(counts)} value(s) appeared, counts {dict(sorted(counts.items()))}.")
    repeated = {int(v) for v in out["repeated"]}
    expect(len(repeated) > 1, name, f"reading dataset[0] 30 times always gave {what} {repeated.pop()}; draw a new "
                                    "random label on every read, not one per index.")


def _base_untouched(out: dict, inp: dict, name: str) -> None:
    expect(np.array_equal(out["base_after"], inp["images"].numpy()), name,
           "reading the dataset modified the base images in place; work on a copy or use out-of-place ops.")


def _mismatches(out: dict, inp: dict, name: str, n_labels: int, what: str, expected) -> list[tuple]:
    """``(x, label, base image)`` of every read whose ``x`` is not ``expected(base image, label)``."""
    wrong = []
    for idx, (x, k) in enumerate(zip(torch.from_numpy(out["x"]), out["labels"])):
        k, x0 = int(k), inp["images"][idx // 4]
        expect(0 <= k < n_labels, name, f"{what} should be in 0-{n_labels - 1}, got {k}. Is it the class label?")
        if not torch.allclose(x, expected(x0, k)):
            wrong.append((x, k, x0))
    return wrong


def _length(out: dict, inp: dict, name: str) -> None:
    n = len(inp["images"])
    expect(int(out["length"]) == n, name, f"len(dataset) should equal len(base) = {n}, got {int(out['length'])}.")


# ---------------------------------------------------------------------------- Exercise 1.1
def rotation_inputs(seed: int) -> dict:
    g = _generator(seed, 11)
    size = _even(g, 18, 30)
    return {"images": _images(g, 8, size, size), "label": int(torch.randint(0, 4, (1,), generator=g))}


def rotation_run(objects: dict, inp: dict) -> dict:
    return _dataset_reads(objects["RotationDataset"], "RotationDataset", inp, 4, 400, "x_rot")


def rotation_judge(out: dict, inp: dict) -> None:
    name = "RotationDataset"
    _length(out, inp, name)
    size = inp["images"].shape[-1]
    wrong = _mismatches(out, inp, name, 4, "label", lambda x0, k: torch.rot90(x0, k, dims=(-2, -1)))
    if wrong:
        expect(not all(torch.allclose(x, torch.rot90(x0, -k, dims=(-2, -1))) for x, k, x0 in wrong), name,
               f"label {wrong[0][1]} but the image is rotated clockwise; torch.rot90(x, k, dims=(-2, -1)) rotates "
               "counter-clockwise.")
        expect(False, name, f"on {size}x{size} images x_rot is not x rotated by its label ({wrong[0][1]}) x 90 degrees "
                            "counter-clockwise. Did you draw the label separately from the rotation, rotate by an "
                            "arbitrary angle, or assume 32x32 images?")
    _labels_uniform(out, name, 4, "label")
    _base_untouched(out, inp, name)


# ---------------------------------------------------------------------------- Exercise 1.2
def jigsaw_inputs(seed: int) -> dict:
    g = _generator(seed, 12)
    height = _even(g, 16, 30)
    width = _even(g, 16, 30)
    if width == height:
        width = height + 2 if height < 30 else height - 2
    return {"images": _images(g, 6, height, width), "label": int(torch.randint(0, 24, (1,), generator=g))}


def jigsaw_run(objects: dict, inp: dict) -> dict:
    return _dataset_reads(objects["JigsawDataset"], "JigsawDataset", inp, 4, 1200, "x_shuffled")


def jigsaw_judge(out: dict, inp: dict) -> None:
    name = "JigsawDataset"
    _length(out, inp, name)
    h, w = inp["images"].shape[-2:]
    wrong = _mismatches(out, inp, name, 24, "perm_index", lambda x0, k: jigsaw_reference(x0, PERMUTATIONS[k]))
    if wrong:
        perm = PERMUTATIONS[wrong[0][1]]
        inverse = [[PERMUTATIONS[k].index(q) for q in range(4)] for _, k, _ in wrong]
        expect(not all(torch.allclose(x, jigsaw_reference(x0, inv)) for (x, _, x0), inv in zip(wrong, inverse)),
               name, f"for perm {perm} you put tile p at position perm[p] (a scatter); output position p must hold "
                     "input tile perm[p] (a gather).")
        expect(False, name, f"on a {h}x{w} image x_shuffled does not match its permutation {perm}. Tiles are "
                            "numbered row by row (0=top-left, 1=top-right, 2=bottom-left, 3=bottom-right) and are "
                            "(H // 2) x (W // 2), not 16x16; shuffle with the permutation whose index you return.")
    _labels_uniform(out, name, 24, "perm_index")
    _base_untouched(out, inp, name)


# ---------------------------------------------------------------------------- Exercise 1.3
def colorization_inputs(seed: int) -> dict:
    g = _generator(seed, 13)
    size = _even(g, 16, 30)
    return {"images": _images(g, 6, size, size), "label": 0}


def colorization_run(objects: dict, inp: dict) -> dict:
    name = "ColorizationDataset"
    base = ProbeImages(inp["images"], inp["label"])
    with calling(name, f"{name}(base)"):
        ds = objects[name](base)
    with calling(name, "len(dataset)"):
        length = integer(len(ds), name, "len(dataset)")
    shape = tuple(inp["images"].shape[1:])
    grays, colors, float32 = [], [], True
    for i in range(len(base)):
        gray, color = read(ds, i, name)
        gray, color = array(gray, name, "gray", shape), array(color, name, "color", shape)
        float32 = float32 and gray.dtype == torch.float32 and color.dtype == torch.float32
        grays.append(gray.float())
        colors.append(color.float())
    return {"length": length, "gray": stacked(grays), "color": stacked(colors), "float32": float32,
            "base_after": inp["images"].clone()}


def colorization_judge(out: dict, inp: dict) -> None:
    name = "ColorizationDataset"
    _length(out, inp, name)
    expect(bool(out["float32"]), name, "gray and color should be float32 tensors.")
    images = inp["images"]
    gray, color = torch.from_numpy(out["gray"]), torch.from_numpy(out["color"])
    expect(torch.allclose(color, images, atol=1e-6), name,
           "color should be the base image unchanged (still normalised).")
    expect(not torch.allclose(gray, color, atol=1e-3), name, "gray equals color: the input must not contain the colour.")
    rgb = denormalize(gray)
    expect(torch.allclose(rgb[:, 0], rgb[:, 1], atol=1e-4) and torch.allclose(rgb[:, 1], rgb[:, 2], atol=1e-4), name,
           "after undoing the normalisation the three channels of gray should be equal (one luma repeated); did you "
           "forget to undo the normalisation before, or to redo it after, computing the luma?")
    mean_gray = normalize(denormalize(images).mean(1, keepdim=True).expand_as(images).contiguous())
    expect(not torch.allclose(gray, mean_gray, atol=1e-4), name,
           "gray is the average of the three channels; use the BT.601 luma 0.299 R + 0.587 G + 0.114 B.")
    expect(torch.allclose(gray, gray_reference(images), atol=1e-5), name,
           f"on {images.shape[-1]}x{images.shape[-1]} images gray is not the normalised BT.601 luma "
           "0.299 R + 0.587 G + 0.114 B of the de-normalised image (tolerance 1e-5).")
    _base_untouched(out, inp, name)


# ---------------------------------------------------------------------------- Exercise 1.4
def colorization_net_inputs(seed: int) -> dict:
    g = _generator(seed, 14)
    return {"init_seed": int(torch.randint(0, 2**31 - 1, (1,), generator=g)),
            "x": normalize(torch.rand(8, 3, 32, 32, generator=g)),
            "weights": torch.randn(8, 3, 32, 32, generator=g)}


def colorization_net_run(objects: dict, inp: dict) -> dict:
    from torch import nn

    from selfsup.models import SmallConvNet

    name = "ColorizationNet"
    torch.manual_seed(inp["init_seed"])
    backbone = SmallConvNet()
    with calling(name, "ColorizationNet(backbone)"):
        net = objects[name](backbone)
    is_module = isinstance(net, nn.Module)
    expect(is_module, name, "ColorizationNet should be an nn.Module.")
    own = {id(p) for p in _parameters(net)}
    registered = [id(p) in own for p in backbone.parameters()]
    x = inp["x"]
    _train(net, True)
    with calling(name, "net(x) in training mode"):
        y = net(x)
    y_plain = array(y, name, "net(x)", tuple(x.shape))
    with calling(name, "backward through net(x)"):
        _backward([(y * inp["weights"]).sum()]) if y.requires_grad else None
    grads = [-1.0 if p.grad is None else float(p.grad.detach().abs().sum()) for p in backbone.parameters()]
    _train(net, False)
    with calling(name, "net(x) in eval mode"), torch.no_grad():
        extreme = array(net(x * 1000.0), name, "net(1000 * x)", tuple(x.shape))
        first = array(net(x[:1]), name, "net(x[:1])", (1,) + tuple(x.shape[1:]))
        second = array(net(x[1:2]), name, "net(x[1:2])", (1,) + tuple(x.shape[1:]))
    return {"is_module": is_module, "registered": registered, "y": y_plain, "grads": grads, "extreme": extreme,
            "first": first, "second": second}


def colorization_net_judge(out: dict, inp: dict) -> None:
    name = "ColorizationNet"
    expect(bool(out["is_module"]), name, "ColorizationNet should be an nn.Module.")
    expect(bool(np.all(out["registered"])), name,
           "the backbone's parameters are not among net.parameters(), so an optimiser would not train them; keep the "
           "backbone as an attribute (self.backbone = backbone).")
    lo, hi = target_range()
    y = torch.from_numpy(out["y"])
    expect(bool(((y >= lo - 1e-4) & (y <= hi + 1e-4)).all()), name,
           "outputs leave the range of normalised pixels [(0-mean)/std, (1-mean)/std]. End the decoder with a sigmoid "
           "and map it to that range (data.normalize(torch.sigmoid(out))).")
    grads = np.asarray(out["grads"], dtype=float)
    expect(bool((grads >= 0).all() and (grads > 0).any()), name,
           "no gradient reaches the backbone: the decoder must be trained through backbone(x) (no detach, no no_grad).")
    extreme = torch.from_numpy(out["extreme"])
    expect(bool(((extreme >= lo - 1e-3) & (extreme <= hi + 1e-3)).all()), name,
           "for large inputs the outputs leave the normalised pixel range: the output is not bounded like the target "
           "(a linear output, or a sigmoid that is not mapped with data.normalize?).")
    span_lo = (extreme - lo).amin(dim=(0, 2, 3))
    span_hi = (hi - extreme).amin(dim=(0, 2, 3))
    expect(bool((span_lo < 0.25).all() and (span_hi < 0.25).all()), name,
           "for large inputs the outputs never come close to the ends of the target range; the output activation does "
           "not cover it (tanh into [-1, 1]? a sigmoid left in [0, 1] while targets are normalised?).")
    rgb = denormalize(torch.from_numpy(np.concatenate([out["first"], out["second"]])))
    expect(not (torch.allclose(rgb[:, 0], rgb[:, 1], atol=1e-5) and torch.allclose(rgb[:, 1], rgb[:, 2], atol=1e-5)),
           name, "the three output channels are identical in pixel space: the decoder predicts a single channel "
                 "(broadcast to 3 by data.normalize?); its last layer must output 3 channels.")
    expect(not np.allclose(out["first"], out["second"]), name,
           "two different images give the same output: the decoder ignores its input.")


EXERCISES = [
    Exercise("test_rotation_dataset", ("RotationDataset",), rotation_inputs, rotation_run, rotation_judge),
    Exercise("test_jigsaw_dataset", ("JigsawDataset",), jigsaw_inputs, jigsaw_run, jigsaw_judge),
    Exercise("test_colorization_dataset", ("ColorizationDataset",), colorization_inputs, colorization_run,
             colorization_judge),
    Exercise("test_colorization_net", ("ColorizationNet",), colorization_net_inputs, colorization_net_run,
             colorization_net_judge),
]
__all__ = ["ASSIGNMENT", "CONTEXT", "EXERCISES", "ProbeImages", "Verdict"]
