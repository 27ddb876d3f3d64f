"""Folding a filled scores sheet into the grades: totals, feedback, idempotence, and bad sheets that change nothing."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import shutil

import class_corpus
import grading_corpus as corpus
import pytest

from autograder import cli
from autograder.grading import answers, sheets, written
from autograder.grading.written import SHEET_COLUMNS, SheetError

pytestmark = pytest.mark.integration  # every fold renders the class's feedback with nbconvert (seconds each)
NAME = corpus.NAME
#: Full autograded points of the corpus notebook, as grades.csv writes numbers.
AUTO = sum(corpus.POINTS.values())


def _n(value: float) -> str:
    return f"{value:g}"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A graded small class with its pages and blank scores sheet (copied by each test before use)."""
    grades = tmp_path_factory.mktemp("class")
    class_corpus.small_class(grades)
    answers.build(grades)
    written.refresh_feedback(grades, written.graded_submissions(grades), None)  # what grade itself writes
    return grades


@pytest.fixture(scope="module")
def folded(graded, tmp_path_factory):
    """The class with a sheet folded in: 1 point for every answer, ada 2, bob 1.5, cy 0.5, and comments."""
    grades = tmp_path_factory.mktemp("folded") / "grades"
    shutil.copytree(graded, grades)
    sheet = grades.parent / "scores.csv"
    _write(sheet, _fill(_rows(grades), points=lambda r: {"ada": "2", "bob": "1.5", "cy": "0.5"}.get(r["student"], "1"),
                        comment=lambda r: "<b>Good</b> =HYPERLINK(\"x\") *argument*"))
    written.fold(grades, [sheet])
    return grades


@pytest.fixture
def grades(graded, tmp_path):
    folder = tmp_path / "grades"
    shutil.copytree(graded, folder)
    return folder


def _rows(grades) -> list[dict]:
    return list(csv.DictReader(io.StringIO((grades / "answers" / answers.SHEET).read_text(encoding="utf-8"))))


def _write(path, rows, header=SHEET_COLUMNS) -> None:
    path.write_text(sheets.write_rows(list(header), rows), encoding="utf-8")


def _fill(rows, points=lambda r: "1.5", comment=lambda r: "") -> list[dict]:
    out = []
    for r in rows:
        r = dict(r)
        if r["points"] == "":
            r["points"], r["comment"] = points(r), comment(r)
        out.append(r)
    return out


def _grades_csv(grades) -> dict[str, dict]:
    return {r["student"]: r for r in csv.DictReader((grades / "grades.csv").open())}


def _snapshot(grades) -> dict:
    return {p.relative_to(grades).as_posix(): p.read_bytes() for p in sorted(grades.rglob("*")) if p.is_file()}


def test_totals_are_autograded_plus_written_points(folded):
    rows = _grades_csv(folded)
    auto = [f"{NAME}/{t}" for t in corpus.POINTS]
    qs = [f"{NAME}/{q}" for q in ("q_random_init", "q_rotation", "q_jigsaw", "q_colorization", "q_label_efficiency")]
    for student, row in rows.items():
        expected = sum(float(row[c]) for c in auto) + sum(float(row[c]) for c in qs)
        assert float(row["total"]) == expected == float(row[f"{NAME}/total"]), student
        assert row["max"] == _n(AUTO + 10) and row["not_graded"] == "0"
    assert rows["ada"]["total"] == _n(AUTO + 10) and rows["bob"]["total"] == _n(AUTO + 7.5)
    assert rows["dee"][f"{NAME}/q_random_init"] == "0"  # the template, pre-scored
    assert rows["dee"]["total"] == _n(AUTO)  # four templates and one empty answer, pre-scored 0 in the sheet


def test_feedback_shows_written_points_and_comments_next_to_the_answers(folded):
    html = (folded / "feedback" / "bob" / f"{NAME}.html").read_text(encoding="utf-8")
    assert "written answers: 7.5 / 10" in html
    assert html.count("Written answer <code>q_") == 5
    assert "Written answer <code>q_rotation</code>: 1.5 / 2" in html
    assert "&lt;b&gt;Good&lt;/b&gt;" in html and "<b>Good</b>" not in html and "*argument*" in html
    dee = (folded / "feedback" / "dee" / f"{NAME}.html").read_text(encoding="utf-8")
    assert "no answer: the answer cell still holds the template" in dee


def test_blank_points_stay_not_graded_yet_never_zero(grades, tmp_path):
    rows = _rows(grades)  # the sheet as written: only the templates are pre-scored
    sheet = tmp_path / "scores.csv"
    _write(sheet, rows)
    written.fold(grades, [sheet])
    ada = _grades_csv(grades)["ada"]
    assert ada[f"{NAME}/q_rotation"] == "" and ada["not_graded"] == "5" and ada["total"] == _n(AUTO)
    html = (grades / "feedback" / "ada" / f"{NAME}.html").read_text(encoding="utf-8")
    assert "Written answer <code>q_rotation</code>: not graded yet" in html and "5 question(s) not graded yet" in html
    dee = _grades_csv(grades)["dee"]
    assert dee["not_graded"] == "0" and dee["total"] == _n(AUTO)  # all five pre-scored 0, with the reason


