"""The whole grading pipeline on a corpus of Notebook 1 submissions, graded once for the module.

The corpus (``tests/grading_corpus.py``): correct, blank and partial notebooks; the catalogued
wrong implementations; Colab damage; seven kinds of tampering; six kinds of failure; unusual files
and an LMS zip. Several cases share a notebook when they touch different exercises. Each notebook is slim (no training cells), so the batch takes a few minutes on 2
busy cores; the timings it records are in ``timings.json``.
"""

from __future__ import annotations

import csv
import json
import re

import grading_corpus as corpus
import pytest

from autograder.grading import batch, report
from autograder.grading.feedback import secret_lines
from autograder.grading.limits import Limits

pytestmark = pytest.mark.integration
LIMITS = Limits(cell_timeout=20, notebook_timeout=180, memory_mb=2000, recheck_timeout=15)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    expected = corpus.build_corpus(folder)
    out = tmp_path_factory.mktemp("graded")
    options = batch.Options(paths=[str(folder)], out=out, assignment=corpus.NAME, jobs=2, probe_seed=20261128,
                            limits=LIMITS)
    records = batch.run(options)
    prefix = folder.as_posix() + "/"
    by_name = {r["key"][len(prefix):]: r for r in records}
    return expected, by_name, out, options


def test_every_input_file_has_a_record_with_a_status(graded):
    expected, records, out, _ = graded
    assert sorted(records) == sorted(expected)
    assert all(r["status"] in report.STATUSES for r in records.values())
    listed = {s["key"] for s in json.loads((out / "results.json").read_text())["submissions"]}
    assert len(listed) == len(expected)


def test_expected_points_for_every_submission(graded):
    expected, records, _, _ = graded
    wrong = []
    for name, want in expected.items():
        if "points" not in want:
            continue
        got = {t: e["points"] for t, e in records[name]["exercises"].items()}
        if got != want["points"]:
            detail = {t: (e["status"], e["message"][:100]) for t, e in records[name]["exercises"].items()
                      if e["points"] != want["points"][t]}
            wrong.append(f"{name}: got {got}, expected {want['points']}: {detail}")
    assert not wrong, "\n".join(wrong)


def test_tampering_gains_nothing_and_is_flagged_when_it_fooled_the_notebook(graded):
    expected, records, _, _ = graded
    for name, want in expected.items():
        if "tampered" not in want:
            continue
        flagged = {f["exercise"] for f in records[name]["flags"] if f["kind"] == "tampering"}
        assert flagged == want["tampered"], name
    for name in ("tamper-objects-and-checks.ipynb", "tamper-helper.ipynb", "tamper-transformer.ipynb"):
        fooled = [t for t, e in records[name]["exercises"].items() if e["in_kernel"] == "pass" and e["points"] == 0]
        assert fooled, f"{name} no longer fools the in-notebook test: the corpus no longer tests the re-check"


def test_repairs_are_reported(graded):
    expected, records, _, _ = graded
    for name, want in expected.items():
        kinds = {r["kind"] for r in records[name].get("repairs", [])}
        assert want.get("repairs", set()) <= kinds, name
        if want.get("status"):
            assert records[name]["status"] == want["status"], name


def test_failures_cost_only_what_depends_on_them(graded):
    _, records, _, _ = graded
    loops = records["fail-loops.ipynb"]["exercises"]
    assert loops["test_rotation_dataset"]["status"] == "timeout"  # the loop inside the exercise
    assert loops["test_colorization_net"]["in_kernel"] == "not run"  # after the loop that swallows interrupts
    assert loops["test_colorization_net"]["points"] == 2.0
    crashes = records["fail-exit-memory.ipynb"]["exercises"]
    assert crashes["test_jigsaw_dataset"]["status"] == "crash"
    assert "MemoryError" in crashes["test_colorization_dataset"]["message"]
    assert "truncated" in (graded[2] / records["fail-output-syntax.ipynb"]["feedback"]).read_text()


def test_unusual_files_are_listed_with_their_reason(graded):
    expected, records, _, _ = graded
    assert records["empty.ipynb"]["reason"] == "empty file"
    assert "not JSON" in records["report.pdf"]["reason"]
    if "other.ipynb" in expected:
        assert records["other.ipynb"]["status"] == "unrecognised"
        assert "looks like" in records["other.ipynb"]["reason"]


def test_student_ids_from_names_zips_and_fallbacks(graded):
    expected, records, _, _ = graded
    for name, want in expected.items():
        if want.get("student"):
            assert records[name]["student"] == want["student"], name
    assert records["Copy of 01_pretext_tasks (1).ipynb"]["student"].startswith("anon-")


def test_grades_csv_one_row_per_student(graded):
    _, records, out, _ = graded
    rows = {r["student"]: r for r in csv.DictReader((out / "grades.csv").open())}
    gradable = [r for r in records.values() if r["status"] in ("graded", "repaired")]
    assert len(rows) == len(gradable)
    assert rows["correct"]["total"] == f"{sum(corpus.POINTS.values()):g}" and rows["blank"]["total"] == "0"
    assert rows["smith_1234"][f"{corpus.NAME}/test_rotation_dataset"] == "3"


def test_feedback_for_everyone_and_without_hidden_tests(graded):
    _, records, out, _ = graded
    secrets = secret_lines()
    for record in records.values():
        if record["status"] not in ("graded", "repaired"):
            continue
        html = (out / record["feedback"]).read_text()
        assert "strict=True" not in html and "autograder/judges" not in html, record["key"]
        leaked = [line for line in secrets if line in html]
        assert not leaked, (record["key"], leaked[:3])
    html = (out / records["tamper-files-and-tests.ipynb"]["feedback"]).read_text()
    assert "the grader is not importable: No module named" in html  # the kernel cannot see the grader


def test_no_colab_personal_data_is_stored(graded):
    _, _, out, _ = graded
    for path in out.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert "Jane Student" not in text and "01234567890123456789" not in text, path


def test_the_class_summary_maps_misconceptions(graded):
    _, _, out, _ = graded
    summary = json.loads((out / "summary.json").read_text())
    rotation = summary["exercises"][f"{corpus.NAME}/test_rotation_dataset"]
    assert 0 < rotation["pass_rate"] < 1
    assert any("clockwise" in f["message"] for f in rotation["common_failures"])
    assert {f["exercise"] for f in summary["flags"] if f["kind"] == "tampering"} == \
        {"test_jigsaw_dataset", "test_colorization_dataset", "test_colorization_net"}
    assert re.search(r"\d+ input file\(s\)", (out / "summary.md").read_text())


def test_resume_grades_only_what_is_missing_and_rewrites_identical_outputs(graded):
    _, records, out, options = graded
    before = {name: (out / name).read_bytes() for name in ("grades.csv", "results.json", "summary.json")}
    lines = []
    again = batch.run(batch.Options(**{**options.__dict__, "resume": True, "log": lines.append}))
    assert any(": 0 to grade," in line for line in lines)
    assert len(again) == len(records)
    assert {name: (out / name).read_bytes() for name in before} == before
    (out / "records" / f"{report.record_id(records['correct.ipynb']['key'])}.json").unlink()  # an interrupted batch
    lines.clear()
    batch.run(batch.Options(**{**options.__dict__, "resume": True, "log": lines.append}))
    assert any(": 1 to grade," in line for line in lines)
    assert {name: (out / name).read_bytes() for name in before} == before
