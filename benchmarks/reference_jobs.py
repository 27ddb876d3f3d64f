"""The reference run as a list of jobs that fits one call of a lent GPU machine.

A *job* is one notebook with one seed (``nb1:0``, ``nb2:1``, ...) or the timing of Notebook 3
(``nb3``). The default list, in the order it runs (most needed first)::

    nb1:0 nb2:0 nb1:1 nb2:1 nb1:2 nb2:2 nb3

Seeds 0, 1 and 2 of Notebooks 1 and 2 give every method's mean and range over three seeds;
Notebook 2 runs its temperature ablation at :data:`ABLATION_TEMPERATURES` for the seeds in
:data:`ABLATION_SEEDS` and skips it for the others (``--set ABLATION_TEMPERATURES=``); seed 0
saves the executed notebooks.

``plan`` estimates every job from the newest recorded runs (:func:`estimates`) and says which fit
in a call of ``--budget`` seconds and which are left for the next call. ``run`` (what
``benchmarks/device_reference.sh`` calls on the machine) runs the jobs in order, each in its own
process; before a job starts it checks that the job's estimate still fits in what is left of the
budget, and stops otherwise, so that the call ends with whole results rather than being killed in
the middle of one. After every job it copies what exists so far to ``--out`` ($OUT): one results
file (every notebook run of the call, appended to one file), the Notebook 3 timing, the executed
notebooks, ``log.txt`` and, if a notebook failed, ``failed.tar.gz`` (at most 6 files; the device
tool returns at most 8). ``merge`` joins the results files of several calls here. The CPU smoke
test of all of it: ``OUT=/tmp/device-smoke SMOKE=1 bash benchmarks/device_reference.sh``
(benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import run_reference

ROOT = run_reference.ROOT
NOTEBOOKS = {"nb1": "01_pretext_tasks", "nb2": "02_simclr"}
DEFAULT_JOBS = ("nb1:0", "nb2:0", "nb1:1", "nb2:1", "nb1:2", "nb2:2", "nb3")
#: The temperatures of the recorded ablation (issue 19), on the seeds below.
ABLATION_TEMPERATURES = "0.05,0.1,0.2,0.3,0.5,1.0"
ABLATION_SEEDS = (0, 1)
#: Seconds assumed for the timing of Notebook 3 while none is recorded: an ASSUMPTION for planning
#: (it runs last, so a wrong guess costs only itself), replaced by the recorded time once there is one.
ASSUMED_NOTEBOOK3_SECONDS = 240.0
#: Seconds assumed for what each job spends outside the notebook (interpreter and imports, writing
#: the results; the kernel's start-up is in the recorded times): a planning margin, not a measurement.
JOB_OVERHEAD_SECONDS = 15.0


class JobError(ValueError):
    """A job list or an option that cannot be used; the message says why."""


@dataclass(frozen=True)
class Job:
    """One notebook and seed (``kind`` a key of :data:`NOTEBOOKS`), or the Notebook 3 timing (``kind`` ``nb3``)."""

    kind: str
    seed: int = 0

    @classmethod
    def parse(cls, text: str) -> "Job":
        if text == "nb3":
            return cls("nb3")
        kind, _, seed = text.partition(":")
        if kind not in NOTEBOOKS or not seed.isdigit():
            raise JobError(f"unknown job {text!r}: use nb1:SEED, nb2:SEED or nb3")
        return cls(kind, int(seed))

    def __str__(self) -> str:
        return self.kind if self.kind == "nb3" else f"{self.kind}:{self.seed}"

    @property
    def ablation(self) -> bool:
        """Whether this job runs Notebook 2's temperature ablation."""
        return self.kind == "nb2" and self.seed in ABLATION_SEEDS


def _temperatures(value: str) -> int:
    return len([t for t in value.split(",") if t.strip()])


