"""Why a randomly initialised SimCLR model gives every pair of views a cosine similarity near 1.

Notebook 2 (Part 5) shows the random-init model's similarity matrix solid red and its histograms
a spike near 1, while the same backbone's features probe at about 52% and rank the positive
view first far above chance. This measures where the common direction comes from, on the
notebook's own setting: seed 0, ``SmallConvNet`` + the solution's projection head, eval mode,
two SimCLR views of the first 512 test images of real CIFAR-10. It records

* for each stage (pooled conv features, ``h``, ``z``) the mean and smallest cosine similarity
  of the 1,024 views and the share of their energy along their mean (``selfsup.geometry``);
* the same after centring (subtracting the mean view), and the ranking accuracy of the
  positive view with and without centring;
* controls: Gaussian-noise images instead of CIFAR-10; each combination of the three parts
  of the architecture that add an input-independent component (the ReLUs, the max-pooling,
  the biases) removed (ReLU -> identity, max-pool -> average-pool, biases -> 0); BatchNorm in
  training mode (batch statistics, as in the first training step).

Runs on the CPU in well under a minute; needs the decoded pack (``benchmarks/decode_cifar_pack.py``).

    python -m benchmarks.random_init_geometry --data .data/cifar10 --record
"""

from __future__ import annotations

import copy
import datetime
import itertools
import os
import platform

from benchmarks.probe_agreement import arguments, show

IMAGES = 512


def _summary(features, positive) -> dict:
    from selfsup import geometry

    raw, centred = geometry.cosine_similarities(features), geometry.cosine_similarities(features, centre=True)

    def ranking(similarities):
        others = similarities.clone().fill_diagonal_(float("-inf"))
        return round((others.argmax(1) == positive).float().mean().item(), 4)

    off, off_centred = geometry.off_diagonal(raw), geometry.off_diagonal(centred)
    return {"mean_cosine": round(off.mean().item(), 4), "min_cosine": round(off.min().item(), 4),
            "mean_direction_share": round(geometry.mean_direction_share(features), 4),
            "centred_mean_cosine": round(off_centred.mean().item(), 4),
            "centred_cosine_std": round(off_centred.std().item(), 4),
            "nonnegative": bool((features >= 0).all()),
            "ranking": ranking(raw), "ranking_centred": ranking(centred),
            "chance_ranking": round(1 / (len(features) - 1), 5), "views": len(features),
            "dims": int(features.shape[1])}


def _variant(model, relu: bool, maxpool: bool, bias: bool):
    """A copy of ``model`` with the ReLUs, the max-pooling or the biases taken out (``False``)."""
    from torch import nn

    model = copy.deepcopy(model)
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.ReLU) and not relu:
                setattr(module, name, nn.Identity())
            if isinstance(child, nn.MaxPool2d) and not maxpool:
                setattr(module, name, nn.AvgPool2d(child.kernel_size))
        if not bias and isinstance(module, (nn.Linear, nn.Conv2d)) and module.bias is not None:
            module.bias.data.zero_()
    return model


def measure(data_dir: str) -> dict:
    os.environ["SELFSUP_MODE"] = "full"
    os.environ["SELFSUP_DATA"] = os.path.abspath(data_dir)
    import torch
    from torch import nn

    from benchmarks.simclr_speed import reference_augment, reference_head
    from selfsup import data, geometry, models, runtime

    runtime.seed_everything(0)
    backbone, head = models.SmallConvNet(), reference_head()  # the notebook's order: backbone, then head
    model = nn.Sequential(backbone, head).eval()
    x, _ = data.load_cifar10(train=False).batch(torch.arange(IMAGES))
    runtime.seed_everything(0)
    views = reference_augment()(torch.cat([x, x]))  # [view 1 of every image, view 2 of every image]
    positive = (torch.arange(2 * IMAGES) + IMAGES) % (2 * IMAGES)
    noise = torch.randn(2 * IMAGES, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        pooled = torch.flatten(backbone.features(views), 1)
        h = backbone.fc(pooled)
        z = head(h)
        stages = {"pooled conv features (ReLU, max-pool, average-pool)": _summary(pooled, positive),
                  "h = backbone(x)": _summary(h, positive), "z = head(h)": _summary(z, positive)}
        z_noise = model(noise)
        without = {}
        for relu, maxpool, bias in itertools.product((True, False), repeat=3):
            variant = _variant(model, relu, maxpool, bias)
            key = f"relu={relu} maxpool={maxpool} bias={bias}"
            without[key] = {"cifar_views_mean_cosine": round(geometry.off_diagonal(geometry.cosine_similarities(
                                variant(views))).mean().item(), 4),
                            "noise_mean_cosine": round(geometry.off_diagonal(geometry.cosine_similarities(
                                variant(noise))).mean().item(), 4)}
        model.train()
        z_train_bn = model(views)
    return {
        "what": "geometry of a random-init SimCLR model (seed 0, SmallConvNet + Linear-BN-ReLU-Linear head, eval "
                f"mode) on two SimCLR views of the first {IMAGES} test images of real CIFAR-10: cosine similarities, "
                "share of the energy along the mean view, centring, ranking of the positive; controls",
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.node()} ({os.cpu_count()} CPU cores), CPU only",
        "command": "python -m benchmarks.random_init_geometry --data .data/cifar10 --record",
        "torch": torch.__version__,
        "stages": stages,
        "z_on_gaussian_noise_images": _summary(z_noise, positive),
        "z_with_parts_removed": without,
        "z_train_mode_batchnorm": _summary(z_train_bn, positive),
    }


def main(argv: list[str] | None = None) -> dict:
    args = arguments(__doc__, argv)
    return show(measure(args.data), "random-init-geometry-cpu" if args.record else None)


if __name__ == "__main__":
    main()
