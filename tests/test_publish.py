"""publish: the public tree holds the release notebooks, the helper package and a README, nothing else."""

from __future__ import annotations

from autograder import course as course_mod
from autograder.publish import publish


def test_publish_writes_the_student_tree(tmp_path):
    publish(tmp_path)
    names = course_mod.assignments()
    assert sorted(p.name for p in (tmp_path / "notebooks").iterdir()) == [f"{n}.ipynb" for n in names]
    assert (tmp_path / "shared" / "pyproject.toml").exists()
    assert (tmp_path / "shared" / "selfsup" / "checks" / "pretext.py").exists()
    assert not list(tmp_path.rglob("__pycache__"))
    readme = (tmp_path / "README.md").read_text()
    course = course_mod.load_course()
    for name in names:
        assert course.colab_url(f"notebooks/{name}.ipynb") in readme
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix in (".py", ".ipynb", ".md", ".toml"):
            text = path.read_text()
            for leak in ("BEGIN SOLUTION", "HIDDEN TESTS", "import autograder", "from autograder"):
                assert leak not in text, f"{path} contains {leak!r}"


def test_publish_is_idempotent(tmp_path):
    first = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) if publish(tmp_path) else None
    publish(tmp_path)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == first


def test_the_public_tree_brings_its_own_feedback_workflow_without_secrets(tmp_path):
    """A student repository made from the public tree runs the feedback workflow on push, calling its own
    copy of classroom.yml: nothing refers to the instructor's repository or to a secret."""
    import yaml

    publish(tmp_path)
    workflows = tmp_path / ".github" / "workflows"
    assert (workflows / "classroom.yml").read_text() == \
        (course_mod.ROOT / ".github" / "workflows" / "classroom.yml").read_text()
    caller = yaml.safe_load((workflows / "feedback.yml").read_text())
    assert caller.get("on", caller.get(True)) == ["push", "workflow_dispatch"]
    assert caller["jobs"]["feedback"] == {"uses": "./.github/workflows/classroom.yml"}
    text = (workflows / "feedback.yml").read_text()
    assert "secrets" not in text and "token" not in text
