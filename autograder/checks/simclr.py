"""Strict hidden checks for Notebook 2 (SimCLR), and the instructor's references.

The references live here, never in ``shared/``:

* :func:`reference_nt_xent` is a literal transcription of the NT-Xent loss of Chen et al.,
  *A Simple Framework for Contrastive Learning of Visual Representations*, ICML 2020,
  Algorithm 1: a loop over the 2N anchors, in float64. It is slow and obviously right; the
  checks compare the student's loss and its gradients with it.
* :func:`nt_xent` is the vectorised loss (the notebook's solution, in one function), tested
  against :func:`reference_nt_xent`; :func:`reference_augment` and :func:`reference_head` are the
  solutions of Exercises 2.1 and 2.3. The speed benchmark trains with these three.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from selfsup.checks import simclr as public
from selfsup.checks._core import calling, expect, expect_tensor
from selfsup.data import denormalize, normalize

#: Temperatures of the sweep, with the closed-form loss on the one-hot fixture (N=4) at each.
TEMPERATURE_SWEEP = (0.07, 0.1, 0.2, 0.3, 0.5, 1.0)


# ----------------------------------------------------------------------------------------------
# References
# ----------------------------------------------------------------------------------------------

def reference_nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent as written in SimCLR's Algorithm 1, computed in float64 with explicit loops.

    For ``k = 1..N`` the two views are ``z_{2k-1} = z1[k]`` and ``z_{2k} = z2[k]``;
    ``s_{i,j} = z_i . z_j / (|z_i| |z_j|)``;
    ``l(i, j) = -log( exp(s_{i,j} / t) / sum_{k != i} exp(s_{i,k} / t) )``;
    ``L = 1/(2N) sum_k [ l(2k-1, 2k) + l(2k, 2k-1) ]``.

    Args:
        z1: ``[N, D]`` projections of the first views.
        z2: ``[N, D]`` projections of the second views.
        temperature: ``t > 0``.

    Returns:
        The loss, a 0-d float64 tensor (differentiable).
    """
    z1, z2 = z1.double(), z2.double()
    n = z1.shape[0]
    z = [None] * (2 * n)
    for k in range(n):
        z[2 * k], z[2 * k + 1] = z1[k], z2[k]

    def sim(u, v):
        return torch.dot(u, v) / (torch.linalg.vector_norm(u) * torch.linalg.vector_norm(v))

    def pair_loss(i, j):
        logits = torch.stack([sim(z[i], z[k]) / temperature for k in range(2 * n) if k != i])
        return -(sim(z[i], z[j]) / temperature - torch.logsumexp(logits, dim=0))

    total = sum(pair_loss(2 * k, 2 * k + 1) + pair_loss(2 * k + 1, 2 * k) for k in range(n))
    return total / (2 * n)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """The vectorised NT-Xent (float32, any device): cross-entropy over the masked ``[2N, 2N]`` logits."""
    n = z1.shape[0]
    z = torch.nn.functional.normalize(torch.cat([z1, z2]).float(), dim=1)
    logits = (z @ z.T / temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n, device=z.device), torch.arange(0, n, device=z.device)])
    return torch.nn.functional.cross_entropy(logits, targets)


def reference_head(in_dim: int = public.FEATURE_DIM, hidden_dim: int = public.HIDDEN_DIM,
                   out_dim: int = public.PROJECTION_DIM) -> nn.Module:
    """SimCLR's projection head as in the notebook's solution: Linear -> BatchNorm1d -> ReLU -> Linear."""
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(inplace=True),
                         nn.Linear(hidden_dim, out_dim))


class ReferenceAugment(nn.Module):
    """SimCLR's augmentation for normalised CIFAR batches (Exercise 2.1's reference), with kornia.

    Shape:
        normalised ``[B, 3, H, W]`` -> normalised ``[B, 3, 32, 32]``.
    """

    def __init__(self, crop_scale: tuple[float, float] = (0.2, 1.0)):
        super().__init__()
        import kornia.augmentation as K

        self.ops = nn.Sequential(
            K.RandomResizedCrop((public.IMAGE_SIZE, public.IMAGE_SIZE), scale=crop_scale),
            K.RandomHorizontalFlip(),
            K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=public.JITTER_P),
            K.RandomGrayscale(p=public.GRAYSCALE_P),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return normalize(self.ops(denormalize(x).clamp(0, 1)))


def reference_augment() -> nn.Module:
    """A fresh :class:`ReferenceAugment`."""
    return ReferenceAugment()


# ----------------------------------------------------------------------------------------------
# Exercise 2.1 - simclr_augment
# ----------------------------------------------------------------------------------------------

