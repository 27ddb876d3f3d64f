"""The in-kernel pass under limits, on a two-exercise course made for the test (seconds, not minutes).

The failure modes of real submissions (loops, os._exit, memory, output, syntax) are graded end to
end in ``test_grading_batch.py``; this file checks what only the kernel's own environment shows.
"""

from __future__ import annotations

import copy
import uuid

import nbformat
import psutil
import pytest

from autograder import course as course_mod
from autograder.grading import batch, resources
from autograder.grading.autograde import Autograder
from autograder.grading.isolation import NONE, Isolation, choose, environment
from autograder.grading.limits import Limits

pytestmark = pytest.mark.integration

SOURCE = '''\
# %% [markdown]
# # A tiny course

# %% solution="add"
def add(a, b):
    """Return a + b."""
    ### BEGIN SOLUTION
    return a + b
    ### END SOLUTION


# %% tests="test_add" points=1
assert add(1, 2) == 3
### BEGIN HIDDEN TESTS
assert add(2, 2) == 4
### END HIDDEN TESTS

# %%
print("an ordinary cell")

# %% tests="test_add_again" points=1
assert add(0, 0) == 0
'''

PROBES = {
    "daemon": "import subprocess\nsubprocess.Popen(['sh', '-c', 'sleep 60 # {marker}'], start_new_session=True)\n"
              "print('daemon started')",
    "network": "import urllib.request\ntry:\n    urllib.request.urlopen('https://pypi.org/simple/', timeout=5)\n"
               "    print('NETWORK OPEN')\nexcept Exception as error:\n    print('network blocked:', type(error).__name__)",
    "big file": "try:\n    open('big.bin', 'wb').write(b'x' * 32 * 2**20)\n    print('BIG FILE WRITTEN')\n"
                "except OSError as error:\n    print('file too large:', error.errno)",
    "memory": "try:\n    blob = bytearray(16 * 2**30)\n    print('MEMORY GRANTED')\nexcept MemoryError:\n"
              "    print('memory refused')",
    "grader": f"import os\nfor path in ['{course_mod.ROOT}/solutions', '{course_mod.ROOT}/source', "
              f"'{course_mod.ROOT}/autograder/judges/simclr.py']:\n    print(path, 'visible' if os.path.exists(path) "
              "else 'absent')\ntry:\n    import autograder.judges\n    print('GRADER IMPORTED')\n"
              "except ImportError:\n    print('grader not importable')\nprint('uid', os.getuid())",
}


KERNELS: list = []  # where the kernels' scratch folders go


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    (root / "source").mkdir()
    (root / "source" / "00_tiny.py").write_text(SOURCE)
    isolation = choose()
    grader = Autograder(root / "course", ["00_tiny"], source_dir=root / "source", isolation=isolation,
                        limits=Limits(cell_timeout=20, notebook_timeout=120, memory_mb=2000, file_mb=16))
    nb = copy.deepcopy(grader.release("00_tiny"))
    marker = uuid.uuid4().hex
    i = next(k for k, c in enumerate(nb.cells) if c.source.startswith("print(\"an ordinary"))
    nb.cells[i:i + 1] = [nbformat.v4.new_code_cell(src.replace("{marker}", marker)) for src in PROBES.values()]
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "add":
            cell.source = "def add(a, b):\n    return a + b"
    KERNELS.append(root / "course" / "kernels")
    scores = grader.autograde("00_tiny", "probe", nb)
    executed = grader.autograded_notebook("00_tiny", "probe")
    # One text per cell: a print can reach the notebook as several stream outputs (the kernel flushes its
    # stdout on a timer, so a loaded machine splits "file too large: 27" between two of them).
    text = "\n".join("".join(o.get("text", "") for o in c.outputs) for c in executed.cells if c.cell_type == "code")
    return scores, text, marker, isolation


def test_the_submission_is_graded(graded):
    scores, *_ = graded
    assert {k: s.score for k, s in scores.items()} == {"test_add": 1.0, "test_add_again": 1.0}


def test_a_kernel_leaves_no_scratch_folder_and_no_control_group(graded):
    """The kernel's scratch folder and its control group (a CPU share, a task cap) go when it ends."""
    assert KERNELS and not list(KERNELS[0].iterdir())
    controller = resources.controller()
    assert not [group for parent in controller.parents for group in parent.glob("kernel-*")]


def test_memory_and_file_size_are_capped(graded):
    _, text, _, _ = graded
    assert "memory refused" in text and "MEMORY GRANTED" not in text
    assert "file too large: 27" in text and "BIG FILE WRITTEN" not in text


def test_no_network_and_no_process_outlives_the_kernel(graded):
    _, text, marker, _ = graded
    assert "network blocked" in text and "NETWORK OPEN" not in text
    assert "daemon started" in text
    leftovers = [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])]
    assert leftovers == []


def test_the_kernel_sees_no_part_of_the_course_and_runs_unprivileged(graded):
    _, text, _, isolation = graded
    assert "visible" not in text and text.count("absent") == 3
    assert "grader not importable" in text and "GRADER IMPORTED" not in text
    if isolation.drops_user:
        assert "uid 65534" in text


def test_student_code_gets_only_the_allow_listed_environment(monkeypatch, tmp_path):
    """Whatever the grader's environment holds (a credential under any name, the probe seed), the
    processes that run student code get the allow-list; the course's own settings pass."""
    leaks = {"AUTOGRADER_SECRET": "a", "GITHUB_TOKEN": "b", "PROBE_SEED": "4242", "DATABASE_URL": "postgres://u:pw@h",
             "DEPLOY_PASSPHRASE": "c", "SERVICE_AUTH": "d", "PYTHONPATH": "/work/main", "LD_PRELOAD": "x.so"}
    for name, value in leaks.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SELFSUP_NUM_EPOCHS", "1")
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    env = environment(Isolation(NONE), tmp_path, threads=2)
    assert not set(leaks) & set(env) and not set(leaks.values()) & set(env.values())
    assert env["SELFSUP_MODE"] == "grading" and env["SELFSUP_NUM_EPOCHS"] == "1" and env["HF_HUB_OFFLINE"] == "1"
    assert env["NBGRADER_EXECUTION"] == "autograde" and env["HOME"] == str(tmp_path / "home") and env["OMP_NUM_THREADS"] == "2"
    worker = batch.worker_environment(jobs=2)
    assert not {"AUTOGRADER_SECRET", "GITHUB_TOKEN"} & set(worker)


def test_limits_refuse_nonsense():
    with pytest.raises(ValueError):
        Limits(cell_timeout=0)
    with pytest.raises(ValueError):
        Limits(cell_timeout=100, notebook_timeout=10)
