"""The student-side gradability check (the last cell of every notebook): it finds what the grader
would have to repair, and it finds a renamed notebook."""

from __future__ import annotations

import copy
import json

import nbformat
import pytest

import grading_corpus as corpus
from selfsup import submission


@pytest.fixture(scope="module")
def notebook():
    return json.loads(nbformat.writes(corpus.correct(slim_it=False)))


@pytest.fixture(scope="module")
def expected():
    return [c.metadata["nbgrader"]["grade_id"] for c in corpus.release().cells
            if c.metadata.get("nbgrader", {}).get("grade")]


def _find(nb, grade_id):
    return next(i for i, c in enumerate(nb["cells"]) if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)


def test_a_complete_notebook_has_no_problems(notebook, expected):
    assert submission.problems(notebook, expected) == []
    assert submission.reminders(notebook) == []


def test_deleted_duplicated_and_renamed_cells_are_problems(notebook, expected):
    nb = copy.deepcopy(notebook)
    nb["cells"].pop(_find(nb, "test_jigsaw_dataset"))
    nb["cells"].append(copy.deepcopy(nb["cells"][_find(nb, "test_rotation_dataset")]))
    nb["cells"].append(copy.deepcopy(nb["cells"][_find(nb, "rotation_dataset")]))
    nb["cells"][_find(nb, "q_jigsaw")]["metadata"]["nbgrader"]["grade_id"] = "q_jigsaw_v2"
    found = "\n".join(submission.problems(nb, expected))
    assert "'test_jigsaw_dataset' is missing" in found
    assert "'test_rotation_dataset' appears 2 times" in found
    assert "exercise cell 'rotation_dataset' appears 2 times" in found
    assert "'q_jigsaw_v2' is not part of this assignment" in found


def test_blank_exercises_and_answers_are_reminded_not_refused(expected):
    blank = json.loads(nbformat.writes(corpus.release()))
    assert submission.problems(blank, expected) == []
    notes = submission.reminders(blank)
    assert "exercise 'rotation_dataset' still raises NotImplementedError" in notes
    assert "written answer 'q_rotation' is still empty" in notes


def test_a_renamed_copy_is_found_and_checked(tmp_path, monkeypatch, capsys, notebook, expected):
    monkeypatch.setenv("SELFSUP_MODE", "full")
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.chdir(tmp_path)
    broken = copy.deepcopy(notebook)
    broken["cells"].pop(_find(broken, "test_jigsaw_dataset"))
    (tmp_path / "Copy of 01_pretext_tasks.ipynb").write_text(json.dumps(broken))
    assert submission.check_notebook(corpus.NAME, expected) is False
    assert "test_jigsaw_dataset' is missing" in capsys.readouterr().out
    (tmp_path / "Copy of 01_pretext_tasks.ipynb").write_text(json.dumps(notebook))
    assert submission.check_notebook(corpus.NAME, expected) is True
    out = capsys.readouterr().out
    assert "present exactly once" in out and "saved as 'Copy of 01_pretext_tasks.ipynb'" in out


def test_skipped_in_grading_mode(monkeypatch, capsys):
    monkeypatch.setenv("SELFSUP_MODE", "grading")
    assert submission.check_notebook(corpus.NAME, ["x"]) is None
    assert "nothing was checked" in capsys.readouterr().out


def test_a_notebook_that_is_not_found_is_not_reported_as_checked(tmp_path, monkeypatch, capsys, expected):
    """Nothing to read: the check says plainly that it checked nothing and does not return True."""
    monkeypatch.setenv("SELFSUP_MODE", "full")
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.ipynb").write_text(json.dumps({"cells": []}))  # an unrelated notebook is not taken for it
    assert submission.check_notebook(corpus.NAME, expected) is None
    out = capsys.readouterr().out
    assert "NOT CHECKED" in out and "nothing was checked" in out and "present exactly once" not in out
