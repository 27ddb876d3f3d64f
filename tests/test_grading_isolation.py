"""autograder.grading.isolation: what a sandboxed process sees of the host's /tmp.

The kernel gets a private, empty /tmp; the folders it needs that lie below the host's /tmp (a
course cloned there, with its .venv and helper package; the scratch folder) must still be there
inside. (A private /tmp mounted after them hid them all: grading a clone in /tmp failed.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from autograder.grading import isolation as isolation_mod
from autograder.grading.isolation import IsolationUnavailable, choose, command, inside_path, make_scratch

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("private_tmp", [True, False], ids=["kernel", "zygote"])
def test_folders_below_tmp_stay_visible_and_nothing_else_of_it(tmp_path, private_tmp):
    isolation = choose()
    needed = tmp_path / "course" / ".venv"
    needed.mkdir(parents=True)
    (needed / "data.txt").write_text("visible")
    (tmp_path / "host-only.txt").write_text("secret")
    scratch = make_scratch(tmp_path / "scratch", isolation)
    code = (f"import os; print(open({str(needed / 'data.txt')!r}).read(), "
            f"os.path.exists({str(tmp_path / 'host-only.txt')!r}), sorted(os.listdir({str(tmp_path)!r})))")
    argv = command(isolation, [sys.executable, "-c", code], scratch, read_only=((needed, needed),),
                   private_tmp=private_tmp)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().split(maxsplit=2) == ["visible", "False", "['course', 'scratch']"], done.stdout


def test_a_virtual_environment_reached_through_a_link_runs_inside(tmp_path):
    """A ``.venv`` linked from elsewhere: the sandbox binds the environment at its real place only,
    so the command names the interpreter there. Before, the linked path did not exist inside and
    ``grade`` blamed bubblewrap ("missing or namespaces are not allowed")."""
    isolation = choose()
    link = tmp_path / "clone" / ".venv"
    link.parent.mkdir()
    link.symlink_to(Path(sys.prefix).resolve(), target_is_directory=True)
    python = link / "bin" / Path(sys.executable).name
    scratch = make_scratch(tmp_path / "scratch", isolation)
    argv = command(isolation, [str(python), "-c", "import sys, nbformat; print(sys.prefix)"], scratch)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).resolve() == Path(sys.prefix).resolve()  # the environment, not the base Python
    assert inside_path(str(python)) == str(Path(sys.prefix).resolve() / "bin" / Path(sys.executable).name)


def test_a_failed_probe_is_named_not_blamed_on_bubblewrap(monkeypatch):
    monkeypatch.setattr(isolation_mod, "best_available", lambda: None)
    monkeypatch.setattr(isolation_mod, "_PROBE_FAILURE", ["bubblewrap is installed, but /x/bin/python -c ... exited "
                                                          "with code 127 inside it: No such file or directory"])
    with pytest.raises(IsolationUnavailable, match="exited with code 127.*Make that command run") as raised:
        choose()
    assert "missing" not in str(raised.value)
    monkeypatch.setattr(isolation_mod, "_PROBE_FAILURE", [])
    with pytest.raises(IsolationUnavailable, match="bubblewrap \\(bwrap\\) is missing"):
        choose()