def estimates(results_dir: Path = run_reference.RESULTS, given: dict[str, float] | None = None) -> dict[str, dict]:
    """Seconds each kind of job is expected to take, and where the figure comes from.

    From the newest recorded reference run: a notebook's seconds plus its kernel start-up
    (seed 0, or the first seed recorded); for Notebook 2 also its ablation section's seconds per
    temperature, so that a job's estimate follows the number of temperatures it runs. Notebook
    3: the newest recorded timing, else :data:`ASSUMED_NOTEBOOK3_SECONDS`. ``given`` (``nb1``,
    ``nb2``, ``nb2-ablation-per-temperature``, ``nb3`` -> seconds) replaces any of them, e.g.
    with times measured since (say where they come from in the call's notes).
    """
    from autograder import results as R

    out: dict[str, dict] = {}
    latest = R.latest_results(results_dir)
    if latest is not None:
        record = json.loads(latest.read_text())
        for kind, notebook in NOTEBOOKS.items():
            runs = sorted((r for r in record["runs"] if r["notebook"] == notebook), key=lambda r: r["seed"])
            if not runs:
                continue
            run = runs[0]
            seconds = run["seconds"] + run.get("kernel_startup_seconds", 0.0)
            ablation = next((s for s in run["sections"] if "temperature" in s["title"].lower()), None)
            if kind == "nb2" and ablation and run.get("ablation"):
                per = ablation["seconds"] / len(run["ablation"])
                out["nb2-ablation-per-temperature"] = {"seconds": per, "source": f"{latest.name}: "
                                                       f"{ablation['seconds']:.0f} s for {len(run['ablation'])}"}
                seconds -= ablation["seconds"]
            out[kind] = {"seconds": seconds, "source": f"{latest.name}, seed {run['seed']}"}
    timing = R.latest_notebook3_timing(results_dir)
    if timing is not None:
        record = json.loads(timing.read_text())
        out["nb3"] = {"seconds": record["seconds"] + record.get("kernel_startup_seconds", 0.0), "source": timing.name}
    else:
        out["nb3"] = {"seconds": ASSUMED_NOTEBOOK3_SECONDS, "source": "ASSUMED (no timing recorded yet)"}
    for key, seconds in (given or {}).items():
        out[key] = {"seconds": seconds, "source": "given (--estimate)"}
    return out


def job_seconds(job: Job, known: dict[str, dict]) -> float:
    """The expected seconds of ``job``, overhead included.

    Raises:
        JobError: nothing is known about this kind of job (pass ``--estimate``).
    """
    if job.kind not in known:
        raise JobError(f"no recorded time for {job.kind}: pass --estimate {job.kind}=SECONDS")
    seconds = known[job.kind]["seconds"] + JOB_OVERHEAD_SECONDS
    if job.ablation:
        per = known.get("nb2-ablation-per-temperature", {}).get("seconds", 0.0)
        seconds += per * _temperatures(ABLATION_TEMPERATURES)
    return seconds


def plan(jobs: list[Job], known: dict[str, dict], budget: float, spent: float = 0.0) -> tuple[list, list]:
    """Split ``jobs`` into those that fit in ``budget`` seconds (in order, after ``spent``) and the rest.

    A job that does not fit ends the call: the ones after it wait too, so that the order (the
    priority) holds.
    """
    fits, left = [], []
    for job in jobs:
        seconds = job_seconds(job, known)
        if not left and spent + seconds <= budget:
            fits.append((job, seconds))
            spent += seconds
        else:
            left.append((job, seconds))
    return fits, left


def plan_text(jobs: list[Job], known: dict[str, dict], budget: float, setup: float) -> str:
    """What ``plan`` prints: the estimates, their sources, and the calls the jobs need."""
    lines = [f"estimates ({JOB_OVERHEAD_SECONDS:.0f} s overhead per job added below):"]
    lines += [f"  {key:<30} {v['seconds']:7.1f} s   {v.get('source', '')}" for key, v in known.items()]
    remaining, call = list(jobs), 1
    while remaining:
        fits, left = plan(remaining, known, budget, setup)
        if not fits:
            job, seconds = left[0]
            lines.append(f"call {call}: {job} alone needs {seconds:.0f} s + {setup:.0f} s setup, more than the "
                         f"{budget:.0f} s budget of a call")
            break
        total = setup + sum(s for _, s in fits)
        lines.append(f"call {call} ({total:.0f} s of {budget:.0f} s, {setup:.0f} s setup): "
                     + ", ".join(f"{job} {s:.0f} s" for job, s in fits))
        remaining, call = [job for job, _ in left], call + 1
    return "\n".join(lines)


