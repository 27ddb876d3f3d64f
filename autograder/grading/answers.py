"""Grading by question: one page per written question with every student's answer, and the scores sheet.

``python -m autograder answers GRADES_DIR [--out DIR]`` reads a grade run's output folder and
writes to ``DIR`` (default ``GRADES_DIR/answers``)::

    index.html                         every question and exercise page, the answer counts, and
                                       the pairs flagged as possible copied work
    <notebook>/<question>.html         one written question: prompt, points, rubric (the model
                                       answer), then every student's answer (Markdown, maths as
                                       MathML) with the outputs of their own run that the
                                       question is about (:data:`.questions.EVIDENCE`)
    <notebook>/code-<exercise>.html    every student's code of one exercise (to compare flagged pairs)
    images/<sha256>.<ext>              the figures of those outputs, one file per distinct image
    scores.csv                         the scores sheet: a row per student and written question
                                       (student, assignment, question, max_points, points, comment);
                                       blank answers and untouched templates pre-scored 0, with why

and ``GRADES_DIR/similarity.json``, which adds a "Possible copied work" section with links to
these pages to the class summary (``summary.md``).

The outputs shown come from ``GRADES_DIR/submitted/``: the notebook as the student handed it
in (repaired, without Colab's personal metadata), so the numbers and figures are those of the
student's own Colab run, never of the grader's grading-mode run (whose numbers mean nothing).

The pages are static HTML that works offline: no script, no font or stylesheet from elsewhere,
maths rendered on the server (:mod:`.markup`); everything a student wrote or printed is escaped.

Re-running keeps a filled sheet: rows whose ``points`` or ``comment`` were filled in keep them,
new submissions get new rows.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .. import course as course_mod
from ..source import BEGIN_SOLUTION, END_SOLUTION, read_source, strip_block
from . import questions as questions_mod
from . import sheets, similarity
from .markup import CONTENT_SECURITY_POLICY, escape, markdown_to_html, output_to_html
from .report import atomic_write, dumps, rewrite_outputs
from .written import SHEET_COLUMNS, graded_submissions

SHEET = "scores.csv"
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif"}

STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 62rem; padding: 0 1rem 4rem; color: #1b1b1b; }
header { border-bottom: 2px solid #888; margin-bottom: 1rem; }
.prompt, .rubric { background: #f4f6f8; border-left: 4px solid #5b7fa3; padding: .2rem 1rem; }
.rubric { border-color: #7a9a5b; background: #f5f8f1; }
article { border-top: 1px solid #ccc; padding: .5rem 0 1rem; }
article h2 { font-size: 1.05rem; margin: .4rem 0; }
.status { font-size: .8rem; padding: .05rem .4rem; border-radius: .3rem; background: #e8e8e8; margin-left: .5rem; }
.status.template, .status.empty, .status.missing { background: #fbe3c9; }
.noanswer { color: #8a4b00; font-style: italic; }
.evidence { margin: .5rem 0 0 1rem; padding-left: .8rem; border-left: 3px solid #d8d0f0; }
.evidence h3 { font-size: .85rem; font-weight: normal; color: #555; margin: .4rem 0; }
pre { background: #f7f7f7; padding: .4rem .6rem; overflow-x: auto; white-space: pre-wrap; font-size: .85rem; }
pre.error, pre.stderr { background: #fdf0f0; }
img.output { max-width: 100%; height: auto; display: block; }
.copied { background: #fff3cd; padding: .2rem .6rem; }
table { border-collapse: collapse; } th, td { border: 1px solid #ccc; padding: .15rem .5rem; text-align: left; }
nav.students a { margin-right: .5rem; }
.math.display { display: block; text-align: center; margin: .5rem 0; }
"""


def page(title: str, body: str) -> str:
    """A complete offline page: no script, nothing fetched from elsewhere (see :mod:`.markup`)."""
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{escape(CONTENT_SECURITY_POLICY)}">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


def question_page(question: questions_mod.Question) -> str:
    """The path of a question's page, relative to the pages folder."""
    return f"{question.assignment}/{question.grade_id}.html"


def code_page(assignment: str, exercise: str) -> str:
    """The path of an exercise's code page, relative to the pages folder."""
    return f"{assignment}/code-{exercise}.html"


