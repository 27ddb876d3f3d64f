"""benchmarks/run_reference.py, benchmarks/grading_mode.py and their executor notebook_run.py.

They run a TINY STAND-IN notebook built here (two methods with invented accuracies, no
training), not the course notebooks: that keeps the tests to a few seconds, and its numbers are
known, so the recording can be checked exactly. The real notebooks' grading-mode run is
recorded under benchmarks/results/ by ``python -m benchmarks.grading_mode``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks/ scripts live at the repo root

from benchmarks import grading_mode, notebook_run, run_reference  # noqa: E402

pytestmark = pytest.mark.integration

SETUP = "from selfsup import runtime\n\nSEED = 0\nDEVICE = runtime.setup(SEED)"


def stand_in_notebook(folder: Path, name: str = "99_stand_in", stderr: bool = False, fail: bool = False) -> Path:
    """A notebook shaped like the course's: setup cell, Part sections, results dictionaries."""
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    cells = [
        md("# Stand-in notebook (test fixture)"), code(SETUP),
        code("WIDTH = runtime.setting('WIDTH', full=3, grading=3)\nABLATION_TEMPERATURES = (0.1, 0.5)"),
        md("## Part 1 - Baselines\n\n### 1.1 Random"),
        code("import random\nresults, pretext_scores = {}, {}\nrandom.seed(SEED)\nresults['random init'] = 0.5"),
        md("### 1.2 Rotation"),
        code("import time\ntime.sleep(0.3)\npretext_scores['rotation'] = 0.75\n"
             "results['rotation'] = 0.6 + random.random() / 100\n"
             "curves = {name: {10: [acc - 0.2, acc - 0.1]} for name, acc in results.items()}"),
        md("## Part 2 - Comparison"),
        code("import sys\nprint('to stderr', file=sys.stderr)" if stderr else "print(sorted(results))"),
        code("ablation = {t: 0.5 + t / 10 for t in ABLATION_TEMPERATURES}"),
    ]
    if fail:
        cells.append(code("raise ValueError('broken on purpose')"))
    nb = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                        "language": "python"}})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def test_grading_mode_run_records_methods_sections_seeds_and_executed_copy(tmp_path):
    stand_in_notebook(tmp_path / "solutions")
    out = tmp_path / "results.json"
    argv = ["--mode", "grading", "--solutions", str(tmp_path / "solutions"), "--notebooks", "99_stand_in",
            "--seeds", "0", "1", "--out", str(out), "--executed-dir", str(tmp_path / "executed")]
    assert run_reference.main(argv) == 0
    record = json.loads(out.read_text())
    assert record["kind"] == "reference-run" and record["mode"] == "grading"
    assert "NOT CIFAR-10" in record["stand_in"]
    assert record["machine"]["torch"] and record["machine"]["gpu"] is None
    runs = {r["seed"]: r for r in record["runs"]}
    assert set(runs) == {0, 1}

    first = runs[0]
    assert [s["title"] for s in first["sections"]] == ["(title)", "Part 1 - Baselines", "Part 2 - Comparison"]
    assert first["sections"][1]["seconds"] >= 0.3
    assert abs(sum(s["seconds"] for s in first["sections"]) - first["seconds"]) < 0.2
    assert list(first["methods"]) == ["random init", "rotation"]
    acc = first["methods"]["rotation"]["probe_acc"]
    assert first["curves"]["rotation"] == {"10": [pytest.approx(acc - 0.2), pytest.approx(acc - 0.1)]}
    assert first["ablation"] == {"0.1": pytest.approx(0.51), "0.5": pytest.approx(0.55)}
    assert first["overrides"] == {} and first["injected"] == [] and record["schema"] == 2
    rotation = first["methods"]["rotation"]
    assert rotation["section"] == "Part 1 - Baselines"
    assert rotation["pretext"] == {"value": 0.75, "name": "rotation accuracy on test images (chance 25%)",
                                   "unit": "accuracy"}
    assert "pretext" not in first["methods"]["random init"]
    assert first["settings"]["SEED"] == 0 and not first["seed_injected"]

    # the second seed really ran with SEED = 1 (the stand-in's setup does not read SELFSUP_SEED)
    assert runs[1]["settings"]["SEED"] == 1 and runs[1]["seed_injected"]
    assert runs[1]["methods"]["rotation"]["probe_acc"] != rotation["probe_acc"]
    assert runs[1]["executed"] is None

    executed = nbformat.read(tmp_path / "executed" / "99_stand_in.ipynb", as_version=4)
    original = nbformat.read(tmp_path / "solutions" / "99_stand_in.ipynb", as_version=4)
    assert [c.source for c in executed.cells] == [c.source for c in original.cells]  # no probe, nothing injected
    assert "['random init', 'rotation']" in executed.cells[-2].outputs[0]["text"]


