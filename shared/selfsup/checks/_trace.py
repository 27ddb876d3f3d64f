"""A network's forward pass recorded as data, so that it can be run again where no student code is.

The checks of the exercises that ask for a network of the student's own design
(``ColorizationNet``, ``ProjectionHead``, ``SimCLRModel``) cannot judge it from the numbers it
returns on inputs it has seen: a process that runs student code can return any numbers. So the
re-check asks for something else: the forward pass *recorded* as a straight-line program of ATen
operations (the C++ operators under every PyTorch function, ``torch.ops.aten``) on inputs of a
given shape, with the tensors it read (weights, constants) as plain arrays. The grader then runs
that program in a fresh process that has never run student code, on inputs the student's code has
never seen, with gradients, and judges what comes out. A program that returns the right numbers
there computes them: it *is* a network, whatever Python built it.

:func:`record` traces with a :class:`~torch.utils._python_dispatch.TorchDispatchMode` (every
ATen call below autograd, with its arguments); :class:`Trace` is the program;
:meth:`Trace.to_arrays` / :meth:`Trace.from_arrays` turn it into plain arrays and back (JSON for
the operations, no pickle); :meth:`Trace.run` runs it with ``torch.ops.aten`` operators only,
looked up by name: anything else, or anything malformed, is refused.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ._core import CheckFailed

#: Bounds on a recorded program: operations, leaf tensors, and elements of all leaves together.
MAX_OPS, MAX_LEAVES, MAX_ELEMENTS = 4000, 2000, 20_000_000
#: Operators a program may not use: they read files or the program's own data back to Python.
FORBIDDEN = frozenset({"from_file", "_local_scalar_dense", "save", "load", "_cpu_cuda_sync"})
_NAME = re.compile(r"^[A-Za-z0-9_]{1,80}$")
_DTYPES = {str(d).removeprefix("torch."): d for d in (torch.float32, torch.float64, torch.float16, torch.bfloat16,
                                                      torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8,
                                                      torch.bool)}
_LAYOUTS = {"strided": torch.strided}
_FORMATS = {"contiguous_format": torch.contiguous_format, "preserve_format": torch.preserve_format,
            "channels_last": torch.channels_last}


@dataclass
class Trace:
    """A recorded forward pass.

    Attributes:
        ops: ``[name, overload, args, kwargs, outputs]`` per operation, in order: ``name`` and
            ``overload`` name an operator of ``torch.ops.aten``; ``args``/``kwargs`` are JSON in
            which ``{"v": i}`` is the value ``i`` (see below), ``{"dtype": ...}`` a dtype and so on;
            ``outputs`` are the value numbers the operation's tensor results get (``None`` for a
            result that is not a tensor).
        leaves: the tensors the program read that no operation of it made (weights, buffers,
            constants), as CPU tensors, in the order they were first read.
        leaf_values: the value number of each leaf.
        inputs: value numbers of the inputs, in the order the module was called with them.
        outputs: value numbers of the module's outputs, in order.
        detached: value numbers of results that carried no gradient when recorded although the
            program could give them one (made under ``torch.no_grad()`` or by ``detach()``-like
            code, or read from a frozen leaf): :meth:`run` detaches them too.
    """

    ops: list = field(default_factory=list)
    leaves: list = field(default_factory=list)
    leaf_values: list = field(default_factory=list)
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    detached: list = field(default_factory=list)

    # ------------------------------------------------------------------------------ transport
    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The program as plain arrays: ``{prefix}.program`` (JSON as uint8) and one array per leaf."""
        program = json.dumps({"ops": self.ops, "inputs": self.inputs, "outputs": self.outputs,
                              "detached": self.detached, "leaves": self.leaf_values}, allow_nan=False).encode()
        out = {f"{prefix}.program": np.frombuffer(program, dtype=np.uint8).copy()}
        for i, leaf in enumerate(self.leaves):
            value = leaf.detach().cpu()
            out[f"{prefix}.leaf{i}"] = (value.float() if value.dtype == torch.bfloat16 else value).numpy().copy()
        return out

    @classmethod
    def from_arrays(cls, arrays: dict, prefix: str, exercise: str) -> Trace:
        """The program of :meth:`to_arrays`, validated; raises :class:`CheckFailed` if malformed."""
        def bad(why: str) -> CheckFailed:
            return CheckFailed(f"[{exercise}] the recorded forward pass is malformed ({why}).")

        raw = arrays.get(f"{prefix}.program")
        if raw is None:
            raise bad("no program")
        raw = torch.as_tensor(np.asarray(raw))
        if raw.dtype != torch.uint8 or raw.dim() != 1 or raw.numel() > 8 * 2**20:
            raise bad("the program is not a byte string of at most 8 MiB")
        try:
            program = json.loads(bytes(raw.numpy().tobytes()).decode())
            leaf_values = program["leaves"]
            count = len(leaf_values)
            ops, inputs, outputs, detached = program["ops"], program["inputs"], program["outputs"], program["detached"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
            raise bad(f"{type(error).__name__}") from None
        if not (0 <= count <= MAX_LEAVES and isinstance(ops, list) and len(ops) <= MAX_OPS):
            raise bad(f"more than {MAX_OPS} operations or {MAX_LEAVES} tensors")
        expected = {f"{prefix}.program"} | {f"{prefix}.leaf{i}" for i in range(count)}
        present = {k for k in arrays if k == f"{prefix}.program" or k.startswith(f"{prefix}.leaf")}
        if present != expected:
            raise bad("its tensors do not match its program")
        leaves, elements = [], 0
        for i in range(count):
            leaf = torch.as_tensor(np.asarray(arrays[f"{prefix}.leaf{i}"]))
            elements += leaf.numel()
            leaves.append(leaf)
        if elements > MAX_ELEMENTS:
            raise bad(f"more than {MAX_ELEMENTS:,} numbers in its tensors")
        trace = cls(ops=ops, leaves=leaves, leaf_values=leaf_values, inputs=inputs, outputs=outputs,
                    detached=detached)
        trace.validate(bad)
        return trace

    def validate(self, bad) -> None:
        """Check the program's structure: known operators, values defined before use."""
        if not all(isinstance(v, list) and all(_is_int(i) for i in v) for v in (self.inputs, self.leaf_values)):
            raise bad("its inputs or tensors are not value numbers")
        defined = set(self.inputs) | set(self.leaf_values)
        if len(defined) != len(self.inputs) + len(self.leaf_values):
            raise bad("two inputs or tensors share a value number")
        for op in self.ops:
            if not (isinstance(op, list) and len(op) == 5 and isinstance(op[0], str) and isinstance(op[1], str)):
                raise bad("an operation is not [name, overload, args, kwargs, outputs]")
            name, overload, args, kwargs, results = op
            if not (_NAME.match(name) and _NAME.match(overload)) or name in FORBIDDEN:
                raise bad(f"operator {name!r} is not allowed")
            if not (isinstance(args, list) and isinstance(kwargs, dict) and isinstance(results, list)):
                raise bad("an operation's arguments are malformed")
            for ref in _refs([args, list(kwargs.values())]):
                if not _is_int(ref) or ref not in defined:
                    raise bad("a value is used before it is made")
            for ref in results:
                if ref is not None and not _is_int(ref):
                    raise bad("an operation's results are not value numbers")
                if ref is not None:
                    defined.add(ref)
        if not (isinstance(self.outputs, list) and self.outputs and all(v in defined for v in self.outputs)):
            raise bad("its outputs are not values it made")
        if not (isinstance(self.detached, list) and all(_is_int(v) and v in defined for v in self.detached)):
            raise bad("its detached values are not values it made")

    # ------------------------------------------------------------------------------ running
    def run(self, *inputs: torch.Tensor, leaves: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
        """Run the program on ``inputs`` (same shapes as when recorded) and ``leaves`` (default: its own).

        Autograd records through every operation, so gradients flow to leaves that require them.

        Raises:
            CheckFailed: if an operator is unknown or fails on these values.
        """
        if len(inputs) != len(self.inputs):
            raise CheckFailed(f"the recorded program takes {len(self.inputs)} inputs, got {len(inputs)}")
        detached = set(self.detached)
        leaves = self.leaves if leaves is None else leaves
        values: dict[int, object] = {ref: leaf.detach() if ref in detached else leaf
                                     for ref, leaf in zip(self.leaf_values, leaves, strict=True)}
        values.update(zip(self.inputs, inputs))
        for name, overload, args, kwargs, results in self.ops:
            op = _operator(name, overload)
            try:
                result = op(*_decode(args, values), **_decode(kwargs, values))
            except Exception as error:  # noqa: BLE001 - a malformed program fails, it never stops the grader
                raise CheckFailed(f"operator aten.{name}.{overload} failed on the recorded values "
                                  f"({type(error).__name__}: {str(error)[:200]})") from None
            flat = list(result) if isinstance(result, (tuple, list)) else [result]
            if len(flat) != len(results):
                raise CheckFailed(f"operator aten.{name}.{overload} returned {len(flat)} values, the program "
                                  f"expects {len(results)}")
            for ref, value in zip(results, flat, strict=True):
                if ref is not None:
                    values[ref] = value.detach() if ref in detached and isinstance(value, torch.Tensor) else value
        return [values[ref] for ref in self.outputs]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**7


def _refs(obj):
    """Every value number referred to in encoded arguments."""
    if isinstance(obj, list):
        for item in obj:
            yield from _refs(item)
    elif isinstance(obj, dict) and set(obj) == {"v"}:
        yield obj["v"]


def _operator(name: str, overload: str):
    if not (_NAME.match(name) and _NAME.match(overload)) or name in FORBIDDEN:
        raise CheckFailed(f"operator {name!r} is not allowed")
    try:
        return getattr(getattr(torch.ops.aten, name), overload)
    except (AttributeError, RuntimeError):
        raise CheckFailed(f"aten.{name}.{overload} is not an ATen operator") from None


# ------------------------------------------------------------------------------------- encoding
def _encode(obj, ids: dict[int, int], new_leaf) -> object:
    """Arguments of an ATen call as JSON; a tensor becomes ``{"v": value number}``."""
    if isinstance(obj, torch.Tensor):
        ref = ids.get(id(obj))
        return {"v": new_leaf(obj) if ref is None else ref}
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {"float": repr(obj)}
    if isinstance(obj, (list, tuple)):
        return [_encode(item, ids, new_leaf) for item in obj]
    if isinstance(obj, torch.dtype):
        return {"dtype": str(obj).removeprefix("torch.")}
    if isinstance(obj, torch.device):
        return {"device": "cpu"}
    if isinstance(obj, torch.layout):
        return {"layout": str(obj).removeprefix("torch.")}
    if isinstance(obj, torch.memory_format):
        return {"memory_format": str(obj).removeprefix("torch.")}
    raise CheckFailed(f"cannot record an argument of type {type(obj).__name__}")


def _decode(obj, values: dict):
    if isinstance(obj, list):
        return [_decode(item, values) for item in obj]
    if isinstance(obj, dict):
        if len(obj) != 1:
            return {key: _decode(value, values) for key, value in obj.items()}
        (key, value), = obj.items()
        try:
            if key == "v":
                return values[value]
            if key == "float":
                return float(value)
            if key == "dtype":
                return _DTYPES[value]
            if key == "device":
                return torch.device("cpu")
            if key == "layout":
                return _LAYOUTS[value]
            if key == "memory_format":
                return _FORMATS[value]
        except (KeyError, TypeError, ValueError):
            raise CheckFailed(f"the recorded program holds an unknown {key} {value!r}") from None
        return {key: _decode(value, values)}
    return obj


class _Recorder(TorchDispatchMode):
    """Records every ATen call made in its scope (see :func:`record`)."""

    def __init__(self, trace: Trace, inputs: tuple[torch.Tensor, ...]):
        super().__init__()
        self.trace, self.ids, self.keep, self.next = trace, {}, [], 0
        for x in inputs:
            self.trace.inputs.append(self._number(x))

    def _number(self, tensor: torch.Tensor) -> int:
        number = self.next
        self.next += 1
        self.ids[id(tensor)] = number
        self.keep.append(tensor)  # keep it alive: its id must not be reused while recording
        return number

    def _leaf(self, tensor: torch.Tensor) -> int:
        if len(self.trace.leaves) >= MAX_LEAVES:
            raise CheckFailed(f"the forward pass reads more than {MAX_LEAVES} tensors")
        self.trace.leaves.append(tensor.detach().clone())
        number = self._number(tensor)
        self.trace.leaf_values.append(number)
        return number

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        schema = func._schema
        name, overload = schema.name.removeprefix("aten::"), func._overloadname
        if not schema.name.startswith("aten::"):
            raise CheckFailed(f"the forward pass calls {schema.name}, which is not an ATen operator")
        if name in FORBIDDEN:
            raise CheckFailed(f"the forward pass calls aten.{name}, which the recorded program may not use")
        if len(self.trace.ops) >= MAX_OPS:
            raise CheckFailed(f"the forward pass has more than {MAX_OPS} operations")
        encoded_args, encoded_kwargs = _encode(list(args), self.ids, self._leaf), {
            key: _encode(value, self.ids, self._leaf) for key, value in kwargs.items()}
        flat = list(result) if isinstance(result, (tuple, list)) else [result]
        outputs = [self._number(value) if isinstance(value, torch.Tensor) else None for value in flat]
        self.trace.ops.append([name, overload, encoded_args, encoded_kwargs, outputs])
        return result


def record(module, *inputs: torch.Tensor) -> tuple[Trace, object]:
    """Run ``module(*inputs)`` once, with autograd on, recording its ATen operations.

    Tensors that the forward pass reads but no operation of it makes (weights, buffers, constants
    made from Python numbers) become the program's leaves, copied as they are read. Which results
    carried a gradient is recorded too (:attr:`Trace.detached`), so that ``detach()`` and
    ``torch.no_grad()`` inside the forward pass, and frozen weights, stop gradients when the
    program runs again.

    Returns:
        ``(trace, what module returned)``; the trace's outputs are the tensors returned (a tensor,
        or each tensor of a tuple or list, in order).

    Raises:
        CheckFailed: if the forward pass returns no tensor or does something the program cannot hold.
    """
    trace = Trace()
    recorder = _Recorder(trace, inputs)
    with torch.enable_grad(), recorder:
        result = module(*inputs)
    flat = list(result) if isinstance(result, (tuple, list)) else [result]
    for value in flat:
        if not isinstance(value, torch.Tensor):
            raise CheckFailed(f"the forward pass returned a {type(value).__name__}, not a tensor")
        ref = recorder.ids.get(id(value))
        trace.outputs.append(recorder._leaf(value) if ref is None else ref)
    trace.detached = [number for number, tensor in enumerate(recorder.keep)
                      if number not in trace.inputs and not tensor.requires_grad]
    return trace, result
