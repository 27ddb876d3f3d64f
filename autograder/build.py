"""``python -m autograder build``: source/*.py -> release/ (students) and solutions/ (instructors).

1. Every source is read and validated first (:mod:`autograder.source`); a malformed one stops
   the build before anything is written.
2. The build adds the Open-in-Colab badge and the setup cell, and gives every cell a stable id.
3. nbgrader's ``generate_assignment`` runs in a throw-away course directory and writes the
   student version (solutions replaced by stubs, hidden tests removed, graded cells locked).
4. The solutions keep the reference code and lose the markers and the hidden tests.
5. Both trees are staged in a temporary folder first, so a build that fails (a malformed source,
   nbgrader) writes nothing; the staged notebooks are then copied over ``release/`` and
   ``solutions/`` one by one (not atomically). Outputs are byte-for-byte reproducible.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
from pathlib import Path

import nbformat

from . import course as course_mod
from .nbgrader_config import nbgrader_config, put_venv_on_path
from .source import (
    BEGIN_HIDDEN,
    BEGIN_SOLUTION,
    END_HIDDEN,
    END_SOLUTION,
    cell_id,
    graded_cells,
    read_source,
    strip_block,
)

SETUP_TEMPLATE = '''\
# Setup: run this cell first. (Written by the course build; the same in every notebook.)
# On Colab it installs the course helper package `selfsup`; torch is already there and is never reinstalled.
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "{requirement}"], check=True)

from selfsup import runtime

SEED = runtime.setting("SEED", full=0, grading=0)  # override with the environment variable SELFSUP_SEED
DEVICE = runtime.setup(SEED)  # seeds everything, prints mode and device'''

SUBMIT_TEMPLATE = """\
# Before you submit: check that every graded cell is here exactly once (Colab lets you delete or split
# them by accident). On Colab this then downloads the notebook for you. (Written by the course build.)
from selfsup import submission

submission.check_notebook({name!r}, expected={expected!r})"""

BADGE_TEMPLATE = "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


def notebook_path_in_public_repo(name: str) -> str:
    """Where a release notebook lives in the published tree (see :mod:`autograder.publish`)."""
    return f"notebooks/{name}.ipynb"


def prepare(name: str, course: course_mod.Course, source_dir: Path = course_mod.SOURCE) -> nbformat.NotebookNode:
    """The nbgrader source notebook of ``source/<name>.py``: badge, setup cell, stable ids."""
    nb = read_source(source_dir / f"{name}.py")
    badge = nbformat.v4.new_markdown_cell(BADGE_TEMPLATE.format(url=course.colab_url(notebook_path_in_public_repo(name))))
    setup = nbformat.v4.new_code_cell(SETUP_TEMPLATE.format(requirement=course.helper_requirement))
    setup.metadata["nbgrader"] = {"grade": False, "grade_id": "setup", "locked": True, "schema_version": 3,
                                  "solution": False, "task": False}
    first_code = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
    nb.cells.insert(first_code, setup)
    nb.cells.insert(0, badge)
    expected = [g.grade_id for g in graded_cells(nb)]
    submit = nbformat.v4.new_code_cell(SUBMIT_TEMPLATE.format(name=name, expected=expected))
    submit.metadata["nbgrader"] = {"grade": False, "grade_id": "submission_check", "locked": True,
                                   "schema_version": 3, "solution": False, "task": False}
    nb.cells.append(submit)
    taken: set[str] = set()
    for cell in nb.cells:
        cell.id = cell_id(cell, taken)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def solution_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The instructors' solution: reference code kept, markers and hidden tests removed."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        source = strip_block(cell.source, BEGIN_SOLUTION, END_SOLUTION, keep_inside=True)
        cell.source = strip_block(source, BEGIN_HIDDEN, END_HIDDEN, keep_inside=False)
        cell.metadata = {}
    return nb


def write_notebook(nb: nbformat.NotebookNode, path: Path) -> None:
    """Write ``nb`` in nbformat's canonical JSON (sorted keys, one-space indent, final newline)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.validate(nb)
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")


def normalize_release(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop what nbgrader or jupytext leave that is not the student's business (and not stable)."""
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    return nb


def generate_assignments(sources: dict[str, nbformat.NotebookNode], course_root: Path) -> dict[str, nbformat.NotebookNode]:
    """Run nbgrader's generate_assignment for each notebook in a course directory at ``course_root``.

    Returns:
        ``{name: release notebook}``.

    Raises:
        RuntimeError: with nbgrader's log, if nbgrader fails.
    """
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    put_venv_on_path()
    for name, nb in sources.items():
        write_notebook(nb, course_root / "source" / name / f"{name}.ipynb")
    config = nbgrader_config(course_root)
    api = NbGraderAPI(CourseDirectory(config=config), config=config)
    releases = {}
    for name in sources:
        result = api.generate_assignment(name, force=True, create=True)
        if not result["success"]:
            raise RuntimeError(f"nbgrader generate_assignment failed for {name}:\n{result.get('log', '')}\n{result.get('error', '')}")
        path = course_root / "release" / name / f"{name}.ipynb"
        releases[name] = normalize_release(nbformat.read(path, as_version=4))
    return releases


def build(names: list[str] | None = None, release_dir: Path = course_mod.RELEASE,
          solutions_dir: Path = course_mod.SOLUTIONS, source_dir: Path = course_mod.SOURCE) -> list[Path]:
    """Build the release and the solutions of ``names`` (default: every source notebook).

    Returns:
        The paths written.
    """
    course = course_mod.load_course()
    names = names or course_mod.assignments()
    sources = {name: prepare(name, course, source_dir) for name in names}  # validates everything first
    written = []
    with tempfile.TemporaryDirectory(prefix="selfsup-build-") as tmp:
        tmp = Path(tmp)
        releases = generate_assignments(sources, tmp / "course")
        staged_release, staged_solutions = tmp / "release", tmp / "solutions"
        for name in names:
            write_notebook(releases[name], staged_release / name / f"{name}.ipynb")
            write_notebook(solution_notebook(sources[name]), staged_solutions / f"{name}.ipynb")
        for name in names:
            target = release_dir / name
            if target.exists():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(staged_release / name, target)
            written.append(target / f"{name}.ipynb")
            solutions_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy2(staged_solutions / f"{name}.ipynb", solutions_dir / f"{name}.ipynb")
            written.append(solutions_dir / f"{name}.ipynb")
    return written
