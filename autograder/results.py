"""Everything the course shows about its measured results, generated from one results file.

``benchmarks/run_reference.py`` writes ``benchmarks/results/<date>-<gpu>.json`` on a GPU. From
it, :func:`generate` writes

* the README results section, between ``<!-- results:begin -->`` and ``<!-- results:end -->``
  (only what lies between the markers is rewritten);
* a bar chart of the linear-probe accuracies (``docs/results.png``);
* the reference numbers the notebooks show, ``shared/selfsup/reference_results.json``, read by
  :func:`selfsup.reference.load_reference`.

No number is typed by hand: with no recorded run, the README says so and the reference file
says there is none (the notebooks then show no reference). Runs that are not measurements
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
SCHEMA = 1

#: Linear-probe targets the course set itself, by lower-cased method name (goals, not measurements).
PROBE_TARGETS = {"supervised": 0.80, "rotation": 0.65, "jigsaw": 0.60, "colorization": 0.53, "simclr": 0.70}
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
    "Notebook 3 (MAE and DINOv2) is not benchmarked: its pretrained weights cannot be downloaded on the machines "
    "that run the benchmarks, so the expected numbers in that notebook are the seed course's and are labelled as "
    "such."
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

    @property
    def probe_mean(self) -> float:
        return sum(self.probe.values()) / len(self.probe)

    @property
    def probe_range(self) -> tuple[float, float]:
        return min(self.probe.values()), max(self.probe.values())


@dataclass
class NotebookSummary:
    """One notebook over all its seeds; sections, settings and ablation are the primary seed's."""

    notebook: str
    primary_seed: int
    seconds: dict[int, float]
    sections: list[dict]
    executed: str | None
    settings: dict = field(default_factory=dict)
    ablation: dict | None = None


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


def load_results(path: Path, allow_stand_in: bool = False) -> dict:
    """Read and validate a results file written by ``benchmarks/run_reference.py``.

    Raises:
        ResultsError: not a reference run, a schema this code does not know, no runs, or a
            stand-in (``stand_in`` set, or not full mode) when ``allow_stand_in`` is False.
    """
    try:
        run = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ResultsError(f"cannot read {path}: {error}") from None
    if run.get("kind") != "reference-run":
        raise ResultsError(f"{path} is not a reference run (kind={run.get('kind')!r})")
    if run.get("schema") != SCHEMA:
        raise ResultsError(f"{path} has schema {run.get('schema')!r}; this code reads schema {SCHEMA}")
    if not run.get("runs"):
        raise ResultsError(f"{path} holds no runs")
    if not allow_stand_in and (run.get("stand_in") or run.get("mode") != "full"):
        raise ResultsError(f"{path} is not a measurement ({run.get('stand_in') or 'mode ' + str(run.get('mode'))}); "
                           f"only full-mode GPU runs become course results")
    return run


def latest_results(directory: Path = RESULTS_DIR) -> Path | None:
    """The newest full-mode reference run in ``directory`` (by date, then name), or None."""
    found = []
    for path in sorted(directory.glob("*.json")):
        try:
            run = load_results(path)
        except ResultsError:
            continue  # grading-mode timings and other records live here too
        found.append((run.get("date", ""), path.name, path))
    return max(found)[2] if found else None


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
                                         primary.get("ablation")))
        found: dict[str, MethodSummary] = {}
        for r in [primary] + [r for r in runs if r is not primary]:  # method order of the primary run
            for method, m in r["methods"].items():
                s = found.setdefault(method, MethodSummary(name, method))
                s.probe[r["seed"]] = float(m["probe_acc"])
                if m.get("pretext"):
                    s.pretext[r["seed"]] = float(m["pretext"]["value"])
                    s.pretext_meta = {k: v for k, v in m["pretext"].items() if k != "value"}
        methods.extend(found.values())
    machine = run.get("machine", {})
    return Summary(Path(path), run["date"], machine.get("gpu"), machine, run.get("data", {}), run.get("stand_in"),
                   notebooks, methods)


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


def _target_text(m: MethodSummary) -> str:
    target = PROBE_TARGETS.get(m.method.lower())
    if target is None:
        return "–"
    return f"≥ {100 * target:.0f}% {'✓' if m.probe_mean >= target else '✗'}"


def _seeds_text(seeds) -> str:
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