def command(job: Job, results_file: Path, append: bool, extra: dict[str, list[str]], timeout: int) -> list[str]:
    """The command line of one job; ``extra[kind]`` are its own options (data, settings, --smoke)."""
    python = [sys.executable, "-m"]
    if job.kind == "nb3":
        return [*python, "benchmarks.notebook3_timing", "--out", str(results_file.parent / NOTEBOOK3_FILE),
                "--timeout", str(timeout), *extra.get("nb3", [])]
    args = [*python, "benchmarks.run_reference", "--notebooks", NOTEBOOKS[job.kind], "--seeds", str(job.seed),
            "--append" if append else "--out", str(results_file), "--timeout", str(timeout)]
    if job.seed != 0:
        args.append("--no-executed")
    if job.kind == "nb2":
        args += ["--set", f"ABLATION_TEMPERATURES={ABLATION_TEMPERATURES if job.ablation else ''}"]
    return args + extra.get(job.kind, [])


#: Names of what a call leaves in ``--out``, beside ``log.txt``.
NOTEBOOK3_FILE = "notebook3-timing.json"
EXECUTED_DIRS = (ROOT / "solutions" / "executed", run_reference.DRY_RUN / "executed")


def collect(out: Path, results_file: Path, log: Path, started: float, executed_dirs=EXECUTED_DIRS) -> None:
    """Copy what exists so far to ``out``: the results, the Notebook 3 timing, the executed copies
    written since ``started`` and, packed into one file, the notebooks that failed since then."""
    out.mkdir(parents=True, exist_ok=True)
    # the call's results, the Notebook 3 timing and any runs that could not be appended (rare)
    for path in sorted(results_file.parent.glob("*.json")):
        shutil.copy(path, out / path.name)
    if log.resolve() != (out / log.name).resolve():
        shutil.copy(log, out / log.name)
    fresh = [Path(folder) / f"{name}.ipynb" for folder in executed_dirs for name in NOTEBOOKS.values()]
    fresh = [p for p in fresh if p.exists() and p.stat().st_mtime >= started]
    if fresh:
        (out / "executed").mkdir(exist_ok=True)
        for path in fresh:
            shutil.copy(path, out / "executed" / path.name)
    failed = [p for p in sorted((run_reference.DRY_RUN / "failed").glob("*.ipynb")) if p.stat().st_mtime >= started]
    if failed:
        with tarfile.open(out / "failed.tar.gz", "w:gz") as tar:
            for path in failed:
                tar.add(path, arcname=path.name)


def run(jobs: list[Job], out: Path, budget: float, known: dict[str, dict], extra: dict[str, list[str]],
        results_file: Path, started: float, executed_dirs=EXECUTED_DIRS) -> int:
    """Run ``jobs`` in order within ``budget`` seconds since ``started``; collect after each one.

    Returns:
        0 if every job that started succeeded, else the first failing job's exit status (124 for
        one stopped at the end of the budget). Jobs left for the next call are not failures.
    """
    out.mkdir(parents=True, exist_ok=True)
    log = out / "log.txt"
    results_file.parent.mkdir(parents=True, exist_ok=True)
    status, done = 0, []
    for index, job in enumerate(jobs):
        elapsed = time.time() - started
        seconds = job_seconds(job, known)
        if elapsed + seconds > budget:
            left = " ".join(str(j) for j in jobs[index:])
            _log(log, f"[{elapsed:6.0f} s] stop: {job} needs about {seconds:.0f} s, {budget - elapsed:.0f} s left. "
                      f"Left for the next call: {left}")
            break
        append = results_file.exists() and job.kind != "nb3"
        argv = command(job, results_file, append, extra, int(max(60, budget - elapsed)))
        _log(log, f"[{elapsed:6.0f} s] {job} (about {seconds:.0f} s): {shlex.join(argv[1:])}")
        with log.open("a") as stream:
            try:
                rc = subprocess.run(argv, cwd=ROOT, stdout=stream, stderr=subprocess.STDOUT,
                                    timeout=max(1.0, budget - (time.time() - started))).returncode
            except subprocess.TimeoutExpired:
                rc = 124
        _log(log, f"[{time.time() - started:6.0f} s] {job}: {'done' if rc == 0 else f'FAILED (exit {rc})'}")
        if rc == 0:
            done.append(str(job))
        status = status or rc
        collect(out, results_file, log, started, executed_dirs)
    _log(log, f"[{time.time() - started:6.0f} s] finished: {' '.join(done) or 'nothing'}")
    collect(out, results_file, log, started, executed_dirs)
    return status


