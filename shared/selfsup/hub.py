"""Pretrained vision transformers for Notebook 3: loading, image preparation, batched features.

Three models, all loaded through transformers with **eager** attention, because under
transformers 5's default ``sdpa`` attention ``output_attentions=True`` silently returns an
empty tuple:

* ``"mae"``: ``facebook/vit-mae-base`` as ``ViTMAEForPreTraining``, MAE's ViT-B/16 encoder and
  its pixel decoder (He et al., CVPR 2022).
* ``"dinov2"``: ``facebook/dinov2-small`` as ``Dinov2Model``, DINOv2's ViT-S/14, i.e. the
  torch.hub ``dinov2_vits14`` converted to transformers (Oquab et al., TMLR 2024). torch.hub
  itself needs GitHub at load time and returns no attention weights.
* ``"supervised"``: ``facebook/deit-small-patch16-224``, DeiT-S/16 trained with ImageNet labels
  (Touvron et al., ICML 2021): the checkpoint is a ``ViTForImageClassification``; we return its
  backbone, a ``ViTModel``, and drop the classifier.

Weights are downloaded once (with transformers' progress bars) and cached: Hugging Face's
cache (``$HF_HOME``), or ``cache=`` / ``$SELFSUP_MODELS``.

In grading mode (see :mod:`selfsup.runtime`) nothing is downloaded: :func:`load_model` builds
the *same classes* from tiny configs with random weights. These **stand-ins** carry
``model.is_stand_in = True`` and announce themselves when built; their outputs mean nothing and
no number computed from them is a result.

All three models expect ImageNet-normalised images whose sides are multiples of the patch
size; :func:`prepare_images` turns a CIFAR-10 batch into such images (32 -> 224 pixels).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable, Iterable

import torch
from torch import nn
from torch.nn import functional as F

from . import runtime
from .data import DeviceLoader, ImageTensorDataset, denormalize

#: ImageNet statistics, in [0, 1] pixel units: every model here was trained on images
#: normalised with them.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Side of the images the stand-ins are built for (small, so that grading is fast).
STAND_IN_IMAGE_SIZE = 112


@dataclass(frozen=True)
class ModelSpec:
    """One pretrained model of the notebook.

    Attributes:
        repo_id: its id on the Hugging Face hub.
        description: what it is, in a few words.
        patch_size: the patch size of the real model (the stand-in keeps it).
    """

    repo_id: str
    description: str
    patch_size: int


MODELS = {
    "mae": ModelSpec("facebook/vit-mae-base", "MAE ViT-B/16, encoder and pixel decoder", 16),
    "dinov2": ModelSpec("facebook/dinov2-small", "DINOv2 ViT-S/14, the converted dinov2_vits14", 14),
    "supervised": ModelSpec("facebook/deit-small-patch16-224", "DeiT-S/16, trained with ImageNet labels", 16),
}

#: Width, depth and heads of the stand-ins: 6 heads like DINOv2-S and DeiT-S.
_TINY = dict(hidden_size=48, num_hidden_layers=2, num_attention_heads=6)


class ModelLoadError(RuntimeError):
    """A pretrained model could not be loaded; the message names the model and what to try."""


def quiet_transformers() -> None:
    """Silence transformers' log messages and progress bars (they write to stderr).

    Grading mode calls this, because nbgrader scores any stderr output in a graded cell as 0.
    """
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def _classes(name: str):
    from transformers import (Dinov2Config, Dinov2Model, ViTConfig, ViTForImageClassification, ViTMAEConfig,
                              ViTMAEForPreTraining, ViTModel)

    return {
        "mae": (ViTMAEConfig, ViTMAEForPreTraining, ViTMAEForPreTraining),
        "dinov2": (Dinov2Config, Dinov2Model, Dinov2Model),
        # The checkpoint is a classifier; we keep its backbone (`.vit`) and drop the head.
        "supervised": (ViTConfig, ViTModel, ViTForImageClassification),
    }[name]


def _spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name]


def stand_in_config(name: str, image_size: int = STAND_IN_IMAGE_SIZE, patch_size: int | None = None):
    """The tiny config of a stand-in: the real model's class and patch size, 2 layers, 48 wide.

    Args:
        name: ``"mae"``, ``"dinov2"`` or ``"supervised"``.
        image_size: the image side the stand-in is built for (MAE and ViT embed positions for
            exactly this size; DINOv2 interpolates).
        patch_size: defaults to the real model's.
    """
    spec = _spec(name)
    config_cls, _, _ = _classes(name)
    patch = patch_size or spec.patch_size
    if name == "mae":
        return config_cls(image_size=image_size, patch_size=patch, intermediate_size=96, decoder_hidden_size=32,
                          decoder_num_hidden_layers=1, decoder_num_attention_heads=2, decoder_intermediate_size=64,
                          mask_ratio=0.75, norm_pix_loss=False, **_TINY)
    if name == "dinov2":
        return config_cls(image_size=image_size, patch_size=patch, mlp_ratio=2, **_TINY)
    return config_cls(image_size=image_size, patch_size=patch, intermediate_size=96, **_TINY)


def build_stand_in(name: str, image_size: int = STAND_IN_IMAGE_SIZE, patch_size: int | None = None,
                   seed: int = 0, announce: bool = False) -> nn.Module:
    """A tiny random-weight model of the same class as the real one, in eval mode, eager attention.

    The global random state is left untouched (weights come from ``seed``).

    Args:
        name: ``"mae"``, ``"dinov2"`` or ``"supervised"``.
        image_size: see :func:`stand_in_config`.
        patch_size: see :func:`stand_in_config`.
        seed: seed of the random weights.
        announce: print a notice saying that this is a stand-in.

    Returns:
        The model, with ``is_stand_in = True`` and ``hub_name`` saying what it stands in for.
    """
    spec = _spec(name)
    if runtime.is_grading():
        quiet_transformers()
    config = stand_in_config(name, image_size, patch_size)
    _, model_cls, _ = _classes(name)
    extra = {"add_pooling_layer": False} if name == "supervised" else {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_cls._from_config(config, attn_implementation="eager", **extra)
    model.eval()
    model.is_stand_in = True
    model.hub_name = f"{spec.repo_id} (STAND-IN: tiny, random weights)"
    if announce:
        print(f"STAND-IN for {spec.repo_id}: a tiny {type(model).__name__} "
              f"({config.num_hidden_layers} layers, width {config.hidden_size}, patch {config.patch_size}) with "
              "random weights, built offline. Its outputs mean nothing; numbers computed from it are not results.")
    return model


def cache_dir(override: str | os.PathLike | None = None) -> str | None:
    """Where weights are cached: ``override``, else ``$SELFSUP_MODELS``, else Hugging Face's
    default (``None``, i.e. ``$HF_HOME/hub``)."""
    if override is not None:
        return str(override)
    return os.environ.get("SELFSUP_MODELS") or None


def load_model(name: str, device: torch.device | str = "cpu", stand_in: bool | None = None,
               source: str | os.PathLike | None = None, cache: str | os.PathLike | None = None) -> nn.Module:
    """Load one of :data:`MODELS` with eager attention, in eval mode, on ``device``.

    The first call downloads the weights (with a progress bar) into the cache; later calls
    read them from there.

    Args:
        name: ``"mae"``, ``"dinov2"`` or ``"supervised"``.
        device: where to put the model.
        stand_in: build a tiny random-weight stand-in instead (default: in grading mode only).
        source: load from this hub id or local folder (a ``save_pretrained`` directory)
            instead of the model's hub id.
        cache: cache directory (see :func:`cache_dir`).

    Returns:
        The model; ``model.is_stand_in`` says whether it is a stand-in and ``model.hub_name``
        where it came from.

    Raises:
        ModelLoadError: the download or the loading failed; the message names the model.
    """
    spec = _spec(name)
    if stand_in is None:
        stand_in = runtime.is_grading()
    if stand_in:
        return build_stand_in(name, announce=True).to(device)
    if runtime.is_grading():
        quiet_transformers()
    where = str(source) if source is not None else spec.repo_id
    _, model_cls, checkpoint_cls = _classes(name)
    print(f"loading {where} ({spec.description}) as {model_cls.__name__} ...", flush=True)
    start = time.perf_counter()
    try:
        model = checkpoint_cls.from_pretrained(where, attn_implementation="eager", cache_dir=cache_dir(cache))
    except Exception as error:  # noqa: BLE001 - every failure is reported with the model's name
        raise ModelLoadError(
            f"could not load {where} ({spec.description}) with {checkpoint_cls.__name__}.from_pretrained: "
            f"{type(error).__name__}: {error}\nThe first load downloads the weights from the Hugging Face hub, so "
            "it needs internet access (on Colab: check the runtime is connected); later loads read the cache "
            f"({cache_dir(cache) or 'Hugging Face default, $HF_HOME/hub'})."
        ) from error
    if checkpoint_cls is not model_cls:
        model = model.vit  # the backbone of the classifier checkpoint
    model.eval().to(device)
    model.is_stand_in = False
    model.hub_name = where
    n_params = sum(p.numel() for p in model.parameters())
    print(f"loaded {where}: {n_params:,} parameters, patch {model.config.patch_size}, "
          f"attention {model.config._attn_implementation}, {time.perf_counter() - start:.0f} s")
    return model


def _imagenet_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean = torch.tensor(IMAGENET_MEAN, device=x.device, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device, dtype=torch.float32).view(1, 3, 1, 1)
    return mean, std


def prepare_images(x: torch.Tensor, size: int = 224) -> torch.Tensor:
    """A CIFAR-10 batch as the ViTs expect it: resized to ``size`` and ImageNet-normalised.

    A 32x32 image cut into 14-pixel patches leaves only 2x2 patches, so we upsample
    (bicubic) to the resolution the models were trained at.

    Args:
        x: uint8 images ``[B, 3, h, w]`` in [0, 255], or CIFAR-normalised float images (what
            :class:`~selfsup.data.ImageTensorDataset` yields).
        size: output side in pixels.

    Returns:
        float32 ``[B, 3, size, size]``: ``(pixels - IMAGENET_MEAN) / IMAGENET_STD``.
    """
    pixels = x.float().div(255.0) if x.dtype == torch.uint8 else denormalize(x)
    if tuple(pixels.shape[-2:]) != (size, size):
        pixels = F.interpolate(pixels, size=(size, size), mode="bicubic", align_corners=False).clamp_(0.0, 1.0)
    mean, std = _imagenet_stats(pixels)
    return (pixels - mean) / std


def to_pixels(x: torch.Tensor) -> torch.Tensor:
    """Undo the ImageNet normalisation: ``x * IMAGENET_STD + IMAGENET_MEAN`` (not clamped).

    Args:
        x: ``[B, 3, H, W]`` in ImageNet-normalised units.

    Returns:
        float32 ``[B, 3, H, W]`` in [0, 1] pixel units (up to what the model predicts).
    """
    mean, std = _imagenet_stats(x)
    return x.float() * std + mean


@torch.no_grad()
def extract_features(fn: Callable[[torch.Tensor], torch.Tensor], data: ImageTensorDataset | Iterable,
                     device: torch.device, image_size: int = 224, batch_size: int = 128,
                     desc: str = "features") -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``fn`` over every image, batched, without gradients (fp16 autocast on the GPU).

    Args:
        fn: maps prepared images ``[B, 3, image_size, image_size]`` to features ``[B, ...]``,
            e.g. ``lambda x: dinov2(pixel_values=x).pooler_output``.
        data: an :class:`~selfsup.data.ImageTensorDataset` (it is moved to ``device`` and cut
            into batches there) or any iterable of ``(x, y)`` CIFAR batches.
        device: where to run.
        image_size: see :func:`prepare_images`.
        batch_size: images per forward pass.
        desc: label of the progress bar (shown in full mode only).

    Returns:
        ``(features, labels)``: float32 ``[N, ...]`` and int64 ``[N]``, on the CPU.
    """
    if isinstance(data, ImageTensorDataset):
        data = DeviceLoader(data.to(device), batch_size)
    bar = None
    if runtime.show_progress():
        from tqdm.auto import tqdm

        bar = tqdm(total=len(data) if hasattr(data, "__len__") else None, desc=desc)
    feats, labels = [], []
    try:
        for x, y in data:
            images = prepare_images(x.to(device, non_blocking=True), image_size)
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=device.type == "cuda"):
                h = fn(images)
            feats.append(h.float().cpu())
            labels.append(torch.as_tensor(y).cpu())
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return torch.cat(feats), torch.cat(labels).long()
