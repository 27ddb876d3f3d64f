"""The Notebook 2 checks, tested both ways: correct variants pass every pass (public check, hidden
test, re-check), known-wrong variants fail the re-check with the message that names the mistake.
Each wrong variant is a real mistake a student could make; the NT-Xent ones include every row of
the NT-Xent signature table below (test_field_notes_signatures, N=4, t=0.5), and losses written
like two public libraries' ones."""

from __future__ import annotations

import math

import kornia.augmentation as K
import pytest
import torch
import torchvision.transforms.v2 as T
from checking import accepts, public_rejects, rejects
from selfsup import data
from selfsup.checks import CheckFailed
from selfsup.checks import simclr as public
from torch import nn
from torch.nn import functional as F

from autograder.judges import simclr as references
from benchmarks.simclr_speed import nt_xent, reference_augment, reference_head


# =========================================================================== NT-Xent
def _stack(z1, z2):
    return F.normalize(torch.cat([z1, z2]).float(), dim=1)

#: The correct implementations of each exercise, by test id (``benchmarks/judge_sweep.py`` sweeps them too).
CORRECT: dict[str, list] = {}


def _targets(n, device):
    return torch.cat([torch.arange(n, 2 * n, device=device), torch.arange(0, n, device=device)])


nt_xent_cross_entropy = nt_xent  # the notebook's solution: cross-entropy over the masked logits


def nt_xent_logsumexp(z1, z2, temperature):
    """Positives from the row-wise dot product of the two views, denominators by logsumexp."""
    with torch.autocast(device_type=z1.device.type, enabled=False):
        a = F.normalize(z1.float(), dim=-1)
        b = F.normalize(z2.float(), dim=-1)
        z = torch.cat([a, b])
        sim = z @ z.T / temperature
        sim = sim - torch.diag_embed(torch.full((z.shape[0],), float("inf"), device=z.device))
        positive = (a * b).sum(-1) / temperature
        return (torch.logsumexp(sim, dim=1) - positive.repeat(2)).mean()


@torch.autocast("cpu", enabled=False)
@torch.autocast("cuda", enabled=False)
def nt_xent_per_view(z1, z2, temperature):
    """Two blocks (anchor view 1, anchor view 2), each a log-softmax over [cross-view | same-view without self];
    autocast left by a decorator."""
    a, b = F.normalize(z1.float(), dim=1), F.normalize(z2.float(), dim=1)
    n = a.shape[0]
    losses = []
    for u, v in ((a, b), (b, a)):
        cross = u @ v.T / temperature
        same = (u @ u.T / temperature).masked_fill(torch.eye(n, dtype=torch.bool, device=u.device), float("-inf"))
        logp = torch.log_softmax(torch.cat([cross, same], dim=1), dim=1)
        losses.append(-logp.diagonal())
    return torch.cat(losses).mean()


def nt_xent_float64(z1, z2, temperature):
    """Everything in float64 (autocast leaves float64 alone), returned as float64."""
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]).double(), dim=1)
    logits = (z @ z.T / temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    return F.cross_entropy(logits, _targets(n, z.device))


CORRECT_NT_XENT = [nt_xent_cross_entropy, nt_xent_logsumexp, nt_xent_per_view, nt_xent_float64]


def no_self_mask(z1, z2, temperature):
    n = z1.shape[0]
    z = _stack(z1, z2)
    return F.cross_entropy(z @ z.T / temperature, _targets(n, z.device))


def zero_diagonal(z1, z2, temperature):
    n = z1.shape[0]
    z = _stack(z1, z2)
    logits = (z @ z.T / temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool), 0.0)
    return F.cross_entropy(logits, _targets(n, z.device))


