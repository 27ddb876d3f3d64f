"""Strict hidden checks for Notebook 3 (pretrained MAE and DINOv2), and the reference answers.

The references below are the instructor's implementations of the six exercises; they never
reach students. Each strict check first runs the public check of the same name, then compares
the student's function with the reference on more cases, and names the mistake when the
answer matches a known wrong variant.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from selfsup import hub
from selfsup.checks import mae_dinov2 as public
from selfsup.checks._core import expect


# ============================================================================ references
def reference_mae_reconstruct(model, images: torch.Tensor, mask_ratio: float,
                              noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """MAE's prediction of every patch in pixel units, and the ``[B, 1, H, W]`` mask (1 = hidden)."""
    b, _, h, w = images.shape
    p = model.config.patch_size
    before = model.config.mask_ratio
    model.config.mask_ratio = mask_ratio
    try:
        with torch.no_grad():
            out = model(pixel_values=images, noise=noise)
    finally:
        model.config.mask_ratio = before
    reconstruction = hub.to_pixels(model.unpatchify(out.logits, (h, w)))
    mask = out.mask.reshape(b, 1, h // p, w // p).repeat_interleave(p, 2).repeat_interleave(p, 3)
    return reconstruction, mask


def reference_mae_features(model, images: torch.Tensor, pool: bool = True) -> torch.Tensor:
    """Encoder output at mask ratio 0, patch tokens in raster order (unshuffled), mean-pooled or not."""
    before = model.config.mask_ratio
    model.config.mask_ratio = 0.0
    try:
        with torch.no_grad():
            out = model.vit(pixel_values=images)
    finally:
        model.config.mask_ratio = before
    tokens = out.last_hidden_state[:, 1:]
    tokens = torch.gather(tokens, 1, out.ids_restore.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
    return tokens.mean(1) if pool else tokens


def reference_cls_attention_maps(model, images: torch.Tensor, layer: int = -1) -> torch.Tensor:
    """Attention of the CLS query to every patch key in ``layer``, per head: ``[B, heads, h, w]``."""
    with torch.no_grad():
        attn = model(pixel_values=images, output_attentions=True).attentions[layer]
    p = model.config.patch_size
    b, heads = attn.shape[:2]
    return attn[:, :, 0, 1:].reshape(b, heads, images.shape[-2] // p, images.shape[-1] // p)


def reference_foreground_mask(attn: torch.Tensor, keep: float = 0.6) -> torch.Tensor:
    """The smallest set of patches of each map holding at least ``keep`` of its attention mass."""
    flat = attn.flatten(-2).double()
    flat = flat / flat.sum(-1, keepdim=True)
    values, order = flat.sort(-1, descending=True)
    mass_before = values.cumsum(-1) - values
    chosen = mass_before < keep
    return torch.zeros_like(chosen).scatter(-1, order, chosen).reshape(attn.shape)


def reference_pca_rgb(patch_features: torch.Tensor, centre: bool = True, rgb_components=(1, 2, 3),
                      scale_over: str = "foreground") -> tuple[torch.Tensor, torch.Tensor]:
    """One PCA over all patch tokens: component 1 -> foreground, components 2-4 -> RGB.

    The keyword arguments exist to build the wrong variants the check recognises.
    """
    n, h, w, d = patch_features.shape
    x = patch_features.reshape(-1, d).double()
    if centre:
        x = x - x.mean(0)
    _, _, vh = torch.linalg.svd(x, full_matrices=False)
    scores = x @ vh[:4].T
    first = scores[:, 0]
    if (first > 0).double().mean() > 0.5:
        first = -first
    fg = first > 0
    rgb = torch.zeros(len(x), 3, dtype=torch.float64)
    if fg.any():
        colours = scores[:, list(rgb_components)]
        ref = colours[fg] if scale_over == "foreground" else colours
        lo, hi = ref.amin(0), ref.amax(0)
        rgb[fg] = ((colours[fg] - lo) / (hi - lo).clamp_min(1e-12)).clamp(0, 1)
    return rgb.float().reshape(n, h, w, 3), fg.reshape(n, h, w)


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


# ============================================================================ strict checks
def _clamped_close(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-4) -> bool:
    return torch.allclose(a.clamp(0, 1), b.clamp(0, 1), atol=atol)


def check_mae_reconstruct(mae_reconstruct) -> None:
    ex = "mae_reconstruct"
    public.check_mae_reconstruct(mae_reconstruct)
    size, patch = 48, 8  # not the public check's 32: nothing may assume an image size
    model = public.mae_stand_in(size, patch, seed=1)
    images = public.toy_images(2, size, size, seed=5)
    num_patches = (size // patch) ** 2
    g = torch.Generator().manual_seed(6)
    for ratio in (0.5, 0.9):
        recon, mask = public.read_reconstruction(mae_reconstruct, model, images, ratio)
        patches = public.patch_mask(mask, patch)
        expect(patches is not None, ex, f"on {size}x{size} images the mask is not constant over each patch.")
        want = public.masked_fraction(num_patches, ratio)
        expect(torch.allclose(patches.mean(1), torch.full((len(images),), want)), ex,
               f"on {size}x{size} images at mask_ratio={ratio} the mask should hide {want:.0%} of the patches.")

        def expected(hidden):
            noise = hidden + 0.5 * torch.rand(hidden.shape, generator=g)  # hidden patches sort last
            return reference_mae_reconstruct(model, images, ratio, noise=noise)[0]

        if _clamped_close(recon, expected(patches)):
            continue
        if ratio == 0.5 and _clamped_close(recon, expected(1 - patches)):
            expect(False, ex, "the reconstruction matches the patches your mask shows, not those it hides: the mask "
                              "is inverted. It should be 1 where a patch was hidden (out.mask is 1 there).")
        grid = patches.reshape(-1, size // patch, size // patch)
        if _clamped_close(recon, expected(grid.transpose(1, 2).reshape(len(images), -1))):
            expect(False, ex, "your mask is transposed: out.mask lists the patches row by row (raster order).")
        with torch.no_grad():
            before = model.config.mask_ratio
            model.config.mask_ratio = ratio
            try:
                noise = patches + 0.5 * torch.rand(patches.shape, generator=g)
                logits = model(pixel_values=images, noise=noise).logits
            finally:
                model.config.mask_ratio = before
        if _clamped_close(recon, model.unpatchify(logits, (size, size))):
            expect(False, ex, "the reconstruction is still in ImageNet-normalised units; undo it with hub.to_pixels.")
        expect(False, ex, "the reconstruction does not match the decoder's prediction for the patches your mask "
                          "hides (tolerance 1e-4). Turn out.logits [B, L, p*p*3] into an image with "
                          "model.unpatchify(out.logits, (H, W)); a plain reshape puts the pixels in the wrong places.")


def _same_rows_any_order(a: torch.Tensor, b: torch.Tensor) -> bool:
    """True if the token rows of ``a`` are those of ``b`` in another order (per image)."""
    key = torch.randn(a.shape[-1], generator=torch.Generator().manual_seed(0))
    return torch.allclose((a @ key).sort(-1).values, (b @ key).sort(-1).values, atol=1e-3)


def check_mae_features(mae_features) -> None:
    ex = "mae_features"
    public.check_mae_features(mae_features)
    size, patch = 48, 8
    model = public.mae_stand_in(size, patch, seed=2)
    images = public.toy_images(2, size, size, seed=7)
    ref = reference_mae_features(model, images, pool=False)
    tokens = public.call(ex, "mae_features(model, images, pool=False)", mae_features, model, images, pool=False)
    tokens = public.expect_tensor(tokens, ex, "features with pool=False", tuple(ref.shape)).detach()
    if not torch.allclose(tokens, ref, atol=1e-4):
        expect(not _same_rows_any_order(tokens, ref), ex,
               "your patch tokens are the right ones in the wrong order: ViTMAE shuffles them even at mask ratio 0. "
               "Put them back in raster order with out.ids_restore (torch.gather), or pass noise=torch.arange(L).")
        with torch.no_grad():
            before = model.config.mask_ratio
            model.config.mask_ratio = 0.0
            try:
                noise = torch.arange(ref.shape[1]).float().expand(len(images), -1)  # no shuffle
                hidden = model.vit(pixel_values=images, noise=noise, output_hidden_states=True).hidden_states[-1][:, 1:]
            finally:
                model.config.mask_ratio = before
        expect(not torch.allclose(tokens, hidden, atol=1e-4), ex,
               "these are the encoder's tokens before its final LayerNorm (hidden_states[-1]); use "
               "model.vit(...).last_hidden_state.")
        expect(False, ex, "the patch tokens (pool=False) do not match the encoder's last_hidden_state at mask ratio "
                          "0 without the CLS token, in raster order (tolerance 1e-4).")
    pooled = public.expect_tensor(public.call(ex, "mae_features(model, images)", mae_features, model, images),
                                  ex, "features", (len(images), ref.shape[-1])).detach()
    diagnose_pooled(pooled, ref, model, images)


def diagnose_pooled(pooled: torch.Tensor, tokens: torch.Tensor, model, images: torch.Tensor) -> None:
    """Fail with the likely mistake unless ``pooled`` ``[B, D]`` is the mean of the reference
    patch ``tokens`` ``[B, N, D]`` (CLS token taken, or averaged in)."""
    ex = "mae_features"
    if torch.allclose(pooled, tokens.mean(1), atol=1e-4):
        return
    before = model.config.mask_ratio
    model.config.mask_ratio = 0.0
    try:
        with torch.no_grad():
            everything = model.vit(pixel_values=images).last_hidden_state
    finally:
        model.config.mask_ratio = before
    expect(not torch.allclose(pooled, everything[:, 0], atol=1e-4), ex,
           "this is the CLS token. MAE's loss never trains it; mean-pool the patch tokens instead.")
    expect(not torch.allclose(pooled, everything.mean(1), atol=1e-4), ex,
           "you averaged the CLS token with the patch tokens; average the patch tokens only (index 1:).")
    expect(False, ex, "the pooled features are not the mean of the patch tokens (tolerance 1e-4).")


def check_cls_attention_maps(cls_attention_maps) -> None:
    public.check_cls_attention_maps(cls_attention_maps)
    cases = ((public.dinov2_stand_in(seed=3), public.toy_images(2, 20, 12, seed=8)),
             (public.vit_stand_in(seed=4), public.toy_images(3, 32, 32, seed=9)))
    for model, images in cases:
        diagnose_attention_maps(public.read_attention(cls_attention_maps, model, images), model, images)


def diagnose_attention_maps(maps: torch.Tensor, model, images: torch.Tensor) -> None:
    """Fail with the likely mistake unless ``maps`` ``[B, heads, h, w]`` is the last layer's
    CLS -> patch attention of ``model`` on ``images`` (wrong layer, column, or key offset)."""
    ex = "cls_attention_maps"
    if torch.allclose(maps, reference_cls_attention_maps(model, images), atol=1e-5):
        return
    expect(not torch.allclose(maps, reference_cls_attention_maps(model, images, layer=0), atol=1e-5), ex,
           "these are the first layer's attentions; use the last layer's, out.attentions[-1].")
    with torch.no_grad():
        attn = model(pixel_values=images, output_attentions=True).attentions[-1]
    b, heads, h, w = maps.shape
    expect(not torch.allclose(maps, attn[:, :, 1:, 0].reshape(b, heads, h, w), atol=1e-5), ex,
           "you read column 0 (how much each patch attends to CLS). The CLS query is row 0: attn[:, :, 0, 1:].")
    expect(not torch.allclose(maps, attn[:, :, 0, :-1].reshape(b, heads, h, w), atol=1e-5), ex,
           "off by one: index 0 of the keys is the CLS token itself; the patches are keys 1: (attn[:, :, 0, 1:]).")
    expect(False, ex, f"on {images.shape[-2]}x{images.shape[-1]} images the maps do not match the last layer's "
                      "CLS -> patch attention, attn[:, :, 0, 1:] reshaped to [B, heads, h, w] (tolerance 1e-5).")


def check_foreground_mask(foreground_mask) -> None:
    ex = "foreground_mask"
    public.check_foreground_mask(foreground_mask)
    g = torch.Generator().manual_seed(10)
    scales = torch.tensor([1.0, 100.0, 0.01]).view(3, 1, 1, 1)  # maps whose totals differ by 10^4
    cases = [torch.rand(3, 2, 6, 4, generator=g).pow(4) * scales,
             torch.rand(6, 5, 5, generator=g).pow(2),  # [heads, h, w]: any leading dims
             torch.softmax(3 * torch.randn(2, 6, 8, 8, generator=g).flatten(-2), -1).reshape(2, 6, 8, 8)]
    for attn in cases:
        for keep in (0.1, 0.5, 0.9):
            mask = public.call(ex, f"foreground_mask(attn of shape {tuple(attn.shape)}, keep={keep})",
                               foreground_mask, attn, keep=keep)
            public.check_mask_properties(attn, mask, keep)
            expect(torch.equal(mask, reference_foreground_mask(attn, keep)), ex,
                   f"for attn of shape {tuple(attn.shape)} and keep={keep} the mask is not the smallest set of "
                   "top patches holding keep of each map's mass.")


def _rgb_close(rgb: torch.Tensor, ref: torch.Tensor, fg: torch.Tensor, atol: float = 2e-3) -> bool:
    """Equal on the foreground up to the arbitrary sign of each colour component (c <-> 1 - c)."""
    a, b = rgb[fg], ref[fg]
    return all(torch.allclose(a[:, c], b[:, c], atol=atol) or torch.allclose(a[:, c], 1 - b[:, c], atol=atol)
               for c in range(3))


def check_pca_rgb(pca_rgb) -> None:
    ex = "pca_rgb"
    public.check_pca_rgb(pca_rgb)
    g = torch.Generator().manual_seed(11)
    for seed in range(8):
        # A 4x4 foreground in a 6x6 grid is 44% of the patches: then the sign an SVD happens to
        # return for the first component no longer tells foreground from background.
        feats, _ = public.planted_features(seed=20 + seed, n=3, h=6, w=6, dim=12, part_scales=(1.0, 2.0, 0.5),
                                           block=3 + seed % 2)
        q, _ = torch.linalg.qr(torch.randn(12, 12, generator=g))  # PCA does not care about a rotation
        feats = feats @ q
        rgb, fg = public.read_pca(pca_rgb, feats)
        ref_rgb, ref_fg = reference_pca_rgb(feats)
        expect(torch.equal(fg, ref_fg), ex,
               "the foreground does not match: it is the side of the first principal component (of the centred "
               "tokens of all images) that holds at most half of the patches.")
        if _rgb_close(rgb, ref_rgb, fg):
            continue
        expect(not _rgb_close(rgb, reference_pca_rgb(feats, rgb_components=(0, 1, 2))[0], fg), ex,
               "your colours use the first principal component; it only separates foreground from background. "
               "Map components 2, 3 and 4 to R, G and B.")
        expect(not _rgb_close(rgb, reference_pca_rgb(feats, scale_over="all")[0], fg), ex,
               "you min-max scaled the colours over all patches; scale over the foreground patches only.")
        per_image = torch.stack([_per_image_rgb(feats[i:i + 1]) for i in range(len(feats))])
        expect(not _rgb_close(rgb, per_image, fg), ex,
               "you fitted (or scaled) each image on its own; fit one PCA over the patch tokens of all images so "
               "that a colour means the same thing in every image.")
        expect(False, ex, "the colours do not match components 2-4 of one PCA over all patch tokens, each min-max "
                          "scaled to [0, 1] over the foreground (up to the sign of each component).")


def _per_image_rgb(feats: torch.Tensor) -> torch.Tensor:
    return reference_pca_rgb(feats)[0][0]


def check_knn_predict(knn_predict) -> None:
    ex = "knn_predict"
    public.check_knn_predict(knn_predict)
    # Five neighbours of the query e_0: two of class 0 at cosine 0.95, three of class 1 at cosine 0.7.
    query = torch.tensor([[1.0, 0.0, 0.0]])

    def at(cos, sign):
        return [cos, sign * (1 - cos ** 2) ** 0.5, 0.0]

    train = torch.tensor([at(0.95, 1), at(0.95, -1), at(0.7, 1), at(0.7, -1), [0.7, 0.0, 0.714], [-1.0, 0.0, 0.0]])
    labels = torch.tensor([0, 0, 1, 1, 1, 2])
    weighted = public.read_predictions(knn_predict, train, labels, query, k=5, temperature=0.07)
    expect(weighted.item() == 0, ex,
           "two neighbours at cosine 0.95 (class 0) should outvote three at 0.7 (class 1) when each vote weighs "
           "exp(sim / temperature) with temperature 0.07. An unweighted majority, or weights equal to the "
           "similarities, give class 1.")
    warm = public.read_predictions(knn_predict, train, labels, query, k=5, temperature=1.0)
    expect(warm.item() == 1, ex,
           "with temperature=1.0 the weights exp(sim) are nearly equal and the three class-1 neighbours should "
           "win; your function ignores the temperature argument (divide the similarities by it).")
    # The query's nearest point is class 0 (cosine 0.99); the next four are class 1 (cosine 0.98).
    train = torch.tensor([at(0.99, 1)] + [at(0.98, 1), at(0.98, -1), [0.98, 0.0, 0.199], [0.98, 0.0, -0.199]])
    labels = torch.tensor([0, 1, 1, 1, 1])
    nearest = public.read_predictions(knn_predict, train, labels, query, k=1)
    expect(nearest.item() == 0, ex, "with k=1 the prediction should be the label of the most similar training point; "
                                    "is the k argument used?")
    five = public.read_predictions(knn_predict, train, labels, query, k=5)
    expect(five.item() == 1, ex, "with k=5, four neighbours at cosine 0.98 should outvote one at 0.99; "
                                 "is the k argument used?")
    g = torch.Generator().manual_seed(12)
    train = torch.randn(300, 16, generator=g) * torch.rand(300, 1, generator=g).mul(5).add(0.1)
    labels = torch.randint(0, 10, (300,), generator=g)
    test = torch.randn(2500, 16, generator=g)  # several chunks, the last one partial
    pred = public.read_predictions(knn_predict, train, labels, test, k=7, temperature=0.1)
    agree = (pred == reference_knn_predict(train, labels, test, k=7, temperature=0.1)).float().mean().item()
    expect(agree == 1.0, ex, f"on 2,500 random test points your predictions agree with a weighted cosine k-NN "
                             f"(k=7, temperature=0.1) on {agree:.1%} of them; all should agree. If you work in "
                             "chunks, check that the last, partial chunk is included.")
