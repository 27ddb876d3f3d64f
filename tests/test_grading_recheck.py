"""The re-check in its own isolated process: the student's exercise cells only, limits, retries,
plain outputs, and the replay of the notebook's own test that tells tampering from a weaker test.

An exercise that hangs, crashes, exhausts memory or has a syntax error is graded end to end in
``test_grading_batch.py``; attacks on the sandbox are in ``test_grading_attacks.py``.
"""

from __future__ import annotations

import io
import socket
import threading
import time
import uuid

import grading_corpus as corpus
import numpy as np
import psutil
import pytest

from autograder.grading import recheck as recheck_mod
from autograder.grading import zygote as zygote_mod
from autograder.grading.isolation import NONE, Isolation, choose
from autograder.grading.limits import Limits

pytestmark = pytest.mark.integration

LIMITS = Limits(recheck_timeout=10, memory_mb=2000)
ALL = list(corpus.POINTS)


@pytest.fixture(scope="module")
def isolation():
    return choose()


@pytest.fixture(scope="module")
def release():
    return corpus.release()


@pytest.fixture(scope="module")
def good():
    return corpus.correct()


def run(nb, release, isolation, probe_seed=99, **kwargs):
    return recheck_mod.recheck(corpus.NAME, nb, release, probe_seed, LIMITS, isolation, **kwargs)


def statuses(result):
    return {t: o.status for t, o in result.items()}


def test_only_exercise_cells_are_loaded_and_a_correct_notebook_passes(good, release, isolation):
    nb = corpus.insert_after(good, "test_rotation_dataset", "raise SystemExit('an ordinary cell is never run')")
    nb.cells[corpus.cell_index(nb, "test_jigsaw_dataset")].source = "import os\nos._exit(1)"  # tests are not loaded
    assert statuses(run(nb, release, isolation)) == dict.fromkeys(ALL, "pass")


def test_statements_that_kill_or_hang_the_loading_are_skipped(good, release, isolation):
    nb = corpus.append_to(good, "rotation_dataset", "import os\nos._exit(3)")
    nb = corpus.append_to(nb, "colorization_dataset", "while True:\n    pass")
    assert statuses(run(nb, release, isolation)) == dict.fromkeys(ALL, "pass")


NETWORK = """
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
    REACHED = True
except OSError:
    REACHED = False
if REACHED:
    RotationDataset = None  # fails the exercise: the test then sees that the network was reachable
"""


@pytest.mark.parametrize("unsafe", [False, True], ids=["isolated", "no-isolation"])
def test_the_sandbox_has_no_network(good, release, isolation, unsafe):
    """Isolated, the sandbox has its own network namespace (the host's loopback is not there); without
    isolation, sockets are blocked in-process. The target is a server this test runs on the host, so
    the test means something on a machine without outside network too."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        nb = corpus.append_to(good, "rotation_dataset", NETWORK.format(port=server.getsockname()[1]))
        chosen = Isolation(NONE) if unsafe else isolation
        assert run(nb, release, chosen)["test_rotation_dataset"].status == "pass"


SCRATCH = """
import os, pathlib
_marks = [pathlib.Path(os.environ["HOME"]) / "mark", pathlib.Path(os.environ["TMPDIR"]) / "mark",
          pathlib.Path("/dev/shm/mark")]
try:
    _fresh = not any(p.exists() for p in _marks)
    for _p in _marks:
        _p.write_text("left by an earlier job")
except OSError:
    _fresh = False
if not _fresh:
    RotationDataset = None  # fails the exercise: home, tmp or shm was not an empty, writable folder
