"""A grading worker: one process, one nbgrader course directory, many submissions.

:mod:`.batch` starts ``python -m autograder.grading.worker`` once per ``--jobs`` slot and talks
to it in JSON lines: the first line on stdin sets the worker up (course template, limits),
each further line is one submission. The worker answers on its original stdout (everything
else it or nbgrader prints goes to stderr):

* ``{"ready": true}`` once the course directory is in place;
* ``{"id": ..., "phase": "autograded"}`` when the in-kernel pass is over (the batch's
  per-notebook backstop ends there);
* ``{"id": ..., "result": {...}}`` with the points, the flags and the path of the feedback.

The setup names the course template, the limits and the isolation; each job carries the
repaired notebook itself, so no file of another submission is ever written where a worker (or
a kernel) could find it.

Keeping the worker alive amortises nbgrader's and torch's start-up over the whole batch; the
kernel of every submission is still a fresh process.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import nbformat


class Worker:
    def __init__(self, setup: dict):
        from .autograde import Autograder
        from .isolation import Isolation
        from .limits import Limits

        self.limits = Limits(**setup["limits"])
        self.isolation = Isolation(**setup["isolation"])
        self.out = Path(setup["out"])
        self.workdir = Path(tempfile.mkdtemp(prefix="grading-worker-", dir=setup.get("workdir")))
        self.grader = Autograder(self.workdir / "course", setup["assignments"], limits=self.limits,
                                 isolation=self.isolation, template=Path(setup["template"]))
        self.releases = {a: self.grader.release(a) for a in setup["assignments"]}
        from .recheck import preload_for

        self.preload = preload_for(self.releases)

    def close(self) -> None:
        from .zygote import shutdown

        shutdown()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def grade(self, job: dict, emit) -> dict:
        from .feedback import feedback_notebook, render_html
        from .recheck import recheck
        from .record import Flag, FlagKind, InKernel
        from .report import atomic_write
        from .scoring import combine, graded_cells, in_kernel_results
        from .written import for_record
        from .written import load as load_written

        record = job["record"]
        assignment, student = record["assignment"], record["student"]
        nb = nbformat.from_dict(job["notebook"])
        release = self.releases[assignment]
        tests, answers = graded_cells(release)
        started = time.monotonic()
        autograded, scores, note = None, None, job.get("skip_autograde")
        if note is None:
            try:
                scores = self.grader.autograde(assignment, student, nb)
                autograded = self.grader.autograded_notebook(assignment, student)
            except Exception as error:  # noqa: BLE001 - nbgrader's failure is reported, grading goes on
                last = [line for line in str(error).splitlines() if line.strip()]
                note = "nbgrader could not run the notebook" + (f" ({last[-1][:300]})" if last else "")
        kernel_seconds = time.monotonic() - started
        emit({"id": job["id"], "phase": "autograded"})
        started = time.monotonic()
        in_kernel = in_kernel_results(autograded, scores)
        outcomes = recheck(assignment, nb, release, record["probe_seed"], self.limits, self.isolation, self.workdir,
                           preload=self.preload, replay=tuple(t for t, r in in_kernel.items() if r == InKernel.PASS))
        recheck_seconds = time.monotonic() - started
        points = {k: s.score for k, s in (scores or {}).items()}
        exercises, flags = combine(tests, outcomes, in_kernel, points)
        if note:
            flags.append(Flag(FlagKind.IN_KERNEL, f"in-notebook pass: {note}").to_json())
        result = {
            "exercises": exercises, "flags": flags, "manual": {a: {"max": p} for a, p in answers.items()},
            "total": sum(e["points"] for e in exercises.values()), "max": sum(tests.values()),
            "in_kernel": {"status": "ok" if note is None else note},
            "timing": {"in_kernel_s": round(kernel_seconds, 2), "recheck_s": round(recheck_seconds, 2)},
        }
        full = {**record, **result, "flags": record.get("flags", []) + flags}
        feedback_path = Path("feedback") / student / f"{assignment}.html"
        written = for_record(load_written(self.out), full)  # written points, once a scores sheet was folded in
        atomic_write(self.out / feedback_path, render_html(feedback_notebook(autograded or nb, release, full, written)))
        # The notebook as handed in (repaired, Colab's personal metadata removed), with the outputs of the
        # student's own run: what grading by question shows (python -m autograder answers).
        atomic_write(self.out / "submitted" / student / f"{assignment}.ipynb", nbformat.writes(nb) + "\n")
        if autograded is not None:
            atomic_write(self.out / "autograded" / student / f"{assignment}.ipynb", nbformat.writes(autograded) + "\n")
        result["feedback"] = feedback_path.as_posix()
        self.grader.forget(assignment, student)
        return result


def main() -> None:
    warnings.filterwarnings("ignore")
    protocol = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)

    def emit(message: dict) -> None:
        protocol.write(json.dumps(message) + "\n")
        protocol.flush()

    worker = Worker(json.loads(sys.stdin.readline()))
    emit({"ready": True})
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            job = json.loads(line)
            try:
                emit({"id": job["id"], "result": worker.grade(job, emit)})
            except Exception as error:  # noqa: BLE001 - one broken submission must not stop the worker
                emit({"id": job["id"], "error": f"{type(error).__name__}: {error}"})
    finally:
        worker.close()


if __name__ == "__main__":
    main()
