"""The authoritative re-check: the grader's side of :mod:`.sandbox`.

For one repaired submission it

1. takes the student's exercise cells (nbgrader ``solution`` code cells) and nothing else, and
   a trusted prelude: the imports of the *release* notebook plus the notebook's ``CONTEXT``
   (:mod:`selfsup.checks`);
2. hands them to a child of the sandbox zygote (:class:`Zygote`, isolated by
   :mod:`.isolation`, limited by :mod:`.limits`), with one time budget for loading the cells
   and one per exercise;
3. once the cells are loaded, asks for each exercise in turn: it builds the probe inputs here,
   from a seed the student cannot know, sends them on a socket made for that request, and reads
   back plain arrays from that socket only;
4. admits the arrays only if they are exactly what the exercise's schema calls for on the
   inputs it sent (keys, shapes, kinds of numbers); for an exercise whose answer is a network of
   the student's own design, the arrays are the network's recorded forward pass, which a second
   child that never ran student code (a *replay job*) runs on inputs the student's code never
   saw (``selfsup.checks._trace``);
5. judges the arrays here (:func:`autograder.judges.judged`): the exercise's public judge, then
   the comparison with the instructor's reference;
6. if the process dies or runs out of its time (in CPU seconds, :mod:`.resources`), runs again
   without the statement that was running (loading) or without the exercise that was running, so
   a crash costs only what depends on it; if the grader's own machinery failed instead (a zygote
   that did not start, a job starved of CPU by other processes), runs it again as it was, and
   after :data:`MACHINERY_RETRIES` such failures raises :class:`GraderFailure`;
7. for an exercise whose test passed in the notebook but fails here, *replays* the notebook's
   own test: the same exercise cells on the very inputs of the public check and the hidden test,
   judged by the same public judge. If they fail there too, the function behaved differently in
   the two passes on the same inputs: evidence of tampering (:mod:`.scoring`).
"""

from __future__ import annotations

import ast
import atexit
import itertools
import json
import os
import pickle
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
from selfsup.checks import MODULES
from selfsup.checks._core import STRICT_SEED, CheckFailed, conform, plain

from .. import judges
from . import sandbox
from .isolation import Isolation, command, environment, make_scratch
from .limits import Limits, kill_tree, launcher
from .resources import Budget, new_group, tree_cpu_seconds, tree_size, waiting_seconds

STARTUP_TIMEOUT = 120.0   # CPU seconds for a fresh Python to import torch (wall-clock backstop: resources)
MAX_ATTEMPTS = 5
#: Failures of the grader's own machinery (a zygote that did not start or died before the cells
#: ran, a job starved of CPU) tolerated per submission before it is given up as an error.
MACHINERY_RETRIES = 2
MAX_REPLY_BYTES = 64 * 2**20
COMMON_CONTEXT = "import torch\nSEED = 0\nDEVICE = torch.device('cpu')\n"
#: Where the runner and its preload lie inside the sandbox.
RUNNER = Path("/opt/selfsup-recheck")
#: The inputs of the notebook's own test cell: the public check's and the hidden test's.
REPLAY_SEEDS = (None, STRICT_SEED)

PASS, FAIL, TIMEOUT, CRASH, UNCHECKED = "pass", "fail", "timeout", "crash", "unchecked"


@dataclass(frozen=True)
class Outcome:
    """The re-check's result for one test cell.

    Attributes:
        status: ``pass``, ``fail``, ``timeout``, ``crash`` or ``unchecked``.
        message: the verdict, naming the likely mistake.
        replay: the notebook's own test replayed in the re-check: ``pass``, ``fail`` (its judge
            rejects the outputs), ``raised`` (the code raised, or sent outputs that are not what
            the exercise returns), ``error`` (it hung, crashed, or used a name that the exercise
            cells do not define) or ``not run``.
        replay_message: the replay's verdict.
    """

    status: str
    message: str
    replay: str = "not run"
    replay_message: str = ""

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
    module = MODULES.get(assignment)
    return COMMON_CONTEXT + release_imports(release) + (getattr(module, "CONTEXT", "") if module else "")


