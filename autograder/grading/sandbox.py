"""The re-check's runner: the one piece of the grader that runs inside the sandbox.

:mod:`.recheck` binds this file (and nothing else of the grader) read-only into an isolated
process (:mod:`.isolation`) and runs it as a script, so it imports only the standard library,
NumPy, torch and the public helper package ``selfsup``; it holds no reference and no judge.

It is a *zygote*: it imports torch, the checks and the preloaded modules once, then forks one
child per submission, so that a re-check does not pay Python's and torch's start-up again.
Student code only ever runs in a child. When the grader is root, the zygote keeps uid 0 with
only the capabilities to change users and kill, and each child drops to the unprivileged
:data:`SANDBOX_UID` before it reads the job, so no child can signal, trace or read the zygote
(which is also not dumpable). As process 2 of its PID namespace, the zygote kills every process
a child left behind when the child ends.

Protocol (``AF_UNIX`` sockets, no files): the zygote reads requests on the file descriptor
named by its second argument (a ``SOCK_SEQPACKET`` socket whose other end the grader holds):

* ``{"job": N}`` with one file descriptor, the job's ``SOCK_SEQPACKET`` channel: the zygote
  forks a child for it and answers ``{"done": N, "exit": code}`` when the child has ended
  (``{"ready": true}`` once, at start-up).

On its job channel the child receives:

* ``{"load": ...}`` with a fresh stream socket carrying the job (the trusted prelude and the
  student's exercise cells): it runs the prelude and the cells statement by statement, sending
  ``{"stmt": [cell, statement]}`` before each one (so that a statement that kills or hangs the
  process can be skipped on a second attempt) and ``{"loaded": [problems]}`` at the end;
* ``{"exercise": test, "module": module, "name": name}`` with a fresh stream socket: it reads
  the probe inputs from it (built by the grader), runs the exercise's public ``run`` on the
  student's object and writes back on that socket a JSON frame ``{"ok": true}`` and the outputs
  as an ``.npz`` (plain numbers, no pickle), or ``{"error": message}`` (with ``"missing": true``
  when the cells did not define the exercise's name);
* ``{"replay": test, "module": module}`` with a fresh stream socket, only in a job that loaded
  no cells (a *replay job*: the child has run no student code): it reads the grader's inputs
  (pickled by the grader) and the programs recorded by a student's job (an ``.npz``, loaded
  without pickle), runs the exercise's ``replay`` on them (see ``selfsup.checks._trace``) and
  writes back its outputs the same way;
* ``{"end": true}``: it exits (``os._exit``: student ``atexit`` hooks never run).

The grader reads each exercise's outputs only from the socket it created for that request,
after the student's cells were loaded: nothing student code wrote earlier can be taken for
them. Nothing here decides a grade; the grader judges the arrays.
"""

from __future__ import annotations

import ast
import ctypes
import importlib
import io
import json
import os
import pickle
import signal
import socket
import sys

MAX_MESSAGE = 8000
MAX_FRAME = 256 * 2**20
#: The user children run as when the zygote is root (``nobody``; :mod:`.isolation` gives them
#: their folders).
SANDBOX_UID = SANDBOX_GID = 65534
_PR_SET_DUMPABLE, _PR_SET_NO_NEW_PRIVS = 4, 38


# ---------------------------------------------------------------------------- framing (shared with the grader)
def send_message(sock: socket.socket, message: dict, fds: tuple[int, ...] = ()) -> None:
    """One JSON message on a ``SOCK_SEQPACKET`` socket, with file descriptors attached."""
    data = json.dumps(message).encode()[:MAX_MESSAGE]
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


def receive_message(sock: socket.socket) -> tuple[dict | None, list[int]]:
    """The next message and its file descriptors; ``(None, [])`` at end of stream or for garbage."""
    data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 4)
    if not data:
        return None, fds
    try:
        message = json.loads(data)
    except ValueError:
        return None, fds
    return (message if isinstance(message, dict) else None), fds


def send_frame(sock: socket.socket, payload: bytes) -> None:
    """A length-prefixed frame on a stream socket."""
    sock.sendall(len(payload).to_bytes(8, "big") + payload)


