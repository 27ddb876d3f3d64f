"""benchmarks/answers_speed.py on a small synthetic class: the planted copies are found, nothing else is flagged."""

from __future__ import annotations

import nbformat
import pytest

from autograder import course as course_mod
from autograder.grading.scoring import graded_cells
from benchmarks import answers_speed

pytestmark = pytest.mark.integration  # builds and reads a few dozen full notebooks


def test_a_small_synthetic_class_is_measured_and_its_planted_copies_found():
    result = answers_speed.measure(students=12, copy_share=0.2, seed=3, fold=False, log=lambda line: None)
    questions = sum(len(graded_cells(nbformat.read(course_mod.RELEASE / a / f"{a}.ipynb", as_version=4))[1])
                    for a in course_mod.assignments())  # written questions of the three notebooks
    assert result["submissions"] == 36 and result["sheet_rows"] == 36 // 3 * questions
    copies = result["copies"]
    assert copies["planted_pairs"] >= 6 and copies["found"] == copies["planted_pairs"] and copies["missed"] == []
    assert copies["other_pairs_flagged"] == 0
    assert result["seconds"] > 0 and result["pages_bytes"] > 0
