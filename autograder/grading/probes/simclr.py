"""Re-check probes of Notebook 2 (SimCLR): augmentation, two views, head, model and NT-Xent.

The sandbox side reuses the public checks' input builders and call guards
(:mod:`selfsup.checks.simclr`); the grader side recomputes what the strict checks of
:mod:`autograder.checks.simclr` compare against: :func:`reference_nt_xent` (SimCLR's Algorithm 1
in float64) for the loss and its gradients, and the seeded backbone and head for the model. The
inputs (images, embeddings, batch sizes, dimensions and temperatures) come from the grader's seed.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from autograder.checks.simclr import CropAugment  # bound now: the sandbox seals autograder before student code
from selfsup.checks import simclr as public
from selfsup.data import denormalize

from . import Exercise, array, calling, expect

ASSIGNMENT = "02_simclr"
CONTEXT = ""
# Captured when the sandbox imports this module, before any student code can rebind them.
_grad = torch.autograd.grad
_backward = torch.autograd.backward
_parameters = nn.Module.parameters
_train = nn.Module.train

TEMPERATURES = (0.07, 0.1, 0.2, 0.3, 0.5, 1.0)


def _generator(seed: int, salt: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1000003 + salt) % 2**63)


def _subseed(g: torch.Generator) -> int:
    return int(torch.randint(0, 2**31 - 1, (1,), generator=g))


def _close(value: float, expected: float, tol: float = 1e-5) -> bool:
    return math.isfinite(value) and abs(value - expected) <= tol * max(1.0, abs(expected))


# ---------------------------------------------------------------------------- Exercise 2.1
def augment_inputs(seed: int) -> dict:
    from autograder.checks.simclr import step_edge

    g = _generator(seed, 21)
    x = public.toy_images(32, seed=_subseed(g))
    # 192 edges and 384 one-colour copies keep every statistical bound below at more than 4 standard deviations.
    return {"x": x, "copies": x[:1].expand(64, -1, -1, -1).contiguous(), "edge": step_edge(192),
            "one": public.toy_images(1, seed=_subseed(g)), "colour": public.constant_colour(384)}


def augment_run(objects: dict, inp: dict) -> dict:
    ex = "simclr_augment"
    augment = public.build_augment(objects[ex], ex)
    out = {}
    for key in ("x", "copies", "colour", "edge", "one"):
        out[key] = array(public.apply_augment(augment, inp[key], ex), ex, f"augment(x) on {key}")
    out["again"] = array(public.apply_augment(augment, inp["x"], ex), ex, "augment(x) called again")
    return out


def augment_judge(out: dict, inp: dict) -> None:
    ex = "simclr_augment"
    t = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in out.items()}
    lo, hi = public.pixel_bounds()
    expect(bool(((t["x"] >= lo - 1e-3) & (t["x"] <= hi + 1e-3)).all()), ex,
           "outputs leave the range of normalised pixels [normalize(0), normalize(1)]. kornia's colour ops expect "
           "pixels in [0, 1]: apply them to data.denormalize(x), then map back with data.normalize.")
    pixels = denormalize(t["x"])
    expect(pixels.amin().item() < 0.2 and pixels.amax().item() > 0.8, ex,
           f"after data.denormalize the outputs only span [{pixels.amin().item():.2f}, {pixels.amax().item():.2f}]: "
           "the output looks like [0, 1] pixels, not normalised images. Finish with data.normalize(...).")
    distinct = public.fraction_distinct(t["copies"])
    expect(distinct >= 0.1, ex, f"64 copies of one image gave only {100 * distinct:.0f}% distinct views: the random "
                                "parameters are drawn once for the whole batch. Draw them per image.")
    expect(distinct >= 0.95, ex, f"64 copies of one image gave only {100 * distinct:.0f}% distinct views: is "
                                 "RandomResizedCrop((32, 32), scale=(0.2, 1.0)) missing?")
    expect(not torch.allclose(t["x"], t["again"]), ex,
           "two calls on the same batch gave the same output: the augmentation is not random (a fixed seed inside?).")
    unchanged, gray = public.colour_effects(t["colour"], inp["colour"])
    expect(unchanged < 0.45, ex, f"{100 * unchanged:.0f}% of {len(t['colour'])} copies of a one-colour image kept their colour: is "
                                 "ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8) missing?")
    expect(0.08 <= gray <= 0.35, ex, f"{100 * gray:.0f}% of the views of a one-colour image are gray; "
                                     f"RandomGrayscale(p={public.GRAYSCALE_P}) should make about "
                                     f"{100 * public.GRAYSCALE_P:.0f}% gray (missing, or colour ops on normalised x?).")
    expect(tuple(t["one"].shape) == (1, 3, 32, 32), ex, "a batch of one image should give one view [1, 3, 32, 32].")
    columns = denormalize(t["edge"]).mean(1).mean(1)
    flipped = (columns[:, :8].mean(1) > columns[:, -8:].mean(1)).float().mean().item()
    expect(0.3 <= flipped <= 0.7, ex, f"{100 * flipped:.0f}% of the views of an image (dark left, bright right) are "
                                      "mirrored; about half should be. Is RandomHorizontalFlip missing?")
    edge = (columns[:, 1:] - columns[:, :-1]).abs().argmax(1)
    moved = ((edge - 15).abs() > 2).float().mean().item()
    expect(moved >= 0.3, ex, "the edge in the middle of the image stays in the middle in most views: the views are "
                             "not random crops. Add RandomResizedCrop((32, 32), scale=(0.2, 1.0)) first.")
    expected = (1 - public.JITTER_P) * (1 - public.GRAYSCALE_P)
    expect(0.07 <= unchanged <= 0.3, ex, f"{100 * unchanged:.0f}% of the copies of a one-colour image kept their "
                                         f"colour; jitter and grayscale leave about {100 * expected:.0f}% unchanged.")
    expect(0.12 <= gray <= 0.3, ex, f"{100 * gray:.0f}% of the views are gray; expected about 20% (p=0.2).")
    pixels, reference = denormalize(t["colour"]), denormalize(inp["colour"])
    spread = (pixels.amax(1) - pixels.amin(1)).flatten(1).amax(1)
    jittered = ((pixels - reference).abs().flatten(1).amax(1) > 2e-3) & (spread > 2e-3)
    strength = (pixels - reference)[jittered].abs().mean().item() if bool(jittered.any()) else 0.0
    expect(0.09 <= strength <= 0.17, ex,
           f"the colour jitter changes the pixels of a one-colour image by {strength:.3f} on average; K.ColorJitter("
           "0.4, 0.4, 0.4, 0.1) changes them by about 0.13. Check its four strengths.")


# ---------------------------------------------------------------------------- Exercise 2.2
def views_inputs(seed: int) -> dict:
    g = _generator(seed, 22)
    return {"x": public.toy_images(8, seed=_subseed(g)), "one": public.toy_images(1, seed=_subseed(g)),
            "six": public.toy_images(6, seed=_subseed(g)),
            "strided": public.toy_images(8, seed=_subseed(g)).transpose(2, 3)}


def views_run(objects: dict, inp: dict) -> dict:
    ex = "two_views"
    fn = objects[ex]
    out = {}
    for key, augment, what in (("x", public.NoiseAugment(), None), ("one", public.NoiseAugment(), None),
                               ("six", CropAugment(), "two_views(x, augment) with an augment that returns 24x24 "
                                                      "crops of 32x32 images"),
                               ("strided", public.NoiseAugment(), None)):
        x = inp[key].clone() if key != "strided" else inp[key]
        v1, v2 = public.get_views(fn, x, augment, ex, what or "two_views(x, augment)")
        out[f"{key}_1"], out[f"{key}_2"] = array(v1, ex, "view1"), array(v2, ex, "view2")
        out[f"{key}_images"] = augment.images
        out[f"{key}_after"] = x.detach().clone()
    return out


def views_judge(out: dict, inp: dict) -> None:
    ex = "two_views"
    t = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in out.items()}
    x = inp["x"]
    expect(t["x_1"].shape == x.shape and t["x_2"].shape == x.shape, ex,
           f"with a shape-preserving augmentation each view should have the shape of x {tuple(x.shape)}, got "
           f"{tuple(t['x_1'].shape)} and {tuple(t['x_2'].shape)}.")
    expect(torch.equal(t["x_after"], x), ex, "two_views modified x in place.")
    for name in ("x_1", "x_2"):
        noise = (t[name] - x).flatten(1).std(1)
        view = "view1" if name.endswith("1") else "view2"
        expect(bool((noise > 0.05).all()), ex, f"{view} is (partly) the unaugmented x: both views must be augment(x).")
        expect(bool((noise < 0.2).all()), ex, f"{view} is not an augmentation of x itself (wrong images or order?).")
    expect(bool(((t["x_1"] - t["x_2"]).flatten(1).abs().amax(1) > 1e-6).all()), ex,
           "view1 and view2 are identical: call augment twice (or once on a doubled batch), don't reuse one view.")
    expect(int(out["x_images"]) >= 2 * len(x), ex, f"augment saw {int(out['x_images'])} images for a batch of "
                                                   f"{len(x)}; each image needs two augmented views.")
    expect(t["one_1"].shape == inp["one"].shape and not torch.equal(t["one_1"], t["one_2"]), ex,
           "with a batch of one image the two views should still be two different [1, 3, 32, 32] tensors.")
    expect(tuple(t["six_1"].shape) == tuple(t["six_2"].shape) == (6, 3, 24, 24), ex,
           "the views should be whatever augment returns (here 24x24 crops); don't assume the shape of x.")
    crop = inp["six"][..., 4:28, 4:28]
    for name in ("six_1", "six_2", "strided_1", "strided_2"):
        base = crop if name.startswith("six") else inp["strided"]
        expect(bool(((t[name] - base).std() - 0.1).abs() < 0.03), ex,
               "the views are not augment(x)" + (" on a non-contiguous batch." if name.startswith("str") else "."))


# ---------------------------------------------------------------------------- Exercise 2.3
def head_inputs(seed: int) -> dict:
    g = _generator(seed, 23)
    return {"init_seed": _subseed(g), "h": torch.randn(8, public.FEATURE_DIM, generator=g),
            "pair": torch.randn(2, 16, public.FEATURE_DIM, generator=g),
            "train": torch.randn(64, public.FEATURE_DIM, generator=g), "small": torch.randn(4, 64, generator=g),
            "rows": torch.randn(5, public.FEATURE_DIM, generator=g)}


def _linear_shapes(head) -> torch.Tensor:
    shapes = [(m.in_features, m.out_features) for m in public.linear_layers(head)]
    return torch.tensor(shapes, dtype=torch.int64).reshape(-1, 2)


def head_run(objects: dict, inp: dict) -> dict:
    ex = "ProjectionHead"
    cls = objects[ex]
    torch.manual_seed(inp["init_seed"])
    head = public.build_head(cls, ex)
    with calling(ex, "head(h)"):
        z = head(inp["h"])
    out = {"z": array(z, ex, "head(h)"), "shapes": _linear_shapes(head)}
    _train(head, False)
    with calling(ex, "head(h) in eval mode"), torch.no_grad():
        a, b = inp["pair"]
        out.update(a=array(head(a), ex, "head(a)"), b=array(head(b), ex, "head(b)"),
                   ab=array(head(a + b), ex, "head(a + b)"), zero=array(head(torch.zeros_like(a)), ex, "head(0)"))
    _train(head, True)
    with calling(ex, "head(h) in training mode"):
        z = head(inp["train"])
    out["z_train"] = array(z, ex, "head(h)")
    with calling(ex, "backward through head(h)"):
        _backward([z.pow(2).mean()])
    out["grads"] = [p.grad is not None for p in _parameters(head)]
    small = public.build_head(cls, ex, 64, 32, 16)
    out["small_shapes"] = _linear_shapes(small)
    with calling(ex, "ProjectionHead(64, 32, 16)(h)"):
        out["small_z"] = array(small(inp["small"]), ex, "ProjectionHead(64, 32, 16)(h)")
    linear = sum(p.numel() for m in public.linear_layers(head) for p in m.parameters())
    out["extra"] = sum(p.numel() for p in _parameters(head)) - linear
    _train(head, False)
    with calling(ex, "head(h) in eval mode"), torch.no_grad():
        rows = inp["rows"]
        out["together"] = array(head(rows), ex, "head(h)")
        out["alone"] = array(torch.cat([head(rows[i:i + 1]) for i in range(len(rows))]), ex, "head(h[i:i+1])")
    return out


def head_judge(out: dict, inp: dict) -> None:
    ex = "ProjectionHead"
    feature, hidden, projection = public.FEATURE_DIM, public.HIDDEN_DIM, public.PROJECTION_DIM
    expect(tuple(out["z"].shape) == (8, projection), ex, f"head(h) should have shape (8, {projection}), got "
                                                         f"{tuple(out['z'].shape)}.")
    shapes = [tuple(int(v) for v in row) for row in out["shapes"]]
    expect(shapes == [(feature, hidden), (hidden, projection)], ex,
           f"the head should have exactly two nn.Linear layers, {feature}->{hidden} then {hidden}->{projection}; "
           f"found {shapes}.")
    gap = np.abs(out["a"] + out["b"] - out["ab"] - out["zero"]).max()
    expect(gap > 1e-3, ex, "the head is an affine map: two Linear layers in a row equal one. Put a nonlinearity "
                           "(nn.ReLU) between them.")
    expect(bool((out["z_train"] < 0).any()), ex, "no output is negative: the head ends with a ReLU; end with the "
                                                 "second Linear layer.")
    expect(bool(np.all(out["grads"])), ex, "some parameters of the head get no gradient.")
    small = [tuple(int(v) for v in row) for row in out["small_shapes"]]
    expect(small == [(64, 32), (32, 16)], ex, f"ProjectionHead(64, 32, 16) should have Linear layers 64->32 and "
                                              f"32->16, found {small}: use the arguments, not fixed sizes.")
    expect(tuple(out["small_z"].shape) == (4, 16), ex, "ProjectionHead(64, 32, 16)(h) should have shape (4, 16).")
    extra = int(out["extra"])
    expect(extra in (0, 2 * hidden), ex, f"besides its two Linear layers the head has {extra:,} parameters; a "
                                         f"BatchNorm1d({hidden}) has {2 * hidden}, nothing else belongs there. This "
                                         "is a different head.")
    expect(np.allclose(out["together"], out["alone"], atol=1e-5), ex,
           "in eval mode each row of head(h) should depend only on its own row of h.")


# ---------------------------------------------------------------------------- Exercise 2.4
def model_inputs(seed: int) -> dict:
    g = _generator(seed, 24)
    return {"toy_seed": _subseed(g), "conv_seed": _subseed(g), "x_toy": torch.randn(4, 3, 8, 8, generator=g),
            "x": torch.randn(3, 3, 32, 32, generator=g), "x_train": torch.randn(2, 3, 32, 32, generator=g)}


def _conv_parts(seed: int):
    from selfsup.models import SmallConvNet

    torch.manual_seed(seed)
    return SmallConvNet(), nn.Sequential(nn.Linear(256, 64), nn.ReLU(), nn.Linear(64, 128))


def model_run(objects: dict, inp: dict) -> dict:
    ex = "SimCLRModel"
    cls = objects[ex]
    backbone, head = public.toy_model_parts(inp["toy_seed"])
    with calling(ex, "SimCLRModel(backbone, head)"):
        model = cls(backbone, head)
    expect(isinstance(model, nn.Module), ex, "SimCLRModel should be an nn.Module.")
    own = {id(p) for p in _parameters(model)}
    out = {"registered": [id(p) in own for p in list(backbone.parameters()) + list(head.parameters())]}
    h, z = public.model_outputs(model, inp["x_toy"], ex)
    out["h_toy"], out["z_toy"] = array(h, ex, "h"), array(z, ex, "z")
    with calling(ex, "backward through z"):
        _backward([z.pow(2).sum()])
    out["toy_grads"] = [-1.0 if p.grad is None else float(p.grad.abs().sum()) for p in backbone.parameters()]
    backbone, head = _conv_parts(inp["conv_seed"])
    with calling(ex, "SimCLRModel(SmallConvNet(), head)"):
        model = cls(backbone, head)
    out["keeps_backbone"] = getattr(model, "backbone", None) is backbone
    out["named"] = any(name.startswith("backbone.") for name, _ in nn.Module.named_parameters(model))
    _train(model, False)
    with torch.no_grad():
        h, z = public.model_outputs(model, inp["x"], ex)
    out["h"], out["z"] = array(h, ex, "h"), array(z, ex, "z")
    _train(model, True)
    h, z = public.model_outputs(model, inp["x_train"], ex)
    out["trains"] = bool(h.requires_grad and z.requires_grad)
    return out


def model_judge(out: dict, inp: dict) -> None:
    ex = "SimCLRModel"
    expect(bool(np.all(out["registered"])), ex,
           "the parameters of the backbone and the head should be among model.parameters(); keep both as attributes "
           "(self.backbone = backbone, self.head = head) and don't build a new head.")
    backbone, head = public.toy_model_parts(inp["toy_seed"])
    with torch.no_grad():
        h = backbone(inp["x_toy"])
        z = head(h)
    expect(np.allclose(out["h_toy"], h.numpy(), atol=1e-5), ex, "h should be backbone(x), the representation we keep.")
    expect(np.allclose(out["z_toy"], z.numpy(), atol=1e-5), ex, "z should be head(h), the projection of h.")
    grads = np.asarray(out["toy_grads"], dtype=float)
    expect(bool((grads > 0).all()), ex, "the loss on z sends no gradient into the backbone: compute z from h without "
                                        "detach() or no_grad().")
    expect(bool(out["keeps_backbone"]), ex, "keep the backbone as model.backbone: the notebook probes model.backbone "
                                            "after training.")
    expect(bool(out["named"]), ex, "the backbone is not registered as a submodule.")
    backbone, head = _conv_parts(inp["conv_seed"])
    backbone.eval()
    head.eval()
    with torch.no_grad():
        h = backbone(inp["x"])
        z = head(h)
    expect(np.allclose(out["h"], h.numpy(), atol=1e-5) and np.allclose(out["z"], z.numpy(), atol=1e-5), ex,
           "with SmallConvNet in eval mode, (h, z) should equal (backbone(x), head(backbone(x))).")
    expect(bool(out["trains"]), ex, "h and z should carry gradients in training mode.")


# ---------------------------------------------------------------------------- Exercise 2.5
def loss_inputs(seed: int) -> dict:
    g = _generator(seed, 25)
    cases = []
    for _ in range(5):
        n, dim = int(torch.randint(1, 18, (1,), generator=g)), int(torch.randint(3, 130, (1,), generator=g))
        t = TEMPERATURES[int(torch.randint(0, len(TEMPERATURES), (1,), generator=g))]
        cases.append((torch.randn(n, dim, generator=g), torch.randn(n, dim, generator=g), t))
    big1, big2 = 1e4 * torch.randn(8, 32, generator=g), 1e4 * torch.randn(8, 32, generator=g)
    big2[0] = big1[0]
    low1, low2 = 30 * torch.randn(8, 64, generator=g), 30 * torch.randn(8, 64, generator=g)
    low2[:4] = low1[:4]
    return {"fixtures": public.nt_xent_fixtures(4, seed=_subseed(g)), "cases": cases, "big": (big1, big2),
            "low": (low1, low2), "grad": (torch.randn(6, 16, generator=g), torch.randn(6, 16, generator=g))}


def loss_run(objects: dict, inp: dict) -> dict:
    ex = "nt_xent_loss"
    loss = objects[ex]

    def value(z1, z2, t):
        return float(public.loss_value(loss, z1, z2, t, ex).detach().float().item())

    f = inp["fixtures"]
    out = {"identical": value(*f["identical"], 0.5), "one_hot": [value(*f["one_hot"], t) for t in TEMPERATURES],
           "random": value(*f["random"], 0.5), "random_x5": value(*f["random_x5"], 0.5)}
    out["cases"] = [value(z1, z2, t) for z1, z2, t in inp["cases"]]
    out["swapped"] = [value(z2, z1, t) for z1, z2, t in inp["cases"]]
    out["scaled"] = [value(1e3 * z1, 1e-2 * z2, t) for z1, z2, t in inp["cases"]]
    z1, z2 = (z.clone() for z in inp["grad"])
    value(z1, z2, 0.2)
    out["after_1"], out["after_2"] = z1, z2
    z1, z2 = (z.clone().requires_grad_() for z in inp["grad"])
    result = public.loss_value(loss, z1, z2, 0.2, ex)
    out["requires_grad"] = bool(result.requires_grad)
    if result.requires_grad:
        with calling(ex, "loss.backward()"):
            g1, g2 = _grad(result, (z1, z2), allow_unused=True)
        expect(g1 is not None and g2 is not None, ex, "the loss does not depend on both z1 and z2.")
        out["grad_1"], out["grad_2"] = array(g1, ex, "dL/dz1"), array(g2, ex, "dL/dz2")
    out["big"] = value(*inp["big"], 0.05)
    for dtype, name in ((torch.float16, "float16"), (torch.bfloat16, "bfloat16")):
        low1, low2 = (z.to(dtype) for z in inp["low"])
        with calling(ex, f"nt_xent_loss on {dtype} inputs"):
            result = loss(low1, low2, 0.05)
        out[name] = float(array(result, ex, f"the loss on {dtype} inputs").float().reshape(-1)[0])
    out["meta"], out["meta_error"] = 0, ""
    try:
        result = loss(torch.empty(4, 8, device="meta"), torch.empty(4, 8, device="meta"), 0.5)
        out["meta"] = 0 if isinstance(result, torch.Tensor) and result.device.type == "meta" else 2
    except RuntimeError as error:
        out["meta"] = 1 if "device" in str(error) else 3
    except Exception:  # noqa: BLE001 - the meta device is only a probe for hard-coded devices
        out["meta"] = 3
    return {k: v for k, v in out.items() if k != "meta_error"}


def loss_judge(out: dict, inp: dict) -> None:
    from autograder.checks.simclr import reference_nt_xent

    ex = "nt_xent_loss"
    n = 4
    value = float(out["identical"])
    expect(math.isclose(value, math.log(2 * n - 1), abs_tol=1e-4), ex,
           f"for {2 * n} identical embeddings the loss should be log(2N - 1) = {math.log(2 * n - 1):.4f}; "
           f"{public.diagnose_identical(value, n, 0.5)}")
    for t, value in zip(TEMPERATURES, map(float, out["one_hot"])):
        expected = public.one_hot_loss(n, t)
        expect(_close(value, expected, 1e-4), ex,
               f"for z1 = z2 = one-hot rows at temperature {t} the loss should be log(1 + (2N - 2) exp(-1 / "
               f"temperature)) = {expected:.4f}; {public.diagnose_one_hot(value, n, t)}")
    a, b = float(out["random"]), float(out["random_x5"])
    expect(math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-5), ex,
           f"scaling the embeddings by 5 changed the loss from {a:.4f} to {b:.4f}: L2-normalise z1 and z2.")
    for (z1, z2, t), value, swapped, scaled in zip(inp["cases"], out["cases"], out["swapped"], out["scaled"]):
        value, swapped, scaled = float(value), float(swapped), float(scaled)
        expect(_close(swapped, value), ex, f"L(z1, z2) = {value:.5f} but L(z2, z1) = {swapped:.5f}: the loss must "
                                           "be symmetric. Use both views as anchors (2N anchors), not only z1.")
        expected = reference_nt_xent(z1, z2, t).item()
        expect(_close(value, expected), ex, f"with N={len(z1)}, D={z1.shape[1]}, temperature {t} the loss is "
                                            f"{value:.6f}, the reference {expected:.6f} (tolerance 1e-5). Does your "
                                            "code assume a fixed batch size or dimension?")
        expect(_close(scaled, value, 1e-4), ex, "the loss changes when z1 and z2 are rescaled: L2-normalise each row.")
    z1, z2 = inp["grad"]
    expect(np.array_equal(out["after_1"], z1.numpy()) and np.array_equal(out["after_2"], z2.numpy()), ex,
           "the loss modified z1 or z2 in place (e.g. z1 /= norm); compute new tensors instead.")
    expect(bool(out["requires_grad"]), ex, "the loss carries no gradient: don't detach, call .item() or use numpy "
                                           "inside.")
    z1, z2 = z1.clone().requires_grad_(), z2.clone().requires_grad_()
    ref = torch.autograd.grad(reference_nt_xent(z1, z2, 0.2), (z1, z2))
    expect(np.allclose(out["grad_1"], ref[0].float().numpy(), atol=1e-5)
           and np.allclose(out["grad_2"], ref[1].float().numpy(), atol=1e-5), ex,
           "the gradients with respect to z1 and z2 differ from the reference's.")
    expected = reference_nt_xent(*inp["big"], 0.05).item()
    expect(_close(float(out["big"]), expected, 1e-4), ex,
           f"at temperature 0.05 with embeddings of norm ~6e4 the loss is {float(out['big'])} instead of "
           f"{expected:.5f}. Normalise before the dot product and use a stable log-softmax.")
    for dtype, name in ((torch.float16, "float16"), (torch.bfloat16, "bfloat16")):
        low1, low2 = (z.to(dtype).float() for z in inp["low"])
        expected = reference_nt_xent(low1, low2, 0.05).item()
        expect(_close(float(out[name]), expected, 1e-4), ex,
               f"with {name} inputs at temperature 0.05 the loss is {float(out[name])} instead of {expected:.5f}: "
               "compute the loss in float32 (z.float()).")
    expect(int(out["meta"]) != 1, ex, "the loss builds a tensor on the CPU while the embeddings live on another "
                                      "device. Take the device from the inputs: torch.arange(n, device=z1.device).")
    expect(int(out["meta"]) != 2, ex, "the loss was computed on another device than its inputs.")


EXERCISES = [
    Exercise("test_simclr_augment", ("simclr_augment",), augment_inputs, augment_run, augment_judge),
    Exercise("test_two_views", ("two_views",), views_inputs, views_run, views_judge),
    Exercise("test_projection_head", ("ProjectionHead",), head_inputs, head_run, head_judge),
    Exercise("test_simclr_model", ("SimCLRModel",), model_inputs, model_run, model_judge),
    Exercise("test_nt_xent_loss", ("nt_xent_loss",), loss_inputs, loss_run, loss_judge),
]