def no_normalisation(z1, z2, temperature):
    n = z1.shape[0]
    z = torch.cat([z1, z2]).float()
    logits = (z @ z.T / temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    return F.cross_entropy(logits, _targets(n, z.device))


def temperature_multiplied(z1, z2, temperature):
    n = z1.shape[0]
    z = _stack(z1, z2)
    logits = (z @ z.T * temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    return F.cross_entropy(logits, _targets(n, z.device))


def sum_instead_of_mean(z1, z2, temperature):
    n = z1.shape[0]
    z = _stack(z1, z2)
    logits = (z @ z.T / temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    return F.cross_entropy(logits, _targets(n, z.device), reduction="sum")


def cross_view_only(z1, z2, temperature):
    a, b = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    logits = a @ b.T / temperature
    labels = torch.arange(len(a))
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def one_sided(z1, z2, temperature):
    """Only the N anchors of view 1 (with all 2N - 1 candidates)."""
    n = z1.shape[0]
    z = _stack(z1, z2)
    logits = (z @ z.T / temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    return F.cross_entropy(logits[:n], torch.arange(n, 2 * n))


def no_offset(z1, z2, temperature):
    n = z1.shape[0]
    z = _stack(z1, z2)
    logits = (z @ z.T / temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    return F.cross_entropy(logits, torch.cat([torch.arange(n), torch.arange(n)]))


def fixed_temperature(z1, z2, temperature):
    return nt_xent_cross_entropy(z1, z2, 0.5)


def in_input_dtype(z1, z2, temperature):
    """Computes in the inputs' dtype, as lightly's NTXentLoss does: half-precision rounding, no overflow."""
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = (z @ z.T / temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    rows = torch.arange(2 * n, device=z.device)
    return (torch.logsumexp(logits, 1) - logits[rows, _targets(n, z.device)]).mean()


def float_only(z1, z2, temperature):
    """Casts with .float() but leaves autocast on: the matrix product still runs in half precision."""
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    logits = (z @ z.T / temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    return F.cross_entropy(logits, _targets(n, z.device))


def exp_in_input_dtype(z1, z2, temperature):
    """exp of the similarities in the inputs' dtype, as solo-learn's SimCLR loss: exp(1 / 0.05) overflows float16."""
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = torch.exp(z @ z.T / temperature) * (1 - torch.eye(2 * n, dtype=z.dtype))
    positive = torch.cat([torch.diagonal(sim, n), torch.diagonal(sim, -n)])
    return -torch.log(positive / sim.sum(1)).mean()


def cpu_only(z1, z2, temperature):
    """Leaves autocast as the notebook says, but makes the mask and the targets on the default device."""
    n = z1.shape[0]
    with torch.autocast(device_type=z1.device.type, enabled=False):
        z = _stack(z1, z2)
        logits = (z @ z.T / temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
        return F.cross_entropy(logits, torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]))


def returns_float(z1, z2, temperature):
    return nt_xent_cross_entropy(z1, z2, temperature).item()


def detached(z1, z2, temperature):
    return nt_xent_cross_entropy(z1.detach(), z2.detach(), temperature)


def normalises_in_place(z1, z2, temperature):
    z1 /= z1.norm(dim=1, keepdim=True)
    z2 /= z2.norm(dim=1, keepdim=True)
    return nt_xent_cross_entropy(z1, z2, temperature)


def normalises_columns(z1, z2, temperature):
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]).float(), dim=0)
    logits = (z @ z.T / temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    return F.cross_entropy(logits, _targets(n, z.device))


def per_anchor(z1, z2, temperature):
    """No reduction: a [2N] vector."""
    n = z1.shape[0]
    z = _stack(z1, z2)
    logits = (z @ z.T / temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    return F.cross_entropy(logits, _targets(n, z.device), reduction="none")


WRONG_NT_XENT = [
    (no_self_mask, r"log\(2N\).*Mask the self-similarity"),
    (zero_diagonal, r"set to 0 instead of -inf"),
    (no_normalisation, r"L2-normalise"),
    (temperature_multiplied, r"multiplied the similarities by the temperature"),
    (sum_instead_of_mean, r"summed over the anchors"),
    (cross_view_only, r"log\(N\).*both views"),
    (one_sided, r"must be symmetric"),
    (no_offset, r"not finite.*i \+ N"),
    (fixed_temperature, r"at temperature 0\.07"),
    (exp_in_input_dtype, r"float16 inputs.*overflowed"),
    (in_input_dtype, r"on float16 inputs, with N=\d+ pairs .*cosines together\. Cast z1 and z2 to float32"),
    (float_only, r"inside torch.autocast.*cosines together\. Compute the similarities in float32 with autocast turned off"),
    (cpu_only, r"Take the device from the inputs"),
    (returns_float, r"should be a torch\.Tensor"),
    (detached, r"carries no gradient"),
    (normalises_in_place, r"in place"),
    (normalises_columns, r"one-hot rows .* at temperature 0\.07 the loss should be"),
    (per_anchor, r"should be a scalar"),
]


CORRECT["test_nt_xent_loss"] = list(CORRECT_NT_XENT)


@pytest.mark.parametrize("loss", CORRECT["test_nt_xent_loss"], ids=lambda v: getattr(v, "__name__", type(v).__name__))
def test_nt_xent_accepts(loss):
    """Correct losses pass: similarities in float32 (or float64), whatever the inputs' dtype and autocast."""
    accepts("test_nt_xent_loss", loss)


@pytest.mark.parametrize("loss,match", WRONG_NT_XENT, ids=[f.__name__ for f, _ in WRONG_NT_XENT])
def test_nt_xent_rejects(loss, match):
    rejects("test_nt_xent_loss", loss, match)


@pytest.mark.parametrize("loss,match", [v for v in WRONG_NT_XENT if v[0] not in (normalises_columns,)],
                         ids=lambda v: getattr(v, "__name__", ""))
def test_public_nt_xent_teaches_what_needs_no_reference(loss, match):
    """Closed forms, symmetry (a loss over one direction of anchors), scale, half precision, devices:
    the public check already names these mistakes; only the reference comparison is the grader's."""
    public_rejects("test_nt_xent_loss", loss, match)


def test_near_one_case_separates_float32_from_half_precision_similarities():
    """The near-1 case: float32 similarities give the closed form; a similarity matmul that runs in float16
    (under autocast despite .float(), or on float16 inputs) rounds every cosine to 1 and gives log(2N - 1),
    about 1% away: ten times HALF_RTOL, so the rule cannot be met by luck."""
    z1, z2 = public.near_one_pair(4, 8)
    t = public.NEAR_ONE_TEMPERATURE
    exact = references.reference_nt_xent(z1, z2, t).item()
    assert exact == pytest.approx(public.near_one_loss(z1, t), rel=1e-9)
    with torch.autocast("cpu", dtype=torch.float16):
        assert nt_xent(z1, z2, t).item() == pytest.approx(exact, rel=1e-6)
        half = float_only(z1, z2, t).item()
    assert half == pytest.approx(math.log(7), rel=1e-6)
    assert abs(half - exact) / exact > 5 * public.HALF_RTOL
    assert abs(in_input_dtype(z1.half(), z2.half(), t).item() - exact) / exact > 2 * public.HALF_RTOL


def test_a_tensor_made_on_the_default_device_is_caught_where_the_meta_inputs_conclude_nothing():
    """A loss that leaves autocast with device_type=z1.device.type cannot run on meta inputs (autocast has no
    meta device), so the device is checked by making the default device meta instead."""
    z1, z2 = torch.randn(4, 8), torch.randn(4, 8)
    assert public.default_device_probe(nt_xent, z1, z2) == 0
    assert public.default_device_probe(nt_xent_per_view, z1, z2) == 0
    assert public.default_device_probe(cpu_only, z1, z2) == 1
    with pytest.raises(RuntimeError):
        with torch.autocast(device_type="meta", enabled=False):
            pass


def test_half_precision_rule_follows_how_the_notebook_calls_the_loss():
    """On the overflow case (large norms, temperature 0.05) a loss that only rounds in half precision stays
    within HALF_RTOL of its float32 value, one that overflows does not: this case is about overflow,
    the near-1 case about resolution."""
    z1 = 30 * torch.randn(16, 64, generator=torch.Generator().manual_seed(0))
    z2 = 30 * torch.randn(16, 64, generator=torch.Generator().manual_seed(1))
    z2[:8] = z1[:8]
    exact = references.reference_nt_xent(z1, z2, 0.05).item()
    with torch.autocast("cpu", dtype=torch.float16):
        rounded = float_only(z1, z2, 0.05).item()
        overflowing = exp_in_input_dtype(z1.half(), z2.half(), 0.05).item()
        solution = nt_xent(z1, z2, 0.05).item()
    assert 0 < abs(rounded - exact) / exact < public.HALF_RTOL
    assert math.isnan(overflowing)
    assert solution == pytest.approx(exact, rel=1e-6)


def test_field_notes_signatures():
    """The NT-Xent signatures (N=4, t=0.5) of the correct loss and of the classic mistakes."""
    fx = public.nt_xent_fixtures(4)
    variants = {"nt_xent_cross_entropy": nt_xent_cross_entropy, "no_self_mask": no_self_mask,
                "zero_diagonal": zero_diagonal, "temperature_multiplied": temperature_multiplied,
                "sum_instead_of_mean": sum_instead_of_mean, "cross_view_only": cross_view_only, "no_offset": no_offset}
    value = {name: {k: f(*v, 0.5) for k, v in fx.items()} for name, f in variants.items()}
    assert value["nt_xent_cross_entropy"]["identical"].item() == pytest.approx(math.log(7), abs=1e-4)
    assert value["nt_xent_cross_entropy"]["one_hot"].item() == pytest.approx(0.5944, abs=1e-4)
    assert value["no_self_mask"]["identical"].item() == pytest.approx(2.0794, abs=1e-4)
    assert value["zero_diagonal"]["one_hot"].item() == pytest.approx(0.6665, abs=1e-4)
    assert value["temperature_multiplied"]["one_hot"].item() == pytest.approx(1.5345, abs=1e-4)
    assert value["sum_instead_of_mean"]["identical"].item() == pytest.approx(15.57, abs=1e-2)
    assert value["cross_view_only"]["identical"].item() == pytest.approx(1.3863, abs=1e-4)
    assert math.isinf(value["no_offset"]["one_hot"].item())
    sweep = [public.one_hot_loss(4, t) for t in public.TEMPERATURES]
    assert sweep == pytest.approx([0.0000, 0.0003, 0.0396, 0.1940, 0.5944, 1.1654], abs=1e-4)


def test_reference_is_the_paper_loss():
    """The literal reference agrees with the vectorised loss (and is symmetric)."""
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(7, 5, generator=g), torch.randn(7, 5, generator=g)
    ref = references.reference_nt_xent(z1, z2, 0.3)
    assert ref.item() == pytest.approx(nt_xent_cross_entropy(z1, z2, 0.3).item(), abs=1e-6)
    assert ref.item() == pytest.approx(references.reference_nt_xent(z2, z1, 0.3).item(), abs=1e-12)


def test_nt_xent_decreases_when_trained():
    """A behaviour test: a few optimiser steps on free embeddings lower the loss."""
    torch.manual_seed(0)
    z1, z2 = torch.randn(16, 8, requires_grad=True), torch.randn(16, 8, requires_grad=True)
    opt = torch.optim.SGD([z1, z2], lr=0.5)
    first = nt_xent_cross_entropy(z1, z2, 0.5)
    for _ in range(20):
        opt.zero_grad()
        nt_xent_cross_entropy(z1, z2, 0.5).backward()
        opt.step()
    assert nt_xent_cross_entropy(z1, z2, 0.5).item() < first.item() - 0.5


# =========================================================================== augmentation
def _ops(**kw):
    crop = K.RandomResizedCrop((32, 32), scale=(0.2, 1.0), **kw)
    return nn.Sequential(crop, K.RandomHorizontalFlip(**kw), K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8, **kw),
                         K.RandomGrayscale(p=0.2, **kw))


def augment_lambda():
    ops = _ops()
    return lambda x: data.normalize(ops(data.denormalize(x)))


class AugmentModule(nn.Module):
    """An nn.Module with kornia's own (de)normalisation around AugmentationSequential."""

    def __init__(self):
        super().__init__()
        mean, std = torch.tensor(data.CIFAR_MEAN), torch.tensor(data.CIFAR_STD)
        self.ops = K.AugmentationSequential(
            K.Denormalize(mean, std),
            K.RandomResizedCrop((32, 32), scale=(0.2, 1.0)),
            K.RandomHorizontalFlip(),
            K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8),
            K.RandomGrayscale(p=0.2),
            K.Normalize(mean, std),
        )

    def forward(self, x):
        return self.ops(x)


CORRECT_AUGMENT = [augment_lambda, AugmentModule, reference_augment]


def same_on_batch():
    ops = _ops(same_on_batch=True)
    return lambda x: data.normalize(ops(data.denormalize(x)))


def torchvision_v2():
    ops = T.Compose([T.RandomResizedCrop(32, scale=(0.2, 1.0)), T.RandomHorizontalFlip(),
                     T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8), T.RandomGrayscale(p=0.2)])
    return lambda x: data.normalize(ops(data.denormalize(x).clamp(0, 1)))


def fixed_seed():
    """Seeds inside every call: the same view twice."""
    ops = _ops()

    def augment(x):
        torch.manual_seed(0)
        return data.normalize(ops(data.denormalize(x)))
    return augment


def no_colour_jitter():
    ops = nn.Sequential(K.RandomResizedCrop((32, 32), scale=(0.2, 1.0)), K.RandomHorizontalFlip(),
                        K.RandomGrayscale(p=0.2))
    return lambda x: data.normalize(ops(data.denormalize(x)))


def no_grayscale():
    ops = nn.Sequential(K.RandomResizedCrop((32, 32), scale=(0.2, 1.0)), K.RandomHorizontalFlip(),
                        K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8))
    return lambda x: data.normalize(ops(data.denormalize(x)))


def no_flip():
    ops = nn.Sequential(K.RandomResizedCrop((32, 32), scale=(0.2, 1.0)), K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8),
                        K.RandomGrayscale(p=0.2))
    return lambda x: data.normalize(ops(data.denormalize(x)))


