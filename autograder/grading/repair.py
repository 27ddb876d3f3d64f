"""Repair a submission against its release notebook before grading, and report every repair.

Colab keeps nbgrader's metadata but ignores cell locks, so students delete, split, copy and
retype graded cells, and a notebook whose metadata is lost scores 0 without a warning. The
repair:

1. removes Colab's per-cell ``executionInfo`` (the student's display name and user id),
   ``colab`` and ``outputId`` metadata and the notebook's ``colab`` metadata;
2. aligns the submission's cells with the release's, in order (dynamic programming over a
   difflib similarity of the normalised sources; a cell that still carries the right
   ``grade_id`` wins), and re-attaches nbgrader metadata to every matched cell;
3. finds an exercise cell that moved or lost its metadata by the class or function it
   defines, and an answer cell by its position between the question and the next cell;
4. removes nbgrader metadata from copies and from ids that the release does not know;
5. merges the cells a student split an exercise cell into (or added right after it) back
   into the exercise cell, so the re-check sees the whole answer;
6. drops fragments of split locked cells, restores edited locked cells and puts back deleted
   test, locked, exercise (as the blank stub) and answer cells.
"""

from __future__ import annotations

import ast
import copy
import difflib
import re
import uuid
from dataclasses import dataclass

import nbformat

from .inputs import normalized

#: Per-cell metadata Colab adds; ``executionInfo`` holds the student's name and user id.
COLAB_CELL_KEYS = ("executionInfo", "colab", "outputId")
COLAB_NOTEBOOK_KEYS = ("colab", "accelerator", "gpuClass")
_STUB_LINES = {"# YOUR CODE HERE", "raise NotImplementedError()", "YOUR ANSWER HERE"}
_MATCH = 0.6       # difflib ratio needed to match a locked or ordinary cell without its grade id
_SPEC_MATCH = 0.5  # share of an exercise's signature and docstring lines needed without its grade id


@dataclass(frozen=True)
class Repair:
    """One change made to a submission.

    Attributes:
        kind: ``metadata``, ``found_exercise``, ``found_answer``, ``duplicate``, ``unknown_id``,
            ``merged``, ``fragment``, ``edited_locked``, ``restored_test``, ``restored_locked``,
            ``restored_exercise`` or ``restored_answer``.
        grade_id: the graded cell concerned, if any.
        message: one sentence for the instructor and the student.
    """

    kind: str
    grade_id: str | None
    message: str

    def as_dict(self) -> dict:
        return {"kind": self.kind, "grade_id": self.grade_id, "message": self.message}


def strip_personal_data(nb: nbformat.NotebookNode) -> int:
    """Remove Colab's user data in place; return the number of cells that had some."""
    cleaned = 0
    for cell in nb.cells:
        removed = [cell.metadata.pop(key, None) for key in COLAB_CELL_KEYS]
        cleaned += any(value is not None for value in removed)
    for key in COLAB_NOTEBOOK_KEYS:
        nb.metadata.pop(key, None)
    return cleaned


def _kind(cell) -> str:
    meta = cell.metadata.get("nbgrader", {})
    if not meta:
        return "plain"
    if meta.get("solution") and meta.get("grade"):
        return "answer"
    if meta.get("solution"):
        return "solution"
    if meta.get("grade"):
        return "tests"
    return "locked"


def _lines(source: str) -> list[str]:
    return normalized(source).splitlines()


def _spec_lines(source: str) -> set[str]:
    return set(_lines(source)) - _STUB_LINES


