"""The sandbox one submission runs in: its own worker process and kernel, limits, a user of its own.

Both sides live here:

- the grader's side, :func:`run_worker`: start ``python -m aelab.grade.worker`` in a new session with
  a minimal environment, hand it the cells to run on stdin, read its events (one JSON object per
  line, size-limited, loaded with :mod:`json` only) from stdout, enforce the wall clock, and kill
  every process the submission left behind;
- the worker's side, :func:`enter`: before any student code runs, switch to the sandbox user with
  the limits (address space, processes, file size, no core dumps) that the kernel then inherits.

When the grader runs as root (as on CI), each submission gets a user id of its own, which no
account, no other submission and no other batch on the machine uses (:class:`Identities`):
RLIMIT_NPROC is not enforced for root and counts per user, so a fork bomb in one submission cannot
starve the others, and killing "every process of that user" cleans up all that a submission started,
even processes that left their process group, and nothing else. As root the worker also
enters a private mount namespace where it

- gets fresh, size-capped ``/tmp``, ``/var/tmp`` and ``/dev/shm`` (the working directory lives there);
- hides the solution (its folder, or the file) and the output folder under empty mounts;
- makes the Python installation reachable when it sits in a folder only root may enter (a
  pyenv Python under ``/root``): that folder is covered by an empty one holding just the needed
  sub-folder, so nothing else of it shows.

Without root, the worker keeps the grader's user and applies the same limits (RLIMIT_NPROC then
counts the user's other processes too, so it is set to their number plus the allowance).
"""

from __future__ import annotations

import ctypes
import json
import os
import pwd
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

__all__ = [
    "DEFAULT_UIDS",
    "Identities",
    "Limits",
    "Outcome",
    "SandboxError",
    "Slot",
    "at_process_limit",
    "enter",
    "hidden_paths",
    "run_worker",
    "sent_limits",
]

#: The longest event line read from a worker, and the most read in all (bytes).
MAX_EVENT_LINE = 16 * 2**20
MAX_EVENTS_TOTAL = 64 * 2**20
#: Seconds a worker has to exit after its last event before it is killed.
EXIT_GRACE = 10.0
#: The share of its process limit at which a sandbox counts as having hit it.
CROWDED = 0.9
#: Caps on the instruction set of PyTorch's, oneDNN's and MKL's kernels (``aelab.portable``): the only
#: variables of the grader's that reach the sandbox, so that a submission computes as the grader does.
KERNEL_CAPS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")

_CLONE_NEWNS = 0x00020000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_BIND, _MS_REC, _MS_PRIVATE = 1, 2, 4, 4096, 16384, 1 << 18
_PR_SET_DUMPABLE = 4


class SandboxError(RuntimeError):
    """The sandbox cannot be set up; the message names the cause and the fix (an instructor's problem)."""


@dataclass(frozen=True)
class Limits:
    """What one submission may use.

    ``timeout``: seconds of wall clock for running all its cells (not counted: starting the kernel and
    running the grader's set-up cell, up to ``startup`` seconds each); ``cell_timeout``: seconds one
    cell may run before it is interrupted and the next cell runs (so an endless loop in one exercise
    costs that exercise only; capped by what is left of ``timeout``); ``memory_mb``: address space
    per process (RLIMIT_AS; a kernel that imports torch maps much of it, docs/benchmarks.md, so keep
    3 GiB or more); ``processes``: processes and threads of the sandbox user (RLIMIT_NPROC);
    ``disk_mb``: the biggest file it may write and the size of its /tmp.
    """

    timeout: float = 300.0
    memory_mb: int = 4096
    processes: int = 256
    disk_mb: int = 512
    startup: float = 120.0
    cell_timeout: float = 120.0

    def __post_init__(self) -> None:
        from aelab.validate import check_float, check_int  # here: the worker, which never builds one, skips torch

        for name in ("timeout", "startup", "cell_timeout"):
            check_float(f"Limits.{name}", getattr(self, name), minimum=0.0, min_inclusive=False)
        for name in ("memory_mb", "processes", "disk_mb"):
            check_int(f"Limits.{name}", getattr(self, name), minimum=1)


def sent_limits(fields: dict[str, float]) -> Limits:
    """The :class:`Limits` the grader sent to a worker (validated there), rebuilt without validating
    again: the worker then never imports :mod:`aelab.validate`, whose torch would cost every
    sandbox seconds and memory before the student's kernel even starts."""
    limits = object.__new__(Limits)
    for name, value in fields.items():
        object.__setattr__(limits, name, value)
    return limits