def preload_for(notebooks: dict[str, nbformat.NotebookNode]) -> str:
    """What a sandbox zygote runs once for these notebooks: their imports, the checks, each module's WARM_UP."""
    lines = ["import torch", "import selfsup.checks"]
    for assignment, release in notebooks.items():
        lines += release_imports(release).splitlines()
        lines += getattr(MODULES.get(assignment), "WARM_UP", "").splitlines()
    return "\n".join(dict.fromkeys(line for line in lines if line.strip())) + "\n"


def _environment(scratch: Path, isolation: Isolation) -> dict[str, str]:
    """The zygote's (and so its children's) environment: the allow-list of :func:`.isolation.environment`."""
    return environment(isolation, scratch, threads=1)


# ---------------------------------------------------------------------------- the zygote
class Zygote:
    """A running sandbox zygote: one per worker and set of limits, reused for every submission.

    Every job gets a fresh child; after each job the child's processes are gone and the
    scratch folder is emptied, so nothing one student's code wrote reaches the next one.
    """

    _jobs = itertools.count(1)

    def __init__(self, limits: Limits, isolation: Isolation, preload: str, workdir: Path | None = None):
        self.limits, self.isolation = limits, isolation
        self.dir = Path(tempfile.mkdtemp(prefix="sandbox-", dir=workdir))
        runner = self.dir / "runner"
        runner.mkdir()
        shutil.copy(Path(sandbox.__file__), runner / "sandbox.py")
        (runner / "preload.py").write_text(preload, encoding="utf-8")
        for path in (self.dir, runner, runner / "sandbox.py", runner / "preload.py"):
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        self.scratch = make_scratch(self.dir / "scratch", isolation)
        inside = RUNNER if isolation.isolated else runner
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.control.settimeout(30)  # a send to a zygote that stopped reading fails instead of blocking
        script = [sys.executable, "-I", str(inside / "sandbox.py"), str(inside / "preload.py"), str(theirs.fileno()),
                  "drop-user" if isolation.drops_user else "keep-user"]
        env = _environment(self.scratch, isolation)
        self.group = new_group("zygote")  # a CPU share and a process cap for the zygote and its children
        cmd = launcher(command(isolation, script, self.scratch, read_only=((runner, RUNNER),), private_tmp=False,
                               zygote=True, env=env), limits, self.group)
        with open(self.dir / "stderr.txt", "wb") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                         cwd=self.scratch, env=env, start_new_session=True,
                                         pass_fds=[theirs.fileno()])
        theirs.close()
        ready = self._message(Budget(STARTUP_TIMEOUT, self.cpu_seconds, lambda: 0.0))  # CPU seconds: a busy
        # machine slows the start, it does not fail it (a start that fails is retried: _run)
        if not ready or not ready.get("ready"):
            detail = (self.dir / "stderr.txt").read_text(errors="replace")[-800:]
            self.close()
            raise RuntimeError(f"the re-check sandbox did not start: {detail}")
        self.zygote = self._find_zygote()
        self.idle_size = tree_size(self.proc.pid)  # bubblewrap and the zygote

    def _find_zygote(self):
        import psutil

        for proc in psutil.Process(self.proc.pid).children(recursive=True):
            try:
                cmdline = proc.cmdline()
                if cmdline[:1] == [os.path.abspath(sys.executable)] and any(p.endswith("sandbox.py") for p in cmdline):
                    return proc  # not bubblewrap, whose command line names the runner too
            except psutil.Error:
                continue
        return psutil.Process(self.proc.pid)

    def cpu_seconds(self) -> float:
        """CPU seconds used by this sandbox so far (its control group, else its processes)."""
        used = self.group.cpu_seconds() if self.group is not None else None
        return tree_cpu_seconds(self.proc.pid) if used is None else used

    def budget(self, seconds: float) -> Budget:
        """A time limit of ``seconds`` in CPU seconds of this sandbox's running job (:mod:`.resources`)."""
        job = []  # found on first use: the zygote may not have forked the job's process yet

        def pid() -> int | None:
            if not job:
                job.extend(filter(None, [self._job_process()]))
            return job[0].pid if job else None

        return Budget(seconds, self.cpu_seconds, lambda: waiting_seconds(pid()),
                      lambda: tree_size(self.proc.pid) - self.idle_size - 1)  # the job's own processes

    def _job_process(self):
        """The running job's process (the zygote's child), or None."""
        import psutil

        try:
            children = self.zygote.children()
        except psutil.Error:
            return None
        return children[0] if children else None

    def _message(self, deadline: float | Budget, sock: socket.socket | None = None) -> dict | None:
        sock = sock or self.control
        if isinstance(deadline, Budget):
            if not deadline.wait(sock):
                return None
        elif deadline - time.monotonic() <= 0 or not select.select([sock], [], [], deadline - time.monotonic())[0]:
            return None
        try:
            message, fds = sandbox.receive_message(sock)
        except OSError:
            return None
        for fd in fds:
            os.close(fd)
        return message

    def alive(self) -> bool:
        """The zygote itself still runs (a student's child may have killed it: it has the same user)."""
        import psutil

        try:
            return self.proc.poll() is None and self.zygote.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def kill_job(self) -> None:
        """Kill the running child (and what it started); the zygote then reports the job done."""
        import psutil

        try:
            for proc in self.zygote.children(recursive=True):
                proc.kill()
        except psutil.Error:
            pass

    def start_job(self) -> tuple[int, socket.socket]:
        """A fresh child; returns the job number and the grader's end of its channel."""
        number = next(self._jobs)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.settimeout(30)
        try:
            sandbox.send_message(self.control, {"job": number}, (theirs.fileno(),))
        finally:
            theirs.close()
        return number, ours

    def end_job(self, number: int, channel: socket.socket) -> None:
        """Tell the child to stop, wait until the zygote has reaped it, and empty the scratch folder."""
        try:
            sandbox.send_message(channel, {"end": True})
        except OSError:
            pass
        channel.close()
        deadline = time.monotonic() + 30
        while True:
            message = self._message(deadline)
            if message is None:
                self.kill_job()
                message = self._message(time.monotonic() + 10)
                if message is None:
                    self.close()
                    return
            if message.get("done") == number:
                break
        make_scratch(self.scratch, self.isolation)

    def close(self) -> None:
        if self.proc.poll() is None:
            kill_tree(self.proc.pid)
            self.proc.wait()
        if self.group is not None:
            self.group.close()
        self.control.close()
        shutil.rmtree(self.dir, ignore_errors=True)


