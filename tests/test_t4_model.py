"""benchmarks/t4_model.py: the per-section T4 model's arithmetic and bookkeeping (no measured numbers)."""

from __future__ import annotations

import pytest

from benchmarks import t4_model
from benchmarks.methods import METHODS


def test_the_slower_of_host_and_gpu_counts_plus_the_cpu_only_part():
    section = t4_model.Section("x", host=2.0, gpu_busy=0.1, cpu_only=1.0)
    assert t4_model.section_seconds(section, gpu_ratio=10) == pytest.approx(2.0 + 1.0)  # host-bound
    assert t4_model.section_seconds(section, gpu_ratio=50) == pytest.approx(5.0 + 1.0)  # GPU-bound
    assert t4_model.section_seconds(section, gpu_ratio=10, host_ratio=2) == pytest.approx(4.0 + 2.0)
    with pytest.raises(ValueError):
        t4_model.section_seconds(t4_model.Section("x", host=-1.0, gpu_busy=0.0))


def test_the_ratio_is_the_larger_of_the_data_sheet_ratios():
    assert t4_model.GPU_RATIO == max(r for r, _ in t4_model.RATIOS.values())
    assert 14 < t4_model.GPU_RATIO < 16


def _record(smoke=False):
    method = {"batch_size": 250, "host_ms_per_step": 2.0, "gpu_busy_ms_per_step": 0.5}
    return {"smoke": smoke, "methods": {m: dict(method) for m in METHODS},
            "probes": {"01_pretext_tasks": {"joint_seconds": 3.0}, "02_simclr": {"joint_seconds": 1.0}},
            "tsne": {"sklearn_1000_cpu": {"seconds": 9.0}, "selfsup_tsne_cuda": {"seconds": 0.5}}}


def test_estimate_assembles_each_section_from_its_runs():
    settings = {"01_pretext_tasks": {"NUM_EPOCHS": 10}, "02_simclr": {"NUM_EPOCHS": 10, "ABLATION_EPOCHS": 2}}
    out = t4_model.estimate(_record(), settings, gpu_ratio=10)
    steps = 10 * 50_000 // 250
    assert out["01_pretext_tasks"]["Part 1 - Baselines"] == pytest.approx(max(steps * 2e-3, steps * 5e-4 * 10))
    assert out["02_simclr"]["Part 8 - Bonus"] == pytest.approx(4 * 2 / 10 * out["02_simclr"]["Part 4 - Training"])
    assert out["01_pretext_tasks"]["Part 5 - Comparison"] == pytest.approx(5 * 0.5)
    with pytest.raises(ValueError, match="smoke"):
        t4_model.estimate(_record(smoke=True), settings)
