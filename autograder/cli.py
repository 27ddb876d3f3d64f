"""``python -m autograder <command>``: the one command line of the instructor toolkit."""

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build", help="source/*.py -> release/ and solutions/")
    p.add_argument("notebooks", nargs="*", help="notebook names (default: all), e.g. 01_pretext_tasks")
    p.set_defaults(run=_build)

    p = sub.add_parser("publish", help="write the student-facing repository tree to DIR")
    p.add_argument("dir")
    p.set_defaults(run=_publish)

    from . import grade_cli, results_cli  # these modules register their own subcommands

    grade_cli.register(sub)
    results_cli.register(sub)

    args = parser.parse_args(argv)
    return args.run(args)
