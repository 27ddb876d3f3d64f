"""Public self-checks for Notebook 2 (SimCLR).

Each check takes your function or class (not an instance), runs it on tiny deterministic CPU
inputs and tests what the exercise's docstring promises. A failure names the likely mistake.

The NT-Xent check uses closed-form cases (N = 4 pairs, temperature 0.5, mean over 2N anchors):

* all 2N embeddings identical: every logit is equal, so each anchor picks its positive among
  2N - 1 equal candidates and the loss is ``log(2N - 1) = log 7 = 1.9459``;
* ``z1 = z2 =`` the first N one-hot rows: the positive has cosine 1, the 2N - 2 negatives
  cosine 0, so the loss is ``log(1 + (2N - 2) exp(-1 / temperature)) = 0.5944``.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import nn

from ..data import denormalize, normalize
from ._core import calling, expect, expect_tensor, passed

#: Output size of the augmentation and the default sizes of the projection head.
IMAGE_SIZE = 32
FEATURE_DIM, HIDDEN_DIM, PROJECTION_DIM = 256, 256, 128
#: Probabilities that SimCLR's colour jitter and grayscale are applied to an image.
JITTER_P, GRAYSCALE_P = 0.8, 0.2
#: Seed of the random draws inside the augmentation checks (the tests vary it to show that the
#: statistical bounds do not depend on one lucky draw).
CHECK_SEED = 0


# ----------------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------------

def own_random_state(check):
    """Run a check with its own seeds, leaving the caller's torch random state as it was."""
    @functools.wraps(check)
    def wrapper(*args, **kwargs):
        with torch.random.fork_rng(devices=[]):
            return check(*args, **kwargs)
    return wrapper


def toy_images(n: int = 16, seed: int = 0, size: int = IMAGE_SIZE) -> torch.Tensor:
    """``n`` smooth random colour images, normalised: ``[n, 3, size, size]`` float32."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, size // 4, size // 4, generator=g)
    pixels = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    pixels = (pixels + 0.15 * torch.randn(pixels.shape, generator=g)).clamp(0, 1)
    return normalize(pixels)


def constant_colour(n: int, rgb=(0.7, 0.35, 0.2), size: int = IMAGE_SIZE) -> torch.Tensor:
    """``n`` copies of a one-colour image, normalised. Crops and flips leave it unchanged, so
    any change of its pixels comes from the colour jitter or the grayscale."""
    return normalize(torch.tensor(rgb).view(1, 3, 1, 1).expand(n, 3, size, size).contiguous())


def pixel_bounds() -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel bounds ``[1, 3, 1, 1]`` of normalised pixels: ``normalize(0)`` and ``normalize(1)``."""
    return normalize(torch.zeros(1, 3, 1, 1)), normalize(torch.ones(1, 3, 1, 1))


def nt_xent_fixtures(n: int = 4, dim: int = 128, seed: int = 0) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The closed-form fixtures of the field notes, as ``{name: (z1, z2)}`` with ``[n, dim]`` each.

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


# ----------------------------------------------------------------------------------------------
# Exercise 2.1 - simclr_augment
# ----------------------------------------------------------------------------------------------

def build_augment(simclr_augment, exercise: str = "simclr_augment"):
    """Call the student's builder and check that it returned something callable."""
    with calling(exercise, "simclr_augment()"):
        augment = simclr_augment()
    expect(callable(augment), exercise, "simclr_augment() should return a callable (an nn.Module or a function) "
                                        f"that augments a batch; got {type(augment).__name__}.")
    return augment


def apply_augment(augment, x: torch.Tensor, exercise: str = "simclr_augment") -> torch.Tensor:
    """``augment(x)`` with the checks every call needs: a float tensor of the right shape, input untouched."""
    before = x.clone()
    with calling(exercise, f"augment(x) on a batch of shape {tuple(x.shape)}"):
        out = augment(x)
    out = expect_tensor(out, exercise, "augment(x)")
    expect(out.dim() == 4 and out.shape[:2] == x.shape[:2], exercise,
           f"augment(x) should keep the batch and channel sizes {tuple(x.shape[:2])}, got shape {tuple(out.shape)}.")
    expect(tuple(out.shape[2:]) == (IMAGE_SIZE, IMAGE_SIZE), exercise,
           f"augment(x) should return {IMAGE_SIZE}x{IMAGE_SIZE} images (RandomResizedCrop((32, 32))), "
           f"got {tuple(out.shape[2:])}.")
    expect(out.dtype == torch.float32, exercise, f"augment(x) turned float32 images into {out.dtype}.")
    expect(bool(torch.isfinite(out).all()), exercise, "augment(x) returned NaN or infinite values.")
    expect(torch.equal(x, before), exercise, "augment(x) modified its input in place; the caller still needs x.")
    return out.detach()


