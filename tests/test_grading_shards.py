"""Sharding + merging gives the grades of a single run; the command line and the per-repository mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import grading_corpus as corpus
import pytest

from autograder.grading import batch
from autograder.grading.limits import Limits
from autograder.grading.merge import merge

pytestmark = pytest.mark.integration

LIMITS = Limits(cell_timeout=20, notebook_timeout=180, memory_mb=2000, recheck_timeout=15)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("class")
    (folder / "alice").mkdir()
    (folder / "alice" / "Copy of 01_pretext_tasks.ipynb").write_text(corpus.dumps(corpus.correct()))
    (folder / "bob").mkdir()
    (folder / "bob" / "01_pretext_tasks (2).ipynb").write_text(corpus.dumps(corpus.slim(corpus.release())))
    (folder / "carol").mkdir()
    (folder / "carol" / "01_pretext_tasks.ipynb").write_bytes(b"")
    (folder / "notes.txt").write_text("not a notebook")
    return folder


def _grade(folder, out, shard=(1, 1)):
    return batch.run(batch.Options(paths=[str(folder)], out=out, jobs=2, probe_seed=7, shard=shard, limits=LIMITS))


def test_shards_merged_give_the_grades_of_a_single_run(folder, tmp_path):
    single = _grade(folder, tmp_path / "single")
    with ThreadPoolExecutor(2) as pool:  # shards run side by side, as CI jobs do
        first, second = pool.map(lambda i: _grade(folder, tmp_path / f"shard{i}", (i, 2)), (1, 2))
    assert sorted(r["key"] for r in first + second) == sorted(r["key"] for r in single)
    assert not {r["key"] for r in first} & {r["key"] for r in second}
    merge([tmp_path / "shard1", tmp_path / "shard2"], tmp_path / "merged")
    assert (tmp_path / "merged" / "grades.csv").read_text() == (tmp_path / "single" / "grades.csv").read_text()
    assert json.loads((tmp_path / "merged" / "results.json").read_text())["submissions"] == \
        json.loads((tmp_path / "single" / "results.json").read_text())["submissions"]
    assert (tmp_path / "merged" / "feedback" / "alice" / f"{corpus.NAME}.html").exists()
    students = {r["student"]: r["total"] for r in single if r["status"] == "graded"}
    assert students == {"alice": sum(corpus.POINTS.values()), "bob": 0.0}  # ids from the per-student folders


def _cli(*args, cwd=None):
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=600)


def test_per_repository_mode_exit_code(folder, tmp_path):
    """``--student`` and ``--strict``, as the classroom workflow runs them (in this process: the CLI's
    own start-up is tested below)."""
    from autograder.grading.report import console_report as report

    notebook = folder / "alice" / "Copy of 01_pretext_tasks.ipynb"
    records = batch.run(batch.Options(paths=[str(notebook)], out=tmp_path / "repo", student="Alice Repo",
                                      limits=LIMITS))
    assert [(r["student"], r["total"]) for r in records] == [("alice-repo", sum(corpus.POINTS.values()))]
    assert report(records, tmp_path / "repo", strict=True, quiet=True) == 0
    assert (tmp_path / "repo" / "feedback" / "alice-repo" / f"{corpus.NAME}.html").exists()
    failed = dict(records[0], exercises={**records[0]["exercises"], "test_jigsaw_dataset": {
        **records[0]["exercises"]["test_jigsaw_dataset"], "status": "fail", "points": 0.0}})
    assert report([failed], tmp_path / "repo", strict=True, quiet=True) == 1


def test_command_line_usage_and_strict_exit_code(folder, tmp_path):
    assert _cli("grade", "--help").returncode == 0
    failing = _cli("grade", str(folder / "carol"), "--out", str(tmp_path / "empty"), "--strict")
    assert failing.returncode == 1 and "1 unreadable" in failing.stdout
    bad = _cli("grade", "x.ipynb", "--out", "/tmp/never", "--shard", "3/2")
    assert bad.returncode == 2 and "--shard" in bad.stderr
    missing = _cli("grade", "/no/such/folder", "--out", "/tmp/never")
    assert missing.returncode == 2 and "no such file" in missing.stderr