@dataclass
class Submission:
    """A graded submission and the notebook its answers and outputs are read from."""

    record: dict
    notebook: nbformat.NotebookNode | None
    own_outputs: bool  # the notebook is the submitted one (the student's own run), not the grader's
    answers: dict = field(default_factory=dict)

    @property
    def student(self) -> str:
        return self.record["student"]


def _load(grades_dir: Path, record: dict) -> Submission:
    student, assignment = record["student"], record["assignment"]
    submitted = grades_dir / "submitted" / student / f"{assignment}.ipynb"
    autograded = grades_dir / "autograded" / student / f"{assignment}.ipynb"
    for path, own in ((submitted, True), (autograded, False)):
        if path.exists():
            nb = nbformat.read(path, as_version=4)
            return Submission(record, nb, own, {g: c.source for g, c in questions_mod.answer_cells(nb).items()})
    return Submission(record, None, False)


class _Images:
    """Figures written once each, under ``images/``, named by their hash."""

    def __init__(self, out: Path):
        self.folder = out / "images"
        self.written: set[str] = set()

    def __call__(self, mime: str, raw: bytes) -> str:
        name = f"{hashlib.sha256(raw).hexdigest()[:32]}.{_EXTENSIONS[mime]}"
        if name not in self.written:
            path = self.folder / name
            if not path.exists():
                atomic_write(path, raw)
            self.written.add(name)
        return f"../images/{name}"


# ---------------------------------------------------------------------------- question pages
def _evidence_html(sub: Submission, question: questions_mod.Question, images: _Images) -> str:
    if not question.evidence:
        return ""
    if not sub.own_outputs:
        return ('<div class="evidence"><p class="noanswer">The outputs of the student\'s own run are not available '
                "(no submitted notebook was kept for this grade run; grade again to keep it).</p></div>")
    parts = []
    for piece, cell in questions_mod.evidence_cells(sub.notebook, question):
        head = f"<h3>Output of the cell with <code>{escape(piece)}</code> in the submitted notebook</h3>"
        if cell is None:
            parts.append(head + '<p class="noanswer">This cell is not in the submitted notebook.</p>')
            continue
        shown = "".join(output_to_html(o, image_src=images) for o in cell.get("outputs", []))
        parts.append(head + (shown or '<p class="noanswer">No output: the cell was not run, or its outputs were '
                                      "cleared, before the notebook was handed in.</p>"))
    return '<div class="evidence">' + "".join(parts) + "</div>"


def _flags_html(student: str, partners: dict[str, list], label: str) -> str:
    mine = partners.get(student)
    if not mine:
        return ""
    links = ", ".join(f'<a href="#s-{escape(other)}">{escape(other)}</a> ({score:.2f})' for other, score in mine)
    return f'<p class="copied">{label} {links} (a prompt to compare, not a verdict)</p>'


def _partners(pairs: list[similarity.Pair]) -> dict[str, list]:
    out: dict[str, list] = defaultdict(list)
    for p in pairs:
        out[p.a].append((p.b, p.similarity))
        out[p.b].append((p.a, p.similarity))
    return out


def _question_html(question, subs: list[Submission], statuses: dict, pairs, images: _Images,
                   like_model: dict[str, float]) -> str:
    counts = defaultdict(int)
    for sub in subs:
        counts[statuses[sub.student][0]] += 1
    partners = _partners(pairs)
    head = (f"<header><p><a href=\"../index.html\">All questions</a></p>"
            f"<h1>{escape(question.assignment)}: Question {question.number} "
            f"(<code>{escape(question.grade_id)}</code>), {question.points:g} points</h1></header>"
            f'<section class="prompt">{markdown_to_html(question.prompt)}</section>'
            f'<details open><summary>Rubric: the model answer (instructors only)</summary>'
            f'<section class="rubric">{markdown_to_html(question.rubric)}</section></details>'
            f"<p>{len(subs)} submission(s): " + ", ".join(f"{n} {escape(s)}" for s, n in sorted(counts.items()))
            + f". Grade in <code>{SHEET}</code>: the rows of <code>{escape(question.assignment)}</code>, "
              f"<code>{escape(question.grade_id)}</code>.</p>"
            '<nav class="students">' + "".join(f'<a href="#s-{escape(s.student)}">{escape(s.student)}</a>'
                                               for s in subs) + "</nav>")
    articles = []
    for sub in subs:
        status, why = statuses[sub.student]
        text = sub.answers.get(question.grade_id)
        if status == questions_mod.ANSWERED:
            cell = questions_mod.answer_cells(sub.notebook).get(question.grade_id) if sub.notebook else None
            answer = markdown_to_html(text, attachments=(cell or {}).get("attachments"))
        else:
            answer = f'<p class="noanswer">{escape(why)}; pre-scored 0 in the sheet.</p>'
        articles.append(
            f'<article id="s-{escape(sub.student)}"><h2>{escape(sub.student)}'
            f'<span class="status {escape(status)}">{escape(status)}</span></h2>'
            f'<div class="answer">{answer}</div>{_evidence_html(sub, question, images)}'
            f"{_flags_html(sub.student, partners, 'Near-identical answer to')}"
            + (f'<p class="copied">Near-identical to the model answer ({like_model[sub.student]:.2f}), which '
               "students never see (a leaked solution?)</p>" if sub.student in like_model else "")
            + "</article>")
    title = f"{question.assignment} {question.grade_id}"
    return page(title, head + "\n".join(articles))


