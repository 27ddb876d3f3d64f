"""The LMS export (Canvas, Moodle) and spreadsheet-safe CSV cells."""

from __future__ import annotations

import csv
import io
import json

import pytest

from autograder import cli
from autograder.grading import export, report, sheets, written

A = "01_pretext_tasks"


def _record(student, total, manual=("q_a", "q_b")):
    return {"key": f"{student}.ipynb", "status": "graded", "reason": "", "student": student, "assignment": A,
            "exercises": {"test_x": {"points": total, "max": 10.0, "status": "pass", "message": "",
                                     "in_kernel": "pass"}},
            "manual": {q: {"max": 2.0} for q in manual}, "total": total, "max": 10.0, "flags": [], "repairs": []}


@pytest.fixture
def grades(tmp_path):
    records = [_record("smith_1234", 10.0), _record("jones_77", 6.0), _record("jones_77--2", 4.0),
               _record("lee_5", 8.0)]
    report.write_outputs(tmp_path, records, {"probe_seed": 1})
    scores = [("smith_1234", "q_a", 2.0), ("smith_1234", "q_b", 1.5), ("jones_77", "q_a", 1.0),
              ("jones_77", "q_b", None), ("lee_5", "q_a", 0.0), ("lee_5", "q_b", 0.5)]
    rows = [{"student": s, "assignment": A, "question": q, "max": 2.0, "points": p, "comment": ""}
            for s, q, p in scores]
    (tmp_path / written.WRITTEN_FILE).write_text(json.dumps({"sheets": ["x.csv"], "scores": rows}))
    report.rewrite_outputs(tmp_path)
    return tmp_path


def _read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_canvas_layout_with_points_possible_and_the_canvas_user_id(grades):
    text, blank = export.export(grades, "canvas")
    rows = _read(text)
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", A]
    assert rows[1] == ["Points Possible", "", "", "", "", "14"]
    body = {r[0]: r for r in rows[2:]}
    assert body["smith_1234"][1] == "1234" and body["smith_1234"][5] == "13.5"
    assert body["lee_5"][5] == "8.5"
    assert body["jones_77"][5] == "" and blank == 1  # q_b not graded yet: left blank, never a partial total
    assert "jones_77--2" not in body  # a second file of one student is the instructor's decision


def test_partial_exports_what_is_graded_so_far(grades):
    text, blank = export.export(grades, "canvas", partial=True)
    assert {r[0]: r[5] for r in _read(text)[2:]}["jones_77"] == "7" and blank == 0


def test_moodle_layout_and_renamed_columns(grades):
    text, _ = export.export(grades, "moodle", columns={A: "Notebook 1 (4321)"})
    rows = _read(text)
    assert rows[0] == ["student", "Notebook 1 (4321)"]
    assert dict(rows[1:]) == {"jones_77": "", "lee_5": "8.5", "smith_1234": "13.5"}


def test_canvas_needs_a_user_id_in_every_student_id(tmp_path):
    report.write_outputs(tmp_path, [_record("jdoe", 5.0)], {})
    with pytest.raises(ValueError, match="no Canvas user id at the end of the student id of jdoe"):
        export.export(tmp_path, "canvas")
    assert _read(export.export(tmp_path, "moodle")[0])[1] == ["jdoe", ""]  # not graded yet: no sheet folded


def test_the_command_writes_the_file_and_says_what_it_left_blank(grades, capsys):
    assert cli.main(["export", str(grades), "--lms", "canvas"]) == 0
    assert "1 grade(s) left blank" in capsys.readouterr().out
    assert (grades / "grades-canvas.csv").read_text().startswith("Student,ID,")
    assert cli.main(["export", str(grades), "--lms", "moodle", "--column", "nonsense"]) == 2


def test_grades_csv_counts_what_is_not_graded_yet(grades):
    rows = {r["student"]: r for r in csv.DictReader((grades / "grades.csv").open())}
    assert rows["jones_77"]["not_graded"] == "1" and rows["jones_77"][f"{A}/q_b"] == ""
    assert rows["jones_77"]["total"] == "7" and rows["jones_77"]["max"] == "14"
    assert rows["jones_77--2"]["not_graded"] == "2"


@pytest.mark.parametrize("value, written_as", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("+1", "'+1"), ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"), ("plain text", "plain text"), (1.5, "1.5"), (2.0, "2"), (None, ""), (-1.0, "-1"),
])
def test_spreadsheet_cells_never_start_a_formula(value, written_as):
    assert sheets.cell(value) == written_as
    if isinstance(value, str):
        assert sheets.uncell(written_as) == value


def test_sheets_read_back_what_they_wrote():
    text = sheets.write_rows(["Student", "comment"], [{"Student": "a", "comment": "=1+1"}, ["b", "x, \"y\"\nz"]])
    header, rows, delimiter = sheets.read_rows(("\ufeff" + text).encode())
    assert header == ["student", "comment"] and delimiter == ","
    assert [(n, sheets.uncell(r["comment"])) for n, r in rows] == [(2, "=1+1"), (3, 'x, "y"\nz')]
    with pytest.raises(ValueError, match="UTF-8"):
        sheets.read_rows(b"\xff\xfe s\x00")