def defined_names(source: str) -> set[str]:
    """Top-level class and function names a cell defines (regex fallback on syntax errors)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set(re.findall(r"^(?:class|def)\s+([A-Za-z_]\w*)", source, flags=re.MULTILINE))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


class _Aligner:
    def __init__(self, release, cells):
        self.release, self.cells = release.cells, cells
        self.kinds = [_kind(c) for c in self.release]
        self.ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in self.release]
        self.known = set(self.ids) - {None}
        self.rel_lines = [_lines(c.source) for c in self.release]
        self.rel_spec = [_spec_lines(c.source) for c in self.release]
        self.sub_lines = [_lines(c.source) for c in cells]

    def score(self, i: int, j: int) -> float:
        r, s = self.release[i], self.cells[j]
        if r.cell_type != s.cell_type:
            return 0.0
        sid = s.metadata.get("nbgrader", {}).get("grade_id")
        if sid is not None and sid in self.known and sid != self.ids[i]:
            return 0.0
        bonus = 1.0 if sid is not None and sid == self.ids[i] else 0.0
        kind = self.kinds[i]
        if kind == "answer":
            sim = 1.0 if normalized(s.source) == normalized(r.source) else 0.0
        elif kind == "solution":
            spec = self.rel_spec[i]
            sim = len(spec & set(self.sub_lines[j])) / len(spec) if spec else 0.0
            sim = sim if sim >= _SPEC_MATCH else 0.0
        else:
            a, b = self.rel_lines[i], self.sub_lines[j]
            if not a and not b:
                sim = 1.0
            else:
                matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
                sim = matcher.ratio() if matcher.real_quick_ratio() >= _MATCH and matcher.quick_ratio() >= _MATCH else 0.0
                sim = sim if sim >= _MATCH else 0.0
        return bonus + sim if (bonus or sim) else 0.0

    def align(self) -> dict[int, int]:
        """Order-preserving pairs release index -> submission index maximising the total score."""
        n, m = len(self.release), len(self.cells)
        best = [[0.0] * (m + 1) for _ in range(n + 1)]
        weight = {}
        for i in range(n):
            for j in range(m):
                w = self.score(i, j)
                if w > 0:
                    weight[i, j] = w
        for i in range(1, n + 1):
            row, prev = best[i], best[i - 1]
            for j in range(1, m + 1):
                value = max(prev[j], row[j - 1])
                w = weight.get((i - 1, j - 1))
                if w is not None:
                    value = max(value, prev[j - 1] + w)
                row[j] = value
        pairs, i, j = {}, n, m
        while i > 0 and j > 0:
            w = weight.get((i - 1, j - 1))
            if w is not None and abs(best[i][j] - (best[i - 1][j - 1] + w)) < 1e-9:
                pairs[i - 1] = j - 1
                i, j = i - 1, j - 1
            elif best[i][j] == best[i - 1][j]:
                i -= 1
            else:
                j -= 1
        return pairs


def _label(index: int, cell) -> str:
    first = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")
    return f"cell {index + 1} ({first[:40]!r})" if first else f"cell {index + 1} (empty)"


def repair(submission: nbformat.NotebookNode, release: nbformat.NotebookNode
           ) -> tuple[nbformat.NotebookNode, list[Repair], int]:
    """Align ``submission`` with ``release`` and repair it.

    Returns:
        ``(repaired notebook, repairs, number of cells whose Colab user data was removed)``.
        The input is not modified.
    """
    nb = copy.deepcopy(submission)
    cleaned = strip_personal_data(nb)
    cells = list(nb.cells)
    aligner = _Aligner(release, cells)
    pairs = aligner.align()
    repairs: list[Repair] = []
    paired_sub = set(pairs.values())

    # Exercise and answer cells that content alone could not place.
    for i, kind in enumerate(aligner.kinds):
        if i in pairs or kind not in ("solution", "answer"):
            continue
        if kind == "solution":
            names = defined_names(release.cells[i].source)
            found = [j for j, c in enumerate(cells) if j not in paired_sub and c.cell_type == "code"
                     and names & defined_names(c.source)]
            if found:
                pairs[i] = found[-1]
                paired_sub.add(found[-1])
                repairs.append(Repair("found_exercise", aligner.ids[i], f"exercise '{aligner.ids[i]}' found in "
                                      f"{_label(found[-1], cells[found[-1]])} by the names it defines"))
        else:
            before = [pairs[k] for k in range(i) if k in pairs]
            after = [pairs[k] for k in range(i + 1, len(release.cells)) if k in pairs]
            lo, hi = (max(before) if before else -1), (min(after) if after else len(cells))
            found = [j for j in range(lo + 1, hi) if j not in paired_sub and cells[j].cell_type == "markdown"]
            if found:
                pairs[i] = found[0]
                paired_sub.add(found[0])
                repairs.append(Repair("found_answer", aligner.ids[i], f"answer '{aligner.ids[i]}' found in "
                                      f"{_label(found[0], cells[found[0]])} by its position"))

    # Metadata on cells that are not the chosen copy of a release cell.
    for j, cell in enumerate(cells):
        meta = cell.metadata.get("nbgrader")
        if meta is not None and j not in paired_sub:
            gid = meta.get("grade_id")
            kind = "duplicate" if gid in aligner.known else "unknown_id"
            why = "a copy of graded cell" if kind == "duplicate" else "an id the assignment does not have:"
            repairs.append(Repair(kind, gid, f"{_label(j, cell)} carried nbgrader metadata of {why} '{gid}'; "
                                  "removed it (the cell is kept as an ordinary cell)"))
            del cell.metadata["nbgrader"]

    # Re-attach metadata and restore locked cells.
    found = {r.grade_id for r in repairs if r.kind.startswith("found_")}
    for i, j in sorted(pairs.items()):
        r, s = release.cells[i], cells[j]
        rmeta = r.metadata.get("nbgrader")
        if rmeta is None:
            continue
        smeta = s.metadata.get("nbgrader")
        changed = smeta is None or any(smeta.get(k) != rmeta.get(k) for k in ("grade_id", "grade", "solution", "locked",
                                                                               "points"))
        if changed and rmeta["grade_id"] not in found:
            repairs.append(Repair("metadata", rmeta["grade_id"], f"re-attached the nbgrader metadata of "
                                  f"'{rmeta['grade_id']}' to {_label(j, s)}"))
        s.metadata["nbgrader"] = copy.deepcopy(rmeta)
        if rmeta.get("locked") and normalized(s.source) != normalized(r.source):
            repairs.append(Repair("edited_locked", rmeta["grade_id"], f"locked cell '{rmeta['grade_id']}' was edited; "
                                  "the release version was restored"))
            s.source = r.source

    by_sub = {j: i for i, j in pairs.items()}
    drop: set[int] = set()

    # Fragments of split locked cells: unmatched code cells next to the locked cell they came from.
    for j, i in by_sub.items():
        if aligner.kinds[i] not in ("tests", "locked"):
            continue
        rel = set(aligner.rel_lines[i])
        for step in (1, -1):
            k = j + step
            while 0 <= k < len(cells) and k not in paired_sub and cells[k].cell_type == "code" \
                    and aligner.sub_lines[k] and set(aligner.sub_lines[k]) <= rel:
                drop.add(k)
                repairs.append(Repair("fragment", aligner.ids[i], f"removed {_label(k, cells[k])}: a fragment of "
                                      f"locked cell '{aligner.ids[i]}' (split cell)"))
                k += step

    # Split exercise cells: merge the unmatched code cells around an exercise cell into it.
    order = sorted(by_sub)
    for pos, j in enumerate(order):
        i = by_sub[j]
        if aligner.kinds[i] != "solution":
            continue
        lo = order[pos - 1] if pos else -1
        hi = order[pos + 1] if pos + 1 < len(order) else len(cells)
        spec = aligner.rel_spec[i]
        start = next((k for k in range(lo + 1, j) if cells[k].cell_type == "code" and k not in drop
                      and spec & set(aligner.sub_lines[k])), j)
        parts = [k for k in range(start, hi) if k == j or (cells[k].cell_type == "code" and k not in drop)]
        if len(parts) > 1:
            cells[j].source = "\n\n".join(cells[k].source.rstrip("\n") for k in parts if cells[k].source.strip())
            drop.update(k for k in parts if k != j)
            repairs.append(Repair("merged", aligner.ids[i], f"merged {len(parts) - 1} code cell(s) next to exercise "
                                  f"'{aligner.ids[i]}' into it (a split cell, or code added next to it)"))

    # Rebuild the cell list, putting back the release cells that are still missing.
    inserted_after: dict[int, list] = {}
    for i, kind in enumerate(aligner.kinds):
        if i in pairs or kind == "plain":
            continue
        gid = aligner.ids[i]
        earlier = [pairs[k] for k in range(i) if k in pairs]
        anchor = max(earlier) if earlier else -1
        restored = copy.deepcopy(release.cells[i])
        restored.id = uuid.uuid4().hex[:12]
        if restored.cell_type == "code":
            restored.outputs, restored.execution_count = [], None
        inserted_after.setdefault(anchor, []).append(restored)
        pairs[i] = None  # type: ignore[assignment]
        what = {"tests": ("restored_test", "deleted test cell"), "locked": ("restored_locked", "deleted locked cell"),
                "solution": ("restored_exercise", "missing exercise cell"),
                "answer": ("restored_answer", "missing answer cell")}[kind]
        tail = " (as the blank stub: no points)" if kind == "solution" else " (empty)" if kind == "answer" else ""
        repairs.append(Repair(what[0], gid, f"put back the {what[1]} '{gid}' from the release{tail}"))
    out = list(inserted_after.get(-1, []))
    for j, cell in enumerate(cells):
        if j not in drop:
            out.append(cell)
        out.extend(inserted_after.get(j, []))
    nb.cells = out
    _unique_ids(nb, release)
    return nb, repairs, cleaned


def _unique_ids(nb: nbformat.NotebookNode, release: nbformat.NotebookNode) -> None:
    """Give graded cells their release id and every cell a unique valid id (nbformat 4.5)."""
    release_ids = {c.metadata["nbgrader"]["grade_id"]: c.get("id") for c in release.cells if "nbgrader" in c.metadata}
    nb.nbformat, nb.nbformat_minor = 4, max(nb.get("nbformat_minor", 5), 5)
    taken: set[str] = set()
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        want = release_ids.get(gid) if gid else cell.get("id")
        if not want or want in taken or not re.fullmatch(r"[a-zA-Z0-9-_]{1,64}", want):
            want = uuid.uuid4().hex[:12]
        cell.id = want
        taken.add(want)
