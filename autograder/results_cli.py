"""Registers the results subcommands of ``python -m autograder`` (see :mod:`autograder.results`)."""


def register(sub) -> None:
    """Add the results subcommands to the CLI's subparsers (none yet)."""
