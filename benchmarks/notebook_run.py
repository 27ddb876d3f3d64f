"""Execute a notebook cell by cell in a fresh kernel, timing every cell and section.

Both benchmark scripts use this: :mod:`benchmarks.run_reference` (full runs on a GPU) and
:mod:`benchmarks.grading_mode` (grading-mode timings on the CPU).

* A *section* is a level-2 markdown heading (``## Part 2 - ...``); cells before the first one
  belong to the notebook's title. Section time is the sum of its cells' times.
* After each code cell a probe runs in the same kernel (``store_history=False``, so execution
  counts are untouched) and reads the keys of the notebook's ``results`` dictionary, so that
  each method is tied to the cell that recorded it. A last probe reads the dictionaries
  themselves, the notebook's UPPERCASE settings and the kernel's torch/GPU versions. The probe
  cell is appended to the notebook only while it runs; the returned notebook does not hold it.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

_HEADING = re.compile(r"^(#{1,3})\s+(.*\S)\s*$")

#: Read after every code cell: the method names recorded so far, in insertion order.
KEYS_PROBE = """# BENCHMARK-PROBE
print(__import__("json").dumps([str(k) for k in globals().get("results", {})]))"""

#: Read once at the end (``__NAMES__`` becomes the tuple of dictionary names to capture):
#: those dictionaries, the notebook's UPPERCASE settings and the versions the kernel sees.
FINAL_PROBE = """# BENCHMARK-PROBE
def _benchmark_probe(names):
    import json, platform
    import torch

    def plain(value):
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if value is None or isinstance(value, (bool, int, str)):
            return value
        try:
            return float(value)
        except (TypeError, ValueError):
            return repr(value)

    g = globals()
    out = {"dicts": {n: plain(g[n]) for n in names if isinstance(g.get(n), dict)},
           "settings": {k: v for k, v in g.items() if k.isupper() and isinstance(v, (bool, int, float, str))},
           "python": platform.python_version(), "torch": torch.__version__,
           "torch_cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available(),
           "device": str(g.get("DEVICE"))}
    if torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(0)
        out["cudnn"] = torch.backends.cudnn.version()
    print(json.dumps(out))


