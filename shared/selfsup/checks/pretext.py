"""Checks of Notebook 1 (pretext tasks): its exercises, defined once (see :mod:`._core`).

Each public check takes your class (not an instance), builds it on a small dataset of random
images and tests what the exercise's docstring promises. A failure names the likely mistake.
A pretext dataset is checked twice: one item at a time (``dataset[i]``, e.g.
:func:`check_rotation_dataset`) and a batch at a time (``dataset.batch(indices)``, what training
reads, e.g. :func:`check_rotation_batch`), by the same judges.

The judges compare with the definitions of the exercises, not with a solution: a rotation is
``torch.rot90``, a tile of the jigsaw is a quarter of the image, the gray image is the BT.601
luma. Images may be off by up to :data:`GREY_LEVELS` grey levels, so a round trip through
uint8 or PIL (CIFAR-10 itself is 8-bit) is not a mistake.
"""

from __future__ import annotations

import itertools
from collections import Counter

import torch
from torch import nn
from torch.utils.data import Dataset

from ..data import denormalize, normalize, normalized_range
from ._core import Exercise, as_int, bools, calling, checker, expect, expect_tensor, floats, generator, ints, subseed
from ._trace import Trace, record

ASSIGNMENT = "01_pretext_tasks"
#: Names the exercise cells use that the notebook defines outside them (the re-check defines them first).
CONTEXT = "PERMUTATIONS = list(itertools.permutations(range(4)))\n"
#: The 24 orderings of the 2x2 jigsaw, in ``itertools.permutations`` order.
PERMUTATIONS = list(itertools.permutations(range(4)))
#: ITU-R BT.601 luma weights (R, G, B).
LUMA = (0.299, 0.587, 0.114)
#: Largest difference, in grey levels of 8-bit pixels, that still counts as equal (rounding).
GREY_LEVELS = 2.0
#: Each label must appear between these fractions of its expected count (strict inputs: more
#: than 4 standard deviations away from the expected count for a uniform draw).
UNIFORM_LOW, UNIFORM_HIGH = 0.4, 1.7
#: Reads of one index that must not all give the same label.
REPEATS = 30


class ToyImages(Dataset):
    """A base dataset of random normalised images: ``(images[i] [3, H, W], label)``.

    Every image is different and has no rotational or mirror symmetry (almost surely). Items are
    views of ``self.images``, so an exercise that edits its input in place shows up.
    """

    def __init__(self, images: torch.Tensor, label: int):
        self.images, self.label = images, label

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.images[index], self.label

    def batch(self, indices):
        """``(images [B, 3, H, W], labels [B])`` of ``indices``, as ``ImageTensorDataset.batch`` gives them."""
        index = torch.as_tensor(indices, dtype=torch.long)
        return self.images[index], torch.full((len(index),), self.label, dtype=torch.long)


# ---------------------------------------------------------------------------- inputs

def _images(g: torch.Generator, n: int, height: int, width: int) -> torch.Tensor:
    return normalize(torch.rand(n, 3, height, width, generator=g))


