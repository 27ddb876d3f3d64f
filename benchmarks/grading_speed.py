"""Seconds per submission of ``python -m autograder grade`` on this machine, and the speed-up of ``--jobs``.

Each submission is a *full* notebook (every cell, the training included), filled with the
reference solutions and dressed as a Colab download (Colab metadata, LMS file name), graded the
way CI grades: repair, nbgrader autograde in grading mode through the API in long-lived
workers, the isolated re-check, feedback. The goal is 20 s or less per notebook on 2 CPU cores.

Usage (from the repository root; one ``--jobs`` value per run keeps each run short)::

    python -m benchmarks.grading_speed --notebooks 2 --jobs 1
    python -m benchmarks.grading_speed --notebooks 2 --jobs 2

Each run adds its measurement to ``benchmarks/results/<date>-grading-speed-<host>.json`` (or
``--record PATH``): the isolation in force, batch wall time (everything, start-up included),
seconds per notebook (wall time / notebooks: the throughput a class sees), the median time one
submission took from start to record, and per notebook the in-kernel, re-check and total seconds
from the batch's ``timings.json``. Once runs with ``--jobs 1`` and a larger
``--jobs`` on the same number of notebooks are in the file, it also holds the speed-up. The
machine's CPU count and load average at the start are recorded: other jobs on a shared machine
slow every number here.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import shlex
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from autograder import course as course_mod
from autograder.build import prepare
from autograder.grading import batch
from autograder.grading.limits import Limits
from autograder.source import BEGIN_SOLUTION, END_SOLUTION, strip_block
from benchmarks.grading_mode import machine

RESULTS = Path(__file__).resolve().parent / "results"
GOAL_SECONDS = 20.0


def correct_submission(name: str) -> nbformat.NotebookNode:
    """The release notebook with every exercise and answer filled from the source, as Colab saves it."""
    solutions = {c.metadata["nbgrader"]["grade_id"]: strip_block(c.source, BEGIN_SOLUTION, END_SOLUTION, True)
                 for c in prepare(name, course_mod.load_course()).cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    nb = nbformat.read(course_mod.RELEASE / name / f"{name}.ipynb", as_version=4)
    nb.metadata["colab"] = {"provenance": [], "name": f"Copy of {name}.ipynb"}
    for n, cell in enumerate(nb.cells):
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in solutions:
            cell.source = solutions[gid]
        if cell.cell_type == "code":
            cell.metadata["executionInfo"] = {"status": "ok", "user": {"displayName": "Benchmark Student",
                                                                       "userId": str(n)}}
    return nb


def _git() -> dict:
    import subprocess

    def run(*args):
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=course_mod.ROOT).stdout.strip()

    return {"commit": run("rev-parse", "HEAD"), "dirty": bool(run("status", "--porcelain"))}


def measure(name: str, count: int, jobs: int, limits: Limits) -> dict:
    """Grade ``count`` full correct submissions of ``name`` with ``jobs`` workers; return the timings."""
    with tempfile.TemporaryDirectory(prefix="grading-speed-") as tmp:
        folder = Path(tmp) / "submissions"
        folder.mkdir()
        base = correct_submission(name)
        for i in range(count):
            nb = copy.deepcopy(base)
            (folder / f"student{i:02d}_{1000 + i}_{2000 + i}_{name}.ipynb").write_text(nbformat.writes(nb))
        started = time.monotonic()
        records = batch.run(batch.Options(paths=[str(folder)], out=Path(tmp) / "out", jobs=jobs, probe_seed=1,
                                          limits=limits, assignment=name))
        wall = time.monotonic() - started
        timings = json.loads((Path(tmp) / "out" / "timings.json").read_text())
        isolation = json.loads((Path(tmp) / "out" / "results.json").read_text())["meta"]["isolation"]
    per = [timings[r["key"]] for r in records if r["key"] in timings]
    scores = [(r["total"], r["max"]) for r in records]
    return {"notebook": name, "notebooks": count, "jobs": jobs, "isolation": isolation, "wall_seconds": round(wall, 1),
            "seconds_per_notebook": round(wall / count, 1),
            "median_seconds_per_submission": round(statistics.median(t["total_s"] for t in per), 1) if per else None,
            "per_notebook": per, "points": scores,
            "all_full_marks": all(total == maximum for total, maximum in scores)}


def _record_path(record: str | None) -> Path:
    if record:
        return Path(record)
    return RESULTS / f"{dt.date.today().isoformat()}-grading-speed-{socket.gethostname()}.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.grading_speed", description=__doc__.split("\n")[0])
    parser.add_argument("--assignment", default="01_pretext_tasks")
    parser.add_argument("--notebooks", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--record", help="results file to add this run to")
    parser.add_argument("--label", default="", help="what this run measures, e.g. 'after isolation' (runs of the same "
                                                    "notebook, size and --jobs are kept apart by their labels)")
    args = parser.parse_args(argv)
    if args.notebooks < 1 or args.jobs < 1:
        parser.error("--notebooks and --jobs must be >= 1")
    load = os.getloadavg()[0]
    run = measure(args.assignment, args.notebooks, args.jobs, Limits())
    run.update(label=args.label, git=_git(), load_average_1min_at_start=round(load, 2),
               command="python -m benchmarks.grading_speed " + shlex.join(sys.argv[1:] if argv is None else argv))
    path = _record_path(args.record)
    data = json.loads(path.read_text()) if path.exists() else {
        "kind": "grading-speed", "schema": 1, "date": dt.date.today().isoformat(),
        "goal_seconds_per_notebook": GOAL_SECONDS,
        "machine": {k: v for k, v in machine().items() if k != "load_average_1min_at_start"},
        "runs": []}
    def key(r):
        return r["notebook"], r["notebooks"], r["jobs"], r.get("label", "")

    data["runs"] = [r for r in data["runs"] if key(r) != key(run)] + [run]
    speedups = {}
    for r in data["runs"]:
        base = next((b for b in data["runs"] if b["jobs"] == 1 and key(b)[:2] + key(b)[3:] == key(r)[:2] + key(r)[3:]),
                    None)
        if base and r["jobs"] > 1:
            speedups[f"{r['notebook']} x{r['notebooks']}, --jobs {r['jobs']} {r.get('label', '')}".strip()] = round(
                base["wall_seconds"] / r["wall_seconds"], 2)
    data["speedup_vs_jobs_1"] = speedups
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps(run, indent=2))
    print(f"wrote {path}")
    return 0 if run["all_full_marks"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