def step_edge(n: int) -> torch.Tensor:
    """``n`` copies of a gray image, black on the left half and white on the right, normalised.

    Colour jitter and grayscale map a gray image to an affine function of itself, so the edge
    stays where the crop and the flip put it.
    """
    img = torch.zeros(1, 3, public.IMAGE_SIZE, public.IMAGE_SIZE)
    img[..., public.IMAGE_SIZE // 2:] = 0.8
    img += 0.1
    return normalize(img.expand(n, -1, -1, -1).contiguous())


@public.own_random_state
def check_simclr_augment(simclr_augment) -> None:
    ex = "simclr_augment"
    public.check_simclr_augment(simclr_augment)
    augment = public.build_augment(simclr_augment, ex)
    torch.manual_seed(public.CHECK_SEED + 1)

    one = public.apply_augment(augment, public.toy_images(1, seed=3), ex)
    expect(tuple(one.shape) == (1, 3, 32, 32), ex, "a batch of one image should give one view [1, 3, 32, 32].")

    out = public.apply_augment(augment, step_edge(256), ex)
    pixels = denormalize(out).mean(1)  # [B, H, W] gray level
    columns = pixels.mean(1)  # [B, W] mean over rows
    left, right = columns[:, :8].mean(1), columns[:, -8:].mean(1)
    flipped = (left > right).float().mean().item()
    expect(0.3 <= flipped <= 0.7, ex,
           f"{100 * flipped:.0f}% of the views of an image (dark left, bright right) are mirrored; a horizontal flip "
           "with p=0.5 should mirror about half of them. Is RandomHorizontalFlip missing?")
    edge = (columns[:, 1:] - columns[:, :-1]).abs().argmax(1)  # the edge lies between columns 15 and 16
    moved = ((edge - 15).abs() > 2).float().mean().item()
    expect(moved >= 0.3, ex,
           f"the edge in the middle of the image stays near the middle in {100 * (1 - moved):.0f}% of the views: the "
           "views are not random crops. Add RandomResizedCrop((32, 32), scale=(0.2, 1.0)) first.")

    colour = public.constant_colour(512)
    views = public.apply_augment(augment, colour, ex)
    unchanged, gray = public.colour_effects(views, colour)
    expected = (1 - public.JITTER_P) * (1 - public.GRAYSCALE_P)
    expect(0.07 <= unchanged <= 0.3, ex,
           f"{100 * unchanged:.0f}% of 512 copies of a one-colour image kept their colour; colour jitter with "
           f"p={public.JITTER_P} and grayscale with p={public.GRAYSCALE_P} leave about {100 * expected:.0f}% "
           "unchanged.")
    expect(0.12 <= gray <= 0.3, ex, f"{100 * gray:.0f}% of the views are gray; expected about 20% (p=0.2).")
    pixels, reference = denormalize(views), denormalize(colour)
    spread = (pixels.amax(1) - pixels.amin(1)).flatten(1).amax(1)
    jittered = ((pixels - reference).abs().flatten(1).amax(1) > 2e-3) & (spread > 2e-3)  # changed, not gray
    strength = (pixels - reference)[jittered].abs().mean().item()
    expect(0.09 <= strength <= 0.17, ex,
           f"the colour jitter changes the pixels of this image by {strength:.3f} on average; K.ColorJitter(0.4, 0.4, "
           "0.4, 0.1) changes them by about 0.13. Check its four strengths (and use ColorJitter, not ColorJiggle, "
           "whose formulas differ).")


# ----------------------------------------------------------------------------------------------
# Exercise 2.2 - two_views
# ----------------------------------------------------------------------------------------------

class CropAugment(public.NoiseAugment):
    """A stand-in augmentation that also changes the image size (a 24x24 centre crop)."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return super().__call__(x[..., 4:28, 4:28])


@public.own_random_state
def check_two_views(two_views) -> None:
    ex = "two_views"
    public.check_two_views(two_views)
    torch.manual_seed(2)
    x = public.toy_images(1, seed=5)
    v1, v2 = public.get_views(two_views, x, public.NoiseAugment(), ex)
    expect(v1.shape == x.shape and not torch.equal(v1, v2), ex, "with a batch of one image the two views should "
                                                                "still be two different [1, 3, 32, 32] tensors.")
    x = public.toy_images(6, seed=6)
    v1, v2 = public.get_views(two_views, x, CropAugment(), ex,
                              "two_views(x, augment) with an augment that returns 24x24 crops of 32x32 images")
    expect(tuple(v1.shape) == tuple(v2.shape) == (6, 3, 24, 24), ex,
           "the views should be whatever augment returns (here 24x24 crops); don't assume the shape of x.")
    for v in (v1, v2):
        expect(((v - x[..., 4:28, 4:28]).std() - 0.1).abs() < 0.03, ex, "the views are not augment(x).")
    strided = public.toy_images(8, seed=7).transpose(2, 3)  # a non-contiguous batch
    v1, v2 = public.get_views(two_views, strided, public.NoiseAugment(), ex)
    expect(((v1 - strided).std() - 0.1).abs() < 0.03 and ((v2 - strided).std() - 0.1).abs() < 0.03, ex,
           "on a non-contiguous batch the views are not augment(x).")


# ----------------------------------------------------------------------------------------------
# Exercises 2.3 and 2.4 - ProjectionHead and SimCLRModel
# ----------------------------------------------------------------------------------------------

@public.own_random_state
def check_projection_head(ProjectionHead) -> None:
    ex = "ProjectionHead"
    public.check_projection_head(ProjectionHead)
    torch.manual_seed(3)
    head = public.build_head(ProjectionHead, ex, 64, 32, 16)
    shapes = [(m.in_features, m.out_features) for m in public.linear_layers(head)]
    expect(shapes == [(64, 32), (32, 16)], ex,
           f"ProjectionHead(64, 32, 16) should have Linear layers 64->32 and 32->16, found {shapes}: use the "
           "arguments in_dim, hidden_dim and out_dim instead of fixed sizes.")
    with calling(ex, "ProjectionHead(64, 32, 16)(h)"):
        z = head(torch.randn(4, 64))
    expect_tensor(z, ex, "head(h)", (4, 16))
    default = public.build_head(ProjectionHead, ex)
    linear = sum(p.numel() for m in public.linear_layers(default) for p in m.parameters())
    extra = sum(p.numel() for p in default.parameters()) - linear
    expect(extra in (0, 2 * public.HIDDEN_DIM), ex,
           f"besides its two Linear layers the head has {extra:,} parameters; a BatchNorm1d({public.HIDDEN_DIM}) "
           f"between them has {2 * public.HIDDEN_DIM}, nothing else belongs there. This is a different head.")
    default.eval()
    with calling(ex, "head(h) in eval mode"), torch.no_grad():
        h = torch.randn(5, 256)
        together = default(h)
        alone = torch.cat([default(h[i:i + 1]) for i in range(5)])
    expect(torch.allclose(together, alone, atol=1e-5), ex,
           "in eval mode each row of head(h) should depend only on its own row of h.")


@public.own_random_state
def check_simclr_model(SimCLRModel) -> None:
    ex = "SimCLRModel"
    public.check_simclr_model(SimCLRModel)
    from selfsup.models import SmallConvNet

    torch.manual_seed(4)
    backbone, head = SmallConvNet(), nn.Sequential(nn.Linear(256, 64), nn.ReLU(), nn.Linear(64, 128))
    with calling(ex, "SimCLRModel(SmallConvNet(), head)"):
        model = SimCLRModel(backbone, head)
    expect(getattr(model, "backbone", None) is backbone, ex,
           "keep the backbone as model.backbone: the notebook probes model.backbone after training.")
    names = set(dict(model.named_parameters()))
    expect(any(name.startswith("backbone.") for name in names), ex, "the backbone is not registered as a submodule.")
    model.eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        h, z = public.model_outputs(model, x, ex)
        expect(torch.allclose(h, backbone(x), atol=1e-5) and torch.allclose(z, head(backbone(x)), atol=1e-5), ex,
               "with SmallConvNet in eval mode, (h, z) should equal (backbone(x), head(backbone(x))).")
    model.train()
    h, z = public.model_outputs(model, torch.randn(2, 3, 32, 32), ex)
    expect(h.requires_grad and z.requires_grad, ex, "h and z should carry gradients in training mode.")


# ----------------------------------------------------------------------------------------------
# Exercise 2.5 - nt_xent_loss
# ----------------------------------------------------------------------------------------------

def _loss(nt_xent_loss, z1, z2, temperature):
    return public.loss_value(nt_xent_loss, z1, z2, temperature, "nt_xent_loss")


def _close(value: float, expected: float, tol: float = 1e-5) -> bool:
    return math.isfinite(value) and abs(value - expected) <= tol * max(1.0, abs(expected))


@public.own_random_state
def check_nt_xent_loss(nt_xent_loss) -> None:
    ex = "nt_xent_loss"
    public.check_nt_xent_loss(nt_xent_loss)

    fixtures = public.nt_xent_fixtures(4)
    for temperature in TEMPERATURE_SWEEP:
        value = _loss(nt_xent_loss, *fixtures["one_hot"], temperature).item()
        expected = public.one_hot_loss(4, temperature)
        expect(_close(value, expected, 1e-4), ex,
               f"on the one-hot fixture at temperature {temperature} the loss should be {expected:.4f}, got "
               f"{value:.4f}; {public.diagnose_one_hot(value, 4, temperature)}")

    g = torch.Generator().manual_seed(10)
    for n, dim, temperature in ((1, 8, 0.5), (2, 3, 0.1), (5, 16, 0.3), (17, 32, 1.0), (12, 128, 0.07)):
        z1, z2 = torch.randn(n, dim, generator=g), torch.randn(n, dim, generator=g)
        value = _loss(nt_xent_loss, z1, z2, temperature).item()
        swapped = _loss(nt_xent_loss, z2, z1, temperature).item()
        expect(_close(swapped, value), ex,
               f"L(z1, z2) = {value:.5f} but L(z2, z1) = {swapped:.5f}: the loss must be symmetric. Use both views "
               "as anchors (2N anchors), not only z1.")
        expected = reference_nt_xent(z1, z2, temperature).item()
        expect(_close(value, expected), ex,
               f"with N={n}, D={dim}, temperature {temperature} the loss is {value:.6f}, the reference "
               f"{expected:.6f} (tolerance 1e-5). Does your code assume a fixed batch size or dimension?")
        scaled = _loss(nt_xent_loss, 1e3 * z1, 1e-2 * z2, temperature).item()
        expect(_close(scaled, value, 1e-4), ex, "the loss changes when z1 and z2 are rescaled: L2-normalise each row.")

    z1, z2 = torch.randn(6, 16, generator=g), torch.randn(6, 16, generator=g)
    before = (z1.clone(), z2.clone())
    _loss(nt_xent_loss, z1, z2, 0.2)
    expect(torch.equal(z1, before[0]) and torch.equal(z2, before[1]), ex,
           "the loss modified z1 or z2 in place (e.g. z1 /= norm); compute new tensors instead.")
    z1, z2 = z1.requires_grad_(), z2.requires_grad_()
    loss = _loss(nt_xent_loss, z1, z2, 0.2)
    expect(loss.requires_grad, ex, "the loss carries no gradient: don't detach, call .item() or use numpy inside.")
    with calling(ex, "loss.backward()"):
        grads = torch.autograd.grad(loss, (z1, z2))
    ref_grads = torch.autograd.grad(reference_nt_xent(z1, z2, 0.2), (z1, z2))
    expect(all(torch.allclose(a.float(), b.float(), atol=1e-5) for a, b in zip(grads, ref_grads)), ex,
           "the gradients with respect to z1 and z2 differ from the reference's.")

    big1, big2 = 1e4 * torch.randn(8, 32, generator=g), 1e4 * torch.randn(8, 32, generator=g)
    big2[0] = big1[0]
    expected = reference_nt_xent(big1, big2, 0.05).item()
    value = _loss(nt_xent_loss, big1, big2, 0.05).item()
    expect(_close(value, expected, 1e-4), ex,
           f"at temperature 0.05 with embeddings of norm ~6e4 the loss is {value} instead of {expected:.5f}. "
           "Normalise before the dot product and use a stable log-softmax (F.cross_entropy or torch.logsumexp), "
           "not log(sum(exp(...))).")

    for dtype in (torch.float16, torch.bfloat16):
        low1, low2 = (30 * torch.randn(8, 64, generator=g)).to(dtype), (30 * torch.randn(8, 64, generator=g)).to(dtype)
        low2[:4] = low1[:4]
        expected = reference_nt_xent(low1.float(), low2.float(), 0.05).item()
        with calling(ex, f"nt_xent_loss on {dtype} inputs"):
            value = nt_xent_loss(low1, low2, 0.05)
        value = expect_tensor(value, ex, f"the loss on {dtype} inputs").float().item()
        expect(_close(value, expected, 1e-4), ex,
               f"with {dtype} inputs at temperature 0.05 the loss is {value} instead of {expected:.5f} (computed in "
               "float32). Under mixed precision z arrives in half precision: compute the loss in float32 "
               "(z.float()) so that it is exact and exp(1/0.05) cannot overflow.")

    meta1, meta2 = torch.empty(4, 8, device="meta"), torch.empty(4, 8, device="meta")
    try:
        result = nt_xent_loss(meta1, meta2, 0.5)
    except RuntimeError as error:
        if "device" in str(error):
            expect(False, ex, "the loss builds a tensor on the CPU while the embeddings live on another device. Take "
                              "the device from the inputs: torch.arange(n, device=z1.device), torch.eye(..., "
                              f"device=z1.device). ({error})")
        result = None  # an operation the meta device cannot run: nothing to conclude
    except Exception:  # noqa: BLE001 - same: the meta device is only a probe for hard-coded devices
        result = None
    if isinstance(result, torch.Tensor):
        expect(result.device.type == "meta", ex, "the loss was computed on another device than its inputs.")
