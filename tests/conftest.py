"""Shared fixtures. Tests run on the CPU in grading mode unless a test says otherwise."""

from __future__ import annotations

import os

os.environ.setdefault("SELFSUP_MODE", "grading")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
