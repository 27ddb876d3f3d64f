"""Every number in the notebooks' prose is true to the record it quotes, and the sentences a review
found false stay gone.

A number typed into a notebook's text must name its record (a file under ``benchmarks/results/``);
each quoted number is checked here against that file, formatted the way the text shows it. A
number the notebook can read at run time is printed by a cell instead (see Notebook 1, Part 1.1).
"""

from __future__ import annotations

import ast
import json
import re

import pytest

from autograder import course as course_mod
from autograder.build import prepare
from autograder.source import read_source

RESULTS = course_mod.ROOT / "benchmarks" / "results"


def text(name: str) -> str:
    """The prose of a notebook (its markdown cells), whitespace-normalised."""
    nb = read_source(course_mod.SOURCE / f"{name}.py")
    return " ".join(" ".join(c.source for c in nb.cells if c.cell_type == "markdown").split())


def record(file: str) -> dict:
    return json.loads((RESULTS / file).read_text(encoding="utf-8"))


def run_of(reference: dict, notebook: str) -> dict:
    return next(r for r in reference["runs"] if r["notebook"] == notebook)


def section_seconds(reference: dict, notebook: str, title_start: str) -> float:
    return next(s["seconds"] for s in run_of(reference, notebook)["sections"] if s["title"].startswith(title_start))


H200 = "2026-11-30-nvidia-h200.json"
SPEED = "2026-11-28-simclr-speed-cpu.json"
LABEL_COST = "2026-12-03-label-efficiency-cost-cpu.json"
AGREEMENT = "2026-11-28-probe-agreement-cpu.json"
GEOMETRY = "2026-12-03-random-init-geometry-cpu.json"


def claims() -> list[tuple[str, str, str]]:
    """``(notebook, record file, the sentence as the notebook must write it)``, built from the records."""
    speed = {r["num_workers"]: r["s_per_epoch"] for r in record(SPEED)["seed_pipeline"]["runs"]}
    cost = record(LABEL_COST)
    agree = record(AGREEMENT)
    h200 = record(H200)
    ablation = run_of(h200, "02_simclr")["ablation"]
    geo = record(GEOMETRY)
    z = geo["stages"]["z = head(h)"]
    removed = geo["z_with_parts_removed"]
    one_left = [removed[k]["noise_mean_cosine"] for k in ("relu=True maxpool=False bias=False",
                                                           "relu=False maxpool=True bias=False",
                                                           "relu=False maxpool=False bias=True")]
    none_left = removed["relu=False maxpool=False bias=False"]
    return [
        ("02_simclr", SPEED, f"that augmentation alone at {speed[0]:.1f} s per epoch with `num_workers=0` and "
                             f"{speed[2]:.1f} s with 2 workers"),
        ("01_pretext_tasks", LABEL_COST, f"took {cost['curve']['joint']['evaluations']} evaluations together against "
                                         f"{cost['curve']['separate']['evaluations']:,} one at a time (and "
                                         f"{cost['full_probe']['evaluations']} for one probe on all 50,000 labels), with "
                                         f"every accuracy within {cost['curve']['largest_difference_points']:.2f} points"),
        ("01_pretext_tasks", AGREEMENT, f"to {100 * abs(agree['selfsup_probe_acc'] - agree['sklearn_probe_acc']):.2f} "
                                        f"points ({100 * agree['sklearn_probe_acc']:.2f}% and "
                                        f"{100 * agree['selfsup_probe_acc']:.2f}%"),
        ("02_simclr", H200, "swept four temperatures, " + ", ".join(list(ablation)[:-1]) + f" and {list(ablation)[-1]}, "
                            "and measured " + ", ".join(f"{100 * v:.1f}%" for v in list(ablation.values())[:-1])
                            + f" and {100 * list(ablation.values())[-1]:.1f}%"),
        ("02_simclr", GEOMETRY, f"the mean cosine of the random-init projections is {z['mean_cosine']:.3f} and "
                                f"{100 * z['mean_direction_share']:.1f}% of their energy lies along their mean"),
        ("02_simclr", GEOMETRY, f"the mean cosine is {geo['z_on_gaussian_noise_images']['mean_cosine']:.3f}"),
        ("02_simclr", GEOMETRY, f"it stays between {min(one_left):.2f} and {max(one_left):.2f} on noise images"),
        ("02_simclr", GEOMETRY, f"it falls to zero ({none_left['noise_mean_cosine']:.4f}; "
                                f"{none_left['cifar_views_mean_cosine']:.3f} on the CIFAR-10 views)"),
        ("02_simclr", GEOMETRY, f"it is {geo['z_train_mode_batchnorm']['mean_cosine']:.2f}"),
        ("02_simclr", GEOMETRY, f"ranks the positive first for {100 * z['ranking']:.1f}% of the views, and "
                                f"{100 * z['ranking_centred']:.1f}% after centring"),
    ]


