"""Checks of Notebook 2 (SimCLR): the six exercises, defined once (see :mod:`._core`).

Each public check takes your function or class (not an instance), runs it on small CPU inputs
and tests what the exercise's docstring promises. A failure names the likely mistake.

The NT-Xent check uses closed-form cases (N = 4 pairs, mean over 2N anchors):

* all 2N embeddings identical: every logit is equal, so each anchor picks its positive among
  2N - 1 equal candidates and the loss is ``log(2N - 1) = log 7 = 1.9459``;
* ``z1 = z2 =`` the first N one-hot rows: the positive has cosine 1, the 2N - 2 negatives
  cosine 0, so the loss is ``log(1 + (2N - 2) exp(-1 / temperature))`` (0.5944 at 0.5);

* ``z1 = z2`` rows whose negatives all have cosine ``1 - 0.0002`` (:func:`near_one_pair`): the loss
  is ``log(1 + (2N - 2) exp(-0.0002 / temperature))``, which only a loss that computes the
  similarities in float32 gets right on float16 inputs and under float16 autocast;

and properties every correct loss has: symmetry in the two views, invariance to the norms of
the rows, and agreement with itself in float16 and under mixed precision (no overflow).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..data import denormalize, normalize, normalized_range
from ._core import Exercise, bools, calling, checker, close, expect, expect_tensor, floats, generator, ints, subseed
from ._trace import Trace, record

ASSIGNMENT = "02_simclr"
#: Output size of the augmentation and the default sizes of the projection head.
IMAGE_SIZE = 32
FEATURE_DIM, HIDDEN_DIM, PROJECTION_DIM = 256, 256, 128
#: Probabilities that SimCLR's colour jitter and grayscale are applied to an image.
JITTER_P, GRAYSCALE_P = 0.8, 0.2
#: Bounds on the statistics of the augmentation check. With the sample sizes of
#: :func:`augment_inputs` each bound lies more than 4 standard deviations from the value of
#: a correct augmentation.
DISTINCT_MIN = 0.95           # views of 64 copies of one image that differ from every other view
UNCHANGED = (0.07, 0.30)      # one-colour images left unchanged: (1 - 0.8) * (1 - 0.2) = 16% expected
GRAY = (0.12, 0.30)           # made gray: 20% expected
FLIPPED = (0.3, 0.7)          # mirrored: 50% expected
MOVED_MIN = 0.3               # views whose centre edge moved by more than 2 pixels
JITTER_STRENGTH = (0.09, 0.17)  # mean change of a jittered pixel; ColorJitter(0.4, 0.4, 0.4, 0.1) gives about 0.13
#: Temperatures of the NT-Xent closed-form sweep.
TEMPERATURES = (0.07, 0.1, 0.2, 0.3, 0.5, 1.0)
#: Relative tolerance of the loss in float16 and under float16 autocast, the way ``train.fit``
#: calls it on a GPU: about float16's machine epsilon (2^-10). Overflow is never tolerated.
HALF_RTOL = 1e-3
#: The near-1 case: embeddings whose negatives all have cosine ``1 - NEAR_ONE_GAP`` and whose
#: positives have cosine 1, at ``NEAR_ONE_TEMPERATURE``. float16 resolves steps of 2^-11 (about
#: 0.0005) just below 1, so a similarity computed in half precision rounds both to 1 and the
#: loss becomes log(2N - 1); in float32 it is ``log(1 + (2N - 2) exp(-NEAR_ONE_GAP / t))``, about
#: 1% lower. (A random-init network gives every pair of views a cosine near 1: Notebook 2, Part 5.)
NEAR_ONE_GAP, NEAR_ONE_TEMPERATURE = 2e-4, 0.01


def toy_images(n: int = 16, seed: int = 0, size: int = IMAGE_SIZE) -> torch.Tensor:
    """``n`` smooth random colour images, normalised: ``[n, 3, size, size]`` float32."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, size // 4, size // 4, generator=g)
    pixels = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    pixels = (pixels + 0.15 * torch.randn(pixels.shape, generator=g)).clamp(0, 1)
    return normalize(pixels)


# ----------------------------------------------------------------------------- Exercise 2.1
def constant_colour(n: int, rgb=(0.7, 0.35, 0.2), size: int = IMAGE_SIZE) -> torch.Tensor:
    """``n`` copies of a one-colour image, normalised. Crops and flips leave it unchanged, so
    any change of its pixels comes from the colour jitter or the grayscale."""
    return normalize(torch.tensor(rgb).view(1, 3, 1, 1).expand(n, 3, size, size).contiguous())


