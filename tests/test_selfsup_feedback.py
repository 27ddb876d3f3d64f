"""selfsup.feedback: the per-repository feedback runs a notebook in grading mode and lists its check cells."""

from __future__ import annotations

import nbformat
import pytest

from selfsup import feedback

pytestmark = pytest.mark.integration  # starts a kernel


def _cell(source, **nbgrader):
    cell = nbformat.v4.new_code_cell(source)
    if nbgrader:
        cell.metadata["nbgrader"] = nbgrader
    return cell


def _notebook(path, add_body="return a + b"):
    nb = nbformat.v4.new_notebook(cells=[
        _cell("import os\nMODE = os.environ['SELFSUP_MODE']"),
        _cell(f"def add(a, b):\n    {add_body}", solution=True, grade=False, grade_id="add"),
        _cell("assert MODE == 'grading' and add(1, 2) == 3", grade=True, solution=False, grade_id="test_add", points=1),
        _cell("def later():\n    raise NotImplementedError()", solution=True, grade=False, grade_id="later"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, path)
    return path


def test_feedback_lists_every_check_and_fails_unless_all_pass(tmp_path, monkeypatch):
    monkeypatch.setenv("SELFSUP_MODE", "grading")  # feedback sets it for its kernels; restored after this test
    good = _notebook(tmp_path / "good.ipynb")
    bad = _notebook(tmp_path / "bad.ipynb", add_body="raise ValueError('not <b>done</b>\\n## yet')")
    summary = tmp_path / "summary.md"
    assert feedback.main([str(good), "--summary", str(summary)]) == 0
    assert "test_add: **passed**" in summary.read_text() and "still to do: exercise 'later'" in summary.read_text()
    assert feedback.main([str(good), str(bad), "--summary", str(summary)]) == 1
    text = summary.read_text()
    assert "test_add: **failed** (ValueError: not &lt;b&gt;done&lt;/b&gt;)" in text
    assert "## yet" not in text  # only the first line of a student's message