def test_append_adds_a_seed_to_an_existing_file(tmp_path):
    stand_in_notebook(tmp_path / "solutions")
    out = tmp_path / "results.json"
    common = ["--mode", "grading", "--solutions", str(tmp_path / "solutions"), "--notebooks", "99_stand_in",
              "--no-executed"]
    assert run_reference.main([*common, "--out", str(out)]) == 0
    assert run_reference.main([*common, "--seeds", "1", "--append", str(out)]) == 0
    record = json.loads(out.read_text())
    assert [(r["notebook"], r["seed"]) for r in record["runs"]] == [("99_stand_in", 0), ("99_stand_in", 1)]
    assert len(record["commands"]) == 2


def test_a_failing_cell_is_named_and_the_other_notebooks_are_kept(tmp_path, capsys):
    stand_in_notebook(tmp_path / "solutions", name="98_broken", fail=True)
    stand_in_notebook(tmp_path / "solutions")
    out = tmp_path / "results.json"
    argv = ["--mode", "grading", "--solutions", str(tmp_path / "solutions"), "--out", str(out), "--no-executed"]
    assert run_reference.main([*argv, "--notebooks", "98_broken", "99_stand_in"]) == 1
    err = capsys.readouterr().err
    assert "cell 10" in err and "Part 2 - Comparison" in err and "broken on purpose" in err
    record = json.loads(out.read_text())
    assert [r["notebook"] for r in record["runs"]] == ["99_stand_in"]
    assert record["failures"][0]["notebook"] == "98_broken" and "broken on purpose" in record["failures"][0]["error"]


def test_full_mode_refuses_a_partial_pack(tmp_path):
    import numpy as np

    np.savez(tmp_path / "cifar10_uint8.npz", x_train=np.zeros((4, 3, 32, 32), np.uint8), y_train=np.zeros(4, np.uint8),
             x_test=np.zeros((2, 3, 32, 32), np.uint8), y_test=np.zeros(2, np.uint8))
    with pytest.raises(run_reference.RunError, match="not the full splits"):
        run_reference.prepare_data(tmp_path, None)
    assert run_reference.prepare_data(tmp_path, None, require_full=False)["train_images"] == 4


def test_grading_mode_timing_flags_stderr(tmp_path):
    path = stand_in_notebook(tmp_path, stderr=True)
    out = tmp_path / "timing.json"
    assert grading_mode.main([str(path), "--out", str(out)]) == 1  # stderr in grading mode is a defect
    record = json.loads(out.read_text())
    assert record["kind"] == "grading-timing" and record["machine"]["cpus"] >= 1
    (timing,) = record["notebooks"]
    assert timing["stderr_cells"] == [8] and timing["within_limit"]
    assert [s["title"] for s in timing["sections"]][-1] == "Part 2 - Comparison"


def test_drop_widget_outputs():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x")])
    widget = {notebook_run.WIDGET_MIME: {}, "text/plain": "0%"}
    nb.cells[0].outputs = [nbformat.v4.new_output("display_data", data=widget),
                           nbformat.v4.new_output("stream", name="stdout", text="kept\n")]
    assert notebook_run.drop_widget_outputs(nb) == 1
    assert [o.output_type for o in nb.cells[0].outputs] == ["stream"]


