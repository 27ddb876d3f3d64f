"""Repair before grading: each kind of Colab damage is undone, reported, and leaves a gradable notebook."""

from __future__ import annotations

import copy
import json

import nbformat
import pytest

import grading_corpus as corpus
from autograder.grading.repair import repair
from selfsup import submission


@pytest.fixture(scope="module")
def release():
    return corpus.release()


@pytest.fixture(scope="module")
def good():
    return corpus.correct(slim_it=False)


def _ids(nb):
    return [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells if "nbgrader" in c.metadata]


def _expected(release):
    return [c.metadata["nbgrader"]["grade_id"] for c in release.cells if "nbgrader" in c.metadata]


def _kinds(repairs):
    return sorted(r.kind for r in repairs)


def _gradable(nb, release):
    graded = [c.metadata["nbgrader"]["grade_id"] for c in release.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert submission.problems(json.loads(nbformat.writes(nb)), graded) == []
    assert _ids(nb) == _expected(release)


def test_a_clean_submission_needs_no_repair(good, release):
    fixed, repairs, cleaned = repair(good, release)
    assert repairs == [] and cleaned == 0
    assert [c.source for c in fixed.cells] == [c.source for c in good.cells]


def test_stripped_metadata_is_reattached_and_colab_user_data_removed(good, release):
    damaged = corpus.colab(good)
    for cell in damaged.cells:
        cell.metadata.pop("nbgrader", None)
    fixed, repairs, cleaned = repair(damaged, release)
    _gradable(fixed, release)
    assert cleaned == sum(c.cell_type == "code" for c in good.cells)
    assert "Jane Student" not in nbformat.writes(fixed) and "colab" not in fixed.metadata
    assert set(_kinds(repairs)) == {"metadata", "found_answer"}
    by_id = {c.metadata["nbgrader"]["grade_id"]: c for c in fixed.cells if "nbgrader" in c.metadata}
    assert "random.randrange(4)" in by_id["rotation_dataset"].source  # the student's code, not the stub
    answer, = [c.source for c in good.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "q_rotation"]
    assert answer and by_id["q_rotation"].source == answer  # the student's answer found by its position
    assert by_id["rotation_dataset"].id == "rotation-dataset"


def test_a_split_exercise_cell_is_merged_back(good, release):
    damaged = copy.deepcopy(good)
    i = corpus.cell_index(damaged, "jigsaw_dataset")
    head, tail = damaged.cells[i].source.split("    def __getitem__")
    damaged.cells[i].source = head
    second = nbformat.v4.new_code_cell("    def __getitem__" + tail)
    second.metadata["nbgrader"] = copy.deepcopy(damaged.cells[i].metadata["nbgrader"])  # split copies metadata
    damaged.cells.insert(i + 1, second)
    fixed, repairs, _ = repair(damaged, release)
    _gradable(fixed, release)
    assert _kinds(repairs) == ["duplicate", "merged"]
    merged = fixed.cells[corpus.cell_index(fixed, "jigsaw_dataset")].source
    assert "class JigsawDataset" in merged and "def __getitem__" in merged and "PERMUTATIONS[perm_index]" in merged


def test_a_split_test_cell_loses_its_fragment(good, release):
    damaged = copy.deepcopy(good)
    i = corpus.cell_index(damaged, "test_rotation_dataset")
    lines = corpus.release().cells[corpus.cell_index(release, "test_rotation_dataset")].source.splitlines()
    damaged.cells.insert(i + 1, nbformat.v4.new_code_cell(lines[0]))
    fixed, repairs, _ = repair(damaged, release)
    assert _kinds(repairs) == ["fragment"]
    assert len(fixed.cells) == len(good.cells)


def test_deleted_test_and_edited_test_cells_are_restored(good, release):
    damaged = copy.deepcopy(good)
    damaged.cells[corpus.cell_index(damaged, "test_rotation_dataset")].source = "pass"
    damaged.cells.pop(corpus.cell_index(damaged, "test_jigsaw_dataset"))
    fixed, repairs, _ = repair(damaged, release)
    _gradable(fixed, release)
    assert _kinds(repairs) == ["edited_locked", "restored_test"]
    i = corpus.cell_index(fixed, "test_jigsaw_dataset")
    assert fixed.cells[i - 1].metadata["nbgrader"]["grade_id"] == "jigsaw_dataset"  # back in its place
    assert fixed.cells[corpus.cell_index(fixed, "test_rotation_dataset")].source.startswith("checks.pretext")


def test_a_moved_exercise_is_found_by_its_definitions_and_a_missing_one_restored(good, release):
    damaged = copy.deepcopy(good)
    moved = damaged.cells.pop(corpus.cell_index(damaged, "colorization_net"))
    moved.metadata = {}
    damaged.cells.append(moved)
    damaged.cells.pop(corpus.cell_index(damaged, "colorization_dataset"))
    fixed, repairs, _ = repair(damaged, release)
    assert sorted(_ids(fixed)) == sorted(_expected(release))
    assert _kinds(repairs) == ["found_exercise", "restored_exercise"]
    net = fixed.cells[corpus.cell_index(fixed, "colorization_net")]
    assert "torch.sigmoid" in net.source
    stub = fixed.cells[corpus.cell_index(fixed, "colorization_dataset")]
    assert "raise NotImplementedError()" in stub.source


def test_copies_and_unknown_ids_lose_their_metadata(good, release):
    damaged = copy.deepcopy(good)
    i = corpus.cell_index(damaged, "test_colorization_net")
    damaged.cells.insert(i + 1, copy.deepcopy(damaged.cells[i]))
    stray = nbformat.v4.new_code_cell("x = 1")
    stray.metadata["nbgrader"] = {"grade_id": "my_own_cell", "grade": True, "points": 5}
    damaged.cells.append(stray)
    fixed, repairs, _ = repair(damaged, release)
    _gradable(fixed, release)
    assert {"duplicate", "unknown_id"} <= set(_kinds(repairs))


def test_repair_is_idempotent(good, release):
    damaged = corpus.colab(good)
    for cell in damaged.cells:
        cell.metadata.pop("nbgrader", None)
    damaged.cells.pop(corpus.cell_index(good, "test_jigsaw_dataset"))
    once, _, _ = repair(damaged, release)
    twice, repairs, cleaned = repair(once, release)
    assert repairs == [] and cleaned == 0
    assert [c.source for c in once.cells] == [c.source for c in twice.cells]