# ---------------------------------------------------------------------------- code pages
@dataclass(frozen=True)
class Exercise:
    """An exercise cell of a notebook, with what every student is given or expected to write."""

    assignment: str
    grade_id: str
    stub: str
    reference: str


def exercises(assignment: str, release_dir: Path = course_mod.RELEASE,
              source_dir: Path = course_mod.SOURCE) -> list[Exercise]:
    """The exercise (solution) cells of ``assignment``, in notebook order."""
    release = nbformat.read(Path(release_dir) / assignment / f"{assignment}.ipynb", as_version=4)
    source = read_source(Path(source_dir) / f"{assignment}.py")
    reference = {c.metadata["nbgrader"]["grade_id"]: strip_block(c.source, BEGIN_SOLUTION, END_SOLUTION, True)
                 for c in source.cells if c.metadata.get("nbgrader", {}).get("solution")}
    return [Exercise(assignment, c.metadata["nbgrader"]["grade_id"], c.source,
                     reference.get(c.metadata["nbgrader"]["grade_id"], ""))
            for c in release.cells if c.metadata.get("nbgrader", {}).get("solution")
            and not c.metadata["nbgrader"].get("grade")]


def exercise_code(nb: nbformat.NotebookNode | None, grade_id: str) -> str | None:
    if nb is None:
        return None
    return next((c.source for c in nb.cells if c.cell_type == "code"
                 and c.metadata.get("nbgrader", {}).get("grade_id") == grade_id), None)


def _code_html(exercise: Exercise, codes: dict[str, str | None], pairs) -> str:
    partners = _partners(pairs)
    head = (f"<header><p><a href=\"../index.html\">All questions</a></p>"
            f"<h1>{escape(exercise.assignment)}: exercise <code>{escape(exercise.grade_id)}</code></h1></header>"
            "<p>Every student's exercise cell as handed in (after repair). Compare flagged pairs here; "
            "the autograded points are in each student's feedback.</p>")
    articles = [f'<article id="s-{escape(student)}"><h2>{escape(student)}</h2>'
                + (f"<pre>{escape(code)}</pre>" if code is not None else '<p class="noanswer">no exercise cell</p>')
                + _flags_html(student, partners, "Same structure as") + "</article>"
                for student, code in sorted(codes.items())]
    return page(f"{exercise.assignment} {exercise.grade_id}", head + "\n".join(articles))


# ---------------------------------------------------------------------------- the sheet
def sheet_rows(question: questions_mod.Question, subs: list[Submission], statuses: dict) -> list[dict]:
    rows = []
    for sub in subs:
        status, why = statuses[sub.student]
        answered = status == questions_mod.ANSWERED
        rows.append({"student": sub.student, "assignment": question.assignment, "question": question.grade_id,
                     "max_points": question.points, "points": None if answered else 0.0,
                     "comment": "" if answered else why})
    return rows


def _keep_filled(path: Path, rows: list[dict]) -> int:
    """Carry the filled points and comments of an existing sheet over to ``rows``; return how many.

    Raises:
        ValueError: if the existing file is not a readable scores sheet (it is then left alone).
    """
    if not path.exists():
        return 0
    header, old, _ = sheets.read_rows(path.read_bytes())
    if any(c not in header for c in SHEET_COLUMNS):
        raise ValueError(f"{path} exists but is not a scores sheet; move it away and run again")
    filled = {tuple(sheets.uncell(r[c]) for c in ("student", "assignment", "question")): r for _, r in old}
    kept = 0
    for row in rows:
        before = filled.get((row["student"], row["assignment"], row["question"]))
        if before is not None and (sheets.uncell(before["points"]) or sheets.uncell(before["comment"])):
            row["points"], row["comment"] = sheets.uncell(before["points"]) or None, sheets.uncell(before["comment"])
            kept += 1
    return kept


