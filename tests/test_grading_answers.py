"""Grading by question: the pages and the scores sheet of a small graded class (``class_corpus.small_class``)."""

from __future__ import annotations

import csv
import io
import json
import re

import class_corpus
import grading_corpus as corpus
import nbformat
import pytest

from autograder import course as course_mod
from autograder.grading import answers, markup, questions, sheets
from autograder.grading.written import SHEET_COLUMNS
from autograder.source import read_source

NAME = corpus.NAME


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    grades = tmp_path_factory.mktemp("grades")
    planted = class_corpus.small_class(grades)
    result = answers.build(grades)
    return grades, grades / "answers", planted, result


def _page(out, question: str) -> str:
    return (out / NAME / f"{question}.html").read_text(encoding="utf-8")


def _sheet(out) -> list[dict]:
    return list(csv.DictReader(io.StringIO((out / answers.SHEET).read_text(encoding="utf-8"))))


def test_one_page_per_question_with_every_student(built):
    _, out, planted, result = built
    assert result["questions"] == 5 and result["submissions"] == 6
    for q in questions.questions(NAME):
        html = _page(out, q.grade_id)
        assert html.startswith("<!DOCTYPE html>")
        assert f"{q.points:g} points" in html
        for student in planted["students"]:
            assert f'id="s-{student}"' in html, (q.grade_id, student)
        assert markup.markdown_to_html(q.rubric) in html  # the rubric, from source/
        assert "Question" in html and q.prompt.splitlines()[1][:40] in html
    index = (out / "index.html").read_text(encoding="utf-8")
    assert all(f'href="{NAME}/{q.grade_id}.html"' in index for q in questions.questions(NAME))
    assert (out / NAME / "code-jigsaw_dataset.html").exists()


def test_the_sheet_has_a_row_per_student_and_question_with_templates_prescored(built):
    _, out, planted, _ = built
    rows = _sheet(out)
    assert list(rows[0]) == list(SHEET_COLUMNS)
    assert len(rows) == 6 * 5
    assert {(r["student"], r["question"]) for r in rows} == {(s, q.grade_id) for s in planted["students"]
                                                             for q in questions.questions(NAME)}
    by = {(r["student"], r["question"]): r for r in rows}
    assert all(r["max_points"] == "2" for r in rows)
    template = by["dee", "q_random_init"]
    assert template["points"] == "0" and "template" in template["comment"] and "YOUR ANSWER HERE" in template["comment"]
    assert by["dee", "q_jigsaw"]["points"] == "0" and "empty" in by["dee", "q_jigsaw"]["comment"]
    assert by["eve", "q_colorization"]["points"] == "0" and "missing" in by["eve", "q_colorization"]["comment"]
    answered = by["ada", "q_rotation"]
    assert answered["points"] == "" and answered["comment"] == ""


def test_answers_are_marked_with_their_status(built):
    _, out, _, _ = built
    html = _page(out, "q_random_init")
    assert re.search(r'id="s-dee">.*?<span class="status template">', html, flags=re.S)
    assert re.search(r'id="s-ada">.*?<span class="status answered">', html, flags=re.S)
    assert '<span class="status empty">' in _page(out, "q_jigsaw")
    assert re.search(r'id="s-eve">.*?<span class="status missing">', _page(out, "q_colorization"), flags=re.S)


def test_outputs_come_from_the_submitted_notebook_never_from_the_grading_run(built):
    _, out, _, _ = built
    html = _page(out, "q_label_efficiency")
    ada = html.split('id="s-ada"')[1].split("<article")[0]
    assert "rotation: 10 per class 31.2%" in ada
    assert "GRADING-MODE" not in html
    images = re.findall(r'<img class="output" loading="lazy" src="([^"]+)"', ada)
    assert len(images) == 1 and (out / NAME / images[0]).is_file()
    assert "not run, or its outputs were cleared" in html.split('id="s-bob"')[1].split("<article")[0]
    assert "Output of the cell" not in _page(out, "q_jigsaw")  # a question about ideas shows no outputs


def test_student_text_is_escaped_and_maths_is_mathml(built):
    _, out, _, _ = built
    for path in out.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert "<script" not in text, path
        assert markup.CONTENT_SECURITY_POLICY.replace("'", "&#x27;") in text, path
    html = _page(out, "q_rotation")
    assert "&lt;script&gt;alert(" in html
    assert "<mfrac>" in html and "<math" in html


def test_copied_work_is_listed_in_the_class_summary_with_links_to_both_pages(built):
    grades, out, planted, _ = built
    summary = (grades / "summary.md").read_text(encoding="utf-8")
    assert "## Possible copied work" in summary and "No point was changed" in summary
    links = re.findall(r"\]\(([^)#]+)#s-([a-z0-9_-]+)\)", summary)
    a, b, question = planted["copied_answer"]
    assert (f"answers/{NAME}/{question}.html", a) in links and (f"answers/{NAME}/{question}.html", b) in links
    a, b, exercise = planted["copied_code"]
    assert (f"answers/{NAME}/code-{exercise}.html", a) in links and (f"answers/{NAME}/code-{exercise}.html", b) in links
    for page, student in links:
        assert f'id="s-{student}"' in (grades / page).read_text(encoding="utf-8"), (page, student)
    data = json.loads((grades / "summary.json").read_text())
    flagged = {(i["item"], p["a"], p["b"]) for i in data["copied_work"]["items"] for p in i["pairs"]}
    assert flagged == {("q_rotation", "ada", "cy"), ("jigsaw_dataset", "bob", "cy")}
    model = {(i["item"], h["student"]) for i in data["copied_work"]["items"] for h in i.get("like_model_answer", [])}
    assert model == {("q_rotation", "eve")}
    assert "Near-identical answer to" in _page(out, "q_rotation")


