"""Time built solution notebooks end to end in grading mode on this machine, section by section.

Grading mode (``SELFSUP_MODE=grading``) is how the autograder runs every submission: CPU only,
synthetic data, one epoch. Each notebook must run in it in under :data:`LIMIT_SECONDS` on 2 CPU
cores. This script measures that and records it; it is a measurement, not a test.

Usage (from the repository root)::

    python -m benchmarks.grading_mode solutions/01_pretext_tasks.ipynb
    python -m benchmarks.grading_mode solutions/*.ipynb --out /tmp/timing.json

It writes ``benchmarks/results/<date>-grading-<host>.json`` by default. The record holds the
machine (CPUs available, CPU model, load average at the start: other jobs on a shared machine
slow the run), the command and per notebook the seconds, per-section seconds and any cell
that wrote to stderr (which nbgrader would score 0). Exit status: 0 when every notebook ran
cleanly within the limit, 1 otherwise, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shlex
import socket
import sys
from pathlib import Path

from . import notebook_run
from .run_reference import git_state, repo_relative

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
LIMIT_SECONDS = 120.0


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or ``platform.processor()``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict:
    """What the timing depends on: CPUs this process may use, their model, the load."""
    return {"host": socket.gethostname(), "cpus": len(os.sched_getaffinity(0)), "cpu_model": cpu_model(),
            "load_average_1min_at_start": round(os.getloadavg()[0], 2), "platform": platform.platform()}


def time_notebook(path: Path, timeout: int = 600, log=print) -> dict:
    """Execute one notebook in grading mode and return its timing record.

    Raises:
        notebook_run.NotebookFailed: a cell raised.
    """
    env = notebook_run.kernel_env(SELFSUP_MODE="grading")
    run = notebook_run.execute(path, env, timeout=timeout, log=log)
    return {"notebook": path.stem, "path": repo_relative(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "seconds": round(run.seconds, 1),
            "kernel_startup_seconds": round(run.startup_seconds, 1), "within_limit": run.seconds < LIMIT_SECONDS,
            "sections": run.sections(), "stderr_cells": run.stderr_cells(),
            "torch": run.final["torch"], "python": run.final["python"]}


def record(notebooks: list[dict], argv: list[str]) -> dict:
    """The JSON record of one invocation."""
    now = dt.datetime.now(dt.timezone.utc)
    return {"kind": "grading-timing", "schema": 1, "date": now.date().isoformat(),
            "created": now.isoformat(timespec="seconds"), "machine": machine(), "git": git_state(),
            "command": "python -m benchmarks.grading_mode " + shlex.join(argv),
            "mode": "grading", "limit_seconds": LIMIT_SECONDS, "notebooks": notebooks}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m benchmarks.grading_mode", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path,
                        help="built notebooks, e.g. solutions/01_pretext_tasks.ipynb")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write the JSON (default benchmarks/results/<date>-grading-<host>.json)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing:
        print(f"no such notebook: {', '.join(missing)} (build first: python -m autograder build)", file=sys.stderr)
        return 2

    start_machine = machine()
    timings = []
    for path in args.notebooks:
        print(f"{path} (grading mode)")
        try:
            timing = time_notebook(path, args.timeout)
        except notebook_run.NotebookFailed as error:
            print(f"FAILED: {error}", file=sys.stderr)
            return 1
        timings.append(timing)
        print(f"  {timing['seconds']:.1f} s (+{timing['kernel_startup_seconds']:.1f} s kernel start-up), "
              f"limit {LIMIT_SECONDS:.0f} s, stderr cells: {timing['stderr_cells'] or 'none'}")

    result = record(timings, argv)
    result["machine"] = start_machine
    out = args.out or RESULTS / f"{result['date']}-grading-{start_machine['host']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    ok = all(t["within_limit"] and not t["stderr_cells"] for t in timings)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