def fraction_distinct(out: torch.Tensor, atol: float = 1e-4) -> float:
    """Fraction of images in ``out`` that differ from every other image of the batch."""
    flat = out.flatten(1)
    dist = torch.cdist(flat, flat, compute_mode="donot_use_mm_for_euclid_dist")
    dist.fill_diagonal_(float("inf"))
    return (dist.amin(1) > atol * flat.shape[1] ** 0.5).float().mean().item()


def colour_effects(out: torch.Tensor, colour: torch.Tensor) -> tuple[float, float]:
    """On augmented copies of a one-colour image: fractions that are unchanged and that are gray."""
    pixels, reference = denormalize(out), denormalize(colour)
    unchanged = (pixels - reference).abs().flatten(1).amax(1) < 2e-3
    spread = pixels.amax(1) - pixels.amin(1)  # across channels, per pixel
    gray = spread.flatten(1).amax(1) < 2e-3
    return unchanged.float().mean().item(), gray.float().mean().item()


@own_random_state
def check_simclr_augment(simclr_augment) -> None:
    """Public check of Exercise 2.1: shape, range, per-image randomness, colour jitter and grayscale."""
    ex = "simclr_augment"
    augment = build_augment(simclr_augment, ex)
    torch.manual_seed(CHECK_SEED)
    x = toy_images(32)
    out = apply_augment(augment, x, ex)

    lo, hi = pixel_bounds()
    expect(bool(((out >= lo - 1e-3) & (out <= hi + 1e-3)).all()), ex,
           "outputs leave the range of normalised pixels [normalize(0), normalize(1)]. kornia's colour ops expect "
           "pixels in [0, 1]: apply them to data.denormalize(x), then map back with data.normalize.")
    pixels = denormalize(out)
    expect(pixels.amin().item() < 0.2 and pixels.amax().item() > 0.8, ex,
           f"after data.denormalize the outputs only span [{pixels.amin().item():.2f}, {pixels.amax().item():.2f}] "
           "although the inputs span [0, 1]: the output looks like [0, 1] pixels, not normalised images. "
           "Finish with data.normalize(...).")

    copies = x[:1].expand(64, -1, -1, -1).contiguous()
    distinct = fraction_distinct(apply_augment(augment, copies, ex))
    expect(distinct >= 0.1, ex,
           f"64 copies of one image gave only {100 * distinct:.0f}% distinct views: the random parameters are drawn "
           "once for the whole batch. Draw them per image (kornia does by default; torchvision.transforms.v2 on a "
           "batch and same_on_batch=True do not).")
    expect(distinct >= 0.95, ex,
           f"64 copies of one image gave only {100 * distinct:.0f}% distinct views: many views are identical. Every "
           "view should get its own random crop: is RandomResizedCrop((32, 32), scale=(0.2, 1.0)) missing?")
    again = apply_augment(augment, x, ex)
    expect(not torch.allclose(out, again), ex,
           "two calls on the same batch gave the same output: the augmentation is not random (a fixed seed inside?).")

    colour = constant_colour(256)
    unchanged, gray = colour_effects(apply_augment(augment, colour, ex), colour)
    expect(unchanged < 0.45, ex,
           f"{100 * unchanged:.0f}% of 256 copies of a one-colour image kept their colour; with colour jitter "
           f"(p={JITTER_P}) and grayscale (p={GRAYSCALE_P}) about {100 * (1 - JITTER_P) * (1 - GRAYSCALE_P):.0f}% "
           "should. Is ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8) missing?")
    expect(0.08 <= gray <= 0.35, ex,
           f"{100 * gray:.0f}% of the views of a one-colour image are gray; RandomGrayscale(p={GRAYSCALE_P}) "
           f"should make about {100 * GRAYSCALE_P:.0f}% of them gray. Is it missing, or did the colour ops run on "
           "the normalised x instead of data.denormalize(x) (gray in normalised units is not gray)?")
    passed(ex)