def no_crop():
    ops = nn.Sequential(K.RandomHorizontalFlip(), K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8), K.RandomGrayscale(p=0.2))
    return lambda x: data.normalize(ops(data.denormalize(x)))


def no_renormalise():
    ops = _ops()
    return lambda x: ops(data.denormalize(x))


def no_denormalise():
    ops = _ops()
    return lambda x: ops(x)


def wrong_size():
    ops = nn.Sequential(K.RandomResizedCrop((24, 24), scale=(0.2, 1.0)), K.RandomHorizontalFlip(),
                        K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8), K.RandomGrayscale(p=0.2))
    return lambda x: data.normalize(ops(data.denormalize(x)))


def weak_jitter():
    ops = nn.Sequential(K.RandomResizedCrop((32, 32), scale=(0.2, 1.0)), K.RandomHorizontalFlip(),
                        K.ColorJitter(0.04, 0.04, 0.04, 0.01, p=0.8), K.RandomGrayscale(p=0.2))
    return lambda x: data.normalize(ops(data.denormalize(x)))


def imagenet_strength_jitter():
    """The paper's ImageNet strength (0.8, 0.8, 0.8, 0.2) instead of the 0.4 asked for."""
    ops = nn.Sequential(K.RandomResizedCrop((32, 32), scale=(0.2, 1.0)), K.RandomHorizontalFlip(),
                        K.ColorJitter(0.8, 0.8, 0.8, 0.2, p=0.8), K.RandomGrayscale(p=0.2))
    return lambda x: data.normalize(ops(data.denormalize(x)))


