"""Per-student feedback: the graded notebook as HTML, with no hidden test and no revealing traceback.

The feedback notebook is the executed (autograded) notebook, or the repaired one when the
in-kernel pass did not finish, with:

* a first cell that gives the points per exercise, the re-check's message, the repairs made
  and any note (possible tampering is worded neutrally: the instructor decides);
* every test cell's source reset to the release version (the public check only; nbgrader put
  the hidden tests back in for grading) and its outputs reduced to printed text and one-line
  errors (``Name: message``, never a traceback), followed by the re-check's verdict;
* tracebacks elsewhere kept only when no frame comes from the grader, and any output that
  contains a line of the grader's judges or references removed.

The last point is a courtesy, not a boundary: student code never runs where it could read the
judges (:mod:`.isolation`), and what a student's own cells print is theirs to see.
"""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path

import nbformat

from .. import course as course_mod
from .. import source
from ..source import BEGIN_HIDDEN, END_HIDDEN
from .markup import inline
from .record import FlagKind, Verdict

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_MIN_SECRET = 24
REMOVED = "[output removed by the grader: it contained grader code]"
GRADER = Path(__file__).resolve().parent.parent


def _hidden_blocks(source: str) -> list[str]:
    out, inside = [], False
    for line in source.splitlines():
        if line.strip() == BEGIN_HIDDEN:
            inside = True
        elif line.strip() == END_HIDDEN:
            inside = False
        elif inside:
            out.append(line)
    return out


def _public_lines() -> set[str]:
    """What students already have: the release notebooks and the helper package."""
    lines: list[str] = []
    for path in sorted(course_mod.RELEASE.glob("*/*.ipynb")):
        lines += [line for cell in nbformat.read(path, as_version=4).cells for line in cell.source.splitlines()]
    for path in sorted((course_mod.HELPER / "selfsup").rglob("*.py")):
        lines += path.read_text(encoding="utf-8").splitlines()
    return {line.strip() for line in lines}


@functools.lru_cache(maxsize=1)
def secret_lines() -> frozenset[str]:
    """Lines of grader code that never reach a student: the judges and references, and the hidden
    test blocks (minus the lines students already have, such as common imports)."""
    lines: list[str] = []
    for path in sorted(course_mod.SOURCE.glob("[0-9][0-9]_*.py")):
        lines += _hidden_blocks(path.read_text(encoding="utf-8"))
    for path in sorted((GRADER / "judges").glob("*.py")):
        lines += path.read_text(encoding="utf-8").splitlines()
    public = _public_lines()
    return frozenset(s for s in (line.strip() for line in lines) if len(s) >= _MIN_SECRET and s not in public)


def _reveals(text: str, secrets: frozenset[str]) -> bool:
    for line in _ANSI.sub("", text).splitlines():
        stripped = line.strip()
        if stripped in secrets or re.sub(r"^(-*>\s*)?\d+\s+", "", stripped) in secrets:
            return True
    return False


def _text_of(output) -> str:
    if output.output_type == "stream":
        return output.get("text", "")
    if output.output_type == "error":
        return "\n".join([output.get("evalue", "")] + list(output.get("traceback", [])))
    data = output.get("data", {})
    return "\n".join(v for k, v in data.items() if isinstance(v, str) and not k.startswith("image/"))


def _one_line_error(output) -> nbformat.NotebookNode:
    text = f"{output.get('ename', 'Error')}: {_ANSI.sub('', output.get('evalue', ''))}"
    return nbformat.v4.new_output("error", ename=output.get("ename", "Error"), evalue=output.get("evalue", ""),
                                  traceback=[text])


def _clean_outputs(outputs, test_cell: bool, secrets: frozenset[str]) -> list:
    cleaned = []
    for output in outputs:
        if output.output_type == "stream" and output.get("name") == "stderr" and test_cell:
            continue
        if output.output_type == "error":
            grader_frames = any("autograder" in _ANSI.sub("", line) for line in output.get("traceback", []))
            if test_cell or grader_frames:
                output = _one_line_error(output)
        elif test_cell and output.output_type != "stream":
            continue
        if _reveals(_text_of(output), secrets):
            output = nbformat.v4.new_output("stream", name="stdout", text=REMOVED + "\n")
        cleaned.append(output)
    return cleaned


