"""Points from the two passes: the re-check decides, the in-kernel pass is compared with it.

For each autograded test cell:

* the points are the cell's maximum if the re-check passed and 0 otherwise;
* a notebook the checks do not know (``unchecked``) keeps nbgrader's in-kernel score, with a flag;
* when the in-kernel test passed and the re-check did not, the re-check replayed the notebook's
  own test (:mod:`.recheck`):

  - **possible tampering** is flagged only on evidence: the same exercise cells fail the same
    test on the same inputs in the re-check, or raise there, or send outputs that are not what
    the exercise returns (a rebound name, a monkeypatched check, an input transformer, an object
    that compares equal to anything, a forged reply);
  - otherwise it is a plain **difference**: the in-notebook test is weaker than the re-check's
    probes (other sizes, other seeds, a comparison with the reference);

* a **disagreement** note is added when the in-kernel test failed but the re-check passed
  (an error elsewhere in the notebook, output on stderr, a time-out): the points are given.
"""

from __future__ import annotations

import nbformat

from .. import source
from .execute import KERNEL_DIED, NOT_RUN, TIMEOUT
from .recheck import Outcome
from .record import ExerciseResult, Flag, FlagKind, InKernel, Replay, Verdict


def graded_cells(release: nbformat.NotebookNode) -> tuple[dict[str, float], dict[str, float]]:
    """``({test cell id: points}, {answer cell id: points})`` of a release notebook, in order."""
    graded = source.graded_cells(release)
    return ({g.grade_id: g.points for g in graded if g.kind == "tests"},
            {g.grade_id: g.points for g in graded if g.kind == "answer"})


def in_kernel_results(autograded: nbformat.NotebookNode | None, scores: dict | None) -> dict[str, InKernel]:
    """What the in-kernel pass said per test cell (a cell missing here was :attr:`InKernel.UNAVAILABLE`)."""
    if autograded is None or scores is None:
        return {}
    out = {}
    for cell in autograded.cells:
        gid = source.role(cell).grade_id
        if gid not in scores or cell.cell_type != "code":
            continue
        enames = {o.get("ename") for o in cell.get("outputs", []) if o.get("output_type") == "error"}
        score = scores[gid]
        if enames & {NOT_RUN}:
            out[gid] = InKernel.NOT_RUN
        elif score.max_score > 0 and score.score >= score.max_score:
            out[gid] = InKernel.PASS
        else:
            out[gid] = InKernel.TIMEOUT if enames & {TIMEOUT, KERNEL_DIED} else InKernel.FAIL
    return out


def combine(tests: dict[str, float], outcomes: dict[str, Outcome], in_kernel: dict[str, str],
            in_kernel_points: dict[str, float]) -> tuple[dict[str, dict], list[dict]]:
    """Per test cell its :class:`.ExerciseResult` and the :class:`.Flag` s of a submission (JSON forms)."""
    exercises, flags = {}, []
    for test, maximum in tests.items():
        outcome = outcomes.get(test, Outcome(Verdict.UNCHECKED, "not re-checked"))
        kernel = InKernel(in_kernel.get(test, InKernel.UNAVAILABLE))
        if outcome.status == Verdict.UNCHECKED:
            points = float(in_kernel_points.get(test, 0.0))
            flags.append(Flag(FlagKind.NOT_RECHECKED, f"{test}: {outcome.message}; the points come from the "
                                                      "in-notebook test only", test))
        else:
            points = maximum if outcome.passed else 0.0
        if kernel == InKernel.PASS and outcome.status not in (Verdict.PASS, Verdict.UNCHECKED):
            if outcome.replay.evidence:
                what = ("fail that very test" if outcome.replay == Replay.FAIL
                        else "raise or return malformed outputs in that very test")
                flags.append(Flag(FlagKind.TAMPERING, f"{test}: possible tampering: the test passed inside the "
                                                      f"notebook, but the same exercise cells {what}, on the same "
                                                      f"inputs, in the re-check ({outcome.replay_message})", test))
            else:
                flags.append(Flag(FlagKind.DIFFERENCE, f"{test}: the test inside the notebook passed, but the "
                                                       f"re-check, which probes further, did not: {outcome.message}",
                                  test))
        elif kernel in (InKernel.FAIL, InKernel.TIMEOUT) and outcome.passed:
            flags.append(Flag(FlagKind.DISAGREEMENT, f"{test}: the test failed inside the notebook but the re-check "
                                                     "passed; points given (an error elsewhere in the notebook, "
                                                     "output on stderr, or a time-out?)", test))
        exercises[test] = ExerciseResult(points, maximum, Verdict(outcome.status), outcome.message, kernel).to_json()
    return exercises, [f.to_json() for f in flags]
