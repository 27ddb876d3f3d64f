"""``python -m autograder <command>``: the one command line of the instructor toolkit.

* ``build [NOTEBOOK...]``: ``source/*.py`` -> ``release/`` and ``solutions/``;
* ``publish DIR``: the student-facing repository tree;
* ``grade SUBMISSIONS... --out DIR``: grade a class (``docs/grading.md``);
* ``merge SHARD_DIR... --out DIR``: merge sharded grade runs;
* ``answers GRADES_DIR``: written answers by question (pages, scores sheet) and copied work;
* ``written GRADES_DIR SHEET...``: fold filled scores sheets into the grades and feedback;
* ``export GRADES_DIR --lms canvas|moodle``: grades.csv in the layout an LMS imports;
* ``results [RUN.json]``: the README's results table, figure and notebook reference numbers.

Every subcommand is defined here, in one style: a parser built in :func:`parser` and a handler
``_<command>(args) -> exit code`` that imports what it needs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _build(args) -> int:
    from .build import build
    from .source import SourceError

    try:
        paths = build(args.notebooks or None)
    except SourceError as error:
        print(f"build refused: {error}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return 0


def _publish(args) -> int:
    from .publish import publish

    for path in publish(Path(args.dir)):
        print(f"wrote {path}")
    return 0


def _grade(args) -> int:
    from .grading import batch
    from .grading.isolation import IsolationUnavailable
    from .grading.limits import Limits
    from .grading.report import console_report

    try:
        limits = Limits(cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                        memory_mb=args.memory_mb, output_kb=args.output_kb, recheck_timeout=args.recheck_timeout)
        options = batch.Options(
            paths=args.submissions, out=Path(args.out), assignment=args.assignment, jobs=args.jobs,
            shard=batch.parse_shard(args.shard), resume=args.resume, limits=limits,
            student_pattern=args.student_pattern, student=args.student, probe_seed=args.probe_seed,
            allow_network=args.allow_network, no_isolation=args.no_isolation,
            log=None if args.quiet else (lambda line: print(line, flush=True)))
        records = batch.run(options)
    except (ValueError, FileNotFoundError, IsolationUnavailable) as error:
        print(f"grade: {error}", file=sys.stderr)
        return 2
    return console_report(records, Path(args.out), args.strict, args.quiet)


def _merge(args) -> int:
    from .grading.merge import merge
    from .grading.report import console_report

    try:
        records = merge([Path(s) for s in args.shards], Path(args.out), log=lambda line: print(line, file=sys.stderr))
    except FileNotFoundError as error:
        print(f"merge: {error}", file=sys.stderr)
        return 2
    return console_report(records, Path(args.out), args.strict, args.quiet)


def _answers(args) -> int:
    from .grading.answers import build

    try:
        build(Path(args.grades_dir), Path(args.out) if args.out else None, log=print)
    except (FileNotFoundError, ValueError) as error:
        print(f"answers: {error}", file=sys.stderr)
        return 2
    return 0


def _written(args) -> int:
    from .grading.written import SheetError, fold

    try:
        fold(Path(args.grades_dir), [Path(s) for s in args.sheets], log=print)
    except SheetError as error:
        print(f"written: {error}", file=sys.stderr)
        return 1
    except FileNotFoundError as error:
        print(f"written: {error}", file=sys.stderr)
        return 2
    print(f"updated {Path(args.grades_dir) / 'grades.csv'}, the class summary and the feedback")
    return 0


def _export(args) -> int:
    from .grading.export import export
    from .grading.report import atomic_write

    columns = {}
    for item in args.column:
        name, sep, label = item.partition("=")
        if not sep or not name or not label:
            print(f"export: --column must look like NOTEBOOK=NAME, got {item!r}", file=sys.stderr)
            return 2
        columns[name.strip()] = label.strip()
    grades_dir = Path(args.grades_dir)
    try:
        text, blank = export(grades_dir, args.lms, columns, args.partial, log=lambda line: print(line, file=sys.stderr))
    except (FileNotFoundError, ValueError) as error:
        print(f"export: {error}", file=sys.stderr)
        return 2
    path = Path(args.out) if args.out else grades_dir / f"grades-{args.lms}.csv"
    atomic_write(path, text)
    print(f"wrote {path}" + (f"; {blank} grade(s) left blank: written answers not graded yet "
                             "(--partial exports what is graded so far)" if blank else ""))
    return 0


def _results(args) -> int:
    from . import results

    try:
        source = Path(args.results_file) if args.results_file else results.latest_results(Path(args.results_dir))
        kwargs = dict(readme=Path(args.readme), figure=Path(args.figure), reference=Path(args.reference),
                      t4_ratio=args.t4_ratio, t4_basis=args.t4_basis,
                      notebook3=results.latest_notebook3_timing(Path(args.results_dir)))
        if args.check:
            problems = results.stale(source, **kwargs)
            for problem in problems:
                print(f"stale: {problem} (run python -m autograder results)", file=sys.stderr)
            return 1 if problems else 0
        written = results.generate(source, **kwargs)
    except results.ResultsError as error:
        print(f"results: {error}", file=sys.stderr)
        return 2
    print(f"from {source}" if source else "no GPU reference run recorded in benchmarks/results/")
    for path in written:
        print(f"wrote {path}")
    return 0


def parser() -> argparse.ArgumentParser:
    """The command line, every subcommand with its options."""
    from .grading.inputs import DEFAULT_STUDENT_PATTERN
    from .grading.limits import Limits
    from .results import FIGURE, README, REFERENCE, RESULTS_DIR

    main = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.split("\n")[0])
    sub = main.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build", help="source/*.py -> release/ and solutions/")
    p.add_argument("notebooks", nargs="*", help="notebook names (default: all), e.g. 01_pretext_tasks")
    p.set_defaults(run=_build)

    p = sub.add_parser("publish", help="write the student-facing repository tree to DIR")
    p.add_argument("dir")
    p.set_defaults(run=_publish)

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
    p.add_argument("--probe-seed", type=int, help="seed of the re-check's probe inputs (default: drawn once per --out "
                                                  "folder); give every shard the same one")
    p.add_argument("--cell-timeout", type=float, default=Limits.cell_timeout, help="seconds per cell")
    p.add_argument("--notebook-timeout", type=float, default=Limits.notebook_timeout, help="seconds per notebook")
    p.add_argument("--recheck-timeout", type=float, default=Limits.recheck_timeout,
                   help="seconds per exercise in the re-check")
    p.add_argument("--memory-mb", type=int, default=Limits.memory_mb, help="memory cap of each kernel and re-check")
    p.add_argument("--output-kb", type=int, default=Limits.output_kb, help="output kept per cell")
    p.add_argument("--allow-network", action="store_true", help="do not cut student code off the network")
    p.add_argument("--no-isolation", action="store_true",
                   help="grade even where student code cannot be isolated (no bubblewrap): it could then read the "
                        "references, the solutions and other submissions")
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

    p = sub.add_parser("answers", help="written answers by question: pages, scores sheet, copied work",
                       description="Write one page per written question with every student's answer and the "
                                   "outputs of their own run, a scores sheet to fill (scores.csv), and the pairs of "
                                   "near-identical answers and exercise code (listed in summary.md). See "
                                   "docs/grading.md.")
    p.add_argument("grades_dir", help="the --out folder of a grade (or merge) run")
    p.add_argument("--out", help="where the pages and scores.csv go (default GRADES_DIR/answers); re-running keeps "
                                 "the filled rows of scores.csv")
    p.set_defaults(run=_answers)

    p = sub.add_parser("written", help="fold filled scores sheets into grades.csv, the summary and the feedback",
                       description="Check filled scores sheets against the grades and fold them in: grades.csv gets "
                                   "each written question's points and totals that include them; feedback shows "
                                   "the points and comments. A bad sheet changes nothing (exit code 1).")
    p.add_argument("grades_dir", help="the --out folder of a grade (or merge) run")
    p.add_argument("sheets", nargs="+", help="filled scores sheets (CSV); together they replace what was folded before")
    p.set_defaults(run=_written)

    p = sub.add_parser("export", help="grades.csv in the column layout of an LMS import (Canvas or Moodle)")
    p.add_argument("grades_dir", help="the --out folder of a grade (or merge) run")
    p.add_argument("--lms", required=True, choices=("canvas", "moodle"))
    p.add_argument("--out", help="the file to write (default GRADES_DIR/grades-<lms>.csv)")
    p.add_argument("--column", action="append", default=[], metavar="NOTEBOOK=NAME",
                   help="name of a notebook's column in the LMS, e.g. '01_pretext_tasks=Notebook 1 (4321)'")
    p.add_argument("--partial", action="store_true",
                   help="export totals even where written answers are not graded yet (default: leave them blank)")
    p.set_defaults(run=_export)

    p = sub.add_parser("results", help="README results table, figure and notebook reference numbers from a GPU run",
                       description="Generate the README's results table, docs/results.png and the notebooks' "
                                   "reference numbers from a recorded GPU run (benchmarks/results/).")
    p.add_argument("results_file", nargs="?", default=None,
                   help="a benchmarks/results/*.json reference run (default: the newest full-mode one)")
    p.add_argument("--results-dir", default=str(RESULTS_DIR),
                   help="where to look for the newest run and the newest Notebook 3 timing")
    p.add_argument("--readme", default=str(README))
    p.add_argument("--figure", default=str(FIGURE))
    p.add_argument("--reference", default=str(REFERENCE))
    p.add_argument("--t4-ratio", type=float, default=None,
                   help="T4 time / recorded time (default: ratio of memory bandwidths); needs --t4-basis")
    p.add_argument("--t4-basis", default=None, help="what --t4-ratio is based on (printed in the README)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if the generated files are stale")
    p.set_defaults(run=_results)
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.run(args)
