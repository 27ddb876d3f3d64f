"""Written answers in the grades: the scores sheet, its checks, and folding it into an output folder.

``python -m autograder answers`` writes the **scores sheet** (:data:`SHEET_COLUMNS`), one row
per student and written question; grading is filling its ``points`` and ``comment`` columns.
``python -m autograder written GRADES_DIR SHEET...`` folds filled sheets into the grades:

1. every row of every sheet is checked against the graded submissions in ``GRADES_DIR``
   (:func:`read_sheets`); any problem (unknown student or question, points above the maximum,
   negative or not a number, a duplicate row, a sheet of another assignment) is reported with
   its sheet and row, and **nothing is written**;
2. the sheets' content replaces ``GRADES_DIR/written.json`` (so folding a corrected sheet again
   gives the corrected grades: the result depends on the sheets, not on what was folded before);
3. ``grades.csv`` and the class summary are rewritten from ``results.json`` and it
   (:func:`autograder.grading.report.rewrite_outputs`), and every student's feedback is rendered
   again with the written points and the grader's comment next to each answer.

A row whose points are blank is **not graded yet**: it stays blank in ``grades.csv`` (the
``not_graded`` column counts such questions per student), the feedback says so, and the LMS
export leaves that student's total for the assignment blank. It never counts as 0.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path

import nbformat

from .. import course as course_mod
from .markup import inline
from .record import scored
from . import sheets

SHEET_COLUMNS = ("student", "assignment", "question", "max_points", "points", "comment")
WRITTEN_FILE = "written.json"
NOT_GRADED = "not graded yet"


class SheetError(ValueError):
    """A scores sheet that cannot be folded in; ``problems`` name each sheet row at fault."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__("nothing was changed; fix the sheet and run again:\n  " + "\n  ".join(problems[:20]) + more)


# ---------------------------------------------------------------------------- what the grades hold
def graded_submissions(grades_dir: Path) -> list[dict]:
    """The graded submissions of an output folder, as ``results.json`` lists them.

    Raises:
        FileNotFoundError: if the folder has no ``results.json`` (not the output of ``grade``).
    """
    path = Path(grades_dir) / "results.json"
    if not path.exists():
        raise FileNotFoundError(f"{grades_dir} has no results.json: is it the --out folder of a grade run?")
    data = json.loads(path.read_text(encoding="utf-8"))
    return scored(data.get("submissions", []))


def _maxima(submissions: list[dict]) -> dict[tuple[str, str], dict[str, float]]:
    """``{(student, assignment): {question: max}}`` of the graded submissions."""
    return {(r["student"], r["assignment"]): {q: float(m["max"]) for q, m in r.get("manual", {}).items()}
            for r in submissions}


# ---------------------------------------------------------------------------- the sheet
def _number(text: str, delimiter: str) -> float:
    value = text.strip()
    if delimiter != "," and re.fullmatch(r"[+-]?\d+,\d*", value):
        value = value.replace(",", ".")  # a decimal comma, from a spreadsheet that separates with ';'
    number = float(value)  # ValueError for text
    if not math.isfinite(number):
        raise ValueError(value)
    return number


def read_sheets(grades_dir: Path, paths: list[Path]) -> dict[tuple[str, str, str], dict]:
    """The checked content of filled scores sheets: ``{(student, assignment, question): {max, points, comment}}``.

    ``points`` is None where the row is not graded yet.

    Raises:
        SheetError: listing every problem, each with its sheet and row.
        FileNotFoundError: if ``grades_dir`` is not a grade run's output folder or a sheet is missing.
    """
    maxima = _maxima(graded_submissions(grades_dir))
    assignments = sorted({a for _, a in maxima})
    questions = {a: next(m for (s, b), m in maxima.items() if b == a) for a in assignments}
    problems: list[str] = []
    scores: dict[tuple[str, str, str], dict] = {}
    seen: dict[tuple[str, str, str], str] = {}
    for path in map(Path, paths):
        where = path.name
        try:
            header, rows, delimiter = sheets.read_rows(path.read_bytes())
        except ValueError as error:
            problems.append(f"{where}: {error}")
            continue
        missing = [c for c in SHEET_COLUMNS if c not in header]
        if missing:
            problems.append(f"{where}: not a scores sheet: no column {', '.join(missing)} (a scores sheet has "
                            f"{', '.join(SHEET_COLUMNS)}; `python -m autograder answers` writes one)")
            continue
        foreign = sorted({sheets.uncell(row["assignment"]) for _, row in rows} - set(assignments))
        if rows and len(foreign) == len({sheets.uncell(row["assignment"]) for _, row in rows}):
            problems.append(f"{where}: a sheet of {', '.join(foreign)}, but {grades_dir} holds the grades of "
                            f"{', '.join(assignments) or 'no assignment'}")
            continue
        for number, row in rows:
            at = f"{where}, row {number}"
            student, assignment, question = (sheets.uncell(row[c]) for c in ("student", "assignment", "question"))
            if assignment not in questions:
                problems.append(f"{at}: assignment {assignment!r} is not in these grades ({', '.join(assignments)})")
                continue
            if question not in questions[assignment]:
                problems.append(f"{at}: {assignment} has no written question {question!r} "
                                f"(its questions: {', '.join(questions[assignment])})")
                continue
            if (student, assignment) not in maxima:
                problems.append(f"{at}: no graded submission of {assignment} by student {student!r}")
                continue
            maximum = maxima[student, assignment][question]
            key = (student, assignment, question)
            if key in seen:
                problems.append(f"{at}: a second row for {student}, {assignment}/{question} (the first is {seen[key]})")
                continue
            seen[key] = at
            stated = sheets.uncell(row["max_points"])
            try:
                if stated and _number(stated, delimiter) != maximum:
                    problems.append(f"{at}: max_points is {stated} but {assignment}/{question} is worth {maximum:g} "
                                    "(a sheet of another version of the assignment?)")
                    continue
            except ValueError:
                problems.append(f"{at}: max_points {stated!r} is not a number")
                continue
            text = sheets.uncell(row["points"])
            points = None
            if text:
                try:
                    points = _number(text, delimiter)
                except ValueError:
                    problems.append(f"{at}: points {text!r} is not a number (leave it blank if not graded yet)")
                    continue
                if points < 0:
                    problems.append(f"{at}: points {text} is negative")
                    continue
                if points > maximum:
                    problems.append(f"{at}: points {text} is above the maximum of {assignment}/{question}, {maximum:g}")
                    continue
            scores[key] = {"max": maximum, "points": points, "comment": sheets.uncell(row["comment"])}
    if problems:
        raise SheetError(problems)
    return dict(sorted(scores.items()))


