"""The student's install path: the release notebook's first cell, run against a published tree.

On Colab the setup cell runs ``pip install "selfsup @ git+https://github.com/...#subdirectory=shared"``.
Here the student tree is published (``autograder.publish``) into a local git repository and the
same requirement, with only the GitHub URL swapped for a ``git+file://`` one, is installed into a
fresh virtual environment that already holds this project's torch, torchvision, transformers,
scikit-learn, matplotlib and numpy (as Colab does). Stand-ins, labelled: the local repository
plays GitHub, and the project's packages play Colab's (kornia and tqdm included, which Colab may
lack: pip would fetch those from PyPI there). ``--no-index`` keeps the test offline, and
``--no-build-isolation`` builds with the environment's setuptools instead of a downloaded one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import site
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import course as course_mod
from autograder.publish import publish

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed: pip cannot clone the "
                                                                        "helper package from a git+file:// URL")]

#: What Colab already has and installing the helper must neither reinstall, upgrade nor downgrade.
COLAB_PACKAGES = ("torch", "torchvision", "transformers", "scikit-learn", "matplotlib", "numpy")
#: This project's own installs, left out of the fresh environment (it must get selfsup from git).
NOT_CARRIED = ("__editable__", "selfsup", "ssl_practical_autograder", "__pycache__")

SNAPSHOT = """
import importlib.metadata as m, json, sys
print(json.dumps({name: [m.version(name), str(m.distribution(name).locate_file(""))] for name in sys.argv[1:]}))
"""


def _run(*args, cwd=None) -> str:
    done = subprocess.run(args, check=False, cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1",
                               "GIT_TERMINAL_PROMPT": "0"})
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _setup_requirement() -> str:
    """The requirement string of the first release notebook's setup cell, as students run it."""
    name = course_mod.assignments()[0]
    nb = nbformat.read(course_mod.RELEASE / name / f"{name}.ipynb", as_version=4)
    setup, = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup"]
    requirement, = re.findall(r'"(selfsup @ git\+[^"]+)"', setup.source)
    return requirement


@pytest.fixture(scope="module")
def published_repo(tmp_path_factory) -> tuple[Path, str]:
    """The published student tree as a git repository on the course's branch; returns (path, commit)."""
    repo = tmp_path_factory.mktemp("public") / "ssl-public"
    publish(repo)
    branch = course_mod.load_course().branch
    _run("git", "init", "-q", "-b", branch, cwd=repo)
    _run("git", "add", "-A", cwd=repo)
    _run("git", "-c", "user.name=Course", "-c", "user.email=course@example.org", "commit", "-q", "-m", "publish",
         cwd=repo)
    return repo, _run("git", "rev-parse", "HEAD", cwd=repo).strip()


@pytest.fixture(scope="module")
def fresh_env(tmp_path_factory) -> Path:
    """A new venv whose site-packages reaches this project's packages, minus the project itself."""
    root = tmp_path_factory.mktemp("env")
    _run(sys.executable, "-m", "venv", "--without-pip", root / "venv")
    python = root / "venv" / "bin" / "python"
    project_site = Path(next(p for p in site.getsitepackages() if Path(p).is_dir()))
    farm = root / "project-site-packages"
    farm.mkdir()
    for entry in project_site.iterdir():
        if not entry.name.startswith(NOT_CARRIED):
            (farm / entry.name).symlink_to(entry)
    target_site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").strip())
    (target_site / "colab_packages.pth").write_text(f"import site; site.addsitedir({str(farm)!r})\n")
    return python


def _snapshot(python: Path) -> dict:
    return json.loads(_run(python, "-c", SNAPSHOT, *COLAB_PACKAGES))


def test_the_setup_cell_installs_the_helper_from_git_and_touches_nothing_colab_has(published_repo, fresh_env,
                                                                                  tmp_path):
    repo, commit = published_repo
    python = fresh_env
    requirement = _setup_requirement()
    course = course_mod.load_course()
    assert requirement == course.helper_requirement
    local = requirement.replace(f"https://github.com/{course.repo}", f"file://localhost{repo}")  # PEP 508 wants a host
    assert local != requirement and local.endswith(f"@{course.branch}#subdirectory=shared")

    missing = subprocess.run([python, "-c", "import selfsup"], check=False, capture_output=True, text=True)
    assert missing.returncode != 0 and "No module named 'selfsup'" in missing.stderr, \
        "the fresh environment must not see this checkout's editable selfsup"
    before = _snapshot(python)
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index", "--no-build-isolation"]

    report = tmp_path / "report.json"
    _run(*pip, "--dry-run", "--quiet", "--report", report, local)
    plan = json.loads(report.read_text())["install"]
    assert [item["metadata"]["name"] for item in plan] == ["selfsup"], \
        f"installing the helper would also install {[item['metadata']['name'] for item in plan]}"
    assert plan[0]["download_info"]["vcs_info"]["commit_id"] == commit

    _run(*pip, "--quiet", local)
    assert _snapshot(python) == before, "installing the helper changed a package that Colab already has"
    where = _run(python, "-c", "from selfsup import reference, runtime; reference.load_reference(); "
                               "print(runtime.__file__)").strip()
    assert Path(where).is_relative_to(python.parent.parent), f"selfsup was imported from {where}"