_benchmark_probe(__NAMES__)
del _benchmark_probe"""


class NotebookFailed(RuntimeError):
    """A cell raised; ``notebook`` holds the partly executed notebook for inspection."""

    def __init__(self, message: str, notebook: nbformat.NotebookNode, cell_index: int):
        super().__init__(message)
        self.notebook = notebook
        self.cell_index = cell_index


@dataclass
class CellTime:
    """Wall time of one executed code cell and where it sits."""

    index: int
    section: str
    seconds: float
    new_methods: list[str] = field(default_factory=list)  # keys added to `results` by this cell
    stderr: bool = False


@dataclass
class Execution:
    """What :func:`execute` measured."""

    notebook: nbformat.NotebookNode  # executed, probe cell removed
    seconds: float                   # whole notebook, kernel start-up excluded
    startup_seconds: float           # kernel start-up
    cells: list[CellTime]
    final: dict                      # the final probe (see FINAL_PROBE)

    def sections(self) -> list[dict]:
        """``[{"title", "seconds", "cells"}]`` in notebook order (seconds rounded to 0.01)."""
        out: list[dict] = []
        for cell in self.cells:
            if not out or out[-1]["title"] != cell.section:
                out.append({"title": cell.section, "seconds": 0.0, "cells": 0})
            out[-1]["seconds"] += cell.seconds
            out[-1]["cells"] += 1
        for s in out:
            s["seconds"] = round(s["seconds"], 2)
        return out

    def method_sections(self) -> dict[str, str]:
        """Per method (key of ``results``): the section of the cell that recorded it.

        Not a time per method: a method's training and its evaluation can sit in different
        sections (Notebook 2 trains SimCLR in Part 4 and probes it in Part 5); use section times.
        """
        return {name: cell.section for cell in self.cells for name in cell.new_methods}

    def stderr_cells(self) -> list[int]:
        """Indices of code cells that wrote to stderr."""
        return [c.index for c in self.cells if c.stderr]


def section_titles(nb: nbformat.NotebookNode) -> list[str]:
    """For every cell, the title of the level-2 section it belongs to."""
    title = "(title)"
    titles = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                m = _HEADING.match(line)
                if m and len(m.group(1)) == 2:
                    title = m.group(2)
        titles.append(title)
    return titles


def _stdout(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


def _probe(client: NotebookClient, probe: nbformat.NotebookNode, index: int, source: str):
    probe.source = source
    probe.outputs = []
    client.execute_cell(probe, index, store_history=False)
    lines = _stdout(probe).strip().splitlines()
    if not lines:
        raise RuntimeError(f"benchmark probe printed nothing: {probe.outputs}")
    return json.loads(lines[-1])


INJECTED_TAG = "benchmark-injected"


def inject(nb: nbformat.NotebookNode, after: str | None, code: str) -> int:
    """Insert a code cell tagged :data:`INJECTED_TAG` into ``nb``; return its index.

    Args:
        nb: the notebook (changed in place).
        after: a regular expression (``re.MULTILINE``): the new cell goes right after the first
            code cell whose source it matches; None: after the first code cell (the build's
            setup cell).
        code: the new cell's source.

    Raises:
        ValueError: no code cell matches ``after``.
    """
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and (after is None or re.search(after, cell.source, re.MULTILINE)):
            nb.cells.insert(i + 1, nbformat.v4.new_code_cell(code, metadata={"tags": [INJECTED_TAG]}))
            return i + 1
    raise ValueError(f"no code cell matches {after!r}")


def execute(path: Path, env: dict[str, str], timeout: int = 1800, capture: tuple[str, ...] = ("results",),
            inject_after_setup: str | None = None, log=print,
            injections: tuple[tuple[str, str], ...] = ()) -> Execution:
    """Run every code cell of a notebook in a new ``python3`` kernel and time it.

    Args:
        path: the notebook.
        env: the kernel's complete environment (e.g. ``{**os.environ, "SELFSUP_MODE": "grading"}``).
        timeout: seconds allowed per cell.
        capture: names of dictionaries the final probe reads from the kernel.
        inject_after_setup: code run right after the first code cell (the build's setup cell),
            e.g. to change ``SEED``; the cell is kept in the returned notebook, tagged
            ``benchmark-injected`` so that nobody mistakes it for course content.
        log: called with one line per section as it starts.
        injections: ``(pattern, code)`` pairs: ``code`` runs right after the first code cell whose
            source matches ``pattern`` (see :func:`inject`), e.g. to override a constant; tagged
            like ``inject_after_setup``.

    Returns:
        An :class:`Execution`.

    Raises:
        NotebookFailed: a cell raised (the message names the cell and the error).
        ValueError: an injection's pattern matches no cell.
    """
    nb = nbformat.read(path, as_version=4)
    if inject_after_setup:
        inject(nb, None, inject_after_setup)
    for pattern, code in injections:
        inject(nb, pattern, code)
    titles = section_titles(nb)
    probe = nbformat.v4.new_code_cell("")
    nb.cells.append(probe)
    probe_index = len(nb.cells) - 1

    with tempfile.TemporaryDirectory(prefix="benchmark-nb-") as cwd:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False,
                                record_timing=False, resources={"metadata": {"path": cwd}})
        start = time.perf_counter()
        cells: list[CellTime] = []
        with client.setup_kernel(env=env, cwd=cwd):
            startup = time.perf_counter() - start
            known: list[str] = []
            count = 0
            section = None
            for index, cell in enumerate(nb.cells[:probe_index]):
                if cell.cell_type != "code" or not cell.source.strip():
                    continue
                if titles[index] != section:
                    section = titles[index]
                    log(f"  [{time.perf_counter() - start - startup:7.1f} s] {section}")
                count += 1
                t0 = time.perf_counter()
                try:
                    client.execute_cell(cell, index, execution_count=count)
                except CellExecutionError as error:
                    del nb.cells[probe_index]
                    first_line = str(error).strip().splitlines()[-1] if str(error).strip() else repr(error)
                    raise NotebookFailed(f"{path.name}: cell {index} (section {section!r}) failed: {first_line}",
                                         nb, index) from None
                seconds = time.perf_counter() - t0
                keys = _probe(client, probe, probe_index, KEYS_PROBE)
                new = [k for k in keys if k not in known]
                known.extend(new)
                stderr = any(o.output_type == "stream" and o.name == "stderr" for o in cell.outputs)
                cells.append(CellTime(index, section, seconds, new, stderr))
            total = time.perf_counter() - start - startup
            final = _probe(client, probe, probe_index, FINAL_PROBE.replace("__NAMES__", repr(tuple(capture))))
    del nb.cells[probe_index]
    return Execution(nb, total, startup, cells, final)


WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def drop_widget_outputs(nb: nbformat.NotebookNode) -> int:
    """Remove widget outputs (tqdm's notebook progress bars) from an executed notebook.

    A saved copy shows a widget only as its first state ("0%|"), which misleads; the numbers a
    bar showed are printed by the notebook anyway. Returns how many outputs were removed.
    """
    removed = 0
    for cell in nb.cells:
        if cell.cell_type == "code":
            kept = [o for o in cell.outputs if WIDGET_MIME not in o.get("data", {})]
            removed += len(cell.outputs) - len(kept)
            cell.outputs = kept
    return removed


def kernel_env(**overrides: str | None) -> dict[str, str]:
    """This process's environment with ``overrides`` applied (``None`` removes a variable) and
    this interpreter's ``bin/`` first on PATH, so that the kernel uses the same venv."""
    import sys

    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env
