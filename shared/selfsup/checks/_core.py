"""What every check shares: the failure type, call guards, and the shape of an exercise.

An :class:`Exercise` is the one definition of how an exercise is checked. It is used three
times, always the same way:

* by the **public check** a student runs (``check_rotation_dataset(RotationDataset)``), on the
  exercise's fixed public inputs;
* by the **hidden test** of the graded cell (``check_rotation_dataset(RotationDataset,
  strict=True)``), on other inputs drawn from :data:`STRICT_SEED`;
* by the grader's **re-check**, in a separate process, on inputs drawn from a seed that only
  the grader knows; the grader then also compares the outputs with its own reference answers.

What crosses from the student's code to a judge is checked against the exercise's
:data:`schema <Exercise.schema>` first (:func:`conform`): exactly the keys, shapes and kinds of
numbers that the inputs call for, finite where they must be. In the re-check those outputs come
from a process that runs student code, which can send anything; a judge never sees an output
that the schema did not admit, so it never compares an empty or broadcast array with an answer.

Nothing here knows the answers: a judge checks types, shapes, invariants and closed forms.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
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
    """Check that ``value`` is a floating tensor (of ``shape`` if given); return a plain copy.

    The copy is detached, on the CPU and a plain ``torch.Tensor``: a tensor subclass loses its
    overrides (``__torch_function__``, ``__eq__``), so the checks compare numbers, not objects.
    """
    expect(isinstance(value, torch.Tensor), exercise, f"{name} should be a torch.Tensor, got {type(value).__name__}.")
    with torch._C.DisableTorchFunctionSubclass():
        value = value.detach().cpu().clone()
    expect(value.is_floating_point(), exercise, f"{name} should be a float tensor, got {value.dtype}.")
    if shape is not None:
        expect(tuple(value.shape) == tuple(shape), exercise,
               f"{name} should have shape {tuple(shape)}, got {tuple(value.shape)}.")
    return value


def as_int(value, exercise: str, name: str) -> int:
    """A Python int from an int, a NumPy integer or a one-element integer tensor, or :class:`CheckFailed`."""
    if isinstance(value, torch.Tensor):
        with torch._C.DisableTorchFunctionSubclass():
            plain = value.detach().cpu()
        expect(plain.numel() == 1 and not plain.is_floating_point() and plain.dtype != torch.bool, exercise,
               f"{name} should be a single integer, got a tensor of shape {tuple(plain.shape)} and dtype {plain.dtype}.")
        return int(plain.reshape(-1)[0].item())
    if isinstance(value, np.integer):
        return int(value)
    expect(isinstance(value, int) and not isinstance(value, bool), exercise,
           f"{name} should be an int, got {type(value).__name__}.")
    return int.__index__(value)  # not int(value): a subclass could override __int__


# ---------------------------------------------------------------------------- output schemas
#: Kinds of numbers an output may hold (NumPy dtype kinds).
KINDS = {"float": "f", "int": "iu", "bool": "b"}


@dataclass(frozen=True)
class Field:
    """What one output must be: its exact shape, its kind of numbers, finite or not.

    Attributes:
        shape: the exact shape (``()`` for a number).
        kind: ``"float"``, ``"int"`` or ``"bool"``.
        finite: floats must be finite (a diagnosable infinity, like an overflowing loss, is
            allowed with ``finite=False``).
    """

    shape: tuple[int, ...]
    kind: str = "float"
    finite: bool = True


def floats(*shape: int, finite: bool = True) -> Field:
    """A float output of exactly ``shape``."""
    return Field(tuple(int(n) for n in shape), "float", finite)


def ints(*shape: int) -> Field:
    """An integer output of exactly ``shape``."""
    return Field(tuple(int(n) for n in shape), "int")


def bools(*shape: int) -> Field:
    """A boolean output of exactly ``shape``."""
    return Field(tuple(int(n) for n in shape), "bool")


def conform(outputs: dict, schema: dict[str, Field], exercise: str) -> None:
    """Check that ``outputs`` (plain tensors) are exactly what ``schema`` admits.

    Keys whose name starts with a recorded program's prefix (``"<prefix>."``, see
    :mod:`._trace`) are validated when the program is read, not here; ``schema`` names those
    prefixes with the value ``None``.

    Raises:
        CheckFailed: naming the first output that is missing, extra, of another shape or kind,
            or not finite.
    """
    def bad(why: str) -> CheckFailed:
        return CheckFailed(f"[{exercise}] the outputs of your code are malformed: {why}.")

    prefixes = tuple(f"{key}." for key, spec in schema.items() if spec is None)
    fields = {key: spec for key, spec in schema.items() if spec is not None}
    keys = {key for key in outputs if not key.startswith(prefixes)} if prefixes else set(outputs)
    if keys != set(fields):
        missing, extra = sorted(set(fields) - keys), sorted(keys - set(fields))
        raise bad(f"missing {missing}, unexpected {extra[:5]}")
    for key, spec in fields.items():
        value = outputs[key]
        if not isinstance(value, torch.Tensor) or type(value) is not torch.Tensor:
            raise bad(f"{key} is not a plain tensor")
        if tuple(value.shape) != spec.shape:
            raise bad(f"{key} has shape {tuple(value.shape)}, expected {spec.shape}")
        kind = "f" if value.is_floating_point() else "b" if value.dtype == torch.bool else \
            "i" if not value.is_complex() else "c"
        if kind not in KINDS[spec.kind]:
            raise bad(f"{key} holds {value.dtype}, expected {spec.kind} numbers")
        if spec.kind == "float" and spec.finite and not bool(torch.isfinite(value).all()):
            raise bad(f"{key} is not finite")


# ---------------------------------------------------------------------------- exercises
#: Seed of the inputs of the hidden tests in the notebooks (public: they hold no secret).
STRICT_SEED = 1
#: Seed of the random state in which an exercise runs (the same in every pass, so that a
#: function gives the same outputs on the same inputs in the notebook and in the re-check).
RUN_SEED = 0


@dataclass(frozen=True)
class Exercise:
    """How one graded exercise is checked.

    Attributes:
        test: grade id of its test cell, e.g. ``"test_rotation_dataset"``.
        name: what the student defines, e.g. ``"RotationDataset"``.
        inputs: ``seed -> inputs``: ``None`` gives the public check's fixed inputs, an int the
            seeded inputs of the hidden test and the re-check (other sizes where they
            matter). Deterministic.
        run: ``(student's object, inputs) -> outputs``: calls the student's code and returns
            tensors, arrays, numbers and booleans only. It may fail an exercise (a crash, a
            wrong type) but never passes one.
        judge: ``(outputs, inputs) -> None``: raises :class:`CheckFailed` naming the likely
            mistake. It sees the outputs after :func:`plain` and :func:`conform`, as the grader
            does.
        schema: ``inputs -> {key: Field}``: exactly what ``run`` returns on these inputs
            (:func:`conform`); ``None`` for a key marks the prefix of a recorded program.
        replay: for an exercise whose object is a network of the student's own design:
            ``(outputs, inputs) -> outputs``, which runs the programs that ``run`` recorded
            (:mod:`._trace`) on inputs the student's code never saw. The re-check runs it in
            a process that has never run student code; its outputs join ``run``'s for the judge.
        replay_schema: ``inputs -> {key: Field}`` of ``replay``'s outputs.
        private: keys of the inputs that only ``replay`` uses: the re-check never sends them to
            the process that runs student code.
    """

    test: str
    name: str
    inputs: Callable[[int | None], dict]
    run: Callable[[Any, dict], dict]
    judge: Callable[[dict, dict], None]
    schema: Callable[[dict], dict]
    replay: Callable[[dict, dict], dict] | None = None
    replay_schema: Callable[[dict], dict] | None = None
    private: tuple[str, ...] = ()

    def shared_inputs(self, inputs: dict) -> dict:
        """The inputs that the student's code may see (all but :attr:`private`)."""
        return {key: value for key, value in inputs.items() if key not in self.private}

    def replayed(self, outputs: dict, inputs: dict) -> dict:
        """What the judge sees: ``outputs`` without the recorded programs, and for an exercise with
        :attr:`replay` the replay's outputs, conformed to :attr:`replay_schema`."""
        if self.replay is None:
            return outputs
        programs = tuple(f"{key}." for key, spec in self.schema(inputs).items() if spec is None)
        more = plain(self.replay(outputs, inputs))
        conform(more, self.replay_schema(inputs), self.name)
        return {**{k: v for k, v in outputs.items() if not k.startswith(programs)}, **more}


def generator(seed: int | None, salt: int) -> torch.Generator:
    """The random generator of one exercise's inputs: ``seed`` (``None``: the public inputs) mixed with ``salt``."""
    return torch.Generator().manual_seed(((0 if seed is None else seed) * 1000003 + salt) % 2**63)


def subseed(g: torch.Generator) -> int:
    """A seed drawn from ``g`` (for a model, a helper that takes a seed)."""
    return int(torch.randint(0, 2**31 - 1, (1,), generator=g))


def pick(g: torch.Generator, options):
    """One of ``options``, drawn from ``g``."""
    return options[int(torch.randint(0, len(options), (1,), generator=g))]


def plain(outputs: dict) -> dict[str, torch.Tensor]:
    """Outputs as plain CPU tensors made from NumPy arrays: what crosses to the grader.

    Half-precision tensors become float32; numbers, booleans and lists become tensors.

    Raises:
        CheckFailed: if an output is not numeric.
    """
    out = {}
    for key, value in outputs.items():
        if isinstance(value, torch.Tensor):
            with torch._C.DisableTorchFunctionSubclass():
                value = value.detach().cpu()
                if value.dtype in (torch.float16, torch.bfloat16):
                    value = value.float()
                array = value.numpy().copy()
        else:
            array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise CheckFailed(f"[{key}] the check produced a non-numeric output (dtype {array.dtype}).")
        out[key] = torch.from_numpy(np.array(array, copy=True, order="C"))  # not ascontiguousarray: it makes 0-d 1-d
    return out


@contextlib.contextmanager
def seeded(seed: int = RUN_SEED):
    """Seed Python's, NumPy's and torch's random generators; restore the caller's state after."""
    state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(state[0])
            np.random.set_state(state[1])


def outputs_of(exercise: Exercise, obj, inputs: dict) -> dict[str, torch.Tensor]:
    """Run ``exercise`` on ``obj`` in the fixed random state; plain outputs (not yet conformed).

    ``inputs`` are the shared ones (:meth:`Exercise.shared_inputs`).
    """
    with seeded():
        return plain(exercise.run(obj, inputs))


def checker(exercise: Exercise) -> Callable[..., None]:
    """The public check function of ``exercise``: ``check(obj, strict=False)``.

    It runs ``exercise`` on ``obj`` on the public inputs, or with ``strict`` on the hidden test's
    inputs (:data:`STRICT_SEED`), and raises :class:`CheckFailed` naming the likely mistake.
    """
    def check(obj, strict: bool = False) -> None:
        inputs = exercise.inputs(STRICT_SEED if strict else None)
        outputs = outputs_of(exercise, obj, exercise.shared_inputs(inputs))
        conform(outputs, exercise.schema(inputs), exercise.name)
        exercise.judge(exercise.replayed(outputs, inputs), inputs)
        if not strict:
            print(f"[{exercise.name}] all public checks passed.")

    check.__name__ = f"check_{exercise.test.removeprefix('test_')}"
    check.__doc__ = (f"Check your ``{exercise.name}``; raise :class:`CheckFailed` naming the likely mistake.\n\n"
                     "With ``strict=True`` (the graded cell's hidden test), on other, seeded inputs.")
    return check


def close(value: float, expected: float, rel: float = 1e-5) -> bool:
    """``value`` is finite and within ``rel`` (relative, absolute below 1) of ``expected``."""
    return bool(np.isfinite(value)) and abs(value - expected) <= rel * max(1.0, abs(expected))

