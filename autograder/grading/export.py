"""``grades.csv`` in the column layout an LMS imports: Canvas or Moodle, one column per notebook.

``python -m autograder export GRADES_DIR --lms canvas|moodle [--out FILE] [--column NOTEBOOK=NAME]``

Each notebook's grade is its autograded points plus its written points (:mod:`.written`). A
student whose notebook still has a written question **not graded yet** gets a blank cell for
that notebook (an LMS leaves a blank cell alone), never a partial total, unless ``--partial``
is given; the command says how many cells it left blank. Every cell is spreadsheet-safe
(:mod:`.sheets`).

**Canvas** (Grades > Import): the layout of Canvas's own gradebook export::

    Student,ID,SIS User ID,SIS Login ID,Section,01_pretext_tasks,02_simclr
    Points Possible,,,,,20,20
    smith_1234,1234,,,,17.5,

Canvas finds the student by ``ID``, its user id: the number that Canvas puts after the
student's name in the file names of a submissions download (``smith_1234_5678_...``), which the
grader's default ``--student-pattern`` keeps at the end of the student id. A column whose name
is not an assignment of the course becomes a new assignment on import; to fill an existing one,
name the column as Canvas's export does, ``--column "01_pretext_tasks=Notebook 1 (4321)"``.

**Moodle** (Grades > Import > CSV file)::

    student,01_pretext_tasks,02_simclr
    jdoe,17.5,

On import, map ``student`` to the user field that the ids are (username, ID number or email:
choose ``--student-pattern`` or per-student folders so that the grader's id is that value) and
each notebook column to its grade item.
"""

from __future__ import annotations

import re
from pathlib import Path

from . import sheets
from .written import for_record, graded_submissions, load, totals

LAYOUTS = ("canvas", "moodle")
CANVAS_ID = re.compile(r"_(\d+)$")


def grade_table(grades_dir: Path, partial: bool = False) -> tuple[list[str], dict[str, dict], dict]:
    """``(assignments, {student: {assignment: points or None}}, maxima)`` of an output folder.

    A student's notebook with a written question not graded yet is None unless ``partial``.
    """
    submissions = graded_submissions(grades_dir)
    written = load(grades_dir) or {}
    table: dict[str, dict] = {}
    maxima: dict[str, float] = {}
    for record in sorted(submissions, key=lambda r: (r["student"], r["assignment"])):
        points, maximum, pending = totals(for_record(written, record))
        maxima[record["assignment"]] = max(maxima.get(record["assignment"], 0.0), record["max"] + maximum)
        value = None if pending and not partial else record["total"] + points
        table.setdefault(record["student"], {})[record["assignment"]] = value
    return sorted(maxima), table, maxima


def export(grades_dir: Path, lms: str, columns: dict[str, str] | None = None, partial: bool = False,
           log=None) -> tuple[str, int]:
    """The import file for ``lms`` and the number of cells left blank (see the module docstring).

    Raises:
        ValueError: for an unknown layout, or a Canvas export whose student ids carry no Canvas user id.
    """
    log = log or (lambda line: None)
    if lms not in LAYOUTS:
        raise ValueError(f"unknown LMS layout {lms!r}; choose one of {', '.join(LAYOUTS)}")
    assignments, table, maxima = grade_table(grades_dir, partial)
    names = [(columns or {}).get(a, a) for a in assignments]
    duplicates = sorted(s for s in table if "--" in s)
    for student in duplicates:
        log(f"warning: {student} is a second file of one student (see the duplicate flag in summary.md): not exported")
    students = [s for s in sorted(table) if s not in duplicates]
    blank = sum(1 for s in students for a in assignments if a in table[s] and table[s][a] is None)
    if lms == "moodle":
        rows = [[s] + [table[s].get(a) for a in assignments] for s in students]
        return sheets.write_rows(["student"] + names, rows), blank
    missing = [s for s in students if not CANVAS_ID.search(s)]
    if missing:
        raise ValueError(f"no Canvas user id at the end of the student id of {', '.join(missing[:5])}"
                         f"{' ...' if len(missing) > 5 else ''}: Canvas matches rows by it (the number after the "
                         "name in Canvas's download file names, kept by the default --student-pattern)")
    rows = [["Points Possible", None, None, None, None] + [maxima[a] for a in assignments]]
    rows += [[s, CANVAS_ID.search(s).group(1), None, None, None] + [table[s].get(a) for a in assignments]
             for s in students]
    return sheets.write_rows(["Student", "ID", "SIS User ID", "SIS Login ID", "Section"] + names, rows), blank
