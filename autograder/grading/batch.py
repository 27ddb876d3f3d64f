"""One grading batch: inputs -> records -> outputs, with worker processes, ``--shard`` and ``--resume``.

1. Every input is read and identified (student, assignment), in every shard, so that all
   shards agree on duplicate handling; a student with two files of one assignment is graded
   twice, as ``id`` and ``id--2``, and both are flagged.
2. This shard's submissions (input ``i`` belongs to shard ``i % N + 1``) are repaired and
   handed to ``--jobs`` workers (:mod:`.worker`), each with its own copy of one nbgrader course
   directory generated once for the batch. A worker that exceeds the per-notebook backstop or
   dies is killed with its kernel and replaced; the submission is then re-checked without the
   in-kernel pass.
3. Each finished submission's record is written at once (atomically, signed), so an
   interrupted batch continues with ``--resume``: records whose input, grader code, limits and
   seed are unchanged are kept.
4. The outputs are rewritten from the records (:mod:`.report`).

The probe seed is drawn once per output folder (or given with ``--probe-seed``) and mixed with
each file's hash, so a re-run grades the same way and a student cannot know the probes in advance.

Student code runs only in isolated processes (:mod:`.isolation`), each with a CPU share and a
process cap where the host allows (:mod:`.resources`). A host that cannot isolate is refused
unless the instructor passes ``--no-isolation``; ``results.json`` and ``summary.md`` say which
isolation and which resource controls were in force. A failure of the grader's own machinery
(a worker or a re-check sandbox) grades the file again, up to :data:`GRADER_RETRIES` times, and
then records it as ``error``, never as a graded 0.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import queue
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .. import course as course_mod
from .. import source
from . import inputs as inputs_mod
from . import isolation as isolation_mod
from . import resources
from .channel import LineReader
from .limits import Limits, kill_tree
from .record import Flag, FlagKind, Record, Status
from .repair import repair
from .report import SECRET_ENV, atomic_write, dumps, load_records, record_id, save_record, signing_key, write_outputs

STATE_FILE = ".grading-state.json"
_SECRET_NAMES = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|PRIVATE|_KEY$|^AWS_|^ACTIONS_|^GH_", re.I)


@dataclass
class Options:
    """What ``python -m autograder grade`` was asked to do (see its ``--help``)."""

    paths: list[str]
    out: Path
    assignment: str | None = None
    jobs: int = 1
    shard: tuple[int, int] = (1, 1)
    resume: bool = False
    limits: Limits = field(default_factory=Limits)
    student_pattern: str = inputs_mod.DEFAULT_STUDENT_PATTERN
    student: str | None = None
    probe_seed: int | None = None
    allow_network: bool = False
    no_isolation: bool = False
    source_dir: Path = course_mod.SOURCE
    release_dir: Path = course_mod.RELEASE
    log: object = None  # a callable taking one line, e.g. print


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` -> ``(2, 4)``."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise ValueError(f"--shard must look like I/N with 1 <= I <= N, got {text!r}")
    return int(match.group(1)), int(match.group(2))


def worker_environment(jobs: int) -> dict[str, str]:
    """The environment of workers: grading mode, a fair share of threads, and no variable that looks
    like a credential. Workers run no student code; the kernels and sandboxes they start get only
    the allow-list of :func:`.isolation.environment`."""
    env = {k: v for k, v in os.environ.items() if not _SECRET_NAMES.search(k)}
    threads = str(max(1, (os.cpu_count() or 1) // max(1, jobs)))
    env.update(SELFSUP_MODE="grading", MPLBACKEND="Agg", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, PYTHONUNBUFFERED="1")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def fingerprint(limits: Limits, isolation: str, source_dir: Path) -> str:
    """A hash of everything that decides a grade: grader code, sources, checks, limits, isolation."""
    digest = hashlib.sha256(json.dumps([limits.as_dict(), isolation]).encode())
    grader = Path(__file__).resolve().parent.parent
    files = sorted(grader.rglob("*.py")) + sorted(Path(source_dir).glob("*.py")) \
        + sorted((course_mod.HELPER / "selfsup").rglob("*.py"))
    for path in files:
        if "__pycache__" not in path.parts:
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def _probe_seed(batch_seed: int, sha: str) -> int:
    """The probe seed of one file: the batch's seed mixed with the file's hash."""
    return int.from_bytes(hashlib.sha256(f"{batch_seed}:{sha}".encode()).digest()[:8], "big") >> 2


# ---------------------------------------------------------------------------- identification
@dataclass
class Item:
    """One input file on its way through the batch."""

    file: inputs_mod.InputFile
    record: dict
    notebook: nbformat.NotebookNode | None = None


def _release_notebooks(options: Options) -> dict[str, nbformat.NotebookNode]:
    names = course_mod.assignments() if options.source_dir == course_mod.SOURCE else \
        sorted(p.stem for p in Path(options.source_dir).glob("[0-9][0-9]_*.py"))
    out = {}
    for name in names:
        path = Path(options.release_dir) / name / f"{name}.ipynb"
        if path.exists():
            out[name] = nbformat.read(path, as_version=4)
    return out


def identify(files: list[inputs_mod.InputFile], options: Options, releases: dict) -> list[Item]:
    """Read, recognise and name every input; mark duplicates."""
    recognizer = inputs_mod.Recognizer(releases)
    items = []
    for f in files:
        record = Record(f.key).to_json()
        try:
            content = f.read_bytes()
        except (OSError, ValueError) as error:
            items.append(Item(f, {**record, "status": Status.UNREADABLE, "reason": f"cannot read: {error}",
                                  "sha256": ""}))
            continue
        record["sha256"] = hashlib.sha256(content).hexdigest()
        try:
            nb = inputs_mod.read_notebook(content, f.name)
        except inputs_mod.NotANotebook as error:
            items.append(Item(f, {**record, "status": Status.UNREADABLE, "reason": str(error)}))
            continue
        best, scores = recognizer.recognise(nb)
        record["recognition"] = scores
        if options.assignment:
            if scores.get(options.assignment, 0.0) >= recognizer.min_score:
                best = options.assignment
            else:
                other = f"; it looks like {best}" if best else ""
                record.update(status=Status.UNRECOGNISED, reason=f"not a notebook of {options.assignment}{other}")
                best = None
        elif best is None:
            record.update(status=Status.UNRECOGNISED, reason="does not match any assignment of the course "
                                                        f"(best similarity {max(scores.values(), default=0):.2f})")
        if best:
            record["assignment"] = best
            record["student"], record["student_source"] = inputs_mod.student_id(
                f, content, best, options.student_pattern, options.student)
        items.append(Item(f, record, nb if best else None))
    groups: dict[tuple, list[Item]] = {}
    for item in items:
        if item.notebook is not None:
            groups.setdefault((item.record["student"], item.record["assignment"]), []).append(item)
    for (student, assignment), group in groups.items():
        if len(group) < 2:
            continue
        names = ", ".join(i.file.key for i in group)
        for n, item in enumerate(group):
            if n:
                item.record["student"] = f"{student}--{n + 1}"
            item.record["flags"].append(Flag(FlagKind.DUPLICATE, f"{student} handed in {len(group)} files of "
                                             f"{assignment} ({names}); each is graded, as {student}"
                                             + "".join(f", {student}--{k + 1}" for k in range(1, len(group))))
                                        .to_json())
    return items


# ---------------------------------------------------------------------------- workers
class WorkerHandle:
    """One worker process and the protocol around it (used by one thread at a time)."""

    def __init__(self, setup: dict, env: dict, log_path: Path):
        self.setup, self.env, self.log_path = setup, env, log_path
        self.proc: subprocess.Popen | None = None
        self.reader: LineReader | None = None

    def _start(self) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "autograder.grading.worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=log, env=self.env, start_new_session=True)
        log.close()
        self.reader = LineReader(self.proc.stdout.fileno())
        self._send(self.setup)
        reply = self._read(time.monotonic() + 300)
        if not reply or not reply.get("ready"):
            self.stop()
            raise RuntimeError(f"a grading worker did not start; see {self.log_path}")

    def _send(self, message: dict) -> None:
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        self.proc.stdin.flush()

    def _read(self, deadline: float) -> dict | None:
        """The next message, or None on time-out or end of stream."""
        return self.reader.read(deadline)

    def stop(self) -> None:
        if self.proc is not None:
            kill_tree(self.proc.pid)
            self.proc.wait()
            self.proc = None

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.stop()

    def grade(self, job: dict, limits: Limits, exercises: int) -> dict:
        """The worker's result for ``job``; on a time-out or a crash, again without the in-kernel pass."""
        from .recheck import MACHINERY_RETRIES, MAX_ATTEMPTS  # imports torch: only where needed
        from .zygote import STARTUP_TIMEOUT
        from .resources import WALL_FACTOR

        phase1 = limits.notebook_timeout + 180.0
        phase2 = (MAX_ATTEMPTS + MACHINERY_RETRIES + 1) * WALL_FACTOR * (
            STARTUP_TIMEOUT + (exercises + 2) * limits.recheck_timeout) + 120.0
        for attempt in range(2):
            if self.proc is None or self.proc.poll() is not None:
                self._start()
            self._send(job)
            deadline, autograded = time.monotonic() + phase1, False
            while True:
                message = self._read(deadline)
                if message is None:
                    break
                if message.get("id") != job["id"]:
                    continue
                if message.get("phase") == "autograded":
                    deadline, autograded = time.monotonic() + phase2, True
                elif "result" in message:
                    return message["result"]
                elif "error" in message:
                    raise RuntimeError(message["error"])
            timed_out = self.proc.poll() is None
            self.stop()
            if autograded or attempt:
                raise RuntimeError("the re-check did not finish" if autograded else "the grading worker failed twice")
            why = f"the notebook did not finish within its time limit ({limits.notebook_timeout:.0f} s)" if timed_out \
                else "the grading worker crashed while running the notebook"
            job = {**job, "skip_autograde": why}
        raise AssertionError("unreachable")


