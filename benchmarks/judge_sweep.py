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
        [--first-seed N] [--only solution|variants]
    python -m benchmarks.judge_sweep --merge PART.json ... --label NAME

writes ``benchmarks/results/<date>-judge-sweep-<label>.json``: per exercise and implementation,
the seeds swept, the failures (seed and message) and the time per seed. A long sweep can run in
parts (disjoint ``--first-seed`` ranges, or the solutions and the variants apart); ``--merge``
adds the parts' counts into one record and refuses overlapping seed ranges. The test suite runs
the short form (``tests/test_judge_sweep.py``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import time
from pathlib import Path

import torch

from autograder import course as course_mod
from autograder import judges

from .solutions import solution

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
#: Where the catalogues of correct variants live, and their names: ``{test id: [(label, object)]}``.
CATALOGUES = {"01_pretext_tasks": "test_checks_pretext", "02_simclr": "test_checks_simclr",
              "03_mae_dinov2": "test_checks_mae_dinov2"}


def solution_objects(assignment: str) -> dict[str, object]:
    """The instructor's solution of every exercise of ``assignment`` (read from ``source/``:
    :mod:`benchmarks.solutions`), by the name the exercise checks."""
    return {e.name: solution(assignment, e.name) for e in judges.exercises(assignment)}


def implementations(assignment: str, variants: bool = True,
                    solution: bool = True) -> dict[str, list[tuple[str, object]]]:
    """``{test id: [(label, object)]}``: the solution, then every correct variant of the catalogue."""
    solved = solution_objects(assignment) if solution else {}
    out = {e.test: [("solution", solved[e.name])] if solution else [] for e in judges.exercises(assignment)}
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


def merge(records: list[dict]) -> dict:
    """One record from the parts of a sweep: seeds and failures added per exercise and implementation.

    Args:
        records: Records written by this benchmark. Two parts may judge the same implementation only
            over disjoint seed ranges.

    Raises:
        ValueError: Two parts swept the same implementation over overlapping seeds.
    """
    results: dict[str, dict[str, dict]] = {}
    ranges: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for record in records:
        first, count = record["seeds"]["first"], record["seeds"]["count"]
        for test, by_label in record["results"].items():
            for label, result in by_label.items():
                key = (test, label)
                for a, b in ranges.get(key, []):
                    if first < b and a < first + count:
                        raise ValueError(f"{test} {label}: seeds {first}-{first + count - 1} swept twice")
                ranges.setdefault(key, []).append((first, first + count))
                into = results.setdefault(test, {}).setdefault(label, {"seeds": 0, "failures": [], "seconds": 0.0})
                into["seeds"] += result["seeds"]
                into["failures"] += result["failures"]
                into["seconds"] += result["seconds_per_seed"] * result["seeds"]
    for test, by_label in results.items():
        for label, into in by_label.items():
            into["seconds_per_seed"] = round(into.pop("seconds") / max(1, into["seeds"]), 4)
            into["seed_ranges"] = sorted([a, b - 1] for a, b in ranges[(test, label)])
    return {"parts": [{k: r[k] for k in ("date", "host", "torch", "command", "seeds")} for r in records],
            "failures": sum(len(x["failures"]) for by in results.values() for x in by.values()),
            "results": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10_000, help="probe seeds per exercise and implementation")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--tests", nargs="*", help="only these test ids")
    parser.add_argument("--no-variants", action="store_true", help="the solution only")
    parser.add_argument("--only", choices=("solution", "variants"), help="the solution or the variants alone")
    parser.add_argument("--label", default=platform.node() or "host")
    parser.add_argument("--merge", nargs="+", type=Path, metavar="PART", help="merge recorded parts instead")
    args = parser.parse_args(argv)
    if args.merge:
        merged = merge([json.loads(p.read_text(encoding="utf-8")) for p in args.merge])
        record = {"date": dt.date.today().isoformat(), "python": platform.python_version(),
                  "torch": torch.__version__, **merged}
        return _write(record, args.label)
    torch.set_num_threads(1)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    results, total = {}, 0
    for assignment in course_mod.assignments():
        chosen = implementations(assignment, variants=not args.no_variants and args.only != "solution",
                                 solution=args.only != "variants")
        for test, items in chosen.items():
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
    return _write(record, args.label)


def _write(record: dict, label: str) -> int:
    """Record ``record`` under ``label``; exit status 1 if any correct implementation failed."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{record['date']}-judge-sweep-{label}.json"
    path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(f"{record['failures']} failures; recorded in {path.relative_to(ROOT)}")
    return 1 if record["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