# ---------------------------------------------------------------------------- the whole run
def _index_html(assignments: dict, found: list[dict], counts: dict) -> str:
    parts = ["<header><h1>Written answers, by question</h1></header>",
             f"<p>Grade in <code>{SHEET}</code> (one row per student and question: fill <code>points</code> and "
             "<code>comment</code>), then fold it into the grades with <code>python -m autograder written "
             "GRADES_DIR scores.csv</code>. Answers left as the template or empty are pre-scored 0.</p>"]
    for assignment, (qs, exs) in assignments.items():
        parts.append(f"<h2>{escape(assignment)}</h2><ul>")
        for q in qs:
            c = counts[q.key]
            parts.append(f'<li><a href="{escape(question_page(q))}">Question {q.number}: '
                         f"<code>{escape(q.grade_id)}</code></a> ({q.points:g} points): "
                         + ", ".join(f"{n} {escape(s)}" for s, n in sorted(c.items())) + "</li>")
        parts.append("</ul><p>Exercise code: " + ", ".join(
            f'<a href="{escape(code_page(assignment, e.grade_id))}"><code>{escape(e.grade_id)}</code></a>'
            for e in exs) + "</p>")
    parts.append("<h2>Possible copied work (a prompt to look, not a verdict)</h2>")
    flagged = [f for f in found if f["pairs"] or f.get("like_model_answer")]
    if not flagged:
        parts.append("<p>Nothing was flagged.</p>")
    for f in flagged:
        where = f["page_in_pages"]
        parts.append(f"<h3>{escape(f['assignment'])}/{escape(f['item'])} "
                     f"({'written answer' if f['kind'] == 'answer' else 'exercise code'})</h3><ul>")
        for p in f["pairs"]:
            parts.append(f'<li><a href="{escape(where)}#s-{escape(p["a"])}">{escape(p["a"])}</a> and '
                         f'<a href="{escape(where)}#s-{escape(p["b"])}">{escape(p["b"])}</a>: similarity '
                         f"{p['similarity']:.2f} ({p['shared']} fingerprints in common)</li>")
        for hit in f.get("like_model_answer", []):
            parts.append(f'<li><a href="{escape(where)}#s-{escape(hit["student"])}">{escape(hit["student"])}</a> and '
                         f"the model answer: similarity {hit['similarity']:.2f}</li>")
        parts.append("</ul>")
    return page("Written answers by question", "\n".join(parts))