@pytest.mark.parametrize("notebook, file, sentence", claims(), ids=lambda v: v if isinstance(v, str) and
                         len(v) < 40 else None)
def test_quoted_numbers_match_their_records(notebook, file, sentence):
    prose = text(notebook)
    assert sentence in prose, f"{notebook} should say, as {file} records: {sentence!r}"
    assert f"benchmarks/results/{file}" in prose, f"{notebook} quotes {file} without naming it"


@pytest.mark.parametrize("notebook, wrong", [
    ("02_simclr", "30-50 s per epoch"),                                # the CPU record says 91.6-102.5 s
    ("01_pretext_tasks", "seven times"),                               # an estimate no record holds
    ("02_simclr", "seven times"),
    ("01_pretext_tasks", "52.0%"),                                     # the reference run recorded 51.9%
    ("02_simclr", "bars overlap are not different"),                   # overlap means unresolved, not equal
    ("02_simclr", "The loss starts near `log(2N - 1)`"),               # the first recorded step was below it
    ("02_simclr", "Too low and a few false negatives"),                # the recorded sweep never saw it
    ("03_mae_dinov2", "silently returns"),                             # transformers 5 logs a warning
    ("01_pretext_tasks", "first code cell above"),                     # it is below
    ("02_simclr", "first code cell above"),
    ("03_mae_dinov2", "first code cell above"),
])
def test_sentences_the_records_contradict_are_gone(notebook, wrong):
    assert wrong not in text(notebook)


@pytest.mark.parametrize("name", course_mod.assignments())
def test_the_setup_cell_is_the_first_code_cell_below_the_text_that_says_so(name):
    nb = prepare(name, course_mod.load_course())
    at = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and "first code cell below" in c.source)
    below = next(c for c in nb.cells[at + 1:] if c.cell_type == "code")
    assert below.metadata["nbgrader"]["grade_id"] == "setup"


def test_temperature_sweep_includes_the_new_temperatures():
    source = (course_mod.SOURCE / "02_simclr.py").read_text(encoding="utf-8")
    line = next(line for line in source.splitlines() if line.startswith("ABLATION_TEMPERATURES ="))
    assert all(str(t) in line for t in (0.05, 0.1, 0.2, 0.3, 0.5, 1.0)), line


def test_knn_accuracy_takes_its_labels_as_arguments():
    """Notebook 3's k-NN helper reads no labels from an earlier part: its only free names are fixed settings."""
    source = (course_mod.SOURCE / "03_mae_dinov2.py").read_text(encoding="utf-8")
    tree = ast.parse(re.sub(r"^# %%.*$", "", source, flags=re.M))
    function = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "knn_accuracy")
    params = {a.arg for a in function.args.args}
    assigned = {n.id for n in ast.walk(function) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    read = {n.id for n in ast.walk(function) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    assert read - params - assigned <= {"knn_predict", "DEVICE", "K", "TEMPERATURE"}, read - params - assigned
    assert {"train_labels", "test_labels"} <= params
