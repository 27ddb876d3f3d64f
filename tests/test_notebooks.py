"""Each notebook end to end through nbgrader in grading mode: the solution scores full marks
with every graded cell silent, and the untouched release scores zero."""

from __future__ import annotations

import pytest

from autograder import course as course_mod
from autograder.build import prepare
from autograder.grading.autograde import Autograder
from test_full_mode import label_efficiency_cell

NAMES = course_mod.assignments()
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Autograde every notebook twice: the solution (the nbgrader source notebook) and the blank release."""
    grader = Autograder(tmp_path_factory.mktemp("course"), NAMES)
    course = course_mod.load_course()
    out = {}
    for name in NAMES:
        out[name, "solution"] = grader.autograde(name, "solution", prepare(name, course))
        out[name, "blank"] = grader.autograde(name, "blank", course_mod.RELEASE / name / f"{name}.ipynb")
        out[name, "executed"] = grader.autograded_notebook(name, "solution")
    return out


@pytest.mark.parametrize("name", NAMES)
def test_solution_scores_full_marks(graded, name):
    scores = graded[name, "solution"]
    auto = {k: s for k, s in scores.items() if not s.needs_manual_grade}
    assert auto, "no autograded cells"
    assert {k: s.score for k, s in auto.items()} == {k: s.max_score for k, s in auto.items()}


@pytest.mark.parametrize("name", NAMES)
def test_blank_release_scores_zero(graded, name):
    auto = {k: s.score for k, s in graded[name, "blank"].items() if not s.needs_manual_grade}
    assert auto and set(auto.values()) == {0.0}


@pytest.mark.parametrize("name", NAMES)
def test_solution_runs_clean_and_silent(graded, name):
    """No cell errors, and no cell (graded or not) writes to stderr in grading mode."""
    for cell in graded[name, "executed"].cells:
        if cell.cell_type != "code":
            continue
        where = cell.metadata.get("nbgrader", {}).get("grade_id", cell.source[:60])
        for output in cell.outputs:
            assert output.output_type != "error", f"{where}: {output.get('ename')}: {output.get('evalue')}"
            assert not (output.output_type == "stream" and output.name == "stderr"), f"{where} wrote {output.text!r}"


@pytest.mark.parametrize("name", NAMES)
def test_label_efficiency_curve_is_drawn_in_grading_mode(graded, name):
    """The label-efficiency part fits its probes at every grading-mode budget and draws its figure
    without an error (grading mode's backend shows no image: the full-mode tests look for it)."""
    _, text = label_efficiency_cell(graded[name, "executed"])
    assert "probes in" in text and "2 per class" in text and "10 per class" in text, text
