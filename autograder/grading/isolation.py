"""What a process that runs student code can see, who it runs as, and what it can reach.

Every process that runs student code (the nbgrader kernel and the re-check sandbox) starts
through :func:`command`, which wraps it in `bubblewrap <https://github.com/containers/bubblewrap>`_
(``bwrap``, the sandbox under Flatpak; Debian package ``bubblewrap``). The process then has its
own mount, PID, IPC, UTS and network namespaces, and its filesystem holds only:

* the system's programs and libraries (``/usr``, ``/lib*``, ``/bin``, ``/sbin``) and a few
  files of ``/etc`` (the dynamic linker's cache, users and groups, fonts, time zone);
* the Python environment (the virtual environment and the Python it was made from),
  read-only;
* the student helper package ``selfsup``, read-only;
* its own scratch folder (:func:`make_scratch`), whose subfolders ``home/`` (its home and
  working folder), ``tmp/`` and ``shm/`` (its ``/dev/shm``) alone are writable; the scratch
  folder itself is owned by the grader and read-only inside, so student code cannot rename,
  replace or remove a subfolder that the grader or its next job relies on;
* what its caller binds in on top (the re-check's runner script), read-only;
* a fresh ``/proc`` (its own processes only) and a minimal ``/dev``.

Everything else is absent: the course repository (sources, solutions, the grader's package
and its references), the grader's working folders, other students' submissions, the output
folder. The course repository and the grader's package are hidden under an empty ``tmpfs``
even when they lie inside a bound folder (a grader installed into the virtual environment, a
course under ``/usr/local``); keep the working folders, submissions and output outside the
system and Python folders.

When the grader runs as root, the process also drops to the unprivileged user ``nobody``
(uid 65534) with no capabilities and ``no_new_privs``, so file permissions apply on top of
the mount namespace. Without root, bubblewrap uses an unprivileged user namespace and the
process keeps the grader's own uid, but still sees only the folders above.

The modes, recorded in ``results.json`` and ``summary.md``:

* :data:`BUBBLEWRAP_NOBODY`: root host, bubblewrap and the user ``nobody``;
* :data:`BUBBLEWRAP`: bubblewrap with the grader's own user;
* :data:`NONE`: no isolation, only with ``grade --no-isolation``: student code sees the
  whole filesystem with the grader's rights (network sockets are blocked in the re-check only).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# The unprivileged user and group that student code runs as when the grader is root: defined by the
# sandbox runner (it runs alone inside the sandbox and drops to them), used here for its folders.
from .sandbox import SANDBOX_GID, SANDBOX_UID

BUBBLEWRAP_NOBODY = "bubblewrap, user nobody"
BUBBLEWRAP = "bubblewrap"
NONE = "none"
#: Files of /etc a Python process needs (the dynamic linker's cache, user names, fonts for
#: matplotlib, the time zone). Nothing else of /etc is visible.
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group", "nsswitch.conf", "localtime", "fonts",
       "alternatives")
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
SETPRIV = "/usr/bin/setpriv"
#: The subfolders of a scratch folder, the only places a student process may write to.
HOME, TMP, SHM = "home", "tmp", "shm"
WRITABLE = (HOME, TMP, SHM)
#: The only variables a process that runs student code inherits from the grader (an allow-list:
#: a credential under a name that no deny-list foresaw stays out, and so does the probe seed):
#: nbgrader's flags that tell a notebook it is being graded, and the course's own settings
#: (``SELFSUP_<NAME>`` overrides a grading-mode size). Everything else it gets is set by
#: :func:`environment`.
INHERITED = re.compile(r"NBGRADER_EXECUTION|NBGRADER_VALIDATING|SELFSUP_[A-Z0-9_]+")


class IsolationUnavailable(RuntimeError):
    """This host cannot isolate student code (no bubblewrap, or namespaces are forbidden)."""


@dataclass(frozen=True)
class Isolation:
    """How the processes that run student code are isolated.

    Attributes:
        mode: :data:`BUBBLEWRAP_NOBODY`, :data:`BUBBLEWRAP` or :data:`NONE`.
        network: student code may use the network (``grade --allow-network``).
    """

    mode: str
    network: bool = False

    @property
    def isolated(self) -> bool:
        return self.mode != NONE

    @property
    def drops_user(self) -> bool:
        return self.mode == BUBBLEWRAP_NOBODY

    def describe(self) -> str:
        """One line for ``results.json`` and ``summary.md``."""
        if not self.isolated:
            return ("none (--no-isolation): student code could read every file the grader can read"
                    + ("" if self.network else "; network blocked in the re-check only"))
        who = "user nobody without capabilities" if self.drops_user else "the grader's own user"
        net = "network allowed (--allow-network)" if self.network else "no network"
        return f"{self.mode}: mount, PID and IPC namespaces, {net}, {who}"


def environment(isolation: Isolation, scratch: Path, threads: int | str | None = None,
                inherit: dict[str, str] | None = None) -> dict[str, str]:
    """The whole environment of a process that runs student code (a kernel or the re-check's zygote).

    Args:
        isolation: the mode (the user names follow it).
        scratch: the process's scratch folder (:func:`make_scratch`): its home and temporary folders.
        threads: torch's and BLAS's threads; default: the grader's own share (its ``OMP_NUM_THREADS``,
            which the batch sets per worker), else 1.
        inherit: where the :data:`INHERITED` variables come from (default: this process's environment).
    """
    source = os.environ if inherit is None else inherit
    threads = str(threads or os.environ.get("OMP_NUM_THREADS") or 1)
    env = {name: value for name, value in source.items() if INHERITED.fullmatch(name)}
    env.update(PATH=os.pathsep.join([str(Path(inside_path(sys.executable)).parent), "/usr/local/bin", "/usr/bin",
                                     "/bin"]),
               HOME=str(home(scratch)), TMPDIR=str(Path(scratch) / TMP),
               MPLCONFIGDIR=str(home(scratch) / ".matplotlib"),
               LANG="C.UTF-8", SELFSUP_MODE="grading", MPLBACKEND="Agg", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, PYTHONUNBUFFERED="1")
    if isolation.drops_user:
        env.update(USER="nobody", LOGNAME="nobody")
    return env


def _secret_roots() -> list[Path]:
    """Folders no student process may see, even when they lie inside a folder it needs."""
    import autograder

    from .. import course

    return [course.ROOT, Path(autograder.__file__).resolve().parent]


def _helper() -> Path:
    import selfsup

    return Path(selfsup.__file__).resolve().parent


def _python_environment() -> list[Path]:
    """The virtual environment and the Python it was made from (resolved: the venv's python is a link)."""
    paths = [Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent.parent]
    return list(dict.fromkeys(p.resolve() for p in paths))


def command(isolation: Isolation, cmd: list[str], scratch: Path, read_only: tuple[tuple[Path, Path], ...] = (),
            private_tmp: bool = True, zygote: bool = False, env: dict[str, str] | None = None) -> list[str]:
    """``cmd`` wrapped so that it runs isolated, with ``scratch/home`` as its home and working folder.

    Every folder but the subfolders of ``scratch``, ``/tmp`` and ``/dev/shm`` is read-only inside. The process's
    environment is ``env`` and nothing else, whatever the caller's environment holds (without
    isolation, the caller must start it with ``env``).

    Args:
        isolation: the mode (with :data:`NONE`, ``cmd`` is returned unchanged).
        cmd: the command; its program must lie in a visible folder.
        scratch: a folder made by :func:`make_scratch`; bound read-only at the same path, its
            subfolders ``home/`` and ``tmp/`` read-write.
        read_only: more ``(source, destination)`` pairs, bound read-only.
        private_tmp: give the process its own empty, writable ``/tmp`` and ``/dev/shm`` (a
            kernel). Without it (the re-check's long-lived zygote, whose children are different
            students), ``/tmp`` is read-only and ``/dev/shm`` is ``scratch/shm``, so that
            everything a student process can write lies in ``scratch``, which the grader empties
            after each job.
        zygote: the process runs no student code itself but forks the processes that do (the
            re-check's zygote). When the grader is root, it keeps uid 0 with only the capabilities
            to change its children's user and to kill them (``CAP_SETUID``, ``CAP_SETGID``,
            ``CAP_KILL``); each child drops to :data:`SANDBOX_UID` before student code runs, so
            no child can signal or trace the zygote.
        env: the environment inside (default: :func:`environment`).
    """
    if not isolation.isolated:
        return list(cmd)
    argv = ["bwrap", "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if not isolation.network:
        argv.append("--unshare-net")
    bound: list[Path] = []   # mount points, in order
    masked: list[Path] = []  # secret folders hidden under a tmpfs (mounted after the binds that hold them)
    made: set[Path] = set()

    def visible(path: Path) -> bool:
        return any(path.is_relative_to(b) for b in bound) and not any(path.is_relative_to(m) for m in masked)

    def parents(path: Path) -> None:
        """Folders on the way to a mount point, readable by everyone (bwrap would make them 0700)."""
        for parent in reversed(path.parents):
            if parent != Path("/") and parent not in made and not visible(parent):
                argv.extend(["--perms", "0755", "--dir", str(parent)])
                made.add(parent)

    def bind(source: Path, destination: Path, option: str = "--ro-bind") -> None:
        parents(destination)
        argv.extend([option, str(source), str(destination)])
        bound.append(destination)

    if private_tmp:  # first: a later mount would hide every bind below /tmp (a course cloned there)
        argv.extend(["--perms", "1777", "--tmpfs", "/tmp"])
        made.add(Path("/tmp"))
    for folder in SYSTEM:
        path = Path(folder)
        if path.is_symlink():
            argv.extend(["--symlink", os.readlink(path), folder])
        elif path.is_dir():
            bind(path, path)
    for name in ETC:
        if (Path("/etc") / name).exists():
            bind(Path("/etc") / name, Path("/etc") / name)
    def mask_secrets() -> None:
        for secret in _secret_roots():
            if visible(secret):
                argv.extend(["--tmpfs", str(secret)])
                masked.append(secret)

    mask_secrets()  # a course kept under /usr
    for path in _python_environment():
        if not visible(path):
            bind(path, path)
    mask_secrets()  # a grader installed into the environment
    if not visible(_helper()):
        bind(_helper(), _helper())
    for source, destination in read_only:
        bind(Path(source), Path(destination))
    scratch = Path(scratch)
    bind(scratch, scratch)
    for name in (HOME, TMP):  # mount points: not even their owner can rename or remove them inside
        argv.extend(["--bind", str(scratch / name), str(scratch / name)])
    argv += ["--proc", "/proc", "--dev", "/dev"]
    if private_tmp:
        argv += ["--perms", "1777", "--tmpfs", "/dev/shm"]
    else:
        argv += ["--bind", str(scratch / SHM), "/dev/shm"]
    # Only the allow-listed environment (no JPY_PARENT_PID either: ipykernel shuts down when its parent's
    # pid changes, and in a PID namespace its parent is bubblewrap, which dies with the grader anyway).
    argv.append("--clearenv")
    for name, value in (environment(isolation, scratch) if env is None else env).items():
        argv += ["--setenv", name, value]
    argv += ["--remount-ro", "/", "--chdir", str(home(scratch))]
    if isolation.drops_user:
        argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        if zygote:
            argv += ["--cap-add", "CAP_KILL", "--"]
        else:
            argv += ["--", SETPRIV, f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_GID}", "--clear-groups",
                     "--inh-caps=-all", "--bounding-set=-all", "--nnp", "--"]
    else:
        argv.append("--")
    return argv + [inside_path(cmd[0])] + list(cmd[1:])


def inside_path(program: str) -> str:
    """``program``'s path as the sandbox sees it: absolute, with the links in its folders resolved.

    The sandbox binds the Python environment at its real place only, so a ``.venv`` linked from
    elsewhere, or a path through ``..``, names folders that are not there inside. The program's own
    name stays: a virtual environment's ``python`` is a link to the base interpreter, and only
    through the environment's ``bin/`` does it find its ``pyvenv.cfg``.
    """
    path = Path(os.path.abspath(program))
    return str(path.parent.resolve() / path.name)


def home(scratch: Path) -> Path:
    """The home and working folder of the process that uses ``scratch``."""
    return Path(scratch) / HOME


def sandboxed(isolation: Isolation, cmd: list[str], scratch: Path, limits, group=None, *,
              threads: int | str | None = None, inherit: dict[str, str] | None = None,
              read_only: tuple[tuple[Path, Path], ...] = (), private_tmp: bool = True,
              zygote: bool = False) -> tuple[list[str], dict[str, str]]:
    """The one definition of a process that runs student code (a kernel, the re-check's zygote).

    Its environment is the allow-list (:func:`environment`), its view of the files the isolation's
    (:func:`command`), and its limits and control group the launcher's (:func:`.limits.launcher`,
    :mod:`.resources`).

    Args:
        isolation, cmd, scratch, read_only, private_tmp, zygote: as for :func:`command`.
        limits: a :class:`.limits.Limits` (its memory and file sizes apply).
        group: the process's control group, or ``None``.
        threads, inherit: as for :func:`environment`.

    Returns:
        ``(argv, env)``: start ``argv`` with exactly ``env`` as its environment.
    """
    from .limits import launcher

    env = environment(isolation, scratch, threads=threads, inherit=inherit)
    argv = command(isolation, cmd, scratch, read_only=read_only, private_tmp=private_tmp, zygote=zygote, env=env)
    return launcher(argv, limits, group), env


def make_scratch(path: Path, isolation: Isolation) -> Path:
    """Create (or empty) a scratch folder: ``home/``, ``tmp/`` and ``shm/``, owned by the sandbox's user,
    in a folder owned by the grader.

    Only the subfolders are writable (by permissions, and inside the sandbox because the scratch
    folder is bound read-only): a student process can neither rename ``shm/``, which a running
    zygote has mounted as its ``/dev/shm``, nor put a link or a file of its own in the place of a
    subfolder. An existing folder is emptied in place, its subfolders kept: a running sandbox (the
    re-check's zygote, between jobs) has them mounted, and deleting a mount point on the host
    would unmount it in the sandbox, leaving the next job without a writable home.
    """
    path = Path(path)
    if path.is_dir():
        _empty(path, keep=WRITABLE)
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o755)
    for name in WRITABLE:
        folder = path / name
        folder.mkdir(exist_ok=True)
        os.chmod(folder, 0o700 if name == HOME else 0o1777)
    matplotlib = home(path) / ".matplotlib"
    matplotlib.mkdir()
    cache = _font_cache()
    if cache is not None:
        shutil.copy(cache, matplotlib / cache.name)
    if isolation.drops_user:
        for folder, _, files in os.walk(home(path)):
            for name in [folder, *(os.path.join(folder, f) for f in files)]:
                os.chown(name, SANDBOX_UID, SANDBOX_GID)
        for name in (TMP, SHM):
            os.chown(path / name, SANDBOX_UID, SANDBOX_GID)
    return path


def _empty(folder: Path, keep: tuple[str, ...] = ()) -> None:
    """Delete everything inside ``folder``; the folders named in ``keep`` stay, emptied."""
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            if entry.name in keep:
                _empty(entry)
            else:
                shutil.rmtree(entry)
        else:
            entry.unlink()


@functools.lru_cache(maxsize=1)
def _font_cache() -> Path | None:
    """Matplotlib's font list, built once by the grader so that no kernel builds it again."""
    try:
        import matplotlib
        from matplotlib import font_manager  # noqa: F401 - builds the cache on first import

        found = sorted(Path(matplotlib.get_cachedir()).glob("fontlist-*.json"))
    except Exception:  # noqa: BLE001 - only a speed-up
        return None
    return found[-1] if found else None


@functools.lru_cache(maxsize=1)
def best_available() -> str | None:
    """The strongest mode this host allows (probed once by running a command isolated), or None."""
    if shutil.which("bwrap") is None or sys.platform != "linux":
        return None
    mode = BUBBLEWRAP_NOBODY if os.geteuid() == 0 and Path(SETPRIV).exists() else BUBBLEWRAP
    import tempfile

    with tempfile.TemporaryDirectory(prefix="isolation-probe-") as tmp:
        os.chmod(tmp, 0o755)
        isolation = Isolation(mode)
        scratch = make_scratch(Path(tmp) / "scratch", isolation)
        probe = command(isolation, [sys.executable, "-c", _PROBE], scratch)
        try:
            result = subprocess.run(probe, capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as error:
            _PROBE_FAILURE[:] = [f"bubblewrap did not run ({error})"]
            return None
    if result.returncode:
        said = result.stderr.decode(errors="replace").strip().splitlines()
        _PROBE_FAILURE[:] = [f"bubblewrap is installed, but {inside_path(sys.executable)} -c ... exited with code "
                             f"{result.returncode} inside it" + (f": {said[-1][:300]}" if said else "")]
        return None
    return mode


#: Why the last probe of :func:`best_available` failed, when bubblewrap is installed.
_PROBE_FAILURE: list[str] = []


_PROBE = """
import os, socket, sys
s = socket.socket()
s.settimeout(2)
try:
    s.connect(("1.1.1.1", 53))
    sys.exit(3)
except OSError:
    pass
sys.exit(0 if os.getpid() <= 2 else 4)
"""


def choose(allow_network: bool = False, allow_none: bool = False) -> Isolation:
    """The isolation of a grading run: the strongest available, or none if the instructor allows it.

    Raises:
        IsolationUnavailable: if the host cannot isolate and ``allow_none`` is False.
    """
    mode = best_available()
    if mode is None:
        if not allow_none:
            if _PROBE_FAILURE:
                fix = f"{_PROBE_FAILURE[0]}. Make that command run inside the sandbox"
            else:
                fix = ("bubblewrap (bwrap) is missing or namespaces are not allowed. Install it (Debian/Ubuntu: "
                       "apt-get install bubblewrap; run as root or allow unprivileged user namespaces)")
            raise IsolationUnavailable(
                f"this host cannot isolate student code: {fix}, or pass --no-isolation to grade anyway: student code "
                "could then read the grader's references, the solutions and the other submissions (see "
                "docs/grading.md).")
        return Isolation(NONE, allow_network)
    return Isolation(mode, allow_network)
