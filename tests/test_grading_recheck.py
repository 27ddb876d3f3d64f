"""The re-check in its own process: the student's exercise cells only, limits, retries, plain outputs.

An exercise that hangs, crashes, exhausts memory or has a syntax error is graded end to end in
``test_grading_batch.py``; this file covers what the corpus does not.
"""

from __future__ import annotations

import numpy as np
import pytest

import grading_corpus as corpus
from autograder.grading import recheck as recheck_mod
from autograder.grading.limits import Limits, network_isolation_available

LIMITS = Limits(recheck_timeout=5, memory_mb=2000)
ALL = ["test_rotation_dataset", "test_jigsaw_dataset", "test_colorization_dataset", "test_colorization_net"]


@pytest.fixture(scope="module")
def release():
    return corpus.release()


@pytest.fixture(scope="module")
def good():
    return corpus.correct()


def run(nb, release, isolate=None, seed=99):
    isolate = network_isolation_available() if isolate is None else isolate
    return recheck_mod.recheck(corpus.NAME, nb, release, seed, LIMITS, isolate)


def statuses(result):
    return {t: o.status for t, o in result.items()}


def test_only_exercise_cells_are_loaded_and_a_correct_notebook_passes(good, release):
    nb = corpus.insert_after(good, "test_rotation_dataset", "raise SystemExit('an ordinary cell is never run')")
    nb.cells[corpus.cell_index(nb, "test_jigsaw_dataset")].source = "import os\nos._exit(1)"  # tests are not loaded
    assert statuses(run(nb, release)) == dict.fromkeys(ALL, "pass")


def test_statements_that_kill_or_hang_the_loading_are_skipped(good, release):
    nb = corpus.append_to(good, "rotation_dataset", "import os\nos._exit(3)")
    nb = corpus.append_to(nb, "colorization_dataset", "while True:\n    pass")
    result = run(nb, release)
    assert statuses(result) == dict.fromkeys(ALL, "pass")


NETWORK = """
import urllib.request
try:
    urllib.request.urlopen("https://pypi.org/simple/", timeout=5)
    REACHED = True
except Exception:
    REACHED = False
if REACHED:
    RotationDataset = None  # fails the exercise: the test then sees that the network was reachable
"""


@pytest.mark.parametrize("isolate", [True, False], ids=["namespace", "sockets-blocked"])
def test_the_sandbox_has_no_network(good, release, isolate):
    if isolate and not network_isolation_available():
        pytest.skip("this host does not allow network namespaces")
    nb = corpus.append_to(good, "rotation_dataset", NETWORK)
    assert run(nb, release, isolate=isolate)["test_rotation_dataset"].status == "pass"


def test_outputs_are_plain_arrays_never_pickles(tmp_path):
    np.savez(tmp_path / "0.npz", ok=np.arange(3), bad=np.array([object()], dtype=object))
    with pytest.raises(ValueError):
        recheck_mod._load_outputs(tmp_path, "0.npz")
    with pytest.raises(ValueError, match="unexpected output file"):
        recheck_mod._load_outputs(tmp_path, "../0.npz")


def test_a_notebook_without_probes_is_not_rechecked(release):
    result = recheck_mod.recheck("99_unknown", corpus.correct(), release, 1, LIMITS, False)
    assert set(statuses(result).values()) == {"unchecked"}


def test_the_prelude_is_the_release_imports(release):
    imports = recheck_mod.release_imports(release)
    assert "import torch" in imports and "from selfsup import" in imports
    assert "YOUR CODE" not in imports and "def " not in imports


def test_background_processes_die_with_their_job(good, release):
    if not network_isolation_available():
        pytest.skip("this host does not allow namespaces")
    import uuid

    import psutil

    marker = uuid.uuid4().hex
    nb = corpus.append_to(good, "rotation_dataset", "import subprocess\n"
                          f"subprocess.Popen(['sh', '-c', 'sleep 60 # {marker}'], start_new_session=True)")
    assert run(nb, release)["test_rotation_dataset"].status == "pass"
    assert not [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])]


@pytest.mark.parametrize("name", ["01_pretext_tasks", "02_simclr", "03_mae_dinov2"])
def test_every_notebooks_solution_passes_and_its_blank_release_fails(name):
    release = corpus.release(name)
    limits = Limits(recheck_timeout=30, memory_mb=3000)  # Notebook 3 builds transformer stand-ins
    solved = recheck_mod.recheck(name, corpus.correct(slim_it=False, name=name), release, 5, limits,
                                 network_isolation_available())
    assert {t: o.status for t, o in solved.items()} == dict.fromkeys(solved, "pass"), solved
    blank = recheck_mod.recheck(name, release, release, 5, limits, network_isolation_available())
    assert {o.status for o in blank.values()} == {"fail"}
    assert all("not filled in yet" in o.message for o in blank.values()), blank


def test_student_code_cannot_import_the_hidden_references():
    """Reading the hidden tests: an exercise cell that imports the grader's reference fails the re-check."""
    name = "02_simclr"
    release = corpus.release(name)
    cheat = "from autograder.checks.simclr import reference_nt_xent as nt_xent_loss"
    nb = corpus.fill(corpus.correct(slim_it=False, name=name), {"nt_xent_loss": cheat})
    limits = Limits(recheck_timeout=30, memory_mb=3000)
    result = recheck_mod.recheck(name, nb, release, 5, limits, network_isolation_available())
    assert result["test_nt_xent_loss"].status == "fail"
    assert "not available to student code" in result["test_nt_xent_loss"].message
    assert result["test_projection_head"].status == "pass"