_ZYGOTES: dict[tuple, Zygote] = {}


def zygote(limits: Limits, isolation: Isolation, preload: str, workdir: Path | None = None) -> Zygote:
    """The sandbox zygote for these settings, started on first use and kept until this process exits."""
    key = (limits.memory_mb, limits.file_mb, isolation, preload)
    current = _ZYGOTES.get(key)
    if current is None or not current.alive():
        if not _ZYGOTES:
            atexit.register(shutdown)
        current = _ZYGOTES[key] = Zygote(limits, isolation, preload, workdir)
    return current


def shutdown() -> None:
    """Stop every sandbox zygote of this process."""
    while _ZYGOTES:
        _ZYGOTES.popitem()[1].close()


# ---------------------------------------------------------------------------- one job
@dataclass
class Reply:
    """What came back for one request: ``ok`` with arrays, ``error``, ``timeout``, ``starved`` or ``crash``."""

    kind: str
    outputs: dict | None = None
    message: str = ""
    missing: bool = False  # an error because the exercise cells did not define the exercise's name


def _read_reply(stream: socket.socket, budget: Budget) -> Reply:
    if not budget.wait(stream):
        return Reply(budget.ending())
    stream.settimeout(max(5.0, budget.backstop - time.monotonic()))  # the reply is on its way: read it whole
    try:
        header = sandbox.receive_frame(stream, limit=65536)
        if header is None:
            return Reply("crash")
        reply = json.loads(header)
        if not isinstance(reply, dict) or not reply.get("ok"):
            message = str(reply.get("error", "no outputs")) if isinstance(reply, dict) else "a malformed reply"
            return Reply("error", message=message, missing=isinstance(reply, dict) and reply.get("missing") is True)
        payload = sandbox.receive_frame(stream, limit=MAX_REPLY_BYTES)
    except socket.timeout:
        return Reply("timeout")
    except (OSError, ValueError):
        return Reply("crash")
    if payload is None:
        return Reply("error", message="the outputs were too large or cut short")
    try:
        return Reply("ok", outputs=load_outputs(payload))
    except (ValueError, OSError) as error:
        return Reply("error", message=f"the re-check could not read the outputs ({error})")


