"""What one training step of every method costs the host, on the CPU: milliseconds, aten calls, syncs.

On a GPU the host only has to keep the queue of kernels full; when it cannot (Python per image,
a sync that waits for the GPU, thousands of small kernels) the GPU idles. This script measures
the host's side of a step of each method of Notebooks 1 and 2, built from the notebooks' own
code (:mod:`benchmarks.methods`), trained by ``selfsup.train.fit`` on this machine's CPU:

- **host ms per step**: wall time between two batches, median over ``--steps`` steps after
  ``--warmup`` untimed ones, with the backbone replaced by :class:`~benchmarks.methods.NarrowConvNet`
  (SmallConvNet's operations at 1/8-1/16 of its widths), so that the convolutions' arithmetic,
  which a GPU would do, does not hide the host's work (``--full-model`` keeps SmallConvNet); and
  **host CPU ms per step**, the CPU time of this process and its DataLoader workers in the same
  steps, which other jobs on a shared machine disturb much less than the wall time. Both still
  include the arithmetic of the data path, the heads and the narrow backbone, which a GPU would do;
- **aten calls per step**: every aten operation dispatched in a step (a proxy for kernel launches);
- **host syncs per step**: the calls that would make the host wait for a CUDA GPU
  (:mod:`benchmarks.host_syncs`), in the steps after the first.

It also compares kornia's two ``cropping_mode`` values of SimCLR's augmentation (Exercise 2.1) on
the two views of a batch: aten calls and CPU ms per call (``--skip-crop-modes`` leaves it out).

Pretext batches come from whatever the notebook uses (``pretext_loader``): a DataLoader with
``NUM_WORKERS`` worker processes, or batches built on the device. Data: synthetic CIFAR-shaped
images (the host's cost does not depend on the pixels).

Before/after: run it once on an older checkout of the course and once on this one, e.g.::

    git archive <commit> | tar -x -C /tmp/before
    PYTHONPATH=/tmp/before/shared python -m benchmarks.step_cost --source /tmp/before/source --label before
    python -m benchmarks.step_cost --label after --record

``--record`` writes ``benchmarks/results/<date>-step-cost-cpu-<label>.json``; the record names the
selfsup that was imported, the torch version and the load of this shared machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("SELFSUP_MODE", "full")  # the notebooks' full-mode settings (batch, workers)

import torch  # noqa: E402

from . import methods  # noqa: E402
from .grading_mode import machine  # noqa: E402
from .host_syncs import HostSyncCounter, LoaderWindows  # noqa: E402
from .run_reference import git_state  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def _cpu_seconds() -> float:
    """CPU time of this process and its children (DataLoader workers): the host's work, whatever the load."""
    import psutil

    me = psutil.Process()
    times = [me.cpu_times()] + [child.cpu_times() for child in me.children(recursive=True)]
    return sum(t.user + t.system for t in times)


class _Clock:
    """A loader that notes the wall time and the CPU time each batch is handed out."""

    def __init__(self, loader):
        self.loader, self.times, self.cpu = loader, [], []

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            self._note()
            yield batch
        self._note()

    def _note(self) -> None:
        self.times.append(time.perf_counter())
        self.cpu.append(_cpu_seconds())


def measure(name: str, namespace: dict, train, batch_size: int, steps: int, warmup: int, narrow: bool,
            count_steps: int) -> dict:
    """Host ms, aten calls and syncs per step of one method (see the module docstring)."""
    from selfsup import train as train_mod

    device = torch.device("cpu")
    images = train.subset((warmup + steps) * batch_size, seed=0)
    method = methods.build(name, namespace, images, batch_size, narrow=narrow)
    clock = _Clock(method.loader)
    train_mod.fit(method.model, clock, method.step, 1, method.lr, device, weight_decay=method.weight_decay,
                  desc=name)
    intervals = [b - a for a, b in zip(clock.times, clock.times[1:])][warmup:]
    cpu = [b - a for a, b in zip(clock.cpu, clock.cpu[1:])][warmup:]

    counted = train.subset(count_steps * batch_size, seed=1)
    method = methods.build(name, namespace, counted, batch_size, narrow=narrow)
    with HostSyncCounter() as counter:
        train_mod.fit(method.model, LoaderWindows(method.loader, counter), method.step, 1, method.lr, device,
                      weight_decay=method.weight_decay, desc=name)
    later = [row for row in counter.summary() if isinstance(row["window"], tuple)
             and row["window"][1] not in (0, "end")]
    what: dict = {}
    for row in later:
        for kind, n in row["what"].items():
            what[kind] = what.get(kind, 0) + n
    return {"host_ms_per_step": round(1000 * statistics.median(intervals), 2),
            "host_cpu_ms_per_step": round(1000 * statistics.median(cpu), 2),
            "host_ms_per_step_all": [round(1000 * t, 2) for t in intervals],
            "aten_calls_per_step": statistics.median(row["aten_calls"] for row in later),
            "syncs_per_step": round(sum(row["syncs"] for row in later) / len(later), 2),
            "syncs_first_step": next(row["syncs"] for row in counter.summary() if row["window"] == ("step", 0)),
            "sync_kinds_after_first_step": what}


