"""The Notebook 1 checks, tested both ways: correct variants pass every pass (public check, hidden
test, re-check), known-wrong variants fail the re-check with the message that names the mistake.
Each wrong variant is a real mistake a student could make (``tests/checking.py``)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from checking import accepts, public_rejects, rejects
from selfsup import data
from selfsup.checks.pretext import PERMUTATIONS
from torch import nn
from torch.utils.data import Dataset

#: The correct implementations of each exercise, by test id (``benchmarks/judge_sweep.py`` sweeps them too).
CORRECT: dict[str, list] = {}


class _Wrapper(Dataset):
    def __init__(self, base):
        self.base = base

    def __len__(self):
        return len(self.base)


# --------------------------------------------------------------------------- rotation
class RotationRandom(_Wrapper):
    def __getitem__(self, i):
        x, _ = self.base[i]
        k = random.randrange(4)
        return torch.rot90(x, k, dims=(-2, -1)), k


class RotationTorchFlips(_Wrapper):
    """k quarter turns via transpose + flip, label drawn with torch."""

    def __getitem__(self, i):
        x, _ = self.base[i]
        k = int(torch.randint(0, 4, ()).item())
        for _ in range(k):
            x = x.transpose(-2, -1).flip(-2)
        return x, torch.tensor(k)


class RotationIndependentLabel(_Wrapper):
    def __getitem__(self, i):
        x, _ = self.base[i]
        return torch.rot90(x, random.randrange(4), dims=(-2, -1)), random.randrange(4)


class RotationClockwise(_Wrapper):
    def __getitem__(self, i):
        x, _ = self.base[i]
        k = random.randrange(4)
        return torch.rot90(x, -k, dims=(-2, -1)), k


class RotationContinuous(_Wrapper):
    def __getitem__(self, i):
        x, _ = self.base[i]
        k = random.randrange(4)
        return TF.rotate(x, 90 * k + random.uniform(-15, 15)), k


class RotationClassLabel(_Wrapper):
    def __getitem__(self, i):
        x, y = self.base[i]
        return torch.rot90(x, y, dims=(-2, -1)), y


class RotationFixedPerIndex(_Wrapper):
    def __getitem__(self, i):
        x, _ = self.base[i]
        k = i % 4
        return torch.rot90(x, k, dims=(-2, -1)), k


class RotationNumpyOnly32(_Wrapper):
    """Works on 32x32 only: rotates a numpy copy with a hard-coded size."""

    def __getitem__(self, i):
        x, _ = self.base[i]
        k = random.randrange(4)
        arr = np.rot90(x.numpy().reshape(3, 32, 32), k, axes=(1, 2)).copy()
        return torch.from_numpy(arr), k


class RotationNotImplemented(_Wrapper):
    def __getitem__(self, i):
        raise NotImplementedError()


CORRECT["test_rotation_dataset"] = [RotationRandom, RotationTorchFlips]


@pytest.mark.parametrize("cls", CORRECT["test_rotation_dataset"], ids=lambda v: getattr(v, "__name__", type(v).__name__))
def test_rotation_accepts_correct(cls):
    accepts("test_rotation_dataset", cls)


@pytest.mark.parametrize("cls, match", [
    (RotationIndependentLabel, "drew the label separately|draw the label separately"),
    (RotationClockwise, "clockwise"),
    (RotationContinuous, "arbitrary angle"),
    (RotationClassLabel, "class label"),
    (RotationFixedPerIndex, "every read"),
    (RotationNumpyOnly32, "raised|32x32"),
    (RotationNotImplemented, "not filled in yet"),
])
def test_rotation_rejects_wrong(cls, match):
    rejects("test_rotation_dataset", cls, match)


# --------------------------------------------------------------------------- jigsaw
def _tiles(x):
    _, h, w = x.shape
    return [x[:, r * h // 2:(r + 1) * h // 2, c * w // 2:(c + 1) * w // 2] for r in (0, 1) for c in (0, 1)]


def _assemble(tiles):
    return torch.cat([torch.cat(tiles[:2], dim=2), torch.cat(tiles[2:], dim=2)], dim=1)


class JigsawGather(_Wrapper):
    def __getitem__(self, i):
        x, _ = self.base[i]
        k = random.randrange(24)
        tiles = _tiles(x)
        return _assemble([tiles[j] for j in PERMUTATIONS[k]]), k


class JigsawUnfold(_Wrapper):
    """Tiles via reshape/permute and an index_select gather."""

    def __getitem__(self, i):
        x, _ = self.base[i]
        k = int(torch.randint(0, 24, ()).item())
        c, h, w = x.shape
        tiles = x.reshape(c, 2, h // 2, 2, w // 2).permute(1, 3, 0, 2, 4).reshape(4, c, h // 2, w // 2)
        out = tiles[torch.tensor(PERMUTATIONS[k])].reshape(2, 2, c, h // 2, w // 2)
        return out.permute(2, 0, 3, 1, 4).reshape(c, h, w), k


class JigsawScatter(_Wrapper):
    def __getitem__(self, i):
        x, _ = self.base[i]
        k = random.randrange(24)
        tiles, out = _tiles(x), [None] * 4
        for p, j in enumerate(PERMUTATIONS[k]):
            out[j] = tiles[p]
        return _assemble(out), k


class JigsawColumnMajor(_Wrapper):
    def __getitem__(self, i):
        x, _ = self.base[i]
        k = random.randrange(24)
        _, h, w = x.shape
        tiles = [x[:, r * h // 2:(r + 1) * h // 2, c * w // 2:(c + 1) * w // 2] for c in (0, 1) for r in (0, 1)]
        out = [tiles[j] for j in PERMUTATIONS[k]]
        return torch.cat([torch.cat(out[:2], dim=1), torch.cat(out[2:], dim=1)], dim=2), k


class JigsawClassLabel(_Wrapper):
    def __getitem__(self, i):
        x, y = self.base[i]
        tiles = _tiles(x)
        return _assemble([tiles[j] for j in PERMUTATIONS[y % 24]]), y


class JigsawIndependentLabel(_Wrapper):
    def __getitem__(self, i):
        x, _ = self.base[i]
        tiles = _tiles(x)
        return _assemble([tiles[j] for j in PERMUTATIONS[random.randrange(24)]]), random.randrange(24)


class JigsawHardcoded16(_Wrapper):
    def __getitem__(self, i):
        x, _ = self.base[i]
        k = random.randrange(24)
        tiles = [x[:, r * 16:(r + 1) * 16, c * 16:(c + 1) * 16] for r in (0, 1) for c in (0, 1)]
        return _assemble([tiles[j] for j in PERMUTATIONS[k]]), k


class JigsawFewPermutations(_Wrapper):
    def __getitem__(self, i):
        x, _ = self.base[i]
        k = random.randrange(4)
        tiles = _tiles(x)
        return _assemble([tiles[j] for j in PERMUTATIONS[k]]), k


CORRECT["test_jigsaw_dataset"] = [JigsawGather, JigsawUnfold]


@pytest.mark.parametrize("cls", CORRECT["test_jigsaw_dataset"], ids=lambda v: getattr(v, "__name__", type(v).__name__))
def test_jigsaw_accepts_correct(cls):
    accepts("test_jigsaw_dataset", cls)


@pytest.mark.parametrize("cls, match", [
    (JigsawScatter, "scatter"),
    (JigsawColumnMajor, "row by row"),
    (JigsawClassLabel, "class label|uniform"),
    (JigsawIndependentLabel, "does not match its permutation"),
    (JigsawHardcoded16, "assuming 16x16|raised"),
    (JigsawFewPermutations, "drawn uniformly from 24|of the 24 values"),
])
def test_jigsaw_rejects_wrong(cls, match):
    rejects("test_jigsaw_dataset", cls, match)


# --------------------------------------------------------------------------- colorization dataset
LUMA = torch.tensor([0.299, 0.587, 0.114])


class ColorLuma(_Wrapper):
    def __getitem__(self, i):
        x, _ = self.base[i]
        r, g, b = data.denormalize(x)
        return data.normalize((0.299 * r + 0.587 * g + 0.114 * b).expand(3, -1, -1)), x


class ColorEinsum(_Wrapper):
    """Luma by a tensor contraction; normalisation written out by hand."""

    def __getitem__(self, i):
        x, _ = self.base[i]
        mean, std = torch.tensor(data.CIFAR_MEAN).view(3, 1, 1), torch.tensor(data.CIFAR_STD).view(3, 1, 1)
        luma = torch.einsum("chw,c->hw", x * std + mean, LUMA)
        return (luma.unsqueeze(0).repeat(3, 1, 1) - mean) / std, x.clone()


class ColorLeak(_Wrapper):
    def __getitem__(self, i):
        x, _ = self.base[i]
        return x.clone(), x


class ColorMeanOfChannels(_Wrapper):
    def __getitem__(self, i):
        x, _ = self.base[i]
        return data.normalize(data.denormalize(x).mean(0, keepdim=True).expand(3, -1, -1)), x


class ColorNoDenormalize(_Wrapper):
    def __getitem__(self, i):
        x, _ = self.base[i]
        r, g, b = x
        return (0.299 * r + 0.587 * g + 0.114 * b).expand(3, -1, -1).contiguous(), x


class ColorNotRenormalized(_Wrapper):
    def __getitem__(self, i):
        x, _ = self.base[i]
        r, g, b = data.denormalize(x)
        return (0.299 * r + 0.587 * g + 0.114 * b).expand(3, -1, -1).contiguous(), x


class ColorOneChannel(_Wrapper):
    def __getitem__(self, i):
        x, _ = self.base[i]
        r, g, b = data.denormalize(x)
        return data.normalize((0.299 * r + 0.587 * g + 0.114 * b).expand(3, -1, -1))[:1], x


class ColorTargetPixels(_Wrapper):
    def __getitem__(self, i):
        x, _ = self.base[i]
        r, g, b = data.denormalize(x)
        return data.normalize((0.299 * r + 0.587 * g + 0.114 * b).expand(3, -1, -1)), data.denormalize(x)


CORRECT["test_colorization_dataset"] = [ColorLuma, ColorEinsum]


@pytest.mark.parametrize("cls", CORRECT["test_colorization_dataset"], ids=lambda v: getattr(v, "__name__", type(v).__name__))
def test_colorization_dataset_accepts_correct(cls):
    accepts("test_colorization_dataset", cls)


@pytest.mark.parametrize("cls, match", [
    (ColorLeak, "must not contain the colour"),
    (ColorMeanOfChannels, "average of the three channels"),
    (ColorNoDenormalize, "channels of gray should be equal|undo"),
    (ColorNotRenormalized, "channels of gray should be equal|redo"),
    (ColorOneChannel, "shape"),
    (ColorTargetPixels, "color should be the base image"),
])
def test_colorization_dataset_rejects_wrong(cls, match):
    rejects("test_colorization_dataset", cls, match)


# --------------------------------------------------------------------------- colorization net
class _Decoder(nn.Module):
    def __init__(self, backbone, activation="normalized_sigmoid", detach=False, channels=3, use_input=True):
        super().__init__()
        self.backbone, self.activation, self.detach, self.use_input = backbone, activation, detach, use_input
        self.fc = nn.Linear(256, 64 * 4 * 4)
        self.up = nn.Sequential(
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, 16, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(16, channels, 4, 2, 1),
        )

    def forward(self, x):
        h = self.backbone(x)
        if self.detach:
            h = h.detach()
        if not self.use_input:
            h = torch.zeros_like(h)
        out = self.up(self.fc(h).view(-1, 64, 4, 4))
        if self.activation == "normalized_sigmoid":
            return data.normalize(torch.sigmoid(out))
        if self.activation == "range_sigmoid":
            lo, hi = data.normalized_range(out.device)
            return lo + (hi - lo) * torch.sigmoid(out)
        if self.activation == "tanh":
            return torch.tanh(out)
        if self.activation == "sigmoid":
            return torch.sigmoid(out)
        return out


class _Upsample(nn.Module):
    """A second correct design: bilinear upsampling + convs, rescaled tanh covering the range."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone
        self.fc = nn.Linear(256, 32 * 8 * 8)
        self.conv = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(32, 16, 3, padding=1), nn.ReLU(),
                                  nn.Upsample(scale_factor=2), nn.Conv2d(16, 3, 3, padding=1))

    def forward(self, x):
        lo, hi = data.normalized_range(x.device)
        out = self.conv(self.fc(self.backbone(x)).view(-1, 32, 8, 8))
        return (lo + hi) / 2 + (hi - lo) / 2 * torch.tanh(out)


