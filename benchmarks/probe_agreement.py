"""The course's torch linear probe against scikit-learn, on real CIFAR-10 features.

Extracts the features of a randomly initialised SmallConvNet (seed 0) for the full train and
test splits, then fits both ``selfsup.probe.linear_probe`` (L-BFGS in torch) and
``sklearn.linear_model.LogisticRegression(C=1.0)`` on the same standardised features. Runs on
the CPU. Needs the decoded pack (``benchmarks/decode_cifar_pack.py``) in ``--data``.

    python -m benchmarks.probe_agreement --data .data/cifar10 --record
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def random_init_features(data_dir: str):
    """Features of a random-init SmallConvNet (seed 0) for all of real CIFAR-10, on the CPU.

    Args:
        data_dir: folder holding ``cifar10_uint8.npz``.

    Returns:
        ``(xtr [50000, 256], ytr [50000], xte [10000, 256], yte [10000], seconds)``; the features
        are cached in ``data_dir`` (``seconds`` is then the time of the run that extracted them).
    """
    os.environ["SELFSUP_MODE"] = "full"
    os.environ["SELFSUP_DATA"] = str(Path(data_dir).resolve())

    import torch

    from selfsup import data, models, probe, runtime

    device = torch.device("cpu")
    cache = Path(data_dir) / "random-init-features-seed0.pt"  # the same features every time: kept next to the pack
    if cache.exists():
        saved = torch.load(cache)
        return saved["xtr"], saved["ytr"], saved["xte"], saved["yte"], saved["seconds"]
    runtime.seed_everything(0)
    train, test = data.load_cifar10(True), data.load_cifar10(False)
    net = models.SmallConvNet()
    start = time.perf_counter()
    xtr, ytr = probe.extract_features(net, train, device)
    xte, yte = probe.extract_features(net, test, device)
    seconds = time.perf_counter() - start
    torch.save({"xtr": xtr, "ytr": ytr, "xte": xte, "yte": yte, "seconds": seconds}, cache)
    return xtr, ytr, xte, yte, seconds


def arguments(doc: str, argv: list[str] | None) -> argparse.Namespace:
    """``--data`` (the decoded pack's folder) and ``--record``, the two options of the probe benchmarks."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder holding cifar10_uint8.npz")
    parser.add_argument("--record", action="store_true", help="write the JSON to benchmarks/results/")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = arguments(__doc__, argv)
    xtr, ytr, xte, yte, seconds_features = random_init_features(args.data)

    import torch
    from sklearn.linear_model import LogisticRegression

    from selfsup import probe

    device = torch.device("cpu")
    start = time.perf_counter()
    ours = probe.linear_probe(xtr, ytr, xte, yte, device)
    seconds_ours = time.perf_counter() - start
    s_tr, s_te = probe.standardize(xtr, xte)
    start = time.perf_counter()
    sklearn = LogisticRegression(C=1.0, max_iter=1000).fit(s_tr.numpy(), ytr.numpy()).score(s_te.numpy(), yte.numpy())
    seconds_sklearn = time.perf_counter() - start
    report = {
        "what": "linear probe of a random-init SmallConvNet (seed 0) on CIFAR-10, a JPEG copy (pixels differ slightly "
                "from torchvision's), 50,000 train / 10,000 test images, "
                "torch L-BFGS probe vs scikit-learn LogisticRegression(C=1.0) on the same standardised features",
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.node()} ({os.cpu_count()} CPU cores), CPU only",
        "command": "python -m benchmarks.probe_agreement --data .data/cifar10 --record",
        "torch": torch.__version__,
        "selfsup_probe_acc": round(ours, 4),
        "sklearn_probe_acc": round(float(sklearn), 4),
        "seconds": {"features": round(seconds_features, 1), "selfsup_probe": round(seconds_ours, 1),
                    "sklearn_probe": round(seconds_sklearn, 1)},
    }
    return show(report, "probe-agreement-cpu" if args.record else None)


def show(report: dict, record_as: str | None) -> dict:
    """Print ``report``; with ``record_as``, also write it to ``benchmarks/results/<date>-<record_as>.json``."""
    print(json.dumps(report, indent=1))
    if record_as:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"{report['date']}-{record_as}.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


if __name__ == "__main__":
    main()