def returns_module_class():
    """Forgets to call: returns the kornia class itself."""
    return K.ColorJitter


WRONG_AUGMENT = [
    (same_on_batch, r"drawn once for the whole batch"),
    (torchvision_v2, r"drawn once for the whole batch"),
    (fixed_seed, r"not random"),
    (no_colour_jitter, r"ColorJitter.*missing"),
    (no_grayscale, r"RandomGrayscale"),
    (no_flip, r"RandomHorizontalFlip missing"),
    (no_crop, r"many views are identical.*RandomResizedCrop"),
    (no_renormalise, r"Finish with data\.normalize"),
    (no_denormalise, r"instead of data\.denormalize\(x\)"),
    (wrong_size, r"should return 32x32 images"),
    (weak_jitter, r"Check its four strengths"),
    (imagenet_strength_jitter, r"Check its four strengths"),
    (returns_module_class, r"augment\(x\)"),
]


CORRECT["test_simclr_augment"] = CORRECT_AUGMENT


@pytest.mark.parametrize("builder", CORRECT["test_simclr_augment"], ids=lambda v: getattr(v, "__name__", type(v).__name__))
def test_augment_accepts(builder):
    accepts("test_simclr_augment", builder)


@pytest.mark.parametrize("builder,match", WRONG_AUGMENT, ids=[f.__name__ for f, _ in WRONG_AUGMENT])
def test_augment_rejects(builder, match):
    rejects("test_simclr_augment", builder, match)


