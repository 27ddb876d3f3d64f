"""A CPU share and a process cap for every sandbox, and time limits in CPU seconds.

No student may lower another student's grade by taking the machine. Processes that run student
code compete for the same cores as the sandboxes of other students graded at the same time; a
submission that starts a hundred busy processes, each in a session of its own (so that the
kernel's per-session scheduling groups do not tame them), would otherwise leave a concurrently
graded notebook a hundredth of a core, and its time limits would run out in wall-clock time.
So:

* every sandbox (a kernel, a re-check zygote with its children) runs in a **control group of its
  own** with the same CPU weight as every other sandbox, whatever the number of processes in it,
  and a cap on its number of tasks (processes and threads; a fork bomb stops there);
* the re-check's time limits count the sandbox's **CPU seconds** (:class:`Budget`), with a
  wall-clock backstop (:data:`WALL_FACTOR` times the limit): a job that is slow because others
  took the cores does not time out, and a job whose backstop passes while its process mostly
  waited for a CPU (:data:`STARVED`), with few processes of its own, is *starved*: the grader's
  failure, retried, never a 0.

Which control groups a host offers (:func:`controller`, probed once):

* :data:`CGROUP_V2`: the unified hierarchy with the ``cpu`` and ``pids`` controllers (a GitHub
  Actions job container started with ``--privileged`` has its own cgroup namespace). Where the
  grader's cgroup is the root of a cgroup namespace and cannot enable them for children because
  it holds processes, they are first moved to a leaf cgroup ``autograder-processes`` (what nested
  container runtimes do; ``docker exec`` then joins the container's first process there);
* :data:`CGROUP_V1`: the ``cpu`` (and ``cpuacct``) and ``pids`` hierarchies of cgroup v1;
* :data:`NONE`: neither is writable (not root, no delegation): no CPU share and no process cap,
  only the time limits in CPU seconds and the starvation check. ``results.json`` and
  ``summary.md`` say which was in force.
"""

from __future__ import annotations

import atexit
import functools
import itertools
import os
import re
import select
import signal
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_V2, CGROUP_V1, NONE = "cgroup v2", "cgroup v1", "none"
#: The CPU weight of every sandbox (cgroup v2 ``cpu.weight``, v1 ``cpu.shares``): all equal.
CPU_WEIGHT_V2, CPU_SHARES_V1 = 100, 1024
#: Tasks (processes and threads) one sandbox may have: a kernel with torch's and ipykernel's
#: threads and a data loader's workers needs a few dozen.
PIDS_MAX = 256
#: The wall-clock backstop of a time limit in CPU seconds, as a multiple of the limit.
WALL_FACTOR = 4.0
#: A job whose backstop passed after its own process waited for a CPU longer than this share of
#: the time, while it ran at most :data:`OWN_PROCESSES` processes of its own, was starved by other
#: processes, not slow by itself (a job that starts many busy processes starves itself: a time-out).
STARVED = 0.5
OWN_PROCESSES = 4
_PREFIX = "autograder-"
_LEAF = "autograder-processes"
_ROOT = Path("/sys/fs/cgroup")


# ---------------------------------------------------------------------------- clocks of a process tree
def _tree(pid: int) -> list:
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def tree_size(pid: int) -> int:
    """How many processes ``pid`` and its descendants are."""
    return len(_tree(pid))


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used by ``pid`` and its descendants, including those they have reaped."""
    import psutil

    total = 0.0
    for proc in _tree(pid):
        try:
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            continue
    return total


def waiting_seconds(pid: int | None) -> float:
    """Seconds the threads of process ``pid`` spent runnable but waiting for a CPU
    (``/proc/<pid>/task/<tid>/schedstat``, second field); 0 for None or a process that has ended."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task") if pid else []
    except OSError:
        tasks = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return total / 1e9


