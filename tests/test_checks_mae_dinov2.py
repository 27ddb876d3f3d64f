"""The Notebook 3 checks, tested both ways: correct implementations pass every pass (public check,
hidden test, re-check), known-wrong ones fail the re-check with the message that names the
mistake. Each wrong variant is a mistake a student could make (``tests/checking.py``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from checking import accepts, public_rejects, rejects
from selfsup import hub
from selfsup.checks import CheckFailed
from selfsup.checks import mae_dinov2 as public
from torch.nn import functional as F

from autograder.judges import mae_dinov2 as strict

#: The correct implementations of each exercise, by test id (``benchmarks/judge_sweep.py`` sweeps them too).
CORRECT: dict[str, list] = {}


def test_references_pass_their_own_checks():
    for name in ("mae_reconstruct", "mae_features", "cls_attention_maps", "pca_rgb", "knn_predict"):
        accepts(f"test_{name}", getattr(strict, f"reference_{name}"))


def test_not_implemented_is_reported_as_not_filled_in():
    def blank(*args, **kwargs):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="not filled in yet"):
        public.check_knn_predict(blank)


# =========================================================================== mae_reconstruct
def _run_mae(model, images, ratio, noise=None):
    before = model.config.mask_ratio
    model.config.mask_ratio = ratio
    try:
        with torch.no_grad():
            return model(pixel_values=images, noise=noise)
    finally:
        model.config.mask_ratio = before


def _pixel_mask(out, images, p):
    b, _, h, w = images.shape
    return out.mask.reshape(b, 1, h // p, w // p).repeat_interleave(p, 2).repeat_interleave(p, 3)


def _as_image(model, out, images):
    """The reference's way from model outputs to (reconstruction, mask)."""
    reconstruction = hub.to_pixels(model.unpatchify(out.logits, images.shape[-2:]))
    return reconstruction, _pixel_mask(out, images, model.config.patch_size)


