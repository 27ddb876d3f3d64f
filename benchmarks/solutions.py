"""The instructor's solutions, read from ``source/``: the one place where tests and benchmarks get a
reference implementation of an exercise (no copy of a solution lives anywhere else).

The solution cells of the source notebook (their solution blocks kept) run after the release
notebook's trusted prelude, in one namespace, as the re-check runs a student's exercise cells.

    >>> from benchmarks.solutions import solution
    >>> nt_xent_loss = solution("02_simclr", "nt_xent_loss")
"""

from __future__ import annotations

import functools

import nbformat

from autograder import course as course_mod
from autograder import source as source_mod
from autograder.grading.recheck import exercise_cells, prelude_of


@functools.lru_cache(maxsize=None)
def namespace(assignment: str) -> dict[str, object]:
    """Every name the solution cells of ``assignment`` define (with the prelude's), built once per process."""
    from autograder.build import prepare

    notebook = prepare(assignment, course_mod.load_course())
    for cell in source_mod.cells_of(notebook, "solution"):
        cell.source = source_mod.strip_block(cell.source, source_mod.BEGIN_SOLUTION, source_mod.END_SOLUTION,
                                             keep_inside=True)
    release = nbformat.read(course_mod.RELEASE / assignment / f"{assignment}.ipynb", as_version=4)
    names: dict[str, object] = {"__name__": "__main__"}
    exec(compile(prelude_of(assignment, release), "<prelude>", "exec"), names)  # noqa: S102 - trusted source
    for cell in exercise_cells(notebook):
        exec(compile(cell["source"], cell["label"], "exec"), names)  # noqa: S102 - the instructor's solution
    return names


def solution(assignment: str, name: str):
    """The instructor's ``name`` (a function or class an exercise asks for) in ``assignment``."""
    try:
        return namespace(assignment)[name]
    except KeyError:
        raise KeyError(f"the solution cells of {assignment} define no {name!r}") from None
