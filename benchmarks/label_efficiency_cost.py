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
(kernel launches and waits), not by the number of images. The curve is fitted both ways: as one
problem (what the notebooks do) and one probe at a time (as before), with each probe's accuracy
both ways, so that the joint fit is checked against separate fits; and the host syncs and aten
calls per evaluation of the full probe are counted.

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


def measure(xtr, ytr, xte, yte, per_class=PER_CLASS, draws: int = DRAWS, count_syncs: bool = True) -> dict:
    """Seconds and L-BFGS evaluations of one full probe and of the label-efficiency curve, two ways.

    The curve is fitted as the notebooks fit it on a GPU (``probe.label_efficiency_many`` with
    ``joint=True``: all its probes as one problem, one L-BFGS run) and, on the same subsets, one
    ``probe.linear_probe`` per subset (as before, and as on a CPU), so each joint accuracy can be
    compared with its own fit.

    Args:
        xtr: ``[N, D]`` training features; ``ytr`` ``[N]`` their labels.
        xte: ``[M, D]`` test features; ``yte`` ``[M]``.
        per_class: the curve's budgets.
        draws: random subsets per budget.
        count_syncs: also count the host syncs of the full probe per L-BFGS evaluation
            (:mod:`benchmarks.host_syncs`; a separate, untimed fit).

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
    subsets = probe.label_subsets(ytr, per_class, draws, seed=0)
    with EvaluationCounter() as separate_count:
        start = time.perf_counter()
        separate = [probe.linear_probe(xtr[index], ytr[index], xte, yte, device) for _, index in subsets]
        seconds_separate = time.perf_counter() - start
    with EvaluationCounter() as joint_count:
        start = time.perf_counter()
        curve = probe.label_efficiency_many({"": (xtr, ytr, xte, yte)}, per_class=per_class, draws=draws, device=device,
                                            seed=0, joint=True)[""]
        seconds_joint = time.perf_counter() - start
    joint = [a for accuracies in curve.values() for a in accuracies]
    report = {
        "full_probe": {"images": len(ytr), "seconds": round(seconds_full, 2), "evaluations": sum(full_count.evaluations),
                       "accuracy": round(full, 4)},
        "curve": {"per_class": list(curve), "draws": draws, "probes": len(subsets),
                  "joint": {"lbfgs_runs": len(joint_count.evaluations), "seconds": round(seconds_joint, 2),
                            "evaluations": sum(joint_count.evaluations),
                            "accuracies": {str(k): [round(x, 4) for x in a] for k, a in curve.items()},
                            "mean_accuracy": {str(k): round(statistics.mean(a), 4) for k, a in curve.items()}},
                  "separate": {"lbfgs_runs": len(separate_count.evaluations), "seconds": round(seconds_separate, 2),
                               "evaluations": sum(separate_count.evaluations),
                               "evaluations_per_probe": separate_count.evaluations,
                               "accuracies": [round(x, 4) for x in separate]},
                  "largest_difference_points": round(100 * max(abs(a - b) for a, b in zip(joint, separate)), 3)},
        "evaluations_ratio_separate_to_full": round(sum(separate_count.evaluations) / sum(full_count.evaluations), 2),
        "evaluations_ratio_joint_to_full": round(sum(joint_count.evaluations) / sum(full_count.evaluations), 2),
        "cpu_seconds_ratio_joint_to_separate": round(seconds_joint / seconds_separate, 2),
    }
    if count_syncs:
        from .host_syncs import HostSyncCounter

        with EvaluationCounter() as counted, HostSyncCounter() as counter:
            counter.mark("fit")
            probe.linear_probe(xtr, ytr, xte, yte, device)
        report["full_probe"]["host_syncs_per_evaluation"] = round(counter.syncs("fit") / sum(counted.evaluations), 2)
        report["full_probe"]["aten_calls_per_evaluation"] = round(counter.aten["fit"] / sum(counted.evaluations), 1)
    return report


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
