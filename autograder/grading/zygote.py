"""The re-check's sandbox zygote: one long-lived sandboxed process per worker that forks a fresh
child for every job.

The zygote (:mod:`.sandbox`, run inside the sandbox of :func:`.isolation.sandboxed`) imports torch and
the checks once (its *preload*, trusted code) and never runs student code itself; each job is a
child it forks, which drops to the sandbox user before it reads the job. After each job the child's
processes are gone and the scratch folder is emptied, so nothing one student's code wrote reaches
the next one. :mod:`.recheck` sends the jobs; this module starts, watches and stops zygotes.
"""

from __future__ import annotations

import atexit
import itertools
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import sandbox
from .isolation import Isolation, inside_path, make_scratch, sandboxed
from .limits import Limits, kill_tree
from .resources import Budget, new_group, tree_cpu_seconds, tree_size, waiting_seconds

STARTUP_TIMEOUT = 120.0   # CPU seconds for a fresh Python to import torch (wall-clock backstop: resources)
#: Where the runner and its preload lie inside the sandbox.
RUNNER = Path("/opt/selfsup-recheck")


class Zygote:
    """A running sandbox zygote: one per worker and set of limits, reused for every submission.

    Every job gets a fresh child; after each job the child's processes are gone and the
    scratch folder is emptied, so nothing one student's code wrote reaches the next one.
    """

    _jobs = itertools.count(1)

    def __init__(self, limits: Limits, isolation: Isolation, preload: str, workdir: Path | None = None):
        self.limits, self.isolation = limits, isolation
        self.dir = Path(tempfile.mkdtemp(prefix="sandbox-", dir=workdir))
        runner = self.dir / "runner"
        runner.mkdir()
        shutil.copy(Path(sandbox.__file__), runner / "sandbox.py")
        (runner / "preload.py").write_text(preload, encoding="utf-8")
        for path in (self.dir, runner, runner / "sandbox.py", runner / "preload.py"):
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        self.scratch = make_scratch(self.dir / "scratch", isolation)
        inside = RUNNER if isolation.isolated else runner
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.control.settimeout(30)  # a send to a zygote that stopped reading fails instead of blocking
        script = [sys.executable, "-I", str(inside / "sandbox.py"), str(inside / "preload.py"), str(theirs.fileno()),
                  "drop-user" if isolation.drops_user else "keep-user"]
        self.group = new_group("zygote")  # a CPU share and a process cap for the zygote and its children
        cmd, env = sandboxed(isolation, script, self.scratch, limits, self.group, threads=1,
                             read_only=((runner, RUNNER),), private_tmp=False, zygote=True)
        with open(self.dir / "stderr.txt", "wb") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                         cwd=self.scratch, env=env, start_new_session=True,
                                         pass_fds=[theirs.fileno()])
        theirs.close()
        ready = self._message(Budget(STARTUP_TIMEOUT, self.cpu_seconds, lambda: 0.0))  # CPU seconds: a busy
        # machine slows the start, it does not fail it (a start that fails is retried: _run)
        if not ready or not ready.get("ready"):
            detail = (self.dir / "stderr.txt").read_text(errors="replace")[-800:]
            self.close()
            raise RuntimeError(f"the re-check sandbox did not start: {detail}")
        self.zygote = self._find_zygote()
        self.idle_size = tree_size(self.proc.pid)  # bubblewrap and the zygote

    def _find_zygote(self):
        import psutil

        for proc in psutil.Process(self.proc.pid).children(recursive=True):
            try:
                cmdline = proc.cmdline()
                if cmdline[:1] == [inside_path(sys.executable)] and any(p.endswith("sandbox.py") for p in cmdline):
                    return proc  # not bubblewrap, whose command line names the runner too
            except psutil.Error:
                continue
        return psutil.Process(self.proc.pid)

    def cpu_seconds(self) -> float:
        """CPU seconds used by this sandbox so far (its control group, else its processes)."""
        used = self.group.cpu_seconds() if self.group is not None else None
        return tree_cpu_seconds(self.proc.pid) if used is None else used

    def budget(self, seconds: float) -> Budget:
        """A time limit of ``seconds`` in CPU seconds of this sandbox's running job (:mod:`.resources`)."""
        job = []  # found on first use: the zygote may not have forked the job's process yet

        def pid() -> int | None:
            if not job:
                job.extend(filter(None, [self._job_process()]))
            return job[0].pid if job else None

        return Budget(seconds, self.cpu_seconds, lambda: waiting_seconds(pid()),
                      lambda: tree_size(self.proc.pid) - self.idle_size - 1)  # the job's own processes

    def _job_process(self):
        """The running job's process (the zygote's child), or None."""
        import psutil

        try:
            children = self.zygote.children()
        except psutil.Error:
            return None
        return children[0] if children else None

    def _message(self, deadline: float | Budget, sock: socket.socket | None = None) -> dict | None:
        sock = sock or self.control
        if isinstance(deadline, Budget):
            if not deadline.wait(sock):
                return None
        elif deadline - time.monotonic() <= 0 or not select.select([sock], [], [], deadline - time.monotonic())[0]:
            return None
        try:
            message, fds = sandbox.receive_message(sock)
        except OSError:
            return None
        for fd in fds:
            os.close(fd)
        return message

    def alive(self) -> bool:
        """The zygote itself still runs (a student's child may have killed it: it has the same user)."""
        import psutil

        try:
            return self.proc.poll() is None and self.zygote.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def kill_job(self) -> None:
        """Kill the running child (and what it started); the zygote then reports the job done."""
        import psutil

        try:
            for proc in self.zygote.children(recursive=True):
                proc.kill()
        except psutil.Error:
            pass

    def start_job(self) -> tuple[int, socket.socket]:
        """A fresh child; returns the job number and the grader's end of its channel."""
        number = next(self._jobs)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.settimeout(30)
        try:
            sandbox.send_message(self.control, {"job": number}, (theirs.fileno(),))
        finally:
            theirs.close()
        return number, ours

    def end_job(self, number: int, channel: socket.socket) -> None:
        """Tell the child to stop, wait until the zygote has reaped it, and empty the scratch folder."""
        try:
            sandbox.send_message(channel, {"end": True})
        except OSError:
            pass
        channel.close()
        deadline = time.monotonic() + 30
        while True:
            message = self._message(deadline)
            if message is None:
                self.kill_job()
                message = self._message(time.monotonic() + 10)
                if message is None:
                    self.close()
                    return
            if message.get("done") == number:
                break
        make_scratch(self.scratch, self.isolation)

    def close(self) -> None:
        if self.proc.poll() is None:
            kill_tree(self.proc.pid)
            self.proc.wait()
        if self.group is not None:
            self.group.close()
        self.control.close()
        shutil.rmtree(self.dir, ignore_errors=True)


_ZYGOTES: dict[tuple, Zygote] = {}


def zygote(limits: Limits, isolation: Isolation, preload: str, workdir: Path | None = None) -> Zygote:
    """The sandbox zygote for these settings, started on first use and kept until this process exits."""
    key = (limits.memory_mb, limits.file_mb, isolation, preload)
    current = _ZYGOTES.get(key)
    if current is None or not current.alive():
        if not _ZYGOTES:
            atexit.register(shutdown)
        current = _ZYGOTES[key] = Zygote(limits, isolation, preload, workdir)
    return current


def shutdown() -> None:
    """Stop every sandbox zygote of this process."""
    while _ZYGOTES:
        _ZYGOTES.popitem()[1].close()