# ---------------------------------------------------------------------------- written.json
def load(grades_dir: Path) -> dict[tuple[str, str, str], dict] | None:
    """The folded written scores of an output folder, or None if no sheet was ever folded in."""
    path = Path(grades_dir) / WRITTEN_FILE
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return {(s["student"], s["assignment"], s["question"]): {"max": s["max"], "points": s["points"],
                                                             "comment": s["comment"]}
            for s in data["scores"]}


def for_record(written: dict | None, record: dict) -> dict[str, dict] | None:
    """``{question: {max, points, comment}}`` of one submission (every question of it, graded or not),
    or None if no sheet was ever folded in."""
    if written is None:
        return None
    return {q: written.get((record["student"], record["assignment"], q),
                           {"max": float(m["max"]), "points": None, "comment": ""})
            for q, m in record.get("manual", {}).items()}


def _dumps(scores: dict, names: list[str]) -> str:
    rows = [{"student": s, "assignment": a, "question": q, **v} for (s, a, q), v in sorted(scores.items())]
    return json.dumps({"sheets": names, "scores": rows}, indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------- rendering
def points_text(entry: dict) -> str:
    """``1.5 / 2`` or ``not graded yet``."""
    return NOT_GRADED if entry["points"] is None else f"{entry['points']:g} / {entry['max']:g}"


def feedback_line(question: str, entry: dict) -> str:
    """The Markdown the student's feedback shows under their answer to ``question``."""
    line = f"**Written answer `{question}`: {points_text(entry)}**"
    if entry["points"] is None:
        line += f" ({entry['max']:g} points)"
    if entry.get("comment"):
        line += f" - {inline(entry['comment'])}"
    return line


def totals(entries: dict[str, dict]) -> tuple[float, float, int]:
    """``(points, maximum, questions not graded yet)`` of one submission's written answers."""
    return (sum(e["points"] or 0.0 for e in entries.values()), sum(e["max"] for e in entries.values()),
            sum(1 for e in entries.values() if e["points"] is None))


# ---------------------------------------------------------------------------- folding
def refresh_feedback(grades_dir: Path, submissions: list[dict], written: dict | None,
                     release_dir: Path = course_mod.RELEASE) -> int:
    """Render again the feedback of every submission that has written questions; return how many
    were rendered. A page whose content would not change (its digest, kept in a last-line comment,
    is the same) is left as it is: rendering takes about a second a notebook."""
    from .feedback import feedback_notebook, render_html
    from .report import atomic_write

    grades_dir = Path(grades_dir)
    releases: dict[str, nbformat.NotebookNode] = {}
    done = 0
    for record in submissions:
        if not record.get("manual") or not record.get("feedback"):
            continue
        student, assignment = record["student"], record["assignment"]
        source = next((p for p in (grades_dir / "autograded" / student / f"{assignment}.ipynb",
                                   grades_dir / "submitted" / student / f"{assignment}.ipynb") if p.exists()), None)
        if source is None:
            continue
        if assignment not in releases:
            releases[assignment] = nbformat.read(Path(release_dir) / assignment / f"{assignment}.ipynb", as_version=4)
        nb = feedback_notebook(nbformat.read(source, as_version=4), releases[assignment], record,
                               written=for_record(written, record))
        mark = f"<!-- feedback digest {hashlib.sha256(nbformat.writes(nb).encode()).hexdigest()} -->\n"
        target = grades_dir / record["feedback"]
        if target.exists() and target.read_text(encoding="utf-8").endswith(mark):
            continue
        atomic_write(target, render_html(nb) + mark)
        done += 1
    return done


def fold(grades_dir: Path, paths: list[Path], log=None) -> dict:
    """Fold filled scores sheets into ``grades_dir`` (see the module docstring); return counts.

    Raises:
        SheetError: nothing was written.
    """
    from .report import atomic_write, rewrite_outputs

    log = log or (lambda line: None)
    grades_dir = Path(grades_dir)
    scores = read_sheets(grades_dir, paths)
    atomic_write(grades_dir / WRITTEN_FILE, _dumps(scores, sorted(Path(p).name for p in paths)))
    rewrite_outputs(grades_dir)
    submissions = graded_submissions(grades_dir)
    rendered = refresh_feedback(grades_dir, submissions, load(grades_dir))
    expected = sum(len(r.get("manual", {})) for r in submissions)
    graded = sum(1 for v in scores.values() if v["points"] is not None)
    log(f"{graded} written answer(s) graded, {expected - graded} not graded yet; feedback rendered again for "
        f"{rendered} submission(s) (the others did not change)")
    return {"rows": len(scores), "graded": graded, "not_graded": expected - graded, "feedback": rendered}
