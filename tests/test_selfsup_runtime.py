"""selfsup.runtime: mode detection, per-mode settings, device, seeding."""

from __future__ import annotations

import pytest
import torch

from selfsup import runtime


@pytest.mark.parametrize("env, expected", [
    ({}, "full"),
    ({"SELFSUP_MODE": "grading"}, "grading"),
    ({"SELFSUP_MODE": "GRADING"}, "grading"),
    ({"NBGRADER_EXECUTION": "autograde"}, "grading"),
    ({"NBGRADER_EXECUTION": "validate", "SELFSUP_MODE": "full"}, "grading"),
])
def test_mode(monkeypatch, env, expected):
    monkeypatch.delenv("SELFSUP_MODE", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert runtime.mode() == expected


def test_unknown_mode_is_refused(monkeypatch):
    monkeypatch.setenv("SELFSUP_MODE", "fast")
    with pytest.raises(ValueError, match="full' or 'grading"):
        runtime.mode()


def test_setting_follows_mode_and_environment(monkeypatch):
    monkeypatch.setenv("SELFSUP_MODE", "grading")
    assert runtime.setting("NUM_EPOCHS", full=10, grading=1) == 1
    monkeypatch.setenv("SELFSUP_MODE", "full")
    assert runtime.setting("NUM_EPOCHS", full=10, grading=1) == 10
    monkeypatch.setenv("SELFSUP_NUM_EPOCHS", "3")
    assert runtime.setting("NUM_EPOCHS", full=10, grading=1) == 3
    monkeypatch.setenv("SELFSUP_LR", "0.5")
    assert runtime.setting("LR", full=1e-3, grading=1e-3) == 0.5
    monkeypatch.setenv("SELFSUP_LABELS_PER_CLASS", "5, 50")
    assert runtime.setting("LABELS_PER_CLASS", full=(10, 100), grading=(2,)) == (5, 50)


def test_grading_mode_uses_the_cpu(monkeypatch):
    monkeypatch.setenv("SELFSUP_MODE", "grading")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runtime.get_device().type == "cpu"


def test_seed_everything_repeats_draws():
    runtime.seed_everything(3)
    a = torch.rand(3)
    runtime.seed_everything(3)
    assert torch.equal(a, torch.rand(3))


def test_setup_prints_one_line(capsys, monkeypatch):
    monkeypatch.setenv("SELFSUP_MODE", "grading")
    device = runtime.setup(0)
    out, err = capsys.readouterr()
    assert device.type == "cpu" and out.startswith("mode=grading") and out.count("\n") == 1 and err == ""