def crop_modes(views: int, repeats: int = 5) -> dict:
    """kornia's ``"slice"`` against ``"resample"`` cropping in SimCLR's augmentation, on ``views`` images."""
    from .simclr_speed import ReferenceAugment

    torch.manual_seed(0)
    x = torch.randn(views, 3, 32, 32)
    out = {}
    for mode in ("slice", "resample"):
        augment = ReferenceAugment(cropping_mode=mode)
        augment(x)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            augment(x)
            times.append(time.perf_counter() - start)
        with HostSyncCounter() as counter:
            counter.mark("call")
            augment(x)
        out[mode] = {"aten_calls": counter.aten["call"], "cpu_ms": round(1000 * statistics.median(times), 1)}
    return {"views": views, "what": "benchmarks.simclr_speed.ReferenceAugment (crop, flip, jitter, grayscale) on "
                                    "random [views, 3, 32, 32] images, CPU", **out}


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m benchmarks.step_cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=list(methods.METHODS), choices=methods.METHODS)
    parser.add_argument("--source", type=Path, default=ROOT / "source", help="folder of the source notebooks")
    parser.add_argument("--label", default="after", help="what this run is (before / after), kept in the record")
    parser.add_argument("--batch", type=int, default=None, help="images per step (default: the notebook's)")
    parser.add_argument("--steps", type=int, default=12, help="timed steps per method")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--count-steps", type=int, default=4, help="steps run under the sync counter")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--note", default="", help="what was measured, e.g. the commit of --source; kept in the record")
    parser.add_argument("--skip-crop-modes", action="store_true", help="do not compare kornia's cropping modes")
    parser.add_argument("--full-model", action="store_true", help="keep SmallConvNet (its arithmetic included)")
    parser.add_argument("--record", action="store_true", help="write benchmarks/results/<date>-step-cost-cpu-<label>.json")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON here")
    args = parser.parse_args(argv)

    import selfsup
    from selfsup import data

    if args.threads:
        torch.set_num_threads(args.threads)

    device = torch.device("cpu")
    spaces = {nb: methods.definitions(nb, device, args.source) for nb in {methods.NOTEBOOK[m] for m in args.methods}}
    largest = max(args.batch or spaces[methods.NOTEBOOK[m]]["BATCH_SIZE"] for m in args.methods)
    images, labels = data.synthetic_cifar((args.warmup + args.steps) * largest, seed=3)
    train = data.ImageTensorDataset(images, labels, device=device)
    start_machine = machine()
    report = {"kind": "step-cost", "schema": 1, "label": args.label, "date": dt.date.today().isoformat(),
              "command": "python -m benchmarks.step_cost " + shlex.join(argv), "machine": start_machine,
              "torch": torch.__version__, "threads": torch.get_num_threads(), "selfsup": str(Path(selfsup.__file__).parent),
              "source": str(args.source), "note": args.note, "git": git_state(),
              "backbone": "SmallConvNet" if args.full_model else "NarrowConvNet (SmallConvNet's layers, 4/8/8 channels)",
              "data": "synthetic CIFAR-shaped images (selfsup.data.synthetic_cifar)", "methods": {}}
    for name in args.methods:
        ns = spaces[methods.NOTEBOOK[name]]
        batch = args.batch or ns["BATCH_SIZE"]
        print(f"{name} (batch {batch}) ...", flush=True)
        row = measure(name, ns, train, batch, args.steps, args.warmup, not args.full_model, args.count_steps)
        row["batch_size"] = batch
        row["pretext_loader"] = type(methods.build(name, ns, train.subset(batch), batch, narrow=True).loader).__name__
        report["methods"][name] = row
        print(f"  {row['host_ms_per_step']:.1f} host ms/step ({row['host_cpu_ms_per_step']:.1f} CPU ms), "
              f"{row['aten_calls_per_step']} aten calls/step, "
              f"{row['syncs_per_step']} syncs/step after the first {row['sync_kinds_after_first_step'] or ''}",
              flush=True)
    if not args.skip_crop_modes:
        views = 2 * (args.batch or spaces.get("02_simclr", {}).get("BATCH_SIZE", 256))
        report["simclr_crop_modes"] = crop_modes(views)
        print("crop modes:", report["simclr_crop_modes"], flush=True)
    out = args.out or (RESULTS / f"{report['date']}-step-cost-cpu-{args.label}.json" if args.record else None)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
