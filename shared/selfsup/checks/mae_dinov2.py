"""Public self-checks for Notebook 3 (pretrained MAE and DINOv2).

Each check takes your function, runs it on tiny random-weight stand-ins of the notebook's models
(:func:`selfsup.hub.build_stand_in`) or on small synthetic tensors, and tests what the exercise's
docstring promises: shapes, invariants and cases whose answer is known. A failure names the
likely mistake. The stand-ins' outputs mean nothing; only their shapes and behaviour matter.
"""

from __future__ import annotations

import torch

from .. import hub
from ._core import CheckFailed, calling, expect, expect_tensor, passed

#: Hint added when a call into the model fails inside an attention exercise.
ATTENTION_HINT = ("If out.attentions was None or an empty tuple: pass output_attentions=True, and use a model "
                  "loaded with attn_implementation='eager' (hub.load_model does); under transformers' default "
                  "'sdpa' attention the attentions come back empty.")


def call(exercise: str, what: str, fn, *args, hint: str = "", **kwargs):
    """``fn(*args, **kwargs)`` inside :func:`calling`; ``hint`` is appended to any failure."""
    try:
        with calling(exercise, what):
            return fn(*args, **kwargs)
    except CheckFailed as failure:
        if hint:
            raise CheckFailed(f"{failure} {hint}") from None
        raise


