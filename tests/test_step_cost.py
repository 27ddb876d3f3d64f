"""benchmarks/step_cost.py on a few steps: it records every field it promises (no timing is checked)."""

from __future__ import annotations

import json

import torch

from benchmarks import step_cost


def test_a_short_run_records_host_time_aten_calls_and_syncs(tmp_path):
    out = tmp_path / "cost.json"
    threads = torch.get_num_threads()
    try:
        step_cost.main(["--methods", "supervised", "rotation", "--batch", "8", "--steps", "2", "--warmup", "1",
                        "--count-steps", "3", "--skip-crop-modes", "--threads", "1", "--out", str(out)])
    finally:
        torch.set_num_threads(threads)
    report = json.loads(out.read_text())
    assert report["kind"] == "step-cost" and report["threads"] == 1 and "simclr_crop_modes" not in report
    for name in ("supervised", "rotation"):
        row = report["methods"][name]
        assert row["host_ms_per_step"] > 0 and row["host_cpu_ms_per_step"] >= 0 and row["aten_calls_per_step"] > 0
        assert row["syncs_per_step"] == 0 and row["pretext_loader"] == "DeviceLoader"