def _status_text(ex: dict) -> str:
    if ex["status"] == Verdict.PASS:
        return "passed"
    return inline(ex["message"]) or ex["status"]


def summary_markdown(record: dict, written: dict | None = None) -> str:
    """The first cell of the feedback: points, verdicts, repairs and notes.

    ``written`` (:func:`.written.for_record`) gives the written answers' points once a scores
    sheet has been folded in; without it they are "graded by hand".
    """
    lines = [f"# Feedback on {record['assignment']} for {record['student']}", ""]
    manual = sum(m["max"] for m in record.get("manual", {}).values())
    if written:
        from .written import totals

        points, maximum, pending = totals(written)
        lines.append(f"**Autograded points: {record['total']:g} / {record['max']:g}; written answers: {points:g} / "
                     f"{maximum:g}**" + (f" ({pending} question(s) not graded yet)" if pending else ""))
    else:
        lines.append(f"**Autograded points: {record['total']:g} / {record['max']:g}**"
                     + (f" (the written answers, {manual:g} points, are graded by hand)" if manual else ""))
    lines += ["", "| exercise | points | result |", "|---|---|---|"]
    for test, ex in record["exercises"].items():
        lines.append(f"| {test} | {ex['points']:g} / {ex['max']:g} | {_status_text(ex)} |")
    if record.get("repairs"):
        lines += ["", "### Repairs made before grading", ""]
        lines += [f"- {inline(r['message'])}" for r in record["repairs"]]
    notes = []
    for flag in record.get("flags", []):
        if FlagKind(flag["kind"]) == FlagKind.TAMPERING:  # the evidence is for the instructor
            notes.append(f"{flag['exercise']}: the test inside your notebook and the independent re-check disagree; "
                         "your instructor will look at it.")
        else:
            notes.append(flag["message"])
    if notes:
        lines += ["", "### Notes", ""] + [f"- {inline(n)}" for n in notes]
    return "\n".join(lines) + "\n"


def feedback_notebook(nb: nbformat.NotebookNode, release: nbformat.NotebookNode, record: dict,
                      written: dict | None = None) -> nbformat.NotebookNode:
    """The sanitized feedback notebook of a graded submission (``nb``: autograded or repaired), with
    the written points and the grader's comment under each answer once there are any (``written``)."""
    secrets = secret_lines()
    public = {source.role(c).grade_id: c.source for c in release.cells if source.role(c).grade_id}
    out = nbformat.v4.new_notebook(metadata={"language_info": {"name": "python"}})
    out.cells.append(nbformat.v4.new_markdown_cell(summary_markdown(record, written)))
    for cell in nb.cells:
        cell = copy.deepcopy(cell)
        role = source.role(cell)
        gid = role.grade_id
        test = cell.cell_type == "code" and role.kind == "tests"
        if role.kind in ("tests", "readonly") and gid in public:  # locked: the release's text
            cell.source = public[gid]
        if cell.cell_type == "code":
            cell.outputs = _clean_outputs(cell.get("outputs", []), test, secrets)
        elif _reveals(cell.source, secrets):
            cell.source = REMOVED
        cell.metadata = {}
        out.cells.append(cell)
        if test and gid in record["exercises"]:
            ex = record["exercises"][gid]
            verdict = _status_text(ex)
            out.cells.append(nbformat.v4.new_markdown_cell(
                f"**Re-check of `{gid}`: {ex['points']:g} / {ex['max']:g}** - {verdict}"))
        if written and cell.cell_type == "markdown" and role.kind == "answer" and gid in written:
            from .written import feedback_line

            out.cells.append(nbformat.v4.new_markdown_cell(feedback_line(gid, written[gid])))
    for index, cell in enumerate(out.cells):
        cell.id = f"feedback-{index}"
    return out


@functools.lru_cache(maxsize=1)
def _exporter():
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="lab")


def render_html(nb: nbformat.NotebookNode) -> str:
    """HTML of a feedback notebook."""
    body, _ = _exporter().from_notebook_node(nb)
    return body