# =========================================================================== two_views
def views_two_calls(x, augment):
    return augment(x), augment(x)


def views_doubled_batch(x, augment):
    return tuple(augment(torch.cat([x, x])).chunk(2))


def views_same_twice(x, augment):
    view = augment(x)
    return view, view


def views_one_original(x, augment):
    return x, augment(x)


def views_single_tensor(x, augment):
    return torch.stack([augment(x), augment(x)])


def views_shuffled(x, augment):
    return augment(x), augment(x.flip(0))


def views_fixed_shape(x, augment):
    out = torch.empty_like(x), torch.empty_like(x)
    out[0].copy_(augment(x))
    out[1].copy_(augment(x))
    return out


CORRECT["test_two_views"] = [views_two_calls, views_doubled_batch]


@pytest.mark.parametrize("fn", CORRECT["test_two_views"], ids=lambda v: getattr(v, "__name__", type(v).__name__))
def test_two_views_accepts(fn):
    accepts("test_two_views", fn)


@pytest.mark.parametrize("fn,match", [
    (views_same_twice, r"identical"),
    (views_one_original, r"unaugmented x"),
    (views_single_tensor, r"should return a pair"),
    (views_shuffled, r"not an augmentation of x itself"),
    (views_fixed_shape, r"returns 24x24 crops.*raised RuntimeError"),
], ids=lambda v: getattr(v, "__name__", ""))
def test_two_views_rejects(fn, match):
    rejects("test_two_views", fn, match)


