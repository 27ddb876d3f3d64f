"""Every exercise's judgement over many probe seeds, with the instructor's solution and with every
correct variant of the test catalogues: a correct answer must never lose a point, whatever seed
the grader draws.

The solution is read from ``source/`` (the solution blocks, run after the release notebook's
trusted prelude, as the re-check runs a student's cells); the correct variants are those the
catalogue tests accept (``tests/test_checks_<notebook>.py``). Each is judged by
:func:`autograder.judges.in_process`: the same inputs, run, schema, replay and judges as the
re-check, without its process boundaries.

Usage::

    python -m benchmarks.judge_sweep --seeds 10000 [--tests test_knn_predict ...] [--label NAME]

writes ``benchmarks/results/<date>-judge-sweep-<label>.json``: per exercise and implementation,
the seeds swept, the failures (seed and message) and the time per seed. The test suite runs the
short form (``tests/test_judge_sweep.py``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import time
from pathlib import Path

import nbformat
import torch

from autograder import course as course_mod
from autograder import judges
from autograder.grading.recheck import exercise_cells, prelude_of
from autograder.source import BEGIN_SOLUTION, END_SOLUTION, strip_block

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
#: Where the catalogues of correct variants live, and their names: ``{test id: [(label, object)]}``.
CATALOGUES = {"01_pretext_tasks": "test_checks_pretext", "02_simclr": "test_checks_simclr",
              "03_mae_dinov2": "test_checks_mae_dinov2"}


def solution_objects(assignment: str) -> dict[str, object]:
    """The instructor's solution of every exercise of ``assignment``, by the name the exercise checks.

    The solution cells of ``source/`` (their solution blocks kept) run after the trusted prelude of
    the re-check, in one namespace, as a student's exercise cells do.
    """
    from autograder.build import prepare

    source = prepare(assignment, course_mod.load_course())
    for cell in source.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = strip_block(cell.source, BEGIN_SOLUTION, END_SOLUTION, keep_inside=True)
    release = nbformat.read(course_mod.RELEASE / assignment / f"{assignment}.ipynb", as_version=4)
    namespace = {"__name__": "__main__"}
    exec(compile(prelude_of(assignment, release), "<prelude>", "exec"), namespace)  # noqa: S102 - trusted source
    for cell in exercise_cells(source):
        exec(compile(cell["source"], cell["label"], "exec"), namespace)  # noqa: S102 - the instructor's solution
    return {e.name: namespace[e.name] for e in judges.exercises(assignment)}


def implementations(assignment: str, variants: bool = True) -> dict[str, list[tuple[str, object]]]:
    """``{test id: [(label, object)]}``: the solution, then every correct variant of the catalogue."""
    solved = solution_objects(assignment)
    out = {e.test: [("solution", solved[e.name])] for e in judges.exercises(assignment)}
    if variants:
        tests = ROOT / "tests"
        if str(tests) not in sys.path:
            sys.path.insert(0, str(tests))
        catalogue = __import__(CATALOGUES[assignment])
        for test, items in getattr(catalogue, "CORRECT", {}).items():
            out[test] += [(getattr(obj, "__name__", repr(obj)), obj) for obj in items]
    return out


def sweep(test: str, obj, seeds) -> dict:
    """Judge ``obj`` on every seed of ``seeds``; the failures and the time per seed."""
    failures, start = [], time.perf_counter()
    count = 0
    for seed in seeds:
        count += 1
        verdict = judges.in_process(test, obj, seed)
        if not verdict.passed:
            failures.append({"seed": seed, "message": verdict.message})
    seconds = time.perf_counter() - start
    return {"seeds": count, "failures": failures, "seconds_per_seed": round(seconds / max(1, count), 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10_000, help="probe seeds per exercise and implementation")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--tests", nargs="*", help="only these test ids")
    parser.add_argument("--no-variants", action="store_true", help="the solution only")
    parser.add_argument("--label", default=platform.node() or "host")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    results, total = {}, 0
    for assignment in course_mod.assignments():
        for test, items in implementations(assignment, not args.no_variants).items():
            if args.tests and test not in args.tests:
                continue
            for label, obj in items:
                result = sweep(test, obj, seeds)
                results.setdefault(test, {})[label] = result
                total += len(result["failures"])
                print(f"{test:28s} {label:32s} {len(result['failures'])} failures in {result['seeds']} seeds "
                      f"({result['seconds_per_seed']:.3f} s/seed)", flush=True)
    record = {"date": dt.date.today().isoformat(), "host": platform.node(), "python": platform.python_version(),
              "torch": torch.__version__, "command": " ".join(["python -m benchmarks.judge_sweep", *(argv or sys.argv[1:])]),
              "seeds": {"first": args.first_seed, "count": args.seeds}, "failures": total, "results": results}
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{record['date']}-judge-sweep-{args.label}.json"
    path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(f"{total} failures; recorded in {path.relative_to(ROOT)}")
    return 1 if total else 0


if __name__ == "__main__":
    raise SystemExit(main())
