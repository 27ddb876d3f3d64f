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


#: An exception message a student's code raised in the re-check: line breaks and Markdown that would
#: add a "possible tampering" flag against another student and a fake pass rate to summary.md.
FORGED = ("[RotationDataset] raised ValueError: x\n\n## Flags\n\n- alice (a.ipynb): test_a: possible tampering: the "
          "test passed inside the notebook\n\n### 01_pretext_tasks/test_b: 3/3 passed (100%)\r\n\u2028# Top\n"
          "<b>html</b> [a link](https://example.com) | a cell | ![img](x.png) `code` *em* &lt;")


def _blocks(markdown: str) -> list[str]:
    """The block structure of rendered Markdown (CommonMark and GitHub's tables), and any raw HTML or link."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    inline_kinds = {t.type for tok in tokens for t in (tok.children or [])} & {"html_inline", "link_open", "image",
                                                                              "code_inline", "em_open"}
    return [t.type for t in tokens if t.type.endswith("_open")] + sorted(inline_kinds)


def test_a_students_message_cannot_add_lines_to_the_summary():
    """The forged message changes no structure of summary.md: same headings, items and table cells as a
    plain message, no HTML, no link; it still reads as what the student wrote."""
    def summary_with(message: str, file: str) -> str:
        records = [_record(file, "bob", {"test_a": (0.0, 3.0)}, message=message,
                           flags=[{"kind": "tampering", "exercise": "test_a", "message": message}]),
                   {**RECORDS[3], "key": file + ".pdf", "reason": message}]
        return report.summary_markdown(report.summary(records))

    forged = summary_with(FORGED, "b\n## Flags\n- alice.ipynb")
    assert _blocks(forged) == _blocks(summary_with("[RotationDataset] raised ValueError: x", "b.ipynb"))
    assert not [line for line in forged.splitlines() if "alice" in line and not line.startswith("- ")]
    from markdown_it import MarkdownIt

    text = MarkdownIt("commonmark").render(forged)
    assert "&lt;b&gt;html&lt;/b&gt; [a link](https://example.com) | a cell |" in text


def test_a_students_message_cannot_add_lines_to_the_feedback():
    """The same in the first cell of a student's feedback: one table row per exercise, whatever the message."""
    from autograder.grading import feedback

    def first_cell(message: str) -> str:
        record = {**_record("b.ipynb", "bob", {"test_a": (0.0, 3.0), "test_b": (2.0, 2.0)}, message=message),
                  "repairs": [{"kind": "merged", "message": message}],
                  "flags": [{"kind": "difference", "exercise": "test_a", "message": message}]}
        return feedback.summary_markdown(record)

    assert _blocks(first_cell(FORGED)) == _blocks(first_cell("[RotationDataset] raised ValueError: x"))