def load_outputs(payload: bytes) -> dict:
    """An ``.npz`` of plain numbers as tensors; anything else (a pickle, strings, objects) is refused."""
    import io

    with np.load(io.BytesIO(payload), allow_pickle=False) as data:
        try:
            return plain({key: data[key] for key in data.files})
        except CheckFailed as failure:  # a non-numeric output
            raise ValueError(str(failure)) from None


def _attempt(zyg: Zygote, job: dict, requests: list[tuple], inputs: dict, names: dict,
             module: str, limits: Limits, problems: list[str]) -> tuple[dict, tuple | None, str]:
    """One child: load the cells, then answer ``requests`` in order.

    Returns:
        ``(replies by request, what was running when it stopped, how it ended)``; the ending is
        ``ok``, ``timeout``, ``starved`` or ``crash``, and what was running ``("stmt", cell, statement)``,
        ``("request", request)`` or None. What went wrong while loading is added to ``problems``.
    """
    number, channel = zyg.start_job()
    replies, running, ending = {}, None, "ok"
    try:
        ours, theirs = socket.socketpair()
        try:
            sandbox.send_message(channel, {"load": True}, (theirs.fileno(),))
        finally:
            theirs.close()
        ours.settimeout(limits.recheck_timeout)
        try:
            sandbox.send_frame(ours, json.dumps(job).encode())
        except OSError:
            pass
        ours.close()
        budget = zyg.budget(limits.recheck_timeout)
        while True:
            message = zyg._message(budget, channel)
            if message is None:
                ending = budget.ending()
                return replies, running, ending
            if "stmt" in message:
                running = ("stmt", *message["stmt"][:2])
            elif "loaded" in message:
                problems[:] = [str(p) for p in message["loaded"]][:10]
                running = None
                break
        for request in requests:
            test = request[0]
            ours, theirs = socket.socketpair()
            try:
                sandbox.send_message(channel, {"exercise": test, "module": module, "name": names[test]},
                                     (theirs.fileno(),))
            except OSError:
                return replies, ("request", request), "crash"
            finally:
                theirs.close()
            running = ("request", request)
            budget = zyg.budget(limits.recheck_timeout)
            ours.settimeout(limits.recheck_timeout)
            try:
                sandbox.send_frame(ours, pickle.dumps(inputs[request]))
            except OSError:
                pass
            reply = _read_reply(ours, budget)
            ours.close()
            if reply.kind in ("timeout", "starved", "crash"):
                return replies, running, reply.kind
            replies[request] = reply
        return replies, None, "ok"
    finally:
        if ending != "ok" or running is not None:
            zyg.kill_job()
        zyg.end_job(number, channel)


class GraderFailure(RuntimeError):
    """The grader's own machinery failed on a submission, not the student's code: a zygote that did not
    start, a job that stopped before any student statement ran, a job starved of CPU by other
    processes. The submission is graded again (:mod:`.batch`), never given a 0 for it."""