def receive_frame(sock: socket.socket, limit: int = MAX_FRAME) -> bytes | None:
    """The next frame (blocking; the grader sets a timeout on its sockets), or None."""
    header = _receive_exactly(sock, 8)
    if header is None:
        return None
    size = int.from_bytes(header, "big")
    return None if size > limit else _receive_exactly(sock, size)


def _receive_exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 2**20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------------------- the child
def _block_sockets() -> None:
    """Best-effort network cut-off when the grader runs without isolation (see :mod:`.isolation`)."""
    def refuse(*args, **kwargs):
        raise OSError("network access is disabled during grading")

    for name in ("connect", "connect_ex", "sendto", "bind"):
        setattr(socket.socket, name, refuse)
    socket.create_connection = refuse
    socket.getaddrinfo = refuse


def _parse(source: str) -> list:
    """The statements of a cell; IPython syntax (magics, ``!cmd``) is translated first if needed."""
    try:
        return ast.parse(source).body
    except SyntaxError:
        pass
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return ast.parse(TransformerManager().transform_cell(source)).body
    except SyntaxError:
        raise
    except Exception:  # noqa: BLE001 - a broken transformer is the same as a syntax error
        return ast.parse(source).body


class _Child:
    """One submission's exercise cells, loaded once and probed on request."""

    def __init__(self, channel: socket.socket):
        self.channel = channel
        self.namespace = {"__name__": "__main__", "__builtins__": __builtins__}
        # Bound now: student code may rebind the module attributes later (it only hurts itself).
        self._dumps, self._loads, self._send_frame, self._send = json.dumps, pickle.loads, send_frame, send_message

    def event(self, **message) -> None:
        try:
            self._send(self.channel, message)
        except OSError:
            pass

    def load(self, stream: socket.socket) -> None:
        job = json.loads(receive_frame(stream) or b"{}")
        stream.close()
        if job.get("block_sockets"):
            _block_sockets()
        exec(compile(job["prelude"], "<grader prelude>", "exec"), self.namespace)  # noqa: S102 - trusted code
        skip = {tuple(x) for x in job.get("skip", [])}
        problems = []
        for ci, cell in enumerate(job["cells"]):
            label = cell["label"]
            try:
                statements = _parse(cell["source"])
            except SyntaxError as error:
                problems.append(f"{label} has a syntax error at line {error.lineno}: {error.msg}")
                continue
            for si, statement in enumerate(statements):
                if (ci, si) in skip:
                    problems.append(f"{label}, line {statement.lineno}: not run (it stopped an earlier attempt)")
                    continue
                self.event(stmt=[ci, si])
                try:
                    code = compile(ast.Module(body=[statement], type_ignores=[]), f"<{label}>", "exec")
                    exec(code, self.namespace)  # noqa: S102 - the sandbox exists to run this
                except BaseException as error:  # noqa: BLE001 - student code may raise anything, even SystemExit
                    problems.append(f"{label}, line {statement.lineno}: {type(error).__name__}: {error}")
        self.event(loaded=[p[:500] for p in problems[:10]])

    def probe(self, request: dict, stream: socket.socket) -> None:
        import numpy as np
        from selfsup.checks._core import CheckFailed, outputs_of

        name = str(request.get("name", "?"))
        reply, payload = {}, b""
        try:
            inputs = self._loads(receive_frame(stream))
            module = importlib.import_module(request["module"])
            exercise = next(e for e in module.EXERCISES if e.test == request["exercise"])
            if exercise.name not in self.namespace:
                reply = {"error": f"[{name}] {name} is not defined by the exercise cells.", "missing": True}
            else:
                outputs = outputs_of(exercise, self.namespace[exercise.name], inputs)
                buffer = io.BytesIO()
                np.savez(buffer, **{key: value.numpy() for key, value in outputs.items()})
                reply, payload = {"ok": True}, buffer.getvalue()
        except CheckFailed as failure:
            reply = {"error": str(failure)[:4000]}
        except BaseException as error:  # noqa: BLE001 - student code may raise anything, even SystemExit
            reply = {"error": f"[{name}] raised {type(error).__name__}: {error}"[:4000]}
        self.answer(stream, reply, payload)

    def answer(self, stream: socket.socket, reply: dict, payload: bytes) -> None:
        """Write a reply (a JSON frame, then the ``.npz`` if any) on a request's socket and close it."""
        try:
            self._send_frame(stream, self._dumps(reply).encode())
            if payload:
                self._send_frame(stream, payload)
        except OSError:
            pass
        stream.close()

    def replay(self, request: dict, stream: socket.socket) -> None:
        """Run an exercise's replay on programs a student's job recorded; never in a job that loaded cells."""
        import numpy as np
        from selfsup.checks._core import CheckFailed, plain, seeded

        reply, payload = {}, b""
        try:
            inputs = self._loads(receive_frame(stream))
            with np.load(io.BytesIO(receive_frame(stream) or b""), allow_pickle=False) as data:
                programs = plain({key: data[key] for key in data.files})
            module = importlib.import_module(request["module"])
            exercise = next(e for e in module.EXERCISES if e.test == request["replay"])
            with seeded():
                outputs = plain(exercise.replay(programs, inputs))
            buffer = io.BytesIO()
            np.savez(buffer, **{key: value.numpy() for key, value in outputs.items()})
            reply, payload = {"ok": True}, buffer.getvalue()
        except CheckFailed as failure:
            reply = {"error": str(failure)[:4000]}
        except BaseException as error:  # noqa: BLE001 - a malformed program fails its exercise, nothing more
            reply = {"error": f"the recorded forward pass could not be run ({type(error).__name__}: "
                              f"{str(error)[:300]})"}
        self.answer(stream, reply, payload)

    def serve(self) -> None:
        loaded = False
        while True:
            message, fds = receive_message(self.channel)
            stream = socket.socket(fileno=fds[0]) if fds else None
            if message is None or message.get("end"):
                return
            if stream is None:
                continue
            if "load" in message:
                loaded = True
                self.load(stream)
            elif "exercise" in message:
                self.probe(message, stream)
            elif "replay" in message and not loaded:
                self.replay(message, stream)


