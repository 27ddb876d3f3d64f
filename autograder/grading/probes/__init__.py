"""Probe definitions of the re-check, one module per notebook (the extension point).

A probe module (``probes/<notebook>.py``) declares:

* ``ASSIGNMENT``: the notebook it checks, e.g. ``"01_pretext_tasks"``;
* ``CONTEXT``: trusted code run before the student's cells, for names the exercise cells may
  use that the notebook defines outside them (the imports of the release notebook are added
  automatically);
* ``EXERCISES``: one :class:`Exercise` per graded test cell;
* optionally ``WARM_UP``: trusted code the sandbox zygote runs once before it forks (to import
  slow libraries' internals, e.g. by building a stand-in model).

An :class:`Exercise` has three functions, and the split is what makes the re-check
trustworthy:

* ``inputs(seed) -> dict`` builds the probe inputs from a seed the grader draws at grading time.
  It runs twice, in the sandbox before any student code, and in the grader.
* ``run(objects, inputs) -> dict`` runs **in the sandbox**: it calls the student's objects on
  the inputs and returns plain outputs (tensors, arrays, numbers), which the sandbox writes to
  an ``.npz`` file. It may fail an exercise (a crash, a wrong type) but can never pass one.
* ``judge(outputs, inputs) -> Verdict`` runs **in the grader** on those arrays (loaded with
  ``allow_pickle=False``) and decides, comparing with the reference implementations of
  ``autograder/checks``. Its failure messages name the likely mistake, like the checks do.

A notebook without a probe module is still graded, from the in-kernel pass only, and every
one of its exercises is reported as "not re-checked".
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import numpy as np
import torch

from selfsup.checks._core import CheckFailed, calling, expect

__all__ = ["CheckFailed", "Exercise", "Verdict", "array", "calling", "expect", "for_assignment", "integer",
           "judged", "module_names", "read", "stacked"]


@dataclass(frozen=True)
class Verdict:
    """The grader's decision on one exercise."""

    passed: bool
    message: str


@dataclass(frozen=True)
class Exercise:
    """The re-check of one graded test cell.

    Attributes:
        test: the test cell's grade id, e.g. ``"test_rotation_dataset"``.
        names: what the student defines, e.g. ``("RotationDataset",)``.
        inputs: ``seed -> inputs`` (deterministic).
        run: ``(objects by name, inputs) -> outputs`` (sandbox side).
        judge: ``(outputs as numpy arrays, inputs) -> Verdict`` (grader side); it may raise
            :class:`CheckFailed`, which is a failed verdict with that message.
    """

    test: str
    names: tuple[str, ...]
    inputs: Callable[[int], dict]
    run: Callable[[dict, dict], dict]
    judge: Callable[[dict, dict], Verdict | None]


def judged(exercise: Exercise, outputs: dict[str, np.ndarray], inputs: dict) -> Verdict:
    """Run ``exercise.judge``; a :class:`CheckFailed` or a malformed output is a failed verdict."""
    try:
        verdict = exercise.judge(outputs, inputs)
    except CheckFailed as failure:
        return Verdict(False, str(failure))
    except (KeyError, ValueError, TypeError, IndexError, RuntimeError) as error:
        return Verdict(False, f"[{exercise.names[0]}] the re-check could not use the outputs of your code "
                              f"({type(error).__name__}: {error}).")
    return verdict or Verdict(True, f"[{exercise.names[0]}] passed the re-check.")


# ---------------------------------------------------------------------------- sandbox-side helpers
def array(value: Any, exercise: str, name: str, shape: tuple | None = None) -> torch.Tensor:
    """A plain float tensor copy of a student's tensor, or :class:`CheckFailed`.

    Tensor subclasses lose their overrides here (``__torch_function__``, ``__eq__``): the
    grader compares numbers, never objects.
    """
    expect(isinstance(value, torch.Tensor), exercise, f"{name} should be a torch.Tensor, got {type(value).__name__}.")
    with torch._C.DisableTorchFunctionSubclass():
        plain = value.detach().cpu().clone()
    expect(plain.is_floating_point(), exercise, f"{name} should be a float tensor, got {plain.dtype}.")
    if shape is not None:
        expect(tuple(plain.shape) == tuple(shape), exercise,
               f"{name} should have shape {tuple(shape)}, got {tuple(plain.shape)}.")
    return plain


def integer(value: Any, exercise: str, name: str) -> int:
    """A Python int from an int, a NumPy integer or a one-element integer tensor, or :class:`CheckFailed`."""
    if isinstance(value, torch.Tensor):
        with torch._C.DisableTorchFunctionSubclass():
            plain = value.detach().cpu()
            ok = plain.numel() == 1 and not plain.is_floating_point() and plain.dtype != torch.bool
            expect(ok, exercise, f"{name} should be a single integer, got a tensor of shape {tuple(plain.shape)} "
                                 f"and dtype {plain.dtype}.")
            return int(plain.reshape(-1)[0].item())
    if isinstance(value, np.integer):
        return int(value)
    expect(isinstance(value, int) and not isinstance(value, bool), exercise,
           f"{name} should be an int, got {type(value).__name__}.")
    return int.__index__(value)


def read(dataset, index: int, exercise: str) -> tuple:
    """``dataset[index]``, which must be a pair."""
    with calling(exercise, f"dataset[{index}]"):
        item = dataset[index]
    expect(isinstance(item, tuple) and len(item) == 2, exercise,
           f"dataset[{index}] should return a tuple (x, label), got {type(item).__name__}.")
    return item


def stacked(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Tensors of one shape stacked (the shapes were checked by :func:`array`)."""
    return torch.stack(tensors) if tensors else torch.zeros(0)


# ---------------------------------------------------------------------------- registry
def _declared_assignment(path: Path) -> str | None:
    """The string a module assigns to ``ASSIGNMENT``, read without importing it (imports can be slow)."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "ASSIGNMENT" for t in node.targets):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                return node.value.value
    return None


def module_names() -> dict[str, str]:
    """``{assignment: importable module name}`` of every probe module of this package."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        assignment = _declared_assignment(Path(__path__[0]) / f"{info.name}.py")
        if assignment:
            found[assignment] = f"{__name__}.{info.name}"
    return found


def for_assignment(assignment: str) -> ModuleType | None:
    """The probe module of ``assignment``, or None if it has none yet."""
    name = module_names().get(assignment)
    return importlib.import_module(name) if name else None
