"""Count, on any device, the operations that would make the host wait for a CUDA GPU.

A CUDA program runs ahead of the GPU: the host queues kernels and moves on, unless it needs a
value back (``.item()``, ``int(t)``, ``if t:``, printing), a tensor whose size depends on data
(``nonzero``, boolean-mask indexing), or copies from pageable host memory (``torch.tensor(list,
device="cuda")``, ``cpu_tensor.to("cuda")``). Each of those synchronises the host with the GPU.
``torch.cuda.set_sync_debug_mode`` reports them on a GPU; on a CPU nothing blocks, so
:class:`HostSyncCounter` counts the calls that *would* block, from two modes:

* a ``TorchDispatchMode`` sees every aten call: the value reads and data-dependent shapes of
  :data:`BLOCKING_ATEN`, tensors made from Python data (:data:`FROM_PYTHON`) and boolean-mask
  indexing; it also counts every aten call (a proxy for kernel launches);
* a ``TorchFunctionMode`` sees the Python-level calls that read or move host memory without an
  aten call on a CPU (:data:`HOST_READS`, and a blocking ``.to(device)`` / ``.cuda()`` of a
  tensor in host memory; with ``non_blocking=True`` a copy from host memory to a GPU is staged
  without waiting for the GPU, so it is not counted).

On a CPU every tensor is in host memory, so a ``.to(device)`` of a tensor that already is on the
training device also counts: code that wants a clean count moves only what is elsewhere (as
``selfsup.train.to_device`` does). That makes the count conservative, never blind.

The count is split into *windows*: :meth:`HostSyncCounter.mark` opens a new one (e.g. each time a
loader yields a batch), so a test can ask for zero host syncs in every training step but the
first.
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from pathlib import Path

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

#: aten ops whose result the host must wait for on CUDA (a value, or a size that depends on data).
BLOCKING_ATEN = frozenset({
    "_local_scalar_dense",   # .item(), int(t), float(t), bool(t), `if t:`
    "is_nonzero",            # bool(t) on some paths
    "equal",                 # torch.equal returns a Python bool
    "nonzero",               # size depends on the data
    "masked_select",
    "_unique2", "unique_dim", "unique_consecutive", "_unique",
})
#: aten ops that turn Python data into a tensor: on CUDA, a copy from pageable host memory.
FROM_PYTHON = frozenset({"lift_fresh", "lift_fresh_copy"})
#: Tensor methods that read a tensor into host memory (no aten call for a CPU tensor).
HOST_READS = frozenset({"cpu", "numpy", "tolist", "__array__"})
#: Folders whose frames are skipped when naming who made a call (torch itself, this module).
_SKIPPED = (str(Path(torch.__file__).parent), str(Path(__file__)))
#: aten ops that index with a tensor: with a boolean mask they call ``nonzero`` inside.
_INDEXING = frozenset({"index", "index_put", "index_put_", "_index_put_impl_"})


def _op_name(func) -> str:
    return func._schema.name.split("::", 1)[-1]


def _device_argument(args, kwargs) -> bool:
    """Does a ``Tensor.to`` call name a device (not only a dtype or a memory format)?"""
    if "device" in kwargs:
        return True
    for a in args[1:]:
        if isinstance(a, (torch.device, str, int)) and not isinstance(a, bool):
            return True
        if isinstance(a, torch.Tensor):  # x.to(other): other's device and dtype
            return True
    return False


def _caller() -> str:
    """The module of the innermost frame outside torch and this module: who asked for the sync."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_SKIPPED):
        frame = frame.f_back
    return frame.f_globals.get("__name__", "?") if frame is not None else "?"


class _Functions(TorchFunctionMode):
    def __init__(self, counter: "HostSyncCounter"):
        super().__init__()
        self.counter = counter

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in HOST_READS and args and isinstance(args[0], torch.Tensor):
            self.counter._record(f"Tensor.{name}")
        elif name in ("to", "cuda") and args and isinstance(args[0], torch.Tensor) and args[0].device.type == "cpu" \
                and (name == "cuda" or _device_argument(args, kwargs)) and not kwargs.get("non_blocking", False):
            self.counter._record(f"Tensor.{name}(device) of a host tensor")
        return func(*args, **kwargs)


class _Dispatch(TorchDispatchMode):
    def __init__(self, counter: "HostSyncCounter"):
        super().__init__()
        self.counter = counter

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = _op_name(func)
        counter = self.counter
        counter.aten[counter.window] += 1
        if name in BLOCKING_ATEN:
            counter._record(f"aten.{name}")
        elif name in FROM_PYTHON:
            counter._record(f"aten.{name} (a tensor from Python data)")
        elif name in _INDEXING:
            indices = args[1] if len(args) > 1 else kwargs.get("indices", ())
            if any(isinstance(i, torch.Tensor) and i.dtype in (torch.bool, torch.uint8) for i in indices or ()):
                counter._record(f"aten.{name} with a boolean mask")
        return func(*args, **kwargs)


class HostSyncCounter:
    """Counts host syncs (and all aten calls) per window while active.

    Example:
        >>> with HostSyncCounter() as counter:
        ...     for batch in counter.windows(loader):   # one window per batch
        ...         train_step(batch)
        >>> counter.syncs_per_window()

    Attributes:
        window: the label of the current window (``"before"`` until the first :meth:`mark`).
        events: ``{window: Counter({(what, calling module): count})}`` of the syncs seen.
        aten: ``{window: number of aten calls}``.
    """

    def __init__(self):
        self.window = "before"
        self.order: list = ["before"]
        self.events: dict = defaultdict(Counter)
        self.aten: Counter = Counter()
        self.steps = 0
        self._modes = (_Functions(self), _Dispatch(self))

    def _record(self, what: str) -> None:
        self.events[self.window][(what, _caller())] += 1

    def mark(self, window) -> None:
        """Count what follows in ``window``."""
        self.window = window
        if window not in self.order:
            self.order.append(window)

    def windows(self, loader, prefix: str = "step"):
        """Iterate ``loader``, opening the window ``(prefix, k)`` when batch ``k`` is handed out.

        ``k`` counts on across passes (epochs); the end of a pass opens ``(prefix, "end")``.
        """
        for batch in loader:
            self.mark((prefix, self.steps))
            self.steps += 1
            yield batch
        self.mark((prefix, "end"))

    def syncs(self, window, exclude: tuple[str, ...] = ()) -> int:
        """Host syncs counted in ``window``, leaving out those asked for by modules under ``exclude``."""
        return sum(n for (_, caller), n in self.events[window].items() if not caller.startswith(exclude or ("\0",)))

    def summary(self) -> list[dict]:
        """One row per window: its label, host syncs (by kind and caller) and aten calls."""
        return [{"window": w, "syncs": self.syncs(w), "aten_calls": self.aten[w],
                 "what": {f"{what} <- {caller}": n for (what, caller), n in self.events[w].items()}}
                for w in self.order]

    def __enter__(self) -> "HostSyncCounter":
        for mode in self._modes:
            mode.__enter__()
        return self

    def __exit__(self, *exc):
        for mode in reversed(self._modes):
            mode.__exit__(*exc)
        return False


class LoaderWindows:
    """A loader whose every batch opens a counting window of ``counter`` (``len`` passes through)."""

    def __init__(self, loader, counter: HostSyncCounter, prefix: str = "step"):
        self.loader, self.counter, self.prefix = loader, counter, prefix

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        return self.counter.windows(self.loader, self.prefix)
