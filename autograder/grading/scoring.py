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

from .execute import KERNEL_DIED, NOT_RUN, TIMEOUT
from .recheck import PASS, UNCHECKED, Outcome


def graded_cells(release: nbformat.NotebookNode) -> tuple[dict[str, float], dict[str, float]]:
    """``({test cell id: points}, {answer cell id: points})`` of a release notebook, in order."""
    tests, answers = {}, {}
    for cell in release.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            (answers if meta.get("solution") else tests)[meta["grade_id"]] = float(meta.get("points", 0))
    return tests, answers


def in_kernel_results(autograded: nbformat.NotebookNode | None, scores: dict | None) -> dict[str, str]:
    """What the in-kernel pass said per test cell: ``pass``, ``fail``, ``not run`` or ``unavailable``."""
    if autograded is None or scores is None:
        return {}
    out = {}
    for cell in autograded.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid not in scores or cell.cell_type != "code":
            continue
        enames = {o.get("ename") for o in cell.get("outputs", []) if o.get("output_type") == "error"}
        score = scores[gid]
        if enames & {NOT_RUN}:
            out[gid] = "not run"
        elif score.max_score > 0 and score.score >= score.max_score:
            out[gid] = "pass"
        else:
            out[gid] = "timeout" if enames & {TIMEOUT, KERNEL_DIED} else "fail"
    return out


def combine(tests: dict[str, float], outcomes: dict[str, Outcome], in_kernel: dict[str, str],
            in_kernel_points: dict[str, float]) -> tuple[dict[str, dict], list[dict]]:
    """Per test cell ``{points, max, status, message, in_kernel}`` and the flags of a submission."""
    exercises, flags = {}, []
    for test, maximum in tests.items():
        outcome = outcomes.get(test, Outcome(UNCHECKED, "not re-checked"))
        kernel = in_kernel.get(test, "unavailable")
        if outcome.status == UNCHECKED:
            points = float(in_kernel_points.get(test, 0.0))
            flags.append({"kind": "not_rechecked", "exercise": test,
                          "message": f"{test}: {outcome.message}; the points come from the in-notebook test only"})
        else:
            points = maximum if outcome.passed else 0.0
        if kernel == "pass" and outcome.status not in (PASS, UNCHECKED):
            if outcome.replay in ("fail", "raised"):
                what = "fail that very test" if outcome.replay == "fail" else "raise or return malformed outputs in that very test"
                flags.append({"kind": "tampering", "exercise": test,
                              "message": f"{test}: possible tampering: the test passed inside the notebook, but the "
                                         f"same exercise cells {what}, on the same inputs, in the "
                                         f"re-check ({outcome.replay_message})"})
            else:
                flags.append({"kind": "difference", "exercise": test,
                              "message": f"{test}: the test inside the notebook passed, but the re-check, which "
                                         f"probes further, did not: {outcome.message}"})
        elif kernel in ("fail", "timeout") and outcome.passed:
            flags.append({"kind": "disagreement", "exercise": test,
                          "message": f"{test}: the test failed inside the notebook but the re-check passed; points "
                                     "given (an error elsewhere in the notebook, output on stderr, or a time-out?)"})
        exercises[test] = {"points": points, "max": maximum, "status": outcome.status, "message": outcome.message,
                           "in_kernel": kernel}
    return exercises, flags