def _child(control: socket.socket, channel_fd: int, drop_user: bool) -> None:
    """Run one job in this (forked) process and end it."""
    try:
        control.close()  # student code must not talk to the zygote
        os.setsid()
        if drop_user:  # to the sandbox user, losing every capability
            os.setgroups([])
            os.setresgid(SANDBOX_GID, SANDBOX_GID, SANDBOX_GID)
            os.setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
        libc = ctypes.CDLL(None)
        libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        libc.prctl(_PR_SET_DUMPABLE, 1)  # its own descendants may inspect it; the zygote stays closed
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        _Child(socket.socket(fileno=channel_fd)).serve()
    except BaseException:  # noqa: BLE001 - never hang, never run atexit hooks
        pass
    finally:
        os._exit(0)


def _reap() -> None:
    """As process 2 of a PID namespace (process 1 is bubblewrap): kill every other process in it."""
    if os.getpid() > 2:
        return  # no namespace of our own: kill(-1) would reach the whole machine
    try:
        os.kill(-1, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                break
        except ChildProcessError:
            break


def serve(preload_file: str, control_fd: int, drop_user: bool) -> None:
    """The zygote: import once, then fork one child per job."""
    ctypes.CDLL(None).prctl(_PR_SET_DUMPABLE, 0)
    control = socket.socket(fileno=control_fd)
    with open(preload_file, encoding="utf-8") as f:
        preload = f.read()
    exec(compile(preload, "<grader preload>", "exec"), {"__name__": "__preload__"})  # noqa: S102 - trusted
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    send_message(control, {"ready": True})
    while True:
        message, fds = receive_message(control)
        if message is None:
            return
        if "job" not in message or not fds:
            for fd in fds:
                os.close(fd)
            continue
        child = os.fork()
        if child == 0:
            _child(control, fds[0], drop_user)
        os.close(fds[0])
        _, status = os.waitpid(child, 0)
        try:
            os.killpg(child, signal.SIGKILL)  # what the child started in its session, even without a namespace
        except (ProcessLookupError, PermissionError):
            pass
        _reap()
        send_message(control, {"done": message["job"], "exit": os.waitstatus_to_exitcode(status)})


if __name__ == "__main__":
    sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != os.path.dirname(os.path.abspath(__file__))]
    serve(sys.argv[1], int(sys.argv[2]), sys.argv[3] == "drop-user")