"""


def test_every_job_finds_its_scratch_empty_and_writable(good, release, isolation):
    """Jobs share their worker's zygote: the second must neither lose its folders nor see the first's files."""
    nb = corpus.append_to(good, "rotation_dataset", SCRATCH)
    for _ in range(2):
        assert run(nb, release, isolation)["test_rotation_dataset"].status == "pass"


RENAME = """
import os
for _folder in {os.environ["HOME"], os.path.dirname(os.environ["HOME"]), os.path.dirname(os.environ["TMPDIR"])}:
    for _name in ("shm", "tmp", "home", ".matplotlib"):
        try:
            os.rename(os.path.join(_folder, _name), os.path.join(_folder, _name + "-moved"))
        except OSError:
            pass
"""


def test_a_job_that_renames_its_folders_cannot_break_the_next_one(good, release, isolation):
    """``$HOME/shm`` was the bind source of the zygote's /dev/shm: renamed by one job, it was deleted
    with that job's files, and the next job of the worker had no /dev/shm."""
    run(corpus.append_to(good, "rotation_dataset", RENAME), release, isolation)
    nb = corpus.append_to(good, "rotation_dataset", SCRATCH)
    assert run(nb, release, isolation)["test_rotation_dataset"].status == "pass"


def test_busy_processes_of_one_student_cannot_time_out_another(isolation, monkeypatch):
    """A correct Notebook 2 re-checked, its sandbox starting, while another student's exercise cells run
    96 busy processes, each in a session of its own (started again at every attempt of that student's
    re-check): each sandbox has its CPU share, and the time limits (the sandbox's start included) count
    CPU seconds. Before, the victim's sandbox did not start in (wall-clock) time and every exercise
    scored 0."""
    monkeypatch.setattr(zygote_mod, "STARTUP_TIMEOUT", 10.0)  # importing torch takes a few CPU seconds
    name = "02_simclr"
    victim, victim_release = corpus.correct(name=name), corpus.release(name)
    attacker = corpus.append_to(corpus.correct(), "rotation_dataset",
                                corpus.BUSY_PROCESSES + "import time\ntime.sleep(600)")
    victim_limits = Limits(recheck_timeout=5, memory_mb=1999)    # a zygote of its own, started under attack
    attacker_limits = Limits(recheck_timeout=3, memory_mb=2001)  # another zygote, as another worker's
    attack = threading.Thread(target=recheck_mod.recheck,
                              args=(corpus.NAME, attacker, corpus.release(), 5, attacker_limits, isolation))
    attack.start()
    seen, watching = [0], [True]

    def watch():
        while watching[0]:
            seen[0] = max(seen[0], corpus.busy_processes())
            time.sleep(0.2)

    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and corpus.busy_processes() < 48:
            time.sleep(0.2)
        watcher = threading.Thread(target=watch)
        watcher.start()
        result = recheck_mod.recheck(name, victim, victim_release, 6, victim_limits, isolation)
        watching[0] = False
        watcher.join()
    finally:
        attack.join()
    assert seen[0] >= 48, "the attack did not run while the victim was re-checked: the test tested nothing"
    assert statuses(result) == dict.fromkeys(result, "pass"), result


def test_a_sandbox_that_failed_to_start_is_started_again_not_graded(good, release, isolation, monkeypatch):
    """The grader's own failure (here: its sandbox did not start, once) costs no point; before, every
    exercise was recorded as a crash, 0 points."""
    real, calls = recheck_mod.zygote, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the re-check sandbox did not start: simulated")
        return real(*args, **kwargs)

    monkeypatch.setattr(recheck_mod, "zygote", flaky)
    assert statuses(run(good, release, isolation)) == dict.fromkeys(ALL, "pass")
    assert len(calls) >= 2


def test_outputs_are_plain_arrays_never_pickles():
    buffer = io.BytesIO()
    np.savez(buffer, ok=np.arange(3), bad=np.array([object()], dtype=object))
    with pytest.raises(ValueError):
        recheck_mod.load_outputs(buffer.getvalue())
    buffer = io.BytesIO()
    np.savez(buffer, text=np.array(["a string"]))
    with pytest.raises(ValueError, match="dtype"):
        recheck_mod.load_outputs(buffer.getvalue())


