"""The re-check's probes and judges, run in this process (no sandbox): they must agree with the
strict checks on the whole catalogue of ``tests/test_checks_<notebook>.py`` of all three notebooks
(read from those tests' own parametrize marks, so a new catalogue entry is covered here too),
accept every correct variant, and never be fooled by objects that lie about equality."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

import grading_corpus
import test_checks_mae_dinov2
import test_checks_pretext as catalogue
import test_checks_simclr
from autograder import course as course_mod
from autograder.grading import probes
from autograder.grading.probes import mae_dinov2, pretext, simclr
from autograder.grading.sandbox import _plain

#: (catalogue module, prefix of its accepts/rejects tests, probe module, test cell id)
CATALOGUES = [
    (catalogue, "rotation", pretext, "test_rotation_dataset"),
    (catalogue, "jigsaw", pretext, "test_jigsaw_dataset"),
    (catalogue, "colorization_dataset", pretext, "test_colorization_dataset"),
    (catalogue, "colorization_net", pretext, "test_colorization_net"),
    (test_checks_simclr, "augment", simclr, "test_simclr_augment"),
    (test_checks_simclr, "two_views", simclr, "test_two_views"),
    (test_checks_simclr, "head", simclr, "test_projection_head"),
    (test_checks_simclr, "model", simclr, "test_simclr_model"),
    (test_checks_simclr, "nt_xent", simclr, "test_nt_xent_loss"),
    *[(test_checks_mae_dinov2, name, mae_dinov2, f"test_{name}") for name in
      ("mae_reconstruct", "mae_features", "cls_attention_maps", "foreground_mask", "pca_rgb", "knn_predict")],
]
BY_TEST = {e.test: e for module in (pretext, simclr, mae_dinov2) for e in module.EXERCISES}


def _cases(kind: str) -> list:
    """Every (exercise, variant) the checks' own tests accept or reject, read from their parametrize marks."""
    out = []
    for module, prefix, _, test in CATALOGUES:
        suffix = "correct" if kind == "accepts" else "wrong"
        function = getattr(module, f"test_{prefix}_{kind}", None) or getattr(module, f"test_{prefix}_{kind}_{suffix}")
        (mark,) = [m for m in function.pytestmark if m.name == "parametrize"]
        for value in mark.args[1]:
            variant = value[0] if isinstance(value, tuple) else value
            out.append(pytest.param(test, variant, id=f"{prefix}-{getattr(variant, '__name__', len(out))}"))
    return out


def verdict(test: str, obj, seed: int = 2024) -> probes.Verdict:
    """What the re-check decides, minus the process boundary: run, convert to plain arrays, judge."""
    exercise = BY_TEST[test]
    torch.manual_seed(seed)
    try:
        outputs = exercise.run({exercise.names[0]: obj}, exercise.inputs(seed))
    except probes.CheckFailed as failure:
        return probes.Verdict(False, str(failure))
    arrays = {key: _plain(value, key) for key, value in outputs.items()}
    return probes.judged(exercise, arrays, exercise.inputs(seed))


@pytest.mark.parametrize("test, variant", _cases("accepts"))
def test_correct_variants_pass(test, variant):
    result = verdict(test, variant)
    assert result.passed, result.message


@pytest.mark.parametrize("seed", [3, 11, 1234567])
@pytest.mark.parametrize("test", ["test_simclr_augment", "test_jigsaw_dataset", "test_rotation_dataset"])
def test_statistical_judges_hold_for_other_seeds(test, seed):
    reference = {"test_simclr_augment": test_checks_simclr.strict.reference_augment,
                 "test_jigsaw_dataset": catalogue.JigsawGather, "test_rotation_dataset": catalogue.RotationRandom}
    result = verdict(test, reference[test], seed)
    assert result.passed, result.message


@pytest.mark.parametrize("test, variant", _cases("rejects"))
def test_catalogued_mistakes_fail_with_a_named_exercise(test, variant):
    result = verdict(test, variant)
    assert not result.passed
    assert result.message.startswith("[") and BY_TEST[test].names[0] in result.message


def test_messages_name_the_mistake():
    assert "clockwise" in verdict("test_rotation_dataset", catalogue.RotationClockwise).message
    assert "scatter" in verdict("test_jigsaw_dataset", catalogue.JigsawScatter).message
    assert "average of the three channels" in verdict("test_colorization_dataset",
                                                      catalogue.ColorMeanOfChannels).message
    assert "not filled in yet" in verdict("test_rotation_dataset", catalogue.RotationNotImplemented).message


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
    base = catalogue.strict.ToyImages(n=4, size=8, seed=0)
    x, _ = liar(base)[0]
    assert torch.allclose(x, torch.zeros_like(x)) and torch.equal(x, x + 1)  # it does lie to in-process checks
    assert not verdict("test_rotation_dataset", liar).passed

    class LyingLabels(Dataset):
        def __init__(self, base):
            self.base = base

        def __len__(self):
            return len(self.base)

        def __getitem__(self, index):
            return self.base[index][0], _AnyInt(0)  # unrotated, label 0 that claims to be anything

    assert _AnyInt(0) == 3
    result = verdict("test_rotation_dataset", LyingLabels)
    assert not result.passed and "uniformly" in result.message


def test_probe_inputs_depend_on_the_seed_and_only_on_it():
    for exercise in pretext.EXERCISES:
        a, b, c = exercise.inputs(5), exercise.inputs(5), exercise.inputs(6)
        for key in a:
            assert np.array_equal(np.asarray(a[key]), np.asarray(b[key]))
        assert any(not np.array_equal(np.asarray(a[k]), np.asarray(c[k])) for k in a if isinstance(a[k], torch.Tensor))


def test_malformed_outputs_fail_instead_of_crashing_the_grader():
    exercise = BY_TEST["test_rotation_dataset"]
    result = probes.judged(exercise, {"length": np.asarray(8)}, exercise.inputs(1))
    assert not result.passed and "could not use the outputs" in result.message


def test_every_notebook_with_probes_covers_each_of_its_test_cells():
    import nbformat

    names = probes.module_names()
    assert names.get("01_pretext_tasks") == "autograder.grading.probes.pretext"
    for assignment, module_name in names.items():
        path = course_mod.RELEASE / assignment / f"{assignment}.ipynb"
        if not path.exists():
            continue
        release = nbformat.read(path, as_version=4)
        tests = {c.metadata["nbgrader"]["grade_id"] for c in release.cells
                 if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}
        covered = {e.test for e in probes.for_assignment(assignment).EXERCISES}
        assert tests == covered, f"{module_name}: probes for {sorted(covered)}, test cells {sorted(tests)}"


def test_a_notebook_without_probes_is_reported_not_guessed():
    assert probes.for_assignment("99_not_a_notebook") is None