# ----------------------------------------------------------------------------------------------
# Exercise 2.2 - two_views
# ----------------------------------------------------------------------------------------------

class NoiseAugment:
    """A stand-in augmentation for checking ``two_views``: adds fresh Gaussian noise to every
    image (``scale`` times a standard normal) and counts its calls and images."""

    def __init__(self, scale: float = 0.1):
        self.scale = scale
        self.calls = 0
        self.images = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.images += len(x)
        return x + self.scale * torch.randn_like(x)


def get_views(two_views, x: torch.Tensor, augment, exercise: str = "two_views",
              what: str = "two_views(x, augment)") -> tuple[torch.Tensor, torch.Tensor]:
    """``two_views(x, augment)`` checked for its type: a pair of tensors."""
    with calling(exercise, what):
        views = two_views(x, augment)
    expect(isinstance(views, (tuple, list)) and len(views) == 2, exercise,
           f"two_views should return a pair (view1, view2), got {type(views).__name__}.")
    return expect_tensor(views[0], exercise, "view1"), expect_tensor(views[1], exercise, "view2")


@own_random_state
def check_two_views(two_views) -> None:
    """Public check of Exercise 2.2: two independently augmented views of the same batch."""
    ex = "two_views"
    torch.manual_seed(0)
    x = toy_images(8)
    before = x.clone()
    augment = NoiseAugment()
    v1, v2 = get_views(two_views, x, augment, ex)
    expect(v1.shape == x.shape and v2.shape == x.shape, ex,
           f"with a shape-preserving augmentation each view should have the shape of x {tuple(x.shape)}, got "
           f"{tuple(v1.shape)} and {tuple(v2.shape)}.")
    expect(torch.equal(x, before), ex, "two_views modified x in place.")
    for name, v in (("view1", v1), ("view2", v2)):
        noise = (v - x).flatten(1).std(1)
        expect(bool((noise > 0.05).all()), ex, f"{name} is (partly) the unaugmented x: both views must be augment(x).")
        expect(bool((noise < 0.2).all()), ex, f"{name} is not an augmentation of x itself (wrong images or order?).")
    per_image = (v1 - v2).flatten(1).abs().amax(1)
    expect(bool((per_image > 1e-6).all()), ex,
           "view1 and view2 are identical: call augment twice (or once on a doubled batch), don't reuse one view.")
    expect(augment.images >= 2 * len(x), ex,
           f"augment saw {augment.images} images for a batch of {len(x)}; each image needs two augmented views.")
    passed(ex)


# ----------------------------------------------------------------------------------------------
# Exercises 2.3 and 2.4 - ProjectionHead and SimCLRModel
# ----------------------------------------------------------------------------------------------

def linear_layers(module: nn.Module) -> list[nn.Linear]:
    """The ``nn.Linear`` layers of a module, in registration order."""
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def build_head(ProjectionHead, exercise: str = "ProjectionHead", *args) -> nn.Module:
    with calling(exercise, f"ProjectionHead({', '.join(map(str, args))})"):
        head = ProjectionHead(*args)
    expect(isinstance(head, nn.Module), exercise, "ProjectionHead should be an nn.Module.")
    return head


