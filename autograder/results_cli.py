"""Registers the results subcommands of ``python -m autograder`` (see :mod:`autograder.results`)."""

from __future__ import annotations

import sys
from pathlib import Path


def _results(args) -> int:
    from . import results

    try:
        source = Path(args.results_file) if args.results_file else results.latest_results(Path(args.results_dir))
        kwargs = dict(readme=Path(args.readme), figure=Path(args.figure), reference=Path(args.reference),
                      t4_ratio=args.t4_ratio, t4_basis=args.t4_basis)
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


def register(sub) -> None:
    """Add ``results`` to the CLI's subparsers."""
    from . import results

    p = sub.add_parser("results", help="README results table, figure and notebook reference numbers from a GPU run",
                       description=results.__doc__)
    p.add_argument("results_file", nargs="?", default=None,
                   help="a benchmarks/results/*.json reference run (default: the newest full-mode one)")
    p.add_argument("--results-dir", default=str(results.RESULTS_DIR), help="where to look for the newest run")
    p.add_argument("--readme", default=str(results.README))
    p.add_argument("--figure", default=str(results.FIGURE))
    p.add_argument("--reference", default=str(results.REFERENCE))
    p.add_argument("--t4-ratio", type=float, default=None,
                   help="T4 time / recorded time (default: ratio of memory bandwidths); needs --t4-basis")
    p.add_argument("--t4-basis", default=None, help="what --t4-ratio is based on (printed in the README)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if the generated files are stale")
    p.set_defaults(run=_results)
