"""``python -m autograder publish DIR``: the student-facing repository tree.

DIR receives exactly what students may see, laid out as the public repository named in
``course.toml``::

    DIR/README.md                      how to open, run and submit (generated)
    DIR/notebooks/NN_name.ipynb        the release notebooks (the Colab badges point here)
    DIR/shared/                        the helper package `selfsup` (pip install from here)
    DIR/.github/workflows/             per-repository feedback: classroom.yml (a copy of this
                                       repository's) and feedback.yml, which runs it on every push
                                       of a repository made from the tree; no secret needed

Run ``make release`` first: publish copies the committed release, it does not rebuild it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from . import course as course_mod
from .build import BADGE_TEMPLATE, notebook_path_in_public_repo

STUDENT_README = """\
# Self-supervised learning on CIFAR-10

Three notebooks. Open each one in Colab with its badge, pick a GPU runtime
(*Runtime > Change runtime type > T4 GPU*) and run the first cell: it installs the course
helper package `selfsup` from this repository (torch is already on Colab and is not reinstalled).

{rows}

How to work:
1. Fill in every `YOUR CODE HERE` and run the check cell under it: it tells you what is wrong.
2. Answer the written questions in the cells marked `YOUR ANSWER HERE`.
3. Run the last cell of the notebook: it checks that every graded cell is still there exactly
   once (Colab lets you delete or split them by accident) and downloads the notebook.
   Submit that file, whatever name it gets.

Do not delete, split or copy the locked check cells: the autograder needs each of them exactly once.

If you work in a repository made from this one, every push runs the public checks of your notebooks
(the *Actions* tab, workflow *Feedback*): quick feedback, not your grade.
"""

_EXCLUDE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
CLASSROOM = course_mod.ROOT / ".github" / "workflows" / "classroom.yml"
#: The caller of the reusable feedback workflow in a student repository (see docs/grading.md).
FEEDBACK_WORKFLOW = """\
# Feedback from the public checks on every push (not the grade): see classroom.yml. No secret needed.
name: Feedback
on: [push, workflow_dispatch]
permissions:
  contents: read
jobs:
  feedback:
    uses: ./.github/workflows/classroom.yml
"""


def publish(target: Path) -> list[Path]:
    """Write the public tree to ``target`` (replacing its notebooks/ and shared/); return the paths written."""
    course = course_mod.load_course()
    names = course_mod.assignments()
    missing = [n for n in names if not (course_mod.RELEASE / n / f"{n}.ipynb").exists()]
    if missing:
        raise FileNotFoundError(f"no release notebook for {missing}: run `make release` first")
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    notebooks = target / "notebooks"
    if notebooks.exists():
        shutil.rmtree(notebooks)
    notebooks.mkdir()
    for name in names:
        dest = target / notebook_path_in_public_repo(name)
        shutil.copy2(course_mod.RELEASE / name / f"{name}.ipynb", dest)
        written.append(dest)
    helper = target / "shared"
    if helper.exists():
        shutil.rmtree(helper)
    shutil.copytree(course_mod.HELPER, helper, ignore=_EXCLUDE)
    written.append(helper)
    rows = "\n".join(f"- `{name}`: " + BADGE_TEMPLATE.format(url=course.colab_url(notebook_path_in_public_repo(name)))
                     for name in names)
    workflows = target / ".github" / "workflows"
    workflows.mkdir(parents=True, exist_ok=True)
    shutil.copy2(CLASSROOM, workflows / "classroom.yml")
    (workflows / "feedback.yml").write_text(FEEDBACK_WORKFLOW, encoding="utf-8")
    written += [workflows / "classroom.yml", workflows / "feedback.yml"]
    readme = target / "README.md"
    readme.write_text(STUDENT_README.format(rows=rows), encoding="utf-8")
    written.append(readme)
    return written
