"""Re-check probes of Notebook 3 (pretrained MAE and DINOv2): six exercises on stand-ins and tensors.

The models are the public checks' tiny random-weight stand-ins (:func:`selfsup.hub.build_stand_in`),
built from the grader's seed, with image sizes drawn from it too; the sandbox builds them before
any student code runs and the grader builds the same ones again (same seed, same weights) to
compute the references of :mod:`autograder.checks.mae_dinov2`. The pure tensor exercises get
seeded inputs and are compared with the references exactly, with the strict checks' diagnoses.
"""

from __future__ import annotations

import numpy as np
import torch

from selfsup import hub
from selfsup.checks import mae_dinov2 as public

from . import Exercise, array, expect

ASSIGNMENT = "03_mae_dinov2"
CONTEXT = ""
#: Run once by the sandbox zygote: builds each kind of stand-in, so that transformers' model code
#: is imported before the fork instead of in every re-check.
WARM_UP = ("from selfsup.checks import mae_dinov2 as _stand_ins\n"
           "_stand_ins.mae_stand_in(), _stand_ins.dinov2_stand_in(), _stand_ins.vit_stand_in()\n")


def _generator(seed: int, salt: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1000003 + salt) % 2**63)


def _subseed(g: torch.Generator) -> int:
    return int(torch.randint(0, 2**31 - 1, (1,), generator=g))


def _pick(g: torch.Generator, options):
    return options[int(torch.randint(0, len(options), (1,), generator=g))]


def _t(value) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(value))


# ---------------------------------------------------------------------------- Exercise 3.1
def reconstruct_inputs(seed: int) -> dict:
    g = _generator(seed, 31)
    size = _pick(g, (40, 48, 56))
    ratio = _pick(g, (0.5, 0.6, 0.9))
    model_seed = _subseed(g)
    return {"cases": [(public.MAE_SIZE, public.MAE_PATCH, 0.75, model_seed),
                      (public.MAE_SIZE, public.MAE_PATCH, 0.25, model_seed),
                      (size, 8, ratio, model_seed + 1)],
            "images": [public.toy_images(3, public.MAE_SIZE, public.MAE_SIZE, seed=_subseed(g)),
                       public.toy_images(3, public.MAE_SIZE, public.MAE_SIZE, seed=_subseed(g)),
                       public.toy_images(2, size, size, seed=_subseed(g))],
            "noise_seed": _subseed(g)}


def reconstruct_run(objects: dict, inp: dict) -> dict:
    fn = objects["mae_reconstruct"]
    out = {}
    for i, ((size, patch, ratio, model_seed), images) in enumerate(zip(inp["cases"], inp["images"])):
        model = public.mae_stand_in(size, patch, seed=model_seed)
        recon, mask = public.read_reconstruction(fn, model, images, ratio)
        out[f"recon_{i}"], out[f"mask_{i}"] = array(recon, "mae_reconstruct", "reconstruction"), mask
    return out