def _run(zyg_factory, header: dict, requests: list[tuple], inputs: dict, names: dict, module: str,
         limits: Limits) -> tuple[dict, list[str]]:
    """Every request answered or given up on, over at most :data:`MAX_ATTEMPTS` children; and what
    went wrong while loading the cells.

    Raises:
        GraderFailure: after more than :data:`MACHINERY_RETRIES` failures of the grader's own.
    """
    replies, skip, pending, problems, failures, attempts = {}, [], list(requests), [], [], 0
    while pending and attempts < MAX_ATTEMPTS:
        job = {**header, "skip": list(skip)}
        try:
            got, running, ending = _attempt(zyg_factory(), job, pending, inputs, names, module, limits, problems)
        except (OSError, RuntimeError) as error:
            got, running, ending = {}, None, f"the sandbox failed ({error})"
        replies.update(got)
        pending = [r for r in pending if r not in replies]
        if not pending or ending == "ok":
            break
        if ending == "starved" or running is None:  # no student statement was running, or the job was starved
            failures.append("a job waited for a CPU more than it ran" if ending == "starved" else
                            ending if ending.startswith("the sandbox") else
                            f"the sandbox stopped ({ending}) before any student code ran")
            if len(failures) > MACHINERY_RETRIES:
                raise GraderFailure(f"the re-check failed {len(failures)} times for reasons of its own: "
                                    + "; ".join(failures))
            continue
        attempts += 1
        if running[0] == "stmt":
            skip.append([int(running[1]), int(running[2])])
        else:
            request = running[1]
            replies[request] = Reply(ending)  # timeout or crash: "ok" ended the loop
    for r in requests:
        replies.setdefault(r, Reply("crash", message=f"the re-check gave up after {MAX_ATTEMPTS} attempts."))
    return replies, problems


