"""Batched feature extraction of Notebook 3's three models, in images per second.

Each model runs the notebook's feature path, ``selfsup.hub.extract_features`` (images prepared
on the device from uint8 CIFAR-shaped batches, resized, no_grad, float16 autocast on a GPU):

* MAE ViT-B/16: mask ratio 0, mean of the unshuffled patch tokens (the reference answer of
  Exercise 3.2, from ``autograder.judges.mae_dinov2``);
* DINOv2 ViT-S/14: ``pooler_output`` (the CLS token after the final LayerNorm);
* DeiT-S/16 (the supervised ViT): the CLS token of ``last_hidden_state``.

One batch is run first and not timed. The record extrapolates to the 12,000 images (10,000
train + 2,000 test) the notebook extracts per model.

Three kinds of model, and what their numbers mean:

* default: the real pretrained weights from the Hugging Face hub (needs the network; the GPU if
  there is one). These are the numbers that matter for Colab.
* ``--full-size-random``: the real architectures (the published configs of
  ``benchmarks/full_size_models.py``, same compute) with random weights, built offline.
  Throughput does not depend on the weights' values, so this measures the real models' speed
  where the weights cannot be downloaded.
* ``--quick``: the tiny random-weight stand-ins of grading mode, on the CPU, 112-pixel images.
  A smoke test of the code path; its speed says nothing about the real models.

Usage (from the repository root)::

    python -m benchmarks.feature_throughput                     # real weights, GPU if any
    python -m benchmarks.feature_throughput --full-size-random  # real architectures, random weights
    python -m benchmarks.feature_throughput --quick --record    # stand-ins on CPU, write the JSON

``--record`` writes ``benchmarks/results/<date>-feature-throughput-<what>-<device>.json``.
Numbers on a shared machine depend on its load: the record keeps the load average at the start.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
import time
from pathlib import Path

import torch

from . import full_size_models
from .grading_mode import machine
from .run_reference import git_state, gpu_info, slug

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
#: Images whose features the notebook extracts with each of MAE and DINOv2 (train + test subsets).
NOTEBOOK_IMAGES = 12_000


def build(name: str, kind: str, device: torch.device):
    """The model to time: ``kind`` is ``"real"``, ``"full-size-random"`` or ``"stand-in"``."""
    from selfsup import hub

    if kind == "real":
        return hub.load_model(name, device, stand_in=False)
    if kind == "stand-in":
        return hub.build_stand_in(name).to(device)
    from transformers import Dinov2Model, ViTMAEForPreTraining, ViTModel

    cls = {"mae": ViTMAEForPreTraining, "dinov2": Dinov2Model, "supervised": ViTModel}[name]
    extra = {"add_pooling_layer": False} if name == "supervised" else {}
    torch.manual_seed(0)
    return cls._from_config(full_size_models.config(name), attn_implementation="eager", **extra).eval().to(device)


def feature_fn(name: str, model):
    """The notebook's feature function of each model."""
    if name == "mae":
        from autograder.judges.mae_dinov2 import reference_mae_features

        return lambda x: reference_mae_features(model, x)
    if name == "dinov2":
        return lambda x: model(pixel_values=x).pooler_output
    return lambda x: model(pixel_values=x).last_hidden_state[:, 0]


def measure(name: str, kind: str, device: torch.device, images: int, batch_size: int, image_size: int) -> dict:
    """Images per second of ``hub.extract_features`` for one model, after one untimed batch."""
    from selfsup import data, hub

    model = build(name, kind, device)
    fn = feature_fn(name, model)
    pixels, labels = data.synthetic_cifar(images, seed=0)
    dataset = data.ImageTensorDataset(pixels, labels, device=device)
    hub.extract_features(fn, dataset.subset(batch_size), device, image_size, batch_size, desc="warm-up")
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    feats, _ = hub.extract_features(fn, dataset, device, image_size, batch_size, desc=name)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    rate = images / seconds
    return {"model": name, "hub_id": hub.MODELS[name].repo_id, "weights": kind,
            "parameters": sum(p.numel() for p in model.parameters()), "feature_dim": feats.shape[1],
            "images": images, "batch_size": batch_size, "image_size": image_size, "seconds": round(seconds, 3),
            "images_per_s": round(rate, 2),
            # a stand-in's speed says nothing about the notebook's running time
            "notebook_seconds_estimate": None if kind == "stand-in" else round(NOTEBOOK_IMAGES / rate, 1)}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m benchmarks.feature_throughput", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--quick", action="store_true", help="tiny random stand-ins on the CPU (a smoke run)")
    what.add_argument("--full-size-random", action="store_true",
                      help="the real architectures with random weights (no download)")
    parser.add_argument("--images", type=int, default=None, help="images timed per model")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--cpu", action="store_true", help="stay on the CPU even if there is a GPU")
    parser.add_argument("--models", default="mae,dinov2,supervised", help="comma-separated subset of the models")
    parser.add_argument("--record", action="store_true", help="write the JSON to benchmarks/results/")
    args = parser.parse_args(argv)

    from selfsup import hub

    kind = "stand-in" if args.quick else "full-size-random" if args.full_size_random else "real"
    device = torch.device("cuda" if torch.cuda.is_available() and not (args.cpu or args.quick) else "cpu")
    gpu = device.type == "cuda"
    images = args.images or (4096 if gpu else 256 if args.quick else 16)
    batch_size = args.batch_size or (256 if gpu else 64 if args.quick else 8)
    image_size = hub.STAND_IN_IMAGE_SIZE if args.quick else 224
    load = machine()
    runs = []
    for name in args.models.split(","):
        try:
            runs.append(measure(name, kind, device, images, batch_size, image_size))
        except hub.ModelLoadError as error:
            print(f"{name}: {error}\nNo real-weight number without the weights; --full-size-random times the same "
                  "architectures offline.", file=sys.stderr)
            return 1
        run = runs[-1]
        print(f"{name:>10}: {run['images_per_s']:9.1f} images/s ({run['images']} images, batch {batch_size}, "
              f"{image_size} px, {kind})", file=sys.stderr)
    labels = {"stand-in": "tiny random-weight stand-ins (grading mode): NOT the real models' speed",
              "full-size-random": "real architectures with random weights: same compute as the real models",
              "real": "real pretrained weights"}
    now = dt.datetime.now(dt.timezone.utc)
    record = {"benchmark": "feature_throughput", "date": now.isoformat(timespec="seconds"),
              "command": "python -m benchmarks.feature_throughput " + shlex.join(argv),
              "models": labels[kind], "device": str(device), **({"gpu": gpu_info()} if gpu else {}),
              "torch_threads": torch.get_num_threads(), "autocast": "float16" if gpu else "off",
              "machine": load, "git": git_state(),
              "versions": {"python": sys.version.split()[0], "torch": torch.__version__,
                           "transformers": __import__("transformers").__version__},
              "runs": runs}
    text = json.dumps(record, indent=2)
    print(text)
    if args.record:
        where = slug(gpu_info().get("gpu", "gpu")) if gpu else "cpu"
        out = RESULTS / f"{now.date().isoformat()}-feature-throughput-{kind}-{where}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
        print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