def readme_section(summary: Summary | None, figure_link: str | None, estimate: T4Estimate | None,
                   link_base: Path = ROOT) -> str:
    """The markdown that goes between the README markers (markers excluded); links are relative
    to ``link_base`` (the README's folder)."""
    generated = "<!-- Generated by `python -m autograder results`; do not edit by hand. -->"
    if summary is None:
        return "\n".join([
            generated, "",
            "No GPU reference run has been recorded yet: `benchmarks/results/` holds no full-mode run of "
            "`python -m benchmarks.run_reference`. Until one is, the notebooks show only the numbers of your own run.",
            "", NOTEBOOK3_NOTE, ""])

    gpu = summary.gpu or "CPU"
    m = summary.machine
    seeds = _seeds_text(summary.seeds)
    lines = [generated, ""]
    if summary.stand_in:
        lines += [f"> **STAND-IN, NOT A MEASUREMENT:** {summary.stand_in}", ""]
    lines += [
        f"Recorded on {summary.date} on one {gpu} (driver {m.get('driver') or '?'}, torch {m.get('torch', '?')}, "
        f"CUDA {m.get('cuda') or '?'}), CIFAR-10 with {_count(summary.data.get('train_images'))} training and "
        f"{_count(summary.data.get('test_images'))} test images, {seeds}; source: `{_shown(summary.path)}`. "
        f"The linear probe is a logistic regression on the frozen, standardised 256-d features, scored on the test "
        f"set; with several seeds a cell shows the mean and, in brackets, the range over seeds.",
        "",
        "| notebook | method | linear probe | seeds | pretext-task score | target |",
        "|---|---|---|---|---|---|",
    ]
    for s in summary.methods:
        lines.append(f"| {s.notebook} | {s.method} | {_spread(s.probe, _pct)} | {len(s.probe)} | "
                     f"{_pretext_text(s)} | {_target_text(s)} |")
    if figure_link:
        lines += ["", f"![Linear-probe accuracy per method]({figure_link})"]
    for nb in summary.notebooks:
        if nb.ablation:
            epochs = nb.settings.get("ABLATION_EPOCHS")
            points = ", ".join(f"{k}: {_pct(v)}" for k, v in nb.ablation.items())
            lines += ["", f"{nb.notebook}, temperature ablation (seed {nb.primary_seed}"
                      f"{f', {epochs} epochs per run' if epochs else ''}; linear probe): {points}."]
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
    lines += ["", NOTEBOOK3_NOTE, ""]
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


def reference_payload(summary: Summary | None) -> dict:
    """The content of ``reference_results.json``: per method the primary seed's numbers."""
    if summary is None:
        return {"schema": SCHEMA, "source": None, "methods": None,
                "note": "No GPU reference run has been recorded yet (python -m autograder results writes this file)."}
    methods: dict[str, dict] = {}
    for s in summary.methods:  # a method in two notebooks (random init): the first notebook's numbers
        if s.method in methods:
            continue
        seed = summary.primary_seed if summary.primary_seed in s.probe else min(s.probe)
        entry = {"notebook": s.notebook, "probe_acc": s.probe[seed], "probe_acc_mean": round(_mean(s.probe), 6),
                 "seeds": sorted(s.probe), "pretext": None}
        if seed in s.pretext:
            entry["pretext"] = {"value": s.pretext[seed], **(s.pretext_meta or {})}
        methods[s.method] = entry
    payload = {"schema": SCHEMA, "source": f"{summary.date} {summary.gpu or 'CPU'} (seed {summary.primary_seed})",
               "date": summary.date, "gpu": summary.gpu, "seed": summary.primary_seed,
               "results_file": _shown(summary.path), "methods": methods}
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
    title = f"CIFAR-10, {summary.date}, {summary.gpu or 'CPU'}, {_seeds_text(summary.seeds)} (red: target)"
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
           t4_ratio: float | None = None, t4_basis: str | None = None) -> Outputs:
    """Compute the README text and the reference file's text (nothing is written)."""
    summary = summarize(load_results(results, allow_stand_in), results) if results else None
    estimate = t4_estimate(summary.gpu, t4_ratio, t4_basis) if summary else None
    if not readme.exists():
        raise ResultsError(f"{readme} does not exist")
    section = readme_section(summary, _rel(figure, readme.parent) if summary else None, estimate, readme.parent)
    readme_text = replace_section(readme.read_text(), section, readme.name)
    return Outputs(readme_text, reference_text(summary), summary)


def generate(results: Path | None, readme: Path = README, figure: Path = FIGURE, reference: Path = REFERENCE,
             allow_stand_in: bool = False, t4_ratio: float | None = None, t4_basis: str | None = None) -> list[Path]:
    """Write the README section, the figure (when there is a run) and the reference file.

    Everything is computed and checked before the first file is written, so a missing marker
    or a bad results file leaves every file as it was.

    Args:
        results: a results file, or None for "no run recorded yet".
        readme, figure, reference: where the outputs go.
        allow_stand_in: accept a run that is not a measurement (tests); outputs say so.
        t4_ratio, t4_basis: override the T4 estimate's ratio, with what it is based on.

    Returns:
        The paths written.
    """
    out = render(results, readme, figure, allow_stand_in, t4_ratio, t4_basis)
    written = []
    if out.summary is not None:
        written.append(write_figure(out.summary, figure))
    readme.write_text(out.readme_text)
    reference.parent.mkdir(parents=True, exist_ok=True)
    reference.write_text(out.reference_text)
    return written + [readme, reference]


def stale(results: Path | None, readme: Path = README, figure: Path = FIGURE, reference: Path = REFERENCE,
          t4_ratio: float | None = None, t4_basis: str | None = None) -> list[str]:
    """What :func:`generate` would change (README section, reference file, missing figure)."""
    out = render(results, readme, figure, False, t4_ratio, t4_basis)
    problems = []
    if readme.read_text() != out.readme_text:
        problems.append(f"{readme.name}: the results section is not what {results or 'no run'} gives")
    if not reference.exists() or reference.read_text() != out.reference_text:
        problems.append(f"{reference.name} is not what {results or 'no run'} gives")
    if out.summary is not None and not figure.exists():
        problems.append(f"{figure} is missing")
    return problems
