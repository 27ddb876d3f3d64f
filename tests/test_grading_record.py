"""The grading vocabulary (``autograder/grading/record.py``): the JSON words, the record's JSON form
(an old ``results.json`` reads back and writes the same bytes), and the filters every module uses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autograder.grading.record import (CORE_KEYS, ExerciseResult, Flag, FlagKind, InKernel, Record, Replay, Status,
                                       Verdict, all_passed, scored)
from autograder.grading.report import dumps

#: A ``results.json`` written by the grader before this module existed: the batch corpus of
#: ``tests/test_grading_batch.py`` graded at commit 4f73c2c (18 inputs, every status but ``error``).
OLD_RESULTS = Path(__file__).parent / "data" / "results-2026-12-03.json"


def test_members_are_their_json_words():
    assert Status.GRADED == "graded" and json.dumps(Status.UNRECOGNISED) == '"unrecognised"'
    assert [str(s) for s in Verdict] == ["pass", "fail", "timeout", "crash", "unchecked"]
    assert InKernel("not run") is InKernel.NOT_RUN and Replay("raised") is Replay.RAISED
    assert f"{FlagKind.NOT_RECHECKED}" == "not_rechecked"


def test_only_graded_and_repaired_carry_points():
    assert {s for s in Status if s.scored} == {Status.GRADED, Status.REPAIRED}
    records = [{"status": s.value} for s in Status]
    assert [r["status"] for r in scored(records)] == ["graded", "repaired"]
    with pytest.raises(ValueError):
        scored([{"status": "passed"}])  # a word outside the vocabulary is refused, not ignored


def test_replay_evidence_is_fail_or_raised():
    assert {r for r in Replay if r.evidence} == {Replay.FAIL, Replay.RAISED}


@pytest.mark.parametrize("status, points, full", [("pass", 2.0, True), ("fail", 0.0, False), ("timeout", 0.0, False),
                                                  ("unchecked", 2.0, True), ("unchecked", 1.0, False)])
def test_full_marks(status, points, full):
    assert ExerciseResult(points, 2.0, Verdict(status), "m").full_marks is full


def test_all_passed():
    ok = Record("a.ipynb", exercises={"t": ExerciseResult(1.0, 1.0, Verdict.PASS, "")}).to_json()
    unchecked = Record("b.ipynb", exercises={"t": ExerciseResult(1.0, 1.0, Verdict.UNCHECKED, "")}).to_json()
    assert all_passed([ok]) and not all_passed([]) and not all_passed([ok, unchecked])
    assert not all_passed([ok, Record("c.ipynb", status=Status.UNREADABLE).to_json()])


def test_new_record_has_the_core_keys_in_order():
    assert tuple(Record("x.ipynb").to_json()) == CORE_KEYS
    flag = Flag(FlagKind.DUPLICATE, "two files")
    assert flag.to_json() == {"kind": "duplicate", "exercise": None, "message": "two files"}
    assert Flag.from_json(flag.to_json()) == flag


def test_old_results_json_reads_back_byte_for_byte():
    """Every submission of a results.json written before the typed records round-trips exactly."""
    data = json.loads(OLD_RESULTS.read_text(encoding="utf-8"))
    assert {r["status"] for r in data["submissions"]} >= {"graded", "unreadable"}
    for submission in data["submissions"]:
        record = Record.from_json(submission)
        assert dumps(record.to_json()) == dumps(submission)
        for test, ex in submission["exercises"].items():
            assert record.exercises[test].to_json() == ex
