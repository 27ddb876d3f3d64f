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


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder holding cifar10_uint8.npz")
    parser.add_argument("--record", action="store_true", help="write the JSON to benchmarks/results/")
    args = parser.parse_args(argv)
    os.environ["SELFSUP_MODE"] = "full"
    os.environ["SELFSUP_DATA"] = str(Path(args.data).resolve())

    import torch
    from sklearn.linear_model import LogisticRegression

    from selfsup import data, models, probe, runtime

    device = torch.device("cpu")
    runtime.seed_everything(0)
    train, test = data.load_cifar10(True), data.load_cifar10(False)
    net = models.SmallConvNet()
    start = time.perf_counter()
    xtr, ytr = probe.extract_features(net, train, device)
    xte, yte = probe.extract_features(net, test, device)
    seconds_features = time.perf_counter() - start
    start = time.perf_counter()
    ours = probe.linear_probe(xtr, ytr, xte, yte, device)
    seconds_ours = time.perf_counter() - start
    s_tr, s_te = probe.standardize(xtr, xte)
    start = time.perf_counter()
    sklearn = LogisticRegression(C=1.0, max_iter=1000).fit(s_tr.numpy(), ytr.numpy()).score(s_te.numpy(), yte.numpy())
    seconds_sklearn = time.perf_counter() - start
    report = {
        "what": "linear probe of a random-init SmallConvNet (seed 0) on real CIFAR-10 (50,000 train / 10,000 test), "
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
    print(json.dumps(report, indent=1))
    if args.record:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"{report['date']}-probe-agreement-cpu.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


if __name__ == "__main__":
    main()
