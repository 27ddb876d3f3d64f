"""autograder.grading.resources: a CPU share and a process cap per sandbox, time limits in CPU seconds,
and the grader's own failures retried instead of graded.

The attack these answer (96 busy processes next to a correctly graded notebook) is graded end to
end in ``test_grading_attacks.py``.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from autograder.grading import recheck, resources
from autograder.grading.limits import Limits, launcher


def _budget(seconds, cpu=lambda: 0.0, waiting=lambda: 0.0):
    return resources.Budget(seconds, cpu, waiting)


def test_a_budget_counts_cpu_seconds_not_wall_time():
    used = [0.0]
    budget = _budget(10.0, cpu=lambda: used[0])
    assert not budget.expired()
    used[0] = 10.5
    assert budget.expired() and budget.ending() == "timeout"


def test_a_job_that_waited_for_a_cpu_is_starved_one_that_slept_timed_out(monkeypatch):
    """At the wall-clock backstop, a job that used little CPU was starved (it was runnable, others ran),
    slept, or waited behind busy processes of its own; only the first is the grader's failure."""
    waiting = [0.0]
    starved = resources.Budget(10.0, lambda: 1.0, lambda: waiting[0])
    slept = resources.Budget(10.0, lambda: 1.0, lambda: 0.0)
    crowded = resources.Budget(10.0, lambda: 1.0, lambda: waiting[0], lambda: 96)  # waited behind its own
    later = time.monotonic() + 100.0  # long past the backstop (40 s)
    monkeypatch.setattr(resources.time, "monotonic", lambda: later)
    waiting[0] = 90.0
    assert starved.expired() and starved.ending() == "starved"
    assert slept.expired() and slept.ending() == "timeout"
    assert crowded.ending() == "timeout"


def test_a_budget_waits_for_a_reply_and_tells_a_crash_from_a_timeout():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.send(b"x")
        assert _budget(5.0).wait(ours)
        ours.recv(1)
        theirs.close()
        budget = _budget(5.0)
        assert budget.wait(ours) and budget.ending() == "crash"  # end of stream before the budget ran out
    ours, theirs = socket.socketpair()
    with ours, theirs:
        budget = _budget(0.05)
        assert not budget.wait(ours) and budget.ending() == "timeout"  # nothing came, nothing ran


def test_the_grader_failing_to_start_a_sandbox_is_never_a_zero():
    """A zygote that never starts: the re-check raises GraderFailure (the batch grades the file again,
    then records an error) instead of answering 'crash' for every exercise."""
    def never(*_):
        raise RuntimeError("the re-check sandbox did not start: simulated")

    requests = [("test_a", "probe", 1)]
    with pytest.raises(recheck.GraderFailure, match="3 times"):
        recheck._run(never, {}, requests, {requests[0]: {}}, {"test_a": "a"}, "m", Limits())


def test_a_worker_that_fails_is_replaced_and_the_file_graded_again():
    from autograder.grading import batch

    class Handle:
        def __init__(self, failures):
            self.failures, self.stopped = failures, 0

        def grade(self, job, limits, exercises):
            if self.failures:
                self.failures -= 1
                raise RuntimeError("the re-check did not finish")
            return {"total": 3.0}

        def stop(self):
            self.stopped += 1

    job, lines = {"record": {"key": "a.ipynb"}}, []
    handle = Handle(batch.GRADER_RETRIES)
    assert batch._grade_with_retries(handle, job, Limits(), 1, lines.append) == {"total": 3.0}
    assert handle.stopped == batch.GRADER_RETRIES and "trying again" in lines[0]
    with pytest.raises(RuntimeError, match=f"failed {batch.GRADER_RETRIES + 1} times"):
        batch._grade_with_retries(Handle(batch.GRADER_RETRIES + 1), job, Limits(), 1, lines.append)


needs_cgroups = pytest.mark.skipif(resources.controller().kind == resources.NONE,
                                   reason="this host gives the grader no control groups (not root, or none writable)")


@needs_cgroups
def test_a_sandbox_gets_its_group_its_cpu_time_and_its_process_cap():
    """The launcher puts a process (and all it starts) into the group; the group counts its CPU time
    and stops it at the process cap."""
    group = resources.new_group("test")
    assert group is not None
    code = ("import threading, time\nstart = time.process_time()\nwhile time.process_time() - start < 0.5: pass\n"
            "threads = []\ntry:\n    for _ in range(1000):\n"
            "        t = threading.Thread(target=time.sleep, args=(5,)); t.start(); threads.append(t)\n"
            "except RuntimeError:\n    pass\nprint(len(threads))")
    try:
        done = subprocess.run(launcher([sys.executable, "-c", code], Limits(), group), capture_output=True, text=True,
                              timeout=120, check=True)
        assert int(done.stdout) < resources.PIDS_MAX <= 1000
        assert group.cpu_seconds() >= 0.5
    finally:
        group.close()
    assert not any(folder.exists() for folder in group.folders)


def test_cgroup_v2_is_found_and_prepared_in_the_graders_own_cgroup(tmp_path, monkeypatch):
    """On a unified hierarchy (what a privileged GitHub Actions container has; no such host here, so a
    folder stands in for it): the grader enables cpu and pids below its own cgroup and makes one group
    per sandbox there. The kernel's side of it (writes that add controllers) is not simulated."""
    own = tmp_path / "job"
    own.mkdir()
    (own / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (own / "cgroup.subtree_control").write_text("")
    monkeypatch.setattr(resources, "_mounts", lambda: [(tmp_path, "cgroup2", {"rw"})])
    monkeypatch.setattr(resources, "_own_paths", lambda: {"": "/job"})
    found = resources._cgroup_v2()
    assert found is not None and found.kind == resources.CGROUP_V2
    (parent,) = found.parents
    assert parent.parent == own and (parent / "cgroup.subtree_control").read_text() == "+cpu +pids"
    assert "cgroup v2" in found.describe() and f"{resources.PIDS_MAX} tasks" in found.describe()
    group = found.group("kernel-1")
    assert group is not None and group.folders == (parent / "kernel-1",)
    assert group.procs_files() == [str(parent / "kernel-1" / "cgroup.procs")]
    (own / "cgroup.controllers").write_text("memory\n")  # no cpu controller to delegate: not usable
    assert resources._cgroup_v2() is None
