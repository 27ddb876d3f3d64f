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
import json
import pickle
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
from selfsup.checks import MODULES
from selfsup.checks._core import STRICT_SEED, CheckFailed, conform, plain

from .. import judges, source
from . import sandbox
from .isolation import Isolation
from .limits import Limits
from .record import Replay, Verdict
from .zygote import Zygote, zygote
from .resources import Budget

MAX_ATTEMPTS = 5
#: Failures of the grader's own machinery (a zygote that did not start or died before the cells
#: ran, a job starved of CPU) tolerated per submission before it is given up as an error.
MACHINERY_RETRIES = 2
MAX_REPLY_BYTES = 64 * 2**20
COMMON_CONTEXT = "import torch\nSEED = 0\nDEVICE = torch.device('cpu')\n"
#: The inputs of the notebook's own test cell: the public check's and the hidden test's.
REPLAY_SEEDS = (None, STRICT_SEED)



@dataclass(frozen=True)
class Outcome:
    """The re-check's result for one test cell.

    Attributes:
        status: the verdict's kind.
        message: the verdict, naming the likely mistake.
        replay: the notebook's own test replayed in the re-check (see :class:`.record.Replay`).
        replay_message: the replay's verdict.
    """

    status: Verdict
    message: str
    replay: Replay = Replay.NOT_RUN
    replay_message: str = ""

    def __post_init__(self):  # the JSON words are accepted too
        object.__setattr__(self, "status", Verdict(self.status))
        object.__setattr__(self, "replay", Replay(self.replay))

    @property
    def passed(self) -> bool:
        return self.status == Verdict.PASS


def exercise_cells(nb: nbformat.NotebookNode) -> list[dict]:
    """The student's exercise cells (nbgrader solution code cells), in order, labelled by grade id."""
    return [{"label": f"exercise cell '{source.role(c).grade_id or '?'}'", "source": c.source}
            for c in source.cells_of(nb, "solution", "code")]


def release_imports(release: nbformat.NotebookNode) -> str:
    """The top-level import statements of the release notebook's own code cells (trusted)."""
    lines = []
    for cell in release.cells:
        if cell.cell_type != "code" or source.role(cell).kind == "solution":
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
    tests = [source.role(c).grade_id for c in source.cells_of(release, "tests", "code")]
    exercises = {e.test: e for e in judges.exercises(assignment)}
    if not exercises:
        return {t: Outcome(Verdict.UNCHECKED, f"not re-checked: the checks do not know {assignment}") for t in tests}
    results = {t: Outcome(Verdict.UNCHECKED, "not re-checked: no exercise of the checks has this test cell") for t in tests
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
            kind = Replay.PASS if not failed else failed[0][1]
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
             reference: bool = True) -> tuple[Outcome, Replay]:
    """The outcome of one reply, and how a replay of the notebook's test that ended this way is
    described (see :attr:`Outcome.replay`): ``fail`` when the judge decided, ``raised`` when the code
    raised or sent malformed outputs, ``error`` otherwise."""
    if reply.kind == "ok":
        verdict = judges.judged(test, reply.outputs, inputs, reference=reference)
        return Outcome(Verdict.PASS if verdict.passed else Verdict.FAIL, verdict.message), Replay.FAIL
    if reply.kind == "timeout":
        return (Outcome(Verdict.TIMEOUT, f"[{name}] the re-check took longer than {limits.recheck_timeout:.0f} s."),
                Replay.ERROR)
    if reply.kind == "crash":
        return Outcome(Verdict.CRASH, reply.message or f"[{name}] the re-check process died (os._exit, a crash, or "
                                                       "the memory limit)."), Replay.ERROR
    hint = f" ({problems[0]})" if problems and reply.missing else ""
    explained = reply.missing or "raised NameError" in reply.message  # a name defined outside the exercise cells
    return Outcome(Verdict.FAIL, reply.message + hint), Replay.ERROR if explained else Replay.RAISED