def _even(g: torch.Generator, low: int, high: int) -> int:
    return 2 * int(torch.randint(low // 2, high // 2 + 1, (1,), generator=g))


def _dataset_inputs(seed: int | None, salt: int, labels: int, square: bool = True) -> dict:
    """Public: 16 images of 32x32 and a class label outside the pretext labels. Strict: other
    even sizes, a class label that is also a valid pretext label, and enough reads for statistics."""
    g = generator(seed, salt)
    if seed is None:
        return {"images": _images(g, 16, 32, 32), "label": 7 if labels < 8 else 29, "reads": 1, "draws": 16 * labels,
                "labels": labels}
    height = _even(g, 16, 30)
    width = height if square else _even(g, 16, 30)
    if not square and width == height:
        width = height + 2 if height < 30 else height - 2
    return {"images": _images(g, 8 if square else 6, height, width), "label": int(torch.randint(0, labels, (1,), generator=g)),
            "reads": 4, "draws": 100 * labels if labels <= 4 else 50 * labels, "labels": labels}


# ---------------------------------------------------------------------------- runs
def _read(dataset, index: int, name: str) -> tuple:
    with calling(name, f"dataset[{index}]"):
        item = dataset[index]
    expect(isinstance(item, tuple) and len(item) == 2, name,
           f"dataset[{index}] should return a tuple (x, label), got {type(item).__name__}.")
    return item


def _build(cls, name: str, inp: dict):
    base = ToyImages(inp["images"], inp["label"])
    with calling(name, f"{name}(base)"):
        dataset = cls(base)
    with calling(name, "len(dataset)"):
        length = as_int(len(dataset), name, "len(dataset)")
    return base, dataset, length


def _classification_run(cls, name: str, inp: dict, what: str) -> dict:
    """Items of a dataset whose label is drawn afresh on every read (rotation, jigsaw)."""
    base, dataset, length = _build(cls, name, inp)
    shape = tuple(inp["images"].shape[1:])
    xs, labels = [], []
    for i in range(len(base)):
        for _ in range(inp["reads"]):
            x, label = _read(dataset, i, name)
            xs.append(expect_tensor(x, name, what, shape))
            labels.append(as_int(label, name, "the label"))
    n = max(1, min(length, len(base)))
    many = [as_int(_read(dataset, k % n, name)[1], name, "the label") for k in range(inp["draws"])]
    repeated = [as_int(_read(dataset, 0, name)[1], name, "the label") for _ in range(REPEATS)]
    return {"length": length, "x": torch.stack(xs), "labels": labels, "many": many, "repeated": repeated,
            "base_after": inp["images"].clone()}


def _classification_schema(inp: dict) -> dict:
    n, *shape = inp["images"].shape
    return {"length": ints(), "x": floats(n * inp["reads"], *shape), "labels": ints(n * inp["reads"]),
            "many": ints(inp["draws"]), "repeated": ints(REPEATS), "base_after": floats(n, *shape)}


# ---------------------------------------------------------------------------- judges
def _length(out: dict, inp: dict, name: str) -> None:
    n = len(inp["images"])
    expect(int(out["length"]) == n, name, f"len(dataset) should equal len(base) = {n}, got {int(out['length'])}.")


def _base_untouched(out: dict, inp: dict, name: str) -> None:
    expect(torch.equal(out["base_after"], inp["images"]), name,
           "reading the dataset modified the base images in place; work on a copy or use out-of-place ops.")


def grey_levels(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest difference of two normalised images in grey levels of 8-bit pixels (inf if shapes differ)."""
    if a.shape != b.shape:
        return float("inf")
    return 255 * (denormalize(a) - denormalize(b)).abs().max().item()


def same_image(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal up to :data:`GREY_LEVELS` (rounding to 8-bit pixels is not a mistake)."""
    return grey_levels(a, b) <= GREY_LEVELS


def _labels_in_range(out: dict, inp: dict, name: str, what: str) -> None:
    n = inp["labels"]
    for k in [int(v) for v in out["labels"]] + [int(v) for v in out["many"]]:
        expect(0 <= k < n, name, f"{what} should be in 0-{n - 1}, got {k}. Is it the class label?")


def _labels_uniform(out: dict, inp: dict, name: str, what: str) -> None:
    n = inp["labels"]
    counts = Counter(int(v) for v in out["many"])
    expected = len(out["many"]) / n
    expect(len(counts) > 1, name, f"all {len(out['many'])} reads gave {what} {next(iter(counts))}: is it the class "
                                  f"label? Draw {what} uniformly from 0-{n - 1}, afresh on every read.")
    if expected >= 50:
        expect(len(counts) == n and all(UNIFORM_LOW * expected <= c <= UNIFORM_HIGH * expected
                                        for c in counts.values()), name,
               f"{what} should be drawn uniformly from {n} values; in {len(out['many'])} reads only {len(counts)} "
               f"value(s) appeared, counts {dict(sorted(counts.items()))}.")
    else:
        expect(len(counts) >= n / 2, name, f"only {len(counts)} of the {n} values of {what} appeared in "
                                           f"{len(out['many'])} reads; draw {what} uniformly from all {n}.")
    repeated = {int(v) for v in out["repeated"]}
    expect(len(repeated) > 1, name, f"reading dataset[0] {REPEATS} times always gave {what} {repeated.pop()}; draw a "
                                    "new random label on every read, not one per index.")


def _mismatches(out: dict, inp: dict, matches) -> list[tuple]:
    """``(x, label, base image)`` of every read for which ``matches(x, base image, label)`` is False."""
    wrong = []
    for index, (x, k) in enumerate(zip(out["x"], out["labels"], strict=True)):
        x0 = inp["images"][index // inp["reads"]]
        if not matches(x, x0, int(k)):
            wrong.append((x, int(k), x0))
    return wrong


def _rotated(x: torch.Tensor, k: int) -> torch.Tensor:
    return torch.rot90(x, k, dims=(-2, -1))


def rotation_judge(out: dict, inp: dict) -> None:
    name = "RotationDataset"
    _length(out, inp, name)
    _labels_in_range(out, inp, name, "the label")
    height, width = inp["images"].shape[-2:]
    wrong = _mismatches(out, inp, lambda x, x0, k: same_image(x, _rotated(x0, k)))
    if wrong:
        expect(not all(same_image(x, _rotated(x0, -k)) for x, k, x0 in wrong), name,
               "the images are rotated clockwise; torch.rot90(x, label, dims=(-2, -1)) rotates counter-clockwise.")
        expect(False, name, f"on {height}x{width} images, in {len(wrong)} of {len(out['x'])} reads x_rot is not x rotated by "
                            "label x 90 degrees counter-clockwise. Did you draw the label separately from the "
                            "rotation, rotate by an arbitrary angle, or assume 32x32 images?")
    _labels_uniform(out, inp, name, "the label")
    _base_untouched(out, inp, name)


def _tiles(x: torch.Tensor) -> list[torch.Tensor]:
    """The four tiles of an image, numbered row by row: 0=top-left, 1=top-right, 2=bottom-left, 3=bottom-right."""
    rows, cols = x.shape[-2] // 2, x.shape[-1] // 2
    return [x[..., r * rows:(r + 1) * rows, c * cols:(c + 1) * cols] for r in (0, 1) for c in (0, 1)]


def _tiles_match(x: torch.Tensor, x0: torch.Tensor, perm) -> bool:
    """Tile ``p`` of ``x`` is tile ``perm[p]`` of ``x0``, for every position ``p``."""
    return x.shape == x0.shape and all(same_image(t, _tiles(x0)[q]) for t, q in zip(_tiles(x), perm, strict=True))


def jigsaw_judge(out: dict, inp: dict) -> None:
    name = "JigsawDataset"
    _length(out, inp, name)
    _labels_in_range(out, inp, name, "perm_index")
    height, width = inp["images"].shape[-2:]
    wrong = _mismatches(out, inp, lambda x, x0, k: _tiles_match(x, x0, PERMUTATIONS[k]))
    if wrong:
        inverse = [[PERMUTATIONS[k].index(q) for q in range(4)] for _, k, _ in wrong]
        expect(not all(_tiles_match(x, x0, inv) for (x, _, x0), inv in zip(wrong, inverse, strict=True)), name,
               f"for perm {PERMUTATIONS[wrong[0][1]]} you put tile p at position perm[p] (a scatter); output position "
               "p must hold input tile perm[p] (a gather).")
        expect(False, name, f"on {height}x{width} images, in {len(wrong)} of {len(out['x'])} reads x_shuffled does not match "
                            f"its permutation (e.g. {PERMUTATIONS[wrong[0][1]]}). Tiles are numbered row by row "
                            "(0=top-left, 1=top-right, 2=bottom-left, 3=bottom-right), are (H // 2) x (W // 2) rather "
                            "than 16x16, and you must shuffle with the permutation whose index you return.")
    _labels_uniform(out, inp, name, "perm_index")
    _base_untouched(out, inp, name)


def colorization_run(cls, inp: dict) -> dict:
    name = "ColorizationDataset"
    base, dataset, length = _build(cls, name, inp)
    shape = tuple(inp["images"].shape[1:])
    grays, colors = [], []
    for i in range(len(base)):
        gray, color = _read(dataset, i, name)
        gray, color = expect_tensor(gray, name, "gray", shape), expect_tensor(color, name, "color", shape)
        expect(gray.dtype == torch.float32 and color.dtype == torch.float32, name,
               "gray and color should be float32 tensors.")
        grays.append(gray)
        colors.append(color)
    return {"length": length, "gray": torch.stack(grays), "color": torch.stack(colors),
            "base_after": inp["images"].clone()}


def colorization_schema(inp: dict) -> dict:
    images = floats(*inp["images"].shape)
    return {"length": ints(), "gray": images, "color": images, "base_after": images}


def luma(images: torch.Tensor) -> torch.Tensor:
    """BT.601 luma ``[..., H, W]`` of normalised images ``[..., 3, H, W]``, in pixel units."""
    rgb = denormalize(images)
    return sum(w * rgb[..., c, :, :] for c, w in enumerate(LUMA))


def colorization_judge(out: dict, inp: dict) -> None:
    name = "ColorizationDataset"
    _length(out, inp, name)
    images, gray, color = inp["images"], out["gray"], out["color"]
    expect(same_image(color, images), name, "color should be the base image unchanged (still normalised).")
    expect(not same_image(gray, color), name, "gray equals color: the input must not contain the colour.")
    rgb = denormalize(gray)
    channels_equal = max(255 * (rgb[:, 0] - rgb[:, c]).abs().max().item() for c in (1, 2)) <= GREY_LEVELS
    expect(channels_equal, name, "after undoing the normalisation the three channels of gray should be equal (one "
                                 "luma repeated). Did you forget to undo the normalisation before computing the luma, "
                                 "or to redo it after?")
    error = 255 * (rgb - luma(images).unsqueeze(1)).abs().max().item()
    mean = 255 * (rgb - denormalize(images).mean(1, keepdim=True)).abs().max().item()
    expect(error <= GREY_LEVELS or mean > GREY_LEVELS, name,
           "gray is the average of the three channels; use the BT.601 luma 0.299 R + 0.587 G + 0.114 B.")
    expect(error <= GREY_LEVELS, name,
           f"on {images.shape[-2]}x{images.shape[-1]} images gray is off by up to {error:.0f} grey levels from the "
           "BT.601 luma 0.299 R + 0.587 G + 0.114 B of the de-normalised image, re-normalised with "
           "data.normalize.")
    _base_untouched(out, inp, name)


# ---------------------------------------------------------------------------- colorization net
#: Images in the batch on which the network's forward pass is recorded and run again.
NET_BATCH = 8


def _backbone_parameters(seed: int) -> list[torch.Tensor]:
    from ..models import SmallConvNet

    torch.manual_seed(seed)
    return [p.detach() for p in SmallConvNet().parameters()]


def colorization_net_inputs(seed: int | None) -> dict:
    """The backbone's seed, the batch the forward pass is recorded on, and (private: the re-check never
    shows them to the student's code) the batch it is run again on and the weights of a test loss."""
    g = generator(seed, 14)
    return {"init_seed": subseed(g), "x": _images(g, NET_BATCH, 32, 32), "probe": _images(g, NET_BATCH, 32, 32),
            "weights": torch.randn(NET_BATCH, 3, 32, 32, generator=g)}


def colorization_net_run(cls, inp: dict) -> dict:
    """Build the network on a fresh SmallConvNet and record its forward pass in eval mode (:mod:`._trace`)."""
    from ..models import SmallConvNet

    name = "ColorizationNet"
    torch.manual_seed(inp["init_seed"])
    backbone = SmallConvNet()
    with calling(name, "ColorizationNet(backbone)"):
        net = cls(backbone)
    expect(isinstance(net, nn.Module), name, "ColorizationNet should be an nn.Module.")
    own = {id(p) for p in nn.Module.parameters(net)}
    expect(all(id(p) in own for p in backbone.parameters()), name,
           "the backbone's parameters are not among net.parameters(), so an optimiser would not train them; keep the "
           "backbone as an attribute (self.backbone = backbone).")
    x = inp["x"]
    nn.Module.train(net, False)
    with calling(name, "net(x) in eval mode"):
        program, y = record(net, x)
    expect_tensor(y, name, "net(x)", tuple(x.shape))
    return program.to_arrays("net")


def colorization_net_replay(out: dict, inp: dict) -> dict:
    """Run the recorded network on the private batch: its outputs, its outputs for huge inputs, and the
    gradient that a loss on the outputs sends to each of the backbone's parameters (-1: not used)."""
    name = "ColorizationNet"
    program = Trace.from_arrays(out, "net", name)
    leaves = [leaf.clone().requires_grad_(leaf.is_floating_point()) for leaf in program.leaves]
    (y,) = program.run(inp["probe"], leaves=leaves)
    expect(type(y) is torch.Tensor and tuple(y.shape) == tuple(inp["probe"].shape) and y.is_floating_point(), name,
           f"net(x) should be a float tensor of shape {tuple(inp['probe'].shape)}.")
    grads = [None] * len(leaves)
    if y.requires_grad:
        wanted = [leaf for leaf in leaves if leaf.requires_grad]
        found = torch.autograd.grad((y * inp["weights"]).sum(), wanted, allow_unused=True)
        by_leaf = dict(zip(map(id, wanted), found, strict=True))
        grads = [by_leaf.get(id(leaf)) for leaf in leaves]
    per_parameter = []
    for p in _backbone_parameters(inp["init_seed"]):
        index = next((i for i, leaf in enumerate(program.leaves) if leaf.shape == p.shape and torch.equal(leaf, p)), None)
        grad = None if index is None else grads[index]
        per_parameter.append(-1.0 if grad is None else float(grad.abs().sum()))
    with torch.no_grad():
        (extreme,) = program.run(inp["probe"] * 1000.0)
    return {"y": y.detach(), "grads": per_parameter, "extreme": extreme.detach()}


def colorization_net_replay_schema(inp: dict) -> dict:
    shape = tuple(inp["probe"].shape)
    return {"y": floats(*shape, finite=False), "extreme": floats(*shape, finite=False),
            "grads": floats(len(_backbone_parameters(0)))}


def colorization_net_judge(out: dict, inp: dict) -> None:
    name = "ColorizationNet"
    lo, hi = normalized_range()
    y = out["y"]
    expect(bool(((y >= lo - 1e-4) & (y <= hi + 1e-4)).all()), name,
           "outputs leave the range of normalised pixels [(0-mean)/std, (1-mean)/std]. End the decoder with a sigmoid "
           "and map it to that range (data.normalize(torch.sigmoid(out))).")
    grads = out["grads"]
    expect(bool((grads >= 0).all() and (grads > 0).any()), name,
           "no gradient reaches the backbone: the decoder must be trained through backbone(x) (no detach, no no_grad).")
    extreme = out["extreme"]
    expect(bool(((extreme >= lo - 1e-3) & (extreme <= hi + 1e-3)).all()), name,
           "for large inputs the outputs leave the normalised pixel range: the output is not bounded like the target "
           "(a linear output, or a sigmoid that is not mapped with data.normalize?).")
    span_lo = (extreme - lo).amin(dim=(0, 2, 3))
    span_hi = (hi - extreme).amin(dim=(0, 2, 3))
    expect(bool((span_lo < 0.25).all() and (span_hi < 0.25).all()), name,
           "for large inputs the outputs never come close to the ends of the target range; the output activation does "
           "not cover it (tanh into [-1, 1]? a sigmoid left in [0, 1] while targets are normalised?).")
    rgb = denormalize(y[:2])
    expect(not (torch.allclose(rgb[:, 0], rgb[:, 1], atol=1e-5) and torch.allclose(rgb[:, 1], rgb[:, 2], atol=1e-5)),
           name, "the three output channels are identical in pixel space: the decoder predicts a single channel "
                 "(broadcast to 3 by data.normalize?); its last layer must output 3 channels.")
    expect(not torch.allclose(y[0], y[1]), name, "two different images give the same output: the decoder ignores its "
                                                 "input.")


# ---------------------------------------------------------------------------- batched paths
# ``dataset.batch(indices)`` is what training reads: the same items as ``dataset[i]``, a whole
# batch at once. Its outputs take the shape of the per-item runs' outputs, so the judges above
# (one definition of each rule) judge them; the batch judges first diagnose what only a batch
# can get wrong.
def _batch_of(dataset, index: torch.Tensor, name: str) -> tuple:
    with calling(name, f"dataset.batch(indices) with {len(index)} indices"):
        out = dataset.batch(index)
    expect(isinstance(out, tuple) and len(out) == 2, name,
           f"dataset.batch(indices) should return a tuple of two batched tensors, got {type(out).__name__}.")
    return out


def _label_batch(labels, name: str, what: str, n: int) -> torch.Tensor:
    expect(isinstance(labels, torch.Tensor), name,
           f"dataset.batch should return {what} as one integer tensor [B], got {type(labels).__name__}. Draw them "
           "on the images' device, e.g. torch.randint(..., device=x.device), not with random.randrange.")
    with torch._C.DisableTorchFunctionSubclass():
        plain = labels.detach().cpu().clone()
    expect(tuple(plain.shape) == (n,) and not plain.is_floating_point() and plain.dtype != torch.bool, name,
           f"{what} from dataset.batch should be an integer tensor of shape ({n},), got dtype {plain.dtype} and "
           f"shape {tuple(plain.shape)}.")
    return plain.long()


def _batched_classification_run(cls, name: str, inp: dict, what: str) -> dict:
    """The outputs of :func:`_classification_run`, read through ``dataset.batch`` in three calls."""
    base, dataset, length = _build(cls, name, inp)
    shape = tuple(inp["images"].shape[1:])
    index = torch.arange(len(base)).repeat_interleave(inp["reads"])
    x, labels = _batch_of(dataset, index, name)
    x = expect_tensor(x, name, what, (len(index),) + shape)
    labels = _label_batch(labels, name, "the labels", len(index))
    n = max(1, min(length, len(base)))
    many = _label_batch(_batch_of(dataset, torch.arange(inp["draws"]) % n, name)[1], name, "the labels", inp["draws"])
    repeated = _label_batch(_batch_of(dataset, torch.zeros(REPEATS, dtype=torch.long), name)[1], name, "the labels",
                            REPEATS)
    return {"length": length, "x": x, "labels": labels, "many": many, "repeated": repeated,
            "base_after": inp["images"].clone()}


def _one_label_per_image(out: dict, name: str, what: str) -> None:
    repeated = {int(v) for v in out["repeated"]}
    expect(len(repeated) > 1, name,
           f"a batch of {REPEATS} copies of image 0 gave {what} {repeated.pop()} to every copy: draw {what} for every "
           "image of the batch (one draw of shape [B]), not one for the whole batch or one per index.")


def rotation_batch_judge(out: dict, inp: dict) -> None:
    _one_label_per_image(out, "RotationDataset", "the label")
    rotation_judge(out, inp)


def jigsaw_batch_judge(out: dict, inp: dict) -> None:
    _one_label_per_image(out, "JigsawDataset", "perm_index")
    jigsaw_judge(out, inp)


def colorization_batch_run(cls, inp: dict) -> dict:
    """The outputs of :func:`colorization_run`, read through one ``dataset.batch`` call."""
    name = "ColorizationDataset"
    base, dataset, length = _build(cls, name, inp)
    shape = (len(base),) + tuple(inp["images"].shape[1:])
    gray, color = _batch_of(dataset, torch.arange(len(base)), name)
    gray, color = expect_tensor(gray, name, "gray", shape), expect_tensor(color, name, "color", shape)
    expect(gray.dtype == torch.float32 and color.dtype == torch.float32, name,
           "gray and color should be float32 tensors.")
    return {"length": length, "gray": gray, "color": color, "base_after": inp["images"].clone()}


BATCH_EXERCISES = [
    Exercise("test_rotation_batch", "RotationDataset", lambda seed: _dataset_inputs(seed, 15, 4),
             lambda cls, inp: _batched_classification_run(cls, "RotationDataset", inp, "x_rot"), rotation_batch_judge,
             _classification_schema),
    Exercise("test_jigsaw_batch", "JigsawDataset", lambda seed: _dataset_inputs(seed, 16, 24, square=False),
             lambda cls, inp: _batched_classification_run(cls, "JigsawDataset", inp, "x_shuffled"), jigsaw_batch_judge,
             _classification_schema),
    Exercise("test_colorization_batch", "ColorizationDataset", lambda seed: _dataset_inputs(seed, 17, 1),
             colorization_batch_run, colorization_judge, colorization_schema),
]
check_rotation_batch, check_jigsaw_batch, check_colorization_batch = map(checker, BATCH_EXERCISES)


EXERCISES = [
    Exercise("test_rotation_dataset", "RotationDataset", lambda seed: _dataset_inputs(seed, 11, 4),
             lambda cls, inp: _classification_run(cls, "RotationDataset", inp, "x_rot"), rotation_judge,
             _classification_schema),
    Exercise("test_jigsaw_dataset", "JigsawDataset", lambda seed: _dataset_inputs(seed, 12, 24, square=False),
             lambda cls, inp: _classification_run(cls, "JigsawDataset", inp, "x_shuffled"), jigsaw_judge,
             _classification_schema),
    Exercise("test_colorization_dataset", "ColorizationDataset", lambda seed: _dataset_inputs(seed, 13, 1),
             colorization_run, colorization_judge, colorization_schema),
    Exercise("test_colorization_net", "ColorizationNet", colorization_net_inputs, colorization_net_run,
             colorization_net_judge, lambda inp: {"net": None}, colorization_net_replay,
             colorization_net_replay_schema, private=("probe", "weights")),
]
check_rotation_dataset, check_jigsaw_dataset, check_colorization_dataset, check_colorization_net = map(checker, EXERCISES)
EXERCISES += BATCH_EXERCISES


# ----------------------------------------------------------------------------- Exercise 1.5
#: Calls of ``score`` recorded by the cross-validation check (a correct run makes candidates x folds).
MAX_SCORE_CALLS = 200


class RecordingScore:
    """The ``score`` a model-selection check hands over: it records every call and returns a known,
    deterministic validation score: ``base[candidate] + bonus`` where the bonus depends on the validation
    images (their smallest index), so that one split alone can favour another candidate than the mean does.

    Args:
        n: labelled images; the indices ``score`` receives must lie in ``0 .. n - 1``.
        candidates: what may be chosen.
        base: each candidate's score before the bonus.
        bonus: added when ``(smallest validation index + candidate's position) % 3 == 0``.
        exercise: the exercise a failure names.
        names: what the two index arguments are called in the exercise.
    """

    def __init__(self, n: int, candidates: list, base: list[float], bonus: float, exercise: str = "cross_validate",
                 names: tuple[str, str] = ("train_index", "val_index")):
        self.n, self.candidates, self.base, self.bonus = n, list(candidates), list(base), bonus
        self.exercise, self.names = exercise, names
        self.calls: list[tuple[int, torch.Tensor, torch.Tensor, float]] = []

    def _mask(self, index, what: str) -> torch.Tensor:
        expect(isinstance(index, torch.Tensor) and not index.is_floating_point() and index.dim() == 1, self.exercise,
               f"score(...) expects {what} as a 1-d integer tensor of image indices, got "
               f"{type(index).__name__}{'' if not isinstance(index, torch.Tensor) else f' {index.dtype} {tuple(index.shape)}'}.")
        with torch._C.DisableTorchFunctionSubclass():
            index = index.detach().cpu().long()
        expect(bool(((index >= 0) & (index < self.n)).all()), self.exercise,
               f"{what} holds indices outside 0..{self.n - 1}.")
        mask = torch.zeros(self.n, dtype=torch.bool)
        mask[index] = True
        expect(int(mask.sum()) == len(index), self.exercise, f"{what} names an image twice.")
        return mask

    def __call__(self, train_index, val_index, candidate) -> float:
        train, val = self._mask(train_index, self.names[0]), self._mask(val_index, self.names[1])
        expect(any(candidate is c or candidate == c for c in self.candidates), self.exercise,
               f"score(...) was called with the candidate {candidate!r}, which is not one of {self.candidates}.")
        which = next(i for i, c in enumerate(self.candidates) if candidate is c or candidate == c)
        first = int(val.nonzero()[0]) if val.any() else 0
        value = self.base[which] + (self.bonus if (first + which) % 3 == 0 else 0.0)
        if len(self.calls) < MAX_SCORE_CALLS:
            self.calls.append((which, train, val, value))
        return value

    def outputs(self, best, scores, expected_means: int) -> dict:
        """The plain outputs of a model-selection run: the choice (as a position), the scores it reported and
        every recorded call. ``best`` must be one of the candidates, by value; ``scores`` one number per candidate."""
        expect(any(best is c or best == c for c in self.candidates) and not isinstance(best, bool), self.exercise,
               f"the best candidate should be one of the candidates {self.candidates} (the value, not its position), "
               f"got {best!r}.")
        scores = [float(m) for m in scores] if isinstance(scores, (list, tuple, torch.Tensor)) else []
        expect(len(scores) == expected_means, self.exercise,
               f"the scores you return should be one number per candidate, in the order of {self.candidates}; got "
               f"{len(scores)} numbers.")
        empty = torch.zeros(self.n, dtype=torch.bool)
        calls = self.calls or [(0, empty, empty, 0.0)]
        return {"best": next(i for i, c in enumerate(self.candidates) if best is c or best == c), "means": scores,
                "which": [c[0] for c in calls], "train": torch.stack([c[1] for c in calls]),
                "val": torch.stack([c[2] for c in calls]), "values": [c[3] for c in calls], "called": len(self.calls)}


def score_schema(n: int, calls: int, candidates: int) -> dict:
    """What :meth:`RecordingScore.outputs` returns for ``n`` images, ``calls`` calls and ``candidates`` candidates."""
    return {"best": ints(), "means": floats(candidates), "which": ints(calls), "train": bools(calls, n),
            "val": bools(calls, n), "values": floats(calls), "called": ints()}


def cv_inputs(seed: int | None) -> dict:
    g = generator(seed, 15)
    if seed is None:
        sizes, candidates, folds = (12, 10, 8), [0.01, 0.1, 1.0, 10.0], 4
    else:
        folds = int(torch.randint(2, 6, (1,), generator=g))
        sizes = tuple(int(torch.randint(folds, 4 * folds + 3, (1,), generator=g)) for _ in range(3))
        candidates = [round(10.0 ** float(e), 4) for e in torch.randint(-3, 3, (int(torch.randint(2, 6, (1,),
                                                                                            generator=g)),),
                                                                        generator=g).unique().tolist()]
        candidates = candidates if len(candidates) > 1 else [0.1, 1.0]
    labels = torch.cat([torch.full((s,), c) for c, s in enumerate(sizes)])
    labels = labels[torch.randperm(len(labels), generator=g)]
    base = (torch.rand(len(candidates), generator=g) * 0.4 + 0.4).tolist()
    return {"labels": labels, "candidates": candidates, "folds": folds, "base": base, "bonus": 0.5,
            "fold_seed": subseed(g)}


def cv_run(cross_validate, inp: dict) -> dict:
    name = "cross_validate"
    labels, candidates = inp["labels"], list(inp["candidates"])
    score = RecordingScore(len(labels), candidates, inp["base"], inp["bonus"])
    with calling(name, f"cross_validate(labels, {candidates}, score, folds={inp['folds']}, seed=...)"):
        result = cross_validate(labels.clone(), list(candidates), score, folds=inp["folds"], seed=inp["fold_seed"])
    expect(isinstance(result, (tuple, list)) and len(result) == 2, name,
           f"cross_validate should return a pair (best candidate, mean scores), got {type(result).__name__}.")
    k, folds = len(candidates), inp["folds"]
    expect(len(score.calls) == k * folds, name,
           f"score was called {len(score.calls)} times for {k} candidates and {folds} folds; each candidate should be "
           f"scored once on each fold: {k * folds} calls.")
    return score.outputs(*result, expected_means=k)


def cv_schema(inp: dict) -> dict:
    return score_schema(len(inp["labels"]), len(inp["candidates"]) * inp["folds"], len(inp["candidates"]))


def cv_judge(out: dict, inp: dict) -> None:
    name = "cross_validate"
    labels, folds, k = inp["labels"], inp["folds"], len(inp["candidates"])
    which, train, val, values = out["which"].tolist(), out["train"], out["val"], out["values"].tolist()
    expect(int(out["called"]) == k * folds, name,
           f"score was called {int(out['called'])} times for {k} candidates and {folds} folds; each candidate should be "
           f"scored once on each fold: {k * folds} calls.")
    expect(bool((train & val).any(1).logical_not().all()), name,
           "some images are in both train_index and val_index of the same call: a model must never be validated on "
           "images it was fitted on.")
    expect(bool((train | val).all(1).all()), name,
           "in each call, train_index and val_index together should hold every labelled image: the training part is "
           "everything outside the validation fold.")
    by_candidate = [[i for i, w in enumerate(which) if w == c] for c in range(k)]
    expect(all(len(calls) == folds for calls in by_candidate), name,
           "every candidate should be scored exactly once on every fold.")
    reference = sorted(map(tuple, val[by_candidate[0]].int().tolist()))
    expect(all(sorted(map(tuple, val[calls].int().tolist())) == reference for calls in by_candidate), name,
           "the candidates were compared on different folds. Draw the folds once, before the loop over candidates: "
           "otherwise the comparison mixes the difference between candidates with the difference between splits.")
    fold_val = val[by_candidate[0]]
    expect(bool((fold_val.sum(0) == 1).all()), name,
           f"the {folds} validation folds should split the images: every image validated exactly once (found images "
           f"validated {sorted(set(fold_val.sum(0).tolist()))} times).")
    for c in labels.unique().tolist():
        counts = fold_val[:, labels == c].sum(1)
        expect(int(counts.max() - counts.min()) <= 1, name,
               f"class {c} appears {counts.tolist()} times in the {folds} validation folds: stratify, i.e. deal each "
               "class's images out over the folds in turn, so that every fold holds each class in proportion.")
    expected = [sum(values[i] for i in calls) / folds for calls in by_candidate]
    means = out["means"].tolist()
    expect(len(means) == k and all(abs(m - e) < 1e-6 for m, e in zip(means, expected)), name,
           f"the mean scores should be, in the order of the candidates, the average of each candidate's {folds} "
           f"validation scores: {[round(e, 4) for e in expected]}, got {[round(m, 4) for m in means]}.")
    judge_choice(name, out, inp["candidates"], expected)


def judge_choice(name: str, out: dict, candidates: list, expected: list[float]) -> None:
    """The choice of a model-selection exercise is the candidate with the highest (mean) validation score."""
    best = max(range(len(candidates)), key=lambda i: expected[i])
    expect(int(out["best"]) == best, name,
           f"the best candidate is the one with the highest mean validation score, {candidates[best]} "
           f"({expected[best]:.3f}); you chose {candidates[int(out['best'])]} ({expected[int(out['best'])]:.3f}).")


EXERCISES.append(Exercise("test_cross_validate", "cross_validate", cv_inputs, cv_run, cv_judge, cv_schema))
check_cross_validate = checker(EXERCISES[-1])
