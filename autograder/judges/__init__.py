"""The grader's judgement of every exercise; this package never reaches a process that runs student code.

An exercise is defined once, in the student-facing checks (:mod:`selfsup.checks`): its inputs,
how the student's object is run on them, and its public judge (types, shapes, invariants,
closed forms). The grader adds, for the exercises whose answer is not a closed form, a
comparison with the instructor's reference implementation (one module per notebook, each
with a ``REFERENCE_JUDGES`` dict). A verdict is the public judge followed by that comparison,
both on the outputs the re-check brought back from the student's process as plain arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from selfsup.checks import MODULES, CheckFailed, Exercise
from selfsup.checks._core import conform, outputs_of, plain

from . import mae_dinov2, simclr

#: ``{test id: reference judge}``: ``(outputs, inputs) -> None``, raising CheckFailed.
REFERENCE_JUDGES: dict[str, Callable[[dict, dict], None]] = {**simclr.REFERENCE_JUDGES, **mae_dinov2.REFERENCE_JUDGES}


@dataclass(frozen=True)
class Verdict:
    """The grader's decision on one exercise."""

    passed: bool
    message: str


def exercises(assignment: str) -> list[Exercise]:
    """The graded exercises of a notebook (empty for a notebook the checks do not know)."""
    module = MODULES.get(assignment)
    return list(module.EXERCISES) if module else []


def exercise(test: str) -> Exercise:
    """The exercise of a test cell id. Raises KeyError if no notebook has it."""
    return next(e for module in MODULES.values() for e in module.EXERCISES if e.test == test)


def schema(test: str, inputs: dict) -> dict:
    """Everything the judge of ``test`` may see on ``inputs``: ``run``'s outputs and, for an
    exercise with a replay, the replay's (the recorded programs' prefixes are not included)."""
    ex = exercise(test)
    fields = {key: spec for key, spec in ex.schema(inputs).items() if spec is not None}
    if ex.replay_schema is not None:
        fields.update(ex.replay_schema(inputs))
    return fields


def judged(test: str, outputs: dict, inputs: dict, reference: bool = True) -> Verdict:
    """The verdict on outputs of the student's code: the public judge, then (``reference``) the grader's comparison.

    ``outputs`` are what the judge sees: ``run``'s outputs (from the process that ran the
    student's code) with, for an exercise whose network is replayed, the replay's outputs (from
    a process that never ran student code) in place of the recorded programs. Nothing reaches a
    judge before :func:`~selfsup.checks._core.conform` has admitted it against
    :func:`schema`: exactly the keys, shapes and kinds that ``inputs`` call for, so that no
    comparison runs on an empty or broadcast array. A :class:`CheckFailed` is a failed verdict
    with its message; anything else a judge raises on the outputs fails with a message instead of
    stopping the grader.
    """
    ex = exercise(test)
    try:
        conform(outputs, schema(test, inputs), ex.name)
        ex.judge(outputs, inputs)
        if reference and test in REFERENCE_JUDGES:
            REFERENCE_JUDGES[test](outputs, inputs)
    except CheckFailed as failure:
        return Verdict(False, str(failure))
    except (KeyError, ValueError, TypeError, IndexError, RuntimeError, AttributeError) as error:
        return Verdict(False, f"[{ex.name}] the re-check could not use the outputs of your code "
                              f"({type(error).__name__}: {error}).")
    return Verdict(True, f"[{ex.name}] passed the re-check.")


def in_process(test: str, obj, seed: int) -> Verdict:
    """The re-check's verdict without its process boundaries: for tests and benchmarks, never for grading."""
    ex = exercise(test)
    inputs = ex.inputs(seed)
    try:
        outputs = outputs_of(ex, obj, ex.shared_inputs(inputs))
        conform(outputs, ex.schema(inputs), ex.name)
        outputs = replay_outputs(ex, outputs, inputs)
    except CheckFailed as failure:
        return Verdict(False, str(failure))
    except Exception as error:  # noqa: BLE001 - what the sandbox reports for code that raises outside a guard
        return Verdict(False, f"[{ex.name}] raised {type(error).__name__}: {error}")
    return judged(test, outputs, inputs)


def replay_outputs(ex: Exercise, outputs: dict, inputs: dict) -> dict:
    """``run``'s outputs without the recorded programs, and the replay's outputs (what :func:`judged` takes)."""
    if ex.replay is None:
        return outputs
    programs = tuple(f"{key}." for key, spec in ex.schema(inputs).items() if spec is None)
    kept = {key: value for key, value in outputs.items() if not key.startswith(programs)}
    return {**kept, **plain(ex.replay(outputs, inputs))}
