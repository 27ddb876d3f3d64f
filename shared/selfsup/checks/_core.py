"""What every check shares: a failure type that names the exercise, and a guard around calls
into student code."""

from __future__ import annotations

import contextlib

import torch


class CheckFailed(AssertionError):
    """A check failed. The message names the exercise and the likely mistake."""


def expect(condition: bool, exercise: str, message: str) -> None:
    """Raise :class:`CheckFailed` with ``[exercise] message`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(f"[{exercise}] {message}")


@contextlib.contextmanager
def calling(exercise: str, what: str):
    """Run student code; turn any exception into a :class:`CheckFailed` that names the exercise.

    Example:
        >>> with calling("RotationDataset", "dataset[0]"):
        ...     item = dataset[0]
    """
    try:
        yield
    except CheckFailed:
        raise
    except NotImplementedError:
        raise CheckFailed(f"[{exercise}] {what} raised NotImplementedError: the exercise is not "
                          "filled in yet (replace `raise NotImplementedError()` with your code).") from None
    except Exception as error:  # noqa: BLE001 - any error in student code is reported, not raised
        raise CheckFailed(f"[{exercise}] {what} raised {type(error).__name__}: {error}") from None


def expect_tensor(value, exercise: str, name: str, shape: tuple | None = None) -> torch.Tensor:
    """Check that ``value`` is a floating tensor (of ``shape`` if given) and return it."""
    expect(isinstance(value, torch.Tensor), exercise, f"{name} should be a torch.Tensor, got {type(value).__name__}.")
    expect(value.is_floating_point(), exercise, f"{name} should be a float tensor, got {value.dtype}.")
    if shape is not None:
        expect(tuple(value.shape) == tuple(shape), exercise,
               f"{name} should have shape {tuple(shape)}, got {tuple(value.shape)}.")
    return value


def as_int(value, exercise: str, name: str) -> int:
    """Accept a Python int or a 0-d integer tensor; return an int."""
    if isinstance(value, torch.Tensor):
        expect(value.numel() == 1 and not value.is_floating_point(), exercise,
               f"{name} should be a single integer, got a tensor of shape {tuple(value.shape)} and dtype {value.dtype}.")
        return int(value.item())
    expect(isinstance(value, int) and not isinstance(value, bool), exercise,
           f"{name} should be an int, got {type(value).__name__}.")
    return int(value)


def passed(exercise: str) -> None:
    """Print the success line of a public check."""
    print(f"[{exercise}] all public checks passed.")
