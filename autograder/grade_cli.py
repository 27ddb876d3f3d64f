"""Registers the grading subcommands of ``python -m autograder`` (see :mod:`autograder.grading`).

* ``grade SUBMISSIONS... --out DIR [--assignment NAME] [--jobs N] [--shard I/N] [--resume]``
* ``merge SHARD_DIR... --out DIR``

Instructor documentation: ``docs/grading.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path


def _limits(args):
    from .grading.limits import Limits

    return Limits(cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout, memory_mb=args.memory_mb,
                  output_kb=args.output_kb, recheck_timeout=args.recheck_timeout, network=args.allow_network)


def _report(records, out: Path, strict: bool, quiet: bool) -> int:
    statuses: dict[str, int] = {}
    for r in records:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    graded = [r for r in records if r["status"] in ("graded", "repaired")]
    tampering = sum(1 for r in graded for f in r["flags"] if f["kind"] == "tampering")
    if not quiet:
        print(f"{len(records)} file(s): " + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())))
        for r in sorted(graded, key=lambda r: (r["student"], r["assignment"])):
            print(f"  {r['student']:24s} {r['assignment']:20s} {r['total']:g}/{r['max']:g}")
        if tampering:
            print(f"{tampering} exercise(s) flagged as possible tampering: see {out / 'summary.md'}")
        print(f"outputs in {out}: grades.csv, results.json, summary.md, feedback/")
    if strict:
        everything = bool(records) and len(graded) == len(records) and all(
            e["status"] == "pass" for r in graded for e in r["exercises"].values())
        return 0 if everything else 1
    return 0


def _grade(args) -> int:
    from .grading import batch

    try:
        options = batch.Options(
            paths=args.submissions, out=Path(args.out), assignment=args.assignment, jobs=args.jobs,
            shard=batch.parse_shard(args.shard), resume=args.resume, limits=_limits(args),
            student_pattern=args.student_pattern, student=args.student, seed=args.seed,
            log=None if args.quiet else (lambda line: print(line, flush=True)))
        records = batch.run(options)
    except (ValueError, FileNotFoundError) as error:
        print(f"grade: {error}", file=sys.stderr)
        return 2
    return _report(records, Path(args.out), args.strict, args.quiet)


def _merge(args) -> int:
    from .grading.merge import merge

    try:
        records = merge([Path(s) for s in args.shards], Path(args.out), log=lambda line: print(line, file=sys.stderr))
    except FileNotFoundError as error:
        print(f"merge: {error}", file=sys.stderr)
        return 2
    return _report(records, Path(args.out), args.strict, args.quiet)


def register(sub) -> None:
    """Add ``grade`` and ``merge`` to the CLI's subparsers."""
    from .grading.inputs import DEFAULT_STUDENT_PATTERN
    from .grading.limits import Limits

    p = sub.add_parser("grade", help="grade submissions (notebooks, folders, LMS zips) into --out",
                       description="Grade submissions: repair, run in nbgrader with limits, re-check every exercise "
                                   "in an isolated process, write grades.csv, results.json, feedback and a class "
                                   "summary. See docs/grading.md.")
    p.add_argument("submissions", nargs="+", help=".ipynb files, folders of them, or LMS .zip downloads")
    p.add_argument("--out", required=True, help="output folder (re-running into it is idempotent)")
    p.add_argument("--assignment", help="grade only this notebook, e.g. 01_pretext_tasks (default: recognise each "
                                        "file from its content)")
    p.add_argument("--jobs", type=int, default=1, help="notebooks graded in parallel (default 1)")
    p.add_argument("--shard", default="1/1", help="grade only shard I of N (inputs i with i %% N == I - 1)")
    p.add_argument("--resume", action="store_true", help="keep the records of files already graded in --out")
    p.add_argument("--student-pattern", default=DEFAULT_STUDENT_PATTERN,
                   help="regex on the file name whose named groups, joined by '_', are the student id")
    p.add_argument("--student", help="use this student id for every file (one student's repository)")
    p.add_argument("--seed", type=int, help="seed of the re-check's probes (default: drawn once per --out folder); "
                                            "give every shard the same one")
    p.add_argument("--cell-timeout", type=float, default=Limits.cell_timeout, help="seconds per cell")
    p.add_argument("--notebook-timeout", type=float, default=Limits.notebook_timeout, help="seconds per notebook")
    p.add_argument("--recheck-timeout", type=float, default=Limits.recheck_timeout,
                   help="seconds per exercise in the re-check")
    p.add_argument("--memory-mb", type=int, default=Limits.memory_mb, help="memory cap of each kernel and re-check")
    p.add_argument("--output-kb", type=int, default=Limits.output_kb, help="output kept per cell")
    p.add_argument("--allow-network", action="store_true", help="do not cut student code off the network")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 unless every file was graded and every exercise passed (per-repository mode)")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(run=_grade)

    p = sub.add_parser("merge", help="merge the --out folders of sharded grade runs")
    p.add_argument("shards", nargs="+", help="the --out folders of the shards")
    p.add_argument("--out", required=True)
    p.add_argument("--strict", action="store_true", help="as for grade")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(run=_merge)
