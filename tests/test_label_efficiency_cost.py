"""benchmarks/label_efficiency_cost.py: the cost of the label-efficiency curve against one full probe.

Run here on small synthetic features (a stand-in for the real CIFAR-10 features the benchmark
extracts), so only the bookkeeping is checked: which probes are fitted and how they are counted.
"""

from __future__ import annotations

import torch

from benchmarks import label_efficiency_cost as cost


def _features(n_per_class: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(3).repeat_interleave(n_per_class)
    return torch.randn(len(labels), 8, generator=g) + 5 * torch.nn.functional.one_hot(labels, 8), labels


def test_counts_every_probe_of_the_curve_both_ways_and_the_full_probe():
    xtr, ytr = _features(40, seed=0)
    xte, yte = _features(10, seed=1)
    report = cost.measure(xtr, ytr, xte, yte, per_class=(2, 5, 40), draws=2)
    curve = report["curve"]
    assert curve["per_class"] == [2, 5], "a budget as large as a class is the full probe, not a point of the curve"
    assert curve["probes"] == 4 and curve["separate"]["lbfgs_runs"] == 4 and curve["joint"]["lbfgs_runs"] == 1
    assert all(e >= 1 for e in curve["separate"]["evaluations_per_probe"]) and report["full_probe"]["evaluations"] >= 1
    assert report["evaluations_ratio_joint_to_full"] == round(curve["joint"]["evaluations"]
                                                              / report["full_probe"]["evaluations"], 2)
    assert curve["largest_difference_points"] <= 0.1  # one problem, the same optima
    assert report["full_probe"]["accuracy"] > 0.9  # the classes are separable
    assert report["full_probe"]["host_syncs_per_evaluation"] > 0


def test_the_counter_puts_lbfgs_back():
    original = torch.optim.LBFGS.step
    with cost.EvaluationCounter():
        assert torch.optim.LBFGS.step is not original
    assert torch.optim.LBFGS.step is original