# =========================================================================== heads and models
class HeadSequential(nn.Module):
    def __init__(self, in_dim=256, hidden_dim=256, out_dim=128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, out_dim))

    def forward(self, h):
        return self.net(h)


class HeadBatchNorm(nn.Module):
    def __init__(self, in_dim=256, hidden_dim=256, out_dim=128):
        super().__init__()
        self.fc1, self.bn = nn.Linear(in_dim, hidden_dim), nn.BatchNorm1d(hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, out_dim)

    def forward(self, h):
        return self.fc2(F.relu(self.bn(self.fc1(h))))


class HeadNoBiasBeforeBatchNorm(nn.Module):
    """The bias of the first layer is redundant before a BatchNorm; leaving it out is fine."""

    def __init__(self, in_dim=256, hidden_dim=256, out_dim=128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden_dim, bias=False), nn.BatchNorm1d(hidden_dim), nn.ReLU(),
                                 nn.Linear(hidden_dim, out_dim))

    def forward(self, h):
        return self.net(h)


class HeadSingleLinear(nn.Module):
    def __init__(self, in_dim=256, hidden_dim=256, out_dim=128):
        super().__init__()
        self.fc = nn.Linear(in_dim, out_dim)

    def forward(self, h):
        return self.fc(h)


class HeadNoNonlinearity(HeadSequential):
    def __init__(self, in_dim=256, hidden_dim=256, out_dim=128):
        super().__init__(in_dim, hidden_dim, out_dim)
        self.net = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.Linear(hidden_dim, out_dim))


class HeadFinalReLU(HeadSequential):
    def forward(self, h):
        return F.relu(self.net(h))


class HeadWrongWidth(HeadSequential):
    def __init__(self, in_dim=256, hidden_dim=256, out_dim=128):
        super().__init__(in_dim, hidden_dim, hidden_dim)


class HeadFixedSizes(HeadSequential):
    def __init__(self, in_dim=256, hidden_dim=256, out_dim=128):
        super().__init__()


class HeadExtraNorms(nn.Module):
    """A LayerNorm on the input on top of the BatchNorm: a different head (the parameter count says so)."""

    def __init__(self, in_dim=256, hidden_dim=256, out_dim=128):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, hidden_dim), nn.BatchNorm1d(hidden_dim),
                                 nn.ReLU(), nn.Linear(hidden_dim, out_dim))

    def forward(self, h):
        return self.net(h)


class HeadNormalisesBatch(HeadSequential):
    """Normalises h over the batch (dim=0) instead of per row: a sample's z depends on the others."""

    def forward(self, h):
        return self.net(F.normalize(h, dim=0))


CORRECT["test_projection_head"] = [HeadSequential, HeadBatchNorm, HeadNoBiasBeforeBatchNorm, reference_head]


@pytest.mark.parametrize("cls", CORRECT["test_projection_head"], ids=lambda v: getattr(v, "__name__", type(v).__name__))
def test_head_accepts(cls):
    accepts("test_projection_head", cls)


@pytest.mark.parametrize("cls,match", [
    (HeadSingleLinear, r"exactly two nn\.Linear"),
    (HeadNoNonlinearity, r"affine map"),
    (HeadFinalReLU, r"ends with a ReLU"),
    (HeadWrongWidth, r"exactly two nn\.Linear.*256->128"),
    (HeadFixedSizes, r"use the arguments"),
    (HeadExtraNorms, r"different head"),
    (HeadNormalisesBatch, r"depend only on its own row"),
], ids=lambda v: getattr(v, "__name__", ""))
def test_head_rejects(cls, match):
    rejects("test_projection_head", cls, match)


class ModelPlain(nn.Module):
    def __init__(self, backbone, head):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, x):
        h = self.backbone(x)
        return h, self.head(h)


class ModelEncodeProject(nn.Module):
    def __init__(self, backbone, head):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def encode(self, x):
        return self.backbone(x)

    def forward(self, x):
        h = self.encode(x)
        z = self.head(h)
        return [h, z]


class ModelSwapped(ModelPlain):
    def forward(self, x):
        h, z = super().forward(x)
        return z, h


class ModelDetached(ModelPlain):
    def forward(self, x):
        h = self.backbone(x)
        return h, self.head(h.detach())


class ModelNewHead(ModelPlain):
    def __init__(self, backbone, head):
        super().__init__(backbone, nn.Linear(256, 128))


class ModelOnlyZ(ModelPlain):
    def forward(self, x):
        return self.head(self.backbone(x))


