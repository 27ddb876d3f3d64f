"""Feedback never shows hidden tests: not their source, not tracebacks into them, not their printout."""

from __future__ import annotations

import copy
import inspect

import grading_corpus as corpus
import nbformat
import pytest

from autograder import course as course_mod
from autograder.build import prepare
from autograder.grading import feedback
from autograder.judges import mae_dinov2 as judges_module


def _error(traceback_lines, ename="CheckFailed", evalue="[RotationDataset] wrong"):
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=traceback_lines)


@pytest.fixture(scope="module")
def graded():
    """An autograded-like notebook: hidden tests back in the test cells, outputs that leak if shown raw."""
    nb = corpus.correct()
    hidden = {c.metadata["nbgrader"]["grade_id"]: c.source for c in prepare(corpus.NAME, course_mod.load_course()).cells
              if c.metadata.get("nbgrader", {}).get("grade")}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in hidden and cell.cell_type == "code":
            cell.source = hidden[gid]
    test = nb.cells[corpus.cell_index(nb, "test_rotation_dataset")]
    test.outputs = [nbformat.v4.new_output("stream", name="stdout", text="[RotationDataset] all public checks passed.\n"),
                    _error(["\x1b[0;31mCheckFailed\x1b[0m Traceback", 'File /x/autograder/judges/simclr.py:51',
                            "checks.pretext.check_rotation_dataset(RotationDataset, strict=True)"])]
    leak = nbformat.v4.new_code_cell("print(inspect.getsource(hidden))")
    leak.outputs = [nbformat.v4.new_output("stream", name="stdout", text=inspect.getsource(judges_module))]
    own = nbformat.v4.new_code_cell("1 / 0")
    own.outputs = [_error(["ZeroDivisionError Traceback", "----> 1 1 / 0"], "ZeroDivisionError", "division by zero")]
    nb.cells[corpus.cell_index(nb, "test_rotation_dataset") + 1:1] = [leak, own]
    record = {"assignment": corpus.NAME, "student": "alice", "total": 7.0, "max": 10.0,
              "manual": {"q_rotation": {"max": 2.0}},
              "exercises": {t: {"points": p, "max": p, "status": "pass", "message": "ok", "in_kernel": "pass"}
                            for t, p in corpus.POINTS.items()},
              "repairs": [{"kind": "restored_test", "grade_id": "test_jigsaw_dataset", "message": "put back | a cell"}],
              "flags": [{"kind": "tampering", "exercise": "test_jigsaw_dataset", "message": "secret verdict text"}]}
    record["exercises"]["test_rotation_dataset"].update(points=0.0, status="fail", message="[RotationDataset] wrong")
    return feedback.feedback_notebook(nb, corpus.release(), record)


def _text(nb):
    return nbformat.writes(nb)


def test_no_hidden_test_source_and_no_grader_code(graded):
    text = _text(graded)
    assert "strict=True" not in text and "autograder/judges" not in text
    assert not any(line in text for line in feedback.secret_lines())
    assert feedback.REMOVED in text


def test_test_cells_show_printed_text_and_one_line_errors_only(graded):
    cell = next(c for c in graded.cells if c.source.startswith("checks.pretext.check_rotation_dataset"))
    assert [o.output_type for o in cell.outputs] == ["stream", "error"]
    assert cell.outputs[1].traceback == ["CheckFailed: [RotationDataset] wrong"]


def test_the_students_own_tracebacks_stay(graded):
    own = next(c for c in graded.cells if c.source == "1 / 0")
    assert "----> 1 1 / 0" in own.outputs[0].traceback


def test_the_summary_gives_points_verdicts_repairs_and_neutral_notes(graded):
    head = graded.cells[0].source
    assert "Autograded points: 7 / 10" in head and "graded by hand" in head
    assert "| test_rotation_dataset | 0 / 2 | \\[RotationDataset\\] wrong |" in head
    assert "put back \\| a cell" in head
    assert "secret verdict text" not in head and "disagree" in head
    verdicts = [c.source for c in graded.cells if c.source.startswith("**Re-check of")]
    assert len(verdicts) == len(corpus.POINTS)  # one re-check verdict per graded exercise


def test_renders_to_html(graded):
    html = feedback.render_html(graded)
    assert html.startswith("<!DOCTYPE html>") and "Re-check of" in html


def test_no_metadata_survives(graded):
    assert all(cell.metadata == {} for cell in graded.cells)
    assert copy.deepcopy(graded).metadata.get("colab") is None


def test_written_points_and_comments_sit_under_each_answer():
    nb = corpus.correct()
    record = {"assignment": corpus.NAME, "student": "alice", "total": 10.0, "max": 10.0,
              "manual": {"q_rotation": {"max": 2.0}, "q_jigsaw": {"max": 2.0}},
              "exercises": {t: {"points": p, "max": p, "status": "pass", "message": "ok", "in_kernel": "pass"}
                            for t, p in corpus.POINTS.items()}, "repairs": [], "flags": []}
    written = {"q_rotation": {"max": 2.0, "points": 1.5, "comment": "<i>close</i>: see [the lecture]"},
               "q_jigsaw": {"max": 2.0, "points": None, "comment": ""}}
    out = feedback.feedback_notebook(nb, corpus.release(), record, written)
    head = out.cells[0].source
    assert "written answers: 1.5 / 4**" in head and "(1 question(s) not graded yet)" in head
    sources = [c.source for c in out.cells]
    answer = next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "q_rotation")
    line = next(s for s in sources if s.startswith("**Written answer `q_rotation`"))
    assert sources[sources.index(line) - 1] == answer  # right under the student's answer
    assert "1.5 / 2" in line and "\\<i\\>close\\</i\\>" in line and "\\[the lecture\\]" in line  # markup.inline
    assert "**Written answer `q_jigsaw`: not graded yet** (2 points)" in sources
    assert "graded by hand" not in head