def recheck(assignment: str, nb: nbformat.NotebookNode, release: nbformat.NotebookNode, probe_seed: int,
            limits: Limits, isolation: Isolation, workdir: Path | None = None, preload: str | None = None,
            replay: tuple[str, ...] = ()) -> dict[str, Outcome]:
    """Re-check every graded test cell of ``nb``; return the outcome per test cell id.

    Args:
        assignment: the notebook, e.g. ``"01_pretext_tasks"``.
        nb: the repaired submission.
        release: the release notebook (its imports make the prelude).
        probe_seed: the grader's seed for the probe inputs.
        limits: ``recheck_timeout``, ``memory_mb`` and ``file_mb`` apply.
        isolation: how the sandbox is isolated (:mod:`.isolation`).
        workdir: where the zygote's folder goes (default: the system's temporary folder).
        preload: trusted code the zygote runs once (imports); default: :func:`preload_for` this
            notebook. A worker grading several notebooks passes the preload of all of them, so
            that one zygote serves them all.
        replay: test cells whose in-notebook test passed: if one fails here, the notebook's own
            test is replayed (see the module docstring).
    """
    tests = [c.metadata["nbgrader"]["grade_id"] for c in release.cells
             if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")]
    exercises = {e.test: e for e in judges.exercises(assignment)}
    if not exercises:
        return {t: Outcome(UNCHECKED, f"not re-checked: the checks do not know {assignment}") for t in tests}
    results = {t: Outcome(UNCHECKED, "not re-checked: no exercise of the checks has this test cell") for t in tests
               if t not in exercises}
    checked = [t for t in tests if t in exercises]
    header = {"prelude": prelude_of(assignment, release), "cells": exercise_cells(nb),
              "block_sockets": not (isolation.isolated or isolation.network)}
    preload = preload or preload_for({assignment: release})
    names = {t: exercises[t].name for t in checked}
    module = MODULES[assignment].__name__

    def factory() -> Zygote:
        return zygote(limits, isolation, preload, workdir)

    def ask(requests):
        inputs = {r: exercises[r[0]].inputs(r[2]) for r in requests}
        shared = {r: exercises[r[0]].shared_inputs(inputs[r]) for r in requests}
        replies, problems = _run(factory, header, requests, shared, names, module, limits)
        replies = {r: _admitted(factory, exercises[r[0]], replies[r], inputs[r], module, limits) for r in requests}
        return {r: _verdict(r[0], names[r[0]], replies[r], inputs[r], limits, problems, reference=r[1] == "probe")
                for r in requests}

    verdicts = ask([(t, "probe", probe_seed) for t in checked])
    for t in checked:
        results[t] = verdicts[(t, "probe", probe_seed)][0]
    again = [(t, "replay", seed) for t in checked if t in replay and not results[t].passed for seed in REPLAY_SEEDS]
    if again:
        verdicts = ask(again)
        for t in dict.fromkeys(t for t, _, _ in again):
            failed = [verdicts[(t, "replay", s)] for s in REPLAY_SEEDS if not verdicts[(t, "replay", s)][0].passed]
            kind = "pass" if not failed else failed[0][1]
            results[t] = Outcome(results[t].status, results[t].message, kind, failed[0][0].message if failed else "")
    return {t: results[t] for t in tests}


def _admitted(zyg_factory, exercise, reply: Reply, inputs: dict, module: str, limits: Limits) -> Reply:
    """``reply`` if its outputs are exactly what ``exercise``'s schema calls for, with the recorded
    programs replaced by their replay's outputs; else an error reply saying what is malformed."""
    if reply.kind != "ok":
        return reply
    try:
        conform(reply.outputs, exercise.schema(inputs), exercise.name)
    except CheckFailed as failure:
        return Reply("error", message=str(failure))
    if exercise.replay is None:
        return reply
    programs = tuple(f"{key}." for key, spec in exercise.schema(inputs).items() if spec is None)
    recorded = {k: v for k, v in reply.outputs.items() if k.startswith(programs)}
    kept = {k: v for k, v in reply.outputs.items() if not k.startswith(programs)}
    failures = []
    for _ in range(MACHINERY_RETRIES + 1):  # the grader's own failures are retried, never charged to the student
        try:
            replayed = _replay(zyg_factory(), exercise.test, recorded, inputs, module, limits)
        except (OSError, RuntimeError) as error:
            failures.append(f"the replay could not start ({error})")
            continue
        if replayed.kind != "starved":
            break
        failures.append("a replay job waited for a CPU more than it ran")
    else:
        raise GraderFailure(f"the replay of {exercise.test} failed {len(failures)} times for reasons of its own: "
                            + "; ".join(failures[:3]))
    if replayed.kind == "ok":
        return Reply("ok", outputs={**kept, **replayed.outputs})
    what = {"timeout": f"took longer than {limits.recheck_timeout:.0f} s", "crash": "stopped the process"}
    return Reply("error", message=f"[{exercise.name}] your network's recorded forward pass, run again on new inputs, "
                                  f"{what.get(replayed.kind, 'failed')}: {replayed.message}".rstrip(": "))


def _replay(zyg: Zygote, test: str, recorded: dict, inputs: dict, module: str, limits: Limits) -> Reply:
    """Run an exercise's replay on ``recorded`` programs in a fresh child that loads no student code."""
    import io

    number, channel = zyg.start_job()
    reply = Reply("crash")
    try:
        ours, theirs = socket.socketpair()
        try:
            sandbox.send_message(channel, {"replay": test, "module": module}, (theirs.fileno(),))
        finally:
            theirs.close()
        budget = zyg.budget(limits.recheck_timeout)
        ours.settimeout(limits.recheck_timeout)
        buffer = io.BytesIO()
        np.savez(buffer, **{key: value.numpy() for key, value in recorded.items()})
        try:
            sandbox.send_frame(ours, pickle.dumps(inputs))
            sandbox.send_frame(ours, buffer.getvalue())
        except OSError:
            pass
        reply = _read_reply(ours, budget)
        ours.close()
        return reply
    finally:
        if reply.kind != "ok":
            zyg.kill_job()
        zyg.end_job(number, channel)


def _verdict(test: str, name: str, reply: Reply, inputs: dict, limits: Limits, problems: list[str],
             reference: bool = True) -> tuple[Outcome, str]:
    """The outcome of one reply, and how a replay of the notebook's test that ended this way is
    described (see :attr:`Outcome.replay`): ``fail`` when the judge decided, ``raised`` when the code
    raised or sent malformed outputs, ``error`` otherwise."""
    if reply.kind == "ok":
        verdict = judges.judged(test, reply.outputs, inputs, reference=reference)
        return Outcome(PASS if verdict.passed else FAIL, verdict.message), "fail"
    if reply.kind == "timeout":
        return Outcome(TIMEOUT, f"[{name}] the re-check took longer than {limits.recheck_timeout:.0f} s."), "error"
    if reply.kind == "crash":
        return Outcome(CRASH, reply.message or f"[{name}] the re-check process died (os._exit, a crash, or the "
                                               "memory limit)."), "error"
    hint = f" ({problems[0]})" if problems and reply.missing else ""
    explained = reply.missing or "raised NameError" in reply.message  # a name defined outside the exercise cells
    return Outcome(FAIL, reply.message + hint), "error" if explained else "raised"
