"""Checks that students run in the notebooks, one module per notebook.

Usage in a notebook::

    from selfsup import checks
    checks.pretext.check_rotation_dataset(RotationDataset)

Every failure raises :class:`CheckFailed` (an AssertionError) whose message names the exercise
and the likely mistake. Each module lists its exercises in ``EXERCISES``
(:class:`~selfsup.checks._core.Exercise`): the grader's re-check runs the same definitions.
"""

from . import mae_dinov2, pretext, simclr
from ._core import CheckFailed, Exercise

MODULES = {module.ASSIGNMENT: module for module in (pretext, simclr, mae_dinov2)}

__all__ = ["CheckFailed", "Exercise", "MODULES", "mae_dinov2", "pretext", "simclr"]