# ---------------------------------------------------------------------------- control groups
@dataclass
class Group:
    """One sandbox's control group (a folder per hierarchy)."""

    folders: tuple[Path, ...]
    usage: Path | None  # cpu.stat (v2) or cpuacct.usage (v1)

    def procs_files(self) -> list[str]:
        """The files a process writes its pid to, to join the group (see :func:`.limits.launcher`)."""
        return [str(folder / "cgroup.procs") for folder in self.folders]

    def cpu_seconds(self) -> float | None:
        """CPU seconds used by every process that was ever in the group, or None if not measured."""
        if self.usage is None:
            return None
        try:
            text = self.usage.read_text()
        except OSError:
            return None
        if self.usage.name == "cpu.stat":
            match = re.search(r"^usage_usec (\d+)", text, re.M)
            return int(match.group(1)) / 1e6 if match else None
        return int(text.strip()) / 1e9

    def pids(self) -> set[int]:
        found = set()
        for folder in self.folders:
            try:
                found.update(int(p) for p in (folder / "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                continue
        return found

    def close(self) -> None:
        """Kill what is left in the group and remove it."""
        for _ in range(50):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.05)
        for folder in self.folders:
            try:
                folder.rmdir()
            except OSError:
                pass


@dataclass
class Controller:
    """The control groups of this host: where the grader makes one per sandbox.

    Attributes:
        kind: :data:`CGROUP_V2`, :data:`CGROUP_V1` or :data:`NONE`.
        parents: this process's folder in each hierarchy (``autograder-<pid>``), made on first use.
        usage_hierarchy: index into ``parents`` of the hierarchy that measures CPU time, or None.
        settings: ``{file: value}`` written into every new group.
    """

    kind: str
    parents: tuple[Path, ...] = ()
    usage_hierarchy: int | None = None
    settings: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        """One line for ``results.json`` and ``summary.md``."""
        limits = f"re-check time limits in CPU seconds (wall-clock backstop {WALL_FACTOR:g}x, starved jobs retried)"
        if self.kind == NONE:
            return f"none: no CPU share or process cap per sandbox (no writable cgroup); {limits}"
        weight = "cpu.weight 100" if self.kind == CGROUP_V2 else f"cpu.shares {CPU_SHARES_V1}"
        return f"{self.kind}: one CPU share ({weight}) and at most {PIDS_MAX} tasks per sandbox; {limits}"

    def group(self, name: str) -> Group | None:
        """A new control group for one sandbox, or None (:data:`NONE`, or the host refused)."""
        if self.kind == NONE:
            return None
        folders = []
        try:
            for parent in self.parents:
                folder = parent / name
                folder.mkdir(parents=False)
                folders.append(folder)
                for file, value in self.settings:
                    if (folder / file).exists():
                        (folder / file).write_text(value)
        except OSError:
            Group(tuple(folders), None).close()
            return None
        usage = None
        if self.usage_hierarchy is not None:
            usage = folders[self.usage_hierarchy] / ("cpu.stat" if self.kind == CGROUP_V2 else "cpuacct.usage")
        return Group(tuple(folders), usage)

    def remove(self) -> None:
        for parent in self.parents:
            for child in sorted(parent.glob("*/"), reverse=True) if parent.is_dir() else []:
                Group((child,), None).close()
            try:
                parent.rmdir()
            except OSError:
                pass


def _mounts() -> list[tuple[Path, str, set[str]]]:
    """``(mount point, file system type, super options)`` of every cgroup mount."""
    out = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) >= 5 and len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2"):
            out.append((Path(fields[4]), tail[0], set(tail[2].split(","))))
    return out


def _own_paths() -> dict[str, str]:
    """This process's cgroup per controller (``""`` for the unified hierarchy), from /proc/self/cgroup."""
    out = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            out[controller] = path
    return out


def _enable_v2(base: Path, namespace_root: bool) -> None:
    """Let the children of ``base`` use the cpu and pids controllers. If the kernel refuses while ``base``
    holds processes, and ``base`` is the root of a cgroup namespace (a container's own), they are moved
    to a leaf first; elsewhere (a systemd session, say) the cgroup is someone else's to arrange.

    Raises:
        OSError: if the controllers cannot be enabled.
    """
    def enable() -> None:
        enabled = set((base / "cgroup.subtree_control").read_text().split())
        for controller in ("cpu", "pids"):
            if controller not in enabled:
                (base / "cgroup.subtree_control").write_text(f"+{controller}")

    try:
        enable()
        return
    except OSError:
        if not namespace_root:
            raise
    leaf = base / _LEAF
    leaf.mkdir(exist_ok=True)
    for pid in (base / "cgroup.procs").read_text().split():
        try:
            (leaf / "cgroup.procs").write_text(pid)
        except OSError:
            pass  # a kernel thread or a process that has ended
    enable()


def _cgroup_v2() -> Controller | None:
    own = _own_paths().get("")
    for mount, kind, _ in _mounts():
        if kind != "cgroup2" or own is None:
            continue
        base = mount / own.lstrip("/")
        try:
            if not {"cpu", "pids"} <= set((base / "cgroup.controllers").read_text().split()):
                continue
            _enable_v2(base, own == "/")
            parent = base / f"{_PREFIX}{os.getpid()}"
            parent.mkdir(exist_ok=True)
            (parent / "cgroup.subtree_control").write_text("+cpu +pids")
        except OSError:
            continue
        return Controller(CGROUP_V2, (parent,), 0, (("cpu.weight", str(CPU_WEIGHT_V2)), ("pids.max", str(PIDS_MAX))))
    return None