def _variant(**kw):
    return lambda backbone: _Decoder(backbone, **kw)


CORRECT["test_colorization_net"] = [_variant(), _variant(activation="range_sigmoid"), _Upsample]


@pytest.mark.parametrize("factory", CORRECT["test_colorization_net"], ids=lambda v: getattr(v, "__name__", type(v).__name__))
def test_colorization_net_accepts_correct(factory):
    accepts("test_colorization_net", factory)


class _Hidden(nn.Module):
    """Keeps the backbone in a list, so its parameters are not registered."""

    def __init__(self, backbone):
        super().__init__()
        self.parts = [backbone]
        self.head = _Decoder(nn.Identity())

    def forward(self, x):
        return self.head(self.parts[0](x))


@pytest.mark.parametrize("factory, match", [
    (_variant(activation="tanh"), "leave the normalised|never come close"),
    (_variant(activation="sigmoid"), "never come close|leave the normalised"),
    (_variant(activation="linear"), "leave the normalised"),
    (_variant(detach=True), "no gradient reaches the backbone"),
    (_variant(channels=1), "single channel|shape"),
    (_variant(use_input=False), "no gradient|ignores its input"),
    (_Hidden, "not among net.parameters"),
])
def test_colorization_net_rejects_wrong(factory, match):
    rejects("test_colorization_net", factory, match)


