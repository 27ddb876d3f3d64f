"""selfsup.hub offline: stand-ins, the real from_pretrained path (on tiny models saved locally),
errors that name the model, image preparation and batched feature extraction."""

from __future__ import annotations

import pytest
import torch
from transformers import Dinov2Model, ViTForImageClassification, ViTMAEForPreTraining, ViTModel

from selfsup import data, hub

CLASSES = {"mae": ViTMAEForPreTraining, "dinov2": Dinov2Model, "supervised": ViTModel}
#: What each hub checkpoint is saved as (the supervised one is a classifier).
CHECKPOINTS = {"mae": ViTMAEForPreTraining, "dinov2": Dinov2Model, "supervised": ViTForImageClassification}


def attentions(model, size=32):
    with torch.no_grad():
        return model(pixel_values=torch.randn(1, 3, size, size), output_attentions=True).attentions


# --------------------------------------------------------------------------- stand-ins
@pytest.mark.parametrize("name", sorted(hub.MODELS))
def test_stand_in_is_the_real_class_labelled_eager_and_in_eval_mode(name):
    model = hub.build_stand_in(name, image_size=32, patch_size=8)
    assert type(model) is CLASSES[name]
    assert model.is_stand_in is True
    assert "STAND-IN" in model.hub_name and hub.MODELS[name].repo_id in model.hub_name
    assert model.config._attn_implementation == "eager"
    assert not model.training
    layers = attentions(model if name != "mae" else model.vit)
    assert len(layers) == model.config.num_hidden_layers and all(a.numel() > 0 for a in layers)


def test_stand_in_keeps_the_real_patch_sizes_and_mae_ratio():
    assert hub.build_stand_in("dinov2").config.patch_size == 14
    assert hub.build_stand_in("supervised").config.patch_size == 16
    mae = hub.build_stand_in("mae")
    assert mae.config.patch_size == 16 and mae.config.mask_ratio == 0.75 and mae.config.norm_pix_loss is False
    assert mae.config.image_size == hub.STAND_IN_IMAGE_SIZE


def test_stand_in_weights_come_from_the_seed_and_leave_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = hub.build_stand_in("dinov2", seed=1)
    assert torch.equal(torch.rand(3), expected)
    b, c = hub.build_stand_in("dinov2", seed=1), hub.build_stand_in("dinov2", seed=2)
    assert torch.equal(a.embeddings.cls_token, b.embeddings.cls_token)
    assert not torch.equal(a.embeddings.cls_token, c.embeddings.cls_token)


def test_grading_mode_loads_an_announced_stand_in_silently(capsys):
    model = hub.load_model("dinov2")  # tests run in grading mode (conftest)
    out = capsys.readouterr()
    assert model.is_stand_in
    assert "STAND-IN for facebook/dinov2-small" in out.out and "not results" in out.out
    assert out.err == ""


def test_sdpa_gives_no_attentions_which_is_why_the_hub_loads_eager():
    """The transformers 5 trap the helper exists to avoid: same model, sdpa attention -> empty tuple."""
    config = hub.stand_in_config("dinov2", image_size=32, patch_size=8)
    model = Dinov2Model._from_config(config, attn_implementation="sdpa").eval()
    assert attentions(model) == ()


def test_unknown_model_name():
    with pytest.raises(ValueError, match="unknown model 'clip'"):
        hub.load_model("clip")


# --------------------------------------------------------------------------- the real loading path
def _save_tiny_checkpoint(name, folder):
    config = hub.stand_in_config(name, image_size=32, patch_size=8)
    torch.manual_seed(0)
    model = CHECKPOINTS[name](config).eval()
    model.save_pretrained(folder)
    return model


@pytest.mark.parametrize("name", sorted(hub.MODELS))
def test_from_pretrained_path_on_a_saved_tiny_model(name, tmp_path, capsys):
    saved = _save_tiny_checkpoint(name, tmp_path)
    model = hub.load_model(name, stand_in=False, source=tmp_path)
    out = capsys.readouterr().out
    assert type(model) is CLASSES[name]
    assert model.is_stand_in is False and model.hub_name == str(tmp_path)
    assert model.config._attn_implementation == "eager"  # not saved by save_pretrained: set by the loader
    assert not model.training
    assert f"loading {tmp_path}" in out and "attention eager" in out
    backbone = saved.vit if name == "supervised" else saved
    for key, value in backbone.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    assert all(a.numel() > 0 for a in attentions(model if name != "mae" else model.vit))


def fill_hub_cache(cache, name, image_size=32, patch_size=8):
    """Put a tiny checkpoint where Hugging Face's cache keeps ``hub.MODELS[name]``, as a download would."""
    repo = hub.MODELS[name].repo_id
    folder = cache / f"models--{repo.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    config = hub.stand_in_config(name, image_size=image_size, patch_size=patch_size)
    CHECKPOINTS[name](config).save_pretrained(folder / "snapshots" / commit)


