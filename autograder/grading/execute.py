"""The in-kernel pass: nbgrader's autograde with limits that no submission can break.

nbgrader runs every cell with ``Execute``; :class:`GuardedExecute` replaces it in the
autograde pipeline (:func:`configure`) and adds what a batch of untrusted notebooks needs:

* a time limit per notebook on top of nbgrader's per-cell limit; cells after the deadline are
  not run (they get a ``CellNotRun`` error, so their test cells score 0);
* after a cell times out, a check that the interrupt worked: a loop that swallows
  ``KeyboardInterrupt`` leaves the kernel busy, and then the rest of the notebook is not run
  instead of timing out cell after cell;
* a kernel that dies (``os._exit``, a crash) fails its cell and skips the rest instead of
  failing the whole autograde;
* at most ``output_kb`` of output per cell, so printing megabytes costs nothing;
* the kernel starts through :mod:`.limits`, :mod:`.resources` and :mod:`.isolation`
  (:class:`LimitedKernelManager`): a memory cap, a file-size cap, death with its parent, a control
  group of its own (a CPU share and a process cap), and, isolated, its own namespaces and a
  filesystem that holds only the Python environment, the helper package and its own scratch
  folder. It then talks to nbgrader over Unix sockets in that folder (no network).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from queue import Empty
from time import monotonic

import nbformat
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import DeadKernelError
from nbgrader.preprocessors import Execute
from traitlets import Bool, Float, Integer, Unicode
from traitlets.config import Config

from .isolation import NONE, SANDBOX_GID, SANDBOX_UID, Isolation, home, make_scratch, sandboxed
from .limits import Limits
from .resources import new_group

NOT_RUN = "CellNotRun"
KERNEL_DIED = "KernelDied"
TIMEOUT = "CellTimeoutError"


class LimitedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel starts under :mod:`.limits` and :mod:`.isolation`.

    Each kernel gets a scratch folder of its own (under ``scratch_root``), removed by
    :meth:`remove_scratch`: its home and working folder, and where its connection file and
    sockets live.
    """

    memory_mb = Integer(Limits.memory_mb).tag(config=True)
    file_mb = Integer(Limits.file_mb).tag(config=True)
    isolation_mode = Unicode(NONE).tag(config=True)
    network = Bool(False).tag(config=True)
    scratch_root = Unicode("").tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.isolation = Isolation(self.isolation_mode, self.network)
        self.group = None  # its control group (:mod:`.resources`), made when the kernel starts
        root = self.scratch_root or None
        self.scratch = make_scratch(Path(tempfile.mkdtemp(prefix="kernel-", dir=root)) / "scratch", self.isolation)
        if self.isolation.isolated:
            # Unix sockets in the kernel's home (the kernel creates them), which it sees at the same path;
            # the connection file in the scratch folder, read-only inside.
            self.transport = "ipc"
            self.ip = str(home(self.scratch) / "ipc")
            self.connection_file = str(self.scratch / "kernel.json")

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        # The sandboxed process (isolation.sandboxed): the allow-list environment, whatever the worker's
        # holds (nbgrader's flags come from the environment jupyter_client prepared), the isolation,
        # the limits and a control group of its own.
        if self.isolation.drops_user:
            os.chown(self.connection_file, SANDBOX_UID, SANDBOX_GID)
        if self.group is None:
            self.group = new_group("kernel")
        kernel_cmd, kw["env"] = sandboxed(self.isolation, kernel_cmd, self.scratch,
                                          Limits(memory_mb=self.memory_mb, file_mb=self.file_mb), self.group,
                                          inherit=kw.get("env"))
        return await super()._async_launch_kernel(kernel_cmd, **kw)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart:  # the kernel is gone (nbclient forgets its manager right after this)
            self.remove_scratch()

    cleanup_resources = _async_cleanup_resources

    def remove_scratch(self) -> None:
        """Remove the scratch folder and the kernel's control group (with whatever still runs in it)."""
        if self.group is not None:
            self.group.close()
            self.group = None
        shutil.rmtree(self.scratch.parent, ignore_errors=True)


