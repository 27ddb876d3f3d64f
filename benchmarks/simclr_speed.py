"""SimCLR input pipelines, measured in one run: the seed course's PIL pipeline against ours.

1. **Seed-style pipeline**: every image is a PIL image; a ``torch.utils.data.DataLoader`` applies
   torchvision's (v1) transforms to it twice per item (RandomResizedCrop, flip, ColorJitter with
   p=0.8, grayscale with p=0.2, ToTensor, Normalize), in ``num_workers`` processes, with this
   process and its workers pinned to ``--cores`` CPU cores (2, as on Colab). This is
   augmentation alone: no model runs. Reported as pairs/s and seconds per 50,000-image epoch.
2. **Batched path** (the notebook's): the split sits on the device as one uint8 tensor,
   ``selfsup.data.DeviceLoader`` cuts batches, kornia augments both views of the whole batch, and
   ``selfsup.train.fit`` trains SmallConvNet + projection head with NT-Xent (the notebook's
   solutions, below). Reported as seconds per epoch of full training, after a short
   warm-up run that is not timed; also the augmentation alone in pairs/s.

The ratio of the two per-epoch times is the speed-up (the seed pipeline's time excludes its
training, so the ratio is a lower bound).

Usage (from the repository root)::

    python -m benchmarks.simclr_speed                       # CIFAR-10 from the JPEG pack, GPU if any
    python -m benchmarks.simclr_speed --record              # and write benchmarks/results/<date>-simclr-speed-<dev>.json
    python -m benchmarks.simclr_speed --quick               # synthetic images, tiny sizes: a CPU smoke run
    python -m benchmarks.simclr_speed --skip-batched        # only the seed-style pipeline

It prints one JSON record (date, machine, command, versions, data, both measurements). Numbers
on a shared machine depend on its load: the record keeps the load average at the start.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from selfsup.checks.simclr import FEATURE_DIM, GRAYSCALE_P, HIDDEN_DIM, IMAGE_SIZE, JITTER_P, PROJECTION_DIM
from selfsup.data import denormalize, normalize
from torch import nn

from . import decode_cifar_pack
from .grading_mode import machine
from .run_reference import git_state, gpu_info, slug

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
#: Images in one CIFAR-10 training epoch: per-epoch times are extrapolated to it.
EPOCH_IMAGES = 50_000


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------

def load_images(n: int, jpeg: Path | None, quick: bool) -> tuple[np.ndarray, np.ndarray, str]:
    """``n`` training images as uint8 ``[n, 3, 32, 32]``, their labels, and where they came from."""
    if quick or jpeg is None or not jpeg.exists():
        from selfsup.data import synthetic_cifar

        images, labels = synthetic_cifar(n, seed=0)
        why = "--quick" if quick else f"no JPEG pack at {jpeg}"
        return images.numpy(), labels.numpy(), f"synthetic stand-in images ({why}), not CIFAR-10"
    arrays = decode_cifar_pack.decode(jpeg, limit=n)
    where = f"CIFAR-10 train, first {n} of the shuffled pack {jpeg.name}"
    return arrays["x_train"], arrays["y_train"].astype(np.int64), where


# ----------------------------------------------------------------------------------------------
# 1. The seed-style pipeline
# ----------------------------------------------------------------------------------------------

class PilPairs(torch.utils.data.Dataset):
    """PIL images; each item is two independent applications of ``transform``."""

    def __init__(self, images: np.ndarray, transform):
        from PIL import Image

        self.images = [Image.fromarray(img.transpose(1, 2, 0)) for img in images]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        image = self.images[index]
        return self.transform(image), self.transform(image)


def seed_transform():
    """The seed course's SimCLR transform (torchvision v1, on one PIL image at a time)."""
    from selfsup.data import CIFAR_MEAN, CIFAR_STD
    from torchvision import transforms as T

    return T.Compose([
        T.RandomResizedCrop(32, scale=(0.2, 1.0)),
        T.RandomHorizontalFlip(),
        T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        T.RandomGrayscale(p=0.2),
        T.ToTensor(),
        T.Normalize(CIFAR_MEAN, CIFAR_STD),
    ])


def limit_cores(cores: int) -> list[int]:
    """Pin this process (and the workers it will fork) to ``cores`` CPUs; return them."""
    available = sorted(os.sched_getaffinity(0))
    chosen = available[:cores]
    os.sched_setaffinity(0, chosen)
    torch.set_num_threads(len(chosen))
    return chosen


