"""Registers the grading subcommands of ``python -m autograder`` (see :mod:`autograder.grading`)."""


def register(sub) -> None:
    """Add the grading subcommands to the CLI's subparsers (none yet)."""