def _log(path: Path, line: str) -> None:
    print(line, flush=True)
    with path.open("a") as stream:
        stream.write(line + "\n")


def merge_files(paths: list[Path], out: Path) -> dict:
    """Join the results files of several calls into ``out`` (:func:`run_reference.merge` rules)."""
    merged = json.loads(paths[0].read_text())
    for path in paths[1:]:
        merged = run_reference.merge(merged, json.loads(path.read_text()))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(merged, indent=2) + "\n")
    return merged


def _estimates_arg(items: list[str]) -> dict[str, float]:
    try:
        return {k: float(v) for k, v in (item.split("=", 1) for item in items)}
    except ValueError:
        raise JobError("--estimate takes KIND=SECONDS, e.g. nb1=60") from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reference_jobs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("plan", "run"):
        p = sub.add_parser(name)
        p.add_argument("jobs", nargs="*", default=list(DEFAULT_JOBS), help=f"default: {' '.join(DEFAULT_JOBS)}")
        p.add_argument("--budget", type=float, default=540.0, help="seconds of the call (default 540, 9 minutes)")
        p.add_argument("--estimate", action="append", default=[], metavar="KIND=SECONDS",
                       help="replace a recorded time: nb1, nb2 (without ablation), nb2-ablation-per-temperature, nb3")
        p.add_argument("--results-dir", type=Path, default=run_reference.RESULTS, help="where the recorded runs are")
    p = sub.choices["plan"]
    p.add_argument("--setup", type=float, default=60.0, help="seconds of each call before the first job (wheels)")
    p = sub.choices["run"]
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "build/device-out")),
                   help="where results are copied as they finish (default $OUT)")
    p.add_argument("--results-file", type=Path, default=None,
                   help="the call's results file (default /tmp/reference-work-<start>/reference.json, outside "
                        "the tree)")
    p.add_argument("--data-args", default="", help="options given to every job (--data, --jpeg, --smoke), one string")
    for kind in ("nb1", "nb2", "nb3"):
        p.add_argument(f"--{kind}-args", default="", help=f"further options of the {kind} jobs (e.g. --set ...)")
    p.add_argument("--started", type=float, default=None, help="when the call started (epoch seconds; default now)")
    p = sub.add_parser("merge", help="join the results files of several calls")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "merge":
            merged = merge_files(args.files, args.out)
            print(f"wrote {args.out}: " + ", ".join(f"{r['notebook']}:{r['seed']}" for r in merged["runs"]))
            return 0
        jobs = [Job.parse(j) for j in args.jobs]
        known = estimates(args.results_dir, _estimates_arg(args.estimate))
        if args.command == "plan":
            print(plan_text(jobs, known, args.budget, args.setup))
            return 0
        started = args.started or time.time()
        results_file = args.results_file or Path(f"/tmp/reference-work-{int(started)}/reference.json")
        if results_file.exists():
            raise JobError(f"{results_file} exists from an earlier call: remove it or name another --results-file")
        extra = {kind: shlex.split(args.data_args) + shlex.split(getattr(args, f"{kind}_args"))
                 for kind in ("nb1", "nb2", "nb3")}
        return run(jobs, args.out, args.budget, known, extra, results_file, started)
    except (JobError, run_reference.RunError) as error:
        print(f"reference_jobs: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
