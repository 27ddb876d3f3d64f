"""The authoritative re-check: the grader's side of :mod:`.sandbox`.

For one repaired submission it

1. takes the student's exercise cells (nbgrader ``solution`` code cells) and nothing else, and
   a trusted prelude: the imports of the *release* notebook plus the probe module's
   ``CONTEXT``;
2. runs :mod:`.sandbox` in a fresh process under :mod:`.limits`, with one time budget for
   loading the cells and one per exercise;
3. if that process dies or hangs, runs it again without the statement that was running
   (loading) or without the exercise that was running (probing), so a crash costs only what
   depends on it;
4. loads each exercise's ``.npz`` with ``allow_pickle=False`` and lets the probe's ``judge``
   decide, in this process, against the reference implementations.
"""

from __future__ import annotations

import ast
import atexit
import importlib
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np

from . import probes
from .channel import LineReader
from .limits import Limits, kill_tree, launcher

STARTUP_TIMEOUT = 120.0   # seconds for a fresh Python to import torch on a busy machine
MAX_ATTEMPTS = 5
MAX_EVENT_BYTES = 4 * 2**20
COMMON_CONTEXT = "import torch\nSEED = 0\nDEVICE = torch.device('cpu')\n"

PASS, FAIL, TIMEOUT, CRASH, UNCHECKED = "pass", "fail", "timeout", "crash", "unchecked"


@dataclass(frozen=True)
class Outcome:
    """The re-check's result for one test cell: ``pass``, ``fail``, ``timeout``, ``crash`` or ``unchecked``."""

    status: str
    message: str

    @property
    def passed(self) -> bool:
        return self.status == PASS


def exercise_cells(nb: nbformat.NotebookNode) -> list[dict]:
    """The student's exercise cells (nbgrader solution code cells), in order, labelled by grade id."""
    return [{"label": f"exercise cell '{c.metadata['nbgrader'].get('grade_id', '?')}'", "source": c.source}
            for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]


