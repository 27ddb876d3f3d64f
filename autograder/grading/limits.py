"""Limits for the processes that run student code: time, memory, file size, lifetime.

Student code runs in two kinds of process, the nbgrader kernel and the re-check sandbox. Both
start through this module's launcher (what they can see is :mod:`.isolation`'s job)::

    python -m autograder.grading.limits --memory-mb 4096 --file-mb 512 [--cgroup FILE...] -- CMD...

which, before it ``exec``s ``CMD``:

* joins the sandbox's control group (writes its pid to each ``cgroup.procs`` given: a CPU share
  and a process cap, :mod:`.resources`), so that everything ``CMD`` starts is in it;
* caps the data segment (``RLIMIT_DATA``: heap and anonymous memory, the memory a bomb
  allocates; ``MemoryError`` instead of the machine's OOM killer), the size of any file the
  process writes (``RLIMIT_FSIZE``; an overrun raises an error instead of killing the process,
  ``SIGXFSZ`` is ignored) and core dumps;
* asks the kernel to kill the process when its parent dies (``PR_SET_PDEATHSIG``), so a killed
  worker leaves no orphan loop behind;
* ignores ``SIGINT``, which ``CMD`` inherits: Jupyter interrupts a kernel by signalling its
  whole process group, and bubblewrap, between the launcher and the kernel, would die of it.
  ipykernel installs its own handler while it runs a cell, so interrupts still reach the
  student's code.

Time limits are enforced by the parent (:func:`kill_tree`; the re-check's in CPU seconds,
:class:`.resources.Budget`).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import signal
import sys
from dataclasses import asdict, dataclass

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Limits:
    """Every limit of a grading run (seconds, MiB, KiB).

    Attributes:
        cell_timeout: one cell of the in-kernel pass (nbgrader interrupts it).
        notebook_timeout: the whole in-kernel pass of one notebook; later cells are not run.
        memory_mb: data segment of a kernel or sandbox process.
        output_kb: output kept per cell; the rest is dropped with a note.
        recheck_timeout: one exercise of the re-check (loading the student's code counts once).
        file_mb: largest file a student process may write.
    """

    cell_timeout: float = 60.0
    notebook_timeout: float = 600.0
    memory_mb: int = 4096
    output_kb: int = 1024
    recheck_timeout: float = 30.0
    file_mb: int = 512

    def __post_init__(self):
        for name, value in asdict(self).items():
            if not value > 0:
                raise ValueError(f"limit {name} must be > 0, got {value!r}")
        if self.cell_timeout > self.notebook_timeout:
            raise ValueError("cell_timeout cannot exceed notebook_timeout")

    def as_dict(self) -> dict:
        return asdict(self)


def launcher(cmd: list[str], limits: Limits, group=None) -> list[str]:
    """``cmd`` prefixed with the launcher that applies ``limits`` (and joins ``group``, a
    :class:`.resources.Group`, if given)."""
    joins = [arg for file in (group.procs_files() if group is not None else []) for arg in ("--cgroup", file)]
    return [sys.executable, "-m", "autograder.grading.limits", "--memory-mb", str(limits.memory_mb),
            "--file-mb", str(limits.file_mb), *joins, "--"] + list(cmd)


def _die_with_parent() -> None:
    try:
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def apply(memory_mb: int, file_mb: int) -> None:
    """Apply the limits to this process (and so to what it ``exec``s)."""
    data = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_DATA, (data, data))
    size = file_mb * 2**20
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()


def kill_tree(pid: int) -> None:
    """SIGKILL a process and all its descendants (kernels run in their own session)."""
    import psutil

    try:
        parent = psutil.Process(pid)
        procs = parent.children(recursive=True) + [parent]
    except psutil.Error:
        return
    for proc in procs:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=10)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--" not in argv:
        print("usage: python -m autograder.grading.limits [--memory-mb N] [--file-mb N] [--cgroup FILE...] -- CMD...",
              file=sys.stderr)
        return 2
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="python -m autograder.grading.limits")
    parser.add_argument("--memory-mb", type=int, default=Limits.memory_mb)
    parser.add_argument("--file-mb", type=int, default=Limits.file_mb)
    parser.add_argument("--cgroup", action="append", default=[], help="a cgroup.procs file to join")
    args = parser.parse_args(argv[:split])
    cmd = argv[split + 1:]
    if not cmd:
        parser.error("no command after --")
    for procs in args.cgroup:  # a sandbox outside its group would have no share and no cap: refuse to start
        with open(procs, "w") as f:
            f.write(str(os.getpid()))
    apply(args.memory_mb, args.file_mb)
    os.execvp(cmd[0], cmd)
    return 127  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