def build(grades_dir: Path, out: Path | None = None, release_dir: Path = course_mod.RELEASE,
          source_dir: Path = course_mod.SOURCE, log=None) -> dict:
    """Write the pages, the scores sheet and the copied-work flags (see the module docstring).

    Returns:
        counts and timings: ``submissions``, ``questions``, ``rows``, ``kept`` (filled rows carried
        over), ``flagged`` (pairs), ``seconds`` per phase.

    Raises:
        FileNotFoundError: if ``grades_dir`` is not a grade run's output folder.
        ValueError: if an existing ``scores.csv`` in ``out`` is not a scores sheet.
    """
    log = log or (lambda line: None)
    grades_dir = Path(grades_dir)
    out = Path(out) if out is not None else grades_dir / "answers"
    started = time.perf_counter()
    seconds = {}
    records = sorted(graded_submissions(grades_dir), key=lambda r: (r["assignment"], r["student"], r["key"]))
    by_assignment: dict[str, list[Submission]] = defaultdict(list)
    for record in records:
        by_assignment[record["assignment"]].append(_load(grades_dir, record))
    seconds["read"] = time.perf_counter() - started

    images = _Images(out)
    assignments, rows, found = {}, [], []
    counts: dict[str, dict] = {}
    timer = time.perf_counter()
    similar_s = 0.0
    for assignment in sorted(by_assignment):
        subs = by_assignment[assignment]
        qs = questions_mod.questions(assignment, release_dir, source_dir)
        exs = exercises(assignment, release_dir, source_dir)
        assignments[assignment] = (qs, exs)
        for q in qs:
            statuses = {}
            for sub in subs:
                status, why = questions_mod.answer_status(sub.answers.get(q.grade_id) if sub.notebook else None, q)
                restored = any(r.get("kind") == "restored_answer" and r.get("grade_id") == q.grade_id
                               for r in sub.record.get("repairs", []))
                if restored and status != questions_mod.ANSWERED:
                    status, why = questions_mod.MISSING, "no answer: the answer cell was missing from the notebook"
                statuses[sub.student] = (status, why)
            counts[q.key] = defaultdict(int)
            for status, _ in statuses.values():
                counts[q.key][status] += 1
            t0 = time.perf_counter()
            base = similarity.text_fingerprints(q.prompt) | similarity.text_fingerprints(q.stub)
            texts = {s.student: similarity.text_fingerprints(s.answers[q.grade_id]) for s in subs
                     if statuses[s.student][0] == questions_mod.ANSWERED}
            pairs = similarity.similar_pairs(texts, base, similarity.TEXT_THRESHOLD)
            like_model = similarity.like_reference(texts, similarity.text_fingerprints(q.rubric), base,
                                                   similarity.TEXT_THRESHOLD)
            similar_s += time.perf_counter() - t0
            found.append({**_found("answer", assignment, q.grade_id, question_page(q), pairs),
                          "like_model_answer": like_model})
            atomic_write(out / question_page(q), _question_html(q, subs, statuses, pairs, images,
                                                                {h["student"]: h["similarity"] for h in like_model}))
            rows += sheet_rows(q, subs, statuses)
        for exercise in exs:
            t0 = time.perf_counter()
            keep = similarity.given_names(exercise.stub)
            base = (similarity.code_fingerprints(exercise.stub, keep) or set()) | \
                (similarity.code_fingerprints(exercise.reference, keep) or set())
            codes = {s.student: exercise_code(s.notebook, exercise.grade_id) for s in subs}
            prints = {student: similarity.code_fingerprints(code, keep) for student, code in codes.items() if code}
            pairs = similarity.similar_pairs(prints, base, similarity.CODE_THRESHOLD)
            similar_s += time.perf_counter() - t0
            found.append(_found("code", assignment, exercise.grade_id, code_page(assignment, exercise.grade_id), pairs))
            atomic_write(out / code_page(assignment, exercise.grade_id), _code_html(exercise, codes, pairs))
    seconds["pages_and_similarity"] = time.perf_counter() - timer
    seconds["similarity"] = similar_s

    sheet = out / SHEET
    kept = _keep_filled(sheet, rows)
    atomic_write(sheet, sheets.write_rows(list(SHEET_COLUMNS), rows))
    atomic_write(out / "index.html", _index_html(assignments, found, counts))
    pages = Path(os.path.relpath(out.resolve(), grades_dir.resolve())).as_posix()
    record = {"thresholds": {"answer": similarity.TEXT_THRESHOLD, "code": similarity.CODE_THRESHOLD,
                             "min_shared": similarity.MIN_SHARED, "common_share": similarity.COMMON_SHARE},
              "pages": pages,
              "items": [{**{k: v for k, v in f.items() if k != "page_in_pages"},
                         "page": f"{pages}/{f['page_in_pages']}"} for f in found]}
    atomic_write(grades_dir / similarity.SIMILARITY_FILE, dumps(record))
    atomic_write(out / similarity.SIMILARITY_FILE, dumps(record))
    rewrite_outputs(grades_dir)
    seconds["total"] = time.perf_counter() - started
    flagged = sum(len(f["pairs"]) + len(f.get("like_model_answer", [])) for f in found)
    log(f"{len(records)} submission(s), {sum(len(q) for q, _ in assignments.values())} written question(s): "
        f"pages and {SHEET} in {out} ({len(rows)} rows, {kept} filled rows kept); {flagged} pair(s) flagged as "
        f"possible copied work (see {grades_dir / 'summary.md'})")
    return {"submissions": len(records), "questions": sum(len(q) for q, _ in assignments.values()), "rows": len(rows),
            "kept": kept, "flagged": flagged, "seconds": {k: round(v, 3) for k, v in seconds.items()}}


def _found(kind: str, assignment: str, item: str, page_path: str, pairs: list[similarity.Pair]) -> dict:
    return {"kind": kind, "assignment": assignment, "item": item, "page_in_pages": page_path,
            "pairs": [{"a": p.a, "b": p.b, "similarity": p.similarity, "shared": p.shared} for p in pairs],
            "groups": similarity.groups(pairs)}