@dataclass(frozen=True)
class Slot:
    """The identity one submission runs as: a user and group of its own (None: keep the grader's user)."""

    uid: int | None
    gid: int | None


#: The user ids the sandboxes draw from when grading as root (no account may use them), and the
#: size of the block of ids one batch claims: submission k of the batch runs as ``block start + k``.
DEFAULT_UIDS = (2_000_000_000, 2_999_999_999)
BLOCK = 2**16


class Identities:
    """The identities of one batch's submissions: one user id per submission, never shared.

    As root, the batch claims a block of :data:`BLOCK` user ids at random within ``uids`` (first,
    last), checked free: no account uses an id of it, no process runs as one, and no other batch on
    this machine holds it (an exclusive ``flock`` on ``<tempdir>/aelab-grade-uids/<block>.lock``,
    held until :meth:`close`, and released by the system if the grader dies). Each submission, and
    each retry, then runs as the next id of the block, so that killing "every process of this user"
    after a submission can only touch that submission's processes, whatever else runs on the machine
    (another batch, another instructor, a resumed batch). Without root, every submission keeps the
    grader's user (see :func:`run_worker` for how its processes are found).
    """

    def __init__(self, uids: tuple[int, int] = DEFAULT_UIDS) -> None:
        from aelab.validate import check_int

        first = check_int("the first sandbox user id", uids[0], minimum=1000, maximum=2**32 - 2)
        last = check_int("the last sandbox user id", uids[1], minimum=first, maximum=2**32 - 2)
        if last - first + 1 < BLOCK:
            raise ValueError(
                f"the sandbox user ids must be a range of at least {BLOCK} ids within [1000, {2**32 - 2}], "
                f"got {first}-{last}"
            )
        self._lock: int | None = None
        self._next = 0
        self._taking = threading.Lock()  # the batch's jobs take ids from several threads
        self.start: int | None = None
        if os.geteuid() == 0:
            self.start = self._claim(first, last)

    def _claim(self, first: int, last: int) -> int:
        """Lock a free block of ids at random within [first, last]; return its first id."""
        import fcntl
        import random

        folder = Path(tempfile.gettempdir()) / "aelab-grade-uids"
        folder.mkdir(mode=0o700, exist_ok=True)
        accounts = sorted(entry.pw_uid for entry in pwd.getpwall())
        running = {int(row["Uid"].split()[0]) for row in _proc_status() if row.get("Uid")}
        blocks = list(range(first // BLOCK + (first % BLOCK > 0), (last + 1) // BLOCK))
        for block in random.sample(blocks, min(len(blocks), 64)):
            start = block * BLOCK
            if any(start <= uid < start + BLOCK for uid in accounts) or any(
                start <= uid < start + BLOCK for uid in running
            ):
                continue
            handle = os.open(folder / f"{block}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(handle)
                continue
            self._lock = handle
            return start
        raise SandboxError(
            f"no free block of {BLOCK} user ids between {first} and {last} (accounts, running processes or "
            "other batches use them); pass --sandbox-uids with a larger range no account uses"
        )

    def next(self) -> Slot:
        """A new identity: the next user id of the block (as root), else the grader's own user."""
        if self.start is None:
            return Slot(None, None)
        with self._taking:
            if self._next >= BLOCK:
                raise SandboxError(f"this batch used all {BLOCK} user ids of its block; grade it in smaller batches")
            uid = self.start + self._next
            self._next += 1
        return Slot(uid, uid)

    def close(self) -> None:
        """Release the block (other batches may claim it again)."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None


@dataclass
class Outcome:
    """What came back from a worker: its events, the tail of its stderr, whether it had to be killed
    past its time, and whether the sandbox was at its process limit when the run ended (a fork bomb,
    which can also starve its own kernel until the time runs out). ``seconds``: how long the worker
    ran (its execution, without any wait in a queue); ``retries``: how many times a cluster ran it
    again after a worker died."""

    events: list[dict[str, Any]]
    stderr: str
    killed: bool
    crowded: bool
    seconds: float = 0.0
    retries: int = 0


def _interpreter_paths() -> list[str]:
    """The folders the sandbox must reach to run this Python and import the kit (real paths)."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, str(Path(sys.executable).parent)}
    paths.update(entry for entry in sys.path if entry and os.path.isdir(entry))
    paths.add(str(Path(__file__).resolve().parents[2]))  # the folder holding the aelab package
    return sorted({os.path.realpath(path) for path in paths})


def _inside(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or lies inside it."""
    return os.path.commonpath([path, folder]) == folder


def hidden_paths(solution: Path, out: Path) -> list[str]:
    """What the sandbox must not see: the solution's folder (or only the file, when that folder
    also holds the Python installation) and the output folder (unless it holds the installation,
    in which case its files' permissions protect it)."""
    needed = _interpreter_paths()
    solution, out = solution.resolve(), out.resolve()
    folder = str(solution.parent)
    hidden = [str(solution) if any(_inside(path, folder) for path in needed) else folder]
    if not any(_inside(path, str(out)) for path in needed):
        hidden.append(str(out))
    return hidden


def _environment(workdir: str) -> dict[str, str]:
    """The sandbox's whole environment: nothing of the grader's but its kernel caps, everything
    pointing at ``workdir``, and the kit's threading policy (:mod:`aelab.threads`) at one thread."""
    from aelab import threads

    home = workdir
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": f"{home}/.matplotlib",
        "IPYTHONDIR": f"{home}/.ipython",
        "JUPYTER_CONFIG_DIR": f"{home}/.jupyter",
        "JUPYTER_DATA_DIR": f"{home}/.local/share/jupyter",
        "JUPYTER_RUNTIME_DIR": f"{home}/.local/share/jupyter/runtime",
        "JUPYTER_PLATFORM_DIRS": "1",
        **threads.variables(1),  # one core per submission (the batch runs submissions in parallel)
        "AELAB_DEVICE": "cpu",  # RLIMIT_AS and CUDA's huge address-space reservations do not mix
        **{name: os.environ[name] for name in KERNEL_CAPS if name in os.environ},
    }


# --- the grader's side -------------------------------------------------------------------------


def run_worker(payload: dict[str, Any], limits: Limits, slot: Slot, hide: list[str], scratch: Path) -> Outcome:
    """Run one submission's cells (``payload["steps"]``) in a fresh worker; return its events.

    ``scratch`` is a root-owned folder for working directories; ``hide`` lists paths the sandbox
    must not see. Whatever happens, every process of the sandbox is gone when this returns.
    """
    workdir = Path(tempfile.mkdtemp(prefix="job-", dir=scratch))
    if slot.uid is not None:
        _clear(slot)  # what an interrupted batch may have left behind
        os.chown(workdir, slot.uid, slot.gid)
    config = {
        **payload,
        "sandbox": {
            "uid": slot.uid,
            "gid": slot.gid,
            "workdir": str(workdir),
            "hide": hide,
            "needed": _interpreter_paths(),
            "limits": asdict(limits),
        },
    }
    process = subprocess.Popen(
        [sys.executable, "-I", "-B", "-m", "aelab.grade.worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=workdir,
        env=_environment(str(workdir)),
        start_new_session=True,
    )
    events: list[dict[str, Any]] = []
    stderr: list[bytes] = []
    readers = [
        threading.Thread(target=_read_events, args=(process.stdout, events), daemon=True),
        threading.Thread(target=_read_tail, args=(process.stderr, stderr), daemon=True),
    ]
    for reader in readers:
        reader.start()
    killed = False
    started = time.monotonic()
    try:
        _feed(process.stdin, json.dumps(config).encode())
        deadline = time.monotonic() + 2 * limits.startup + limits.timeout + EXIT_GRACE  # see Limits
        while process.poll() is None and time.monotonic() < deadline:
            if events and events[-1].get("event") == "end":
                deadline = min(deadline, time.monotonic() + EXIT_GRACE)
            time.sleep(0.1)
        killed = process.poll() is None
    finally:
        _kill_everything(process, slot)
        for reader in readers:
            reader.join(timeout=EXIT_GRACE)
        shutil.rmtree(workdir, ignore_errors=True)
    crowded = any(event.get("event") == "end" and event.get("crowded") is True for event in events)
    seconds = time.monotonic() - started
    return Outcome(events, b"".join(stderr).decode(errors="replace"), killed, crowded, seconds)


def _feed(pipe: IO[bytes] | None, data: bytes) -> None:
    """Write ``data`` to the worker's stdin and close it; a worker that died early is not an error here."""
    assert pipe is not None
    try:
        pipe.write(data)
        pipe.close()
    except BrokenPipeError:
        pass


def _read_events(pipe: IO[bytes] | None, events: list[dict[str, Any]]) -> None:
    """Collect a worker's events: JSON objects, one a line, within :data:`MAX_EVENT_LINE` each."""
    assert pipe is not None
    total = 0
    while total < MAX_EVENTS_TOTAL:
        line = pipe.readline(MAX_EVENT_LINE + 1)
        if not line:
            break
        total += len(line)
        if len(line) > MAX_EVENT_LINE:
            events.append({"event": "end", "status": "sandbox-error", "detail": "the worker sent an oversized event"})
            break
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and isinstance(event.get("event"), str):
            events.append(event)
    pipe.close()


def _read_tail(pipe: IO[bytes] | None, tail: list[bytes], keep: int = 4096) -> None:
    """Keep the last ``keep`` bytes a pipe delivers (a worker's stderr, for diagnosis)."""
    assert pipe is not None
    while chunk := pipe.read1(65536):
        tail.append(chunk)
        joined = b"".join(tail)[-keep:]
        tail[:] = [joined]
    pipe.close()


def _kill_everything(process: subprocess.Popen[bytes], slot: Slot) -> None:
    """Kill the worker, its kernel and whatever they started.

    As root: every process of the slot's user (``kill -KILL -1`` run as that user), until none is
    left. Otherwise: the process groups of the worker and of its children (the kernel runs in a
    session of its own); a process that left both escapes, which only the root mode prevents.
    """
    if slot.uid is not None:
        _clear(slot)
    else:
        groups = {os.getpgid(pid) for pid in _children_of(process.pid) if _exists(pid)} | {process.pid}
        for group in groups:
            try:
                os.killpg(group, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    process.wait()


def _clear(slot: Slot) -> None:
    """Kill every process of the slot's user (``kill -KILL -1`` run as that user) until none is left.

    Raises :class:`SandboxError` if some survive (which would be processes of a real account).
    """
    assert slot.uid is not None
    kill = shutil.which("kill") or "/bin/kill"
    for _ in range(50):
        if not _processes_of(slot.uid):
            return
        subprocess.run(
            [kill, "-KILL", "-1"], user=slot.uid, group=slot.gid, extra_groups=[],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin"}, check=False,
        )  # fmt: skip
        time.sleep(0.05)
    raise SandboxError(f"processes of the sandbox user {slot.uid} survive being killed; choose other --sandbox-uids")


def _exists(pid: int) -> bool:
    """Whether process ``pid`` still exists."""
    try:
        os.getpgid(pid)
    except ProcessLookupError:
        return False
    return True


def _proc_status() -> list[dict[str, str]]:
    """``/proc/<pid>/status`` of every process, as dicts (empty where /proc is absent)."""
    table = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            lines = (entry / "status").read_text().splitlines()
        except OSError:
            continue
        table.append(dict(line.split(":\t", 1) for line in lines if ":\t" in line))
    return table


def _processes_of(uid: int) -> list[int]:
    """The pids of the processes whose real user is ``uid``."""
    return [int(row["Pid"]) for row in _proc_status() if row.get("Uid", "").split()[:1] == [str(uid)]]


def _children_of(pid: int) -> list[int]:
    """The pids of the direct children of ``pid``."""
    return [int(row["Pid"]) for row in _proc_status() if row.get("PPid") == str(pid)]


def _tasks_of(uid: int) -> int:
    """How many tasks (processes and threads: what RLIMIT_NPROC counts) user ``uid`` runs."""
    rows = _proc_status()
    return sum(int(row.get("Threads", "1")) for row in rows if row.get("Uid", "").split()[:1] == [str(uid)])


# --- the worker's side -------------------------------------------------------------------------


def enter(config: dict[str, Any]) -> Path:
    """Enter the sandbox described by ``config`` (see :func:`run_worker`); return the working folder.

    Run first thing in the worker, before any student code: as root, a private mount namespace
    (private temporary folders, hidden solution and output, a reachable Python), then the switch to
    the sandbox user; in every case the resource limits and a non-dumpable worker (so that the
    kernel, although the same user, cannot read the worker's memory or its file descriptors).
    """
    limits = sent_limits(config["limits"])
    workdir = Path(config["workdir"])
    uid, gid = config["uid"], config["gid"]
    if uid is not None:
        if _private_mounts(config, limits):
            os.makedirs(workdir, mode=0o711, exist_ok=True)
            os.chown(workdir, uid, gid)
            os.chmod(workdir, 0o700)
        else:
            _require_reachable(config["needed"], uid, gid)
        os.chdir(workdir)
        try:
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
        except OSError as exc:
            raise SandboxError(
                f"cannot switch to the sandbox user {uid} ({exc.strerror}); pass --sandbox-uids with ids "
                "this system can use (in a user namespace, ids inside its mapped range)"
            ) from None
    processes = limits.processes if uid is not None else _tasks_of(os.getuid()) + limits.processes
    for which, value in (
        (resource.RLIMIT_AS, limits.memory_mb * 2**20),
        (resource.RLIMIT_NPROC, processes),
        (resource.RLIMIT_FSIZE, limits.disk_mb * 2**20),
        (resource.RLIMIT_CORE, 0),
    ):
        hard = resource.getrlimit(which)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (value, value))
    _libc().prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    return workdir


def at_process_limit() -> bool:
    """In the sandbox: whether its user runs (nearly) as many tasks as RLIMIT_NPROC allows."""
    return _tasks_of(os.getuid()) >= CROWDED * resource.getrlimit(resource.RLIMIT_NPROC)[0]


def _libc() -> ctypes.CDLL:
    """The C library, for unshare(2), mount(2) and prctl(2)."""
    return ctypes.CDLL(None, use_errno=True)


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    """mount(2); raises OSError naming the target."""
    libc = _libc()
    encode = lambda text: None if text is None else text.encode()  # noqa: E731
    if libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"mount on {target} failed: {os.strerror(error)}")


def _private_mounts(config: dict[str, Any], limits: Limits) -> bool:
    """Enter a private mount namespace and set it up; False when this system does not allow one."""
    libc = _libc()
    if libc.unshare(_CLONE_NEWNS) != 0:
        return False
    _mount("none", "/", None, _MS_REC | _MS_PRIVATE)
    _open_blocked(config["needed"], config["uid"], config["gid"])
    for folder in ("/tmp", "/var/tmp", "/dev/shm"):
        if os.path.isdir(folder):
            # A kit installed under a temporary folder (a fresh clone in /tmp) stays reachable.
            inside = [path for path in config["needed"] if _inside(path, folder) and path != folder]
            keep = {Path(path).relative_to(folder).parts[0] for path in inside}
            _cover(folder, keep, f"mode=1777,size={limits.disk_mb}m")
    for path in config["hide"]:
        if os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", _MS_RDONLY | _MS_NOSUID | _MS_NODEV, "mode=000,size=4k")
        elif os.path.exists(path):
            _mount("/dev/null", path, None, _MS_BIND)
    return True


def _blocked(path: str, uid: int, gid: int) -> str | None:
    """The first folder on the way to ``path`` that user ``uid`` cannot enter, or None."""
    parts = Path(path).parts
    for depth in range(1, len(parts)):
        folder = os.path.join(*parts[:depth])
        info = os.stat(folder)
        bit = stat.S_IXUSR if info.st_uid == uid else stat.S_IXGRP if info.st_gid == gid else stat.S_IXOTH
        if not info.st_mode & bit:
            return folder
    return None


def _open_blocked(needed: list[str], uid: int, gid: int) -> None:
    """Cover each folder the sandbox user cannot enter on the way to ``needed`` with an empty,
    enterable folder that holds only the needed sub-folders (bind-mounted back)."""
    for _ in range(64):
        blocked: dict[str, set[str]] = {}
        for path in needed:
            folder = _blocked(path, uid, gid)
            if folder is not None:
                blocked.setdefault(folder, set()).add(Path(path).relative_to(folder).parts[0])
        if not blocked:
            return
        folder = min(blocked, key=lambda f: len(Path(f).parts))
        _cover(folder, blocked[folder], "mode=0755,size=64k")


def _cover(folder: str, keep: set[str], options: str) -> None:
    """Mount an empty tmpfs (mount ``options``) over ``folder``, then bind-mount the entries of
    ``folder`` named in ``keep`` back into it, so that only those stay visible."""
    handles = {name: os.open(os.path.join(folder, name), os.O_PATH) for name in keep}
    _mount("tmpfs", folder, "tmpfs", _MS_NOSUID | _MS_NODEV, options)
    for name, handle in handles.items():
        target = os.path.join(folder, name)
        if stat.S_ISDIR(os.fstat(handle).st_mode):
            os.mkdir(target)
        else:
            open(target, "x").close()
        _mount(f"/proc/self/fd/{handle}", target, None, _MS_BIND | _MS_REC)
        os.close(handle)


def _require_reachable(needed: list[str], uid: int, gid: int) -> None:
    """Without a private mount namespace, fail clearly if the sandbox user cannot reach the Python."""
    for path in needed:
        folder = _blocked(path, uid, gid)
        if folder is not None:
            raise SandboxError(
                f"the sandbox user cannot reach {path}: the folder {folder} is closed to other users, and "
                "this system does not allow a private mount namespace to open it (a container without "
                "CAP_SYS_ADMIN). Install the kit's virtualenv from a Python outside private folders "
                "(e.g. /usr/bin/python3 or /opt/python), or run the grader as an ordinary user."
            )