def reconstruct_manual_unpatchify(model, images, mask_ratio):
    """Correct: own noise, unpatchify by hand, mask by nearest upsampling, not clamped."""
    b, c, h, w = images.shape
    p = model.config.patch_size
    noise = torch.rand(b, (h // p) * (w // p))
    out = _run_mae(model, images, mask_ratio, noise=noise)
    patches = out.logits.reshape(b, h // p, w // p, p, p, c)
    normalised = torch.einsum("nhwpqc->nchpwq", patches).reshape(b, c, h, w)
    mask = F.interpolate(out.mask.reshape(b, 1, h // p, w // p), scale_factor=p, mode="nearest")
    return hub.to_pixels(normalised), mask


def reconstruct_ignores_ratio(model, images, mask_ratio):
    out = _run_mae(model, images, model.config.mask_ratio)
    return _as_image(model, out, images)


def reconstruct_still_normalised(model, images, mask_ratio):
    out = _run_mae(model, images, mask_ratio)
    return model.unpatchify(out.logits, images.shape[-2:]), _pixel_mask(out, images, model.config.patch_size)


def reconstruct_inverted_mask(model, images, mask_ratio):
    recon, mask = strict.reference_mae_reconstruct(model, images, mask_ratio)
    return recon, 1 - mask


def reconstruct_leaves_ratio(model, images, mask_ratio):
    model.config.mask_ratio = mask_ratio
    with torch.no_grad():
        out = model(pixel_values=images)
    return _as_image(model, out, images)


def reconstruct_plain_reshape(model, images, mask_ratio):
    out = _run_mae(model, images, mask_ratio)
    b, _, h, w = images.shape
    return hub.to_pixels(out.logits.reshape(b, 3, h, w)), _pixel_mask(out, images, model.config.patch_size)


def reconstruct_pasted(model, images, mask_ratio):
    recon, mask = strict.reference_mae_reconstruct(model, images, mask_ratio)
    return hub.to_pixels(images) * (1 - mask) + recon * mask, mask


def reconstruct_transposed_mask(model, images, mask_ratio):
    recon, mask = strict.reference_mae_reconstruct(model, images, mask_ratio)
    return recon, mask.transpose(-2, -1)


CORRECT["test_mae_reconstruct"] = [strict.reference_mae_reconstruct, reconstruct_manual_unpatchify]


@pytest.mark.parametrize("fn", CORRECT["test_mae_reconstruct"], ids=lambda v: getattr(v, "__name__", type(v).__name__))
def test_mae_reconstruct_accepts(fn):
    accepts("test_mae_reconstruct", fn)


@pytest.mark.parametrize("fn, match", [
    (reconstruct_ignores_ratio, "comes from model.config.mask_ratio"),
    (reconstruct_still_normalised, "Undo the ImageNet normalisation"),
    (reconstruct_inverted_mask, "inverted"),
    (reconstruct_leaves_ratio, "restore it"),
    (reconstruct_plain_reshape, "unpatchify"),
    (reconstruct_pasted, "prediction for every patch"),
    (reconstruct_transposed_mask, "transposed"),
])
def test_mae_reconstruct_rejects(fn, match):
    rejects("test_mae_reconstruct", fn, match)


# =========================================================================== mae_features
def features_identity_noise(model, images, pool=True):
    """Correct: no shuffle at all, by passing noise that is already sorted."""
    b, _, h, w = images.shape
    p = model.config.patch_size
    noise = torch.arange((h // p) * (w // p), dtype=torch.float32).expand(b, -1)
    with torch.no_grad():
        tokens = _encode(model, images, 0.0, noise=noise).last_hidden_state[:, 1:]
    return tokens.mean(1) if pool else tokens


def _encode(model, images, ratio, **kwargs):
    before = model.config.mask_ratio
    model.config.mask_ratio = ratio
    try:
        with torch.no_grad():
            return model.vit(pixel_values=images, **kwargs)
    finally:
        model.config.mask_ratio = before


def features_scatter(model, images, pool=True):
    """Correct: write each shuffled token back to its patch position (ids_shuffle = argsort of ids_restore)."""
    out = _encode(model, images, 0.0)
    shuffled = out.last_hidden_state[:, 1:]
    tokens = torch.empty_like(shuffled)
    tokens[torch.arange(len(shuffled))[:, None], out.ids_restore.argsort(dim=1)] = shuffled
    return tokens.mean(1) if pool else tokens


def features_default_ratio(model, images, pool=True):
    out = _encode(model, images, model.config.mask_ratio)
    tokens = out.last_hidden_state[:, 1:]
    return tokens.mean(1) if pool else tokens


def features_shuffled(model, images, pool=True):
    tokens = _encode(model, images, 0.0).last_hidden_state[:, 1:]
    return tokens.mean(1) if pool else tokens


def features_cls(model, images, pool=True):
    out = _encode(model, images, 0.0)
    return out.last_hidden_state[:, 0] if pool else strict.reference_mae_features(model, images, pool=False)


def features_mean_with_cls(model, images, pool=True):
    if pool:
        return _encode(model, images, 0.0).last_hidden_state.mean(1)
    return strict.reference_mae_features(model, images, pool=False)


def features_before_layernorm(model, images, pool=True):
    b, _, h, w = images.shape
    noise = torch.arange((h // model.config.patch_size) * (w // model.config.patch_size)).float().expand(b, -1)
    tokens = _encode(model, images, 0.0, noise=noise, output_hidden_states=True).hidden_states[-1][:, 1:]
    return tokens.mean(1) if pool else tokens


def features_leave_ratio_zero(model, images, pool=True):
    out = strict.reference_mae_features(model, images, pool)
    model.config.mask_ratio = 0.0
    return out


CORRECT["test_mae_features"] = [strict.reference_mae_features, features_identity_noise, features_scatter]


@pytest.mark.parametrize("fn", CORRECT["test_mae_features"], ids=lambda v: getattr(v, "__name__", type(v).__name__))
def test_mae_features_accepts(fn):
    accepts("test_mae_features", fn)


@pytest.mark.parametrize("fn, match", [
    (features_default_ratio, "set it to 0"),
    (features_shuffled, "wrong order.*ids_restore"),
    (features_cls, "Leave the CLS token out"),
    (features_mean_with_cls, "Leave the CLS token out"),
    (features_before_layernorm, "before its final LayerNorm"),
    (features_leave_ratio_zero, "restore it"),
])
def test_mae_features_rejects(fn, match):
    rejects("test_mae_features", fn, match)


# =========================================================================== cls_attention_maps
def _grid(model, images):
    p = model.config.patch_size
    return images.shape[-2] // p, images.shape[-1] // p


def attention_stacked(model, images):
    """Correct: stack all layers, take the last, unflatten the patch axis."""
    with torch.no_grad():
        attn = torch.stack(model(pixel_values=images, output_attentions=True).attentions)[-1]
    return attn[:, :, 0, 1:].unflatten(-1, _grid(model, images))


def attention_under_sdpa(model, images):
    model.set_attn_implementation("sdpa")
    attn = model(pixel_values=images, output_attentions=True).attentions[-1]
    return attn[:, :, 0, 1:].unflatten(-1, _grid(model, images))


def attention_not_requested(model, images):
    attn = model(pixel_values=images).attentions[-1]
    return attn[:, :, 0, 1:].unflatten(-1, _grid(model, images))


def _last(model, images):
    with torch.no_grad():
        return model(pixel_values=images, output_attentions=True).attentions


def attention_column(model, images):
    return _last(model, images)[-1][:, :, 1:, 0].unflatten(-1, _grid(model, images))


def attention_first_layer(model, images):
    return _last(model, images)[0][:, :, 0, 1:].unflatten(-1, _grid(model, images))


def attention_off_by_one(model, images):
    return _last(model, images)[-1][:, :, 0, :-1].unflatten(-1, _grid(model, images))


def attention_head_mean(model, images):
    return _last(model, images)[-1][:, :, 0, 1:].mean(1).unflatten(-1, _grid(model, images))


def attention_transposed(model, images):
    h, w = _grid(model, images)
    return _last(model, images)[-1][:, :, 0, 1:].unflatten(-1, (w, h))


CORRECT["test_cls_attention_maps"] = [strict.reference_cls_attention_maps, attention_stacked]


@pytest.mark.parametrize("fn", CORRECT["test_cls_attention_maps"], ids=lambda v: getattr(v, "__name__", type(v).__name__))
def test_cls_attention_maps_accepts(fn):
    accepts("test_cls_attention_maps", fn)


@pytest.mark.parametrize("fn, match", [
    (attention_under_sdpa, "come back empty"),
    (attention_not_requested, "pass output_attentions=True"),
    (attention_column, "column 0"),
    (attention_first_layer, "first layer"),
    (attention_off_by_one, "off by one"),
    (attention_head_mean, "one map per head"),
    (attention_transposed, r"rows = H // patch_size"),
])
def test_cls_attention_maps_rejects(fn, match):
    rejects("test_cls_attention_maps", fn, match)


# =========================================================================== foreground_mask
def foreground_sorted(attn: torch.Tensor, keep: float = 0.6) -> torch.Tensor:
    """Correct (the notebook's solution): sort, cumulative mass before each patch below keep, scatter back."""
    flat = attn.flatten(-2).double()
    flat = flat / flat.sum(-1, keepdim=True)
    values, order = flat.sort(-1, descending=True)
    chosen = values.cumsum(-1) - values < keep
    return torch.zeros_like(chosen).scatter(-1, order, chosen).reshape(attn.shape)


def foreground_ascending(attn, keep=0.6):
    """Correct: DINO's formulation, ascending sort and cumulative mass above 1 - keep."""
    flat = attn.flatten(-2).double()
    values, order = torch.sort(flat / flat.sum(-1, keepdim=True), dim=-1)
    chosen = values.cumsum(-1) > 1 - keep
    return torch.zeros_like(chosen).scatter(-1, order, chosen).reshape(attn.shape)


def foreground_loop(attn, keep=0.6):
    """Correct: one map at a time, in plain Python."""
    out = torch.zeros(attn.shape, dtype=torch.bool)
    flat_out = out.view(-1, attn.shape[-2] * attn.shape[-1])
    for m, values in enumerate(attn.reshape(-1, attn.shape[-2] * attn.shape[-1]).tolist()):
        total, mass = sum(values), 0.0
        for i in sorted(range(len(values)), key=lambda j: -values[j]):
            if mass >= keep * total:
                break
            flat_out[m, i] = True
            mass += values[i]
    return out


def foreground_raw_threshold(attn, keep=0.6):
    return attn > keep


def foreground_excludes_crossing(attn, keep=0.6):
    flat = attn.flatten(-2)
    values, order = (flat / flat.sum(-1, keepdim=True)).sort(-1, descending=True)
    chosen = values.cumsum(-1) <= keep
    return torch.zeros_like(chosen).scatter(-1, order, chosen).reshape(attn.shape)


def foreground_ascending_wrong(attn, keep=0.6):
    flat = attn.flatten(-2)
    values, order = (flat / flat.sum(-1, keepdim=True)).sort(-1)
    chosen = values.cumsum(-1) - values < keep
    return torch.zeros_like(chosen).scatter(-1, order, chosen).reshape(attn.shape)


def foreground_global_normalisation(attn, keep=0.6):
    flat = attn.flatten(-2)
    values, order = (flat / flat.sum()).sort(-1, descending=True)
    chosen = values.cumsum(-1) - values < keep
    return torch.zeros_like(chosen).scatter(-1, order, chosen).reshape(attn.shape)


def foreground_fixed_keep(attn, keep=0.6):
    return foreground_sorted(attn, 0.6)


CORRECT["test_foreground_mask"] = [foreground_sorted, foreground_ascending, foreground_loop]


@pytest.mark.parametrize("fn", CORRECT["test_foreground_mask"], ids=lambda v: getattr(v, "__name__", type(v).__name__))
def test_foreground_mask_accepts(fn):
    accepts("test_foreground_mask", fn)


@pytest.mark.parametrize("fn, match", [
    (foreground_raw_threshold, "do not threshold the raw attention values"),
    (foreground_excludes_crossing, "the patch that crosses the threshold included"),
    (foreground_ascending_wrong, "sort each map's values in descending order"),
    (foreground_global_normalisation, "Normalise each map by its own sum"),
    (foreground_fixed_keep, "keep"),
])
def test_foreground_mask_rejects(fn, match):
    rejects("test_foreground_mask", fn, match)


def test_foreground_fixed_keep_fails_on_the_public_check_already():
    with pytest.raises(CheckFailed, match="keep=0.3"):
        public.check_foreground_mask(foreground_fixed_keep)


# =========================================================================== pca_rgb
def _two_stage(patch_features, scores_of, orient=True, always_flip=False):
    """Foreground from the first component (border scores lower), colours from ``scores_of(foreground tokens)``."""
    n, rows, cols, d = patch_features.shape
    x = patch_features.reshape(-1, d).double()
    first = scores_of(x, 1)[:, 0]
    if always_flip or (orient and _border_scores_higher(first, n, rows, cols)):
        first = -first
    fg = first > 0
    rgb = torch.zeros(len(x), 3, dtype=torch.float64)
    if fg.any():
        colours = scores_of(x[fg], 3)
        rgb[fg] = (colours - colours.amin(0)) / (colours.amax(0) - colours.amin(0))
    return rgb.float().reshape(n, rows, cols, 3), fg.reshape(n, rows, cols)


def _border_scores_higher(first, n, rows, cols):
    edge = public.border(rows, cols).expand(n, -1, -1).reshape(-1)
    return bool(first[edge].mean() > first[~edge].mean())


def _sklearn_scores(x, k):
    from sklearn.decomposition import PCA

    return torch.from_numpy(PCA(n_components=k).fit_transform(x.numpy()))


def _eigh_scores(x, k):
    x = x - x.mean(0)
    _, vectors = torch.linalg.eigh(x.T @ x)
    return x @ vectors.flip(-1)[:, :k]


def _svd_scores(x, k, centre=True):
    x = x - x.mean(0) if centre else x
    return x @ torch.linalg.svd(x, full_matrices=False)[2][:k].T


def pca_sklearn(patch_features):
    """Correct: scikit-learn's PCA (it centres) for both stages, in float64."""
    return _two_stage(patch_features, _sklearn_scores)


def pca_eigh(patch_features):
    """Correct: eigenvectors of the covariance matrix, largest first, for both stages."""
    return _two_stage(patch_features, _eigh_scores)


def pca_not_centred(patch_features):
    return _two_stage(patch_features, lambda x, k: _svd_scores(x, k, centre=False))


def pca_not_centred_guarded(patch_features):
    """Not centred either, but survives an empty foreground (and then has the wrong one)."""
    n, rows, cols, d = patch_features.shape
    x = patch_features.reshape(-1, d).float()
    first = _svd_scores(x, 1, centre=False)[:, 0]
    fg = first > first.median()
    rgb = torch.zeros(len(x), 3)
    colours = _svd_scores(x[fg], 3).float()
    rgb[fg] = (colours - colours.amin(0)) / (colours.amax(0) - colours.amin(0))
    return rgb.reshape(n, rows, cols, 3), fg.reshape(n, rows, cols)


def pca_one_pca(patch_features):
    """The simplified variant: components 2-4 of the first PCA instead of a second PCA on the foreground."""
    return strict.reference_pca_rgb(patch_features, second_pca=False)


def pca_scaled_over_all(patch_features):
    return strict.reference_pca_rgb(patch_features, scale_over="all")


def pca_per_image(patch_features):
    outs = [strict.reference_pca_rgb(patch_features[i:i + 1]) for i in range(len(patch_features))]
    return torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs])


def pca_no_sign_rule(patch_features):
    return _two_stage(patch_features, _svd_scores, orient=False)


def pca_always_flipped(patch_features):
    return _two_stage(patch_features, _svd_scores, always_flip=True)


def pca_smaller_side(patch_features):
    """Orients the first component so that the foreground is the smaller side: wrong when objects fill the frame."""
    n, rows, cols, d = patch_features.shape
    x = patch_features.reshape(-1, d).double()
    first = _svd_scores(x, 1)[:, 0]
    if (first > 0).double().mean() > 0.5:
        first = -first
    fg = first > 0
    rgb = torch.zeros(len(x), 3)
    colours = _svd_scores(x[fg], 3).float()
    rgb[fg] = (colours - colours.amin(0)) / (colours.amax(0) - colours.amin(0))
    return rgb.reshape(n, rows, cols, 3), fg.reshape(n, rows, cols)


def pca_background_coloured(patch_features):
    rgb, fg = strict.reference_pca_rgb(patch_features)
    rgb[~fg] = 0.5
    return rgb, fg


CORRECT["test_pca_rgb"] = [strict.reference_pca_rgb, pca_sklearn, pca_eigh]


@pytest.mark.parametrize("fn", CORRECT["test_pca_rgb"], ids=lambda v: getattr(v, "__name__", type(v).__name__))
def test_pca_rgb_accepts(fn):
    accepts("test_pca_rgb", fn)


@pytest.mark.parametrize("fn, match", [
    (pca_not_centred, "did you centre the tokens|centred tokens"),
    (pca_not_centred_guarded, "centred tokens"),
    (pca_one_pca, "second PCA on the foreground tokens only"),
    (pca_scaled_over_all, "over the foreground patches"),
    (pca_per_image, "over the patch tokens of all images"),
    (pca_no_sign_rule, "border of the grid"),
    (pca_always_flipped, "border of the grid"),
    (pca_smaller_side, "border of the grid"),
    (pca_background_coloured, "background patches should be black"),
])
def test_pca_rgb_rejects(fn, match):
    rejects("test_pca_rgb", fn, match)


def test_the_orientation_seeds_need_the_rule_both_ways():
    """torch's SVD, in float32 and float64, returns the first component of the ORIENTATION_SEEDS cases
    pointing both ways (if a torch release changes its sign convention, pick other seeds)."""
    for dtype in (torch.float32, torch.float64):
        flipped = []
        for seed in public.ORIENTATION_SEEDS:
            feats, _ = public.rotated_case(seed)
            n, rows, cols, d = feats.shape
            first = _svd_scores(feats.reshape(-1, d).to(dtype), 1)[:, 0]
            flipped.append(_border_scores_higher(first, n, rows, cols))
        assert flipped == [True, True, False, False], dtype


# =========================================================================== knn_predict
def knn_one_hot(train_feats, train_labels, test_feats, k=20, temperature=0.07, chunk_size=333):
    """Correct: one-hot votes by matrix product, a different chunk size, cosine via explicit norms."""
    train = train_feats / train_feats.norm(dim=1, keepdim=True)
    test = test_feats / test_feats.norm(dim=1, keepdim=True)
    one_hot = F.one_hot(train_labels.long(), int(train_labels.max()) + 1).float()
    out = []
    for block in test.split(chunk_size):
        sim = block @ train.T
        top, index = sim.topk(k, dim=1)
        weights = torch.zeros_like(sim).scatter(1, index, (top / temperature).exp())
        out.append((weights @ one_hot).argmax(1))
    return torch.cat(out)


def knn_numpy(train_feats, train_labels, test_feats, k=20, temperature=0.07):
    """Correct: plain numpy, no chunks (fine for small inputs)."""
    train = train_feats.numpy() / np.linalg.norm(train_feats.numpy(), axis=1, keepdims=True)
    test = test_feats.numpy() / np.linalg.norm(test_feats.numpy(), axis=1, keepdims=True)
    sim = test @ train.T
    index = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    votes = np.zeros((len(test), int(train_labels.max()) + 1))
    for row in range(len(test)):
        for j in index[row]:
            votes[row, int(train_labels[j])] += np.exp(sim[row, j] / temperature)
    return torch.from_numpy(votes.argmax(1)).long()


def _knn(train_feats, train_labels, test_feats, k, weight, normalise=True, chunk_size=1024, whole_chunks=False):
    if normalise:
        train_feats, test_feats = F.normalize(train_feats, dim=1), F.normalize(test_feats, dim=1)
    starts = range(0, len(test_feats), chunk_size)
    if whole_chunks:  # the bug: len // chunk_size blocks, so a partial last block is lost
        starts = range(0, max(1, len(test_feats) // chunk_size) * chunk_size, chunk_size)
    out = []
    for start in starts:
        sim = test_feats[start:start + chunk_size] @ train_feats.T
        top, index = sim.topk(k, dim=1)
        votes = torch.zeros(len(sim), int(train_labels.max()) + 1)
        out.append(votes.scatter_add_(1, train_labels[index], weight(top)).argmax(1))
    return torch.cat(out)


def knn_unnormalised(train_feats, train_labels, test_feats, k=20, temperature=0.07):
    return _knn(train_feats, train_labels, test_feats, k, lambda s: (s / temperature).exp(), normalise=False)


def knn_majority(train_feats, train_labels, test_feats, k=20, temperature=0.07):
    return _knn(train_feats, train_labels, test_feats, k, torch.ones_like)


def knn_similarity_weights(train_feats, train_labels, test_feats, k=20, temperature=0.07):
    return _knn(train_feats, train_labels, test_feats, k, lambda s: s)


def knn_temperature_multiplied(train_feats, train_labels, test_feats, k=20, temperature=0.07):
    return _knn(train_feats, train_labels, test_feats, k, lambda s: (s * temperature).exp())


def knn_fixed_temperature(train_feats, train_labels, test_feats, k=20, temperature=0.07):
    return _knn(train_feats, train_labels, test_feats, k, lambda s: (s / 0.07).exp())


def knn_fixed_k(train_feats, train_labels, test_feats, k=20, temperature=0.07):
    return _knn(train_feats, train_labels, test_feats, min(20, len(train_feats)), lambda s: (s / temperature).exp())


def knn_drops_last_chunk(train_feats, train_labels, test_feats, k=20, temperature=0.07):
    return _knn(train_feats, train_labels, test_feats, k, lambda s: (s / temperature).exp(), whole_chunks=True)


CORRECT["test_knn_predict"] = [strict.reference_knn_predict, knn_one_hot, knn_numpy]


@pytest.mark.parametrize("fn", CORRECT["test_knn_predict"], ids=lambda v: getattr(v, "__name__", type(v).__name__))
def test_knn_predict_accepts(fn):
    accepts("test_knn_predict", fn)


@pytest.mark.parametrize("fn, match", [
    (knn_unnormalised, "L2-normalise"),
    (knn_majority, "unweighted majority"),
    (knn_similarity_weights, "weights equal to the similarities"),
    (knn_temperature_multiplied, "exp\\(sim / temperature\\)"),
    (knn_fixed_temperature, "ignores the temperature"),
    (knn_fixed_k, "is the k argument used"),
    (knn_drops_last_chunk, "shape \\(2500,\\)"),
])
def test_knn_predict_rejects(fn, match):
    rejects("test_knn_predict", fn, match)


# =========================================================================== choose_k (Exercise 3.7)
def _query_mask(labels, fraction, seed):
    g = torch.Generator().manual_seed(seed)
    mask = torch.zeros(len(labels), dtype=torch.bool)
    for c in labels.unique():
        members = torch.nonzero(labels == c).flatten()
        mask[members[torch.randperm(len(members), generator=g)[:max(1, round(fraction * len(members)))]]] = True
    return mask


def _score_all(score, mask, ks):
    return [score(torch.nonzero(~mask).flatten(), torch.nonzero(mask).flatten(), k) for k in ks]


def choose_k_solution(labels, ks, score, val_fraction=0.2, seed=0):
    accuracies = _score_all(score, _query_mask(labels, val_fraction, seed), ks)
    return ks[max(range(len(ks)), key=lambda i: accuracies[i])], accuracies


def choose_k_numpy(labels, ks, score, val_fraction=0.2, seed=0):
    """numpy's generator, ceil-free rounding per class, argmax for the choice."""
    import numpy as np

    rng = np.random.default_rng(seed)
    y = labels.numpy()
    queries = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:max(1, int(val_fraction * (y == c).sum() + 0.5))]
                              for c in np.unique(y)])
    mask = np.zeros(len(y), dtype=bool)
    mask[queries] = True
    accuracies = [score(torch.from_numpy(np.flatnonzero(~mask)), torch.from_numpy(np.flatnonzero(mask)), k) for k in ks]
    return ks[int(np.argmax(accuracies))], accuracies


def choose_k_new_split_each(labels, ks, score, val_fraction=0.2, seed=0):
    accuracies = [_score_all(score, _query_mask(labels, val_fraction, seed + i), [k])[0] for i, k in enumerate(ks)]
    return ks[max(range(len(ks)), key=lambda i: accuracies[i])], accuracies


def choose_k_queries_also_vote(labels, ks, score, val_fraction=0.2, seed=0):
    mask = _query_mask(labels, val_fraction, seed)
    accuracies = [score(torch.arange(len(labels)), torch.nonzero(mask).flatten(), k) for k in ks]
    return ks[max(range(len(ks)), key=lambda i: accuracies[i])], accuracies


def choose_k_last_images(labels, ks, score, val_fraction=0.2, seed=0):
    """The queries are the images sorted last by class: whole classes held out, others not at all."""
    order = torch.argsort(labels, stable=True)
    mask = torch.zeros(len(labels), dtype=torch.bool)
    mask[order[-max(1, round(val_fraction * len(labels))):]] = True
    accuracies = _score_all(score, mask, ks)
    return ks[max(range(len(ks)), key=lambda i: accuracies[i])], accuracies


def choose_k_smallest(labels, ks, score, val_fraction=0.2, seed=0):
    best, accuracies = choose_k_solution(labels, ks, score, val_fraction, seed)
    return ks[min(range(len(ks)), key=lambda i: accuracies[i])], accuracies


def choose_k_position(labels, ks, score, val_fraction=0.2, seed=0):
    best, accuracies = choose_k_solution(labels, ks, score, val_fraction, seed)
    return ks.index(best) + 1000, accuracies


WRONG_CHOOSE_K = [
    (choose_k_new_split_each, r"compared on different splits"),
    (choose_k_queries_also_vote, r"both memory .* and query"),
    (choose_k_last_images, r"hold out about val_fraction"),
    (choose_k_smallest, r"highest mean validation score"),
    (choose_k_position, r"the value, not its position"),
]


@pytest.mark.parametrize("fn", [choose_k_solution, choose_k_numpy], ids=lambda f: f.__name__)
def test_choose_k_accepts(fn):
    accepts("test_choose_k", fn)


@pytest.mark.parametrize("fn,match", WRONG_CHOOSE_K, ids=[f.__name__ for f, _ in WRONG_CHOOSE_K])
def test_choose_k_rejects(fn, match):
    rejects("test_choose_k", fn, match)
    public_rejects("test_choose_k", fn, match)
