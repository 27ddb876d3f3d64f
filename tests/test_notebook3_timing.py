"""benchmarks/full_size_models.py and benchmarks/notebook3_timing.py (Notebook 3's running time).

The full-size models are only counted here (built on PyTorch's meta device: no memory, no
numbers); their sizes are checked against the papers. The timing script runs end to end on the
CPU with TINY random-weight models and a small synthetic pack: a check of the code path, whose
record is marked as a stand-in and can never become a README table.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks/ scripts live at the repo root

from autograder import results as R  # noqa: E402
from benchmarks import full_size_models, notebook3_timing  # noqa: E402
from selfsup import data, hub  # noqa: E402


def _parameters(module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name, published, part", [
    # DINOv2 ViT-S/14: 21M parameters (Oquab et al., 2024, Table of distilled models)
    ("dinov2", 21e6, lambda m: m),
    # DeiT-S: 22M parameters (Touvron et al., 2021, Table 1), backbone and ImageNet head
    ("supervised", 22e6, lambda m: m),
    # MAE's encoder is a ViT-B/16: 86M parameters (Dosovitskiy et al., 2021, Table 1)
    ("mae", 86e6, lambda m: m.vit),
])
def test_full_size_configs_have_the_published_sizes(name, published, part):
    with torch.device("meta"):
        model = full_size_models.build(name)
    assert abs(_parameters(part(model)) - published) / published < 0.06
    assert type(model) is hub._classes(name)[2]  # the class from_pretrained builds in the notebook


def test_full_size_configs_match_the_notebook_loaders_assumptions():
    for name, spec in hub.MODELS.items():
        values = full_size_models.CONFIGS[name].values
        assert values["patch_size"] == spec.patch_size
        assert full_size_models.CONFIGS[name].source  # every configuration says where it was read
    with pytest.raises(ValueError, match="full' or 'tiny"):
        full_size_models.config("mae", size="huge")


def test_the_cache_is_read_offline_by_the_notebooks_loader(tmp_path, monkeypatch):
    written = full_size_models.write_hub_cache(tmp_path, size="tiny")
    assert [w["hub_id"] for w in written] == [hub.MODELS[n].repo_id for n in full_size_models.CONFIGS]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in full_size_models.CONFIGS:
        model = hub.load_model(name, stand_in=False, cache=tmp_path)
        assert not model.is_stand_in and model.hub_name == hub.MODELS[name].repo_id


@pytest.fixture
def small_pack(tmp_path):
    """A SYNTHETIC decoded pack (random CIFAR-shaped images): the code path only, never a measurement."""
    x_train, y_train = data.synthetic_cifar(200, seed=3)
    x_test, y_test = data.synthetic_cifar(100, seed=4)
    np.savez(tmp_path / "cifar10_uint8.npz", x_train=x_train.numpy(), y_train=y_train.numpy(),
             x_test=x_test.numpy(), y_test=y_test.numpy())
    return tmp_path


@pytest.mark.integration
def test_timing_runs_every_section_and_records_no_accuracy(small_pack, tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    out = tmp_path / "timing.json"
    argv = ["--smoke", "--model-size", "tiny", "--data", str(small_pack), "--out", str(out),
            "--set", "TRAIN_SIZE=100", "--set", "TEST_SIZE=60", "--set", "LABELS_PER_CLASS=2", "--set", "BATCH_SIZE=20"]
    assert notebook3_timing.main(argv) == 0
    record = json.loads(out.read_text())
    assert record["kind"] == R.NOTEBOOK3_KIND and record["mode"] == "full"
    assert "NOT a timing of Notebook 3" in record["stand_in"] and "TINY" in record["models_label"]
    titles = [s["title"] for s in record["sections"]]
    assert titles[1].startswith("Part 0") and any(t.startswith("Part C") for t in titles)
    assert abs(sum(s["seconds"] for s in record["sections"]) - record["seconds"]) < 0.5
    assert record["settings"]["STAND_INS"] is False and record["settings"]["TRAIN_SIZE"] == 100
    assert "results" not in record and "methods" not in record  # times only: no accuracy is read
    assert [m["hub_id"] for m in record["models"]] == [hub.MODELS[n].repo_id for n in full_size_models.CONFIGS]
    # a tiny-model record never becomes a README table, even where stand-ins are allowed
    with pytest.raises(R.ResultsError, match="timing only"):
        R.load_notebook3_timing(out, allow_stand_in=True)


def test_tiny_models_and_no_gpu_need_smoke(small_pack, capsys, monkeypatch):
    with pytest.raises(SystemExit):
        notebook3_timing.main(["--model-size", "tiny", "--data", str(small_pack)])
    assert "for --smoke runs only" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        notebook3_timing.main(["--smoke", "--data", str(small_pack), "--set", "NO_SUCH_SETTING=1"])
    assert "no notebook of this run (03_mae_dinov2) has such a setting" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert notebook3_timing.main(["--data", str(small_pack)]) == 1
        assert "needs a CUDA GPU" in capsys.readouterr().err