def test_checks_print_one_line_and_nothing_to_stderr(capsys):
    accepts("test_rotation_dataset", RotationRandom)
    out, err = capsys.readouterr()
    assert err == ""
    assert out.count("all public checks passed") == 1  # the public check; the hidden test is silent


# --------------------------------------------------------------------------- precision
def _through_uint8(x):
    """What a round trip through 8-bit pixels (a PIL image, a uint8 tensor) does to a normalised image."""
    return data.normalize((data.denormalize(x).clamp(0, 1) * 255).round().to(torch.uint8).float() / 255)


class RotationThroughUint8(_Wrapper):
    """Correct, but rotates an 8-bit copy: off by up to half a grey level."""

    def __getitem__(self, i):
        x, _ = self.base[i]
        k = random.randrange(4)
        return torch.rot90(_through_uint8(x), k, dims=(-2, -1)), k


class ColorThroughPIL(_Wrapper):
    """Correct, but computes the luma with PIL's convert("L") on an 8-bit image."""

    def __getitem__(self, i):
        from PIL import Image

        x, _ = self.base[i]
        pixels = (data.denormalize(x).clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        gray = torch.from_numpy(np.array(Image.fromarray(pixels).convert("L"))).float() / 255
        return data.normalize(gray.expand(3, -1, -1)), x


class ColorOffByFiveGreyLevels(_Wrapper):
    def __getitem__(self, i):
        x, _ = self.base[i]
        r, g, b = data.denormalize(x)
        return data.normalize((0.299 * r + 0.587 * g + 0.114 * b + 5 / 255).expand(3, -1, -1)), x


@pytest.mark.parametrize("test, cls", [("test_rotation_dataset", RotationThroughUint8),
                                       ("test_colorization_dataset", ColorThroughPIL)])
def test_rounding_to_8_bit_pixels_is_not_a_mistake(test, cls):
    accepts(test, cls)


def test_a_real_difference_is_measured_in_grey_levels():
    rejects("test_colorization_dataset", ColorOffByFiveGreyLevels, r"off by up to 5 grey levels")


@pytest.mark.parametrize("test, cls, match", [
    ("test_rotation_dataset", RotationClassLabel, "Is it the class label"),
    ("test_rotation_dataset", RotationClockwise, "clockwise"),
    ("test_jigsaw_dataset", JigsawScatter, "scatter"),
    ("test_colorization_dataset", ColorMeanOfChannels, "average of the three channels"),
    ("test_colorization_net", _variant(activation="tanh"), "normalised pixel range|never come close"),
])
def test_the_public_checks_teach_the_common_mistakes(test, cls, match):
    public_rejects(test, cls, match)


# --------------------------------------------------------------------------- batched paths: dataset.batch(indices)
class _BatchWrapper(Dataset):
    """A base whose ``batch`` the variants call; ``__getitem__`` is not needed by the batch checks."""

    def __init__(self, base):
        self.base = base

    def __len__(self):
        return len(self.base)


def _rotations(x):
    return torch.stack([torch.rot90(x, k, dims=(-2, -1)) for k in range(4)])  # [4, B, C, H, W]


class RotationBatchStack(_BatchWrapper):
    def batch(self, indices):
        x, _ = self.base.batch(indices)
        k = torch.randint(4, (len(x),), device=x.device)
        return _rotations(x)[k, torch.arange(len(x))], k


class RotationBatchWhere(_BatchWrapper):
    """Quarter turns by transpose + flip, selected with torch.where."""

    def batch(self, indices):
        x, _ = self.base.batch(indices)
        k = torch.randint(0, 4, (x.shape[0],))
        out, turned = x.clone(), x
        for quarter in range(1, 4):
            turned = turned.transpose(-2, -1).flip(-2)
            out = torch.where((k == quarter).view(-1, 1, 1, 1), turned, out)
        return out, k


class RotationBatchOneLabel(_BatchWrapper):
    def batch(self, indices):
        x, _ = self.base.batch(indices)
        k = random.randrange(4)
        return torch.rot90(x, k, dims=(-2, -1)), torch.full((len(x),), k)


class RotationBatchFirstLabel(_BatchWrapper):
    def batch(self, indices):
        x, _ = self.base.batch(indices)
        k = torch.randint(4, (len(x),))
        return torch.rot90(x, int(k[0]), dims=(-2, -1)), k


class RotationBatchClockwise(_BatchWrapper):
    def batch(self, indices):
        x, _ = self.base.batch(indices)
        k = torch.randint(4, (len(x),))
        return _rotations(x)[(-k) % 4, torch.arange(len(x))], k


class RotationBatchPythonLabels(_BatchWrapper):
    def batch(self, indices):
        x, _ = self.base.batch(indices)
        k = [random.randrange(4) for _ in range(len(x))]
        return torch.stack([torch.rot90(img, j, dims=(-2, -1)) for img, j in zip(x, k)]), k


class RotationBatchPerIndex(_BatchWrapper):
    def batch(self, indices):
        x, _ = self.base.batch(indices)
        k = torch.as_tensor(indices) % 4
        return _rotations(x)[k, torch.arange(len(x))], k


@pytest.mark.parametrize("cls", [RotationBatchStack, RotationBatchWhere])
def test_rotation_batch_accepts_correct(cls):
    accepts("test_rotation_batch", cls)


@pytest.mark.parametrize("cls, match", [
    (RotationBatchOneLabel, "to every copy"),
    (RotationBatchFirstLabel, "not x rotated"),
    (RotationBatchClockwise, "clockwise"),
    (RotationBatchPythonLabels, "one integer tensor"),
    (RotationBatchPerIndex, "to every copy"),
    (RotationRandom, "raised AttributeError"),  # no batch method at all
])
def test_rotation_batch_rejects_wrong(cls, match):
    rejects("test_rotation_batch", cls, match)


def _batch_tiles(x):
    _, _, h, w = x.shape
    return [x[..., r * h // 2:(r + 1) * h // 2, c * w // 2:(c + 1) * w // 2] for r in (0, 1) for c in (0, 1)]


def _batch_assemble(tiles):
    return torch.cat([torch.cat(tiles[:2], dim=3), torch.cat(tiles[2:], dim=3)], dim=2)


TABLE = torch.tensor(PERMUTATIONS)


class JigsawBatchGather(_BatchWrapper):
    def batch(self, indices):
        x, _ = self.base.batch(indices)
        k = torch.randint(24, (len(x),))
        tiles, rows = torch.stack(_batch_tiles(x), 1), torch.arange(len(x))
        return _batch_assemble([tiles[rows, TABLE[k][:, p]] for p in range(4)]), k


class JigsawBatchReshape(_BatchWrapper):
    """Tiles by reshape/permute, one gather of [B, 4] tile indices, and back."""

    def batch(self, indices):
        x, _ = self.base.batch(indices)
        b, c, h, w = x.shape
        k = torch.randint(24, (b,))
        tiles = x.reshape(b, c, 2, h // 2, 2, w // 2).permute(0, 2, 4, 1, 3, 5).reshape(b, 4, c, h // 2, w // 2)
        out = tiles[torch.arange(b).view(-1, 1), TABLE[k]].reshape(b, 2, 2, c, h // 2, w // 2)
        return out.permute(0, 3, 1, 4, 2, 5).reshape(b, c, h, w), k


class JigsawBatchScatter(_BatchWrapper):
    def batch(self, indices):
        x, _ = self.base.batch(indices)
        k = torch.randint(24, (len(x),))
        tiles, rows = torch.stack(_batch_tiles(x), 1), torch.arange(len(x))
        out = torch.empty_like(tiles)
        out[rows.view(-1, 1), TABLE[k]] = tiles
        return _batch_assemble(list(out.unbind(1))), k


class JigsawBatchOnePermutation(_BatchWrapper):
    def batch(self, indices):
        x, _ = self.base.batch(indices)
        k = random.randrange(24)
        tiles = _batch_tiles(x)
        return _batch_assemble([tiles[j] for j in PERMUTATIONS[k]]), torch.full((len(x),), k)


class JigsawBatchLabelColumn(_BatchWrapper):
    def batch(self, indices):
        x, _ = self.base.batch(indices)
        k = torch.randint(24, (len(x), 1))
        tiles, rows = torch.stack(_batch_tiles(x), 1), torch.arange(len(x))
        return _batch_assemble([tiles[rows, TABLE[k[:, 0]][:, p]] for p in range(4)]), k


@pytest.mark.parametrize("cls", [JigsawBatchGather, JigsawBatchReshape])
def test_jigsaw_batch_accepts_correct(cls):
    accepts("test_jigsaw_batch", cls)


@pytest.mark.parametrize("cls, match", [
    (JigsawBatchScatter, "scatter"),
    (JigsawBatchOnePermutation, "to every copy"),
    (JigsawBatchLabelColumn, "shape"),
])
def test_jigsaw_batch_rejects_wrong(cls, match):
    rejects("test_jigsaw_batch", cls, match)


class ColorBatchLuma(_BatchWrapper):
    def batch(self, indices):
        x, _ = self.base.batch(indices)
        r, g, b = data.denormalize(x).unbind(1)
        return data.normalize((0.299 * r + 0.587 * g + 0.114 * b).unsqueeze(1).expand(-1, 3, -1, -1)), x


class ColorBatchEinsum(_BatchWrapper):
    def batch(self, indices):
        x, _ = self.base.batch(indices)
        luma = torch.einsum("bchw,c->bhw", data.denormalize(x), LUMA)
        return data.normalize(luma.unsqueeze(1).repeat(1, 3, 1, 1)), x


class ColorBatchUnpacksTheBatch(_BatchWrapper):
    """The per-image code on a batch: unpacking splits the batch, not the channels."""

    def batch(self, indices):
        x, _ = self.base.batch(indices)
        r, g, b = data.denormalize(x)
        return data.normalize((0.299 * r + 0.587 * g + 0.114 * b).expand(3, -1, -1)), x


class ColorBatchMeanOfChannels(_BatchWrapper):
    def batch(self, indices):
        x, _ = self.base.batch(indices)
        return data.normalize(data.denormalize(x).mean(1, keepdim=True).expand(-1, 3, -1, -1)), x


class ColorBatchLumaOverBatch(_BatchWrapper):
    """The luma weights applied along dimension 0 of a batch of 3 (the per-image code, B = 3)."""

    def batch(self, indices):
        x, _ = self.base.batch(indices)
        rgb = data.denormalize(x)
        luma = sum(w * rgb[:, c] for c, w in enumerate((0.299, 0.587, 0.114)))
        return data.normalize(luma.unsqueeze(1).expand(-1, 3, -1, -1)), data.denormalize(x)


@pytest.mark.parametrize("cls", [ColorBatchLuma, ColorBatchEinsum])
def test_colorization_batch_accepts_correct(cls):
    accepts("test_colorization_batch", cls)


@pytest.mark.parametrize("cls, match", [
    (ColorBatchUnpacksTheBatch, "raised|shape"),
    (ColorBatchMeanOfChannels, "average of the three channels"),
    (ColorBatchLumaOverBatch, "color should be the base image"),
])
def test_colorization_batch_rejects_wrong(cls, match):
    rejects("test_colorization_batch", cls, match)


def test_the_public_batch_check_teaches_one_label_per_image():
    public_rejects("test_rotation_batch", RotationBatchOneLabel, "draw the label for every image")
# --------------------------------------------------------------------------- cross-validation (Exercise 1.5)
def _assign_folds(labels, folds, seed):
    g = torch.Generator().manual_seed(seed)
    fold_of = torch.empty(len(labels), dtype=torch.long)
    for c in labels.unique():
        members = torch.nonzero(labels == c).flatten()
        fold_of[members[torch.randperm(len(members), generator=g)]] = torch.arange(len(members)) % folds
    return fold_of


def _choose(candidates, means, pick=max):
    best = pick(range(len(candidates)), key=lambda i: means[i])
    return candidates[best], means


def cv_solution(labels, candidates, score, folds=5, seed=0):
    fold_of = _assign_folds(labels, folds, seed)
    means = [sum(score(torch.nonzero(fold_of != f).flatten(), torch.nonzero(fold_of == f).flatten(), c)
                 for f in range(folds)) / folds for c in candidates]
    return _choose(candidates, means)


def cv_sorted_round_robin(labels, candidates, score, folds=5, seed=0):
    """Sort by class (a stable sort), deal the sorted images out in turn; numpy for the bookkeeping."""
    order = np.argsort(labels.numpy(), kind="stable")
    fold_of = np.empty(len(order), dtype=np.int64)
    for c in np.unique(labels.numpy()):
        members = order[labels.numpy()[order] == c]
        np.random.default_rng(seed).shuffle(members)
        fold_of[members] = (np.arange(len(members)) + int(c)) % folds  # each class starts at another fold
    table = np.zeros((len(candidates), folds))
    for f in range(folds):
        val, train = torch.from_numpy(np.nonzero(fold_of == f)[0]), torch.from_numpy(np.nonzero(fold_of != f)[0])
        for i, c in enumerate(candidates):
            table[i, f] = score(train, val, c)
    means = table.mean(1).tolist()
    return candidates[int(np.argmax(means))], means


def cv_unstratified(labels, candidates, score, folds=5, seed=0):
    """Contiguous chunks of the images sorted by class: whole classes end up in one fold."""
    order = torch.argsort(labels, stable=True)
    fold_of = torch.empty(len(labels), dtype=torch.long)
    fold_of[order] = torch.arange(len(labels)) * folds // len(labels)
    means = [sum(score(torch.nonzero(fold_of != f).flatten(), torch.nonzero(fold_of == f).flatten(), c)
                 for f in range(folds)) / folds for c in candidates]
    return _choose(candidates, means)


def cv_trains_on_everything(labels, candidates, score, folds=5, seed=0):
    fold_of = _assign_folds(labels, folds, seed)
    everything = torch.arange(len(labels))
    means = [sum(score(everything, torch.nonzero(fold_of == f).flatten(), c) for f in range(folds)) / folds
             for c in candidates]
    return _choose(candidates, means)


def cv_new_folds_per_candidate(labels, candidates, score, folds=5, seed=0):
    means = []
    for i, c in enumerate(candidates):
        fold_of = _assign_folds(labels, folds, seed + i)
        means.append(sum(score(torch.nonzero(fold_of != f).flatten(), torch.nonzero(fold_of == f).flatten(), c)
                         for f in range(folds)) / folds)
    return _choose(candidates, means)


def cv_last_fold_decides(labels, candidates, score, folds=5, seed=0):
    fold_of = _assign_folds(labels, folds, seed)
    table = [[score(torch.nonzero(fold_of != f).flatten(), torch.nonzero(fold_of == f).flatten(), c)
              for f in range(folds)] for c in candidates]
    means = [sum(row) / folds for row in table]
    return candidates[max(range(len(candidates)), key=lambda i: table[i][-1])], means


def cv_lowest(labels, candidates, score, folds=5, seed=0):
    best, means = cv_solution(labels, candidates, score, folds, seed)
    return _choose(candidates, means, pick=min)


def cv_returns_position(labels, candidates, score, folds=5, seed=0):
    best, means = cv_solution(labels, candidates, score, folds, seed)
    return candidates.index(best), means


def cv_sums(labels, candidates, score, folds=5, seed=0):
    best, means = cv_solution(labels, candidates, score, folds, seed)
    return best, [m * folds for m in means]


def cv_always_five_folds(labels, candidates, score, folds=5, seed=0):
    return cv_solution(labels, candidates, score, 5, seed)


WRONG_CV = [
    (cv_unstratified, r"stratify"),
    (cv_trains_on_everything, r"in both train_index and val_index"),
    (cv_new_folds_per_candidate, r"compared on different folds"),
    (cv_last_fold_decides, r"highest mean validation score"),
    (cv_lowest, r"highest mean validation score"),
    (cv_returns_position, r"the value, not its position|you chose"),  # a position may equal a candidate
    (cv_sums, r"the average of each candidate's"),
    (cv_always_five_folds, r"each candidate should be scored once on each fold"),
]


@pytest.mark.parametrize("cv", [cv_solution, cv_sorted_round_robin], ids=lambda f: f.__name__)
def test_cross_validate_accepts(cv):
    accepts("test_cross_validate", cv)


@pytest.mark.parametrize("cv,match", WRONG_CV, ids=[f.__name__ for f, _ in WRONG_CV])
def test_cross_validate_rejects(cv, match):
    rejects("test_cross_validate", cv, match)
    public_rejects("test_cross_validate", cv, match)
