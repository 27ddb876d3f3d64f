"""The GPU reference run: execute the solution notebooks end to end on CIFAR-10 (the JPEG copy of
``decode_cifar_pack.py``, whose pixels differ slightly from torchvision's) and record every
method's numbers and times.

For each notebook and seed it records, per method (a key of the notebook's ``results``
dictionary): the linear-probe accuracy, the pretext metric where the notebook has one (its
``pretext_scores`` dictionary), the section that recorded it and its label-efficiency curve (the
notebook's ``curves``); per notebook the wall time of each section and of the whole notebook, the
temperature ablation where there is one, and the settings it was given; once, the GPU, driver,
torch/CUDA versions, the data and the git commit the run started from. It writes
``benchmarks/results/<date>-<gpu>.json`` and, for the first seed, the executed notebooks
(outputs and figures) to ``solutions/executed/``. From that file
``python -m autograder results`` generates the README table, the figure and the reference
numbers that the notebooks show.

Usage (from the repository root)::

    # on a GPU machine, full mode (decodes the JPEG pack first if needed):
    python -m benchmarks.run_reference --jpeg .data/cifar10_jpeg.npz
    # a second seed for the same results file, run separately:
    python -m benchmarks.run_reference --seeds 1 --append benchmarks/results/<date>-<gpu>.json
    # the CPU dry run of the same code path (synthetic data; writes under build/benchmarks/):
    python -m benchmarks.run_reference --mode grading
    # a smoke test of full mode without a GPU: any device, a small decoded pack, overridden settings
    python -m benchmarks.run_reference --smoke --data /tmp/tiny --set NUM_EPOCHS=1
    # the temperature ablation at six temperatures (a constant, not a setting: set by an injected cell)
    python -m benchmarks.run_reference --notebooks 02_simclr --set ABLATION_TEMPERATURES=0.05,0.1,0.2,0.3,0.5,1.0

Runs that are not measurements (grading mode, --smoke) say so in the file's ``stand_in`` field,
go under ``build/benchmarks/`` (git-ignored), and ``python -m autograder results`` refuses them.

Seeds: the runner sets ``SELFSUP_SEED``. A notebook whose setup cell does not read it gets one
extra cell after its setup cell that sets ``SEED`` and reseeds (tagged ``benchmark-injected``).

Settings: ``--set NAME=VALUE`` goes to the kernel as ``SELFSUP_<NAME>`` for a notebook that reads
``NAME`` with ``runtime.setting``; for an UPPERCASE constant it assigns itself (``NAME = ...``), an
extra cell right after the one that assigns it sets the value (tagged ``benchmark-injected``;
``VALUE`` is a Python literal, ``a,b,c`` a tuple, empty the empty tuple). Each run records what it
was given (``overrides``) and what was injected (``injected``); a name that no notebook of the
run has is an error, not a silent no-op.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from . import decode_cifar_pack, notebook_run

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
RESULTS = ROOT / "benchmarks" / "results"
EXECUTED = SOLUTIONS / "executed"
DRY_RUN = ROOT / "build" / "benchmarks"   # git-ignored: grading-mode runs are not results
DEFAULT_DATA = ROOT / ".data" / "cifar10"  # git-ignored
DEFAULT_NOTEBOOKS = ("01_pretext_tasks", "02_simclr")
FULL_SIZES = {"x_train": 50_000, "x_test": 10_000}
#: Dictionaries read from each notebook's kernel after it ran.
CAPTURE = ("results", "pretext_scores", "pretext_metrics", "ranking", "ablation", "curves")
#: Version of the results file (autograder/results.py reads this one and schema 1, which had no
#: ``curves``, ``overrides`` or ``injected`` per run).
SCHEMA = 2
#: Settings that only the bonus temperature ablation reads (Notebook 2, Part 8, after every
#: method's numbers are recorded): runs that differ in them alone can share a results file.
ABLATION_SETTINGS = ("ABLATION_TEMPERATURES", "ABLATION_EPOCHS", "ABLATION_IMAGES")

#: What each notebook's ``pretext_scores[method]`` measures, when the notebook does not say so
#: itself in a ``pretext_metrics`` dictionary (method -> description). ``lower_is_better``
#: marks losses.
PRETEXT_METRICS = {
    "supervised": {"name": "classifier test accuracy", "unit": "accuracy"},
    "rotation": {"name": "rotation accuracy on test images (chance 25%)", "unit": "accuracy"},
    "jigsaw": {"name": "permutation accuracy on test images (chance 4.2%)", "unit": "accuracy"},
    "colorization": {"name": "test MSE in normalised units", "unit": "loss", "lower_is_better": True},
}
#: Used for a method with no ``pretext_scores`` entry but one in ``ranking`` (Notebook 2).
RANKING_METRIC = {"name": "ranking accuracy of the positive view among the 2N-1 others (test)", "unit": "accuracy"}

SEED_CELL = """# Injected by benchmarks/run_reference.py (not course content): run this notebook with seed {seed}.
SEED = {seed}
runtime.seed_everything(SEED)
print(f"benchmark seed override: SEED = {{SEED}}")"""
OVERRIDE_CELL = """# Injected by benchmarks/run_reference.py (not course content): --set {name}={raw}
{name} = {value!r}
print("benchmark override: {name} =", {name})"""


class RunError(RuntimeError):
    """The run cannot start or finish; the message says why and what to do."""


def slug(text: str) -> str:
    """``"NVIDIA H100 80GB HBM3"`` -> ``"nvidia-h100-80gb-hbm3"``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def gpu_info() -> dict:
    """Name, driver and memory of GPU 0 from ``nvidia-smi`` (empty without one)."""
    if not shutil.which("nvidia-smi"):
        return {}
    try:
        line = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                               "--format=csv,noheader"], capture_output=True, text=True, check=True,
                              timeout=30).stdout.strip().splitlines()[0]
    except (subprocess.SubprocessError, IndexError):
        return {}
    name, driver, memory = (part.strip() for part in line.split(",", 2))
    return {"gpu": name, "driver": driver, "gpu_memory": memory}


