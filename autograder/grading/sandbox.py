"""The re-check sandbox: the student's exercise cells alone, in a fresh process, on probe inputs.

:mod:`.recheck` starts ``python -I -m autograder.grading.sandbox PRELOAD_FILE`` under
:mod:`.limits` (memory and file-size caps; where the host allows it, network and PID
namespaces of its own) with a minimal environment. That process is a *zygote*: it imports
torch and the release notebooks' imports once, then forks one fresh child per submission, so
that a re-check does not pay Python's and torch's start-up again. Student code only ever runs
in a child, which never outlives its job: the zygote, PID 1 of its namespace, kills every other
process in the namespace after each job. Each child

1. reads ``JOB_DIR/job.json`` and builds every probe input from the grader's seed, *before*
   any student code runs (so nothing the student does can change them);
2. runs the trusted prelude (the release notebook's imports and the probe module's
   ``CONTEXT``), then the student's exercise cells statement by statement: a statement that
   raises is noted and skipped, one listed in ``skip`` (it killed or hung an earlier attempt)
   is not run;
3. runs each exercise's probe and writes its outputs to ``JOB_DIR/<n>.npz`` (arrays and numbers
   only), reporting progress as JSON lines on ``EVENTS_FD``.

Nothing here decides a grade: the grader judges the arrays (:mod:`.recheck`). Student output
goes to ``/dev/null``; a child ends with ``os._exit`` so student ``atexit`` hooks never run.

Protocol: one JSON line per job on the zygote's stdin, ``{"dir": JOB_DIR}``; the child writes
its events to the FIFO ``JOB_DIR/events``; the zygote answers ``{"done": exit code}`` on its
stdout when the child has ended (after ``{"ready": true}`` once at start-up).
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import random
import signal
import sys
from pathlib import Path

import numpy as np

MAX_EVENT = 4000
_dumps, _savez, _exit = json.dumps, np.savez, os._exit


def _block_sockets() -> None:
    """Best-effort network cut-off for hosts without network namespaces (see :mod:`.limits`)."""
    import socket

    def refuse(*args, **kwargs):
        raise OSError("network access is disabled during grading")

    for name in ("connect", "connect_ex", "sendto", "bind"):
        setattr(socket.socket, name, refuse)
    socket.create_connection = refuse
    socket.getaddrinfo = refuse


class _NoGraderImports:
    """A meta-path finder that refuses the grader's own package to student code."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "autograder" or name.startswith("autograder."):
            raise ImportError("the grader's modules (hidden checks and references) are not available to student code")
        return None


def _seal_grader_modules() -> None:
    """Make the hidden checks and references unreachable by import before student code runs.

    The probe module (imported earlier) keeps the references it bound at import time; what
    student code could reach through ``import autograder...`` or ``sys.modules`` is gone.
    """
    for name in [n for n in sys.modules if n == "autograder" or n.startswith("autograder.")]:
        del sys.modules[name]
    sys.meta_path.insert(0, _NoGraderImports())


def _plain(value, name: str) -> np.ndarray:
    import torch

    if isinstance(value, torch.Tensor):
        with torch._C.DisableTorchFunctionSubclass():
            value = value.detach().cpu()
            value = value.float() if value.dtype in (torch.float16, torch.bfloat16) else value
            return value.numpy().copy()
    out = np.asarray(value)
    if out.dtype.kind not in "biuf":
        raise TypeError(f"output {name!r} is not numeric (dtype {out.dtype})")
    return out


def _parse(source: str):
    """The statements of a cell; IPython syntax (magics, ``!cmd``) is translated first if needed."""
    try:
        return ast.parse(source).body
    except SyntaxError:
        pass
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return ast.parse(TransformerManager().transform_cell(source)).body
    except SyntaxError:
        raise
    except Exception:  # noqa: BLE001 - a broken transformer is the same as a syntax error
        return ast.parse(source).body


