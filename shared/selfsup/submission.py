"""Before you submit: is this notebook gradable? (The last cell of every notebook calls this.)

Colab ignores nbgrader's cell locks, so it is easy to delete, split or duplicate a graded cell
without noticing. :func:`check_notebook` reads the notebook as it is saved and lists every
graded cell that is missing, duplicated or renamed; on Colab it then offers the download.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from . import runtime


def graded_ids(notebook: dict) -> list[str]:
    """grade_ids of the graded cells (tests and written answers) of a notebook's JSON."""
    ids = []
    for cell in notebook.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and meta.get("grade_id"):
            ids.append(meta["grade_id"])
    return ids


def problems(notebook: dict, expected: list[str]) -> list[str]:
    """What keeps ``notebook`` from being graded: missing, duplicated or unknown graded cells."""
    counts = Counter(graded_ids(notebook))
    out = [f"graded cell '{g}' is missing (deleted, or its metadata was lost when it was copied or split)"
           for g in expected if counts[g] == 0]
    out += [f"graded cell '{g}' appears {n} times; keep exactly one copy" for g, n in counts.items() if n > 1]
    out += [f"graded cell '{g}' is not part of this assignment (renamed?)" for g in counts if g not in expected]
    return out


def _current_notebook(name: str) -> tuple[dict | None, str]:
    if runtime.on_colab():
        from google.colab import _message  # type: ignore[import-not-found]

        return _message.blocking_request("get_ipynb", timeout_sec=30)["ipynb"], f"{name}.ipynb"
    path = Path.cwd() / f"{name}.ipynb"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8")), str(path)
    return None, str(path)


def check_notebook(name: str, expected: list[str]) -> bool:
    """Check the saved notebook ``name`` against its graded cells; on Colab, offer the download.

    Args:
        name: the notebook's name, e.g. ``"01_pretext_tasks"``.
        expected: grade_ids of its graded cells (written into this cell by the course build).

    Returns:
        True if the notebook is gradable (or cannot be read here, e.g. in grading mode).
    """
    if runtime.is_grading():
        print("submission check skipped in grading mode")
        return True
    notebook, where = _current_notebook(name)
    if notebook is None:
        print(f"Could not find {where}; save the notebook next to this folder to check it.")
        return True
    found = problems(notebook, expected)
    if found:
        print("This notebook cannot be graded as it is:")
        for line in found:
            print("  -", line)
        print("Restore the cells from a fresh copy of the release notebook, then run this cell again.")
        return False
    print(f"All {len(expected)} graded cells are present exactly once. Save (Ctrl+S), then submit {name}.ipynb.")
    if runtime.on_colab():
        from google.colab import files  # type: ignore[import-not-found]

        Path(f"/content/{name}.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
        files.download(f"/content/{name}.ipynb")
    return True
