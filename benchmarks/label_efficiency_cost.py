"""What the label-efficiency curve costs, against one linear probe on every label, on real CIFAR-10.

The notebooks' label-efficiency parts (``selfsup.probe.label_efficiency``) fit the linear probe
``draws`` times at each budget of labelled images per class, re-using features they already
extracted. This script extracts the features of a randomly initialised SmallConvNet (seed 0) for
the full train and test splits (:func:`benchmarks.probe_agreement.random_init_features`), then
times, on the CPU:

- one probe on all 50,000 labels (what Part 5 of Notebooks 1 and 2 fits per method);
- the curve at the notebooks' full-mode budgets (10, 100, 1,000 per class, 3 draws).

It also counts the probes' L-BFGS function evaluations (one forward and backward pass over the
labelled features each). On a GPU these small problems are bound by the number of evaluations
(kernel launches), not by the number of images, so the ratio of evaluations is the basis of the
estimate for a T4; on the CPU the cost follows the images. Both ratios are recorded, with each
budget's accuracies (a by-product: the random-init floor on real data).

    python -m benchmarks.label_efficiency_cost --data .data/cifar10 --record
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import time

from benchmarks.probe_agreement import arguments, random_init_features, show

PER_CLASS = (10, 100, 1000)
DRAWS = 3


class EvaluationCounter:
    """Counts L-BFGS function evaluations of every probe fitted while it is active.

    ``torch.optim.LBFGS`` keeps the running count in ``state[first param]["func_evals"]``; the
    counter wraps ``LBFGS.step`` to read it after each fit.
    """

    def __init__(self):
        self.evaluations: list[int] = []

    def __enter__(self):
        import torch

        self._step = original = torch.optim.LBFGS.step
        counter = self

        def step(optimizer, closure):
            loss = original(optimizer, closure)
            counter.evaluations.append(int(optimizer.state[optimizer._params[0]]["func_evals"]))
            return loss

        torch.optim.LBFGS.step = step
        return self

    def __exit__(self, *exc):
        import torch

        torch.optim.LBFGS.step = self._step


def measure(xtr, ytr, xte, yte, per_class=PER_CLASS, draws: int = DRAWS) -> dict:
    """Seconds and L-BFGS evaluations of one full probe and of the label-efficiency curve.

    Args:
        xtr: ``[N, D]`` training features; ``ytr`` ``[N]`` their labels.
        xte: ``[M, D]`` test features; ``yte`` ``[M]``.
        per_class: the curve's budgets.
        draws: random subsets per budget.

    Returns:
        the measurement (seconds, evaluations, accuracies, ratios).
    """
    import torch

    from selfsup import probe

    device = torch.device("cpu")
    with EvaluationCounter() as full_count:
        start = time.perf_counter()
        full = probe.linear_probe(xtr, ytr, xte, yte, device)
        seconds_full = time.perf_counter() - start
    with EvaluationCounter() as curve_count:
        start = time.perf_counter()
        curve = probe.label_efficiency(xtr, ytr, xte, yte, per_class=per_class, draws=draws, device=device, seed=0)
        seconds_curve = time.perf_counter() - start
    return {
        "full_probe": {"images": len(ytr), "seconds": round(seconds_full, 2), "evaluations": sum(full_count.evaluations),
                       "accuracy": round(full, 4)},
        "curve": {"per_class": list(curve), "draws": draws, "probes": len(curve_count.evaluations),
                  "seconds": round(seconds_curve, 2), "evaluations": sum(curve_count.evaluations),
                  "evaluations_per_probe": curve_count.evaluations,
                  "mean_accuracy": {str(k): round(statistics.mean(a), 4) for k, a in curve.items()},
                  "accuracies": {str(k): [round(x, 4) for x in a] for k, a in curve.items()}},
        "cpu_seconds_ratio": round(seconds_curve / seconds_full, 2),
        "evaluations_ratio": round(sum(curve_count.evaluations) / sum(full_count.evaluations), 2),
    }


def main(argv: list[str] | None = None) -> dict:
    args = arguments(__doc__, argv)
    import torch

    xtr, ytr, xte, yte, seconds_features = random_init_features(args.data)
    report = {
        "what": "label-efficiency curve (selfsup.probe.label_efficiency at 10/100/1,000 labelled images per class, "
                "3 draws) against one linear probe on all labels, features of a random-init SmallConvNet (seed 0) "
                "on CIFAR-10, a JPEG copy (pixels differ slightly from torchvision's)",
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.node()} ({os.cpu_count()} CPU cores), CPU only",
        "load_average_1min_at_start": round(os.getloadavg()[0], 2),
        "command": "python -m benchmarks.label_efficiency_cost --data .data/cifar10 --record",
        "torch": torch.__version__,
        "seconds_features": round(seconds_features, 1),
        **measure(xtr, ytr, xte, yte),
    }
    return show(report, "label-efficiency-cost-cpu" if args.record else None)


if __name__ == "__main__":
    main()