def toy_images(n: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """Random images ``[n, 3, height, width]`` in ImageNet-normalised units (about N(0, 1))."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, height, width, generator=g)


# ----------------------------------------------------------------------------- MAE
#: Stand-in geometry for the MAE checks: 32x32 images, 8x8 patches, so 16 patches.
MAE_SIZE, MAE_PATCH = 32, 8


def mae_stand_in(image_size: int = MAE_SIZE, patch_size: int = MAE_PATCH, seed: int = 0):
    """A tiny random ViTMAEForPreTraining (config.mask_ratio 0.75, as the real one)."""
    return hub.build_stand_in("mae", image_size=image_size, patch_size=patch_size, seed=seed)


def masked_fraction(num_patches: int, ratio: float) -> float:
    """The fraction ViTMAE hides: it keeps ``int(L * (1 - ratio))`` of the ``L`` patches."""
    return 1.0 - int(num_patches * (1.0 - ratio)) / num_patches


def patch_mask(mask: torch.Tensor, patch: int) -> torch.Tensor | None:
    """``[B, 1, H, W]`` pixel mask -> ``[B, L]`` patch mask (raster order), or None if a patch is not constant."""
    b, _, h, w = mask.shape
    blocks = mask.float().reshape(b, h // patch, patch, w // patch, patch)
    first = blocks[:, :, :1, :, :1]
    if not torch.equal(blocks, first.expand_as(blocks)):
        return None
    return first.reshape(b, -1)


def read_reconstruction(fn, model, images: torch.Tensor, ratio: float, exercise: str = "mae_reconstruct"):
    """Call ``mae_reconstruct`` and check its types, shapes, the mask's layout and the config."""
    before = model.config.mask_ratio
    out = call(exercise, f"mae_reconstruct(model, images, mask_ratio={ratio})", fn, model, images, ratio)
    expect(isinstance(out, tuple) and len(out) == 2, exercise,
           f"should return a tuple (reconstruction, mask), got {type(out).__name__}.")
    recon, mask = out
    b, _, h, w = images.shape
    recon = expect_tensor(recon, exercise, "reconstruction", (b, 3, h, w)).detach()
    expect(isinstance(mask, torch.Tensor), exercise, f"mask should be a tensor, got {type(mask).__name__}.")
    expect(tuple(mask.shape) == (b, 1, h, w), exercise,
           f"mask should have shape {(b, 1, h, w)} (one value per pixel, 1 where the patch was hidden), got "
           f"{tuple(mask.shape)}. out.mask is [B, num_patches]: reshape it to the patch grid and repeat each value "
           "over its patch_size x patch_size pixels.")
    mask = mask.detach().float()
    expect(bool(((mask == 0) | (mask == 1)).all()), exercise, "mask should contain only 0 and 1.")
    expect(model.config.mask_ratio == before, exercise,
           f"model.config.mask_ratio is {model.config.mask_ratio} after your call, it was {before}: restore it "
           "(try/finally), or every later use of the model masks at your ratio.")
    return recon, mask


def check_mae_reconstruct(mae_reconstruct) -> None:
    """Public check of Exercise 3.1: ``(reconstruction, mask)`` in image space."""
    ex = "mae_reconstruct"
    model = mae_stand_in()
    images = toy_images(3, MAE_SIZE, MAE_SIZE)
    num_patches = (MAE_SIZE // MAE_PATCH) ** 2
    for ratio in (0.75, 0.25):  # 0.75 first: there an inverted mask cannot pass for an ignored ratio
        recon, mask = read_reconstruction(mae_reconstruct, model, images, ratio)
        patches = patch_mask(mask, MAE_PATCH)
        expect(patches is not None, ex, f"the mask is not constant over each {MAE_PATCH}x{MAE_PATCH} patch; repeat "
                                        "each patch's value over its pixels (repeat_interleave along H and W).")
        want = masked_fraction(num_patches, ratio)
        got = patches.mean(1)
        message = (f"at mask_ratio={ratio} ViTMAE hides {want:.0%} of the patches, but your mask hides "
                   f"{[round(v, 2) for v in got.tolist()]}.")
        default = masked_fraction(num_patches, model.config.mask_ratio)
        expect(not torch.allclose(got, torch.full_like(got, default)) or ratio == model.config.mask_ratio, ex,
               f"{message} The ratio comes from model.config.mask_ratio (0.75 unless you set it), not from an "
               "argument of the forward pass.")
        expect(not torch.allclose(got, torch.full_like(got, 1 - want)) or abs(want - 0.5) < 1e-6, ex,
               f"{message} Your mask is inverted: it should be 1 where a patch was hidden from the encoder "
               "(out.mask is 1 there).")
        expect(torch.allclose(got, torch.full_like(got, want)), ex, message)
        channel_means = recon.mean(dim=(0, 2, 3))
        expect(bool(((channel_means - torch.tensor(hub.IMAGENET_MEAN)).abs() < 0.15).all()), ex,
               f"the stand-in predicts values near 0 in normalised units, i.e. near the ImageNet mean in pixels, but "
               f"your reconstruction's channel means are {[round(v, 3) for v in channel_means.tolist()]}. Undo the "
               "ImageNet normalisation (hub.to_pixels) after model.unpatchify.")
        visible = (1 - mask).expand_as(recon).bool()
        pixels = hub.to_pixels(images)
        expect(not torch.allclose(recon[visible], pixels[visible], atol=1e-3), ex,
               "on the visible patches your reconstruction equals the input: return the decoder's prediction for "
               "every patch (the notebook pastes the visible patches itself).")
    passed(ex)


def check_mae_features(mae_features) -> None:
    """Public check of Exercise 3.2: deterministic mean-pooled patch features at mask ratio 0."""
    ex = "mae_features"
    model = mae_stand_in()
    images = toy_images(3, MAE_SIZE, MAE_SIZE, seed=1)
    width = model.config.hidden_size
    num_patches = (MAE_SIZE // MAE_PATCH) ** 2
    h1 = expect_tensor(call(ex, "mae_features(model, images)", mae_features, model, images),
                       ex, "features", (3, width)).detach()
    expect(model.config.mask_ratio == 0.75, ex,
           f"model.config.mask_ratio is {model.config.mask_ratio} after your call, it was 0.75: restore it "
           "(try/finally), or mae_reconstruct and later code see a different model.")
    h2 = call(ex, "mae_features(model, images) (second call)", mae_features, model, images).detach()
    expect(torch.allclose(h1, h2, atol=1e-5), ex,
           "two calls on the same images gave different features. ViTMAE hides config.mask_ratio (0.75) of the "
           "patches at random even in eval mode: set it to 0 for features.")
    tokens = expect_tensor(call(ex, "mae_features(model, images, pool=False)", mae_features, model, images,
                                pool=False), ex, "features with pool=False", (3, num_patches, width)).detach()
    expect(torch.allclose(tokens.mean(1), h1, atol=1e-5), ex,
           "the pooled features are not the mean of the patch tokens that pool=False returns. Leave the CLS token "
           "out: MAE's objective never trains it.")
    alone = call(ex, "mae_features(model, images[:1])", mae_features, model, images[:1]).detach()
    expect(torch.allclose(alone, h1[:1], atol=1e-5), ex,
           "an image's features change when other images are in the batch; pool over tokens (dim 1), not images.")
    passed(ex)


# ----------------------------------------------------------------------------- attention
def dinov2_stand_in(seed: int = 0):
    """A tiny random Dinov2Model with 4x4 patches (it interpolates positions for any image size)."""
    return hub.build_stand_in("dinov2", image_size=16, patch_size=4, seed=seed)


def vit_stand_in(seed: int = 0):
    """A tiny random ViTModel (the supervised model's class) for 32x32 images, 8x8 patches."""
    return hub.build_stand_in("supervised", image_size=32, patch_size=8, seed=seed)


def read_attention(fn, model, images: torch.Tensor, exercise: str = "cls_attention_maps") -> torch.Tensor:
    """Call ``cls_attention_maps`` and check its shape, and that the model still returns attentions."""
    maps = call(exercise, "cls_attention_maps(model, images)", fn, model, images, hint=ATTENTION_HINT)
    expect(model.config._attn_implementation == "eager", exercise,
           f"after your call the model uses {model.config._attn_implementation!r} attention; leave it 'eager', "
           "the only implementation that returns attention weights.")
    b, _, height, width = images.shape
    p = model.config.patch_size
    heads = model.config.num_attention_heads
    h, w = height // p, width // p
    expect(isinstance(maps, torch.Tensor), exercise, f"should return a tensor, got {type(maps).__name__}.")
    if tuple(maps.shape) == (b, heads, w, h) and h != w:
        expect(False, exercise, f"for {height}x{width} images the maps should be [B, heads, {h}, {w}] "
                                f"(h = H // patch_size rows, w = W // patch_size columns), got {tuple(maps.shape)}.")
    expect(tuple(maps.shape) == (b, heads, h, w), exercise,
           f"should return [B, heads, h, w] = {(b, heads, h, w)}, one map per head (do not average them), "
           f"got {tuple(maps.shape)}.")
    return expect_tensor(maps, exercise, "the maps").detach().float()


def check_cls_attention_maps(cls_attention_maps) -> None:
    """Public check of Exercise 3.3: the last layer's CLS -> patch attention, one map per head."""
    ex = "cls_attention_maps"
    for model, images in ((dinov2_stand_in(), toy_images(2, 16, 24, seed=2)),
                          (vit_stand_in(), toy_images(2, 32, 32, seed=3))):
        maps = read_attention(cls_attention_maps, model, images)
        expect(bool((maps >= 0).all()), ex, "attention weights are probabilities, but some values are negative.")
        sums = maps.sum(dim=(-2, -1))
        expect(bool((sums < 1).all() and (sums > 0).all()), ex,
               f"each map should hold the CLS query's attention to the patches: softmax over CLS + patches, so "
               f"the patch part sums to less than 1; your maps sum to "
               f"{sums.min().item():.3f}..{sums.max().item():.3f}. "
               "Read row 0 (the CLS query) without column 0 (the CLS key): attn[:, :, 0, 1:].")
    passed(ex)


def kept_mass(attn: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Share of each map's attention mass that ``mask`` keeps: ``[...]``."""
    flat, keep = attn.flatten(-2).double(), mask.flatten(-2)
    return (flat * keep).sum(-1) / flat.sum(-1)


def check_mask_properties(attn: torch.Tensor, mask, keep: float, exercise: str = "foreground_mask") -> torch.Tensor:
    """The kept set holds >= keep of each map's mass, is made of its largest values, and is minimal."""
    expect(isinstance(mask, torch.Tensor) and mask.dtype == torch.bool, exercise,
           f"should return a bool tensor, got {getattr(mask, 'dtype', type(mask).__name__)}.")
    expect(mask.shape == attn.shape, exercise, f"the mask should have the shape of attn, {tuple(attn.shape)}, "
                                               f"got {tuple(mask.shape)}.")
    flat, kept = attn.flatten(-2).double(), mask.flatten(-2)
    mass = kept_mass(attn, mask)
    expect(bool((mass >= keep - 1e-9).all()), exercise,
           f"with keep={keep} some maps keep only {mass.min().item():.3f} of their attention mass. Keep the smallest "
           "set of patches whose attention (normalised per map) adds up to at least keep, the patch that crosses "
           "the threshold included; do not threshold the raw attention values.")
    lowest_kept = torch.where(kept, flat, torch.full_like(flat, float("inf"))).amin(-1)
    highest_dropped = torch.where(kept, torch.full_like(flat, float("-inf")), flat).amax(-1)
    expect(bool((lowest_kept >= highest_dropped).all()), exercise,
           "a dropped patch has more attention than a kept one: sort each map's values in descending order and "
           "keep the top of the ranking.")
    share = lowest_kept / flat.sum(-1)
    expect(bool((mass - share < keep).all()), exercise,
           f"with keep={keep} some maps keep more patches than needed: without their weakest kept patch they would "
           "still hold at least keep of the mass. Normalise each map by its own sum (not the batch's) and stop at "
           "the first patch where the cumulative mass reaches keep.")
    return mask


def check_foreground_mask(foreground_mask) -> None:
    """Public check of Exercise 3.4: the smallest set of patches holding ``keep`` of the mass."""
    ex = "foreground_mask"
    g = torch.Generator().manual_seed(4)
    attn = torch.rand(2, 3, 5, 7, generator=g).pow(3) * 0.05
    original = attn.clone()
    for keep in (0.6, 0.3):
        mask = call(ex, f"foreground_mask(attn, keep={keep})", foreground_mask, attn, keep=keep)
        expect(torch.equal(attn, original), ex, "foreground_mask modified attn in place; work on a copy.")
        check_mask_properties(attn, mask, keep)
    default = call(ex, "foreground_mask(attn)", foreground_mask, attn)
    explicit = call(ex, "foreground_mask(attn, keep=0.6)", foreground_mask, attn, keep=0.6)
    expect(torch.equal(default, explicit), ex, "the default keep should be 0.6.")
    passed(ex)


# ----------------------------------------------------------------------------- PCA
def planted_features(seed: int = 0, n: int = 3, h: int = 6, w: int = 6, dim: int = 16, offset: float = 20.0,
                     part_scales: tuple[float, ...] | None = None, block: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Patch features with a known answer: a ``block`` x ``block`` foreground per image, 3 parts inside it.

    Foreground and background differ along axis 0 (the largest variance), the parts of the
    foreground along axes 1-3 (smaller), every token carries a large common ``offset`` along
    axis 4 (which centring removes), and a little noise. ``part_scales[i]`` multiplies the part
    signal of image ``i`` (so images differ in contrast).

    Returns:
        ``(features [n, h, w, dim], foreground [n, h, w] bool)``.
    """
    g = torch.Generator().manual_seed(seed)
    feats = 0.05 * torch.randn(n, h, w, dim, generator=g)
    feats[..., 4] += offset
    foreground = torch.zeros(n, h, w, dtype=torch.bool)
    size = block * block
    for i in range(n):
        top = int(torch.randint(0, h - block + 1, (1,), generator=g))
        left = int(torch.randint(0, w - block + 1, (1,), generator=g))
        foreground[i, top:top + block, left:left + block] = True
        rows = torch.arange(block).repeat_interleave(block) + top
        cols = torch.arange(block).repeat(block) + left
        parts = torch.randperm(size, generator=g) % 3
        for r, c, part in zip(rows.tolist(), cols.tolist(), parts.tolist()):
            feats[i, r, c, 1 + part] += (4.0, 3.0, 2.0)[part] * (part_scales[i] if part_scales else 1.0)
    feats[..., 0] += 10.0 * foreground.float()
    return feats, foreground


def read_pca(fn, feats: torch.Tensor, exercise: str = "pca_rgb") -> tuple[torch.Tensor, torch.Tensor]:
    """Call ``pca_rgb`` and check types, shapes, ranges and the background."""
    n, h, w, _ = feats.shape
    out = call(exercise, "pca_rgb(patch_features)", fn, feats,
               hint="(If no patch came out as foreground: did you centre the tokens? Without centring, the first "
                    "component points at their mean and every token falls on the same side.)")
    expect(isinstance(out, tuple) and len(out) == 2, exercise,
           f"should return a tuple (rgb, foreground), got {type(out).__name__}.")
    rgb, fg = out
    rgb = expect_tensor(rgb, exercise, "rgb", (n, h, w, 3)).detach().float()
    expect(isinstance(fg, torch.Tensor) and fg.dtype == torch.bool and tuple(fg.shape) == (n, h, w), exercise,
           f"foreground should be a bool tensor of shape {(n, h, w)}, got "
           f"{getattr(fg, 'dtype', type(fg).__name__)} {tuple(getattr(fg, 'shape', ()))}.")
    expect(bool(((rgb >= -1e-6) & (rgb <= 1 + 1e-6)).all()), exercise, "rgb values should lie in [0, 1].")
    expect(bool((rgb[~fg] == 0).all()), exercise, "background patches should be black (0).")
    expect(fg.float().mean().item() <= 0.5, exercise,
           f"{fg.float().mean().item():.0%} of the patches are foreground. The sign of a principal component is "
           "arbitrary: flip the first one so that its positive side holds at most half of the patches.")
    return rgb, fg


def check_pca_rgb(pca_rgb) -> None:
    """Public check of Exercise 3.5: PCA foreground and RGB on features with a planted answer."""
    ex = "pca_rgb"
    feats, foreground = planted_features()
    original = feats.clone()
    rgb, fg = read_pca(pca_rgb, feats)
    expect(torch.equal(feats, original), ex, "pca_rgb modified its input in place; work on a copy.")
    expect(torch.equal(fg, foreground), ex,
           "the foreground does not match the planted one: the first principal component (after centring the "
           "tokens: subtract their mean) separates it from the background.")
    lo, hi = rgb[fg].amin(0), rgb[fg].amax(0)
    expect(torch.allclose(lo, torch.zeros(3), atol=1e-5) and torch.allclose(hi, torch.ones(3), atol=1e-5), ex,
           "each RGB channel should be min-max scaled to [0, 1] over the foreground patches of all images.")
    passed(ex)


# ----------------------------------------------------------------------------- k-NN
def clusters(seed: int = 0, classes: int = 4, per_class: int = 12, dim: int = 8, spread: float = 3.0,
             noise: float = 0.3, centre_seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian clusters around one common direction: ``(features [N, dim], labels [N])``.

    Every class centre is ``e_0 + spread * u_c`` for a random unit vector ``u_c``, so a large
    ``spread`` gives well-separated classes and a small one classes whose directions are close
    (there, the norm of a feature decides a dot-product ranking, not its direction). The
    centres depend on ``centre_seed`` only, the samples on ``seed``.
    """
    g = torch.Generator().manual_seed(centre_seed)
    centres = spread * torch.nn.functional.normalize(torch.randn(classes, dim, generator=g), dim=1)
    g = torch.Generator().manual_seed(seed)
    centres[:, 0] += 1.0
    labels = torch.arange(classes).repeat_interleave(per_class)
    feats = centres[labels] + noise * torch.randn(len(labels), dim, generator=g)
    return feats, labels


def rescaled(feats: torch.Tensor, seed: int, low: float = 0.05, high: float = 20.0) -> torch.Tensor:
    """Each row multiplied by its own random factor in ``[low, high]``: same directions, other norms."""
    g = torch.Generator().manual_seed(seed)
    return feats * (low + (high - low) * torch.rand(len(feats), 1, generator=g))


def read_predictions(fn, train, labels, test, exercise: str = "knn_predict", **kwargs) -> torch.Tensor:
    """Call ``knn_predict`` and check its type, shape and device."""
    pred = call(exercise, "knn_predict(train_feats, train_labels, test_feats)", fn, train, labels, test, **kwargs)
    expect(isinstance(pred, torch.Tensor), exercise, f"should return a tensor, got {type(pred).__name__}.")
    expect(pred.dtype == torch.int64 and tuple(pred.shape) == (len(test),), exercise,
           f"should return int64 labels of shape {(len(test),)}, got {pred.dtype} {tuple(pred.shape)}.")
    expect(pred.device == test.device, exercise, f"predictions should be on test_feats' device ({test.device}).")
    return pred


def check_knn_predict(knn_predict) -> None:
    """Public check of Exercise 3.6: weighted k-NN on cosine similarity."""
    ex = "knn_predict"
    train, labels = clusters()
    test, test_labels = clusters(seed=1)
    pred = read_predictions(knn_predict, train, labels, test, k=5)
    expect(torch.equal(pred, test_labels), ex, "on well-separated clusters some test points got the wrong class.")
    train, labels = clusters(seed=2, spread=0.4, noise=0.02)
    pred = read_predictions(knn_predict, rescaled(train, seed=3), labels, rescaled(train, seed=4), k=1)
    expect(torch.equal(pred, labels), ex,
           "with k=1, a rescaled copy of a training point should get that point's label: cosine similarity ignores "
           "the norms. L2-normalise both the training and the test features.")
    passed(ex)
