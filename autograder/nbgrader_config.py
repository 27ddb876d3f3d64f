"""The course's one nbgrader configuration, built in Python and handed to nbgrader's API.

Both ``build`` (generate_assignment) and ``grade`` (autograde, feedback) use it, so the two can
never disagree. It is a function rather than an ``nbgrader_config.py`` file on purpose: a broken
config file is logged and then silently ignored by nbgrader.
"""

from __future__ import annotations

from pathlib import Path

from traitlets.config import Config

#: What a student sees in place of the reference code and the model answers.
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"
#: Seconds a single cell may run while grading (grading mode is small; real runs never hit it).
CELL_TIMEOUT = 120


def nbgrader_config(course_root: Path, cell_timeout: int = CELL_TIMEOUT) -> Config:
    """nbgrader settings for a course directory at ``course_root``."""
    c = Config()
    c.CourseDirectory.root = str(course_root)
    c.CourseDirectory.db_url = f"sqlite:///{Path(course_root) / 'gradebook.db'}"
    c.ClearSolutions.code_stub = {"python": CODE_STUB}
    c.ClearSolutions.text_stub = TEXT_STUB
    c.ClearSolutions.enforce_metadata = True
    c.Execute.timeout = cell_timeout
    c.Execute.interrupt_on_timeout = True
    c.Execute.raise_on_iopub_timeout = False
    c.Execute.allow_errors = True
    c.NbGraderAPI.log_level = "WARN"
    c.GenerateFeedback.preprocessors = [
        "nbgrader.preprocessors.GetGrades",
        "nbgrader.preprocessors.ClearHiddenTests",
        "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    ]
    return c


def put_venv_on_path() -> None:
    """nbgrader shells out to ``alembic`` when it creates a gradebook, so the ``bin/`` of this
    Python's environment must be on PATH even when the tools are called without activating it."""
    import os
    import sys

    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