class _Sandbox:
    def __init__(self, job_dir: Path):
        self.dir = job_dir
        self.job = json.loads((job_dir / "job.json").read_text(encoding="utf-8"))
        self.events = open(job_dir / "events", "w", buffering=1, encoding="utf-8")  # a FIFO the grader reads

    def emit(self, **event) -> None:
        line = _dumps(event)
        if len(line) > MAX_EVENT:
            event = {k: (v[:MAX_EVENT // 4] + " ..." if isinstance(v, str) else v) for k, v in event.items()}
            line = _dumps(event)[:MAX_EVENT]
        self.events.write(line + "\n")
        self.events.flush()

    def run(self) -> None:
        import torch

        torch.set_num_threads(1)
        probes = importlib.import_module(self.job["probe_module"])
        exercises = {e.test: e for e in probes.EXERCISES}
        wanted = [t for t in self.job["exercises"] if t in exercises]
        inputs = {t: exercises[t].inputs(self.job["seed"]) for t in wanted}
        if self.job.get("block_sockets"):
            _block_sockets()
        _seal_grader_modules()
        self.emit(event="ready")
        namespace = {"__name__": "__main__", "__builtins__": __builtins__}
        exec(compile(self.job["prelude"], "<grader prelude>", "exec"), namespace)  # noqa: S102 - trusted code
        problems = self.load(namespace)
        self.emit(event="loaded", problems=problems)
        for index, test in enumerate(wanted):
            exercise = exercises[test]
            self.emit(event="start", exercise=test)
            missing = [n for n in exercise.names if n not in namespace]
            if missing:
                hint = f" ({problems[0]})" if problems else ""
                self.emit(event="done", exercise=test, error=f"[{missing[0]}] {missing[0]} is not defined by the "
                                                             f"exercise cells{hint}.")
                continue
            seed = self.job["seed"]
            random.seed(seed)
            np.random.seed(seed % 2**32)
            torch.manual_seed(seed)
            try:
                outputs = exercise.run({n: namespace[n] for n in exercise.names}, inputs[test])
                arrays = {key: _plain(value, key) for key, value in outputs.items()}
                _savez(self.dir / f"{index}.npz", **arrays)
            except BaseException as error:  # noqa: BLE001 - student code may raise anything, even SystemExit
                message = str(error) if type(error).__name__ == "CheckFailed" else \
                    f"[{exercise.names[0]}] raised {type(error).__name__}: {error}"
                self.emit(event="done", exercise=test, error=message)
                continue
            self.emit(event="done", exercise=test, file=f"{index}.npz")

    def load(self, namespace: dict) -> list[str]:
        """Run the exercise cells statement by statement; return what went wrong, one line each."""
        skip = {tuple(x) for x in self.job.get("skip", [])}
        problems = []
        for ci, cell in enumerate(self.job["cells"]):
            label = cell["label"]
            try:
                statements = _parse(cell["source"])
            except SyntaxError as error:
                problems.append(f"{label} has a syntax error at line {error.lineno}: {error.msg}")
                continue
            for si, statement in enumerate(statements):
                if (ci, si) in skip:
                    problems.append(f"{label}, line {statement.lineno}: not run (it stopped an earlier attempt)")
                    continue
                self.emit(event="stmt", cell=ci, stmt=si)
                try:
                    code = compile(ast.Module(body=[statement], type_ignores=[]), f"<{label}>", "exec")
                    exec(code, namespace)  # noqa: S102 - the sandbox exists to run this
                except BaseException as error:  # noqa: BLE001
                    problems.append(f"{label}, line {statement.lineno}: {type(error).__name__}: {error}")
        return problems


def _child(job_dir: Path) -> None:
    """Run one job in this (forked) process and end it."""
    try:
        os.setsid()
        os.chdir(job_dir)
        os.environ.update(HOME=str(job_dir), TMPDIR=str(job_dir))
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        sandbox = _Sandbox(job_dir)
        try:
            sandbox.run()
            sandbox.emit(event="finished")
        except BaseException as error:  # noqa: BLE001 - report, never hang
            sandbox.emit(event="broken", error=f"{type(error).__name__}: {error}")
    finally:
        _exit(0)


def _reap_namespace() -> None:
    """As PID 1 of a PID namespace: kill every other process in it (a student's background jobs)."""
    if os.getpid() != 1:
        return  # no namespace of our own: kill(-1) would reach the whole machine
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        pass
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                break
        except ChildProcessError:
            break


def serve(preload_file: str) -> None:
    """The zygote: import once, then fork one child per job read from stdin."""
    protocol = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    preload = Path(preload_file).read_text(encoding="utf-8")
    import torch  # noqa: F401 - preloaded for every child

    exec(compile(preload, "<grader preload>", "exec"), {"__name__": "__preload__"})  # noqa: S102 - trusted
    protocol.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        child = os.fork()
        if child == 0:
            protocol.close()
            _child(Path(request["dir"]))
        _, status = os.waitpid(child, 0)
        _reap_namespace()
        protocol.write(json.dumps({"done": os.waitstatus_to_exitcode(status)}) + "\n")


if __name__ == "__main__":
    serve(sys.argv[1])
