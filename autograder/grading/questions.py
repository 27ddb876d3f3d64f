"""The written questions of the course: prompt, points, rubric, and the results each one is about.

A written question is an ``answer`` cell of a notebook (``# %% [markdown] answer="q_id" points=2``
in ``source/``). For grading by question the toolkit needs, per question:

* the **prompt**: the Markdown cell just before the answer cell in the release notebook, from its
  ``### Question`` heading on;
* the **points** and the **rubric**: the model answer between the solution markers in
  ``source/`` (instructors only; it never reaches students);
* the **evidence**: the code cells whose outputs the question asks about ("in your run", "look
  at the figure"). :data:`EVIDENCE` names each such cell by a piece of its code that occurs in
  exactly one code cell of the release notebook (``tests/test_grading_answers.py`` checks
  that), so the page can show that cell's outputs from the notebook the student submitted: the
  numbers and figures of their own Colab run, never those of the grader's grading-mode run.

:func:`answer_status` is the one definition of an answer "left as the template" or empty.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .. import course as course_mod
from ..source import BEGIN_SOLUTION, END_SOLUTION, read_source, strip_block
from .inputs import normalized

#: Per notebook and question, code that identifies each cell whose outputs the question asks about.
EVIDENCE: dict[str, dict[str, tuple[str, ...]]] = {
    "01_pretext_tasks": {
        "q_random_init": ("viz.bar_chart(results",),
        "q_rotation": ("viz.bar_chart(results", "viz.label_efficiency(curves"),
        "q_colorization": ('["gray"] * 8',),
        "q_label_efficiency": ("viz.label_efficiency(curves",),
    },
    "02_simclr": {
        "q_false_negatives": ("chance ranking accuracy",),
        "q_label_efficiency": ("viz.label_efficiency(curves",),
    },
    "03_mae_dinov2": {
        "q_mask_ratio": ('suptitle="MAE reconstructions"',),
        "q_mae_vs_dino": ('print("MAE features:"', "def knn_accuracy", 'display(Markdown("\\n".join(lines)))'),
        "q_attention": ('suptitle="Last-layer CLS attention, per head"', 'suptitle="Foreground from attention"'),
        "q_label_efficiency": ("viz.label_efficiency(curves",),
    },
}

ANSWERED, TEMPLATE, EMPTY, MISSING = "answered", "template", "empty", "missing"


@dataclass(frozen=True)
class Question:
    """One written question of a notebook.

    Attributes:
        assignment: the notebook, e.g. ``01_pretext_tasks``.
        grade_id: the answer cell's id, e.g. ``q_rotation``.
        number: 1 for the notebook's first written question, and so on.
        points: its maximum.
        prompt: the question as students read it (Markdown).
        rubric: the model answer from ``source/`` (Markdown).
        stub: what the release notebook's answer cell holds (``YOUR ANSWER HERE``).
        evidence: code pieces naming the cells whose outputs the question is about.
    """

    assignment: str
    grade_id: str
    number: int
    points: float
    prompt: str
    rubric: str
    stub: str
    evidence: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """``assignment/grade_id``: unique over the course."""
        return f"{self.assignment}/{self.grade_id}"


def _prompt(cell_source: str) -> str:
    match = re.search(r"^#{1,6}\s*Question\b", cell_source, flags=re.MULTILINE)
    return cell_source[match.start():].strip() if match else cell_source.strip()


@functools.lru_cache(maxsize=None)
def _questions(assignment: str, release_dir: str, source_dir: str) -> tuple[Question, ...]:
    release = nbformat.read(Path(release_dir) / assignment / f"{assignment}.ipynb", as_version=4)
    source = read_source(Path(source_dir) / f"{assignment}.py")
    rubrics = {c.metadata["nbgrader"]["grade_id"]: strip_block(c.source, BEGIN_SOLUTION, END_SOLUTION, keep_inside=True)
               for c in source.cells if c.metadata.get("nbgrader", {}).get("grade_id")}
    out = []
    for index, cell in enumerate(release.cells):
        meta = cell.metadata.get("nbgrader", {})
        if not (meta.get("grade") and meta.get("solution")):
            continue
        before = next((c.source for c in reversed(release.cells[:index]) if c.cell_type == "markdown"), "")
        gid = meta["grade_id"]
        out.append(Question(assignment, gid, len(out) + 1, float(meta.get("points", 0)), _prompt(before),
                            rubrics.get(gid, ""), cell.source, EVIDENCE.get(assignment, {}).get(gid, ())))
    return tuple(out)


def questions(assignment: str, release_dir: Path = course_mod.RELEASE,
              source_dir: Path = course_mod.SOURCE) -> list[Question]:
    """The written questions of ``assignment``, in notebook order."""
    return list(_questions(assignment, str(release_dir), str(source_dir)))


def answer_status(text: str | None, question: Question) -> tuple[str, str]:
    """``(status, why)`` of a student's answer: answered, template, empty or missing.

    ``why`` is empty for an answer, else the sentence that goes with its pre-scored 0.
    """
    if text is None:
        return MISSING, "no answer: the notebook has no answer cell for this question"
    if not normalized(text).strip():
        return EMPTY, "no answer: the answer cell is empty"
    if normalized(text).strip() == normalized(question.stub).strip():
        return TEMPLATE, f"no answer: the answer cell still holds the template ({question.stub.strip()!r})"
    return ANSWERED, ""


def answer_cells(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    """The answer cells of a (repaired) submission, by grade id."""
    out = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown" and meta.get("grade") and meta.get("solution"):
            out.setdefault(meta["grade_id"], cell)
    return out


def evidence_cells(nb: nbformat.NotebookNode, question: Question) -> list[tuple[str, nbformat.NotebookNode | None]]:
    """Per evidence piece of ``question``, the first code cell of ``nb`` that contains it (or None)."""
    out = []
    for piece in question.evidence:
        cell = next((c for c in nb.cells if c.cell_type == "code" and piece in c.source), None)
        out.append((piece, cell))
    return out
