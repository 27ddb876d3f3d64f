"""Public self-checks that students run in the notebooks, one module per notebook.

Usage in a notebook::

    from selfsup import checks
    checks.pretext.check_rotation_dataset(RotationDataset)

Every failure raises :class:`CheckFailed` (an AssertionError) whose message names the exercise
and the likely mistake.
"""

from . import mae_dinov2, pretext, simclr
from ._core import CheckFailed

__all__ = ["CheckFailed", "mae_dinov2", "pretext", "simclr"]