@pytest.mark.parametrize("name", sorted(hub.MODELS))
def test_hub_id_is_read_from_the_cache_without_the_network(name, tmp_path):
    """The second load of a model reads the cache: offline (conftest), from the hub id alone."""
    fill_hub_cache(tmp_path, name)
    model = hub.load_model(name, stand_in=False, cache=tmp_path)
    assert type(model) is CLASSES[name] and model.hub_name == hub.MODELS[name].repo_id
    assert not model.is_stand_in and model.config._attn_implementation == "eager"


def test_loader_moves_the_model_to_the_device(tmp_path):
    _save_tiny_checkpoint("dinov2", tmp_path)
    model = hub.load_model("dinov2", device="meta", stand_in=False, source=tmp_path)
    assert next(model.parameters()).device.type == "meta"


def test_load_failure_names_the_model(tmp_path):
    with pytest.raises(hub.ModelLoadError, match="could not load .*missing.*MAE ViT-B/16"):
        hub.load_model("mae", stand_in=False, source=tmp_path / "missing")


def test_download_failure_names_the_hub_id_and_the_cache(tmp_path):
    # HF_HUB_OFFLINE=1 (conftest) makes the download fail at once, as it would without a network.
    expected = r"(?s)facebook/dinov2-small \(DINOv2 ViT-S/14.*internet access"
    with pytest.raises(hub.ModelLoadError, match=expected) as info:
        hub.load_model("dinov2", stand_in=False, cache=tmp_path)
    assert str(tmp_path) in str(info.value)


def test_cache_directory_and_eager_attention_reach_from_pretrained(tmp_path, monkeypatch):
    seen = {}

    def fake_from_pretrained(source, **kwargs):
        seen.update(source=source, **kwargs)
        return hub.build_stand_in("dinov2")

    monkeypatch.setattr(Dinov2Model, "from_pretrained", fake_from_pretrained)
    hub.load_model("dinov2", stand_in=False, cache=tmp_path / "a")
    assert seen == {"source": "facebook/dinov2-small", "attn_implementation": "eager", "cache_dir": str(tmp_path / "a")}
    monkeypatch.setenv("SELFSUP_MODELS", str(tmp_path / "b"))
    hub.load_model("dinov2", stand_in=False)
    assert seen["cache_dir"] == str(tmp_path / "b")
    monkeypatch.delenv("SELFSUP_MODELS")
    assert hub.cache_dir() is None  # Hugging Face's default cache


# --------------------------------------------------------------------------- images and features
def test_prepare_images_resizes_and_uses_imagenet_statistics():
    gray = torch.full((2, 3, 32, 32), 128, dtype=torch.uint8)
    out = hub.prepare_images(gray, size=64)
    assert out.shape == (2, 3, 64, 64) and out.dtype == torch.float32
    mean, std = torch.tensor(hub.IMAGENET_MEAN), torch.tensor(hub.IMAGENET_STD)
    assert torch.allclose(out[0, :, 10, 10], (128 / 255 - mean) / std, atol=1e-5)


def test_prepare_images_accepts_uint8_or_cifar_normalised_and_to_pixels_inverts_it():
    images = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    from_uint8 = hub.prepare_images(images, size=32)
    from_dataset = hub.prepare_images(data.normalize(images), size=32)
    assert torch.allclose(from_uint8, from_dataset, atol=1e-5)
    assert torch.allclose(hub.to_pixels(from_uint8), images.float() / 255, atol=1e-5)
    upsampled = hub.to_pixels(hub.prepare_images(images, size=224))
    assert upsampled.min() >= -1e-6 and upsampled.max() <= 1 + 1e-6  # bicubic overshoot is clamped


def test_extract_features_batches_in_order_and_stays_silent(capsys):
    images, labels = data.synthetic_cifar(10, seed=0)
    dataset = data.ImageTensorDataset(images, labels)
    feats, out_labels = hub.extract_features(lambda x: x.mean(dim=(2, 3)), dataset, torch.device("cpu"),
                                             image_size=48, batch_size=4)
    assert feats.shape == (10, 3) and feats.dtype == torch.float32
    assert torch.equal(out_labels, labels)
    assert torch.allclose(feats, hub.prepare_images(images, 48).mean(dim=(2, 3)), atol=1e-5)
    assert capsys.readouterr().err == ""  # no progress bar in grading mode


def test_extract_features_runs_without_gradients():
    model = hub.build_stand_in("dinov2", image_size=28, patch_size=14)
    images, labels = data.synthetic_cifar(4, seed=1)
    feats, _ = hub.extract_features(lambda x: model(pixel_values=x).pooler_output,
                                    data.ImageTensorDataset(images, labels), torch.device("cpu"), image_size=28)
    assert feats.shape == (4, model.config.hidden_size) and not feats.requires_grad
