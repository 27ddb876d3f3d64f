"""Notebook 3's three models at full size with random weights, for timing where the weights
cannot be downloaded.

A network's running time does not depend on the values of its weights, only on its
architecture, so a model built from the published configuration with random weights costs what
the pretrained one costs. Its outputs mean nothing: no accuracy is ever taken from it.

:data:`CONFIGS` writes down each configuration, value by value, with where it was read (the
Hugging Face hub cannot be reached from the machines that run the benchmarks, so the values are
typed here from those pages, not downloaded). :func:`write_hub_cache` saves the models with
``save_pretrained`` into a Hugging Face cache folder laid out as the hub's cache is, so that the
notebook's own loader (``selfsup.hub.load_model``: ``from_pretrained(<hub id>, cache_dir=
$SELFSUP_MODELS)``) finds them there with ``HF_HUB_OFFLINE=1``, exactly as it finds downloaded
weights on a second run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass(frozen=True)
class FullSizeConfig:
    """The published configuration of one of Notebook 3's models.

    Attributes:
        name: ``"mae"``, ``"dinov2"`` or ``"supervised"`` (the keys of ``selfsup.hub.MODELS``).
        values: the configuration's values that set the architecture and its cost.
        source: where the values were read.
    """

    name: str
    values: dict
    source: str


CONFIGS = {
    "mae": FullSizeConfig("mae", dict(
        hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
        hidden_act="gelu", layer_norm_eps=1e-12, qkv_bias=True, image_size=224, patch_size=16, num_channels=3,
        decoder_hidden_size=512, decoder_num_hidden_layers=8, decoder_num_attention_heads=16,
        decoder_intermediate_size=2048, mask_ratio=0.75, norm_pix_loss=False),
        "config.json of facebook/vit-mae-base, as reproduced in models fine-tuned from it that name it as their "
        "_name_or_path (e.g. https://huggingface.co/jaypratap/vit-pretraining-2024_04_02/blob/main/config.json); "
        "ViT-B/16 encoder and the 8-block, 512-wide decoder of He et al., CVPR 2022. norm_pix_loss only changes "
        "the loss of the forward pass (the copies disagree on it; Notebook 3 states False for this checkpoint)"),
    "dinov2": FullSizeConfig("dinov2", dict(
        hidden_size=384, num_hidden_layers=12, num_attention_heads=6, mlp_ratio=4, hidden_act="gelu",
        layer_norm_eps=1e-6, layerscale_value=1.0, qkv_bias=True, use_swiglu_ffn=False, image_size=518,
        patch_size=14, num_channels=3, drop_path_rate=0.0),
        "https://huggingface.co/facebook/dinov2-small/blob/108a17696a6b8485b05228f970680d16535c05ea/config.json"),
    "supervised": FullSizeConfig("supervised", dict(
        hidden_size=384, num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536, hidden_act="gelu",
        layer_norm_eps=1e-12, qkv_bias=True, image_size=224, patch_size=16, num_channels=3, num_labels=1000),
        "config.json of facebook/deit-small-patch16-224 (a ViTForImageClassification), as reproduced in models "
        "fine-tuned from it that name it as their _name_or_path (e.g. "
        "https://huggingface.co/ivensamdh/gender/blob/main/config.json); DeiT-S of Touvron et al., ICML 2021, "
        "Table 1 (width 384, 6 heads, 12 layers); 1,000 ImageNet classes in its head"),
}

#: The revision the cache folder's ``refs/main`` points to: a fixed hash that says what it is.
REVISION = hashlib.sha1(b"selfsup benchmarks: random weights, timing only").hexdigest()


def config(name: str, size: str = "full", image_size: int = 224):
    """A transformers config of one of the models.

    Args:
        name: a key of :data:`CONFIGS`.
        size: ``"full"``, the published configuration; ``"tiny"``, the grading-mode stand-in's
            (``selfsup.hub.stand_in_config``), for tests on a CPU.
        image_size: for ``"tiny"`` only: the image side its position embeddings are built for.
    """
    from selfsup import hub

    if size == "tiny":
        return hub.stand_in_config(name, image_size=image_size)
    if size != "full":
        raise ValueError(f"size must be 'full' or 'tiny', not {size!r}")
    config_cls, _, _ = hub._classes(name)
    return config_cls(**CONFIGS[name].values)


def build(name: str, size: str = "full", image_size: int = 224, seed: int = 0) -> torch.nn.Module:
    """The model class the notebook loads (``from_pretrained``'s class), random weights, eval mode.

    For ``"supervised"`` that is the classifier checkpoint (``ViTForImageClassification``); the
    notebook keeps its backbone.
    """
    from selfsup import hub

    _, _, checkpoint_cls = hub._classes(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = checkpoint_cls._from_config(config(name, size, image_size), attn_implementation="eager")
    return model.eval()


def write_hub_cache(cache: Path, size: str = "full", image_size: int = 224, names=tuple(CONFIGS)) -> list[dict]:
    """Save each model into ``cache`` laid out as the Hugging Face hub's cache.

    ``<cache>/models--<org>--<name>/snapshots/<REVISION>/`` holds ``config.json`` and
    ``model.safetensors`` (``save_pretrained``), and ``refs/main`` names that revision, so that
    ``from_pretrained(<hub id>, cache_dir=cache)`` loads it offline.

    Returns:
        Per model: ``name``, ``hub_id``, ``class``, ``parameters`` (of the saved checkpoint),
        ``size``, ``config`` (the values) and ``source``.
    """
    from selfsup import hub

    written = []
    for name in names:
        repo_id = hub.MODELS[name].repo_id
        folder = Path(cache) / f"models--{repo_id.replace('/', '--')}"
        model = build(name, size, image_size)
        model.save_pretrained(folder / "snapshots" / REVISION)
        (folder / "refs").mkdir(parents=True, exist_ok=True)
        (folder / "refs" / "main").write_text(REVISION)
        written.append({"name": name, "hub_id": repo_id, "class": type(model).__name__,
                        "parameters": sum(p.numel() for p in model.parameters()), "size": size,
                        "config": CONFIGS[name].values if size == "full" else "grading-mode stand-in (tiny)",
                        "source": CONFIGS[name].source if size == "full" else "selfsup.hub.stand_in_config"})
        del model
    return written
