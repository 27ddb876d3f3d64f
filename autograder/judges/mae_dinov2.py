"""The instructor's references for Notebook 3 (MAE and DINOv2), and the judgement that needs them.

The references are the solutions of the exercises. The re-check rebuilds the tiny
stand-in models from the probe's seeds (the same weights the student's code ran on), computes
the reference answers here, in the grader, and names the mistake when an answer matches a
known wrong variant (an inverted or transposed mask, the first layer's attention...).
Exercise 3.4 needs no reference: its public properties determine the answer.
"""

from __future__ import annotations

import contextlib

import torch
from torch.nn import functional as F

from selfsup import hub
from selfsup.checks import mae_dinov2 as spec
from selfsup.checks._core import expect


# ============================================================================ references
@contextlib.contextmanager
def masking(model, ratio: float):
    """Run ``model`` (a ViTMAE) at mask ratio ``ratio``, without gradients; restore its ratio after."""
    before = model.config.mask_ratio
    model.config.mask_ratio = ratio
    try:
        with torch.no_grad():
            yield
    finally:
        model.config.mask_ratio = before


def reference_mae_reconstruct(model, images: torch.Tensor, mask_ratio: float,
                              noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """MAE's prediction of every patch in pixel units, and the ``[B, 1, H, W]`` mask (1 = hidden)."""
    b, _, h, w = images.shape
    p = model.config.patch_size
    with masking(model, mask_ratio):
        out = model(pixel_values=images, noise=noise)
    reconstruction = hub.to_pixels(model.unpatchify(out.logits, (h, w)))
    mask = out.mask.reshape(b, 1, h // p, w // p).repeat_interleave(p, 2).repeat_interleave(p, 3)
    return reconstruction, mask


def reference_mae_features(model, images: torch.Tensor, pool: bool = True) -> torch.Tensor:
    """Encoder output at mask ratio 0, patch tokens in raster order (unshuffled), mean-pooled or not."""
    with masking(model, 0.0):
        out = model.vit(pixel_values=images)
    tokens = out.last_hidden_state[:, 1:]
    tokens = torch.gather(tokens, 1, out.ids_restore.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
    return tokens.mean(1) if pool else tokens


def reference_cls_attention_maps(model, images: torch.Tensor, layer: int = -1) -> torch.Tensor:
    """Attention of the CLS query to every patch key in ``layer``, per head: ``[B, heads, rows, cols]``."""
    with torch.no_grad():
        attn = model(pixel_values=images, output_attentions=True).attentions[layer]
    p = model.config.patch_size
    b, heads = attn.shape[:2]
    return attn[:, :, 0, 1:].reshape(b, heads, images.shape[-2] // p, images.shape[-1] // p)


def reference_pca_rgb(patch_features: torch.Tensor, second_pca: bool = True,
                      scale_over: str = "foreground") -> tuple[torch.Tensor, torch.Tensor]:
    """DINOv2's two PCAs: the first component of all tokens finds the foreground, three components of
    a second PCA on the foreground tokens colour it.

    The keyword arguments build the wrong variants that the judge recognises: ``second_pca=False``
    colours with components 2-4 of the first PCA, ``scale_over="all"`` min-max scales over every patch.
    """
    n, rows, cols, d = patch_features.shape
    x = patch_features.reshape(-1, d).double()
    x = x - x.mean(0)
    _, _, vh = torch.linalg.svd(x, full_matrices=False)
    first = x @ vh[0]
    edge = spec.border(rows, cols).expand(n, -1, -1).reshape(-1)
    if first[edge].mean() > first[~edge].mean():
        first = -first
    fg = first > 0
    rgb = torch.zeros(len(x), 3, dtype=torch.float64)
    if fg.any():
        if second_pca:  # every token projected on the foreground's directions (only the foreground is kept)
            mean = x[fg].mean(0)
            colours = (x - mean) @ torch.linalg.svd(x[fg] - mean, full_matrices=False)[2][:3].T
        else:
            colours = x @ vh[1:4].T
        ref = colours[fg] if scale_over == "foreground" else colours
        lo, hi = ref.amin(0), ref.amax(0)
        rgb[fg] = ((colours[fg] - lo) / (hi - lo).clamp_min(1e-12)).clamp(0, 1)
    return rgb.float().reshape(n, rows, cols, 3), fg.reshape(n, rows, cols)


def reference_knn_predict(train_feats: torch.Tensor, train_labels: torch.Tensor, test_feats: torch.Tensor,
                          k: int = 20, temperature: float = 0.07, chunk_size: int = 1024) -> torch.Tensor:
    """Weighted k-NN: cosine similarity, top-k neighbours, votes weighted by exp(sim / temperature)."""
    train = F.normalize(train_feats.float(), dim=1)
    test = F.normalize(test_feats.float(), dim=1)
    labels = train_labels.to(train.device).long()
    num_classes = int(labels.max()) + 1
    k = min(k, len(train))
    out = []
    for start in range(0, len(test), chunk_size):
        sim = test[start:start + chunk_size] @ train.T
        top_sim, top_index = sim.topk(k, dim=1)
        votes = torch.zeros(len(sim), num_classes, device=sim.device)
        votes.scatter_add_(1, labels[top_index], (top_sim / temperature).exp())
        out.append(votes.argmax(1))
    return torch.cat(out).to(test_feats.device)


# ============================================================================ judges
def _clamped_close(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-4) -> bool:
    """Equal after clamping to [0, 1] (the exercise allows a clamped reconstruction)."""
    return torch.allclose(a.clamp(0, 1), b.clamp(0, 1), atol=atol)


def reconstruct_judge(out: dict, inp: dict) -> None:
    """The reconstruction against the decoder's output for the very patches the student's mask hides."""
    name = "mae_reconstruct"
    g = torch.Generator().manual_seed(inp["noise_seed"])
    for i, ((size, patch, ratio, model_seed), images) in enumerate(zip(inp["cases"], inp["images"], strict=True)):
        recon, patches = out[f"recon_{i}"], spec.patch_mask(out[f"mask_{i}"], patch)
        model = spec.mae_stand_in(size, patch, seed=model_seed)

        def expected(hidden: torch.Tensor) -> torch.Tensor:
            noise = hidden + 0.5 * torch.rand(hidden.shape, generator=g)  # the hidden patches sort last
            return reference_mae_reconstruct(model, images, ratio, noise=noise)[0]

        if _clamped_close(recon, expected(patches)):
            continue
        expect(abs(ratio - 0.5) > 1e-6 or not _clamped_close(recon, expected(1 - patches)), name,
               "the reconstruction matches the patches your mask shows, not those it hides: the mask is inverted. It "
               "should be 1 where a patch was hidden (out.mask is 1 there).")
        grid = patches.reshape(-1, size // patch, size // patch)
        expect(not _clamped_close(recon, expected(grid.transpose(1, 2).reshape(len(images), -1))), name,
               "your mask is transposed: out.mask lists the patches row by row (raster order).")
        expect(False, name, f"on {size}x{size} images the reconstruction does not match the decoder's prediction for "
                            "the patches your mask hides (tolerance 1e-4). Turn out.logits [B, L, p*p*3] into an image "
                            "with model.unpatchify(out.logits, (H, W)) and undo the normalisation with hub.to_pixels; "
                            "a plain reshape puts the pixels in the wrong places.")


def _same_rows_any_order(a: torch.Tensor, b: torch.Tensor) -> bool:
    """True if the token rows of ``a`` are those of ``b`` in another order (per image)."""
    key = torch.randn(a.shape[-1], generator=torch.Generator().manual_seed(0))
    return torch.allclose((a @ key).sort(-1).values, (b @ key).sort(-1).values, atol=1e-3)


def features_judge(out: dict, inp: dict) -> None:
    """The patch tokens and the pooled features against the encoder's unshuffled output."""
    name = "mae_features"
    model = spec.mae_stand_in(inp["size"], spec.MAE_PATCH, seed=inp["model_seed"])
    images = inp["images"]
    ref = reference_mae_features(model, images, pool=False)
    tokens, pooled = out["tokens"], out["pooled"]
    if not torch.allclose(tokens, ref, atol=1e-4):
        expect(not _same_rows_any_order(tokens, ref), name,
               "your patch tokens are the right ones in the wrong order: ViTMAE shuffles them even at mask ratio 0. Put "
               "them back in raster order with out.ids_restore (torch.gather), or pass noise=torch.arange(L).")
        noise = torch.arange(ref.shape[1]).float().expand(len(images), -1)  # no shuffle
        with masking(model, 0.0):
            hidden = model.vit(pixel_values=images, noise=noise, output_hidden_states=True).hidden_states[-1][:, 1:]
        expect(not torch.allclose(tokens, hidden, atol=1e-4), name,
               "these are the encoder's tokens before its final LayerNorm (hidden_states[-1]); use "
               "model.vit(...).last_hidden_state.")
        expect(False, name, "the patch tokens (pool=False) do not match the encoder's last_hidden_state at mask ratio 0 "
                            "without the CLS token, in raster order (tolerance 1e-4).")
    if torch.allclose(pooled, ref.mean(1), atol=1e-4):
        return
    with masking(model, 0.0):
        everything = model.vit(pixel_values=images).last_hidden_state
    expect(not torch.allclose(pooled, everything[:, 0], atol=1e-4), name,
           "this is the CLS token. No loss of MAE acts on its encoder output directly (the decoder receives it, and "
           "the reconstruction loss is computed on patches only), so it is not trained to summarise the image; "
           "mean-pool the patch tokens instead.")
    expect(not torch.allclose(pooled, everything.mean(1), atol=1e-4), name,
           "you averaged the CLS token with the patch tokens; average the patch tokens only (index 1:).")
    expect(False, name, "the pooled features are not the mean of the patch tokens (tolerance 1e-4).")


def attention_judge(out: dict, inp: dict) -> None:
    """The maps against the last layer's CLS -> patch attention of the same stand-ins."""
    name = "cls_attention_maps"
    for i, (model, images) in enumerate(spec.attention_models(inp)):
        maps = out[f"maps_{i}"]
        if torch.allclose(maps, reference_cls_attention_maps(model, images), atol=spec.ATOL):
            continue
        expect(not torch.allclose(maps, reference_cls_attention_maps(model, images, layer=0), atol=spec.ATOL), name,
               "these are the first layer's attentions; use the last layer's, out.attentions[-1].")
        with torch.no_grad():
            attn = model(pixel_values=images, output_attentions=True).attentions[-1]
        grid = maps.shape
        expect(not torch.allclose(maps, attn[:, :, 1:, 0].reshape(grid), atol=spec.ATOL), name,
               "you read column 0 (how much each patch attends to CLS). The CLS query is row 0: attn[:, :, 0, 1:].")
        expect(not torch.allclose(maps, attn[:, :, 0, :-1].reshape(grid), atol=spec.ATOL), name,
               "off by one: index 0 of the keys is the CLS token itself; the patches are keys 1: (attn[:, :, 0, 1:]).")
        expect(False, name, f"on {images.shape[-2]}x{images.shape[-1]} images the maps do not match the last layer's "
                            "CLS -> patch attention, attn[:, :, 0, 1:] reshaped to [B, heads, rows, cols] (tolerance 1e-5).")


def _rgb_close(rgb: torch.Tensor, ref: torch.Tensor, fg: torch.Tensor, atol: float = 2e-3) -> bool:
    """Equal on the foreground up to the arbitrary sign of each colour component (c <-> 1 - c)."""
    a, b = rgb[fg], ref[fg]
    return all(torch.allclose(a[:, c], b[:, c], atol=atol) or torch.allclose(a[:, c], 1 - b[:, c], atol=atol)
               for c in range(3))


def pca_judge(out: dict, inp: dict) -> None:
    """The colours against the reference's second PCA, up to the sign of each component."""
    name = "pca_rgb"
    for i, feats in enumerate(inp["cases"]):
        rgb, fg = out[f"rgb_{i}"], out[f"fg_{i}"]
        if _rgb_close(rgb, reference_pca_rgb(feats)[0], fg):
            continue
        expect(not _rgb_close(rgb, reference_pca_rgb(feats, second_pca=False)[0], fg), name,
               "your colours are components 2-4 of the first PCA, whose directions follow the background's variation "
               "too. Fit a second PCA on the foreground tokens only (centred again) and use its first three "
               "components.")
        expect(not _rgb_close(rgb, reference_pca_rgb(feats, scale_over="all")[0], fg), name,
               "you min-max scaled the colours over all patches; scale over the foreground patches only.")
        per_image = torch.cat([reference_pca_rgb(feats[k:k + 1])[0] for k in range(len(feats))])
        expect(not _rgb_close(rgb, per_image, fg), name,
               "you fitted (or scaled) each image on its own; fit each PCA over the patch tokens of all images so that "
               "a colour means the same thing in every image.")
        expect(False, name, "the colours do not match the first three components of a second PCA fitted on the "
                            "foreground tokens of all images (centred), each min-max scaled to [0, 1] over the "
                            "foreground (up to the sign of each component).")


def knn_judge(out: dict, inp: dict) -> None:
    """The predictions on many random points, in several chunks, against the reference k-NN."""
    name = "knn_predict"
    for key in ("clusters", "chunks"):
        if key not in inp["cases"]:
            continue
        train, labels, test, k, t, _ = inp["cases"][key]
        reference = reference_knn_predict(train, labels, test, k=k, temperature=t)
        agree = (out[key] == reference).float().mean().item()
        expect(agree == 1.0, name, f"on {len(test):,} test points your predictions agree with a weighted cosine k-NN "
                                   f"(k={k}, temperature={t}) on {agree:.1%} of them; all should agree. If you work in "
                                   "chunks, check that the last, partial chunk is included.")


REFERENCE_JUDGES = {"test_mae_reconstruct": reconstruct_judge, "test_mae_features": features_judge,
                    "test_cls_attention_maps": attention_judge, "test_pca_rgb": pca_judge,
                    "test_knn_predict": knn_judge}