#: How often a submission is graded again, with a fresh worker, when the grader's own machinery
#: failed on it (a worker that died or hung, a re-check sandbox that did not start or was starved).
GRADER_RETRIES = 2


def _grade_with_retries(handle: WorkerHandle, job: dict, limits: Limits, exercises: int, log) -> dict:
    """``handle.grade``, again with a fresh worker after a failure of the grader's (never a 0 for it).

    Raises:
        RuntimeError: with every failure, after :data:`GRADER_RETRIES` retries (the file's status
            is then ``error``, and ``--resume`` grades it again).
    """
    failures = []
    for _ in range(GRADER_RETRIES + 1):
        try:
            return handle.grade(job, limits, exercises)
        except Exception as error:  # noqa: BLE001 - whatever failed, a fresh worker grades the file again
            failures.append(str(error).strip() or type(error).__name__)
            log(f"warning: grading {job['record']['key']} failed ({failures[-1][:200]}); "
                + ("trying again with a fresh worker" if len(failures) <= GRADER_RETRIES else "giving up"))
            handle.stop()
    raise RuntimeError(f"the grader failed {len(failures)} times: " + " | ".join(f[:300] for f in failures))


# ---------------------------------------------------------------------------- the batch
def _state(out: Path, options: Options) -> dict:
    path = out / STATE_FILE
    state = json.loads(path.read_text()) if path.exists() else {}
    if options.probe_seed is not None:
        state["probe_seed"] = int(options.probe_seed)
    state.setdefault("probe_seed", secrets.randbits(48))
    atomic_write(path, dumps(state))
    return state


