"""benchmarks/device_speed.py end to end on the CPU (--smoke): every part runs and is recorded.

The GPU-only fields (CUDA events, profiler, sync debug mode) stay null here; on a GPU
``benchmarks/device_speed.sh`` fills them.
"""

from __future__ import annotations

import json

import pytest
import torch

from benchmarks import device_speed
from benchmarks.methods import METHODS
from selfsup import probe


def test_newton_probe_reaches_the_lbfgs_probe():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 8, generator=g)
    y, yt = torch.randint(0, 4, (400,), generator=g), torch.randint(0, 4, (200,), generator=g)
    x, xt = centres[y] + torch.randn(400, 8, generator=g), centres[yt] + torch.randn(200, 8, generator=g)
    accuracy, objective = device_speed.newton_probe(x, y, xt, yt, torch.device("cpu"))
    assert accuracy == pytest.approx(probe.linear_probe(x, y, xt, yt, torch.device("cpu")), abs=0.006)
    assert objective == sorted(objective, reverse=True) and objective[-2] - objective[-1] < 1e-5


@pytest.mark.integration
def test_smoke_run_records_every_method_probe_and_tsne(tmp_path, monkeypatch):
    out = tmp_path / "speed.json"
    monkeypatch.setenv("SELFSUP_MODE", "full")  # main() sets it for its run; restored for the tests after this one
    monkeypatch.delenv("SELFSUP_DATA", raising=False)
    device_speed.main(["--smoke", "--out", str(out)])
    report = json.loads(out.read_text())
    assert report["smoke"] and set(report["methods"]) == set(METHODS)
    assert all(row["host_ms_per_step"] > 0 and row["ms_per_step"] is None for row in report["methods"].values())
    assert report["probes"]["01_pretext_tasks"]["representations"] == 5
    assert report["probes"]["01_pretext_tasks"]["largest_difference_points"] <= 0.5
    assert 0 < report["tsne"]["selfsup_tsne_cpu"]["trustworthiness"] <= 1
