"""The grader's judgement (``autograder.judges``) around the exercises of ``selfsup.checks``: one
definition per exercise, every test cell covered, seeded inputs, and no object of the student's
that can lie its way through. The catalogues of ``tests/test_checks_<notebook>.py`` run every known
correct and wrong variant through the same judgement."""

from __future__ import annotations

import io
import random
import subprocess
import sys

import grading_corpus
import nbformat
import pytest
import test_checks_pretext as catalogue
import torch
from selfsup.checks import MODULES
from selfsup.checks._core import outputs_of
from selfsup.checks.pretext import ToyImages
from torch.utils.data import Dataset

from autograder import course as course_mod
from autograder import judges
from benchmarks.simclr_speed import reference_augment

ALL = [e for module in MODULES.values() for e in module.EXERCISES]


@pytest.mark.parametrize("assignment", course_mod.assignments())
def test_every_test_cell_of_every_notebook_has_exactly_one_exercise(assignment):
    release = nbformat.read(course_mod.RELEASE / assignment / f"{assignment}.ipynb", as_version=4)
    tests = {c.metadata["nbgrader"]["grade_id"] for c in release.cells
             if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}
    assert tests == {e.test for e in judges.exercises(assignment)}


def test_every_exercise_is_defined_once_and_every_reference_judge_has_one():
    assert len([e.test for e in ALL]) == len({e.test for e in ALL})
    assert set(judges.REFERENCE_JUDGES) <= {e.test for e in ALL}


def test_a_notebook_the_checks_do_not_know_has_no_exercises():
    assert judges.exercises("99_not_a_notebook") == []


def test_the_public_checks_import_nothing_of_the_grader():
    """What students install and what runs next to their code holds no reference and no judge."""
    code = ("import sys, selfsup.checks, selfsup.checks._core; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'autograder'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _serialised(inputs: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(inputs, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("exercise", ALL, ids=lambda e: e.test)
def test_inputs_depend_on_the_seed_and_only_on_it(exercise):
    first, again, other = (_serialised(exercise.inputs(seed)) for seed in (5, 5, 6))
    assert first == again and first != other


@pytest.mark.parametrize("seed", [3, 11, 1234567])
@pytest.mark.parametrize("test, reference", [("test_simclr_augment", reference_augment),
                                             ("test_jigsaw_dataset", catalogue.JigsawGather),
                                             ("test_rotation_dataset", catalogue.RotationRandom)])
def test_statistical_judges_hold_for_other_seeds(test, reference, seed):
    verdict = judges.in_process(test, reference, seed)
    assert verdict.passed, verdict.message


def test_malformed_outputs_fail_instead_of_crashing_the_grader():
    exercise = judges.exercise("test_rotation_dataset")
    verdict = judges.judged(exercise.test, {"length": torch.tensor(8)}, exercise.inputs(1))
    assert not verdict.passed and "outputs of your code are malformed: missing" in verdict.message


class _AnyInt(int):
    """An int that says it equals anything, and reports a random value to int()."""

    def __eq__(self, other):
        return True

    __hash__ = int.__hash__

    def __index__(self):
        return random.randrange(4)


def test_objects_that_lie_about_equality_gain_nothing():
    namespace = {"torch": torch, "Dataset": Dataset, "random": random}
    exec(grading_corpus.TAMPER_EQUAL, namespace)  # the corpus's tensor that equals anything
    liar = namespace["RotationDataset"]
    base = ToyImages(torch.rand(4, 3, 8, 8), 0)
    x, _ = liar(base)[0]
    assert torch.allclose(x, torch.zeros_like(x)) and torch.equal(x, x + 1)  # it does lie to in-process checks
    assert not judges.in_process("test_rotation_dataset", liar, 1).passed

    class LyingLabels(Dataset):
        def __init__(self, base):
            self.base = base

        def __len__(self):
            return len(self.base)

        def __getitem__(self, index):
            return self.base[index][0], _AnyInt(0)  # unrotated, label 0 that claims to be anything

    assert _AnyInt(0) == 3
    verdict = judges.in_process("test_rotation_dataset", LyingLabels, 1)
    assert not verdict.passed and "uniformly" in verdict.message


def test_outputs_are_plain_tensors_whatever_the_student_returns():
    exercise = judges.exercise("test_colorization_dataset")
    outputs = outputs_of(exercise, catalogue.ColorLuma, exercise.inputs(None))
    assert all(type(v) is torch.Tensor for v in outputs.values())