def test_points_are_never_changed_by_the_flags(built):
    grades, _, _, _ = built
    rows = {r["student"]: r for r in csv.DictReader((grades / "grades.csv").open())}
    assert rows["cy"]["total"] == rows["ada"]["total"] == f"{sum(corpus.POINTS.values()):g}"


def test_rerunning_keeps_what_was_filled_in(built, tmp_path):
    grades, out, _, _ = built
    rows = _sheet(out)
    for row in rows:
        if row["student"] == "ada":
            row["points"], row["comment"] = "1.5", "=ok, see rubric"
    text = sheets.write_rows(list(SHEET_COLUMNS), rows)
    (out / answers.SHEET).write_text(text, encoding="utf-8")
    result = answers.build(grades)
    assert result["kept"] == 5 + 6  # ada's five rows and the six pre-scored ones
    assert (out / answers.SHEET).read_text(encoding="utf-8") == text
    assert "'=ok, see rubric" in text  # spreadsheet-safe


def test_every_evidence_cell_is_exactly_one_code_cell_of_its_release():
    for name, per_question in questions.EVIDENCE.items():
        release = nbformat.read(course_mod.RELEASE / name / f"{name}.ipynb", as_version=4)
        ids = {q.grade_id for q in questions.questions(name)}
        assert set(per_question) <= ids, name
        for question, pieces in per_question.items():
            for piece in pieces:
                found = [c for c in release.cells if c.cell_type == "code" and piece in c.source]
                assert len(found) == 1, (name, question, piece, len(found))


def test_questions_read_prompt_points_rubric_and_stub_from_the_course():
    for name in course_mod.assignments():
        qs = questions.questions(name)
        assert qs and [q.number for q in qs] == list(range(1, len(qs) + 1))
        for q in qs:
            assert q.prompt.startswith("### Question") and q.rubric and q.points > 0
            assert q.stub.strip() == "YOUR ANSWER HERE"
            assert q.rubric not in q.prompt


def test_every_formula_of_the_course_renders_to_mathml():
    formulas = []
    for name in course_mod.assignments():
        for cell in read_source(course_mod.SOURCE / f"{name}.py").cells:
            if cell.cell_type == "markdown":
                formulas += re.findall(r"\$\$(.+?)\$\$|\$([^$\n]+?)\$", cell.source, flags=re.S)
    assert formulas, "no LaTeX found in source/: this test no longer tests anything"
    for display, inline in formulas:
        html = markup.latex_to_mathml((display or inline).strip(), bool(display))
        assert html.startswith("<math") and "latex-error" not in html, display or inline


@pytest.mark.parametrize("latex, must", [
    (r"\frac{a}{b}", "<mfrac>"), (r"\sqrt{p (1 - p) / n}", "<msqrt>"), (r"\sum_{k \ne i} e^{s_{ik}/t}", "<msup>"),
    (r"\text{<img src=x onerror=alert(1)>}", "&lt;img"), (r"\href{javascript:alert(1)}{x}", "<mi>x</mi>"),
])
def test_latex_is_converted_and_sanitised(latex, must):
    html = markup.latex_to_mathml(latex)
    assert must in html
    assert "<img" not in html and "javascript" not in html


def test_unconvertible_latex_is_shown_as_code():
    assert 'class="latex-error"' in markup.latex_to_mathml(r"\frac{a}{")


@pytest.mark.parametrize("text, forbidden", [
    ("<b onmouseover=alert(1)>x</b>", "<b"), ("[x](javascript:alert(1))", 'href="javascript'),
    ("![x](https://tracker.example/p.png)", "<img"), ("<iframe src=x>", "<iframe"),
])
def test_markdown_keeps_no_html_no_script_links_and_no_remote_images(text, forbidden):
    assert forbidden not in markup.markdown_to_html(text)


def test_attached_images_are_checked_and_embedded():
    good = class_corpus.png(5)
    import base64

    attachments = {"a.png": {"image/png": base64.b64encode(good).decode()},
                   "b.png": {"image/png": base64.b64encode(b"<svg onload=alert(1)>").decode()}}
    html = markup.markdown_to_html("![plot](attachment:a.png) ![bad](attachment:b.png)", attachments)
    assert html.count("<img") == 1 and "data:image/png;base64," in html and "image not shown: bad" in html


def test_outputs_html_and_svg_are_never_copied():
    output = {"output_type": "display_data", "data": {"text/html": "<script>x()</script>", "image/svg+xml": "<svg/>",
                                                      "text/plain": "<IPython.core.display.HTML object>"}}
    html = markup.output_to_html(output)
    assert "<script" not in html and "<svg" not in html and "&lt;IPython" in html


def test_without_the_submitted_copy_answers_come_from_the_graders_run_and_outputs_are_not_shown(built, tmp_path):
    import shutil

    grades = tmp_path / "grades"
    shutil.copytree(built[0], grades)
    (grades / "submitted" / "ada" / f"{NAME}.ipynb").unlink()  # a folder graded before submissions were kept
    answers.build(grades)
    ada = (grades / "answers" / NAME / "q_label_efficiency.html").read_text(encoding="utf-8").split('id="s-ada"')[1]
    ada = ada.split("<article")[0]
    assert "ten labels per class rotation is ahead" in ada  # the answer, read from the autograded notebook
    assert "GRADING-MODE" not in ada and "outputs of the student's own run are not available" in ada


def test_the_command_line_refuses_a_folder_that_is_not_a_grade_run(tmp_path, capsys):
    from autograder import cli

    assert cli.main(["answers", str(tmp_path)]) == 2
    assert "has no results.json" in capsys.readouterr().err
