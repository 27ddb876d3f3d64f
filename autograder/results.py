"""Everything the course shows about its measured results, generated from one results file.

``benchmarks/run_reference.py`` writes ``benchmarks/results/<date>-<gpu>.json`` on a GPU (and
``benchmarks/notebook3_timing.py`` a timing of Notebook 3 with full-size random-weight models).
From them, :func:`generate` writes

* the README results section, between ``<!-- results:begin -->`` and ``<!-- results:end -->``
  (only what lies between the markers is rewritten);
* a bar chart of the linear-probe accuracies (``docs/results.png``);
* the reference numbers the notebooks show, ``shared/selfsup/reference_results.json``, read by
  :func:`selfsup.reference.load_reference`.

No number is typed by hand: with no recorded run, the README says so and the reference file
says there is none (the notebooks then show no reference). With several seeds every number is
shown as the mean over the seeds with the range (lowest to highest seed) beside it; the data are
named for what they are (:data:`DATA_NAMES`). Runs that are not measurements
(grading mode, smoke runs, test fixtures: their ``stand_in`` field says what they are) are
refused unless a caller explicitly allows them, and then every output is labelled as such.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .course import HELPER, ROOT

BEGIN = "<!-- results:begin -->"
END = "<!-- results:end -->"
RESULTS_DIR = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"
FIGURE = ROOT / "docs" / "results.png"
REFERENCE = HELPER / "selfsup" / "reference_results.json"
#: Results-file schemas this code reads: 1 (one seed's numbers, no curves) and 2 (adds each run's
#: label-efficiency curves and per-run overrides; benchmarks/run_reference.py writes it).
SCHEMAS = (1, 2)
#: Schema of the generated reference file (``reference_results.json``).
REFERENCE_SCHEMA = 2
#: What the data of a run are, by the pack named in its ``data.pack`` (first match wins). The
#: course's runs use a JPEG copy of CIFAR-10 (``/work/shared/data/cifar10_jpeg.npz``, decoded by
#: ``benchmarks/decode_cifar_pack.py``), whose pixels are not torchvision's.
DATA_NAMES = (
    ("cifar10_jpeg", "CIFAR-10, a JPEG copy (pixels differ slightly from torchvision's)"),
)
#: The kind of record ``benchmarks/notebook3_timing.py`` writes, and what its figures are.
NOTEBOOK3_KIND = "notebook3-timing"
NOTEBOOK3_LABEL = "full-size models, random weights (timing only)"

#: Linear-probe targets the course set itself, by lower-cased method name (goals, not measurements),
#: met by the mean over the seeds of a run.
PROBE_TARGETS = {"supervised": 0.80, "rotation": 0.65, "jigsaw": 0.60, "colorization": 0.55, "simclr": 0.72}
#: The pretext tasks of Notebook 1, which SimCLR must beat by more than the spread of the seeds.
PRETEXT_TASKS = ("rotation", "jigsaw", "colorization")
#: Wall-time goals on one H100, by notebook (goals, not measurements).
TIME_TARGETS_H100 = {"01_pretext_tasks": 180.0, "02_simclr": 120.0}

#: Peak memory bandwidth in GB/s from the vendors' data sheets, matched against the GPU's name
#: (first match wins, so the specific names come first).
MEMORY_BANDWIDTH = (
    (("H100", "PCIE"), 2000.0),
    (("H100",), 3350.0),          # H100 SXM5 (nvidia-smi: "NVIDIA H100 80GB HBM3")
    (("H200",), 4800.0),
    (("A100", "80GB", "PCIE"), 1935.0),
    (("A100", "80GB"), 2039.0),
    (("A100",), 1555.0),
    (("V100",), 900.0),
    (("L4",), 300.0),
    (("T4",), 320.0),
)
T4_BANDWIDTH = 320.0

NOTEBOOK3_NOTE = (
    "Notebook 3 (MAE and DINOv2): no accuracy is recorded, because its pretrained weights cannot be downloaded on "
    "the machines that run the benchmarks; the expected numbers in that notebook are the seed course's and are "
    "labelled as such."
)


class ResultsError(ValueError):
    """A results file or the README cannot be used; the message says what is wrong."""


# --------------------------------------------------------------------------------------------
# Reading and summarising a results file


@dataclass
class MethodSummary:
    """One method of one notebook, over all its seeds."""

    notebook: str
    method: str
    probe: dict[int, float] = field(default_factory=dict)     # seed -> accuracy in [0, 1]
    pretext: dict[int, float] = field(default_factory=dict)   # seed -> pretext metric
    pretext_meta: dict | None = None                          # name, unit, lower_is_better
    #: seed -> {labelled images per class: [accuracy of each random draw]} (schema 2 files)
    curves: dict[int, dict[int, list[float]]] = field(default_factory=dict)

    @property
    def probe_mean(self) -> float:
        return _mean(self.probe)

    @property
    def probe_range(self) -> tuple[float, float]:
        return min(self.probe.values()), max(self.probe.values())

    def budget_accuracies(self) -> dict[int, dict[int, float]]:
        """``{images per class: {seed: mean over that seed's draws}}``, budgets in increasing order."""
        out: dict[int, dict[int, float]] = {}
        for seed, curve in sorted(self.curves.items()):
            for k, draws in curve.items():
                out.setdefault(k, {})[seed] = sum(draws) / len(draws)
        return dict(sorted(out.items()))


@dataclass
class NotebookSummary:
    """One notebook over all its seeds; sections and settings are the primary seed's."""

    notebook: str
    primary_seed: int
    seconds: dict[int, float]
    sections: list[dict]
    executed: str | None
    settings: dict = field(default_factory=dict)
    #: seed -> {temperature (as recorded, a string): linear-probe accuracy}
    ablations: dict[int, dict[str, float]] = field(default_factory=dict)
    #: seed -> the settings that run was given instead of the notebook's own (``--set``; schema 2)
    overrides: dict[int, dict[str, str]] = field(default_factory=dict)

    def ablation_by_temperature(self) -> dict[str, dict[int, float]]:
        """``{temperature: {seed: accuracy}}``, temperatures in increasing numeric order."""
        out: dict[str, dict[int, float]] = {}
        for seed, points in sorted(self.ablations.items()):
            for t, acc in points.items():
                out.setdefault(t, {})[seed] = float(acc)
        return dict(sorted(out.items(), key=lambda item: float(item[0])))


@dataclass
class Summary:
    """What a results file says, arranged for display."""

    path: Path
    date: str
    gpu: str | None
    machine: dict
    data: dict
    stand_in: str | None
    notebooks: list[NotebookSummary]
    methods: list[MethodSummary]

    @property
    def seeds(self) -> list[int]:
        return sorted({s for m in self.methods for s in m.probe})

    @property
    def primary_seed(self) -> int:
        return min(nb.primary_seed for nb in self.notebooks)

    @property
    def data_name(self) -> str:
        """The data, named for what they are (:data:`DATA_NAMES`), else as the file describes them."""
        return data_name(self.data)

    @property
    def per_class_all(self) -> int | None:
        """Training images per class of the whole split (the last point of a label-efficiency curve)."""
        n = self.data.get("train_images")
        return n // 10 if isinstance(n, int) else None


def data_name(data: dict) -> str:
    """``data.pack`` of a results file as the course names it (:data:`DATA_NAMES`)."""
    pack = str(data.get("pack") or "")
    for key, name in DATA_NAMES:
        if key in pack:
            return name
    return pack or "data not recorded"


def _read(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ResultsError(f"cannot read {path}: {error}") from None


def load_results(path: Path, allow_stand_in: bool = False) -> dict:
    """Read and validate a results file written by ``benchmarks/run_reference.py``.

    Raises:
        ResultsError: not a reference run, a schema this code does not know, no runs, or a
            stand-in (``stand_in`` set, or not full mode) when ``allow_stand_in`` is False.
    """
    run = _read(path)
    if run.get("kind") != "reference-run":
        raise ResultsError(f"{path} is not a reference run (kind={run.get('kind')!r})")
    if run.get("schema") not in SCHEMAS:
        raise ResultsError(f"{path} has schema {run.get('schema')!r}; this code reads schemas {SCHEMAS}")
    if not run.get("runs"):
        raise ResultsError(f"{path} holds no runs")
    if not allow_stand_in and (run.get("stand_in") or run.get("mode") != "full"):
        raise ResultsError(f"{path} is not a measurement ({run.get('stand_in') or 'mode ' + str(run.get('mode'))}); "
                           f"only full-mode GPU runs become course results")
    return run


def _latest(directory: Path, load) -> Path | None:
    found = []
    for path in sorted(Path(directory).glob("*.json")):
        try:
            record = load(path)
        except ResultsError:
            continue  # the other kinds of record live here too
        found.append((record.get("date", ""), path.name, path))
    return max(found)[2] if found else None


def latest_results(directory: Path = RESULTS_DIR) -> Path | None:
    """The newest full-mode reference run in ``directory`` (by date, then name), or None."""
    return _latest(directory, load_results)


def summarize(run: dict, path: Path) -> Summary:
    """Group a results file's runs by notebook and method, keeping every seed."""
    by_notebook: dict[str, list[dict]] = {}
    for r in run["runs"]:
        by_notebook.setdefault(r["notebook"], []).append(r)
    notebooks, methods = [], []
    for name in sorted(by_notebook):
        runs = sorted(by_notebook[name], key=lambda r: r["seed"])
        primary = next((r for r in runs if r.get("executed")), runs[0])
        notebooks.append(NotebookSummary(name, primary["seed"], {r["seed"]: r["seconds"] for r in runs},
                                         primary["sections"], primary.get("executed"), primary.get("settings", {}),
                                         {r["seed"]: r["ablation"] for r in runs if r.get("ablation")},
                                         {r["seed"]: r["overrides"] for r in runs if r.get("overrides")}))
        found: dict[str, MethodSummary] = {}
        for r in [primary] + [r for r in runs if r is not primary]:  # method order of the primary run
            for method, m in r["methods"].items():
                s = found.setdefault(method, MethodSummary(name, method))
                s.probe[r["seed"]] = float(m["probe_acc"])
                if m.get("pretext"):
                    s.pretext[r["seed"]] = float(m["pretext"]["value"])
                    s.pretext_meta = {k: v for k, v in m["pretext"].items() if k != "value"}
            for method, curve in (r.get("curves") or {}).items():
                if method in found and curve:
                    found[method].curves[r["seed"]] = {int(k): [float(a) for a in v] for k, v in curve.items()}
        methods.extend(found.values())
    machine = run.get("machine", {})
    return Summary(Path(path), run["date"], machine.get("gpu"), machine, run.get("data", {}), run.get("stand_in"),
                   notebooks, methods)


@dataclass
class Notebook3Timing:
    """A timing of Notebook 3 with full-size random-weight models (``benchmarks/notebook3_timing.py``)."""

    path: Path
    date: str
    gpu: str | None
    seconds: float
    sections: list[dict]
    models: list[dict]
    stand_in: str | None


def load_notebook3_timing(path: Path, allow_stand_in: bool = False) -> Notebook3Timing:
    """Read a Notebook 3 timing record.

    Raises:
        ResultsError: not such a record, or a stand-in (smoke run) when ``allow_stand_in`` is False.
    """
    record = _read(path)
    if record.get("kind") != NOTEBOOK3_KIND:
        raise ResultsError(f"{path} is not a Notebook 3 timing (kind={record.get('kind')!r})")
    if record.get("models_label") != NOTEBOOK3_LABEL:
        raise ResultsError(f"{path} does not say that its models are {NOTEBOOK3_LABEL!r}")
    if not allow_stand_in and record.get("stand_in"):
        raise ResultsError(f"{path} is not a measurement ({record['stand_in']})")
    return Notebook3Timing(Path(path), record["date"], record.get("machine", {}).get("gpu"), record["seconds"],
                           record["sections"], record.get("models", []), record.get("stand_in"))


def latest_notebook3_timing(directory: Path = RESULTS_DIR) -> Path | None:
    """The newest Notebook 3 timing on a GPU in ``directory``, or None."""
    return _latest(directory, lambda p: {"date": load_notebook3_timing(p).date})


# --------------------------------------------------------------------------------------------
# T4 estimate


def memory_bandwidth(gpu: str | None) -> float | None:
    """Peak memory bandwidth (GB/s) of a GPU named as nvidia-smi names it, if known."""
    name = (gpu or "").upper()
    for keys, bandwidth in MEMORY_BANDWIDTH:
        if all(k in name for k in keys):
            return bandwidth
    return None


@dataclass(frozen=True)
class T4Estimate:
    """T4 time = recorded time x ``ratio``; ``basis`` says where the ratio comes from."""

    ratio: float
    basis: str

    def seconds(self, recorded: float) -> float:
        return recorded * self.ratio


def t4_estimate(gpu: str | None, ratio: float | None = None, basis: str | None = None) -> T4Estimate | None:
    """The ratio that turns times recorded on ``gpu`` into a T4 estimate.

    By default the ratio of peak memory bandwidths (:data:`MEMORY_BANDWIDTH`); an explicit
    ``ratio`` (e.g. from a T4 measurement) must come with its ``basis``. None if the GPU is unknown.
    """
    if ratio is not None:
        if not basis:
            raise ResultsError("a T4 ratio needs its basis (say what it was derived from)")
        return T4Estimate(ratio, basis)
    bandwidth = memory_bandwidth(gpu)
    if bandwidth is None:
        return None
    return T4Estimate(bandwidth / T4_BANDWIDTH, (
        f"ratio of peak memory bandwidth, {bandwidth:,.0f} GB/s ({gpu}) / {T4_BANDWIDTH:,.0f} GB/s (T4), vendor data "
        f"sheets; it assumes these small 32x32 workloads are memory-bound and scales every second, CPU-side data "
        f"loading included, so it is a rough estimate, not a measurement"))


# --------------------------------------------------------------------------------------------
# Formatting


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _spread(values: dict[int, float], fmt) -> str:
    mean = sum(values.values()) / len(values)
    lo, hi = min(values.values()), max(values.values())
    if fmt(lo) == fmt(hi):
        return fmt(mean)
    return f"{fmt(mean)} ({fmt(lo)}–{fmt(hi)})"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _pretext_text(m: MethodSummary) -> str:
    if not m.pretext:
        return "–"
    meta = m.pretext_meta or {}
    fmt = _pct if meta.get("unit") == "accuracy" else (lambda v: f"{v:.3f}")
    return f"{_spread(m.pretext, fmt)} {meta.get('name', '')}".strip()


def _seeds_list(seeds) -> str:
    """``seed 0`` or ``seeds 0, 1``."""
    return f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"


def _time_target_text(seconds: float, gpu: str, target: float | None) -> str:
    """A wall time against its one-H100 goal: ✓ or ✗ wherever the recording GPU decides it.

    On an H100 the time is compared directly. A GPU with at least the memory bandwidth of the
    fastest H100 that missed the goal marks it missed (✗); one with at most that of the slowest
    H100 that met it marks it met (✓). Anything else cannot be decided from this run.
    """
    if target is None:
        return "–"
    text = f"≤ {_duration(target)}"
    if "H100" in gpu.upper():
        return text + (" ✓" if seconds <= target else " ✗")
    bandwidth = memory_bandwidth(gpu)
    h100 = [b for keys, b in MEMORY_BANDWIDTH if "H100" in keys]
    if bandwidth is not None and seconds > target and bandwidth >= max(h100):
        return text + f" ✗ (missed on the {gpu}, which has more memory bandwidth than an H100)"
    if bandwidth is not None and seconds <= target and bandwidth <= min(h100):
        return text + f" ✓ (met on the {gpu}, which has less memory bandwidth than an H100)"
    return text + " (not decided by this GPU)"


def _count(n) -> str:
    return f"{n:,}" if isinstance(n, int) else "?"


def _mean(values: dict[int, float]) -> float:
    return sum(values.values()) / len(values)


def _target_text(m: MethodSummary) -> str:
    target = PROBE_TARGETS.get(m.method.lower())
    if target is None:
        return "–"
    return f"≥ {100 * target:.0f}% {'✓' if m.probe_mean >= target else '✗'}"


def separation_lines(summary: Summary) -> list[str]:
    """Whether SimCLR beats every pretext task by more than the spread of the seeds.

    The rule: SimCLR's *lowest* seed must lie above each pretext task's *highest*
    seed, so that the two ranges over seeds do not overlap. One seed has no spread, and the
    line says so instead of deciding.
    """
    simclr = next((m for m in summary.methods if m.method.lower() == "simclr"), None)
    tasks = [m for m in summary.methods if m.method.lower() in PRETEXT_TASKS]
    if simclr is None or not tasks:
        return []
    one_seed = len(simclr.probe) < 2
    parts = []
    for task in tasks:
        gap = 100 * (min(simclr.probe.values()) - max(task.probe.values()))
        parts.append(f"{task.method} {gap:+.1f} points" + ("" if one_seed else " ✓" if gap > 0 else " ✗"))
    if one_seed:
        return [f"SimCLR against the pretext tasks: one seed, so no spread over seeds to compare "
                f"(SimCLR minus each task: {', '.join(parts)})."]
    return [f"SimCLR against the pretext tasks (target: SimCLR's lowest seed above each task's highest seed): "
            f"{', '.join(parts)}."]


def label_efficiency_lines(summary: Summary) -> list[str]:
    """A table of every method's label-efficiency curve: mean (range) over seeds at each budget."""
    methods = [m for m in summary.methods if m.curves]
    if not methods:
        return ["Label-efficiency curves: not recorded in this file (a schema 1 file holds none)."]
    budgets = sorted({k for m in methods for k in m.budget_accuracies()})
    all_label = f"all ({_count(summary.per_class_all)})"
    lines = ["Label efficiency: linear probe on the labelled training images per class shown in each column "
             "(a seed's value is the mean over its random draws of those images; a cell shows the mean and, in "
             "brackets, the range over seeds):", "",
             "| notebook | method | seeds | " + " | ".join(f"{k:,}" for k in budgets) + f" | {all_label} |",
             "|---|---|---|" + "---|" * (len(budgets) + 1)]
    for m in methods:
        row = m.budget_accuracies()
        cells = [_spread(row[k], _pct) if k in row else "–" for k in budgets]
        lines.append(f"| {m.notebook} | {m.method} | {len(m.curves)} | {' | '.join(cells)} | "
                     f"{_spread(m.probe, _pct)} |")
    return lines


def override_lines(summary: Summary) -> list[str]:
    """The settings that runs were given instead of the notebooks' own, with their seeds."""
    given: dict[tuple[str, str, str], list[int]] = {}
    for nb in summary.notebooks:
        for seed, overrides in sorted(nb.overrides.items()):
            for name, value in overrides.items():
                given.setdefault((nb.notebook, name, value), []).append(seed)
    if not given:
        return []
    parts = [f"{notebook} `{name}={value}` (seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))})"
             for (notebook, name, value), seeds in given.items()]
    return ["", f"Settings these runs were given instead of the notebooks' own (`--set`): {'; '.join(parts)}."]


def ablation_lines(summary: Summary) -> list[str]:
    """One line per notebook with a temperature ablation: mean (range) over its seeds."""
    lines = []
    for nb in summary.notebooks:
        points = nb.ablation_by_temperature()
        if not points:
            continue
        seeds = sorted(nb.ablations)
        epochs = nb.settings.get("ABLATION_EPOCHS")
        text = ", ".join(f"{t}: {_spread(by_seed, _pct)}" + (f" [{len(by_seed)} seeds]" if len(by_seed) != len(seeds)
                                                            else "") for t, by_seed in points.items())
        per_run = f"; {epochs} epoch{'s' if epochs != 1 else ''} per run" if epochs else ""
        lines += ["", f"{nb.notebook}, temperature ablation (seed{'s' if len(seeds) > 1 else ''} "
                  f"{', '.join(map(str, seeds))}{per_run}; linear probe"
                  f"{'; mean (range) over seeds' if len(seeds) > 1 else ''}): {text}."]
    return lines


def notebook3_lines(timing: Notebook3Timing | None) -> list[str]:
    """Notebook 3's wall time per section, or why there is none."""
    if timing is None:
        return [NOTEBOOK3_NOTE + " Its running time has not been measured yet either (`benchmarks/notebook3_timing.py` "
                "times it on a GPU with full-size models, random weights)."]
    gpu = timing.gpu or "CPU"
    lines = []
    if timing.stand_in:
        lines += [f"> **STAND-IN, NOT A MEASUREMENT:** {timing.stand_in}", ""]
    models = "; ".join(f"{m['hub_id']} ({m['parameters']:,} parameters)" for m in timing.models)
    lines += [f"Notebook 3 (MAE and DINOv2), {NOTEBOOK3_LABEL}: {_duration(timing.seconds)} on one {gpu}, recorded on "
              f"{timing.date}; source: `{_shown(timing.path)}`. The models are built from their published "
              f"configurations ({models}) and loaded offline the way the notebook loads them; their accuracies mean "
              f"nothing and are not recorded.", "",
              f"| section | time ({gpu}) |", "|---|---|"]
    lines += [f"| {sec['title']} | {sec['seconds']:.1f} s |" for sec in timing.sections]
    return lines + ["", NOTEBOOK3_NOTE]


def readme_section(summary: Summary | None, figure_link: str | None, estimate: T4Estimate | None,
                   link_base: Path = ROOT, notebook3: Notebook3Timing | None = None) -> str:
    """The markdown that goes between the README markers (markers excluded); links are relative
    to ``link_base`` (the README's folder)."""
    generated = "<!-- Generated by `python -m autograder results`; do not edit by hand. -->"
    if summary is None:
        return "\n".join([
            generated, "",
            "No GPU reference run has been recorded yet: `benchmarks/results/` holds no full-mode run of "
            "`python -m benchmarks.run_reference`. Until one is, the notebooks show only the numbers of your own run.",
            "", *notebook3_lines(notebook3), ""])

    gpu = summary.gpu or "CPU"
    m = summary.machine
    seeds = _seeds_text(summary.seeds)
    lines = [generated, ""]
    if summary.stand_in:
        lines += [f"> **STAND-IN, NOT A MEASUREMENT:** {summary.stand_in}", ""]
    lines += [
        f"Recorded on {summary.date} on one {gpu} (driver {m.get('driver') or '?'}, torch {m.get('torch', '?')}, "
        f"CUDA {m.get('cuda') or '?'}), on {summary.data_name}, {_count(summary.data.get('train_images'))} training "
        f"and {_count(summary.data.get('test_images'))} test images, {_seeds_list(summary.seeds)}; source: "
        f"`{_shown(summary.path)}`. The linear probe is a logistic regression on the frozen, standardised 256-d "
        f"features, scored on the test set; with several seeds a cell shows the mean and, in brackets, the range over "
        f"seeds.",
        "",
        "| notebook | method | linear probe | seeds | pretext-task score | target |",
        "|---|---|---|---|---|---|",
    ]
    for s in summary.methods:
        lines.append(f"| {s.notebook} | {s.method} | {_spread(s.probe, _pct)} | {len(s.probe)} | "
                     f"{_pretext_text(s)} | {_target_text(s)} |")
    lines += override_lines(summary)
    separation = separation_lines(summary)
    if separation:
        lines += ["", *separation]
    if figure_link:
        lines += ["", f"![Linear-probe accuracy per method]({figure_link})"]
    lines += ["", *label_efficiency_lines(summary)]
    lines += ablation_lines(summary)
    lines += ["", f"| notebook | wall time ({gpu}) | T4 estimate | target (one H100) | executed copy |",
              "|---|---|---|---|---|"]
    for nb in summary.notebooks:
        t = _mean(nb.seconds)
        target_text = _time_target_text(t, gpu, TIME_TARGETS_H100.get(nb.notebook))
        executed = f"[{nb.executed}]({_rel(ROOT / nb.executed, link_base)})" if nb.executed else "–"
        lines.append(f"| {nb.notebook} | {_spread(nb.seconds, _duration)} | "
                     f"{_duration(estimate.seconds(t)) if estimate else '–'} | {target_text} | {executed} |")
    lines += ["", f"Time per section (seed {summary.primary_seed}):", "",
              f"| notebook | section | time ({gpu}) | T4 estimate |", "|---|---|---|---|"]
    for nb in summary.notebooks:
        lines += [f"| {nb.notebook} | {sec['title']} | {sec['seconds']:.1f} s | "
                  f"{_duration(estimate.seconds(sec['seconds'])) if estimate else '–'} |" for sec in nb.sections]
    lines += ["", f"T4 estimate: recorded time × {estimate.ratio:.1f}, the {estimate.basis}." if estimate else
              f"No T4 estimate: the memory bandwidth of {gpu} is not in `autograder/results.py`."]
    lines += ["", *notebook3_lines(notebook3), ""]
    return "\n".join(lines)


def _shown(path: Path) -> str:
    """A path as the README shows it: relative to the repository if inside it."""
    path = Path(path).resolve()
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.as_posix()


def _rel(path: Path, start: Path) -> str:
    path, start = Path(path).resolve(), Path(start).resolve()
    return Path(os.path.relpath(path, start)).as_posix()


def replace_section(text: str, section: str, where: str = "README.md") -> str:
    """``text`` with everything between the results markers replaced by ``section``.

    Raises:
        ResultsError: a marker is missing, repeated or out of order.
    """
    begin, end = text.count(BEGIN), text.count(END)
    if begin != 1 or end != 1:
        raise ResultsError(f"{where} must contain exactly one {BEGIN} and one {END} line (found {begin} and {end}); "
                           f"add them where the results section goes")
    head, rest = text.split(BEGIN)
    if END not in rest:
        raise ResultsError(f"{where}: {END} comes before {BEGIN}")
    _, tail = rest.split(END)
    return f"{head}{BEGIN}\n{section.strip()}\n{END}{tail}"


def _stats(values: dict[int, float]) -> dict:
    """``{"mean", "range": [lowest, highest], "by_seed": {seed: value}}``, rounded to 6 decimals."""
    return {"mean": round(_mean(values), 6), "range": [round(min(values.values()), 6), round(max(values.values()), 6)],
            "by_seed": {str(seed): round(v, 6) for seed, v in sorted(values.items())}}


def _seeds_text(seeds: list[int]) -> str:
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"mean of seeds {', '.join(map(str, seeds))}"


def reference_payload(summary: Summary | None) -> dict:
    """The content of ``reference_results.json`` (read by :func:`selfsup.reference.load_reference`).

    Per method: the linear-probe accuracy as the mean over the seeds (``probe_acc``), its range
    and per-seed values, the pretext metric likewise, and the label-efficiency curve (per budget
    the mean, range and per-seed draws); the temperature ablation per temperature and seed. The
    ``source`` line names the date, GPU, seeds and data, for the notebooks' tables and figures.
    """
    if summary is None:
        return {"schema": REFERENCE_SCHEMA, "source": None, "methods": None,
                "note": "No GPU reference run has been recorded yet (python -m autograder results writes this file)."}
    methods: dict[str, dict] = {}
    for s in summary.methods:  # a method in two notebooks (random init): the first notebook's numbers
        if s.method in methods:
            continue
        probe = _stats(s.probe)
        entry = {"notebook": s.notebook, "probe_acc": probe["mean"], "probe_acc_mean": probe["mean"],
                 "probe_acc_range": probe["range"], "probe_acc_by_seed": probe["by_seed"], "seeds": sorted(s.probe),
                 "pretext": None, "label_efficiency": None}
        if s.pretext:
            pretext = _stats(s.pretext)
            entry["pretext"] = {"value": pretext.pop("mean"), **pretext, **(s.pretext_meta or {})}
        if s.curves:
            entry["label_efficiency"] = {
                "per_class_all": summary.per_class_all,
                "budgets": {str(k): {**_stats(by_seed),
                                     "draws_by_seed": {str(seed): [round(a, 6) for a in s.curves[seed][k]]
                                                       for seed in sorted(by_seed)}}
                            for k, by_seed in s.budget_accuracies().items()}}
        methods[s.method] = entry
    ablation = None
    for nb in summary.notebooks:
        points = nb.ablation_by_temperature()
        if points and ablation is None:
            ablation = {"notebook": nb.notebook, "epochs": nb.settings.get("ABLATION_EPOCHS"),
                        "seeds": sorted(nb.ablations), "temperatures": {t: _stats(v) for t, v in points.items()}}
    seeds = summary.seeds
    payload = {"schema": REFERENCE_SCHEMA,
               "source": f"{summary.date} {summary.gpu or 'CPU'}, {_seeds_text(seeds)}, on {summary.data_name}",
               "data": summary.data_name, "date": summary.date, "gpu": summary.gpu, "seed": summary.primary_seed,
               "seeds": seeds, "results_file": _shown(summary.path), "methods": methods, "ablation": ablation}
    if summary.stand_in:
        payload["stand_in"] = summary.stand_in
    return payload


def reference_text(summary: Summary | None) -> str:
    """:func:`reference_payload` as the file's text (sorted keys, so regeneration is byte-stable)."""
    return json.dumps(reference_payload(summary), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_figure(summary: Summary, path: Path) -> Path:
    """Bar chart of every method's probe accuracy (mean, range over seeds, target marks)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [s.method for s in summary.methods]
    labels = [f"{s.method}\n({s.notebook[:2]})" if names.count(s.method) > 1 else s.method for s in summary.methods]
    means = [100 * s.probe_mean for s in summary.methods]
    low = [100 * (s.probe_mean - s.probe_range[0]) for s in summary.methods]
    high = [100 * (s.probe_range[1] - s.probe_mean) for s in summary.methods]
    colours = ["tab:gray" if s.method.lower() in ("random init", "supervised") else "tab:blue" for s in summary.methods]
    fig, ax = plt.subplots(figsize=(1.2 * len(labels) + 2, 4))
    x = range(len(labels))
    ax.bar(x, means, color=colours, yerr=[low, high] if len(summary.seeds) > 1 else None, capsize=4)
    for i, (s, mean) in enumerate(zip(summary.methods, means)):
        target = PROBE_TARGETS.get(s.method.lower())
        top = mean + high[i]
        if target is not None:
            ax.plot([i - 0.4, i + 0.4], [100 * target] * 2, color="tab:red", linewidth=1.5)
            top = max(top, 100 * target)  # the value label sits above the target line, not through it
        ax.text(i, top + 1.5, f"{mean:.1f}", ha="center", fontsize=8)
    ax.set_xticks(list(x), labels, fontsize=8)
    ax.set_ylabel("linear-probe test accuracy (%)")
    ax.set_ylim(0, 100)
    bars = "bar: mean, whiskers: range over seeds; " if len(summary.seeds) > 1 else ""
    title = (f"{summary.data_name}\n{summary.date}, {summary.gpu or 'CPU'}, {_seeds_list(summary.seeds)} "
             f"({bars}red: target)")
    if summary.stand_in:
        title = "STAND-IN, NOT A MEASUREMENT\n" + title
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path


# --------------------------------------------------------------------------------------------
# Putting it together


@dataclass
class Outputs:
    """Generated content, before anything is written."""

    readme_text: str
    reference_text: str
    summary: Summary | None


def render(results: Path | None, readme: Path, figure: Path, allow_stand_in: bool = False,
           t4_ratio: float | None = None, t4_basis: str | None = None, notebook3: Path | None = None) -> Outputs:
    """Compute the README text and the reference file's text (nothing is written)."""
    summary = summarize(load_results(results, allow_stand_in), results) if results else None
    timing = load_notebook3_timing(notebook3, allow_stand_in) if notebook3 else None
    estimate = t4_estimate(summary.gpu, t4_ratio, t4_basis) if summary else None
    if not readme.exists():
        raise ResultsError(f"{readme} does not exist")
    section = readme_section(summary, _rel(figure, readme.parent) if summary else None, estimate, readme.parent,
                             timing)
    readme_text = replace_section(readme.read_text(), section, readme.name)
    return Outputs(readme_text, reference_text(summary), summary)


def generate(results: Path | None, readme: Path = README, figure: Path = FIGURE, reference: Path = REFERENCE,
             allow_stand_in: bool = False, t4_ratio: float | None = None, t4_basis: str | None = None,
             notebook3: Path | None = None) -> list[Path]:
    """Write the README section, the figure (when there is a run) and the reference file.

    Everything is computed and checked before the first file is written, so a missing marker
    or a bad results file leaves every file as it was.

    Args:
        results: a results file, or None for "no run recorded yet".
        readme, figure, reference: where the outputs go.
        allow_stand_in: accept a run that is not a measurement (tests); outputs say so.
        t4_ratio, t4_basis: override the T4 estimate's ratio, with what it is based on.
        notebook3: a Notebook 3 timing (``benchmarks/notebook3_timing.py``), or None.

    Returns:
        The paths written.
    """
    out = render(results, readme, figure, allow_stand_in, t4_ratio, t4_basis, notebook3)
    written = []
    if out.summary is not None:
        written.append(write_figure(out.summary, figure))
    readme.write_text(out.readme_text)
    reference.parent.mkdir(parents=True, exist_ok=True)
    reference.write_text(out.reference_text)
    return written + [readme, reference]


def stale(results: Path | None, readme: Path = README, figure: Path = FIGURE, reference: Path = REFERENCE,
          t4_ratio: float | None = None, t4_basis: str | None = None, notebook3: Path | None = None) -> list[str]:
    """What :func:`generate` would change (README section, reference file, missing figure)."""
    out = render(results, readme, figure, False, t4_ratio, t4_basis, notebook3)
    problems = []
    if readme.read_text() != out.readme_text:
        problems.append(f"{readme.name}: the results section is not what {results or 'no run'} gives")
    if not reference.exists() or reference.read_text() != out.reference_text:
        problems.append(f"{reference.name} is not what {results or 'no run'} gives")
    if out.summary is not None and not figure.exists():
        problems.append(f"{figure} is missing")
    return problems
