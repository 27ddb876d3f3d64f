"""Seconds of ``python -m autograder answers`` (pages, scores sheet, copied-work check) for a class.

The class is synthetic, made from the test corpus (``tests/class_corpus.synthetic_class``):
``--students`` per notebook, for all three notebooks, each a full notebook with the reference
code plus a helper of its own, answers of random course words (5% left as the template, 2%
empty), the outputs of its "own run" (a line of numbers and a small PNG figure) in every cell a
question is about, and ``--copy-share`` of the students copying one answer (a few words changed)
and one exercise (renamed, reformatted, comments moved) from another. Building the class and its
grade folder is not timed; ``answers`` is, end to end, in this process (reading the notebooks,
rendering Markdown and maths, writing pages, images and the sheet, the similarity check, the
class summary). The planted copies are then compared with what was flagged: the record says how
many were found and how many other pairs were flagged.

With ``--fold``, the sheet is then filled and folded in (``python -m autograder written``),
which renders every student's feedback again with nbconvert, and that is timed too.

Usage (from the repository root)::

    python -m benchmarks.answers_speed --students 300            # the issue's goal: under 60 s on 2 cores
    python -m benchmarks.answers_speed --students 20 --fold

Each run adds its measurement to ``benchmarks/results/<date>-answers-speed-<host>.json`` (or
``--record PATH``), with the machine's CPU count and load average at the start.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.grading_mode import machine
from benchmarks.run_reference import git_state

RESULTS = Path(__file__).resolve().parent / "results"
TESTS = Path(__file__).resolve().parent.parent / "tests"
GOAL_SECONDS = 60.0


def _class_corpus():
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    import class_corpus

    return class_corpus


def found_copies(grades: Path, planted: dict) -> dict:
    """Planted copies flagged and missed; pairs flagged between two copies of one source (two students
    who copied the same work, or a copy of a copy); and any other pair flagged (a false alarm)."""
    from autograder.grading.similarity import Pair, groups

    flagged = set()
    for item in json.loads((grades / "similarity.json").read_text())["items"]:
        flagged |= {(item["assignment"], item["item"], p["a"], p["b"]) for p in item["pairs"]}
    wanted = {(a, i, *sorted(pair)) for (a, i), pairs in planted.items() for pair in pairs}
    related = set()
    for (a, i), pairs in planted.items():
        for group in groups([Pair(*sorted(p), 1.0, 0) for p in pairs]):
            related |= {(a, i, x, y) for x in group for y in group if x < y}
    return {"planted_pairs": len(wanted), "found": len(wanted & flagged), "missed": sorted(map(list, wanted - flagged)),
            "pairs_of_copies_of_one_source": len((flagged - wanted) & related),
            "other_pairs_flagged": len(flagged - related)}


def measure(students: int, copy_share: float, seed: int, fold: bool, log=print) -> dict:
    from autograder.grading import answers, sheets, written

    corpus = _class_corpus()
    with tempfile.TemporaryDirectory(prefix="answers-speed-") as tmp:
        grades = Path(tmp) / "grades"
        started = time.perf_counter()
        made, planted = corpus.synthetic_class(students, seed=seed, copy_share=copy_share)
        corpus.write_graded(grades, made)
        setup = time.perf_counter() - started
        log(f"{len(made)} synthetic submissions written in {setup:.0f} s (not timed)")
        started = time.perf_counter()
        result = answers.build(grades, log=log)
        seconds = time.perf_counter() - started
        size = sum(p.stat().st_size for p in (grades / "answers").rglob("*") if p.is_file())
        out = {"submissions": len(made), "students_per_notebook": students, "seconds": round(seconds, 2),
               "within_goal": seconds < GOAL_SECONDS, "phases": result["seconds"], "sheet_rows": result["rows"],
               "pages_bytes": size, "copies": found_copies(grades, planted)}
        if fold:
            rows = list(csv.DictReader((grades / "answers" / answers.SHEET).open(encoding="utf-8")))
            for row in rows:
                row["points"] = row["points"] or "1"
            sheet = Path(tmp) / "scores.csv"
            sheet.write_text(sheets.write_rows(list(written.SHEET_COLUMNS), rows), encoding="utf-8")
            started = time.perf_counter()
            counts = written.fold(grades, [sheet], log=log)
            out["fold"] = {"seconds": round(time.perf_counter() - started, 2), "feedback_rendered": counts["feedback"]}
            started = time.perf_counter()
            written.fold(grades, [sheet])
            out["fold_again_unchanged_seconds"] = round(time.perf_counter() - started, 2)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=300, help="students per notebook (default 300)")
    parser.add_argument("--copy-share", type=float, default=0.03, help="share of students who copy (default 0.03)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fold", action="store_true", help="also time folding a filled sheet in (feedback rendering)")
    parser.add_argument("--record", help="JSON file to add the measurement to")
    args = parser.parse_args(argv)
    at_start = machine()
    result = measure(args.students, args.copy_share, args.seed, args.fold)
    now = dt.datetime.now(dt.timezone.utc)
    entry = {"created": now.isoformat(timespec="seconds"), "machine": at_start, "git": git_state(),
             "command": "python -m benchmarks.answers_speed " + " ".join(argv if argv is not None else sys.argv[1:]),
             **result}
    default = RESULTS / f"{now.date().isoformat()}-answers-speed-{at_start['host']}.json"
    path = Path(args.record) if args.record else default
    data = json.loads(path.read_text()) if path.exists() else {"kind": "answers-speed", "schema": 1,
                                                               "goal_seconds": GOAL_SECONDS, "runs": []}
    data["runs"].append(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps(entry, indent=2))
    print(f"recorded in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