def _error(ename: str, evalue: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def _size(content: dict) -> int:
    if "text" in content:
        return len(content["text"])
    if "data" in content:
        return sum(len(v) if isinstance(v, str) else len(str(v)) for v in content["data"].values())
    if "traceback" in content:
        return sum(len(line) for line in content["traceback"])
    return 0


class GuardedExecute(Execute):
    """nbgrader's ``Execute`` with a notebook deadline, wedge and crash handling, and an output cap."""

    notebook_timeout = Float(Limits.notebook_timeout, help="seconds for the whole notebook").tag(config=True)
    max_output_bytes = Integer(Limits.output_kb * 1024, help="output kept per cell").tag(config=True)
    recover_timeout = Float(10.0, help="seconds an interrupted kernel has to become responsive").tag(config=True)
    locked_timeout = Float(120.0, help="seconds for a locked, ungraded cell (the course's setup cell imports "
                                       "torch, which is slow on a busy machine)").tag(config=True)

    def __init__(self, **kwargs):
        kwargs["kernel_manager_class"] = LimitedKernelManager
        super().__init__(**kwargs)
        self._deadline = monotonic() + self.notebook_timeout
        self._stopped: str | None = None
        self._out_cell, self._out_bytes, self._truncated = -1, 0, False

    def preprocess(self, nb, resources=None, km=None):
        self._deadline = monotonic() + self.notebook_timeout
        self._stopped = None
        self.shutdown_kernel = "immediate"
        try:
            return super().preprocess(nb, resources, km)
        finally:
            if isinstance(self.km, LimitedKernelManager):
                self.km.remove_scratch()

    def _get_timeout(self, cell):
        remaining = self._deadline - monotonic()
        limit = self.timeout or remaining
        meta = cell.metadata.get("nbgrader", {}) if cell is not None else {}
        if meta.get("locked") and not meta.get("grade") and not meta.get("solution"):
            limit = max(limit, self.locked_timeout)
        return max(1, int(min(limit, remaining) + 0.999))

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, self.resources
        if self._stopped is None and monotonic() >= self._deadline:
            self._stopped = f"the notebook reached its time limit of {self.notebook_timeout:.0f} s"
        if self._stopped:
            cell.outputs, cell.execution_count = [_error(NOT_RUN, f"not run: {self._stopped}")], None
            return cell, self.resources
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._stopped = "the kernel died in an earlier cell"
            cell.outputs.append(_error(KERNEL_DIED, "the kernel died while running this cell (os._exit, a crash, "
                                                    "or the memory limit); later cells were not run"))
            return cell, self.resources
        if any(o.output_type == "error" and o.get("ename") == TIMEOUT for o in cell.outputs):
            if monotonic() >= self._deadline:
                self._stopped = f"the notebook reached its time limit of {self.notebook_timeout:.0f} s"
            elif not self._responds():
                self._stopped = "the kernel ignored the interrupt after a time-out (a loop that catches KeyboardInterrupt?)"
                cell.outputs.append(_error(TIMEOUT, self._stopped))
        return cell, resources

    def _responds(self) -> bool:
        """Whether the kernel answers a kernel_info request within ``recover_timeout`` seconds."""
        async def probe() -> bool:
            msg_id = self.kc.kernel_info()
            deadline = monotonic() + self.recover_timeout
            while (remaining := deadline - monotonic()) > 0:
                try:
                    msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=remaining))
                except Empty:
                    return False
                if msg["parent_header"].get("msg_id") == msg_id:
                    return True
            return False

        try:
            return run_sync(probe)()
        except Exception:  # noqa: BLE001 - a dead or broken channel is an unresponsive kernel
            return False

    def output(self, outs, msg, display_id, cell_index):
        if cell_index != self._out_cell:
            self._out_cell, self._out_bytes, self._truncated = cell_index, 0, False
        self._out_bytes += _size(msg.get("content", {}))
        if self._out_bytes > self.max_output_bytes:
            if not self._truncated:
                self._truncated = True
                outs.append(nbformat.v4.new_output(
                    "stream", name="stdout",
                    text=f"\n[output truncated by the grader: more than {self.max_output_bytes // 1024} KiB]\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)


def configure(config: Config, limits: Limits, isolation: Isolation, scratch_root: Path | None = None) -> Config:
    """Put :class:`GuardedExecute`, ``limits`` and ``isolation`` into an nbgrader config (in place; returned)."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute as NbExecute

    pipeline = [GuardedExecute if p is NbExecute else p for p in Autograde.class_traits()["autograde_preprocessors"].default()]
    assert GuardedExecute in pipeline and ClearMetadataPreprocessor in pipeline
    config.Autograde.autograde_preprocessors = pipeline
    config.Execute.timeout = int(max(1, round(limits.cell_timeout)))
    config.GuardedExecute.notebook_timeout = float(limits.notebook_timeout)
    config.GuardedExecute.max_output_bytes = int(limits.output_kb * 1024)
    config.GuardedExecute.recover_timeout = float(min(5.0, max(2.0, limits.cell_timeout / 2)))
    config.LimitedKernelManager.memory_mb = int(limits.memory_mb)
    config.LimitedKernelManager.file_mb = int(limits.file_mb)
    config.LimitedKernelManager.isolation_mode = isolation.mode
    config.LimitedKernelManager.network = bool(isolation.network)
    config.LimitedKernelManager.scratch_root = str(scratch_root or "")
    return config
