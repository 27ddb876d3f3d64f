"""Autograde notebooks with nbgrader's Python API, in a throw-away course directory.

This is the in-kernel pass: nbgrader restores the locked test cells from the gradebook
(hidden tests included), runs the notebook in grading mode and scores each test cell.
One :class:`Autograder` amortises nbgrader's start-up over many submissions. With ``limits``
its kernels run under :mod:`.execute` (time, memory and output limits, and the isolation of
:mod:`.isolation`); with ``template`` it copies a course directory built earlier instead of
building one (what the grading workers do: the gradebook is generated once per batch).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .. import course as course_mod
from ..build import generate_assignments, prepare
from ..nbgrader_config import nbgrader_config, put_venv_on_path


@dataclass(frozen=True)
class CellScore:
    """nbgrader's result for one graded cell."""

    grade_id: str
    score: float
    max_score: float
    needs_manual_grade: bool


class Autograder:
    """A course directory with the gradebook of ``assignments`` generated from ``source/``.

    Args:
        root: an empty (or missing) folder to hold the course directory.
        assignments: notebook names, e.g. ``["01_pretext_tasks"]``.
        cell_timeout: seconds a cell may run before nbgrader interrupts it.
        source_dir: where ``NN_name.py`` sources live.
        limits: grading limits (:class:`.limits.Limits`); their cell time-out wins over
            ``cell_timeout``. Without limits, kernels run as nbgrader starts them (building).
        isolation: how kernels are isolated (:class:`.isolation.Isolation`; with ``limits``).
        template: a course directory made by an earlier :class:`Autograder` of the same
            assignments, copied instead of generating the assignments again.
    """

    def __init__(self, root: Path, assignments: list[str], cell_timeout: int | None = None,
                 source_dir: Path = course_mod.SOURCE, limits=None, isolation=None,
                 template: Path | None = None):
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory

        put_venv_on_path()
        self.root = Path(root)
        self.assignments = list(assignments)
        if template is not None:
            shutil.copytree(template, self.root, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("submitted", "autograded", "feedback"))
        else:
            course = course_mod.load_course()
            sources = {name: prepare(name, course, source_dir) for name in assignments}
            generate_assignments(sources, self.root)
        kwargs = {} if cell_timeout is None else {"cell_timeout": cell_timeout}
        self.config = nbgrader_config(self.root, **kwargs)
        if limits is not None:
            from .execute import configure
            from .isolation import NONE, Isolation

            (self.root / "kernels").mkdir(parents=True, exist_ok=True)
            configure(self.config, limits, isolation or Isolation(NONE), self.root / "kernels")
        self.api = NbGraderAPI(CourseDirectory(config=self.config), config=self.config)

    def release(self, assignment: str) -> nbformat.NotebookNode:
        """The release notebook nbgrader generated for ``assignment`` (what students start from)."""
        return nbformat.read(self.root / "release" / assignment / f"{assignment}.ipynb", as_version=4)

    def autograde(self, assignment: str, student: str, notebook: Path | nbformat.NotebookNode) -> dict[str, CellScore]:
        """Autograde one student's notebook of ``assignment``; return its scores by grade id.

        Raises:
            RuntimeError: with nbgrader's log, if nbgrader could not grade it at all.
        """
        target = self.root / "submitted" / student / assignment / f"{assignment}.ipynb"
        if target.parent.exists():
            shutil.rmtree(target.parent)
        target.parent.mkdir(parents=True)
        if isinstance(notebook, nbformat.NotebookNode):
            nbformat.write(notebook, target)
        else:
            shutil.copy(notebook, target)
        result = self.api.autograde(assignment, student, force=True, create=True)
        if not result["success"]:
            raise RuntimeError(f"nbgrader autograde failed for {student}/{assignment}:\n"
                               f"{result.get('log', '')}\n{result.get('error', '')}")
        return self.scores(assignment, student)

    def scores(self, assignment: str, student: str) -> dict[str, CellScore]:
        """The gradebook's scores of one autograded notebook."""
        from nbgrader.api import Gradebook

        with Gradebook(self.config.CourseDirectory.db_url) as gb:
            nb = gb.find_submission_notebook(assignment, assignment, student)
            return {g.name: CellScore(g.name, float(g.score or 0.0), float(g.max_score), bool(g.needs_manual_grade))
                    for g in nb.grades}

    def forget(self, assignment: str, student: str) -> None:
        """Remove a student's submitted and autograded notebooks from the course directory."""
        for stage in ("submitted", "autograded"):
            shutil.rmtree(self.root / stage / student / assignment, ignore_errors=True)

    def autograded_notebook(self, assignment: str, student: str) -> nbformat.NotebookNode:
        """The executed notebook that autograde wrote (outputs included)."""
        path = self.root / "autograded" / student / assignment / f"{assignment}.ipynb"
        return nbformat.read(path, as_version=4)