def reconstruct_judge(out: dict, inp: dict) -> None:
    from autograder.checks.mae_dinov2 import _clamped_close, reference_mae_reconstruct

    ex = "mae_reconstruct"
    g = torch.Generator().manual_seed(inp["noise_seed"])
    for i, ((size, patch, ratio, model_seed), images) in enumerate(zip(inp["cases"], inp["images"])):
        recon, mask = _t(out[f"recon_{i}"]), _t(out[f"mask_{i}"]).float()
        patches = public.patch_mask(mask, patch)
        expect(patches is not None, ex, f"on {size}x{size} images the mask is not constant over each {patch}x{patch} "
                                        "patch; repeat each patch's value over its pixels (repeat_interleave).")
        num_patches = (size // patch) ** 2
        want = public.masked_fraction(num_patches, ratio)
        got = patches.mean(1)
        message = f"at mask_ratio={ratio} ViTMAE hides {want:.0%} of the patches, your mask hides " \
                  f"{[round(v, 2) for v in got.tolist()]}."
        default = public.masked_fraction(num_patches, 0.75)
        expect(not torch.allclose(got, torch.full_like(got, default)) or ratio == 0.75, ex,
               f"{message} The ratio comes from model.config.mask_ratio (0.75 unless you set it).")
        expect(not torch.allclose(got, torch.full_like(got, 1 - want)) or abs(want - 0.5) < 1e-6, ex,
               f"{message} Your mask is inverted: it should be 1 where a patch was hidden.")
        expect(torch.allclose(got, torch.full_like(got, want)), ex, message)
        channel_means = recon.mean(dim=(0, 2, 3))
        expect(bool(((channel_means - torch.tensor(hub.IMAGENET_MEAN)).abs() < 0.15).all()), ex,
               f"your reconstruction's channel means are {[round(v, 3) for v in channel_means.tolist()]}, not near "
               "the ImageNet mean: undo the ImageNet normalisation (hub.to_pixels) after model.unpatchify.")
        model = public.mae_stand_in(size, patch, seed=model_seed)

        def expected(hidden):
            noise = hidden + 0.5 * torch.rand(hidden.shape, generator=g)  # the hidden patches sort last
            return reference_mae_reconstruct(model, images, ratio, noise=noise)[0]

        if _clamped_close(recon, expected(patches)):
            continue
        if abs(ratio - 0.5) < 1e-6:
            expect(not _clamped_close(recon, expected(1 - patches)), ex,
                   "the reconstruction matches the patches your mask shows, not those it hides: the mask is inverted.")
        grid = patches.reshape(-1, size // patch, size // patch)
        expect(not _clamped_close(recon, expected(grid.transpose(1, 2).reshape(len(images), -1))), ex,
               "your mask is transposed: out.mask lists the patches row by row (raster order).")
        expect(False, ex, f"on {size}x{size} images the reconstruction does not match the decoder's prediction for "
                          "the patches your mask hides (tolerance 1e-4). Use model.unpatchify(out.logits, (H, W)) "
                          "and hub.to_pixels; a plain reshape puts the pixels in the wrong places.")


# ---------------------------------------------------------------------------- Exercise 3.2
def features_inputs(seed: int) -> dict:
    g = _generator(seed, 32)
    size = _pick(g, (40, 48, 56))
    return {"size": size, "model_seed": _subseed(g), "images": public.toy_images(3, size, size, seed=_subseed(g))}


def features_run(objects: dict, inp: dict) -> dict:
    ex = "mae_features"
    fn = objects[ex]
    model = public.mae_stand_in(inp["size"], 8, seed=inp["model_seed"])
    images = inp["images"]
    out = {"tokens": array(public.call(ex, "mae_features(model, images, pool=False)", fn, model, images, pool=False),
                           ex, "features with pool=False"),
           "pooled": array(public.call(ex, "mae_features(model, images)", fn, model, images), ex, "features")}
    out["ratio_after"] = float(model.config.mask_ratio)
    out["again"] = array(public.call(ex, "mae_features(model, images) (second call)", fn, model, images), ex,
                         "features")
    out["alone"] = array(public.call(ex, "mae_features(model, images[:1])", fn, model, images[:1]), ex, "features")
    return out


def features_judge(out: dict, inp: dict) -> None:
    from autograder.checks.mae_dinov2 import _same_rows_any_order, diagnose_pooled, reference_mae_features

    ex = "mae_features"
    model = public.mae_stand_in(inp["size"], 8, seed=inp["model_seed"])
    images = inp["images"]
    ref = reference_mae_features(model, images, pool=False)
    expect(float(out["ratio_after"]) == 0.75, ex, f"model.config.mask_ratio is {float(out['ratio_after'])} after "
                                                  "your call, it was 0.75: restore it (try/finally).")
    tokens, pooled = _t(out["tokens"]), _t(out["pooled"])
    expect(tuple(tokens.shape) == tuple(ref.shape), ex, f"with pool=False the features should have shape "
                                                        f"{tuple(ref.shape)}, got {tuple(tokens.shape)}.")
    expect(tuple(pooled.shape) == (len(images), ref.shape[-1]), ex,
           f"the pooled features should have shape {(len(images), ref.shape[-1])}, got {tuple(pooled.shape)}.")
    expect(np.allclose(out["pooled"], out["again"], atol=1e-5), ex,
           "two calls on the same images gave different features: set config.mask_ratio to 0 for features.")
    if not torch.allclose(tokens, ref, atol=1e-4):
        expect(not _same_rows_any_order(tokens, ref), ex,
               "your patch tokens are the right ones in the wrong order: ViTMAE shuffles them even at mask ratio 0. "
               "Put them back in raster order with out.ids_restore (torch.gather).")
        expect(False, ex, "the patch tokens (pool=False) do not match the encoder's last_hidden_state at mask ratio "
                          "0 without the CLS token, in raster order (tolerance 1e-4).")
    diagnose_pooled(pooled, ref, model, images)
    expect(np.allclose(out["alone"], out["pooled"][:1], atol=1e-5), ex,
           "an image's features change when other images are in the batch; pool over tokens (dim 1), not images.")


# ---------------------------------------------------------------------------- Exercise 3.3
def attention_inputs(seed: int) -> dict:
    g = _generator(seed, 33)
    height, width = 4 * _pick(g, (3, 4, 5, 6)), 4 * _pick(g, (2, 7))  # never square: a transposed map shows
    return {"dinov2_seed": _subseed(g), "vit_seed": _subseed(g),
            "dinov2_images": public.toy_images(2, height, width, seed=_subseed(g)),
            "vit_images": public.toy_images(3, 32, 32, seed=_subseed(g))}


def _attention_models(inp: dict):
    return ((public.dinov2_stand_in(seed=inp["dinov2_seed"]), inp["dinov2_images"]),
            (public.vit_stand_in(seed=inp["vit_seed"]), inp["vit_images"]))


def attention_run(objects: dict, inp: dict) -> dict:
    fn = objects["cls_attention_maps"]
    return {f"maps_{i}": public.read_attention(fn, model, images) for i, (model, images) in
            enumerate(_attention_models(inp))}


def attention_judge(out: dict, inp: dict) -> None:
    from autograder.checks.mae_dinov2 import diagnose_attention_maps

    ex = "cls_attention_maps"
    for i, (model, images) in enumerate(_attention_models(inp)):
        maps = _t(out[f"maps_{i}"]).float()
        expect(bool((maps >= 0).all()), ex, "attention weights are probabilities, but some values are negative.")
        diagnose_attention_maps(maps, model, images)


# ---------------------------------------------------------------------------- Exercise 3.4
def mask_inputs(seed: int) -> dict:
    g = _generator(seed, 34)
    scales = torch.tensor([1.0, 100.0, 0.01]).view(3, 1, 1, 1)
    cases = [torch.rand(2, 3, 5, 7, generator=g).pow(3) * 0.05,
             torch.rand(3, 2, 6, 4, generator=g).pow(4) * scales,
             torch.rand(6, 5, 5, generator=g).pow(2),
             torch.softmax(3 * torch.randn(2, 6, 8, 8, generator=g).flatten(-2), -1).reshape(2, 6, 8, 8)]
    keeps = [round(float(k), 3) for k in 0.05 + 0.9 * torch.rand(3, generator=g)] + [0.6]
    return {"cases": cases, "keeps": keeps}


def mask_run(objects: dict, inp: dict) -> dict:
    ex = "foreground_mask"
    fn = objects[ex]
    out = {}
    for i, attn in enumerate(inp["cases"]):
        original = attn.clone()
        for j, keep in enumerate(inp["keeps"]):
            mask = public.call(ex, f"foreground_mask(attn of shape {tuple(attn.shape)}, keep={keep})", fn, attn,
                               keep=keep)
            expect(isinstance(mask, torch.Tensor), ex, f"should return a bool tensor, got {type(mask).__name__}.")
            expect(mask.dtype == torch.bool, ex, f"should return a bool tensor, got {mask.dtype}.")
            out[f"mask_{i}_{j}"] = mask.detach()
        out[f"after_{i}"] = attn
        expect(torch.equal(attn, original), ex, "foreground_mask modified attn in place; work on a copy.")
    default = public.call(ex, "foreground_mask(attn)", fn, inp["cases"][0])
    out["default"] = default.detach() if isinstance(default, torch.Tensor) else torch.zeros(0, dtype=torch.bool)
    return out


def mask_judge(out: dict, inp: dict) -> None:
    from autograder.checks.mae_dinov2 import reference_foreground_mask

    ex = "foreground_mask"
    for i, attn in enumerate(inp["cases"]):
        expect(np.array_equal(out[f"after_{i}"], attn.numpy()), ex, "foreground_mask modified attn in place.")
        for j, keep in enumerate(inp["keeps"]):
            mask = _t(out[f"mask_{i}_{j}"]).bool()
            public.check_mask_properties(attn, mask, keep)
            expect(torch.equal(mask, reference_foreground_mask(attn, keep)), ex,
                   f"for attn of shape {tuple(attn.shape)} and keep={keep} the mask is not the smallest set of top "
                   "patches holding keep of each map's mass.")
    expect(np.array_equal(out["default"], reference_foreground_mask(inp["cases"][0], 0.6).numpy()), ex,
           "the default keep should be 0.6.")


# ---------------------------------------------------------------------------- Exercise 3.5
def _svd_sign_is_wrong(feats: torch.Tensor) -> bool:
    """True if torch's SVD returns the first component with the background on its positive side."""
    x = feats.reshape(-1, feats.shape[-1]).float()
    x = x - x.mean(0)
    _, _, vh = torch.linalg.svd(x, full_matrices=False)
    return bool(((x @ vh[0]) > 0).float().mean() > 0.5)


def pca_inputs(seed: int) -> dict:
    g = _generator(seed, 35)
    cases = [public.planted_features(seed=_subseed(g))[0]]
    wanted = {True: 2, False: 2}  # cases that need the sign rule, and cases that do not
    for attempt in range(60):
        feats, _ = public.planted_features(seed=_subseed(g), n=3, h=6, w=6, dim=12, part_scales=(1.0, 2.0, 0.5),
                                           block=3 + attempt % 2)
        q, _ = torch.linalg.qr(torch.randn(12, 12, generator=g))
        feats = feats @ q
        wrong = _svd_sign_is_wrong(feats)
        if wanted[wrong]:
            wanted[wrong] -= 1
            cases.append(feats)
        if not any(wanted.values()):
            break
    return {"cases": cases}


def pca_run(objects: dict, inp: dict) -> dict:
    out = {}
    for i, feats in enumerate(inp["cases"]):
        original = feats.clone()
        rgb, fg = public.read_pca(objects["pca_rgb"], feats)
        out[f"rgb_{i}"], out[f"fg_{i}"] = rgb, fg
        expect(torch.equal(feats, original), "pca_rgb", "pca_rgb modified its input in place; work on a copy.")
    return out


def pca_judge(out: dict, inp: dict) -> None:
    from autograder.checks.mae_dinov2 import _per_image_rgb, _rgb_close, reference_pca_rgb

    ex = "pca_rgb"
    for i, feats in enumerate(inp["cases"]):
        rgb, fg = _t(out[f"rgb_{i}"]).float(), _t(out[f"fg_{i}"]).bool()
        ref_rgb, ref_fg = reference_pca_rgb(feats)
        expect(torch.equal(fg, ref_fg), ex, "the foreground does not match: it is the side of the first principal "
                                            "component (of the centred tokens of all images) that holds at most "
                                            "half of the patches.")
        if _rgb_close(rgb, ref_rgb, fg):
            continue
        expect(not _rgb_close(rgb, reference_pca_rgb(feats, rgb_components=(0, 1, 2))[0], fg), ex,
               "your colours use the first principal component; map components 2, 3 and 4 to R, G and B.")
        expect(not _rgb_close(rgb, reference_pca_rgb(feats, scale_over="all")[0], fg), ex,
               "you min-max scaled the colours over all patches; scale over the foreground patches only.")
        per_image = torch.stack([_per_image_rgb(feats[k:k + 1]) for k in range(len(feats))])
        expect(not _rgb_close(rgb, per_image, fg), ex,
               "you fitted (or scaled) each image on its own; fit one PCA over the patch tokens of all images.")
        expect(False, ex, "the colours do not match components 2-4 of one PCA over all patch tokens, each min-max "
                          "scaled to [0, 1] over the foreground (up to the sign of each component).")


# ---------------------------------------------------------------------------- Exercise 3.6
def _at(cos: float, sign: float) -> list[float]:
    return [cos, sign * (1 - cos ** 2) ** 0.5, 0.0]


def knn_inputs(seed: int) -> dict:
    g = _generator(seed, 36)
    query = torch.tensor([[1.0, 0.0, 0.0]])
    votes = torch.tensor([_at(0.95, 1), _at(0.95, -1), _at(0.7, 1), _at(0.7, -1), [0.7, 0.0, 0.714], [-1.0, 0.0, 0.0]])
    near = torch.tensor([_at(0.99, 1)] + [_at(0.98, 1), _at(0.98, -1), [0.98, 0.0, 0.199], [0.98, 0.0, -0.199]])
    train, labels = public.clusters(seed=_subseed(g), centre_seed=_subseed(g))
    tight, tight_labels = public.clusters(seed=_subseed(g), spread=0.4, noise=0.02)
    big = torch.randn(300, 16, generator=g) * torch.rand(300, 1, generator=g).mul(5).add(0.1)
    # name: (train, labels, test, k, temperature)
    return {"cases": {
        "weighted": (votes, torch.tensor([0, 0, 1, 1, 1, 2]), query, 5, 0.07),
        "warm": (votes, torch.tensor([0, 0, 1, 1, 1, 2]), query, 5, 1.0),
        "k1": (near, torch.tensor([0, 1, 1, 1, 1]), query, 1, 0.07),
        "k5": (near, torch.tensor([0, 1, 1, 1, 1]), query, 5, 0.07),
        "clusters": (train, labels, public.clusters(seed=_subseed(g), centre_seed=0)[0], 5, 0.07),
        "rescaled": (public.rescaled(tight, seed=_subseed(g)), tight_labels, public.rescaled(tight, seed=_subseed(g)),
                     1, 0.07),
        "chunks": (big, torch.randint(0, 10, (300,), generator=g), torch.randn(2500, 16, generator=g), 7, 0.1)}}


def knn_run(objects: dict, inp: dict) -> dict:
    fn = objects["knn_predict"]
    return {name: public.read_predictions(fn, train, labels, test, k=k, temperature=t)
            for name, (train, labels, test, k, t) in inp["cases"].items()}


def knn_judge(out: dict, inp: dict) -> None:
    from autograder.checks.mae_dinov2 import reference_knn_predict

    ex = "knn_predict"
    expect(int(out["weighted"][0]) == 0, ex,
           "two neighbours at cosine 0.95 (class 0) should outvote three at 0.7 (class 1) when each vote weighs "
           "exp(sim / temperature) with temperature 0.07. An unweighted majority, or weights equal to the "
           "similarities, give class 1.")
    expect(int(out["warm"][0]) == 1, ex, "with temperature=1.0 the three class-1 neighbours should win; your function "
                                         "ignores the temperature argument (divide the similarities by it).")
    expect(int(out["k1"][0]) == 0, ex, "with k=1 the prediction should be the label of the most similar training "
                                       "point; is the k argument used?")
    expect(int(out["k5"][0]) == 1, ex, "with k=5, four neighbours at cosine 0.98 should outvote one at 0.99; is the k "
                                       "argument used?")
    train, labels, test, _, _ = inp["cases"]["rescaled"]
    expect(np.array_equal(out["rescaled"], labels.numpy()), ex,
           "with k=1, a rescaled copy of a training point should get that point's label: cosine similarity ignores "
           "the norms. L2-normalise both the training and the test features.")
    for name in ("clusters", "chunks"):
        train, labels, test, k, t = inp["cases"][name]
        reference = reference_knn_predict(train, labels, test, k=k, temperature=t).numpy()
        agree = float((out[name] == reference).mean())
        expect(agree == 1.0, ex, f"on {len(test):,} test points your predictions agree with a weighted cosine k-NN "
                                 f"(k={k}, temperature={t}) on {agree:.1%} of them; all should agree. If you work in "
                                 "chunks, check that the last, partial chunk is included.")


EXERCISES = [
    Exercise("test_mae_reconstruct", ("mae_reconstruct",), reconstruct_inputs, reconstruct_run, reconstruct_judge),
    Exercise("test_mae_features", ("mae_features",), features_inputs, features_run, features_judge),
    Exercise("test_cls_attention_maps", ("cls_attention_maps",), attention_inputs, attention_run, attention_judge),
    Exercise("test_foreground_mask", ("foreground_mask",), mask_inputs, mask_run, mask_judge),
    Exercise("test_pca_rgb", ("pca_rgb",), pca_inputs, pca_run, pca_judge),
    Exercise("test_knn_predict", ("knn_predict",), knn_inputs, knn_run, knn_judge),
]