def step_edge(n: int) -> torch.Tensor:
    """``n`` copies of a gray image, dark on the left half and bright on the right, normalised.

    Colour jitter and grayscale map a gray image to an affine function of itself, so the edge
    stays where the crop and the flip put it.
    """
    img = torch.full((1, 3, IMAGE_SIZE, IMAGE_SIZE), 0.1)
    img[..., IMAGE_SIZE // 2:] = 0.9
    return normalize(img.expand(n, -1, -1, -1).contiguous())


def augment_inputs(seed: int | None) -> dict:
    g = generator(seed, 21)
    x = toy_images(32, seed=subseed(g))
    return {"x": x, "copies": x[:1].expand(64, -1, -1, -1).contiguous(), "edge": step_edge(192),
            "one": toy_images(1, seed=subseed(g)), "colour": constant_colour(512)}


def apply_augment(augment, x: torch.Tensor, name: str = "simclr_augment") -> torch.Tensor:
    """``augment(x)`` with the checks every call needs: a float tensor of the right shape, input untouched."""
    before = x.clone()
    with calling(name, f"augment(x) on a batch of shape {tuple(x.shape)}"):
        out = augment(x)
    out = expect_tensor(out, name, "augment(x)")
    expect(out.dim() == 4 and out.shape[:2] == x.shape[:2], name,
           f"augment(x) should keep the batch and channel sizes {tuple(x.shape[:2])}, got shape {tuple(out.shape)}.")
    expect(tuple(out.shape[2:]) == (IMAGE_SIZE, IMAGE_SIZE), name,
           f"augment(x) should return {IMAGE_SIZE}x{IMAGE_SIZE} images (RandomResizedCrop((32, 32))), "
           f"got {tuple(out.shape[2:])}.")
    expect(out.dtype == torch.float32, name, f"augment(x) turned float32 images into {out.dtype}.")
    expect(bool(torch.isfinite(out).all()), name, "augment(x) returned NaN or infinite values.")
    expect(torch.equal(x, before), name, "augment(x) modified its input in place; the caller still needs x.")
    return out


def augment_run(simclr_augment, inp: dict) -> dict:
    name = "simclr_augment"
    with calling(name, "simclr_augment()"):
        augment = simclr_augment()
    expect(callable(augment), name, "simclr_augment() should return a callable (an nn.Module or a function) that "
                                    f"augments a batch; got {type(augment).__name__}.")
    out = {key: apply_augment(augment, inp[key], name) for key in ("x", "copies", "colour", "edge", "one")}
    out["again"] = apply_augment(augment, inp["x"], name)
    return out


def augment_schema(inp: dict) -> dict:
    def views(key):
        return floats(len(inp[key]), 3, IMAGE_SIZE, IMAGE_SIZE)

    return {key: views(key) for key in ("x", "copies", "colour", "edge", "one")} | {"again": views("x")}


def fraction_distinct(out: torch.Tensor, atol: float = 1e-4) -> float:
    """Fraction of images in ``out`` that differ from every other image of the batch."""
    flat = out.flatten(1)
    dist = torch.cdist(flat, flat, compute_mode="donot_use_mm_for_euclid_dist")
    dist.fill_diagonal_(float("inf"))
    return (dist.amin(1) > atol * flat.shape[1] ** 0.5).float().mean().item()


def colour_effects(out: torch.Tensor, colour: torch.Tensor) -> tuple[float, float, float]:
    """On augmented copies of a one-colour image: fractions unchanged and gray, and the jitter's strength."""
    pixels, reference = denormalize(out), denormalize(colour)
    change = (pixels - reference).abs()
    unchanged = change.flatten(1).amax(1) < 2e-3
    spread = (pixels.amax(1) - pixels.amin(1)).flatten(1).amax(1)  # across channels
    gray = spread < 2e-3
    jittered = ~unchanged & ~gray
    strength = change[jittered].mean().item() if bool(jittered.any()) else 0.0
    return unchanged.float().mean().item(), gray.float().mean().item(), strength


def augment_judge(out: dict, inp: dict) -> None:
    name = "simclr_augment"
    lo, hi = normalized_range()
    expect(bool(((out["x"] >= lo - 1e-3) & (out["x"] <= hi + 1e-3)).all()), name,
           "outputs leave the range of normalised pixels [normalize(0), normalize(1)]. kornia's colour ops expect "
           "pixels in [0, 1]: apply them to data.denormalize(x), then map back with data.normalize.")
    pixels = denormalize(out["x"])
    expect(pixels.amin().item() < 0.2 and pixels.amax().item() > 0.8, name,
           f"after data.denormalize the outputs only span [{pixels.amin().item():.2f}, {pixels.amax().item():.2f}] "
           "although the inputs span [0, 1]: the output looks like [0, 1] pixels, not normalised images. Finish "
           "with data.normalize(...).")
    distinct = fraction_distinct(out["copies"])
    expect(distinct >= 0.1, name,
           f"64 copies of one image gave only {100 * distinct:.0f}% distinct views: the random parameters are drawn "
           "once for the whole batch. Draw them per image (kornia does by default; torchvision.transforms.v2 on a "
           "batch and same_on_batch=True do not).")
    expect(distinct >= DISTINCT_MIN, name,
           f"64 copies of one image gave only {100 * distinct:.0f}% distinct views: many views are identical. Every "
           "view should get its own random crop: is RandomResizedCrop((32, 32), scale=(0.2, 1.0)) missing?")
    expect(not torch.allclose(out["x"], out["again"]), name,
           "two calls on the same batch gave the same output: the augmentation is not random (a fixed seed inside?).")
    expect(tuple(out["one"].shape) == (1, 3, IMAGE_SIZE, IMAGE_SIZE), name,
           "a batch of one image should give one view [1, 3, 32, 32].")
    unchanged, gray, strength = colour_effects(out["colour"], inp["colour"])
    expected = (1 - JITTER_P) * (1 - GRAYSCALE_P)
    expect(UNCHANGED[0] <= unchanged <= UNCHANGED[1], name,
           f"{100 * unchanged:.0f}% of {len(out['colour'])} copies of a one-colour image kept their colour; colour "
           f"jitter (p={JITTER_P}) and grayscale (p={GRAYSCALE_P}) leave about {100 * expected:.0f}% unchanged. Is "
           "ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8) missing, or its p wrong?")
    expect(GRAY[0] <= gray <= GRAY[1], name,
           f"{100 * gray:.0f}% of the views of a one-colour image are gray; RandomGrayscale(p={GRAYSCALE_P}) should "
           f"make about {100 * GRAYSCALE_P:.0f}% of them gray. Is it missing, or did the colour ops run on the "
           "normalised x instead of data.denormalize(x) (gray in normalised units is not gray)?")
    columns = denormalize(out["edge"]).mean(1).mean(1)  # [B, W]: gray level per column
    flipped = (columns[:, :8].mean(1) > columns[:, -8:].mean(1)).float().mean().item()
    expect(FLIPPED[0] <= flipped <= FLIPPED[1], name,
           f"{100 * flipped:.0f}% of the views of an image (dark left, bright right) are mirrored; a horizontal flip "
           "with p=0.5 should mirror about half of them. Is RandomHorizontalFlip missing?")
    edge = (columns[:, 1:] - columns[:, :-1]).abs().argmax(1)  # the edge lies between columns 15 and 16
    moved = ((edge - (IMAGE_SIZE // 2 - 1)).abs() > 2).float().mean().item()
    expect(moved >= MOVED_MIN, name,
           f"the edge in the middle of the image stays near the middle in {100 * (1 - moved):.0f}% of the views: the "
           "views are not random crops. Add RandomResizedCrop((32, 32), scale=(0.2, 1.0)) first.")
    expect(JITTER_STRENGTH[0] <= strength <= JITTER_STRENGTH[1], name,
           f"the colour jitter changes the pixels of a one-colour image by {strength:.3f} on average; K.ColorJitter("
           "0.4, 0.4, 0.4, 0.1) changes them by about 0.13. Check its four strengths (and use ColorJitter, not "
           "ColorJiggle, whose formulas differ).")


# ----------------------------------------------------------------------------- Exercise 2.2
#: Calls of the stand-in augmentation, and rows per call, that the two-views judge looks through.
MAX_CALLS, NOISE = 24, 0.1


def noise_rows(key: int, call: int, row_shape: tuple[int, ...], rows: int) -> torch.Tensor:
    """The noise that call number ``call`` of ``NoiseAugment(key)`` adds to a batch of ``rows`` images.

    A call on a batch of ``n`` images adds the first ``n`` of these rows: ``torch.randn`` fills its
    output in order, so a batch's noise is a prefix of a longer one drawn from the same seed.
    """
    return NOISE * torch.randn((rows, *row_shape), generator=torch.Generator().manual_seed(key + call))


class NoiseAugment:
    """A stand-in augmentation for checking ``two_views``: adds Gaussian noise to every image.

    Call number ``k`` draws its noise from a generator seeded ``key + k`` (:func:`noise_rows`), so
    the check can tell, for every image of a view, which call of the augmentation made it, and
    that each view is made of the augmentation's own outputs.
    """

    def __init__(self, key: int):
        self.key, self.calls = key, 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        noise = noise_rows(self.key, self.calls, tuple(x.shape[1:]), len(x))
        self.calls += 1
        return x + noise.to(x.dtype)


class CropAugment(NoiseAugment):
    """A stand-in augmentation that also changes the image size (a 24x24 centre crop)."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return super().__call__(x[..., 4:28, 4:28])


#: The cases of the two-views check: ``(input key, augmentation, what the augmentation sees of x)``.
VIEW_CASES = (("x", NoiseAugment, lambda x: x), ("one", NoiseAugment, lambda x: x),
              ("six", CropAugment, lambda x: x[..., 4:28, 4:28]), ("strided", NoiseAugment, lambda x: x))


def views_inputs(seed: int | None) -> dict:
    g = generator(seed, 22)
    return {"x": toy_images(8, seed=subseed(g)), "one": toy_images(1, seed=subseed(g)),
            "six": toy_images(6, seed=subseed(g)), "strided": toy_images(8, seed=subseed(g)).transpose(2, 3),
            "key": subseed(g)}


def views_run(two_views, inp: dict) -> dict:
    name = "two_views"
    out = {}
    for i, (key, augment_class, seen) in enumerate(VIEW_CASES):
        x = inp[key].clone() if key != "strided" else inp[key]
        what = "two_views(x, augment)" + (" with an augment that returns 24x24 crops of 32x32 images"
                                          if key == "six" else "")
        with calling(name, what):
            views = two_views(x, augment_class(inp["key"] + 1000 * i))
        expect(isinstance(views, (tuple, list)) and len(views) == 2, name,
               f"two_views should return a pair (view1, view2), got {type(views).__name__}.")
        shape = tuple(seen(inp[key]).shape)
        for j, view in enumerate(views):
            view = expect_tensor(view, name, f"view{j + 1}")
            expect(not (view.shape == x.shape and torch.equal(view, x)), name,
                   f"view{j + 1} is the unaugmented x: both views must be augment(x).")
            expect(tuple(view.shape) == shape, name,
                   f"each view should be what augment returns, here of shape {shape}; got {tuple(view.shape)}"
                   + (". Don't assume the shape of x." if key == "six" else "."))
            out[f"{key}_{j + 1}"] = view
        if key == "x":
            out["x_after"] = x.clone()
    return out


def views_schema(inp: dict) -> dict:
    out = {"x_after": floats(*inp["x"].shape)}
    for key, _, seen in VIEW_CASES:
        out |= {f"{key}_{j}": floats(*seen(inp[key]).shape) for j in (1, 2)}
    return out


def augment_calls(view: torch.Tensor, base: torch.Tensor, key: int) -> list[tuple[int, int]] | None:
    """For each image of ``view``, the ``(call, row)`` of the stand-in augmentation that made it from
    ``base``; None if an image was not made by it (see :class:`NoiseAugment`)."""
    noise = (view - base).flatten(1)
    rows = 2 * len(base)
    candidates = torch.cat([noise_rows(key, call, tuple(base.shape[1:]), rows).flatten(1) for call in range(MAX_CALLS)])
    gaps = torch.cdist(noise.double(), candidates.double(), compute_mode="donot_use_mm_for_euclid_dist")
    best, index = gaps.min(1)
    if not bool((best < 1e-4).all()):
        return None
    return [(int(i) // rows, int(i) % rows) for i in index]


def views_judge(out: dict, inp: dict) -> None:
    name = "two_views"
    x = inp["x"]
    expect(torch.equal(out["x_after"], x), name, "two_views modified x in place.")
    for key, view in (("x_1", "view1"), ("x_2", "view2")):
        noise = (out[key] - x).flatten(1).std(1)
        expect(bool((noise > 0.05).all()), name, f"{view} is (partly) the unaugmented x: both views must be augment(x).")
        expect(bool((noise < 0.2).all()), name, f"{view} is not an augmentation of x itself (wrong images or order?).")
    expect(bool(((out["x_1"] - out["x_2"]).flatten(1).abs().amax(1) > 1e-6).all()), name,
           "view1 and view2 are identical: call augment twice (or once on a doubled batch), don't reuse one view.")
    expect(not torch.equal(out["one_1"], out["one_2"]), name,
           "with a batch of one image the two views should still be two different [1, 3, 32, 32] tensors.")
    for i, (key, _, seen) in enumerate(VIEW_CASES):
        base = seen(inp[key])
        made = [augment_calls(out[f"{key}_{j}"], base, inp["key"] + 1000 * i) for j in (1, 2)]
        expect(all(m is not None for m in made), name,
               "the views are not the augmentation's outputs" + (" on a non-contiguous batch" if key == "strided" else "")
               + ": every image of each view must be an augmented copy of the same image of x, as augment returns it "
                 "(here augment adds noise; the check knows which noise each call adds).")
        used = [call for m in made for call in m]
        expect(len(set(used)) == len(used), name,
               "an augmented image appears in both views: each view needs its own augmented copy of every image.")


# ----------------------------------------------------------------------------- Exercise 2.3
def linear_layers(module: nn.Module) -> list[nn.Linear]:
    """The ``nn.Linear`` layers of a module, in registration order."""
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


#: Images in the batches on which the heads' forward passes are recorded and run again.
HEAD_BATCH = 16
#: Numbers in the parameters of the head, every one of which must get a gradient: two Linear
#: layers; a BatchNorm1d between them adds its weight and bias (and makes the first layer's bias
#: redundant, so it may be left out).
HEAD_PARAMETERS = FEATURE_DIM * HIDDEN_DIM + HIDDEN_DIM + HIDDEN_DIM * PROJECTION_DIM + PROJECTION_DIM
HEAD_PARAMETERS_WITH_BN = (HEAD_PARAMETERS + 2 * HIDDEN_DIM, HEAD_PARAMETERS + HIDDEN_DIM)


def head_inputs(seed: int | None) -> dict:
    """The batches the forward passes are recorded on; private (the re-check never shows them to the
    student's code): the batches they run on again and the weights of a test loss."""
    g = generator(seed, 23)
    return {"init_seed": subseed(g), "h": torch.randn(HEAD_BATCH, FEATURE_DIM, generator=g),
            "small": torch.randn(4, 64, generator=g), "probe": torch.randn(HEAD_BATCH, FEATURE_DIM, generator=g),
            "pair": torch.randn(2, HEAD_BATCH, FEATURE_DIM, generator=g), "probe_small": torch.randn(4, 64, generator=g),
            "weights": torch.randn(HEAD_BATCH, PROJECTION_DIM, generator=g),
            "perm": torch.randperm(HEAD_BATCH, generator=g)}


def _build_head(cls, name: str, *args) -> nn.Module:
    with calling(name, f"ProjectionHead({', '.join(map(str, args))})"):
        head = cls(*args)
    expect(isinstance(head, nn.Module), name, "ProjectionHead should be an nn.Module.")
    return head


def _shapes(head: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in linear_layers(head)]


def _recorded(module: nn.Module, x: torch.Tensor, name: str, what: str, shape: tuple[int, ...]) -> Trace:
    """``module``'s forward pass on ``x`` in eval mode, recorded (:mod:`._trace`), its output checked to have ``shape``."""
    nn.Module.train(module, False)
    with calling(name, what):
        program, out = record(module, x)
    expect_tensor(out, name, what, shape)
    return program


def head_run(cls, inp: dict) -> dict:
    """Build the default and a small head, check their layers, and record their forward passes."""
    name = "ProjectionHead"
    torch.manual_seed(inp["init_seed"])
    head = _build_head(cls, name)
    shapes = _shapes(head)
    expect(shapes == [(FEATURE_DIM, HIDDEN_DIM), (HIDDEN_DIM, PROJECTION_DIM)], name,
           f"the head should have exactly two nn.Linear layers, {FEATURE_DIM}->{HIDDEN_DIM} then "
           f"{HIDDEN_DIM}->{PROJECTION_DIM}; found {shapes}.")
    extra = sum(p.numel() for p in nn.Module.parameters(head)) - sum(p.numel() for m in linear_layers(head)
                                                                      for p in m.parameters())
    expect(extra in (0, 2 * HIDDEN_DIM), name,
           f"besides its two Linear layers the head has {extra:,} parameters; a BatchNorm1d({HIDDEN_DIM}) between "
           f"them has {2 * HIDDEN_DIM}, nothing else belongs there. This is a different head.")
    program = _recorded(head, inp["h"], name, "head(h)", (HEAD_BATCH, PROJECTION_DIM))
    small = _build_head(cls, name, 64, 32, 16)
    shapes = _shapes(small)
    expect(shapes == [(64, 32), (32, 16)], name,
           f"ProjectionHead(64, 32, 16) should have Linear layers 64->32 and 32->16, found {shapes}: use the "
           "arguments in_dim, hidden_dim and out_dim instead of fixed sizes.")
    small_program = _recorded(small, inp["small"], name, "ProjectionHead(64, 32, 16)(h)", (4, 16))
    return {**program.to_arrays("head"), **small_program.to_arrays("small")}


def _run_program(program: Trace, x: torch.Tensor, name: str, shapes: list[tuple[int, ...]], leaves=None) -> list:
    """The recorded ``program`` run on ``x``; its outputs checked to be float tensors of ``shapes``."""
    outputs = program.run(x, leaves=leaves)
    expect(len(outputs) == len(shapes) and all(type(o) is torch.Tensor and o.is_floating_point()
                                               and tuple(o.shape) == s for o, s in zip(outputs, shapes)), name,
           f"the recorded forward pass should return float tensors of shapes {shapes}.")
    return outputs


def _grad_numbers(program: Trace, outputs_loss, leaves: list[torch.Tensor]) -> list[float]:
    """Sum of |gradient| of ``outputs_loss`` for each leaf of ``program`` (-1 where it gets none)."""
    wanted = [leaf for leaf in leaves if leaf.requires_grad]
    found = torch.autograd.grad(outputs_loss, wanted, allow_unused=True) if outputs_loss.requires_grad else \
        [None] * len(wanted)
    by_leaf = dict(zip(map(id, wanted), found, strict=True))
    return [-1.0 if by_leaf.get(id(leaf)) is None else float(by_leaf[id(leaf)].abs().sum()) for leaf in leaves]


def _trainable(program: Trace) -> list[torch.Tensor]:
    return [leaf.clone().requires_grad_(leaf.is_floating_point()) for leaf in program.leaves]


def head_replay(out: dict, inp: dict) -> dict:
    """Run the recorded heads on the private batches: outputs for the affinity, sign and row tests,
    and how many of the head's numbers a loss on its output trains."""
    name = "ProjectionHead"
    program = Trace.from_arrays(out, "head", name)
    shape = [(HEAD_BATCH, PROJECTION_DIM)]
    leaves = _trainable(program)
    (z,) = _run_program(program, inp["probe"], name, shape, leaves)
    grads = _grad_numbers(program, (z * inp["weights"]).sum(), leaves)
    trained = sum(leaf.numel() for leaf, grad in zip(program.leaves, grads, strict=True) if grad > 0)
    with torch.no_grad():
        a, b = inp["pair"]
        result = {key: _run_program(program, h, name, shape)[0] for key, h in
                  (("a", a), ("b", b), ("ab", a + b), ("zero", torch.zeros_like(a)), ("perm", inp["probe"][inp["perm"]]))}
        changed = inp["probe"].clone()
        changed[0] = a[0]
        result["row"] = _run_program(program, changed, name, shape)[0]
        small = Trace.from_arrays(out, "small", name)
        result["small_z"] = _run_program(small, inp["probe_small"], name, [(4, 16)])[0]
    return {"z": z.detach(), "trained": trained, **result}


def head_replay_schema(inp: dict) -> dict:
    z = floats(HEAD_BATCH, PROJECTION_DIM, finite=False)
    return {"z": z, "trained": ints(), "a": z, "b": z, "ab": z, "zero": z, "perm": z, "row": z,
            "small_z": floats(4, 16, finite=False)}


def head_judge(out: dict, inp: dict) -> None:
    name = "ProjectionHead"
    expect(bool(torch.isfinite(out["z"]).all()), name, "head(h) returned NaN or infinite values.")
    gap = (out["a"] + out["b"] - out["ab"] - out["zero"]).abs().max().item()
    expect(gap > 1e-3, name, "the head is an affine map: two Linear layers in a row equal one. Put a nonlinearity "
                             "(nn.ReLU) between them.")
    expect(bool((out["z"] < 0).any()), name,
           "no output is negative: the head ends with a ReLU. z must be free to point anywhere, so that negatives can "
           "get negative cosine similarity; end with the second Linear layer.")
    trained = int(out["trained"])
    expect(trained in (HEAD_PARAMETERS, *HEAD_PARAMETERS_WITH_BN), name,
           f"a loss on head(h) trains {trained:,} numbers of the head; its two Linear layers have {HEAD_PARAMETERS:,} "
           f"({HEAD_PARAMETERS_WITH_BN[0]:,} with a BatchNorm1d({HIDDEN_DIM}) between them), and every one should get "
           "a gradient (no detach, no layer left out of forward).")
    z = out["z"]
    expect(torch.allclose(out["perm"], z[inp["perm"]], atol=1e-5) and torch.allclose(out["row"][1:], z[1:], atol=1e-5),
           name, "in eval mode each row of head(h) should depend only on its own row of h.")


# ----------------------------------------------------------------------------- Exercise 2.4
class ToyBackbone(nn.Module):
    """A tiny stand-in backbone for the model checks: ``[B, 3, 8, 8] -> [B, 256]``."""

    def __init__(self, feature_dim: int = FEATURE_DIM):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, feature_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def model_parts(kind: str, seed: int) -> tuple[nn.Module, nn.Module]:
    """The backbone and head the model check hands to ``SimCLRModel``, rebuilt identically from ``seed``.

    ``"toy"``: :class:`ToyBackbone` and one Linear layer; ``"conv"``: ``SmallConvNet`` and an MLP.
    """
    from ..models import SmallConvNet

    torch.manual_seed(seed)
    if kind == "toy":
        return ToyBackbone(), nn.Linear(FEATURE_DIM, PROJECTION_DIM)
    return SmallConvNet(), nn.Sequential(nn.Linear(FEATURE_DIM, 64), nn.ReLU(), nn.Linear(64, PROJECTION_DIM))


def model_inputs(seed: int | None) -> dict:
    """The batches the forward passes are recorded on; private: the batches they run on again."""
    g = generator(seed, 24)
    return {"toy_seed": subseed(g), "conv_seed": subseed(g), "x_toy": torch.randn(4, 3, 8, 8, generator=g),
            "x": torch.randn(3, 3, 32, 32, generator=g), "probe_toy": torch.randn(4, 3, 8, 8, generator=g),
            "probe": torch.randn(3, 3, 32, 32, generator=g)}


def model_outputs(out, x: torch.Tensor, name: str = "SimCLRModel") -> tuple[torch.Tensor, torch.Tensor]:
    """What ``model(x)`` returned, checked to be a pair ``(h [B, 256], z [B, 128])``; their plain copies."""
    expect(isinstance(out, (tuple, list)) and len(out) == 2, name,
           f"model(x) should return a pair (h, z), got {type(out).__name__}"
           + (f" of shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else "") + ".")
    h, z = out
    plain_h, plain_z = expect_tensor(h, name, "h"), expect_tensor(z, name, "z")
    expect(not (plain_h.shape[-1] == PROJECTION_DIM and plain_z.shape[-1] == FEATURE_DIM), name,
           "model(x) returned (z, h): return the representation h first, then the projection z.")
    expect(tuple(plain_h.shape) == (len(x), FEATURE_DIM) and tuple(plain_z.shape) == (len(x), PROJECTION_DIM), name,
           f"h should be [B, {FEATURE_DIM}] and z [B, {PROJECTION_DIM}]; got {tuple(plain_h.shape)} and "
           f"{tuple(plain_z.shape)}.")
    return plain_h, plain_z


def _model(cls, kind: str, seed: int, name: str) -> tuple[nn.Module, nn.Module, nn.Module]:
    backbone, head = model_parts(kind, seed)
    with calling(name, "SimCLRModel(backbone, head)"):
        model = cls(backbone, head)
    expect(isinstance(model, nn.Module), name, "SimCLRModel should be an nn.Module.")
    own = {id(p) for p in nn.Module.parameters(model)}
    expect(all(id(p) in own for p in list(backbone.parameters()) + list(head.parameters())), name,
           "the parameters of the backbone and the head should be among model.parameters(); keep both as attributes "
           "(self.backbone = backbone, self.head = head) and don't build a new head.")
    return model, backbone, head


def model_run(cls, inp: dict) -> dict:
    """Build the model on the toy and the conv parts, check how it holds them, and record both forward passes."""
    name = "SimCLRModel"
    programs = {}
    for kind, x in (("toy", inp["x_toy"]), ("conv", inp["x"])):
        model, backbone, _ = _model(cls, kind, inp[f"{kind}_seed"], name)
        if kind == "conv":
            expect(getattr(model, "backbone", None) is backbone, name,
                   "keep the backbone as model.backbone: the notebook probes model.backbone after training.")
            expect(any(n.startswith("backbone.") for n, _ in nn.Module.named_parameters(model)), name,
                   "the backbone is not registered as a submodule.")
        nn.Module.train(model, False)
        with calling(name, "model(x)"):
            programs[kind], out = record(model, x)
        model_outputs(out, x, name)
    return {**programs["toy"].to_arrays("toy"), **programs["conv"].to_arrays("conv")}


def model_replay(out: dict, inp: dict) -> dict:
    """Run the recorded models on the private batches; the gradient a loss on z sends to each of the
    toy backbone's parameters (-1: not used); whether h and z carry gradients."""
    name = "SimCLRModel"
    toy = Trace.from_arrays(out, "toy", name)
    shapes = [(len(inp["probe_toy"]), FEATURE_DIM), (len(inp["probe_toy"]), PROJECTION_DIM)]
    leaves = _trainable(toy)
    h, z = _run_program(toy, inp["probe_toy"], name, shapes, leaves)
    trains = bool(h.requires_grad and z.requires_grad)
    grads = _grad_numbers(toy, z.pow(2).sum(), leaves)
    per_parameter = []
    for p in model_parts("toy", inp["toy_seed"])[0].parameters():
        index = next((i for i, leaf in enumerate(toy.leaves) if leaf.shape == p.shape and torch.equal(leaf, p.detach())),
                     None)
        per_parameter.append(-1.0 if index is None else grads[index])
    conv = Trace.from_arrays(out, "conv", name)
    with torch.no_grad():
        conv_h, conv_z = _run_program(conv, inp["probe"], name, [(len(inp["probe"]), FEATURE_DIM),
                                                                  (len(inp["probe"]), PROJECTION_DIM)])
    return {"h_toy": h.detach(), "z_toy": z.detach(), "toy_grads": per_parameter, "trains": trains, "h": conv_h,
            "z": conv_z}


def model_replay_schema(inp: dict) -> dict:
    b, t = len(inp["probe"]), len(inp["probe_toy"])
    return {"h_toy": floats(t, FEATURE_DIM, finite=False), "z_toy": floats(t, PROJECTION_DIM, finite=False),
            "toy_grads": floats(2), "trains": bools(), "h": floats(b, FEATURE_DIM, finite=False),
            "z": floats(b, PROJECTION_DIM, finite=False)}


def model_judge(out: dict, inp: dict) -> None:
    name = "SimCLRModel"
    backbone, head = model_parts("toy", inp["toy_seed"])
    with torch.no_grad():
        h = backbone(inp["probe_toy"])
        z = head(h)
    expect(torch.allclose(out["h_toy"], h, atol=1e-5), name, "h should be backbone(x), the representation we keep.")
    expect(torch.allclose(out["z_toy"], z, atol=1e-5), name, "z should be head(h), the projection of h.")
    expect(bool((out["toy_grads"] > 0).all()), name,
           "the loss on z sends no gradient into the backbone: compute z from h without detach() or no_grad().")
    backbone, head = model_parts("conv", inp["conv_seed"])
    backbone.eval(), head.eval()
    with torch.no_grad():
        h = backbone(inp["probe"])
        z = head(h)
    expect(torch.allclose(out["h"], h, atol=1e-5) and torch.allclose(out["z"], z, atol=1e-5), name,
           "with SmallConvNet in eval mode, (h, z) should equal (backbone(x), head(backbone(x))).")
    expect(bool(out["trains"]), name, "h and z should carry gradients in training mode.")


# ----------------------------------------------------------------------------- Exercise 2.6
def nt_xent_fixtures(n: int = 4, dim: int = 128, seed: int = 0) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The closed-form fixtures of the NT-Xent check, as ``{name: (z1, z2)}`` with ``[n, dim]`` each.

    * ``identical``: all 2n embeddings equal (loss ``log(2n - 1)``);
    * ``one_hot``: ``z1 = z2 =`` the first n one-hot rows (loss ``log(1 + (2n - 2) exp(-1/t))``);
    * ``random``: standard normal; ``random_x5``: the same times 5 (same loss: scale invariance).
    """
    g = torch.Generator().manual_seed(seed)
    same = torch.randn(1, dim, generator=g).expand(n, dim).contiguous()
    one_hot = torch.eye(n, dim)
    z1, z2 = torch.randn(n, dim, generator=g), torch.randn(n, dim, generator=g)
    return {"identical": (same, same.clone()), "one_hot": (one_hot, one_hot.clone()),
            "random": (z1, z2), "random_x5": (5 * z1, 5 * z2)}


def one_hot_loss(n: int, temperature: float) -> float:
    """Closed form of NT-Xent on the ``one_hot`` fixture."""
    return math.log(1 + (2 * n - 2) * math.exp(-1.0 / temperature))


def near_one_pair(n: int, dim: int, g: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``z1 = z2`` ``[n, dim]`` (``dim > n``), every row ``a e_0 + b e_i`` on its own basis vector ``e_i``:
    positives have cosine 1, all negatives ``a^2 / (a^2 + b^2) = 1 - NEAR_ONE_GAP`` (up to rounding).

    The values are exact in float16 (the case runs on float16 inputs too); with ``g``, the coordinates
    are permuted, their signs flipped and the rows scaled by a power of two.
    """
    b = torch.tensor(math.sqrt(NEAR_ONE_GAP / (1 - NEAR_ONE_GAP))).half().float()
    z = torch.zeros(n, dim)
    z[:, 0] = 1.0
    z[torch.arange(n), torch.arange(1, n + 1)] = b
    if g is not None:
        signs = torch.randint(0, 2, (dim,), generator=g).float() * 2 - 1
        z = (z * signs)[:, torch.randperm(dim, generator=g)] * 2.0 ** int(torch.randint(-2, 5, (1,), generator=g))
    return z, z.clone()


def near_one_loss(z1: torch.Tensor, temperature: float) -> float:
    """Closed form of NT-Xent on :func:`near_one_pair`: the negatives' cosine computed in float64 from ``z1``."""
    z = torch.nn.functional.normalize(z1.double(), dim=1)
    negative = float(z[0] @ z[1])
    n = len(z1)
    return math.log(1 + (2 * n - 2) * math.exp((negative - 1) / temperature))


def loss_inputs(seed: int | None) -> dict:
    """Closed-form fixtures, random cases (any N and D, all temperatures), huge norms and half precision."""
    g = generator(seed, 25)
    cases = []
    for n, dim, t in ((1, 8, 0.5), (2, 3, 0.1), (5, 16, 0.3), (17, 32, 1.0), (12, 128, 0.07)) if seed is None else \
            [(int(torch.randint(1, 18, (1,), generator=g)), int(torch.randint(3, 130, (1,), generator=g)),
              TEMPERATURES[int(torch.randint(0, len(TEMPERATURES), (1,), generator=g))]) for _ in range(5)]:
        cases.append((torch.randn(n, dim, generator=g), torch.randn(n, dim, generator=g), t))
    big1, big2 = 1e4 * torch.randn(8, 32, generator=g), 1e4 * torch.randn(8, 32, generator=g)
    big2[0] = big1[0]
    half1, half2 = 30 * torch.randn(16, 64, generator=g), 30 * torch.randn(16, 64, generator=g)
    half2[:8] = half1[:8]  # positives of cosine 1: exp(1 / 0.05) overflows float16
    near_one = near_one_pair(4, 8) if seed is None else \
        near_one_pair(int(torch.randint(2, 9, (1,), generator=g)), int(torch.randint(10, 65, (1,), generator=g)), g)
    return {"fixtures": nt_xent_fixtures(4, seed=0 if seed is None else subseed(g)), "cases": cases,
            "big": (big1, big2), "half": (half1.half().float(), half2.half().float()),
            "grad": (torch.randn(6, 16, generator=g), torch.randn(6, 16, generator=g)), "near_one": near_one}


def loss_value(nt_xent_loss, z1: torch.Tensor, z2: torch.Tensor, temperature: float,
               name: str = "nt_xent_loss", what: str = "") -> torch.Tensor:
    """``nt_xent_loss(z1, z2, temperature)`` checked to be a 0-d float tensor."""
    with calling(name, f"nt_xent_loss(z1, z2, temperature={temperature}) with z1, z2 of shape {tuple(z1.shape)}{what}"):
        loss = nt_xent_loss(z1, z2, temperature)
    expect(isinstance(loss, torch.Tensor), name,
           f"the loss should be a torch.Tensor (so that it can be backpropagated), got {type(loss).__name__}.")
    expect(loss.dim() == 0 and loss.is_floating_point(), name,
           f"the loss should be a scalar (0-d float tensor): the mean over the 2N anchors; got shape "
           f"{tuple(loss.shape)} and dtype {loss.dtype}.")
    return loss


def loss_run(nt_xent_loss, inp: dict) -> dict:
    name = "nt_xent_loss"

    def value(z1, z2, t, what=""):
        return float(expect_tensor(loss_value(nt_xent_loss, z1, z2, t, name, what), name, "the loss").float())

    f = inp["fixtures"]
    out = {"identical": value(*f["identical"], 0.5), "one_hot": [value(*f["one_hot"], t) for t in TEMPERATURES],
           "random": value(*f["random"], 0.5), "random_x5": value(*f["random_x5"], 0.5)}
    out["cases"] = [value(z1, z2, t) for z1, z2, t in inp["cases"]]
    out["swapped"] = [value(z2, z1, t) for z1, z2, t in inp["cases"]]
    out["scaled"] = [value(1e3 * z1, 1e-2 * z2, t) for z1, z2, t in inp["cases"]]
    big1, big2 = inp["big"]
    out["big"] = value(big1, big2, 0.05)
    out["big_unit"] = value(torch.nn.functional.normalize(big1, dim=1), torch.nn.functional.normalize(big2, dim=1), 0.05)
    half1, half2 = inp["half"]
    out["float32"] = value(half1, half2, 0.05)
    out["float16"] = value(half1.half(), half2.half(), 0.05, " in float16")
    with torch.autocast(device_type=half1.device.type, dtype=torch.float16):
        out["autocast"] = value(half1, half2, 0.05, " inside torch.autocast(dtype=torch.float16)")
    near1, near2 = inp["near_one"]
    out["near_one_float16"] = value(near1.half(), near2.half(), NEAR_ONE_TEMPERATURE, " in float16, all cosines near 1")
    with torch.autocast(device_type=near1.device.type, dtype=torch.float16):
        out["near_one_autocast"] = value(near1, near2, NEAR_ONE_TEMPERATURE,
                                         " inside torch.autocast(dtype=torch.float16), all cosines near 1")
    try:  # the meta device stands in for a GPU: a tensor made on the CPU inside the loss cannot meet it
        result = nt_xent_loss(torch.empty(4, 8, device="meta"), torch.empty(4, 8, device="meta"), 0.5)
        out["meta"] = 0 if isinstance(result, torch.Tensor) and result.device.type == "meta" else 2
    except RuntimeError as error:
        out["meta"] = 1 if "device" in str(error) else 3
    except Exception:  # noqa: BLE001 - an operation the meta device cannot run: nothing to conclude
        out["meta"] = 3
    out["default_meta"] = default_device_probe(nt_xent_loss, *inp["grad"])
    z1, z2 = (z.clone() for z in inp["grad"])
    value(z1, z2, 0.2)
    out["after_1"], out["after_2"] = z1, z2
    out["requires_grad"], out["grad_1"], out["grad_2"] = False, torch.zeros_like(z1), torch.zeros_like(z2)
    if not (torch.equal(z1, inp["grad"][0]) and torch.equal(z2, inp["grad"][1])):
        return out  # edited in place: the judge says so (with requires_grad, the edit would raise instead)
    out.update(gradients(nt_xent_loss, inp["grad"], name))
    return out


def gradients(nt_xent, inputs: tuple[torch.Tensor, torch.Tensor], name: str) -> dict:
    """``requires_grad`` of an NT-Xent exercise's loss at temperature 0.2 on ``inputs``, and its gradients
    ``grad_1``, ``grad_2`` (zeros when it carries none)."""
    z1, z2 = (z.clone().requires_grad_() for z in inputs)
    loss = loss_value(nt_xent, z1, z2, 0.2, name)
    out = {"requires_grad": bool(loss.requires_grad), "grad_1": torch.zeros_like(z1.detach()),
           "grad_2": torch.zeros_like(z2.detach())}
    if loss.requires_grad:
        with calling(name, "loss.backward()"):
            g1, g2 = torch.autograd.grad(loss, (z1, z2), allow_unused=True)
        expect(g1 is not None and g2 is not None, name, "the loss does not depend on both z1 and z2.")
        out["grad_1"], out["grad_2"] = expect_tensor(g1, name, "dL/dz1"), expect_tensor(g2, name, "dL/dz2")
    return out


def default_device_probe(nt_xent_loss, z1: torch.Tensor, z2: torch.Tensor) -> int:
    """Run the loss on CPU inputs while tensors made without ``device=`` land on the meta device.

    The meta-input probe of :func:`loss_run` concludes nothing for a loss that leaves autocast
    with ``torch.autocast(device_type=z1.device.type, enabled=False)`` (autocast has no meta
    device); this one does: a mask or targets made without ``device=z1.device`` meet the CPU
    inputs on another device. Returns 0 (the loss stayed on the inputs' device), 1 (a tensor
    was made on the default device) or 3 (another error: nothing to conclude).
    """
    try:
        with torch.device("meta"):
            result = nt_xent_loss(z1.clone(), z2.clone(), 0.5)
        return 0 if isinstance(result, torch.Tensor) and result.device.type == "cpu" else 1
    except RuntimeError as error:
        return 1 if "device" in str(error) else 3
    except Exception:  # noqa: BLE001 - not about devices: the other cases report it
        return 3


def loss_schema(inp: dict) -> dict:
    value, cases = floats(finite=False), floats(len(inp["cases"]), finite=False)
    grad = floats(*inp["grad"][0].shape, finite=False)
    return {"identical": value, "one_hot": floats(len(TEMPERATURES), finite=False), "random": value,
            "random_x5": value, "cases": cases, "swapped": cases, "scaled": cases, "big": value, "big_unit": value,
            "float32": value, "float16": value, "autocast": value, "near_one_float16": value,
            "near_one_autocast": value, "meta": ints(), "default_meta": ints(), "after_1": grad, "after_2": grad,
            "requires_grad": bools(), "grad_1": grad, "grad_2": grad}


def diagnose_identical(value: float, n: int, temperature: float) -> str:
    """What a wrong loss on identical embeddings says about the implementation."""
    known = {
        math.log(2 * n - 1 + math.exp(-1 / temperature)):
            f"{value:.4f} = log(2N - 1 + exp(-1/t)): the self-similarity was set to 0 instead of -inf, so exp(0) = 1 "
            "still counts in the denominator. Mask it with float('-inf').",
        math.log(2 * n): f"{value:.4f} = log(2N): the anchor is among its own candidates. Mask the self-similarity "
                         "(the diagonal of the 2N x 2N similarity matrix) with -inf.",
        math.log(n): f"{value:.4f} = log(N): only the N cross-view similarities are candidates. Use all 2N - 1 other "
                     "embeddings (both views) as candidates.",
        2 * n * math.log(2 * n - 1): f"{value:.2f} = 2N log(2N - 1): you summed over the anchors; take the mean.",
        n * math.log(2 * n - 1): f"{value:.4f} = N log(2N - 1): take the mean over the 2N anchors, not a sum.",
    }
    for expected, message in known.items():
        if math.isclose(value, expected, rel_tol=1e-3, abs_tol=1e-3):
            return message
    if not math.isfinite(value):
        return ("the loss is not finite: the positive of anchor i is i + N (and of i + N it is i). A target of i "
                "points at the masked diagonal (-inf).")
    return f"got {value:.4f}."


def diagnose_one_hot(value: float, n: int, temperature: float) -> str:
    """What a wrong loss on the one-hot fixture says about the implementation."""
    correct = one_hot_loss(n, temperature)
    known = {
        math.log(1 + (2 * n - 2) * math.exp(-temperature)): "you multiplied the similarities by the temperature; "
                                                            "divide by it.",
        math.log(1 + (2 * n - 1) * math.exp(-1 / temperature)):
            "the self-similarity was set to 0 instead of -inf, so exp(0) = 1 still counts in the denominator. Mask it "
            "with float('-inf').",
        2 * n * correct: "that is 2N times the right value: take the mean over the 2N anchors, not a sum.",
    }
    for expected, message in known.items():
        if math.isclose(value, expected, rel_tol=1e-3):
            return f"got {value:.4f}: {message}"
    return f"got {value:.4f}. Divide the cosine similarities by the temperature and mask only the diagonal."


def judge_fixtures(name: str, out: dict, temperatures) -> None:
    """The closed forms of :func:`nt_xent_fixtures` (N = 4) and their scale invariance, for any NT-Xent exercise."""
    n = 4
    value = float(out["identical"])
    expect(math.isclose(value, math.log(2 * n - 1), abs_tol=1e-4), name,
           f"for {2 * n} identical embeddings every candidate is equally similar, so the loss should be log(2N - 1) = "
           f"{math.log(2 * n - 1):.4f}; {diagnose_identical(value, n, 0.5)}")
    for t, value in zip(temperatures, out["one_hot"].tolist(), strict=True):
        expected = one_hot_loss(n, t)
        expect(close(value, expected, 1e-4), name,
               f"for z1 = z2 = one-hot rows (positive cosine 1, negatives 0) at temperature {t} the loss should be "
               f"log(1 + (2N - 2) exp(-1 / temperature)) = {expected:.4f}; {diagnose_one_hot(value, n, t)}")
    a, b = float(out["random"]), float(out["random_x5"])
    expect(math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-5), name,
           f"scaling the embeddings by 5 changed the loss from {a:.4f} to {b:.4f}: L2-normalise z1 and z2 "
           "(F.normalize(z, dim=1)) before the dot products, so that they are cosine similarities.")


def loss_judge(out: dict, inp: dict) -> None:
    name = "nt_xent_loss"
    judge_fixtures(name, out, TEMPERATURES)
    for (z1, _, t), value, swapped, scaled in zip(inp["cases"], *(out[k].tolist() for k in ("cases", "swapped",
                                                                                           "scaled")), strict=True):
        expect(close(swapped, value), name,
               f"L(z1, z2) = {value:.5f} but L(z2, z1) = {swapped:.5f} (N={len(z1)}, temperature {t}): the loss must "
               "be symmetric. Use both views as anchors (2N anchors), not only z1.")
        expect(close(scaled, value, 1e-4), name, f"the loss changes when z1 and z2 are rescaled (N={len(z1)}, "
                                                 f"temperature {t}): L2-normalise each row.")
    big, unit = float(out["big"]), float(out["big_unit"])
    expect(close(big, unit, 1e-4), name,
           f"with embeddings of norm ~6e4 at temperature 0.05 the loss is {big}, but {unit:.5f} for the same "
           "directions with norm 1. Normalise before the dot product and use a stable log-softmax (F.cross_entropy or "
           "torch.logsumexp), not log(sum(exp(...))).")
    exact = float(out["float32"])
    for key, how in (("float16", "on float16 inputs (what a model under mixed precision returns)"),
                     ("autocast", "inside torch.autocast(dtype=torch.float16), as train.fit calls it on a GPU")):
        value = float(out[key])
        expect(close(value, exact, HALF_RTOL), name,
               f"{how}, at temperature 0.05, the loss is {value:.5g} instead of {exact:.5f} (the float32 loss of the "
               f"same values): it {'overflowed' if not math.isfinite(value) else 'lost precision'} in half precision. "
               "Compute the similarities in float32 with autocast turned off: under torch.autocast, .float() alone "
               "does not keep a matrix product in float32. See the exercise's docstring.")
    n, t = len(inp["near_one"][0]), NEAR_ONE_TEMPERATURE
    expected, collapsed = near_one_loss(inp["near_one"][0], t), math.log(2 * n - 1)
    for key, how, fix in (
            ("near_one_float16", "on float16 inputs", "Cast z1 and z2 to float32 (.float()) before the matrix product."),
            ("near_one_autocast", "inside torch.autocast(dtype=torch.float16), as train.fit calls it on a GPU",
             "Compute the similarities in float32 with autocast turned off: under torch.autocast, .float() alone does "
             "not keep a matrix product in float32. See the exercise's docstring.")):
        value = float(out[key])
        expect(close(value, expected, HALF_RTOL), name,
               f"{how}, with N={n} pairs whose negatives have cosine {1 - NEAR_ONE_GAP} and positives cosine 1 "
               f"(temperature {t}), the loss is {value:.5f}"
               + (" = log(2N - 1), as if positives and negatives had the same similarity," if close(value, collapsed, 1e-4)
                  else "") + f" instead of {expected:.5f}. Just below 1, float16 only resolves steps of about 0.0005, "
               f"so half-precision similarities round these cosines together. {fix}")
    expect(torch.equal(out["after_1"], inp["grad"][0]) and torch.equal(out["after_2"], inp["grad"][1]), name,
           "the loss modified z1 or z2 in place (e.g. z1 /= norm); compute new tensors instead.")
    expect(bool(out["requires_grad"]), name,
           "the loss carries no gradient: don't detach, call .item() or use numpy inside.")
    expect(bool(torch.isfinite(out["grad_1"]).all() and torch.isfinite(out["grad_2"]).all()), name,
           "the gradients of the loss are not finite.")
    expect(int(out["meta"]) != 1 and int(out["default_meta"]) != 1, name,
           "the loss builds a tensor on the CPU while the embeddings live on another device. Take the device from the "
           "inputs: torch.arange(n, device=z1.device), torch.eye(..., device=z1.device).")
    expect(int(out["meta"]) != 2, name, "the loss was computed on another device than its inputs.")


# ----------------------------------------------------------------------------- Exercise 2.5 (the loop)
#: Largest N of the loop's random cases: a Python loop over 2N anchors is slow, and small cases say enough.
LOOP_MAX_N = 6
#: Temperatures of the loop's one-hot closed form.
LOOP_TEMPERATURES = (0.1, 0.5, 1.0)


def loop_inputs(seed: int | None) -> dict:
    """Closed-form fixtures (N = 4), small random cases (any N and D, all temperatures) and a gradient case."""
    g = generator(seed, 26)
    shapes = ((1, 3, 0.5), (3, 5, 0.1), (6, 16, 1.0)) if seed is None else \
        [(int(torch.randint(1, LOOP_MAX_N + 1, (1,), generator=g)), int(torch.randint(3, 33, (1,), generator=g)),
          TEMPERATURES[int(torch.randint(0, len(TEMPERATURES), (1,), generator=g))]) for _ in range(3)]
    cases = [(torch.randn(n, d, generator=g), torch.randn(n, d, generator=g), t) for n, d, t in shapes]
    return {"fixtures": nt_xent_fixtures(4, seed=0 if seed is None else subseed(g)), "cases": cases,
            "grad": (torch.randn(3, 8, generator=g), torch.randn(3, 8, generator=g)), "tilted": tilted_pair(4)}


#: Cosine of a positive pair in the tilted fixture.
TILT = 0.6


def tilted_pair(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``z1 = e_i`` and ``z2 = TILT e_i + sqrt(1 - TILT^2) e_(n+i)`` ``[n, 2n]``: each positive pair has cosine
    ``TILT``, every other pair 0, so the loss is ``log(1 + (2N - 2) exp(-TILT / t))``; unlike the other
    fixtures, an anchor and its positive differ."""
    z1 = torch.eye(n, 2 * n)
    z2 = TILT * z1 + math.sqrt(1 - TILT ** 2) * torch.eye(n, 2 * n).roll(n, dims=1)
    return z1, z2


def loop_run(nt_xent_loop, inp: dict) -> dict:
    name = "nt_xent_loop"

    def value(z1, z2, t):
        return float(expect_tensor(loss_value(nt_xent_loop, z1, z2, t, name), name, "the loss").float())

    f = inp["fixtures"]
    out = {"identical": value(*f["identical"], 0.5), "one_hot": [value(*f["one_hot"], t) for t in LOOP_TEMPERATURES],
           "random": value(*f["random"], 0.5), "random_x5": value(*f["random_x5"], 0.5),
           "cases": [value(z1, z2, t) for z1, z2, t in inp["cases"]],
           "swapped": [value(z2, z1, t) for z1, z2, t in inp["cases"]], "tilted": value(*inp["tilted"], 0.5)}
    out.update(gradients(nt_xent_loop, inp["grad"], name))
    return out


def loop_judge(out: dict, inp: dict) -> None:
    name, n = "nt_xent_loop", 4
    judge_fixtures(name, out, LOOP_TEMPERATURES)
    value, expected = float(out["tilted"]), math.log(1 + (2 * n - 2) * math.exp(-TILT / 0.5))
    expect(close(value, expected, 1e-4), name,
           f"when each positive pair has cosine {TILT} and every other pair 0 (temperature 0.5) the loss should be "
           f"log(1 + (2N - 2) exp(-{TILT} / t)) = {expected:.4f}, got {value:.4f}. The positive of row i is row "
           "(i + N) mod 2N, the other view of the same image, not row i itself.")
    for (z1, _, t), value, swapped in zip(inp["cases"], out["cases"].tolist(), out["swapped"].tolist(), strict=True):
        expect(close(swapped, value), name,
               f"L(z1, z2) = {value:.5f} but L(z2, z1) = {swapped:.5f} (N={len(z1)}, temperature {t}): loop over all "
               "2N anchors, the rows of z1 and of z2.")
    expect(bool(out["requires_grad"]) and bool(torch.isfinite(out["grad_1"]).all() and
                                               torch.isfinite(out["grad_2"]).all()), name,
           "the loss carries no finite gradient: build it from torch operations on z1 and z2 (no .item(), no numpy).")


def loop_schema(inp: dict) -> dict:
    value, cases = floats(finite=False), floats(len(inp["cases"]), finite=False)
    grad = floats(*inp["grad"][0].shape, finite=False)
    return {"identical": value, "one_hot": floats(len(LOOP_TEMPERATURES), finite=False), "random": value,
            "random_x5": value, "cases": cases, "swapped": cases, "tilted": value, "requires_grad": bools(),
            "grad_1": grad, "grad_2": grad}


def compare_nt_xent(nt_xent_loop, nt_xent_loss, n: int = 64, dim: int = 128, seed: int = 0) -> dict:
    """Your loop and your vectorised loss on the same random batch: their values must agree; how long each takes.

    Not graded: it tells you whether the two exercises agree with each other, and what vectorising buys.

    Returns:
        ``{"loop": loss, "vectorised": loss, "difference": |loop - vectorised|, "loop_seconds", "vectorised_seconds"}``.
    """
    import time

    g = torch.Generator().manual_seed(seed)
    z1, z2 = torch.randn(n, dim, generator=g), torch.randn(n, dim, generator=g)
    out = {}
    for key, loss in (("loop", nt_xent_loop), ("vectorised", nt_xent_loss)):
        with calling(loss.__name__, f"{loss.__name__}(z1, z2, 0.2) with N={n}, D={dim}"):
            loss(z1, z2, 0.2)  # a first call pays one-off costs (lazy initialisation); time the second
            started = time.perf_counter()
            out[key] = float(loss(z1, z2, 0.2))
        out[f"{key}_seconds"] = time.perf_counter() - started
    out["difference"] = abs(out["loop"] - out["vectorised"])
    expect(out["difference"] <= 1e-4 * max(1.0, abs(out["loop"])), "nt_xent_loss",
           f"your loop gives {out['loop']:.6f} and your vectorised loss {out['vectorised']:.6f} on the same batch "
           f"(N={n}, D={dim}, temperature 0.2): one of them is wrong. Their checks say which.")
    print(f"loop {out['loop']:.6f} in {1000 * out['loop_seconds']:.1f} ms, vectorised {out['vectorised']:.6f} in "
          f"{1000 * out['vectorised_seconds']:.1f} ms: they agree to {out['difference']:.1e}, the vectorised loss is "
          f"{out['loop_seconds'] / max(out['vectorised_seconds'], 1e-9):.0f}x faster here.")
    return out


EXERCISES = [
    Exercise("test_simclr_augment", "simclr_augment", augment_inputs, augment_run, augment_judge, augment_schema),
    Exercise("test_two_views", "two_views", views_inputs, views_run, views_judge, views_schema),
    Exercise("test_projection_head", "ProjectionHead", head_inputs, head_run, head_judge,
             lambda inp: {"head": None, "small": None}, head_replay, head_replay_schema,
             private=("probe", "pair", "probe_small", "weights", "perm")),
    Exercise("test_simclr_model", "SimCLRModel", model_inputs, model_run, model_judge,
             lambda inp: {"toy": None, "conv": None}, model_replay, model_replay_schema,
             private=("probe_toy", "probe")),
    Exercise("test_nt_xent_loop", "nt_xent_loop", loop_inputs, loop_run, loop_judge, loop_schema),
    Exercise("test_nt_xent_loss", "nt_xent_loss", loss_inputs, loss_run, loss_judge, loss_schema),
]
(check_simclr_augment, check_two_views, check_projection_head, check_simclr_model, check_nt_xent_loop,
 check_nt_xent_loss) = map(checker, EXERCISES)