def _cgroup_v1() -> Controller | None:
    own = _own_paths()
    mounts = [(m, opts) for m, kind, opts in _mounts() if kind == "cgroup"]
    cpu = next((m for m, opts in mounts if "cpu" in opts), None)
    pids = next((m for m, opts in mounts if "pids" in opts), None)
    acct = next((m for m, opts in mounts if "cpuacct" in opts), None)
    if cpu is None or pids is None:
        return None
    hierarchies = list(dict.fromkeys([cpu, pids] + ([acct] if acct else [])))
    names = {cpu: "cpu", pids: "pids", acct: "cpuacct"}
    parents = []
    try:
        for mount in hierarchies:
            parent = mount / own.get(names[mount], "/").lstrip("/") / f"{_PREFIX}{os.getpid()}"
            parent.mkdir(exist_ok=True)
            parents.append(parent)
    except OSError:
        for parent in parents:
            try:
                parent.rmdir()
            except OSError:
                pass
        return None
    return Controller(CGROUP_V1, tuple(parents), hierarchies.index(acct) if acct else None,
                      (("cpu.shares", str(CPU_SHARES_V1)), ("pids.max", str(PIDS_MAX))))


def _remove_stale(controller: Controller) -> None:
    """Remove the groups left by grader processes that were killed (``autograder-<pid>``, pid gone)."""
    for parent in controller.parents:
        for other in parent.parent.glob(f"{_PREFIX}[0-9]*"):
            pid = int(other.name[len(_PREFIX):])
            if pid != os.getpid() and not Path(f"/proc/{pid}").exists():
                Controller(controller.kind, (other,)).remove()


@functools.lru_cache(maxsize=1)
def controller() -> Controller:
    """The strongest control groups this host lets the grader use (probed once per process)."""
    if os.geteuid() != 0:  # writing another process into a group needs root (or a delegation we do not ask for)
        return Controller(NONE)
    for probe in (_cgroup_v2, _cgroup_v1):
        found = probe()
        if found is not None:
            test = found.group("probe")
            if test is None:
                found.remove()
                continue
            test.close()
            _remove_stale(found)
            atexit.register(found.remove)
            return found
    return Controller(NONE)


_names = itertools.count(1)


def new_group(kind: str) -> Group | None:
    """A control group for a new sandbox (``kind``: ``kernel`` or ``zygote``), or None."""
    return controller().group(f"{kind}-{next(_names)}")


# ---------------------------------------------------------------------------- a time limit in CPU seconds
class Budget:
    """A time limit in CPU seconds of one sandbox, with a wall-clock backstop.

    Args:
        seconds: the limit.
        cpu: the sandbox's CPU seconds so far (any origin).
        waiting: the seconds its job's own process spent waiting for a CPU so far (any origin).
        crowd: how many other processes the job runs now.
    """

    def __init__(self, seconds: float, cpu, waiting, crowd=lambda: 0):
        self.seconds, self._cpu, self._waiting, self._crowd = seconds, cpu, waiting, crowd
        self.cpu0, self.waiting0, self.start = cpu(), waiting(), time.monotonic()
        self.backstop = self.start + WALL_FACTOR * seconds

    def cpu_used(self) -> float:
        return self._cpu() - self.cpu0

    def expired(self) -> bool:
        return time.monotonic() >= self.backstop or self.cpu_used() >= self.seconds

    def wait(self, sock) -> bool:
        """Wait until ``sock`` is readable (True) or the budget is spent (False)."""
        while not self.expired():
            if select.select([sock], [], [], min(0.25, max(0.0, self.backstop - time.monotonic())))[0]:
                return True
        return bool(select.select([sock], [], [], 0)[0])

    def ending(self) -> str:
        """Why a job stopped: ``timeout`` (its CPU seconds ran out, or its backstop while it slept or
        competed with its own processes), ``starved`` (the backstop passed while its process mostly
        waited for a CPU that others had) or ``crash`` (it ended before either)."""
        if self.cpu_used() >= self.seconds:
            return "timeout"
        if time.monotonic() < self.backstop:
            return "crash"
        elapsed = time.monotonic() - self.start
        starved = self._waiting() - self.waiting0 > STARVED * elapsed and self._crowd() <= OWN_PROCESSES
        return "starved" if starved else "timeout"
