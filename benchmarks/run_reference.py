"""The GPU reference run: execute the solution notebooks end to end on real CIFAR-10 and record
every method's numbers and times.

For each notebook and seed it records, per method (a key of the notebook's ``results``
dictionary): the linear-probe accuracy, the pretext metric where the notebook has one (its
``pretext_scores`` dictionary), the method's wall time and section; per notebook the wall time
of each section and of the whole notebook; once, the GPU, driver, torch/CUDA versions, the data
and the git commit. It writes ``benchmarks/results/<date>-<gpu>.json`` and, for the first seed,
the executed notebooks (outputs and figures) to ``solutions/executed/``. From that file
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

Runs that are not measurements (grading mode, --smoke) say so in the file's ``stand_in`` field,
go under ``build/benchmarks/`` (git-ignored), and ``python -m autograder results`` refuses them.

Seeds: the runner sets ``SELFSUP_SEED``. A notebook whose setup cell does not read it gets one
extra cell after its setup cell that sets ``SEED`` and reseeds (tagged ``benchmark-injected``).
"""

from __future__ import annotations

import argparse
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
CAPTURE = ("results", "pretext_scores", "pretext_metrics", "ranking", "ablation")

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


def git_state() -> dict:
    """The commit the notebooks were built from and whether the tree had local changes."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(git("status", "--porcelain"))}


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


def reads_seed_env(nb_path: Path) -> bool:
    """True if the notebook's setup reads ``SELFSUP_SEED`` (``runtime.setting("SEED", ...)``)."""
    nb = nbformat.read(nb_path, as_version=4)
    return any(c.cell_type == "code" and re.search(r"""setting\(\s*["']SEED["']""", c.source) for c in nb.cells)


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
    env = notebook_run.kernel_env(
        SELFSUP_MODE="grading" if mode == "grading" else None,
        NBGRADER_EXECUTION=None,
        SELFSUP_DATA=str(data_dir) if data_dir else None,
        SELFSUP_SEED=str(seed),
        **{f"SELFSUP_{k.upper()}": v for k, v in (overrides or {}).items()},
    )
    inject = None if reads_seed_env(path) or seed == 0 else SEED_CELL.format(seed=seed)
    print(f"{name} (mode {mode}, seed {seed})")
    try:
        run = notebook_run.execute(path, env, timeout=timeout, capture=CAPTURE, inject_after_setup=inject)
    except notebook_run.NotebookFailed as error:
        failed = DRY_RUN / "failed" / f"{name}-seed{seed}.ipynb"
        failed.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(error.notebook, failed)
        raise RunError(f"{error}\n  the partly executed notebook is in {failed}") from None
    if run.final["settings"].get("SEED") != seed:
        raise RunError(f"{name} ran with SEED={run.final['settings'].get('SEED')}, not {seed}")
    record = {"notebook": name, "seed": seed, "seconds": round(run.seconds, 1),
              "kernel_startup_seconds": round(run.startup_seconds, 1), "sections": run.sections(),
              "methods": method_records(run), "settings": run.final["settings"],
              "seed_injected": inject is not None, "stderr_cells": run.stderr_cells(), "executed": None}
    if "ablation" in run.final["dicts"]:
        record["ablation"] = run.final["dicts"]["ablation"]
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


def merge(existing: dict, new: dict) -> dict:
    """Add the runs of ``new`` to ``existing`` (same GPU and mode), replacing same notebook+seed."""
    for key in ("mode", "kind", "stand_in", "overrides"):
        if existing.get(key) != new.get(key):
            raise RunError(f"cannot append a {key}={new.get(key)!r} run to a {key}={existing.get(key)!r} file")
    if existing["machine"].get("gpu") != new["machine"].get("gpu"):
        raise RunError(f"cannot append a run on {new['machine'].get('gpu')} to one on {existing['machine'].get('gpu')}")
    replaced = {(r["notebook"], r["seed"]) for r in new["runs"]}
    runs = [r for r in existing["runs"] if (r["notebook"], r["seed"]) not in replaced] + new["runs"]
    merged = dict(existing)
    merged["runs"] = sorted(runs, key=lambda r: (r["notebook"], r["seed"]))
    merged["commands"] = existing.get("commands", []) + new["commands"]
    done = {(r["notebook"], r["seed"]) for r in merged["runs"]}
    merged["failures"] = [f for f in existing.get("failures", []) + new.get("failures", [])
                          if (f["notebook"], f["seed"]) not in done]
    return merged


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run_reference", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("full", "grading"), default="full",
                        help="full: real CIFAR-10 on a GPU (default); grading: CPU dry run on synthetic data")
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
    try:
        overrides = dict(item.split("=", 1) for item in args.set)
    except ValueError:
        parser.error("--set takes NAME=VALUE")
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
    result = {"kind": "reference-run", "schema": 1, "mode": args.mode, "stand_in": stand_in,
              "date": now.date().isoformat(), "created": now.isoformat(timespec="seconds"),
              "machine": machine_info(final), "data": data, "git": git_state(),
              "overrides": overrides, "commands": ["python -m benchmarks.run_reference " + shlex.join(argv)],
              "runs": runs, "failures": failures}
    if args.append:
        out = args.append
        try:
            result = merge(json.loads(out.read_text()), result)
        except (OSError, RunError) as error:
            print(f"run_reference: cannot append to {out}: {error}", file=sys.stderr)
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