def release_imports(release: nbformat.NotebookNode) -> str:
    """The top-level import statements of the release notebook's own code cells (trusted)."""
    lines = []
    for cell in release.cells:
        if cell.cell_type != "code" or cell.metadata.get("nbgrader", {}).get("solution"):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        lines += [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    return "\n".join(dict.fromkeys(lines)) + "\n"


def prelude_of(assignment: str, release: nbformat.NotebookNode) -> str:
    """The trusted code run before a notebook's exercise cells: common names, the release's imports, CONTEXT."""
    module = probes.for_assignment(assignment)
    return COMMON_CONTEXT + release_imports(release) + (getattr(module, "CONTEXT", "") if module else "")


def preload_for(notebooks: dict[str, nbformat.NotebookNode]) -> str:
    """What a sandbox zygote imports once for these notebooks: their preludes' imports and their probe modules."""
    lines = ["import torch"]
    for assignment, release in notebooks.items():
        lines += release_imports(release).splitlines()
        name = probes.module_names().get(assignment)
        if name:
            lines.append(f"import {name}")
            lines += getattr(importlib.import_module(name), "WARM_UP", "").splitlines()
    return "\n".join(dict.fromkeys(line for line in lines if line.strip())) + "\n"


def _environment(job_dir: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(job_dir), "TMPDIR": str(job_dir),
            "LANG": "C.UTF-8", "SELFSUP_MODE": "grading", "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class SandboxServer:
    """A running :mod:`.sandbox` zygote: one per set of limits, isolation and preload, reused for every job."""

    def __init__(self, limits: Limits, isolate: bool, preload: str):
        self.limits, self.isolate = limits, isolate
        self.dir = Path(tempfile.mkdtemp(prefix="sandbox-server-"))
        (self.dir / "preload.py").write_text(preload, encoding="utf-8")
        cmd = launcher([sys.executable, "-I", "-m", "autograder.grading.sandbox", str(self.dir / "preload.py")],
                       limits, isolate)
        with open(self.dir / "stderr.txt", "wb") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, cwd=self.dir,
                                         env=_environment(self.dir), start_new_session=True)
        self.replies = LineReader(self.proc.stdout.fileno())
        ready = self.replies.read(time.monotonic() + STARTUP_TIMEOUT)
        if not ready or not ready.get("ready"):
            detail = (self.dir / "stderr.txt").read_text(errors="replace")[-500:]
            self.close()
            raise RuntimeError(f"the re-check sandbox did not start: {detail}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(self, job_dir: Path) -> tuple[list[dict], str]:
        """Run one job; return its events and how it ended (``ok``, ``timeout`` or ``exit N``)."""
        fifo = job_dir / "events"
        os.mkfifo(fifo, 0o600)
        fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # also a writer: the FIFO never reads as closed
        out_fd = self.proc.stdout.fileno()
        events, buffer, received, ending = [], b"", 0, None
        try:
            self.proc.stdin.write((json.dumps({"dir": str(job_dir)}) + "\n").encode())
            self.proc.stdin.flush()
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while ending is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    ending = "timeout"
                    break
                pending = self.replies.pending()
                ready, _, _ = select.select([] if pending else [fd, out_fd], [], [], 0 if pending else remaining)
                if fd in ready:
                    chunk = os.read(fd, 65536)
                    received += len(chunk)
                    if received > MAX_EVENT_BYTES:
                        ending = "exit: too much output on the event channel"
                        break
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        event = _event(line)
                        if event is not None:
                            events.append(event)
                            if event.get("event") in ("ready", "loaded", "start", "done"):
                                deadline = time.monotonic() + self.limits.recheck_timeout
                elif out_fd in ready or self.replies.pending():
                    reply = self.replies.read(time.monotonic() + 1.0)
                    if reply is None:
                        ending = "exit: the sandbox server stopped"
                    elif "done" in reply:
                        try:
                            while chunk := os.read(fd, 65536):
                                buffer += chunk
                        except BlockingIOError:
                            pass
                        events += [e for e in map(_event, buffer.split(b"\n")) if e is not None]
                        finished = any(e.get("event") == "finished" for e in events)
                        ending = "ok" if finished else f"exit {reply['done']}"
        finally:
            os.close(fd)
        if ending == "timeout" or ending.startswith("exit: too much"):
            self._stop_job()
        return events, ending

    def _stop_job(self) -> None:
        """Kill the running child (and what it started); the zygote then reports it done."""
        import psutil

        try:
            zygote = psutil.Process(self.proc.pid)
            if self.isolate:  # the launcher stays as the parent of the namespace's PID 1, the zygote
                zygote = zygote.children()[0]
            for proc in zygote.children(recursive=True):
                proc.kill()
        except (psutil.Error, IndexError):
            pass
        reply = self.replies.read(time.monotonic() + 30)
        if not reply or "done" not in reply:
            self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            kill_tree(self.proc.pid)
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def _event(line: bytes) -> dict | None:
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


_SERVERS: dict[tuple, SandboxServer] = {}


def server(limits: Limits, isolate: bool, preload: str) -> SandboxServer:
    """The sandbox zygote for these settings, started on first use and kept until this process exits."""
    key = (limits.memory_mb, limits.file_mb, limits.recheck_timeout, isolate, preload)
    current = _SERVERS.get(key)
    if current is None or not current.alive():
        if not _SERVERS:
            atexit.register(shutdown)
        current = _SERVERS[key] = SandboxServer(limits, isolate, preload)
    return current


def shutdown() -> None:
    """Stop every sandbox zygote of this process."""
    while _SERVERS:
        _SERVERS.popitem()[1].close()


def _load_outputs(job_dir: Path, name: str) -> dict[str, np.ndarray]:
    if not re.fullmatch(r"\d+\.npz", str(name)):
        raise ValueError(f"unexpected output file name {name!r}")
    with np.load(job_dir / name, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    for key, value in arrays.items():
        if value.dtype.kind not in "biuf":
            raise ValueError(f"output {key!r} has dtype {value.dtype}")
    return arrays


def recheck(assignment: str, nb: nbformat.NotebookNode, release: nbformat.NotebookNode, seed: int,
            limits: Limits, isolate: bool, workdir: Path | None = None, preload: str | None = None
            ) -> dict[str, Outcome]:
    """Re-check every graded test cell of ``nb`` that has a probe; return the outcome per test cell id.

    Args:
        assignment: the notebook, e.g. ``"01_pretext_tasks"``.
        nb: the repaired submission.
        release: the release notebook (its imports make the prelude).
        seed: the grader's seed for the probe inputs.
        limits: ``recheck_timeout``, ``memory_mb`` and ``file_mb`` apply.
        isolate: cut the sandbox off the network with a namespace; if False, sockets are
            blocked inside the sandbox instead (best effort).
        workdir: where the sandbox's folder goes (default: the system's temporary folder).
        preload: trusted code the sandbox zygote runs once (imports); default:
            :func:`preload_for` this notebook. A worker grading several notebooks passes the
            preload of all of them, so that one zygote serves them all.
    """
    module = probes.for_assignment(assignment)
    tests = [c.metadata["nbgrader"]["grade_id"] for c in release.cells
             if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")]
    if module is None:
        return {t: Outcome(UNCHECKED, f"not re-checked: there are no probes for {assignment} yet") for t in tests}
    exercises = {e.test: e for e in module.EXERCISES}
    results = {t: Outcome(UNCHECKED, "not re-checked: no probe for this test cell") for t in tests
               if t not in exercises}
    pending = [t for t in tests if t in exercises]
    skip: list[list[int]] = []
    prelude = prelude_of(assignment, release)
    preload = preload or preload_for({assignment: release})
    root = Path(tempfile.mkdtemp(prefix="recheck-", dir=workdir))
    try:
        for attempt in range(MAX_ATTEMPTS):
            pending = [t for t in pending if t not in results]
            if not pending:
                break
            job_dir = root / f"attempt-{attempt}"  # a fresh folder: nothing an earlier attempt wrote is read
            job_dir.mkdir()
            job = {"probe_module": module.__name__, "seed": int(seed), "exercises": pending, "skip": skip,
                   "prelude": prelude, "cells": exercise_cells(nb), "block_sockets": not (isolate or limits.network)}
            (job_dir / "job.json").write_text(json.dumps(job), encoding="utf-8")
            try:
                events, ending = server(limits, isolate, preload).run(job_dir)
            except (OSError, RuntimeError) as error:
                events, ending = [], f"exit: {error}"
            for event in events:
                test = event.get("exercise")
                if event.get("event") != "done" or test not in pending or test in results:
                    continue
                if "error" in event:
                    results[test] = Outcome(FAIL, str(event["error"])[:2000])
                    continue
                try:
                    outputs = _load_outputs(job_dir, event.get("file", ""))
                except (OSError, ValueError) as error:
                    results[test] = Outcome(FAIL, f"[{exercises[test].names[0]}] the re-check could not read the "
                                                  f"outputs ({error}).")
                    continue
                verdict = probes.judged(exercises[test], outputs, exercises[test].inputs(seed))
                results[test] = Outcome(PASS if verdict.passed else FAIL, verdict.message)
            pending = [t for t in pending if t not in results]
            if not pending or ending == "ok":
                break
            last = next((e for e in reversed(events) if e.get("event") in ("stmt", "start", "loaded", "ready")), None)
            what = "ran out of time" if ending == "timeout" else f"stopped ({ending})"
            if last is None:
                for t in pending:
                    results[t] = Outcome(CRASH, f"the re-check process {what} before it started.")
                break
            if last["event"] == "stmt":
                skip.append([int(last.get("cell", -1)), int(last.get("stmt", -1))])
            elif last["event"] == "start" and last.get("exercise") in pending:
                test = last["exercise"]
                status, why = (TIMEOUT, f"took longer than {limits.recheck_timeout:.0f} s") if ending == "timeout" \
                    else (CRASH, "killed the process (os._exit, a crash, or the memory limit)")
                results[test] = Outcome(status, f"[{exercises[test].names[0]}] the re-check {why}.")
            else:
                for t in pending:
                    results[t] = Outcome(CRASH, f"the re-check process {what} after loading the exercise cells.")
                break
        for t in tests:
            results.setdefault(t, Outcome(CRASH, f"the re-check gave up after {MAX_ATTEMPTS} attempts."))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {t: results[t] for t in tests}
