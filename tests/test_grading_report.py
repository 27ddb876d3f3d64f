"""Outputs of a batch from records: grades.csv, results.json, the class summary, signatures, merging."""

from __future__ import annotations

import csv
import io
import json

import pytest

from autograder.grading import report
from autograder.grading.merge import merge


def _record(key, student, points, status="graded", assignment="01_pretext_tasks", flags=(), message="[X] wrong"):
    exercises = {t: {"points": p, "max": m, "status": "pass" if p == m else "fail",
                     "message": "passed" if p == m else message, "in_kernel": "pass"}
                 for t, (p, m) in points.items()}
    return {"key": key, "student": student, "assignment": assignment, "status": status, "reason": "",
            "exercises": exercises, "total": float(sum(p for p, _ in points.values())),
            "max": float(sum(m for _, m in points.values())), "flags": list(flags), "repairs": [], "sha256": key}


RECORDS = [
    _record("b.ipynb", "bob", {"test_a": (0.0, 3.0), "test_b": (2.0, 2.0)}, message="[A] label 3 is wrong (1, 2)"),
    _record("a.ipynb", "alice", {"test_a": (3.0, 3.0), "test_b": (2.0, 2.0)}),
    _record("c.ipynb", "carol", {"test_a": (0.0, 3.0), "test_b": (0.0, 2.0)}, message="[A] label 1 is wrong (3, 0)",
            flags=[{"kind": "tampering", "exercise": "test_a", "message": "test_a: possible tampering"}]),
    {"key": "notes.pdf", "student": "", "assignment": "", "status": "unreadable", "reason": "not a notebook",
     "exercises": {}, "total": 0.0, "max": 0.0, "flags": [], "repairs": []},
]


def test_grades_csv_has_one_row_per_student_with_points_per_exercise():
    rows = list(csv.DictReader(io.StringIO(report.grades_csv(RECORDS))))
    assert [r["student"] for r in rows] == ["alice", "bob", "carol"]
    assert rows[1]["total"] == "2" and rows[1]["max"] == "5" and rows[1]["01_pretext_tasks/test_a"] == "0"
    assert rows[2]["01_pretext_tasks/flags"] == "1"


def test_summary_groups_the_same_mistake_and_lists_every_input():
    data = report.summary(RECORDS)
    a = data["exercises"]["01_pretext_tasks/test_a"]
    assert (a["passed"], a["graded"]) == (1, 3)
    assert a["common_failures"][0]["count"] == 2  # the two messages differ only in their numbers
    assert data["statuses"] == {"graded": 3, "unreadable": 1}
    assert data["not_graded"] == [{"file": "notes.pdf", "status": "unreadable", "reason": "not a notebook"}]
    assert [f["student"] for f in data["flags"]] == ["carol"]
    assert "1/3 passed" in report.summary_markdown(data)


def test_outputs_are_deterministic_and_atomic(tmp_path):
    report.write_outputs(tmp_path, RECORDS, {"probe_seed": 1})
    first = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    report.write_outputs(tmp_path, list(reversed(RECORDS)), {"probe_seed": 1})
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == first
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left behind
    results = json.loads(first["results.json"])
    assert [s["key"] for s in results["submissions"]] == ["a.ipynb", "b.ipynb", "c.ipynb", "notes.pdf"]


def test_forged_or_edited_records_are_rejected(tmp_path, monkeypatch):
    monkeypatch.delenv(report.SECRET_ENV, raising=False)
    key = report.signing_key(tmp_path)
    for record in RECORDS:
        report.save_record(tmp_path, record, key)
    path = tmp_path / "records" / f"{report.record_id('b.ipynb')}.json"
    forged = json.loads(path.read_text())
    forged["total"] = 5.0
    path.write_text(json.dumps(forged))
    (tmp_path / "records" / "extra.json").write_text(json.dumps({**RECORDS[0], "key": "x"}))
    records, rejected = report.load_records(tmp_path, key)
    assert sorted(records) == ["a.ipynb", "c.ipynb", "notes.pdf"]
    assert sorted(rejected) == sorted([path.name, "extra.json"])
    monkeypatch.setenv(report.SECRET_ENV, "a secret from CI")
    assert report.load_records(tmp_path, report.signing_key(tmp_path))[0] == {}


def test_merge_pools_shards_and_writes_the_same_outputs(tmp_path, monkeypatch):
    monkeypatch.delenv(report.SECRET_ENV, raising=False)
    single, merged = tmp_path / "single", tmp_path / "merged"
    shards = [tmp_path / "s1", tmp_path / "s2"]
    for folder, records in ((single, RECORDS), (shards[0], RECORDS[::2]), (shards[1], RECORDS[1::2])):
        key = report.signing_key(folder)
        for record in records:
            report.save_record(folder, record, key)
        report.write_outputs(folder, records, {"probe_seed": 1, "shard": folder.name})
    merge(shards, merged)
    assert (merged / "grades.csv").read_text() == (single / "grades.csv").read_text()
    assert json.loads((merged / "results.json").read_text())["submissions"] == \
        json.loads((single / "results.json").read_text())["submissions"]
    with pytest.raises(FileNotFoundError):
        merge([tmp_path / "nothing"], merged)