@own_random_state
def check_projection_head(ProjectionHead) -> None:
    """Public check of Exercise 2.3: a 2-layer MLP 256 -> 256 -> 128 with a nonlinearity between."""
    ex = "ProjectionHead"
    torch.manual_seed(0)
    head = build_head(ProjectionHead, ex)
    h = torch.randn(8, FEATURE_DIM)
    with calling(ex, "head(h)"):
        z = head(h)
    expect_tensor(z, ex, "head(h)", (8, PROJECTION_DIM))
    shapes = [(m.in_features, m.out_features) for m in linear_layers(head)]
    expect(shapes == [(FEATURE_DIM, HIDDEN_DIM), (HIDDEN_DIM, PROJECTION_DIM)], ex,
           f"the head should have exactly two nn.Linear layers, {FEATURE_DIM}->{HIDDEN_DIM} then "
           f"{HIDDEN_DIM}->{PROJECTION_DIM}; found {shapes}.")
    head.eval()
    with calling(ex, "head(h) in eval mode"), torch.no_grad():
        a, b = torch.randn(2, 16, FEATURE_DIM)
        gap = (head(a) + head(b) - head(a + b) - head(torch.zeros_like(a))).abs().max().item()
    expect(gap > 1e-3, ex, "the head is an affine map: two Linear layers in a row equal one. Put a nonlinearity "
                           "(nn.ReLU) between them.")
    head.train()
    with calling(ex, "head(h) in training mode"):
        z = head(torch.randn(64, FEATURE_DIM))
    expect(bool((z < 0).any()), ex,
           "no output is negative: the head ends with a ReLU. z must be free to point anywhere, so that negatives "
           "can get negative cosine similarity; end with the second Linear layer.")
    z.pow(2).mean().backward()
    expect(all(p.grad is not None for p in head.parameters()), ex, "some parameters of the head get no gradient.")
    passed(ex)


