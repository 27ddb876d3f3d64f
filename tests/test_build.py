"""The build: reproducible outputs, clean student notebooks, consistent grading metadata."""

from __future__ import annotations

import json
import re

import nbformat
import pytest

from autograder import build as build_mod
from autograder import course as course_mod
from autograder.source import BEGIN_SOLUTION, END_SOLUTION, read_source

pytestmark = pytest.mark.integration

NAMES = course_mod.assignments()


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A build of every notebook into a temporary folder."""
    out = tmp_path_factory.mktemp("build")
    build_mod.build(NAMES, out / "release", out / "solutions")
    return out


def release_nb(name):
    return nbformat.read(course_mod.RELEASE / name / f"{name}.ipynb", as_version=4)


def test_there_are_three_notebooks_in_order():
    assert NAMES[0] == "01_pretext_tasks"
    assert NAMES == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_build_is_reproducible_and_committed_outputs_are_fresh(fresh, name):
    """Byte-identical to what is committed: a stale release/ or solutions/ fails CI."""
    for rel in (f"release/{name}/{name}.ipynb", f"solutions/{name}.ipynb"):
        committed = (course_mod.ROOT / rel).read_bytes()
        assert (fresh / rel).read_bytes() == committed, f"{rel} is stale: run `make release` and commit"
    assert sorted(p.name for p in (fresh / "release" / name).iterdir()) == [f"{name}.ipynb"], \
        "only the notebook may reach students"


@pytest.mark.parametrize("name", NAMES)
def test_release_is_clean(name):
    text = (course_mod.RELEASE / name / f"{name}.ipynb").read_text()
    for leak in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS", "from autograder", "import autograder", "hidden_checks"):
        assert leak not in text, f"release notebook {name} contains {leak!r}"
    nb = release_nb(name)
    source = read_source(course_mod.SOURCE / f"{name}.py")
    for cell in source.cells:  # no line of any reference answer survives
        if BEGIN_SOLUTION in cell.source:
            body = cell.source.split(BEGIN_SOLUTION, 1)[1].split(END_SOLUTION, 1)[0]
            block = "\n".join(line.strip() for line in body.splitlines() if line.strip() and line.strip() != "#")
            flat = "\n".join(line.strip() for c in nb.cells for line in c.source.splitlines())
            assert block not in flat
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
            if meta.get("solution"):
                assert "raise NotImplementedError()" in cell.source, f"{meta['grade_id']} has no stub"
        elif meta.get("solution"):
            assert cell.source == "YOUR ANSWER HERE"


@pytest.mark.parametrize("name", NAMES)
def test_release_is_colab_ready(name):
    nb = release_nb(name)
    course = course_mod.load_course()
    assert nb.cells[0].source.startswith("[![Open In Colab]")
    assert course.colab_url(build_mod.notebook_path_in_public_repo(name)) in nb.cells[0].source
    setup = next(c for c in nb.cells if c.cell_type == "code")
    assert setup.metadata["nbgrader"]["grade_id"] == "setup" and setup.metadata["nbgrader"]["locked"]
    assert course.helper_requirement in setup.source
    install = [line for line in setup.source.splitlines() if "pip" in line]
    assert install and all("torch" not in line for line in install), "never reinstall torch on Colab"
    assert "runtime.setup(SEED)" in setup.source
    assert nb.cells[-1].metadata["nbgrader"]["grade_id"] == "submission_check"
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert "colab" not in json.dumps(nb.metadata)


def _points_table():
    """README's table: | notebook | autograded | written | total |."""
    text = (course_mod.ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `(\d\d_\w+)` \| (\d+) \| (\d+) \| (\d+) \|", text, flags=re.M)
    return {name: tuple(int(v) for v in vals) for name, *vals in rows}


@pytest.mark.parametrize("name", NAMES)
def test_grading_metadata_is_consistent(name):
    nb = release_nb(name)
    ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert len(ids) == len(set(ids)), "grade ids must be unique"
    auto = written = 0
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            assert meta["locked"] and cell.metadata.get("editable") is False, f"{meta['grade_id']} must be locked"
            auto += meta["points"]
        elif meta.get("grade"):
            written += meta["points"]
    assert _points_table().get(name) == (auto, written, auto + written), \
        f"README's points table disagrees with {name}: autograded {auto}, written {written}"
