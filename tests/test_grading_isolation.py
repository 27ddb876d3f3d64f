"""autograder.grading.isolation: what a sandboxed process sees of the host's /tmp.

The kernel gets a private, empty /tmp; the folders it needs that lie below the host's /tmp (a
course cloned there, with its .venv and helper package; the scratch folder) must still be there
inside. (A private /tmp mounted after them hid them all: grading a clone in /tmp failed.)
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from autograder.grading.isolation import choose, command, make_scratch

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