class ToyBackbone(nn.Module):
    """A tiny stand-in backbone for the model checks: ``[B, 3, 8, 8] -> [B, 256]``."""

    def __init__(self, feature_dim: int = FEATURE_DIM):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, feature_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def toy_model_parts(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """A stand-in backbone (256-d) and a stand-in head (a single Linear 256 -> 128)."""
    torch.manual_seed(seed)
    return ToyBackbone(), nn.Linear(FEATURE_DIM, PROJECTION_DIM)


def model_outputs(model: nn.Module, x: torch.Tensor,
                  exercise: str = "SimCLRModel") -> tuple[torch.Tensor, torch.Tensor]:
    with calling(exercise, "model(x)"):
        out = model(x)
    expect(isinstance(out, (tuple, list)) and len(out) == 2, exercise,
           f"model(x) should return a pair (h, z), got {type(out).__name__}"
           + (f" of shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else "") + ".")
    h, z = out
    h, z = expect_tensor(h, exercise, "h"), expect_tensor(z, exercise, "z")
    if h.shape[-1] == PROJECTION_DIM and z.shape[-1] == FEATURE_DIM:
        expect(False, exercise, "model(x) returned (z, h): return the representation h first, then the projection z.")
    expect(tuple(h.shape) == (len(x), FEATURE_DIM) and tuple(z.shape) == (len(x), PROJECTION_DIM), exercise,
           f"h should be [B, {FEATURE_DIM}] and z [B, {PROJECTION_DIM}]; got {tuple(h.shape)} and {tuple(z.shape)}.")
    return h, z


@own_random_state
def check_simclr_model(SimCLRModel) -> None:
    """Public check of Exercise 2.4: ``model(x) == (backbone(x), head(backbone(x)))``, trained end to end."""
    ex = "SimCLRModel"
    backbone, head = toy_model_parts()
    with calling(ex, "SimCLRModel(backbone, head)"):
        model = SimCLRModel(backbone, head)
    expect(isinstance(model, nn.Module), ex, "SimCLRModel should be an nn.Module.")
    own = {id(p) for p in model.parameters()}
    expect(all(id(p) in own for p in backbone.parameters()) and all(id(p) in own for p in head.parameters()), ex,
           "the parameters of the backbone and the head should be among model.parameters(); keep both as attributes "
           "(self.backbone = backbone, self.head = head) and don't build a new head.")
    x = torch.randn(4, 3, 8, 8)
    h, z = model_outputs(model, x, ex)
    with torch.no_grad():
        expected_h = backbone(x)
    expect(torch.allclose(h, expected_h, atol=1e-5), ex, "h should be backbone(x), the representation we keep.")
    expect(torch.allclose(z, head(expected_h), atol=1e-5), ex, "z should be head(h), the projection of h.")
    z.pow(2).sum().backward()
    grads = [p.grad for p in backbone.parameters()]
    expect(all(g is not None and g.abs().sum() > 0 for g in grads), ex,
           "the loss on z sends no gradient into the backbone: compute z from h without detach() or no_grad().")
    passed(ex)


# ----------------------------------------------------------------------------------------------
# Exercise 2.5 - nt_xent_loss
# ----------------------------------------------------------------------------------------------

def loss_value(nt_xent_loss, z1: torch.Tensor, z2: torch.Tensor, temperature: float,
               exercise: str = "nt_xent_loss") -> torch.Tensor:
    """``nt_xent_loss(z1, z2, temperature)`` checked to be a 0-d float tensor."""
    with calling(exercise, f"nt_xent_loss(z1, z2, temperature={temperature}) with z1, z2 of shape {tuple(z1.shape)}"):
        loss = nt_xent_loss(z1, z2, temperature)
    expect(isinstance(loss, torch.Tensor), exercise,
           f"the loss should be a torch.Tensor (so that it can be backpropagated), got {type(loss).__name__}.")
    expect(loss.dim() == 0 and loss.is_floating_point(), exercise,
           f"the loss should be a scalar (0-d float tensor): the mean over the 2N anchors; got shape "
           f"{tuple(loss.shape)} and dtype {loss.dtype}.")
    return loss


def diagnose_identical(value: float, n: int, temperature: float) -> str:
    """What a wrong loss on identical embeddings says about the implementation."""
    known = {
        math.log(2 * n - 1 + math.exp(-1 / temperature)):
            f"{value:.4f} = log(2N - 1 + exp(-1/t)): the self-similarity was set to 0 instead of -inf, so "
            "exp(0) = 1 still counts in the denominator. Mask it with float('-inf').",
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
        # logits multiplied by the temperature instead of divided
        math.log(1 + (2 * n - 2) * math.exp(-temperature)):
            "you multiplied the similarities by the temperature; divide by it.",
        # self-similarity set to 0: exp(0) = 1 joins the denominator
        math.log(1 + (2 * n - 1) * math.exp(-1 / temperature)):
            "the self-similarity was set to 0 instead of -inf, so exp(0) = 1 still counts in the denominator. "
            "Mask it with float('-inf').",
        2 * n * correct: "that is 2N times the right value: take the mean over the 2N anchors, not a sum.",
    }
    for expected, message in known.items():
        if math.isclose(value, expected, rel_tol=1e-3):
            return f"got {value:.4f}: {message}"
    return f"got {value:.4f}. Divide the cosine similarities by the temperature and mask only the diagonal."


@own_random_state
def check_nt_xent_loss(nt_xent_loss) -> None:
    """Public check of Exercise 2.5: a scalar that matches the closed-form cases."""
    ex = "nt_xent_loss"
    n, temperature = 4, 0.5
    fixtures = nt_xent_fixtures(n)
    z1, z2 = fixtures["identical"]
    value = loss_value(nt_xent_loss, z1, z2, temperature, ex).item()
    expected = math.log(2 * n - 1)
    expect(math.isclose(value, expected, abs_tol=1e-4), ex,
           f"for {2 * n} identical embeddings every candidate is equally similar, so the loss should be "
           f"log(2N - 1) = {expected:.4f}; {diagnose_identical(value, n, temperature)}")

    z1, z2 = fixtures["one_hot"]
    value = loss_value(nt_xent_loss, z1, z2, temperature, ex).item()
    expected = one_hot_loss(n, temperature)
    expect(math.isclose(value, expected, abs_tol=1e-4), ex,
           f"for z1 = z2 = one-hot rows (positive cosine 1, negatives 0) and temperature {temperature} the loss "
           f"should be log(1 + (2N - 2) exp(-1 / temperature)) = {expected:.4f}; "
           f"{diagnose_one_hot(value, n, temperature)}")

    a = loss_value(nt_xent_loss, *fixtures["random"], temperature, ex).item()
    b = loss_value(nt_xent_loss, *fixtures["random_x5"], temperature, ex).item()
    expect(math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-5), ex,
           f"scaling the embeddings by 5 changed the loss from {a:.4f} to {b:.4f}: L2-normalise z1 and z2 "
           "(F.normalize(z, dim=1)) before the dot products, so that they are cosine similarities.")
    passed(ex)