#: Where runs write their own outputs: changes there do not make a tree "dirty" (they change
#: nothing that runs).
OUTPUT_PATHS = ("benchmarks/results", "solutions/executed")


def git_state() -> dict:
    """The commit the notebooks were built from and whether the tree had other local changes."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    outputs = [f":(exclude){path}" for path in OUTPUT_PATHS]
    dirty = bool(git("status", "--porcelain", "--", ".", *outputs))
    return {"commit": git("rev-parse", "HEAD") or None, "dirty": dirty}


def prepare_data(data_dir: Path, jpeg: Path | None, require_full: bool = True) -> dict:
    """Make sure ``data_dir`` holds the full decoded pack; decode ``jpeg`` into it if needed.

    Returns:
        A description of the data for the results file.
    """
    import numpy as np

    pack = data_dir / decode_cifar_pack.PACK_FILE
    if not pack.exists():
        source = jpeg or decode_cifar_pack.DEFAULT_SOURCE
        if not source.exists():
            raise RunError(f"no decoded pack at {pack} and no JPEG pack at {source}: pass --jpeg PATH "
                           f"(cifar10_jpeg.npz) or decode first with python -m benchmarks.decode_cifar_pack")
        print(f"decoding {source} into {data_dir} ...")
        decode_cifar_pack.write_pack(decode_cifar_pack.decode(source), data_dir)
    with np.load(pack) as f:
        sizes = {k: len(f[k]) for k in FULL_SIZES}
    if require_full and sizes != FULL_SIZES:
        raise RunError(f"{pack} holds {sizes}, not the full splits {FULL_SIZES}: a reference run needs all "
                       f"of CIFAR-10 (was it decoded with --limit?)")
    return {"pack": "cifar10_jpeg.npz decoded by benchmarks/decode_cifar_pack.py",
            "train_images": sizes["x_train"], "test_images": sizes["x_test"]}


def _code(nb_path: Path) -> list[str]:
    return [c.source for c in nbformat.read(nb_path, as_version=4).cells if c.cell_type == "code"]


def reads_setting(nb_path: Path, name: str) -> bool:
    """True if the notebook reads ``SELFSUP_<name>`` (``runtime.setting("<name>", ...)``)."""
    return any(re.search(rf"""setting\(\s*["']{re.escape(name)}["']""", code) for code in _code(nb_path))


def constant_pattern(name: str) -> str:
    """The regular expression of a top-level assignment ``NAME = ...``."""
    return rf"^{re.escape(name)}\s*="


def assigns_constant(nb_path: Path, name: str) -> bool:
    """True if a code cell of the notebook assigns ``name`` at top level."""
    return any(re.search(constant_pattern(name), code, re.MULTILINE) for code in _code(nb_path))


def literal(raw: str):
    """An override's value as Python: ``""`` -> ``()``, ``"0.1,0.2"`` -> ``(0.1, 0.2)``, ``"3"`` -> ``3``."""
    if not raw.strip():
        return ()
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        raise RunError(f"--set value {raw!r} is not a Python literal (numbers, strings, a,b,c for a tuple)") from None


def unknown_overrides(paths: list[Path], overrides: dict[str, str]) -> list[str]:
    """The names in ``overrides`` that none of the notebooks at ``paths`` reads or assigns."""
    existing = [p for p in paths if p.exists()]
    return [name for name in overrides
            if not any(reads_setting(p, name) or assigns_constant(p, name) for p in existing)]


def parse_overrides(parser: argparse.ArgumentParser, items: list[str], paths: list[Path]) -> dict[str, str]:
    """``--set NAME=VALUE`` items as a dict; a malformed item or a name that none of the notebooks
    at ``paths`` has ends the command with a usage error."""
    try:
        overrides = dict(item.split("=", 1) for item in items)
    except ValueError:
        parser.error("--set takes NAME=VALUE")
    unknown = unknown_overrides(paths, overrides)
    if unknown:
        parser.error(f"--set {', '.join(unknown)}: no notebook of this run ({', '.join(p.stem for p in paths)}) has "
                     f"such a setting or UPPERCASE constant")
    return overrides


def override_plan(nb_path: Path, overrides: dict[str, str]) -> tuple[dict[str, str], list[tuple[str, str]], dict]:
    """How each override reaches one notebook.

    Returns:
        ``(env, injections, applied)``: kernel variables ``SELFSUP_<NAME>`` for the settings it
        reads, ``(pattern, cell)`` injections for the constants it assigns itself, and the
        overrides that apply to it (the others are for other notebooks of the run).
    """
    env, injections, applied = {}, [], {}
    for name, raw in overrides.items():
        if reads_setting(nb_path, name):
            env[f"SELFSUP_{name.upper()}"] = raw
        elif assigns_constant(nb_path, name):
            injections.append((constant_pattern(name), OVERRIDE_CELL.format(name=name, raw=raw, value=literal(raw))))
        else:
            continue
        applied[name] = raw
    return env, injections, applied


def method_records(run: notebook_run.Execution) -> dict[str, dict]:
    """Per method: probe accuracy, pretext metric (if any) and the section that recorded it.

    The pretext metric is ``pretext_scores[method]``, described by the notebook's
    ``pretext_metrics[method]`` if it has one, else by :data:`PRETEXT_METRICS`; failing that,
    ``ranking[method]`` (Notebook 2's contrastive ranking accuracy).
    """
    dicts = run.final["dicts"]
    scores, ranking = dicts.get("pretext_scores", {}), dicts.get("ranking", {})
    declared = dicts.get("pretext_metrics", {})
    sections = run.method_sections()
    out = {}
    for name, acc in dicts.get("results", {}).items():
        record = {"probe_acc": acc, "section": sections.get(name)}
        if name in scores:
            metric = declared.get(name) or PRETEXT_METRICS.get(name) or {"name": "pretext score", "unit": "value"}
            if isinstance(metric, str):
                metric = {"name": metric, "unit": "accuracy" if "accuracy" in metric.lower() else "value"}
            record["pretext"] = {"value": scores[name], **metric}
        elif name in ranking:
            record["pretext"] = {"value": ranking[name], **RANKING_METRIC}
        out[name] = record
    return out


def run_notebook(name: str, seed: int, mode: str, data_dir: Path | None, executed_dir: Path | None,
                 timeout: int, overrides: dict[str, str] | None = None, solutions: Path = SOLUTIONS) -> dict:
    """Execute ``<solutions>/<name>.ipynb`` once and return its run record."""
    path = solutions / f"{name}.ipynb"
    if not path.exists():
        raise RunError(f"{path} does not exist: build it first (python -m autograder build {name})")
    settings_env, injections, applied = override_plan(path, overrides or {})
    env = notebook_run.kernel_env(
        SELFSUP_MODE="grading" if mode == "grading" else None,
        NBGRADER_EXECUTION=None,
        SELFSUP_DATA=str(data_dir) if data_dir else None,
        SELFSUP_SEED=str(seed),
        **settings_env,
    )
    inject = None if reads_setting(path, "SEED") or seed == 0 else SEED_CELL.format(seed=seed)
    print(f"{name} (mode {mode}, seed {seed}{''.join(f', {k}={v}' for k, v in applied.items())})")
    try:
        run = notebook_run.execute(path, env, timeout=timeout, capture=CAPTURE, inject_after_setup=inject,
                                   injections=tuple(injections))
    except notebook_run.NotebookFailed as error:
        failed = DRY_RUN / "failed" / f"{name}-seed{seed}.ipynb"
        failed.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(error.notebook, failed)
        raise RunError(f"{error}\n  the partly executed notebook is in {failed}") from None
    if run.final["settings"].get("SEED") != seed:
        raise RunError(f"{name} ran with SEED={run.final['settings'].get('SEED')}, not {seed}")
    dicts = run.final["dicts"]
    record = {"notebook": name, "seed": seed, "seconds": round(run.seconds, 1),
              "kernel_startup_seconds": round(run.startup_seconds, 1), "sections": run.sections(),
              "methods": method_records(run), "curves": dicts.get("curves", {}), "settings": run.final["settings"],
              "overrides": applied, "injected": [n for n in applied if not reads_setting(path, n)],
              "seed_injected": inject is not None, "stderr_cells": run.stderr_cells(), "executed": None}
    if "ablation" in dicts:
        record["ablation"] = dicts["ablation"]
    if executed_dir is not None:
        executed_dir.mkdir(parents=True, exist_ok=True)
        target = executed_dir / f"{name}.ipynb"
        notebook_run.drop_widget_outputs(run.notebook)  # progress bars, frozen at 0% in a saved copy
        nbformat.write(run.notebook, target)
        record["executed"] = repo_relative(target)
    record["_final"] = run.final
    return record


def repo_relative(path: Path) -> str:
    """``path`` relative to the repository root if it is inside it, else absolute."""
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def machine_info(final: dict) -> dict:
    """GPU, driver and versions: from nvidia-smi here and from the kernel that ran the notebook."""
    info = {"gpu": final.get("gpu"), "driver": None, "gpu_memory": None, **{k: v for k, v in gpu_info().items() if v}}
    info.update({"torch": final["torch"], "cuda": final["torch_cuda"], "cudnn": final.get("cudnn"),
                 "python": final["python"], "device": final["device"], "cpus": len(os.sched_getaffinity(0)),
                 "platform": platform.platform()})
    if not final["cuda_available"]:
        info["gpu"] = None
    return info


def _method_overrides(run: dict, record: dict) -> dict:
    """The overrides of one run that can change the methods' numbers (all but
    :data:`ABLATION_SETTINGS`); a schema 1 run has none of its own, so its file's count."""
    given = run["overrides"] if "overrides" in run else record.get("overrides") or {}
    return {k: v for k, v in given.items() if k not in ABLATION_SETTINGS}


def merge(existing: dict, new: dict) -> dict:
    """Add the runs of ``new`` to ``existing`` (same GPU, mode and commit), replacing same
    notebook+seed. Runs of one notebook must have the same method settings (overrides other than
    :data:`ABLATION_SETTINGS`, which each run records for itself); different notebooks have
    different settings."""
    for key in ("mode", "kind", "stand_in", "schema"):
        if existing.get(key) != new.get(key):
            raise RunError(f"cannot append a {key}={new.get(key)!r} run to a {key}={existing.get(key)!r} file")
    for run in new["runs"]:
        for old in existing["runs"]:
            if old["notebook"] == run["notebook"] and _method_overrides(old, existing) != _method_overrides(run, new):
                raise RunError(f"cannot append a run of {run['notebook']} with overrides "
                               f"{_method_overrides(run, new)} to one with {_method_overrides(old, existing)}: they "
                               f"change the methods' numbers")
    if existing["machine"].get("gpu") != new["machine"].get("gpu"):
        raise RunError(f"cannot append a run on {new['machine'].get('gpu')} to one on {existing['machine'].get('gpu')}")
    commits = existing.get("git", {}).get("commit"), new.get("git", {}).get("commit")
    if None not in commits and commits[0] != commits[1]:
        raise RunError(f"cannot append a run of commit {commits[1]} to a file of commit {commits[0]}")
    replaced = {(r["notebook"], r["seed"]) for r in new["runs"]}
    runs = [r for r in existing["runs"] if (r["notebook"], r["seed"]) not in replaced] + new["runs"]
    merged = dict(existing)
    merged["runs"] = sorted(runs, key=lambda r: (r["notebook"], r["seed"]))
    merged["commands"] = existing.get("commands", []) + new["commands"]
    merged["git"] = {**existing.get("git", {}), "dirty": bool(existing.get("git", {}).get("dirty")
                                                              or new.get("git", {}).get("dirty"))}
    done = {(r["notebook"], r["seed"]) for r in merged["runs"]}
    merged["failures"] = [f for f in existing.get("failures", []) + new.get("failures", [])
                          if (f["notebook"], f["seed"]) not in done]
    return merged


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run_reference", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("full", "grading"), default="full",
                        help="full: CIFAR-10 (the JPEG copy) on a GPU (default); grading: CPU dry run on synthetic "
                             "data")
    parser.add_argument("--notebooks", nargs="+", default=list(DEFAULT_NOTEBOOKS), help="solution notebook names")
    parser.add_argument("--solutions", type=Path, default=SOLUTIONS, help="folder of the built solution notebooks")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0],
                        help="seeds; executed notebooks are saved for the first one only")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="$SELFSUP_DATA: holds cifar10_uint8.npz")
    parser.add_argument("--jpeg", type=Path, default=None, help="cifar10_jpeg.npz to decode if --data has no pack")
    parser.add_argument("--out", type=Path, default=None,
                        help="results JSON (default benchmarks/results/<date>-<gpu>.json; grading: build/benchmarks/)")
    parser.add_argument("--append", type=Path, default=None, metavar="RESULTS_JSON",
                        help="add these runs to an existing results file (same GPU) instead of writing a new one")
    parser.add_argument("--executed-dir", type=Path, default=None,
                        help="where executed notebooks go (default solutions/executed/; "
                             "grading and smoke runs: build/benchmarks/executed/)")
    parser.add_argument("--no-executed", action="store_true", help="do not save executed notebooks")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed per cell")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a notebook setting through SELFSUP_<NAME> (recorded in the results)")
    parser.add_argument("--smoke", action="store_true",
                        help="full-mode code path without a GPU or the full data; a stand-in, never a result")
    args = parser.parse_args(argv)
    grading = args.mode == "grading"
    git = git_state()  # before anything is written: the run's own outputs do not make the tree dirty
    overrides = parse_overrides(parser, args.set, [args.solutions / f"{n}.ipynb" for n in args.notebooks])
    stand_in = None
    if grading:
        stand_in = "grading mode: synthetic images, CPU, grading-mode settings; NOT CIFAR-10 results"
    elif args.smoke:
        stand_in = "smoke run of full mode (partial data and/or no GPU); NOT a reference measurement"
    local = stand_in is not None

    try:
        if not grading:
            import torch

            if not torch.cuda.is_available() and not args.smoke:
                raise RunError("full mode needs a CUDA GPU (use --mode grading for the CPU dry run)")
            data = prepare_data(args.data, args.jpeg, require_full=not args.smoke)
        else:
            data = {"pack": "synthetic stand-in (grading mode): NOT CIFAR-10"}
        executed_dir = None if args.no_executed else (
            args.executed_dir or (DRY_RUN / "executed" if local else EXECUTED))
    except RunError as error:
        print(f"run_reference: {error}", file=sys.stderr)
        return 1
    runs, failures = [], []
    for i, seed in enumerate(args.seeds):
        for name in args.notebooks:
            try:  # one failing notebook does not cost the others' measurements
                runs.append(run_notebook(name, seed, args.mode, None if grading else args.data,
                                         executed_dir if i == 0 else None, args.timeout, overrides,
                                         args.solutions))
            except RunError as error:
                print(f"run_reference: {error}", file=sys.stderr)
                failures.append({"notebook": name, "seed": seed, "error": str(error)})
    if not runs:
        return 1

    final = runs[-1].pop("_final")
    for run in runs:
        run.pop("_final", None)
    now = dt.datetime.now(dt.timezone.utc)
    result = {"kind": "reference-run", "schema": SCHEMA, "mode": args.mode, "stand_in": stand_in,
              "date": now.date().isoformat(), "created": now.isoformat(timespec="seconds"),
              "machine": machine_info(final), "data": data, "git": git,
              "overrides": overrides, "commands": ["python -m benchmarks.run_reference " + shlex.join(argv)],
              "runs": runs, "failures": failures}
    if args.append:
        out = args.append
        try:
            result = merge(json.loads(out.read_text()), result)
        except (OSError, RunError) as error:  # keep the measurement: write it beside the file
            seeds = "-".join(map(str, args.seeds))
            kept = out.with_name(f"{out.stem}-unmerged-{'-'.join(args.notebooks)}-seed{seeds}.json")
            kept.write_text(json.dumps(result, indent=2) + "\n")
            print(f"run_reference: cannot append to {out}: {error}\n  these runs are in {kept}", file=sys.stderr)
            return 1
    else:
        gpu = result["machine"]["gpu"]
        suffix = "-grading" if grading else "-smoke" if args.smoke else ""
        name = f"{result['date']}-{slug(gpu) if gpu else 'cpu'}{suffix}.json"
        out = args.out or (DRY_RUN if local else RESULTS) / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {repo_relative(out)}")
    for run in runs:
        accs = ", ".join(f"{m} {100 * r['probe_acc']:.1f}%" for m, r in run["methods"].items())
        print(f"  {run['notebook']} seed {run['seed']}: {run['seconds']:.0f} s; {accs}")
    for failure in failures:
        print(f"  {failure['notebook']} seed {failure['seed']}: FAILED (see above)")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