def test_a_notebook_the_checks_do_not_know_is_not_rechecked(release, isolation):
    result = recheck_mod.recheck("99_unknown", corpus.correct(), release, 1, LIMITS, isolation)
    assert set(statuses(result).values()) == {"unchecked"}


def test_the_prelude_is_the_release_imports(release):
    imports = recheck_mod.release_imports(release)
    assert "import torch" in imports and "from selfsup import" in imports
    assert "YOUR CODE" not in imports and "def " not in imports


def test_background_processes_die_with_their_job(good, release, isolation):
    marker = uuid.uuid4().hex
    nb = corpus.append_to(good, "rotation_dataset", "import subprocess\n"
                          f"subprocess.Popen(['sh', '-c', 'sleep 60 # {marker}'], start_new_session=True)")
    assert run(nb, release, isolation)["test_rotation_dataset"].status == "pass"
    assert not [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])]


@pytest.mark.parametrize("name", ["01_pretext_tasks", "02_simclr", "03_mae_dinov2"])
def test_every_notebooks_solution_passes_and_its_blank_release_fails(name, isolation):
    release = corpus.release(name)
    limits = Limits(recheck_timeout=30, memory_mb=3000)  # Notebook 3 builds transformer stand-ins
    solved = recheck_mod.recheck(name, corpus.correct(slim_it=False, name=name), release, 5, limits, isolation)
    assert {t: o.status for t, o in solved.items()} == dict.fromkeys(solved, "pass"), solved
    blank = recheck_mod.recheck(name, release, release, 5, limits, isolation)
    assert {o.status for o in blank.values()} == {"fail"}
    assert all("not filled in yet" in o.message for o in blank.values()), blank


def test_a_missing_name_is_explained_by_what_failed_while_loading(release, isolation):
    cheat = "from autograder.judges.simclr import reference_nt_xent as nt_xent_loss"
    nb = corpus.fill(corpus.correct(slim_it=False, name="02_simclr"), {"nt_xent_loss": cheat})
    result = recheck_mod.recheck("02_simclr", nb, corpus.release("02_simclr"), 5, Limits(recheck_timeout=30),
                                 isolation)
    assert result["test_nt_xent_loss"].status == "fail"
    assert "No module named 'autograder'" in result["test_nt_xent_loss"].message
    assert result["test_projection_head"].status == "pass"


def test_the_replay_tells_tampering_from_a_weaker_notebook_test(release, isolation):
    """A wrong function fails the replay of the notebook's own test (evidence: the test passed in the
    notebook, so something there was not the same); a function the notebook's test cannot catch passes
    the replay (a plain difference)."""
    wrong = corpus.fill(corpus.correct(), {"rotation_dataset": corpus.wrong_source("rotation_dataset",
                                                                                   "RotationClockwise")})
    outcome = run(wrong, release, isolation, replay=("test_rotation_dataset",))["test_rotation_dataset"]
    assert outcome.status == "fail" and outcome.replay == "fail" and "clockwise" in outcome.replay_message
    name = "03_mae_dinov2"
    shuffled = corpus.fill(corpus.correct(slim_it=False, name=name), {"mae_features": SHUFFLED_FEATURES})
    outcome = recheck_mod.recheck(name, shuffled, corpus.release(name), 5, Limits(recheck_timeout=30), isolation,
                                  replay=("test_mae_features",))["test_mae_features"]
    assert outcome.status == "fail" and "wrong order" in outcome.message
    assert outcome.replay == "pass"


SHUFFLED_FEATURES = '''
def mae_features(model, images, pool=True):
    """Forgets that ViTMAE returns its tokens shuffled: their mean is right, their order is not."""
    before = model.config.mask_ratio
    model.config.mask_ratio = 0.0
    try:
        with torch.no_grad():
            tokens = model.vit(pixel_values=images).last_hidden_state[:, 1:]
    finally:
        model.config.mask_ratio = before
    return tokens.mean(dim=1) if pool else tokens
'''
