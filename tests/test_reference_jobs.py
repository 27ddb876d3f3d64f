"""benchmarks/reference_jobs.py: the reference run's jobs, their plan within a call's budget, and
what a call leaves in $OUT.

Every results file and notebook here is a SYNTHETIC fixture or a TINY STAND-IN notebook (invented
numbers, no training), run in grading mode or with tiny models: the checks are about which jobs
run, in which order, and what comes back, never about the numbers.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks/ scripts live at the repo root

from benchmarks import reference_jobs as J  # noqa: E402
from selfsup import data  # noqa: E402
from test_run_reference import stand_in_notebook  # noqa: E402

SYNTHETIC = "SYNTHETIC test fixture: invented numbers, not a measurement"


def synthetic_record(nb1=200.0, nb2=230.0, ablation=120.0, temperatures=4) -> dict:
    """A SYNTHETIC reference run (only what the estimates read), labelled as such."""
    def run(notebook, seconds, sections, **extra):
        return {"notebook": notebook, "seed": 0, "seconds": seconds, "kernel_startup_seconds": 2.0,
                "sections": sections, "methods": {"random init": {"probe_acc": 0.5}}, **extra}

    return {"kind": "reference-run", "schema": 2, "mode": "full", "stand_in": None, "note": SYNTHETIC,
            "date": "2000-01-01", "machine": {"gpu": "GPU"}, "data": {},
            "runs": [run("01_pretext_tasks", nb1, [{"title": "Part 1", "seconds": nb1}]),
                     run("02_simclr", nb2, [{"title": "Part 4", "seconds": nb2 - ablation},
                                            {"title": "Part 8 - Bonus (not graded): the temperature",
                                             "seconds": ablation}],
                         ablation={str(t): 0.5 for t in range(temperatures)})]}


def test_jobs_parse_and_name_themselves():
    assert [str(J.Job.parse(j)) for j in J.DEFAULT_JOBS] == list(J.DEFAULT_JOBS)
    assert J.Job.parse("nb2:0").ablation and J.Job.parse("nb2:1").ablation and not J.Job.parse("nb2:2").ablation
    assert not J.Job.parse("nb1:0").ablation
    for bad in ("nb4:0", "nb1", "nb1:x"):
        with pytest.raises(J.JobError, match="unknown job"):
            J.Job.parse(bad)


def test_estimates_come_from_the_newest_record_and_scale_the_ablation(tmp_path):
    (tmp_path / "2000-01-01-gpu.json").write_text(json.dumps(synthetic_record()))
    known = J.estimates(tmp_path)
    assert known["nb1"]["seconds"] == 202.0                       # notebook + kernel start-up
    assert known["nb2"]["seconds"] == 230.0 + 2.0 - 120.0         # without its ablation
    assert known["nb2-ablation-per-temperature"]["seconds"] == 30.0
    assert known["nb3"]["source"].startswith("ASSUMED")
    six = J._temperatures(J.ABLATION_TEMPERATURES)
    assert J.job_seconds(J.Job.parse("nb2:0"), known) == pytest.approx(112.0 + 30.0 * six + J.JOB_OVERHEAD_SECONDS)
    assert J.job_seconds(J.Job.parse("nb2:2"), known) == pytest.approx(112.0 + J.JOB_OVERHEAD_SECONDS)
    given = J.estimates(tmp_path, {"nb1": 50.0})
    assert given["nb1"] == {"seconds": 50.0, "source": "given (--estimate)"}


def test_a_kind_without_any_estimate_is_an_error(tmp_path):
    with pytest.raises(J.JobError, match="--estimate nb1=SECONDS"):
        J.job_seconds(J.Job.parse("nb1:0"), J.estimates(tmp_path))


def test_the_plan_keeps_the_order_and_splits_into_calls():
    known = {"nb1": {"seconds": 85.0}, "nb2": {"seconds": 85.0}, "nb3": {"seconds": 185.0},
             "nb2-ablation-per-temperature": {"seconds": 0.0}}
    jobs = [J.Job.parse(j) for j in J.DEFAULT_JOBS]
    fits, left = J.plan(jobs, known, budget=500.0)
    assert [str(j) for j, _ in fits] == ["nb1:0", "nb2:0", "nb1:1", "nb2:1", "nb1:2"]  # 5 x 100 s
    assert [str(j) for j, _ in left] == ["nb2:2", "nb3"]
    text = J.plan_text(jobs, known, budget=500.0, setup=0.0)
    assert "call 1 (500 s of 500 s, 0 s setup): nb1:0 100 s" in text and "call 2 (300 s" in text
    # a job larger than a whole call is named, not planned
    assert "nb3 alone needs 200 s" in J.plan_text([J.Job("nb3")], known, budget=150.0, setup=0.0)


def test_a_job_that_does_not_fit_is_left_for_the_next_call(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    known = {"nb1": {"seconds": 100.0}}
    status = J.run([J.Job.parse("nb1:0"), J.Job.parse("nb1:1")], out, budget=50.0, known=known, extra={},
                   results_file=tmp_path / "work" / "reference.json", started=time.time())
    assert status == 0 and not (tmp_path / "work" / "reference.json").exists()
    log = (out / "log.txt").read_text()
    assert "Left for the next call: nb1:0 nb1:1" in log and "finished: nothing" in log


@pytest.mark.integration
def test_a_call_runs_its_jobs_and_returns_each_result_in_out(tmp_path):
    """Stand-in notebooks 01 and 02 in grading mode, a stand-in 03 with tiny models: the whole call."""
    solutions = tmp_path / "solutions"
    for name in ("01_pretext_tasks", "02_simclr"):
        stand_in_notebook(solutions, name=name)
    nb3 = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Stand-in Notebook 3 (test fixture)"),
        nbformat.v4.new_code_cell("from selfsup import runtime\nSEED = 0\nDEVICE = runtime.setup(SEED)"),
        nbformat.v4.new_markdown_cell("## Part A - Something"),
        nbformat.v4.new_code_cell("TRAIN_SIZE = runtime.setting('TRAIN_SIZE', full=10, grading=10)\n"
                                  "STAND_INS = False\nprint(TRAIN_SIZE)")],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb3, solutions / "03_mae_dinov2.ipynb")
    pack = tmp_path / "pack"
    pack.mkdir()
    x, y = data.synthetic_cifar(40, seed=1)  # SYNTHETIC images: only the code path
    np.savez(pack / "cifar10_uint8.npz", x_train=x.numpy(), y_train=y.numpy(), x_test=x.numpy(), y_test=y.numpy())
    executed = tmp_path / "executed"
    common = ["--solutions", str(solutions)]
    extra = {"nb1": [*common, "--mode", "grading", "--executed-dir", str(executed)],
             "nb2": [*common, "--mode", "grading", "--executed-dir", str(executed)],
             "nb3": [*common, "--smoke", "--model-size", "tiny", "--data", str(pack), "--set", "TRAIN_SIZE=5"]}
    known = {kind: {"seconds": 1.0} for kind in ("nb1", "nb2", "nb3")}
    out = tmp_path / "out"
    jobs = [J.Job.parse(j) for j in ("nb1:0", "nb2:0", "nb2:2", "nb3")]
    status = J.run(jobs, out, budget=900.0, known=known, extra=extra, results_file=tmp_path / "work" / "reference.json",
                   started=time.time(), executed_dirs=(executed,))
    assert status == 0, (out / "log.txt").read_text()
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["executed/01_pretext_tasks.ipynb", "executed/02_simclr.ipynb", "log.txt",
                     "notebook3-timing.json", "reference.json"]  # at most 8 come back from the device tool
    record = json.loads((out / "reference.json").read_text())
    runs = {(r["notebook"], r["seed"]): r for r in record["runs"]}
    assert set(runs) == {("01_pretext_tasks", 0), ("02_simclr", 0), ("02_simclr", 2)}
    assert sorted(runs[("02_simclr", 0)]["ablation"], key=float) == J.ABLATION_TEMPERATURES.split(",")
    assert runs[("02_simclr", 2)]["ablation"] == {}  # seed 2 skips the ablation
    assert runs[("02_simclr", 2)]["executed"] is None
    timing = json.loads((out / "notebook3-timing.json").read_text())
    assert timing["settings"]["TRAIN_SIZE"] == 5
    assert [s["title"] for s in timing["sections"]][-1] == "Part A - Something"
    assert "finished: nb1:0 nb2:0 nb2:2 nb3" in (out / "log.txt").read_text()


def test_merge_joins_the_calls_of_one_commit(tmp_path, capsys):
    first = synthetic_record()
    first.update(git={"commit": "c0ffee", "dirty": False}, commands=["call 1"])
    second = json.loads(json.dumps(first))
    for run in second["runs"]:
        run["seed"] = 1
    second["commands"] = ["call 2"]
    paths = [tmp_path / "call1.json", tmp_path / "call2.json"]
    for path, record in zip(paths, (first, second)):
        path.write_text(json.dumps(record))
    out = tmp_path / "results" / "merged.json"
    assert J.main(["merge", *map(str, paths), "--out", str(out)]) == 0
    merged = json.loads(out.read_text())
    assert [(r["notebook"], r["seed"]) for r in merged["runs"]] == [
        ("01_pretext_tasks", 0), ("01_pretext_tasks", 1), ("02_simclr", 0), ("02_simclr", 1)]
    assert merged["commands"] == ["call 1", "call 2"] and merged["git"] == {"commit": "c0ffee", "dirty": False}
    second["git"]["commit"] = "decade"  # a call from another commit does not join
    paths[1].write_text(json.dumps(second))
    assert J.main(["merge", *map(str, paths), "--out", str(out)]) == 2
    assert "of commit decade to a file of commit c0ffee" in capsys.readouterr().err
