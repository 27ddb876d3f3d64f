"""Before you submit: is this notebook gradable? (The last cell of every notebook calls this.)

Colab ignores nbgrader's cell locks, so it is easy to delete, split or duplicate a graded cell
without noticing. :func:`check_notebook` reads the notebook as it is saved and lists every
graded cell that is missing, duplicated or renamed, and every exercise cell that is duplicated;
it also reminds you of exercises and answers you have not filled in yet. On Colab it then
offers the download.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from . import runtime

STUB_CODE = "raise NotImplementedError()"
STUB_TEXT = "YOUR ANSWER HERE"


def _cells(notebook: dict) -> list[tuple[dict, dict]]:
    return [(cell, cell.get("metadata", {}).get("nbgrader", {})) for cell in notebook.get("cells", [])]


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def graded_ids(notebook: dict) -> list[str]:
    """grade_ids of the graded cells (tests and written answers) of a notebook's JSON."""
    return [meta["grade_id"] for _, meta in _cells(notebook) if meta.get("grade") and meta.get("grade_id")]


def problems(notebook: dict, expected: list[str]) -> list[str]:
    """What keeps ``notebook`` from being graded: missing, duplicated or unknown graded cells, and
    duplicated exercise cells."""
    counts = Counter(graded_ids(notebook))
    out = [f"graded cell '{g}' is missing (deleted, or its metadata was lost when it was copied or split)"
           for g in expected if counts[g] == 0]
    out += [f"graded cell '{g}' appears {n} times; keep exactly one copy" for g, n in counts.items() if n > 1]
    out += [f"graded cell '{g}' is not part of this assignment (renamed?)" for g in counts if g not in expected]
    exercises = Counter(meta["grade_id"] for _, meta in _cells(notebook)
                        if meta.get("solution") and not meta.get("grade") and meta.get("grade_id"))
    out += [f"exercise cell '{g}' appears {n} times (a copied or split cell); keep one and delete the others"
            for g, n in exercises.items() if n > 1]
    return out


def reminders(notebook: dict) -> list[str]:
    """Exercises and written answers that still hold the blank stub (gradable, but worth no points)."""
    out = []
    for cell, meta in _cells(notebook):
        if not meta.get("solution") or not meta.get("grade_id"):
            continue
        if cell.get("cell_type") == "code" and STUB_CODE in _source(cell):
            out.append(f"exercise '{meta['grade_id']}' still raises NotImplementedError")
        elif cell.get("cell_type") == "markdown" and _source(cell).strip() == STUB_TEXT:
            out.append(f"written answer '{meta['grade_id']}' is still empty")
    return out


def _find_saved(name: str, expected: list[str]) -> Path | None:
    """``<name>.ipynb`` in the working folder, else a renamed copy of it (``Copy of ...``, ``... (1)``)."""
    exact = Path.cwd() / f"{name}.ipynb"
    if exact.exists():
        return exact
    for path in sorted(Path.cwd().glob("*.ipynb")):
        try:
            ids = set(graded_ids(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError):
            continue
        if ids & set(expected):
            return path
    return None


def _current_notebook(name: str, expected: list[str]) -> tuple[dict | None, str]:
    if runtime.on_colab():
        from google.colab import _message  # type: ignore[import-not-found]

        return _message.blocking_request("get_ipynb", timeout_sec=30)["ipynb"], f"{name}.ipynb"
    path = _find_saved(name, expected)
    if path is None:
        return None, str(Path.cwd() / f"{name}.ipynb")
    return json.loads(path.read_text(encoding="utf-8")), str(path)


def check_notebook(name: str, expected: list[str]) -> bool | None:
    """Check the saved notebook ``name`` against its graded cells; on Colab, offer the download.

    Args:
        name: the notebook's name, e.g. ``"01_pretext_tasks"``.
        expected: grade_ids of its graded cells (written into this cell by the course build).

    Returns:
        True if the notebook is gradable, False if it is not, and None if nothing was checked
        (the saved notebook was not found, or grading mode): a check that checked nothing
        never reports success.
    """
    if runtime.is_grading():
        print("submission check skipped in grading mode: nothing was checked")
        return None
    notebook, where = _current_notebook(name, expected)
    if notebook is None:
        print(f"NOT CHECKED: could not find {where} (nor a renamed copy of it in {Path.cwd()}), so nothing was "
              "checked. Save the notebook in the folder you run it from, then run this cell again.")
        return None
    found = problems(notebook, expected)
    if found:
        print("This notebook cannot be graded as it is:")
        for line in found:
            print("  -", line)
        print("Restore the cells from a fresh copy of the release notebook, then run this cell again.")
        return False
    print(f"All {len(expected)} graded cells are present exactly once.")
    for line in reminders(notebook):
        print("  (not done yet:", line + ")")
    if Path(where).name != f"{name}.ipynb":
        print(f"This notebook is saved as '{Path(where).name}'. It is graded by its content, so the name does not "
              f"matter, but {name}.ipynb is easier for you to find.")
    print(f"Save (Ctrl+S), then submit {name}.ipynb.")
    if runtime.on_colab():
        from google.colab import files  # type: ignore[import-not-found]

        Path(f"/content/{name}.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
        files.download(f"/content/{name}.ipynb")
    return True
