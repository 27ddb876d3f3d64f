"""How the catalogue tests use the checks: one exercise, three passes (see ``selfsup.checks._core``).

* :func:`accepts`: a correct variant passes the public check, the hidden test of the graded cell
  (``strict=True``) and the grader's re-check (public judge + reference) on several probe seeds;
* :func:`rejects`: a known-wrong variant fails the re-check, with the message that names the mistake;
* :func:`public_rejects`: the public check a student runs already teaches the mistake.

The re-check runs here without its process boundary (:func:`autograder.judges.in_process`): the
same inputs, run, plain outputs and judges; ``test_grading_recheck.py`` covers the boundary.
"""

from __future__ import annotations

import re

import pytest
from selfsup.checks import MODULES, CheckFailed

from autograder import judges

#: Probe seeds of the re-check in the catalogue tests (a grading run draws its own).
SEEDS = (2024, 7)


def _check(test: str):
    """The public check function of a test cell, e.g. ``check_rotation_dataset``."""
    module = next(m for m in MODULES.values() if any(e.test == test for e in m.EXERCISES))
    return getattr(module, f"check_{test.removeprefix('test_')}")


def accepts(test: str, obj) -> None:
    check = _check(test)
    check(obj)
    check(obj, strict=True)
    for seed in SEEDS:
        verdict = judges.in_process(test, obj, seed)
        assert verdict.passed, f"seed {seed}: {verdict.message}"


def rejects(test: str, obj, match: str) -> None:
    verdict = judges.in_process(test, obj, SEEDS[0])
    assert not verdict.passed, f"{getattr(obj, '__name__', obj)} passed the re-check"
    assert verdict.message.startswith(f"[{judges.exercise(test).name}]"), verdict.message
    assert re.search(match, verdict.message), f"{match!r} not in {verdict.message!r}"


def public_rejects(test: str, obj, match: str) -> None:
    with pytest.raises(CheckFailed, match=match):
        _check(test)(obj)