def time_seed_pipeline(images: np.ndarray, batch_size: int, num_workers: int, batches: int) -> dict:
    """Pairs per second of the seed-style DataLoader, after one untimed warm-up batch."""
    dataset = PilPairs(images, seed_transform())
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True,
                                         num_workers=num_workers, persistent_workers=False)
    needed = batches + 1
    if len(loader) < needed:
        raise SystemExit(f"--images {len(images)} gives {len(loader)} batches of {batch_size}; need {needed}")
    it = iter(loader)
    next(it)  # warm-up: worker start-up and the first batch are not timed
    start = time.perf_counter()
    for _ in range(batches):
        view1, _ = next(it)
    seconds = time.perf_counter() - start
    del it
    pairs_per_s = batches * batch_size / seconds
    return {"num_workers": num_workers, "pairs": batches * batch_size, "seconds": round(seconds, 3),
            "pairs_per_s": round(pairs_per_s, 1), "s_per_epoch": round(EPOCH_IMAGES / pairs_per_s, 2)}


# ----------------------------------------------------------------------------------------------
# 2. The batched path, with the notebook's solutions of Exercises 2.1, 2.3 and 2.5
# ----------------------------------------------------------------------------------------------

def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """The vectorised NT-Xent (float32 outside autocast, any device): cross-entropy over the masked logits."""
    n = z1.shape[0]
    with torch.autocast(device_type=z1.device.type, enabled=False):
        z = torch.nn.functional.normalize(torch.cat([z1, z2]).float(), dim=1)
        eye = torch.eye(2 * n, dtype=torch.bool, device=z.device)
        logits = (z @ z.T / temperature).masked_fill(eye, float("-inf"))
        targets = torch.cat([torch.arange(n, 2 * n, device=z.device), torch.arange(0, n, device=z.device)])
        return torch.nn.functional.cross_entropy(logits, targets)


def reference_head(in_dim: int = FEATURE_DIM, hidden_dim: int = HIDDEN_DIM,
                   out_dim: int = PROJECTION_DIM) -> nn.Module:
    """SimCLR's projection head as in the notebook's solution: Linear -> BatchNorm1d -> ReLU -> Linear."""
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(inplace=True),
                         nn.Linear(hidden_dim, out_dim))


class ReferenceAugment(nn.Module):
    """SimCLR's augmentation for normalised CIFAR batches (the notebook's solution of Exercise 2.1), with kornia.

    Shape:
        normalised ``[B, 3, H, W]`` -> normalised ``[B, 3, 32, 32]``.
    """

    def __init__(self, crop_scale: tuple[float, float] = (0.2, 1.0), cropping_mode: str = "resample"):
        super().__init__()
        import kornia.augmentation as K

        self.ops = nn.Sequential(
            K.RandomResizedCrop((IMAGE_SIZE, IMAGE_SIZE), scale=crop_scale, cropping_mode=cropping_mode),
            K.RandomHorizontalFlip(),
            K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=JITTER_P),
            K.RandomGrayscale(p=GRAYSCALE_P),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return normalize(self.ops(denormalize(x).clamp(0, 1)))


def reference_augment() -> nn.Module:
    """A fresh :class:`ReferenceAugment`."""
    return ReferenceAugment()



def time_batched(images: np.ndarray, labels: np.ndarray, device: torch.device, batch_size: int, epochs: int,
                 temperature: float, lr: float) -> dict:
    """Seconds per epoch of SimCLR training with data and augmentation on ``device``."""
    from selfsup import data, models, train

    split = data.ImageTensorDataset(torch.from_numpy(images), torch.from_numpy(labels), device=device)
    augment = reference_augment().to(device)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone, self.head = models.SmallConvNet(), reference_head()

        def forward(self, x):
            h = self.backbone(x)
            return h, self.head(h)

    def step(model, batch):
        x, _ = batch
        with torch.autocast(device_type=x.device.type, enabled=False):
            view1, view2 = augment(torch.cat([x, x])).chunk(2)
        _, z = model(torch.cat([view1, view2]))
        z1, z2 = z.chunk(2)
        return nt_xent(z1, z2, temperature)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    # Augmentation alone, in pairs/s (warm-up call first).
    x, _ = split.batch(torch.arange(min(batch_size, len(split))))
    augment(torch.cat([x, x]))
    sync()
    reps = 20 if device.type == "cuda" else 3
    start = time.perf_counter()
    for _ in range(reps):
        augment(torch.cat([x, x]))
    sync()
    augment_pairs_per_s = reps * len(x) / (time.perf_counter() - start)

    # Warm-up training run (cuDNN autotuning, allocator, kornia kernels), not timed.
    torch.manual_seed(0)
    warm = data.DeviceLoader(split.subset(min(len(split), 4 * batch_size)), batch_size, shuffle=True, drop_last=True)
    train.fit(Model(), warm, step, 1, lr, device, desc="warm-up")
    torch.manual_seed(0)
    loader = data.DeviceLoader(split, batch_size, shuffle=True, drop_last=True)
    history = train.fit(Model(), loader, step, epochs, lr, device, desc="SimCLR")
    seconds_per_epoch = history.seconds / epochs
    return {"device": str(device), "images": len(split), "batch_size": batch_size, "epochs": epochs,
            "steps_per_epoch": len(loader), "train_seconds": round(history.seconds, 2),
            "s_per_epoch": round(seconds_per_epoch, 3),
            "s_per_epoch_at_50k": round(seconds_per_epoch * EPOCH_IMAGES / (len(loader) * batch_size), 3),
            "augment_pairs_per_s": round(augment_pairs_per_s, 1),
            "final_loss": round(history.epoch_losses[-1], 4)}


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------