def run(options: Options) -> list[dict]:
    """Grade a batch; return the records of this shard (also written to ``options.out``)."""
    log = options.log or (lambda line: None)
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    index, count = options.shard
    files = inputs_mod.discover(options.paths)
    releases = _release_notebooks(options)
    if options.assignment and options.assignment not in releases:
        raise ValueError(f"unknown assignment {options.assignment!r}; built ones: {sorted(releases)}")
    items = [item for n, item in enumerate(identify(files, options, releases)) if n % count == index - 1]
    isolation = isolation_mod.choose(options.allow_network, allow_none=options.no_isolation)
    if not isolation.isolated:
        log(f"warning: student code runs without isolation: {isolation.describe()}")
    state = _state(out, options)
    key = signing_key(out)
    fp = fingerprint(options.limits, isolation.describe(), options.source_dir)
    previous, rejected = load_records(out, key)
    for name in rejected:
        log(f"warning: ignoring record {name}: its signature does not match (edited, or another key)")
    for item in items:
        item.record.update(fingerprint=fp, probe_seed=_probe_seed(state["probe_seed"], item.record.get("sha256", "")))
    done, todo = [], []
    for item in items:
        old = previous.get(item.file.key)
        same = old is not None and old.get("status") != Status.ERROR and all(
            old.get(k) == item.record.get(k) for k in ("sha256", "fingerprint", "probe_seed", "student", "assignment"))
        if options.resume and same:
            done.append(old)
        elif item.notebook is None:
            done.append(item.record)
            save_record(out, item.record, key)
        else:
            todo.append(item)
    log(f"{len(items)} input file(s) in shard {index}/{count}: {len(todo)} to grade, {len(done)} done or not gradable")
    if todo:
        done += _grade(todo, options, out, key, isolation, log)
    keep = {record_id(i.file.key) for i in items}
    for stale in (out / "records").glob("*.json"):
        if stale.stem not in keep:
            stale.unlink()
    meta = {"probe_seed": state["probe_seed"], "fingerprint": fp, "limits": options.limits.as_dict(),
            "isolation": isolation.describe(), "resources": resources.controller().describe(),
            "shard": f"{index}/{count}",
            "signed_with": SECRET_ENV if os.environ.get(SECRET_ENV) else "key file"}
    write_outputs(out, done, meta)
    return done