class ModelUnregistered(nn.Module):
    def __init__(self, backbone, head):
        super().__init__()
        self.parts = [backbone, head]

    def forward(self, x):
        h = self.parts[0](x)
        return h, self.parts[1](h)


class ModelOtherName(nn.Module):
    def __init__(self, backbone, head):
        super().__init__()
        self.encoder, self.head = backbone, head

    def forward(self, x):
        h = self.encoder(x)
        return h, self.head(h)


CORRECT["test_simclr_model"] = [ModelPlain, ModelEncodeProject]


@pytest.mark.parametrize("cls", CORRECT["test_simclr_model"], ids=lambda v: getattr(v, "__name__", type(v).__name__))
def test_model_accepts(cls):
    accepts("test_simclr_model", cls)


@pytest.mark.parametrize("cls,match", [
    (ModelSwapped, r"returned \(z, h\)"),
    (ModelDetached, r"no gradient into the backbone"),
    (ModelNewHead, r"don't build a new head"),
    (ModelOnlyZ, r"should return a pair \(h, z\)"),
    (ModelUnregistered, r"should be among model\.parameters\(\)"),
    (ModelOtherName, r"keep the backbone as model\.backbone"),
], ids=lambda v: getattr(v, "__name__", ""))
def test_model_rejects(cls, match):
    rejects("test_simclr_model", cls, match)


# =========================================================================== unfilled exercises
def _not_implemented(*args, **kwargs):
    raise NotImplementedError()


class _Blank(nn.Module):
    def __init__(self, *args, **kwargs):
        super().__init__()
        raise NotImplementedError()


@pytest.mark.parametrize("check,obj", [
    ("check_simclr_augment", _not_implemented), ("check_two_views", _not_implemented),
    ("check_projection_head", _Blank), ("check_simclr_model", _Blank), ("check_nt_xent_loss", _not_implemented),
])
def test_blank_exercise_says_not_filled_in(check, obj):
    with pytest.raises(CheckFailed, match="not filled in yet"):
        getattr(public, check)(obj)


def test_checks_leave_the_random_state_alone():
    """A check seeds its own inputs but must not reseed the student's notebook."""
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    public.check_two_views(views_two_calls, strict=True)
    public.check_nt_xent_loss(nt_xent_logsumexp, strict=True)
    assert torch.equal(torch.rand(3), expected)


# =========================================================================== NT-Xent as a loop (Exercise 2.5)
def _rows(z1, z2):
    return F.normalize(torch.cat([z1, z2]).float(), dim=1)