def versions() -> dict:
    import kornia
    import torchvision

    return {"python": sys.version.split()[0], "torch": torch.__version__, "torchvision": torchvision.__version__,
            "kornia": kornia.__version__}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.simclr_speed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="synthetic images and tiny sizes (a CPU smoke run)")
    parser.add_argument("--jpeg", type=Path, default=decode_cifar_pack.DEFAULT_SOURCE,
                        help="the JPEG CIFAR-10 pack (default: %(default)s; synthetic images if missing)")
    parser.add_argument("--seed-images", type=int, default=None, help="images for the seed-style pipeline")
    parser.add_argument("--seed-batches", type=int, default=None, help="timed batches per seed-style configuration")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="DataLoader num_workers to time")
    parser.add_argument("--cores", type=int, default=2, help="CPU cores the seed-style pipeline may use")
    parser.add_argument("--images", type=int, default=None, help="training images for the batched path")
    parser.add_argument("--epochs", type=int, default=None, help="timed epochs of the batched path")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--temperature", type=float, default=0.2)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda if available)")
    parser.add_argument("--skip-batched", action="store_true", help="time only the seed-style pipeline")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON record here")
    parser.add_argument("--record", action="store_true",
                        help="also write it to benchmarks/results/<date>-simclr-speed-<device>.json")
    args = parser.parse_args(argv)

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    quick = args.quick
    seed_images = args.seed_images or (600 if quick else 4096)
    seed_batches = args.seed_batches or (2 if quick else 12)
    train_images = args.images or (256 if quick else EPOCH_IMAGES)
    epochs = args.epochs or (1 if quick else 10)
    batch_size = min(args.batch_size, 64) if quick else args.batch_size

    record = {
        "benchmark": "simclr_speed",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.simclr_speed " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "machine": {**machine(), **gpu_info()},
        "versions": versions(),
        "git": git_state(),
    }

    load, cpus = record["machine"]["load_average_1min_at_start"], record["machine"]["cpus"]
    if load > 0.5 * cpus:
        record["load_note"] = (f"other jobs were running (load average {load} on {cpus} CPUs at the start): "
                               "expect lower CPU throughput than on an idle machine")
    images, labels, source = load_images(max(seed_images, 0 if args.skip_batched else train_images), args.jpeg, quick)
    record["data"] = source
    main_affinity = sorted(os.sched_getaffinity(0))
    cores = limit_cores(args.cores)
    seed = {"cores": len(cores), "batch_size": batch_size, "images": seed_images,
            "what": "PIL + torchvision v1 transforms twice per image in a DataLoader; augmentation only, no model",
            "runs": [time_seed_pipeline(images[:seed_images], batch_size, w, seed_batches) for w in args.workers]}
    seed["best_s_per_epoch"] = min(r["s_per_epoch"] for r in seed["runs"])
    record["seed_pipeline"] = seed
    os.sched_setaffinity(0, main_affinity)  # the batched path may use the whole machine
    torch.set_num_threads(len(main_affinity))

    if args.skip_batched:
        record["batched"] = {"skipped": "--skip-batched"}
        record["speedup_per_epoch"] = None
    else:
        batched = time_batched(images[:train_images], labels[:train_images], device, batch_size, epochs,
                               args.temperature, args.lr)
        record["batched"] = batched
        record["speedup_per_epoch"] = round(seed["best_s_per_epoch"] / batched["s_per_epoch_at_50k"], 2)
        if device.type != "cuda":
            record["note"] = ("batched path measured on the CPU: the speed-up target (>= 20x, 10 epochs <= 15 s on "
                              "an H100) is about a GPU, so this ratio says nothing about it")

    text = json.dumps(record, indent=2)
    print(text)
    targets = [args.out] if args.out else []
    if args.record:
        where = slug(record["machine"].get("gpu", "")) or "cpu"
        targets.append(RESULTS / f"{record['date'][:10]}-simclr-speed-{where}.json")
    for path in targets:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
