"""t-SNE of the notebooks' 2,000 test points: seconds and quality of each way to compute it.

The notebooks plot a t-SNE of 2,000 test features per method (five in Notebook 1, one in
Notebook 2). This script embeds the features of a randomly initialised SmallConvNet (seed 0) on
real CIFAR-10 test images, the 2,000 the notebooks pick, standardised as ``selfsup.viz`` does,
with:

- scikit-learn's ``TSNE`` (Barnes-Hut, the notebooks' settings) at 1,000 iterations (the
  reference) and at fewer;
- the exact t-SNE of ``selfsup.tsne`` in torch, here on the CPU (on a GPU,
  ``benchmarks/device_speed.sh`` times it);
- openTSNE, when it is installed (``pip install openTSNE``; not a dependency of the course).

Quality is ``sklearn.manifold.trustworthiness`` (5 neighbours, its default) of each embedding;
a candidate is as good as the reference if it is within 0.01 of it.

    python -m benchmarks.tsne_cost --data .data/cifar10 --record
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
POINTS = 2000
#: Within this much of the reference's trustworthiness counts as equal quality.
TOLERANCE = 0.01


def features(data_dir: str, points: int = POINTS):
    """Standardised features ``[points, 256]`` of a random-init SmallConvNet on the notebooks' test points."""
    os.environ["SELFSUP_MODE"] = "full"
    os.environ["SELFSUP_DATA"] = str(Path(data_dir).resolve())
    import torch

    from selfsup import data, models, probe, runtime

    runtime.seed_everything(0)
    test = data.load_cifar10(False)
    keep = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[:points]  # as the notebooks pick
    subset = data.ImageTensorDataset(test.images[keep], test.labels[keep])
    x, _ = probe.extract_features(models.SmallConvNet(), subset, torch.device("cpu"))
    return (x - x.mean(0)) / x.std(0).clamp_min(1e-6)


def candidates(sklearn_iters=(1000, 500, 350, 250), torch_iters=(1000, 500, 350)) -> dict:
    """``{name: embed(x) -> [N, 2] array}`` of every way to compute the t-SNE."""
    from sklearn.manifold import TSNE

    from selfsup import tsne

    def sk(iters):
        return lambda x: TSNE(n_components=2, perplexity=30.0, init="pca", learning_rate="auto", max_iter=iters,
                              random_state=0).fit_transform(x.numpy())

    def exact(iters):
        return lambda x: tsne.tsne(x, perplexity=30.0, max_iter=iters).numpy()

    out = {f"sklearn_barnes_hut_{n}": sk(n) for n in sklearn_iters}
    out.update({f"torch_exact_{n}_cpu": exact(n) for n in torch_iters})
    try:
        import openTSNE

        out["opentsne_default"] = lambda x: openTSNE.TSNE(perplexity=30.0, random_state=0, n_jobs=2).fit(x.numpy())
    except ImportError:
        pass
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder holding cifar10_uint8.npz")
    parser.add_argument("--record", action="store_true", help="write benchmarks/results/<date>-tsne-cost-cpu.json")
    args = parser.parse_args(argv)
    import numpy as np
    import sklearn
    import torch
    from sklearn.manifold import trustworthiness

    x = features(args.data)
    report = {"what": f"t-SNE of {POINTS} standardised random-init SmallConvNet features of CIFAR-10 test images "
                      "(the notebooks' selection), CPU", "date": dt.date.today().isoformat(),
              "machine": f"{os.uname().nodename} ({len(os.sched_getaffinity(0))} CPU cores), CPU only",
              "load_average_1min_at_start": round(os.getloadavg()[0], 2),
              "command": "python -m benchmarks.tsne_cost --data .data/cifar10 --record",
              "torch": torch.__version__, "sklearn": sklearn.__version__, "tolerance": TOLERANCE, "runs": {}}
    for name, embed in candidates().items():
        start = time.perf_counter()
        y = np.asarray(embed(x))
        seconds = time.perf_counter() - start
        report["runs"][name] = {"seconds": round(seconds, 2),
                                "trustworthiness": round(float(trustworthiness(x.numpy(), y, n_neighbors=5)), 4)}
        print(name, report["runs"][name], flush=True)
    reference = report["runs"]["sklearn_barnes_hut_1000"]["trustworthiness"]
    for run in report["runs"].values():
        run["equal_quality"] = run["trustworthiness"] >= reference - TOLERANCE
    print(json.dumps(report, indent=1))
    if args.record:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"{report['date']}-tsne-cost-cpu.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


if __name__ == "__main__":
    main()