def loop_solution(z1, z2, temperature):
    """The notebook's solution: boolean mask of the other rows, logsumexp per anchor."""
    z = _rows(z1, z2)
    n2 = z.shape[0]
    losses = []
    for i in range(n2):
        others = torch.arange(n2) != i
        logits = z[others] @ z[i] / temperature
        losses.append(torch.logsumexp(logits, dim=0) - z[(i + n2 // 2) % n2] @ z[i] / temperature)
    return torch.stack(losses).mean()


def loop_cross_entropy(z1, z2, temperature):
    """Per anchor, F.cross_entropy over the other rows, the positive's index shifted past the anchor."""
    z = _rows(z1, z2)
    n2 = z.shape[0]
    total = 0.0
    for i in range(n2):
        index = [k for k in range(n2) if k != i]
        positive = index.index((i + n2 // 2) % n2)
        logits = torch.stack([z[i] @ z[k] for k in index]) / temperature
        total = total + F.cross_entropy(logits[None], torch.tensor([positive]))
    return total / n2


def loop_pairs(z1, z2, temperature):
    """Loop over the N pairs, both directions per pair, in float64 with explicit exp and log of a max-shifted sum."""
    a, b = F.normalize(z1.double(), dim=1), F.normalize(z2.double(), dim=1)
    z = torch.cat([a, b])
    n = a.shape[0]
    losses = []
    for i in range(n):
        for anchor, partner in ((i, i + n), (i + n, i)):
            logits = torch.cat([z[:anchor], z[anchor + 1:]]) @ z[anchor] / temperature
            top = logits.max()
            losses.append(top + torch.log(torch.exp(logits - top).sum()) - z[partner] @ z[anchor] / temperature)
    return torch.stack(losses).mean()


CORRECT_LOOPS = [loop_solution, loop_cross_entropy, loop_pairs]


def _loop(z1, z2, temperature, candidates, positive, reduce=torch.mean, normalise=True, scale=None):
    """A loop with one decision changed: ``candidates(i, n2)`` and ``positive(i, n2)`` give indices."""
    z = _rows(z1, z2) if normalise else torch.cat([z1, z2]).float()
    n2 = z.shape[0]
    scale = scale or (lambda s: s / temperature)
    losses = [torch.logsumexp(scale(z[candidates(i, n2)] @ z[i]), dim=0) - scale(z[positive(i, n2)] @ z[i])
              for i in range(n2)]
    return reduce(torch.stack(losses))


def _others(i, n2):
    return [k for k in range(n2) if k != i]


def _partner(i, n2):
    return (i + n2 // 2) % n2


def loop_with_self(z1, z2, t):
    return _loop(z1, z2, t, lambda i, n2: list(range(n2)), _partner)


def loop_cross_view_only(z1, z2, t):
    return _loop(z1, z2, t, lambda i, n2: [(k + n2 // 2) % n2 for k in range(n2 // 2)] if i < n2 // 2
                 else list(range(n2 // 2)), _partner)


def loop_temperature_multiplied(z1, z2, t):
    return _loop(z1, z2, t, _others, _partner, scale=lambda s: s * t)


def loop_summed(z1, z2, t):
    return _loop(z1, z2, t, _others, _partner, reduce=torch.sum)


def loop_unnormalised(z1, z2, t):
    return _loop(z1, z2, t, _others, _partner, normalise=False)


def loop_first_view_only(z1, z2, t):
    """Only the N anchors of view 1."""
    z = _rows(z1, z2)
    n2 = z.shape[0]
    return torch.stack([torch.logsumexp(z[_others(i, n2)] @ z[i] / t, 0) - z[_partner(i, n2)] @ z[i] / t
                        for i in range(n2 // 2)]).mean()


def loop_positive_is_itself(z1, z2, t):
    """The positive index without the N offset: the anchor itself, which is not among its candidates."""
    return _loop(z1, z2, t, _others, lambda i, n2: i)


def loop_returns_float(z1, z2, t):
    return float(loop_solution(z1, z2, t))


WRONG_LOOPS = [
    (loop_with_self, r"log\(2N\).*Mask the self-similarity"),
    (loop_cross_view_only, r"log\(N\).*both views"),
    (loop_temperature_multiplied, r"multiplied the similarities by the temperature"),
    (loop_summed, r"summed over the anchors"),
    (loop_unnormalised, r"cosine similarities"),
    (loop_first_view_only, r"L\(z1, z2\).*loop over all 2N anchors"),
    (loop_returns_float, r"should be a torch\.Tensor"),
]


@pytest.mark.parametrize("loss", CORRECT_LOOPS, ids=lambda f: f.__name__)
def test_nt_xent_loop_accepts(loss):
    accepts("test_nt_xent_loop", loss)


@pytest.mark.parametrize("loss,match", WRONG_LOOPS, ids=[f.__name__ for f, _ in WRONG_LOOPS])
def test_nt_xent_loop_rejects(loss, match):
    rejects("test_nt_xent_loop", loss, match)
    public_rejects("test_nt_xent_loop", loss, match)


def test_the_tilted_fixture_catches_a_positive_that_is_the_anchor_itself():
    """On the classic fixtures an anchor and its positive coincide, so taking the anchor itself as its positive
    gives the right loss there; the tilted fixture, where they differ, names the mistake."""
    rejects("test_nt_xent_loop", loop_positive_is_itself, r"cosine 0\.6 .* not row i itself")
    public_rejects("test_nt_xent_loop", loop_positive_is_itself, r"not row i itself")
    z1, z2 = public.tilted_pair(4)
    assert references.reference_nt_xent(z1, z2, 0.5).item() == pytest.approx(math.log(1 + 6 * math.exp(-1.2)))


def test_loop_reference_judge_catches_what_the_closed_forms_miss():
    """A loop with a fixed temperature except at the fixtures' temperatures passes every public closed form;
    the grader's comparison with the reference on random cases fails it."""
    def fixed_temperature_loop(z1, z2, t):
        return loop_solution(z1, z2, t if t in (0.1, 0.5, 1.0) else 0.5)

    public.check_nt_xent_loop(fixed_temperature_loop)
    rejects("test_nt_xent_loop", fixed_temperature_loop, r"the reference")


def test_compare_nt_xent_agrees_on_the_solutions_and_names_a_disagreement(capsys):
    out = public.compare_nt_xent(loop_solution, nt_xent_cross_entropy, n=8, dim=16)
    assert out["difference"] < 1e-5 and "they agree" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match="one of them is wrong"):
        public.compare_nt_xent(loop_solution, no_self_mask, n=8, dim=16)
