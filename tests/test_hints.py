"""Hints in two tiers, and no hint that gives the answer away.

Every exercise (a ``solution`` code cell) has a first hint in its docstring (``Hint:``) that names
the idea, and a fuller one in a collapsed ``<details>`` block at the end of the markdown cell that
introduces it. Neither may contain a line of the reference solution, nor the expression it
computes (unless the exercise's own text prescribes that line: then it is the task, not a hint).
"""

from __future__ import annotations

import re

import nbformat
import pytest
from nbconvert import HTMLExporter

from autograder import course as course_mod
from autograder.source import BEGIN_SOLUTION, END_SOLUTION, read_source

NAMES = course_mod.assignments()
#: Solution fragments shorter than this are too generic to be an answer (``return h``, ``x, _ = ...``).
MIN_FRAGMENT = 14
DETAILS = re.compile(r"<details><summary>(?P<summary>.*?)</summary>\n\n(?P<body>.*?)\n\n</details>", re.S)


def exercises(name: str):
    """``(grade_id, solution cell source, markdown that introduces it)`` of every exercise of a notebook."""
    nb = read_source(course_mod.SOURCE / f"{name}.py")
    out, markdown = [], ""
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown":
            markdown = cell.source
        elif meta.get("solution") and not meta.get("grade"):
            out.append((meta["grade_id"], cell.source, markdown))
    return out


EXERCISES = [(name, *ex) for name in NAMES for ex in exercises(name)]
IDS = [grade_id for _, grade_id, _, _ in EXERCISES]


def docstring_hint(source: str) -> str:
    """The text of the ``Hint:`` section of the first docstring in a cell."""
    docstring = source.split('"""')[1]
    match = re.search(r"\n\s*Hint:\n(.*)", docstring, re.S)
    assert match, "the docstring has no Hint: section"
    return match.group(1)


def solution_fragments(source: str) -> list[str]:
    """Each solution line, the expression it assigns and the one it returns, whitespace-normalised."""
    inside = source.split(BEGIN_SOLUTION, 1)[1].split(END_SOLUTION, 1)[0]
    out = []
    for line in inside.splitlines():
        line = " ".join(line.split("#", 1)[0].split())
        if not line:
            continue
        out.append(line)
        if " = " in line:
            out.append(line.split(" = ", 1)[1])
        if line.startswith("return "):
            out.append(line.removeprefix("return "))
    # a bare name (``model.config.mask_ratio``) or an opening line (``nn.Sequential(``) computes nothing
    return [f for f in out if len(f) >= MIN_FRAGMENT and not re.fullmatch(r"[\w.]+", f) and not f.endswith("(")]


def plain(text: str) -> str:
    return " ".join(text.replace("``", "").replace("`", "").replace("#", " ").split())


@pytest.mark.parametrize("name, grade_id, source, markdown", EXERCISES, ids=IDS)
def test_every_exercise_has_two_tiers_of_hints(name, grade_id, source, markdown):
    first = docstring_hint(source)
    assert len(first.split()) >= 12, f"{grade_id}: the docstring's hint should name the idea in a sentence"
    blocks = DETAILS.findall(markdown)
    assert len(blocks) == 1, f"{grade_id}: the markdown before the exercise needs one <details> block"
    summary, body = blocks[0]
    assert "hint" in summary.lower() and body.strip()
    assert markdown.rstrip().endswith("</details>"), f"{grade_id}: the fuller hint closes the exercise's text"


@pytest.mark.parametrize("name, grade_id, source, markdown", EXERCISES, ids=IDS)
def test_no_hint_contains_a_line_of_the_solution(name, grade_id, source, markdown):
    hints = plain(docstring_hint(source) + " " + " ".join(body for _, body in DETAILS.findall(markdown)))
    spec = plain(DETAILS.sub("", markdown))  # what the exercise's text prescribes is the task, not a hint
    leaked = [f for f in solution_fragments(source) if plain(f) in hints and plain(f) not in spec]
    assert not leaked, f"{grade_id}: the hints contain the solution's code: {leaked}"


def test_the_answer_checker_sees_an_answer_hint():
    """The rule catches the hint that gave the answer before this rule existed."""
    source = '''def two_views(x, augment):
    """Two views.

    Hint:
        ``augment(torch.cat([x, x])).chunk(2)``.
    """
    ### BEGIN SOLUTION
    view1, view2 = augment(torch.cat([x, x])).chunk(2)
    return view1, view2
    ### END SOLUTION
'''
    assert any(plain(f) in plain(docstring_hint(source)) for f in solution_fragments(source))


def test_fuller_hints_render_collapsed_with_their_markdown():
    """nbconvert (the HTML a grader or a browser shows) keeps the block collapsible and renders the markdown
    inside it: code spans become <code>, bullets a list. JupyterLab's sanitizer allows details and summary."""
    _, grade_id, _, markdown = EXERCISES[0]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(markdown)])
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    block = body[body.index("<details>"):body.index("</details>")]
    assert "<summary>" in block and "<li>" in block and "<code>" in block, block
