"""benchmarks/simclr_speed.py runs end to end on the CPU (quick mode, synthetic data)."""

from __future__ import annotations

import json

from benchmarks import simclr_speed


def test_quick_seed_pipeline_measurement(capsys):
    simclr_speed.main(["--quick", "--skip-batched", "--seed-images", "200", "--seed-batches", "1"])
    out = capsys.readouterr().out
    report = json.loads(out[out.index("{"):])
    assert report, "the benchmark prints a JSON report"
