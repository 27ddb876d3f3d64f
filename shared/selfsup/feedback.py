"""Feedback in your own repository: run your notebooks as the grader's first pass does, list the checks.

::

    python -m selfsup.feedback notebooks/*.ipynb [--summary FILE] [--timeout SECONDS]

runs each notebook top to bottom in grading mode (``SELFSUP_MODE=grading``: small synthetic data,
the CPU, no downloads, the same code paths as on Colab), then lists every check cell (the cells
under the exercises, which call the public checks of :mod:`selfsup.checks`) as passed or failed,
with the first line of its error, and what is still blank (:func:`selfsup.submission.reminders`).
The exit code is 0 only if every check passed.

This is what the per-repository workflow (``.github/workflows/classroom.yml`` in the course's
public tree) runs on every push: it needs nothing but your repository, so it needs no secret and
no access to the instructor's. It is feedback, not your grade: the grade comes from the
instructor's grading run, with hidden checks and a re-check of every exercise.

Running a notebook needs ``nbclient`` and ``ipykernel`` (both on Colab; the workflow installs them).
"""

from __future__ import annotations

import argparse
import html
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from . import submission


@dataclass(frozen=True)
class Check:
    """One check cell of a notebook after the run.

    Attributes:
        grade_id: the cell's id, e.g. ``test_nt_xent_loss``.
        status: ``passed``, ``failed`` or ``not run``.
        message: the first line of the error (``Name: message``), if it failed.
    """

    grade_id: str
    status: str
    message: str = ""


def check_cells(nb) -> list:
    """The check cells of a notebook (nbgrader ``grade`` code cells that are not exercises)."""
    return [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
            and not c.metadata["nbgrader"].get("solution")]


def results(nb) -> list[Check]:
    """What each check cell of an executed notebook says."""
    out = []
    for cell in check_cells(nb):
        gid = cell.metadata["nbgrader"].get("grade_id", "?")
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            first = (str(errors[0].get("evalue", "")).strip().splitlines() or [""])[0]
            out.append(Check(gid, "failed", f"{errors[0].get('ename', 'Error')}: {first}"[:300]))
        elif cell.get("execution_count") is None:
            out.append(Check(gid, "not run"))
        else:
            out.append(Check(gid, "passed"))
    return out


def run(path: Path, timeout: int = 600) -> tuple[list[Check], list[str], str]:
    """Execute the notebook at ``path`` in grading mode; return its checks, its reminders and a note on how
    the run ended (empty if it ran to the end)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    os.environ["SELFSUP_MODE"] = "grading"  # the kernel inherits it
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(Path(path).parent)}})
    note = ""
    try:
        client.execute()
    except Exception as error:  # noqa: BLE001 - a dead kernel or a time-out: report what ran
        note = f"the run stopped early: {type(error).__name__}: {(str(error).strip().splitlines() or [''])[0]}"
    return results(nb), submission.reminders(nb), note


def _escaped(text: str) -> str:
    return html.escape(text, quote=False)


def report(name: str, checks: list[Check], reminders: list[str], note: str) -> str:
    """Markdown for a run's summary page (everything the notebook wrote is HTML-escaped)."""
    passed = sum(c.status == "passed" for c in checks)
    lines = [f"### {_escaped(name)}: {passed} / {len(checks)} checks passed", ""]
    lines += [f"- {_escaped(c.grade_id)}: **{c.status}**" + (f" ({_escaped(c.message)})" if c.message else "")
              for c in checks]
    lines += [f"- still to do: {_escaped(r)}" for r in reminders]
    if note:
        lines.append(f"- {_escaped(note)}")
    return "\n".join(lines + ["", "This is feedback from the public checks, not your grade.", ""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m selfsup.feedback", description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--summary", type=Path, help="append the Markdown report to this file (GITHUB_STEP_SUMMARY)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    everything = True
    for path in args.notebooks:
        checks, reminders, note = run(path, args.timeout)
        text = report(path.name, checks, reminders, note)
        print(text)
        if args.summary:
            with open(args.summary, "a", encoding="utf-8") as f:
                f.write(text + "\n")
        everything = everything and bool(checks) and all(c.status == "passed" for c in checks) and not note
    return 0 if everything else 1


if __name__ == "__main__":
    sys.exit(main())