def test_folding_again_is_idempotent_and_a_corrected_sheet_corrects_the_grades(grades, tmp_path):
    sheet = tmp_path / "scores.csv"
    _write(sheet, _fill(_rows(grades)))
    written.fold(grades, [sheet])
    first = _snapshot(grades)
    written.fold(grades, [sheet])
    assert _snapshot(grades) == first
    _write(sheet, _fill(_rows(grades), points=lambda r: "2" if r["student"] == "bob" else "1.5"))
    written.fold(grades, [sheet])
    assert _grades_csv(grades)["bob"]["total"] == _n(AUTO + 10) and _grades_csv(grades)["ada"]["total"] == _n(AUTO + 7.5)


def test_several_sheets_fold_together(grades, tmp_path):
    rows = _fill(_rows(grades))
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    _write(one, [r for r in rows if r["question"] == "q_rotation"])
    _write(two, [r for r in rows if r["question"] != "q_rotation"])
    written.fold(grades, [one, two])
    assert _grades_csv(grades)["ada"]["not_graded"] == "0"
    assert json.loads((grades / written.WRITTEN_FILE).read_text())["sheets"] == ["one.csv", "two.csv"]


def test_a_spreadsheet_with_semicolons_and_decimal_commas_is_read(grades, tmp_path):
    rows = _fill(_rows(grades))
    text = "\ufeff" + sheets.write_rows(list(SHEET_COLUMNS), rows).replace(",", ";").replace("1.5", "1,5")
    sheet = tmp_path / "excel.csv"
    sheet.write_text(text, encoding="utf-8")
    written.fold(grades, [sheet])
    assert _grades_csv(grades)["ada"]["total"] == _n(AUTO + 7.5)


def _bad(rows: list[dict], kind: str) -> tuple[list[dict], list[str], str]:
    rows = [dict(r) for r in _fill(rows)]
    header = list(SHEET_COLUMNS)
    first = next(i for i, r in enumerate(rows) if r["student"] == "ada")
    row = rows[first]
    if kind == "unknown student":
        row["student"], match = "adaa", "no graded submission of 01_pretext_tasks by student 'adaa'"
    elif kind == "unknown question":
        row["question"], match = "q_rotations", "has no written question 'q_rotations'"
    elif kind == "above the maximum":
        row["points"], match = "2.5", "points 2.5 is above the maximum"
    elif kind == "negative":
        row["points"], match = "-1", "points -1 is negative"
    elif kind == "not a number":
        row["points"], match = "good", "points 'good' is not a number"
    elif kind == "not finite":
        row["points"], match = "nan", "points 'nan' is not a number"
    elif kind == "duplicate":
        rows.append(dict(row))
        match = "a second row for ada"
    elif kind == "another assignment":
        for r in rows:
            r["assignment"] = "02_simclr"
        match = "a sheet of 02_simclr, but"
    elif kind == "another version":
        row["max_points"], match = "3", "max_points is 3 but"
    elif kind == "not a scores sheet":
        header, match = ["student", "grade"], "not a scores sheet: no column assignment"
    return rows, header, match


@pytest.mark.parametrize("kind", ["unknown student", "unknown question", "above the maximum", "negative",
                                  "not a number", "not finite", "duplicate", "another assignment", "another version",
                                  "not a scores sheet"])
def test_a_bad_sheet_is_rejected_with_its_row_and_nothing_changes(folded, tmp_path, kind):
    grades = tmp_path / "grades"
    shutil.copytree(folded, grades)  # a sheet was folded before: it must survive the bad one
    before = _snapshot(grades)
    rows, header, match = _bad(_rows(grades), kind)
    bad = tmp_path / "bad.csv"
    _write(bad, rows, header)
    with pytest.raises(SheetError) as error:
        written.fold(grades, [bad])
    assert match in str(error.value) and "nothing was changed" in str(error.value)
    if kind not in ("another assignment", "not a scores sheet"):
        assert "bad.csv, row " in str(error.value)
    assert _snapshot(grades) == before


def test_the_command_line_reports_a_bad_sheet_and_exits_1(grades, tmp_path, capsys):
    rows, header, _ = _bad(_rows(grades), "above the maximum")
    bad = tmp_path / "bad.csv"
    _write(bad, rows, header)
    assert cli.main(["written", str(grades), str(bad)]) == 1
    assert "bad.csv, row 2: points 2.5 is above the maximum" in capsys.readouterr().err
    good = tmp_path / "good.csv"
    _write(good, _fill(_rows(grades)))
    assert cli.main(["written", str(grades), str(good)]) == 0


def test_a_grade_run_or_merge_after_folding_keeps_the_written_points(folded, tmp_path):
    from autograder.grading.report import rewrite_outputs

    grades = tmp_path / "grades"
    shutil.copytree(folded, grades)
    before = _snapshot(grades)
    rewrite_outputs(grades)  # what grade --resume and merge do through write_outputs
    assert written.refresh_feedback(grades, written.graded_submissions(grades), written.load(grades)) == 0
    assert _snapshot(grades) == before


def test_a_comment_renders_as_written_escaped_once():
    """The grader's comment enters the feedback's Markdown through markup.inline, the one definition
    (no second escaping of its own: "&" must not come out as "&amp;")."""
    from markdown_it import MarkdownIt

    from autograder.grading.written import feedback_line

    comment = "a < b & c, 2*3 = 6_\n# not a heading [link](x) `code`"
    line = feedback_line("q_rotation", {"points": 1.0, "max": 2.0, "comment": comment})
    rendered = MarkdownIt("commonmark").render(line)
    text = re.sub(r"<[^>]+>", "", rendered).strip()
    assert html.unescape(text).endswith(" - " + " ".join(comment.split())), rendered
    assert "&amp;amp;" not in rendered and "<h1>" not in rendered
