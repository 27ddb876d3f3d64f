"""Points and flags from the two passes (``autograder.grading.scoring.combine``), over the whole
table of in-kernel results x re-check outcomes x replay evidence."""

from __future__ import annotations

import itertools

import pytest

from autograder.grading.recheck import Outcome
from autograder.grading.scoring import combine

IN_KERNEL = ("pass", "fail", "timeout", "not run", "unavailable")
RECHECK = ("pass", "fail", "timeout", "crash", "unchecked")
REPLAY = ("not run", "pass", "fail", "raised", "error")


def expected(kernel: str, status: str, replay: str) -> tuple[float, list[str]]:
    """The rule, written out: the re-check decides; the in-kernel pass only adds flags."""
    if status == "unchecked":
        return 1.5, ["not_rechecked"]  # the in-notebook points stand, flagged
    points = 3.0 if status == "pass" else 0.0
    if kernel == "pass" and status != "pass":
        return points, ["tampering" if replay in ("fail", "raised") else "difference"]
    if kernel in ("fail", "timeout") and status == "pass":
        return points, ["disagreement"]
    return points, []


@pytest.mark.parametrize("kernel, status, replay", list(itertools.product(IN_KERNEL, RECHECK, REPLAY)))
def test_every_combination(kernel, status, replay):
    outcome = Outcome(status, f"message {status}", replay, "replay message")
    exercises, flags = combine({"t": 3.0}, {"t": outcome}, {"t": kernel}, {"t": 1.5})
    points, kinds = expected(kernel, status, replay)
    assert exercises["t"]["points"] == points
    assert [f["kind"] for f in flags] == kinds
    assert exercises["t"] | {"message": None} == {"points": points, "max": 3.0, "status": status, "message": None,
                                                  "in_kernel": kernel}


def test_tampering_says_what_the_replay_showed():
    _, flags = combine({"t": 2.0}, {"t": Outcome("fail", "m", "raised", "it raised")}, {"t": "pass"}, {})
    assert "raise or return malformed outputs" in flags[0]["message"] and "it raised" in flags[0]["message"]
    _, flags = combine({"t": 2.0}, {"t": Outcome("fail", "m", "fail", "wrong")}, {"t": "pass"}, {})
    assert "fail that very test" in flags[0]["message"]


def test_a_missing_outcome_is_unchecked_and_keeps_the_in_notebook_points():
    exercises, flags = combine({"t": 2.0}, {}, {"t": "pass"}, {"t": 2.0})
    assert exercises["t"]["points"] == 2.0 and flags[0]["kind"] == "not_rechecked"
