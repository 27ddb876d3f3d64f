"""Limits for the processes that run student code: time, memory, file size, network, lifetime.

Student code runs in two kinds of process, the nbgrader kernel and the re-check sandbox. Both
are started through this module's launcher::

    python -m autograder.grading.limits --memory-mb 4096 --file-mb 512 [--no-network] -- CMD...

which, before it ``exec``s ``CMD``:

* caps the data segment (``RLIMIT_DATA``: heap and anonymous memory, the memory a bomb
  allocates; ``MemoryError`` instead of the machine's OOM killer) and the size of any file
  the process writes (``RLIMIT_FSIZE``);
* asks the kernel to kill the process when its parent dies (``PR_SET_PDEATHSIG``), so a
  killed worker leaves no orphan loop behind;
* with ``--no-network``, moves the process into a new network namespace without interfaces
  and a new PID namespace (``unshare(CLONE_NEWNET | CLONE_NEWPID)``, inside a new user
  namespace when not root): the command runs as PID 1 of its namespace, so every process it
  starts (a background "daemon" included) is killed when it ends. The launcher stays as its
  parent and passes on termination signals. Where the host forbids namespaces the launcher
  exits with :data:`NO_NAMESPACE`; callers probe once with :func:`network_isolation_available`
  and record which isolation a batch had.

A file-size overrun raises an error in the process instead of killing it (``SIGXFSZ`` is
ignored).

Wall-clock limits are enforced by the parent (:func:`kill_tree`).
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import os
import resource
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass

NO_NAMESPACE = 97
_CLONE_NEWNET, _CLONE_NEWUSER, _CLONE_NEWPID = 0x40000000, 0x10000000, 0x20000000
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
        network: False cuts the kernel and the sandbox off the network where the host allows it.
    """

    cell_timeout: float = 60.0
    notebook_timeout: float = 600.0
    memory_mb: int = 4096
    output_kb: int = 1024
    recheck_timeout: float = 30.0
    file_mb: int = 512
    network: bool = False

    def __post_init__(self):
        for name, value in asdict(self).items():
            if name != "network" and not value > 0:
                raise ValueError(f"limit {name} must be > 0, got {value!r}")
        if self.cell_timeout > self.notebook_timeout:
            raise ValueError("cell_timeout cannot exceed notebook_timeout")

    def as_dict(self) -> dict:
        return asdict(self)


def launcher(cmd: list[str], limits: Limits, isolate: bool) -> list[str]:
    """``cmd`` prefixed with the launcher that applies ``limits`` (and cuts the network if ``isolate``)."""
    prefix = [sys.executable, "-m", "autograder.grading.limits", "--memory-mb", str(limits.memory_mb),
              "--file-mb", str(limits.file_mb)]
    if isolate:
        prefix.append("--no-network")
    return prefix + ["--"] + list(cmd)


def _unshare() -> bool:
    """New network and PID namespaces for this process's children (and its network)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWNET | _CLONE_NEWPID) == 0:
        return True
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET | _CLONE_NEWPID) != 0:
        return False
    try:
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"{uid} {uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"{gid} {gid} 1")
    except OSError:
        return False
    return True


def _die_with_parent() -> None:
    try:
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def apply(memory_mb: int, file_mb: int, no_network: bool) -> bool:
    """Apply the limits to this process; return False if the namespaces could not be created."""
    data = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_DATA, (data, data))
    size = file_mb * 2**20
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    _die_with_parent()
    return _unshare() if no_network else True


def _run_as_namespace_init(cmd: list[str]) -> int:
    """Fork: the child (PID 1 of the new namespace) runs ``cmd``; this process waits and relays signals.

    SIGINT is not relayed: Jupyter interrupts a kernel by signalling its process group, which
    the child belongs to, and a second SIGINT could interrupt the student's own handler.
    """
    child = os.fork()
    if child == 0:
        _die_with_parent()
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, lambda signum, frame: os.kill(child, signum))
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


@functools.lru_cache(maxsize=1)
def network_isolation_available() -> bool:
    """True if the launcher can cut a process off the network on this host (probed once)."""
    try:
        probe = subprocess.run(launcher([sys.executable, "-c", _PROBE], Limits(), isolate=True),
                               capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


_PROBE = """
import os, socket, sys
if os.getpid() != 1:
    sys.exit(2)
s = socket.socket()
s.settimeout(2)
try:
    s.connect(("1.1.1.1", 53))
except OSError:
    sys.exit(0)
sys.exit(1)
"""


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
        print("usage: python -m autograder.grading.limits [--memory-mb N] [--file-mb N] [--no-network] -- CMD...",
              file=sys.stderr)
        return 2
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="python -m autograder.grading.limits")
    parser.add_argument("--memory-mb", type=int, default=Limits.memory_mb)
    parser.add_argument("--file-mb", type=int, default=Limits.file_mb)
    parser.add_argument("--no-network", action="store_true")
    args = parser.parse_args(argv[:split])
    cmd = argv[split + 1:]
    if not cmd:
        parser.error("no command after --")
    if not apply(args.memory_mb, args.file_mb, args.no_network):
        print("limits: cannot create network and PID namespaces on this host", file=sys.stderr)
        return NO_NAMESPACE
    if args.no_network:
        return _run_as_namespace_init(cmd)
    os.execvp(cmd[0], cmd)
    return 127  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
