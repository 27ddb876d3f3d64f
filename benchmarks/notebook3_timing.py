"""Notebook 3's running time, every section, in full mode, with full-size models and random weights.

Its pretrained weights cannot be downloaded on the machines that run the benchmarks, but its
cost does not depend on their values. So this script builds the three models from their
published configurations (``benchmarks/full_size_models.py``) with random weights, saves them
into a Hugging Face cache folder, and executes ``solutions/03_mae_dinov2.ipynb`` end to end in
full mode (real CIFAR-10 subsets of the notebook's own sizes, the GPU) with ``SELFSUP_MODELS``
pointing at that folder and ``HF_HUB_OFFLINE=1``: the notebook loads the models exactly as it
loads downloaded ones on a second run. It records the wall time of every section and of the
whole notebook, never an accuracy (the random models' numbers mean nothing, and the notebook's
``results`` are not read). Every record and every table made from it says
"full-size models, random weights (timing only)". What it does not include: the first download
of the weights on Colab (about 0.6 GB).

Usage (from the repository root)::

    # on a GPU machine (decodes the JPEG pack first if --data has no decoded pack):
    python -m benchmarks.notebook3_timing --jpeg .data/cifar10_jpeg_compact.npz --data /tmp/cifar10
    # smoke test on the CPU: tiny models, a small pack, small subsets (writes under build/benchmarks/)
    python -m benchmarks.notebook3_timing --smoke --model-size tiny --data /tmp/tiny \\
        --set TRAIN_SIZE=40 --set TEST_SIZE=60 --set LABELS_PER_CLASS=1 --set BATCH_SIZE=8

It writes ``benchmarks/results/<date>-notebook3-timing-<gpu>.json`` (smoke runs:
``build/benchmarks/``, marked ``stand_in``), which ``python -m autograder results`` shows in the
README.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
import tempfile
from pathlib import Path

from autograder.results import NOTEBOOK3_KIND, NOTEBOOK3_LABEL

from . import full_size_models, notebook_run
from .run_reference import (DEFAULT_DATA, DRY_RUN, RESULTS, SOLUTIONS, RunError, git_state, machine_info,
                            override_plan, parse_overrides, prepare_data, repo_relative, slug)

NOTEBOOK = "03_mae_dinov2"


def run(data_dir: Path, cache: Path, size: str, overrides: dict[str, str], timeout: int,
        solutions: Path = SOLUTIONS) -> dict:
    """Write the models into ``cache``, execute the notebook once and return the timing record's body."""
    path = solutions / f"{NOTEBOOK}.ipynb"
    if not path.exists():
        raise RunError(f"{path} does not exist: build it first (python -m autograder build {NOTEBOOK})")
    print(f"writing {size} models with random weights into {cache} ...", flush=True)
    models = full_size_models.write_hub_cache(cache, size)
    settings_env, injections, applied = override_plan(path, overrides)
    env = notebook_run.kernel_env(SELFSUP_MODE=None, NBGRADER_EXECUTION=None, SELFSUP_DATA=str(data_dir),
                                  SELFSUP_MODELS=str(cache), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                                  SELFSUP_SEED="0", **settings_env)
    print(f"{NOTEBOOK} (full mode, {NOTEBOOK3_LABEL if size == 'full' else 'TINY stand-in models'})", flush=True)
    try:
        execution = notebook_run.execute(path, env, timeout=timeout, capture=(), injections=tuple(injections))
    except notebook_run.NotebookFailed as error:
        failed = DRY_RUN / "failed" / f"{NOTEBOOK}-timing.ipynb"
        failed.parent.mkdir(parents=True, exist_ok=True)
        import nbformat

        nbformat.write(error.notebook, failed)
        raise RunError(f"{error}\n  the partly executed notebook is in {failed}") from None
    settings = execution.final["settings"]
    if settings.get("STAND_INS") is not False:
        raise RunError(f"the notebook ran with STAND_INS={settings.get('STAND_INS')!r}: it did not load the models "
                       f"from {cache}, so its time is not Notebook 3's")
    return {"seconds": round(execution.seconds, 1), "kernel_startup_seconds": round(execution.startup_seconds, 1),
            "sections": execution.sections(), "settings": settings, "overrides": applied,
            "stderr_cells": execution.stderr_cells(), "models": models, "_final": execution.final}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m benchmarks.notebook3_timing", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="$SELFSUP_DATA: holds cifar10_uint8.npz")
    parser.add_argument("--jpeg", type=Path, default=None, help="cifar10_jpeg.npz to decode if --data has no pack")
    parser.add_argument("--cache", type=Path, default=None,
                        help="where the models are written (default: a temporary folder, removed afterwards)")
    parser.add_argument("--model-size", choices=("full", "tiny"), default="full",
                        help="full: the published configurations (default); tiny: grading-mode stand-ins (tests)")
    parser.add_argument("--solutions", type=Path, default=SOLUTIONS, help="folder of the built solution notebooks")
    parser.add_argument("--out", type=Path, default=None,
                        help="record (default benchmarks/results/<date>-notebook3-timing-<gpu>.json; smoke: build/)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed per cell")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a notebook setting (as in benchmarks.run_reference; recorded)")
    parser.add_argument("--smoke", action="store_true",
                        help="without a GPU or the full data, or with tiny models: a stand-in, never a result")
    args = parser.parse_args(argv)
    overrides = parse_overrides(parser, args.set, [args.solutions / f"{NOTEBOOK}.ipynb"])
    if args.model_size == "tiny" and not args.smoke:
        parser.error("--model-size tiny is for --smoke runs only: tiny models do not time Notebook 3")
    git = git_state()
    stand_in = ("smoke run (partial data, no GPU and/or tiny models); NOT a timing of Notebook 3"
                if args.smoke else None)
    try:
        import torch

        if not torch.cuda.is_available() and not args.smoke:
            raise RunError("a timing of Notebook 3 needs a CUDA GPU (--smoke for a CPU check of the code path)")
        data = prepare_data(args.data, args.jpeg, require_full=not args.smoke)
        with tempfile.TemporaryDirectory(prefix="nb3-models-") as scratch:
            body = run(args.data, args.cache or Path(scratch), args.model_size, overrides, args.timeout,
                       args.solutions)
    except RunError as error:
        print(f"notebook3_timing: {error}", file=sys.stderr)
        return 1
    final = body.pop("_final")
    now = dt.datetime.now(dt.timezone.utc)
    label = NOTEBOOK3_LABEL if args.model_size == "full" else "TINY random-weight stand-ins: not Notebook 3's models"
    record = {"kind": NOTEBOOK3_KIND, "schema": 1, "models_label": label, "stand_in": stand_in,
              "date": now.date().isoformat(), "created": now.isoformat(timespec="seconds"),
              "notebook": NOTEBOOK, "mode": "full", "machine": machine_info(final), "data": data, "git": git,
              "command": "python -m benchmarks.notebook3_timing " + shlex.join(argv),
              "excluded": "the first download of the pretrained weights (on Colab); kernel start-up", **body}
    gpu = record["machine"]["gpu"]
    name = f"{record['date']}-notebook3-timing-{slug(gpu) if gpu else 'cpu'}{'-smoke' if args.smoke else ''}.json"
    out = args.out or (DRY_RUN if args.smoke else RESULTS) / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {repo_relative(out)}: {record['seconds']:.0f} s ({label}{'; ' + stand_in if stand_in else ''})")
    for section in record["sections"]:
        print(f"  {section['seconds']:8.1f} s  {section['title']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