_TEMPLATES: dict[tuple, Path] = {}
_TEMPLATES_LOCK = threading.Lock()


def _template(assignments: list[str], source_dir: Path):
    """The nbgrader course directory of ``assignments``, generated once per process and set of sources."""
    from .autograde import Autograder

    sources = tuple((a, hashlib.sha256((Path(source_dir) / f"{a}.py").read_bytes()).hexdigest()) for a in assignments)
    key = (str(source_dir), sources)
    with _TEMPLATES_LOCK:
        if key not in _TEMPLATES or not (_TEMPLATES[key] / "gradebook.db").exists():
            root = Path(tempfile.mkdtemp(prefix="grading-template-"))
            atexit.register(shutil.rmtree, root, True)
            Autograder(root / "course", assignments, source_dir=source_dir)
            _TEMPLATES[key] = root / "course"
        return _TEMPLATES[key]


def _grade(todo: list[Item], options: Options, out: Path, key: bytes, isolation, log) -> list[dict]:
    assignments = sorted({i.record["assignment"] for i in todo})
    workdir = Path(tempfile.mkdtemp(prefix="grading-"))
    results, lock = [], threading.Lock()
    try:
        started = time.monotonic()
        template = _template(assignments, options.source_dir)
        releases = {a: nbformat.read(template / "release" / a / f"{a}.ipynb", as_version=4) for a in assignments}
        log(f"course directory for {', '.join(assignments)} ready in {time.monotonic() - started:.0f} s")
        jobs: queue.Queue = queue.Queue()
        for n, item in enumerate(todo):
            jobs.put((n, item))
        setup = {"template": str(template), "assignments": assignments, "limits": options.limits.as_dict(),
                 "isolation": {"mode": isolation.mode, "network": isolation.network}, "out": str(out.resolve()),
                 "workdir": str(workdir)}
        env = worker_environment(options.jobs)
        (out / "logs").mkdir(exist_ok=True)

        def serve(slot: int) -> None:
            handle = WorkerHandle(setup, env, out / "logs" / f"worker-{slot}.log")
            try:
                while True:
                    try:
                        n, item = jobs.get_nowait()
                    except queue.Empty:
                        return
                    begun = time.monotonic()
                    release = releases[item.record["assignment"]]
                    tests = len(source.cells_of(release, "tests", "code"))
                    try:
                        repaired, repairs, cleaned = repair(item.notebook, release)  # in memory, never a shared file
                        item.record.update(repairs=[r.as_dict() for r in repairs], colab_cells_cleaned=cleaned,
                                           status=Status.REPAIRED if repairs else Status.GRADED)
                        job = {"id": n, "notebook": repaired, "record": item.record}
                        result = _grade_with_retries(handle, job, options.limits, tests, log)
                        record = {**item.record, **result, "flags": item.record["flags"] + result["flags"]}
                    except Exception as error:  # noqa: BLE001 - the batch goes on
                        record = {**item.record, "status": Status.ERROR, "reason": f"grading failed: {error}"}
                    record["timing"] = {**record.get("timing", {}), "total_s": round(time.monotonic() - begun, 2)}
                    save_record(out, record, key)
                    with lock:
                        results.append(record)
                        log(f"[{len(results)}/{len(todo)}] {record['student']} {record['assignment']}: "
                            f"{record['total']:g}/{record['max']:g} ({record['status']}, "
                            f"{record['timing']['total_s']:.0f} s)")
            finally:
                handle.close()

        threads = [threading.Thread(target=serve, args=(slot,), daemon=True)
                   for slot in range(max(1, min(options.jobs, len(todo))))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results
