"""The authoring format: metadata expansion and the refusal of malformed sources."""

from __future__ import annotations

import textwrap

import pytest

from autograder import build as build_mod
from autograder.source import SourceError, graded_cells, read_source, strip_block

GOOD = '''\
# %% [markdown]
# # Title

# %%
x = 1

# %% solution="square"
def square(v):
    ### BEGIN SOLUTION
    return v * v
    ### END SOLUTION


# %% tests="test_square" points=2
assert square(3) == 9
### BEGIN HIDDEN TESTS
assert square(-2) == 4
### END HIDDEN TESTS

# %% [markdown] answer="q_why" points=1
# ### BEGIN SOLUTION
# Because.
# ### END SOLUTION
'''


def write(tmp_path, text, name="01_demo.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_headers_expand_to_nbgrader_metadata(tmp_path):
    nb = read_source(write(tmp_path, GOOD))
    meta = [c.metadata.get("nbgrader") for c in nb.cells]
    assert meta[2] == {"grade": False, "grade_id": "square", "locked": False, "schema_version": 3,
                       "solution": True, "task": False}
    assert meta[3]["grade"] and meta[3]["locked"] and meta[3]["points"] == 2 and not meta[3]["solution"]
    assert meta[4]["grade"] and meta[4]["solution"] and not meta[4]["locked"] and meta[4]["points"] == 1
    assert [(g.grade_id, g.kind, g.points) for g in graded_cells(nb)] == [("test_square", "tests", 2.0),
                                                                          ("q_why", "answer", 1.0)]
    assert nb.metadata["kernelspec"]["name"] == "python3" and "jupytext" not in nb.metadata


@pytest.mark.parametrize("old, new, message", [
    ('tests="test_square"', 'tests="square"', "duplicate grade id 'square'"),
    ("# %%\nx = 1", "# %%\nx = 1\n### BEGIN SOLUTION\n### END SOLUTION", "only allowed in a solution or answer cell"),
    ("assert square(3) == 9", "### BEGIN SOLUTION\nassert square(3) == 9\n### END SOLUTION",
     "only allowed in a solution or answer cell"),
    ("# %%\nx = 1", "# %%\nx = 1\n### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS", "only allowed in a tests cell"),
    (" points=2", "", "needs points > 0"),
    (" points=2", " points=0", "needs points > 0"),
    ("    ### END SOLUTION\n", "", "never closed"),
    ("    ### BEGIN SOLUTION\n    return v * v\n    ### END SOLUTION\n", "    return v * v\n",
     "needs '### BEGIN SOLUTION'"),
    ('solution="square"', 'solution="Square-Fn"', "snake_case"),
    ('solution="square"', 'soluton="square"', "unknown header key"),
    ("# %%\nx = 1", "# %% points=3\nx = 1", "points belong on a 'tests' or 'answer' cell"),
    ("    ### BEGIN SOLUTION", "    ### BEGIN SOLUTION here", "must stand alone"),
    ('[markdown] answer="q_why"', '[markdown] solution="q_why"', "a markdown cell can only be an 'answer'"),
])
def test_malformed_sources_are_refused_with_a_clear_message(tmp_path, old, new, message):
    assert old in GOOD
    with pytest.raises(SourceError, match=message):
        read_source(write(tmp_path, GOOD.replace(old, new, 1)))


def test_a_refused_build_writes_nothing(tmp_path):
    src = tmp_path / "source"
    src.mkdir()
    write(src, GOOD, "01_demo.py")
    write(src, GOOD.replace('tests="test_square"', 'tests="square"'), "02_broken.py")
    release, solutions = tmp_path / "release", tmp_path / "solutions"
    with pytest.raises(SourceError, match="02_broken.py"):
        build_mod.build(["01_demo", "02_broken"], release, solutions, src)
    assert not release.exists() and not solutions.exists()


def test_strip_block_keeps_or_drops_the_inside():
    text = "a\n### BEGIN SOLUTION\nb\n### END SOLUTION\nc"
    assert strip_block(text, "### BEGIN SOLUTION", "### END SOLUTION", keep_inside=True) == "a\nb\nc"
    assert strip_block(text, "### BEGIN SOLUTION", "### END SOLUTION", keep_inside=False) == "a\nc"
