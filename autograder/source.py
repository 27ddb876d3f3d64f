"""The authoring format: a jupytext percent-format ``.py`` with grading metadata on cell headers.

One place holds a cell's grading metadata, its header::

    # %% solution="rotation_dataset"                 code the student writes (autograded)
    # %% tests="test_rotation_dataset" points=3      a graded test cell (locked)
    # %% [markdown] answer="q_rotation" points=2     a written answer (manually graded)
    # %% readonly="data_setup"                       a locked cell students should not edit

Inside a ``solution``/``answer`` cell the reference answer sits between ``### BEGIN SOLUTION``
and ``### END SOLUTION``; inside a ``tests`` cell the hidden tests sit between
``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``. :func:`read_source` expands the
headers into nbgrader's metadata and refuses anything malformed with a message that names the
file, the cell and the fix.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat

KINDS = ("solution", "tests", "answer", "readonly")
BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
#: Keys that jupytext itself writes to record blank lines; they carry no grading meaning.
JUPYTEXT_KEYS = {"lines_to_next_cell", "lines_to_end_of_cell_marker", "cell_marker"}
_ID = re.compile(r"^[a-z][a-z0-9_]{1,62}$")


class SourceError(ValueError):
    """The source notebook is malformed; the message says where and how to fix it."""


@dataclass(frozen=True)
class GradedCell:
    """A graded cell as the build sees it."""

    grade_id: str
    kind: str
    points: float


@dataclass(frozen=True)
class CellRole:
    """A cell's nbgrader metadata, as :func:`role` reads it.

    Attributes:
        kind: one of :data:`KINDS`, or ``None`` for a cell nbgrader does not track.
        grade_id: nbgrader's id of the cell (``None`` when untracked).
        points: the points of a ``tests`` or ``answer`` cell, else 0.
    """

    kind: str | None
    grade_id: str | None
    points: float


def _marker_lines(source: str, begin: str, end: str) -> list[tuple[int, str]]:
    return [(i, line.strip()) for i, line in enumerate(source.splitlines())
            if line.strip() in (begin, end) or begin.split(" ", 1)[1] in line or end.split(" ", 1)[1] in line]


def _check_markers(where: str, source: str, begin: str, end: str, allowed: bool, required: bool) -> None:
    """Markers must be alone on their line, balanced, not nested, and only where allowed."""
    depth, count = 0, 0
    for lineno, line in _marker_lines(source, begin, end):
        if line not in (begin, end):
            raise SourceError(f"{where}, line {lineno + 1}: a marker must stand alone on its line as "
                              f"'{begin}' or '{end}', got {line!r}")
        if not allowed:
            raise SourceError(f"{where}: '{line}' is only allowed in a "
                              f"{'solution or answer' if begin == BEGIN_SOLUTION else 'tests'} cell")
        if line == begin:
            if depth:
                raise SourceError(f"{where}, line {lineno + 1}: '{begin}' opened twice without '{end}'")
            depth, count = 1, count + 1
        else:
            if not depth:
                raise SourceError(f"{where}, line {lineno + 1}: '{end}' without '{begin}'")
            depth = 0
    if depth:
        raise SourceError(f"{where}: '{begin}' is never closed by '{end}'")
    if required and not count:
        raise SourceError(f"{where}: a solution cell needs '{begin}' ... '{end}' around the reference answer")


def _nbgrader(kind: str, grade_id: str, points: float | None) -> dict:
    meta = {"grade_id": grade_id, "schema_version": 3, "task": False}
    if kind == "solution":
        meta.update(grade=False, solution=True, locked=False)
    elif kind == "tests":
        meta.update(grade=True, solution=False, locked=True, points=points)
    elif kind == "answer":
        meta.update(grade=True, solution=True, locked=False, points=points)
    else:
        meta.update(grade=False, solution=False, locked=True)
    return dict(sorted(meta.items()))


def cell_id(cell, taken: set[str]) -> str:
    """A stable id: the grade_id of a graded cell, else a short hash of its type and source."""
    grade_id = role(cell).grade_id
    if grade_id:
        base = grade_id.replace("_", "-")
    else:
        base = "c-" + hashlib.sha1((cell.cell_type + "\n" + cell.source).encode()).hexdigest()[:10]
    ident, n = base, 2
    while ident in taken:
        ident, n = f"{base}-{n}", n + 1
    taken.add(ident)
    return ident


def read_source(path: Path) -> nbformat.NotebookNode:
    """Read a percent-format source and return the nbgrader source notebook.

    Raises:
        SourceError: unknown header key, malformed or duplicate grade id, missing or bad points,
            a marker outside its kind of cell, or unbalanced markers.
    """
    path = Path(path)
    try:
        nb = jupytext.read(path, fmt="py:percent")
    except Exception as error:  # jupytext's own errors are not specific
        raise SourceError(f"{path.name}: not a readable jupytext percent file: {error}") from error
    seen: dict[str, int] = {}
    for index, cell in enumerate(nb.cells):
        meta = {k: v for k, v in cell.metadata.items() if k not in JUPYTEXT_KEYS}
        kinds = [k for k in KINDS if k in meta]
        where = f"{path.name}, cell {index + 1}"
        unknown = set(meta) - set(KINDS) - {"points"}
        if unknown:
            raise SourceError(f"{where}: unknown header key(s) {sorted(unknown)}; use one of {list(KINDS)} and points")
        if len(kinds) > 1:
            raise SourceError(f"{where}: a cell has one kind, got {kinds}")
        kind = kinds[0] if kinds else None
        source = cell.source
        if kind is not None:
            grade_id = meta[kind]
            where = f"{path.name}, cell {index + 1} ({kind}={grade_id!r})"
            if not isinstance(grade_id, str) or not _ID.match(grade_id):
                raise SourceError(f"{where}: the id must be snake_case (a-z, 0-9, _), 2-63 characters")
            if grade_id in seen:
                raise SourceError(f"{where}: duplicate grade id {grade_id!r} (first used in cell {seen[grade_id]})")
            seen[grade_id] = index + 1
            if (kind == "answer") != (cell.cell_type == "markdown"):
                raise SourceError(f"{where}: 'answer' is for markdown cells, '{kind}' for code cells" if kind == "answer"
                                  else f"{where}: a markdown cell can only be an 'answer'")
        points = meta.get("points")
        if kind in ("tests", "answer"):
            if isinstance(points, bool) or not isinstance(points, (int, float)) or points <= 0:
                raise SourceError(f"{where}: a {kind} cell needs points > 0, e.g. points=2")
        elif points is not None:
            raise SourceError(f"{where}: points belong on a 'tests' or 'answer' cell only")
        _check_markers(where, source, BEGIN_SOLUTION, END_SOLUTION, allowed=kind in ("solution", "answer"),
                       required=kind == "solution")
        _check_markers(where, source, BEGIN_HIDDEN, END_HIDDEN, allowed=kind == "tests", required=False)
        cell.metadata = {}
        if kind is not None:
            cell.metadata["nbgrader"] = _nbgrader(kind, meta[kind], points)
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    return nb


def role(cell) -> CellRole:
    """What a cell is to nbgrader, read from its metadata: the one reader, inverse of the build's writer.

    nbgrader marks an autograded test cell ``grade`` (not ``solution``), a written answer ``grade``
    and ``solution``, the student's code ``solution`` only, and a locked cell neither.
    """
    meta = cell.get("metadata", {}).get("nbgrader") or {}
    if not meta:
        return CellRole(None, None, 0.0)
    if meta.get("grade"):
        kind = "answer" if meta.get("solution") else "tests"
    else:
        kind = "solution" if meta.get("solution") else "readonly"
    return CellRole(kind, meta.get("grade_id"), float(meta.get("points", 0) or 0))


def cells_of(nb: nbformat.NotebookNode, kind: str, cell_type: str | None = None) -> list:
    """The cells of ``nb`` of one kind (:data:`KINDS`), in order; ``cell_type`` narrows to code or markdown."""
    return [c for c in nb.cells if role(c).kind == kind and (cell_type is None or c.cell_type == cell_type)]


def graded_cells(nb: nbformat.NotebookNode) -> list[GradedCell]:
    """The graded cells (tests and answers) of a notebook, in order."""
    return [GradedCell(r.grade_id, r.kind, r.points) for r in map(role, nb.cells) if r.kind in ("tests", "answer")]


def strip_block(source: str, begin: str, end: str, keep_inside: bool) -> str:
    """Remove the marker lines of ``begin``/``end`` blocks; keep or drop what they enclose."""
    out, inside = [], False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped == begin:
            inside = True
            continue
        if stripped == end:
            inside = False
            continue
        if not inside or keep_inside:
            out.append(line)
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")