def test_set_reaches_settings_by_environment_and_constants_by_an_injected_cell(tmp_path):
    stand_in_notebook(tmp_path / "solutions")
    out = tmp_path / "results.json"
    argv = ["--mode", "grading", "--solutions", str(tmp_path / "solutions"), "--notebooks", "99_stand_in",
            "--out", str(out), "--executed-dir", str(tmp_path / "executed"),
            "--set", "WIDTH=5", "--set", "ABLATION_TEMPERATURES=0.05,0.3,1.0"]
    assert run_reference.main(argv) == 0
    (run,) = json.loads(out.read_text())["runs"]
    assert run["settings"]["WIDTH"] == 5                    # read from SELFSUP_WIDTH
    assert run["ablation"] == {"0.05": pytest.approx(0.505), "0.3": pytest.approx(0.53), "1.0": pytest.approx(0.6)}
    assert run["overrides"] == {"WIDTH": "5", "ABLATION_TEMPERATURES": "0.05,0.3,1.0"}
    assert run["injected"] == ["ABLATION_TEMPERATURES"]
    executed = nbformat.read(tmp_path / "executed" / "99_stand_in.ipynb", as_version=4)
    (cell,) = [c for c in executed.cells if notebook_run.INJECTED_TAG in c.metadata.get("tags", [])]
    assert "ABLATION_TEMPERATURES = (0.05, 0.3, 1.0)" in cell.source and "not course content" in cell.source


def test_an_empty_override_is_the_empty_tuple_and_a_typo_is_an_error(tmp_path, capsys):
    stand_in_notebook(tmp_path / "solutions")
    out = tmp_path / "results.json"
    common = ["--mode", "grading", "--solutions", str(tmp_path / "solutions"), "--notebooks", "99_stand_in",
              "--out", str(out), "--no-executed"]
    assert run_reference.main([*common, "--set", "ABLATION_TEMPERATURES="]) == 0
    assert json.loads(out.read_text())["runs"][0]["ablation"] == {}  # no temperature, nothing trained
    with pytest.raises(SystemExit):
        run_reference.main([*common, "--set", "ABLATION_TEMPERATURE=0.1"])
    assert "no notebook of this run" in capsys.readouterr().err


def test_append_accepts_other_ablation_settings_but_not_other_method_settings(tmp_path):
    stand_in_notebook(tmp_path / "solutions")
    out = tmp_path / "results.json"
    common = ["--mode", "grading", "--solutions", str(tmp_path / "solutions"), "--notebooks", "99_stand_in",
              "--no-executed"]
    assert run_reference.main([*common, "--out", str(out), "--set", "ABLATION_TEMPERATURES=0.1,0.2"]) == 0
    assert run_reference.main([*common, "--seeds", "1", "--append", str(out), "--set", "ABLATION_TEMPERATURES="]) == 0
    runs = json.loads(out.read_text())["runs"]
    assert [sorted(r.get("ablation") or {}) for r in runs] == [["0.1", "0.2"], []]
    assert run_reference.main([*common, "--seeds", "2", "--append", str(out), "--set", "WIDTH=4"]) == 1
    assert len(json.loads(out.read_text())["runs"]) == 2
    # the refused run is not lost: it is written beside the file
    (kept,) = tmp_path.glob("results-unmerged-99_stand_in-seed2.json")
    assert json.loads(kept.read_text())["runs"][0]["overrides"]["WIDTH"] == "4"


def test_append_accepts_another_notebook_with_its_own_settings(tmp_path):
    stand_in_notebook(tmp_path / "solutions")
    stand_in_notebook(tmp_path / "solutions", name="98_other")
    out = tmp_path / "results.json"
    common = ["--mode", "grading", "--solutions", str(tmp_path / "solutions"), "--no-executed"]
    assert run_reference.main([*common, "--notebooks", "99_stand_in", "--out", str(out)]) == 0
    assert run_reference.main([*common, "--notebooks", "98_other", "--append", str(out), "--set", "WIDTH=4"]) == 0
    runs = {r["notebook"]: r for r in json.loads(out.read_text())["runs"]}
    assert runs["98_other"]["overrides"] == {"WIDTH": "4"} and runs["99_stand_in"]["overrides"] == {}


def test_literal_values():
    assert run_reference.literal("") == ()
    assert run_reference.literal("0.05,0.1") == (0.05, 0.1)
    assert run_reference.literal("0.2,") == (0.2,)
    assert run_reference.literal("3") == 3
    with pytest.raises(run_reference.RunError, match="literal"):
        run_reference.literal("not python")
