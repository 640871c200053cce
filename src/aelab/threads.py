"""How many threads torch uses: one policy for every place the kit runs torch.

OpenMP, which runs torch's parallel CPU ops, has two costs on a shared machine. It counts the host's
cores, not the CPUs a process may use (its affinity, a container's cgroup CPU quota), so a
JupyterHub pod limited to one CPU runs as many threads as the host has cores. And after each
parallel op its threads wait at a barrier: when another program holds a core, the op waits for a
thread the operating system has descheduled, and a training step takes many times longer than on
one thread (docs/benchmarks.md, "Threads on a busy machine").

The policy (:func:`decide`):

- **threads**: the CPUs the process may use: its affinity (``os.process_cpu_count`` on Python
  3.13, else ``os.sched_getaffinity``, else ``os.cpu_count``), capped by the cgroup CPU quota
  (cgroup v2 ``cpu.max``, v1 ``cpu.cfs_quota_us / cpu.cfs_period_us``) rounded down, at least 1;
  divided among processes started together (``share``: pytest-xdist workers, torchrun ranks);
- **a busy machine**: the kit's training loops (:func:`aelab.fitting.fit_steps`,
  :class:`aelab.train.Trainer`) time their steps and move between that count and fewer threads,
  down to one, whichever runs faster under the load of the moment
  (:class:`aelab.runtime.AdaptiveThreads`); ``AELAB_ADAPT`` says whether they may (:data:`ADAPT`).
  OpenMP's waiting is left as libgomp sets it: no spin count both keeps a quiet machine's speed
  and stops two threads from losing to one on a busy one (docs/benchmarks.md), while one thread
  waits for nobody;
- **overrides**: ``AELAB_THREADS=N`` sets the count and pins it; else an ``OMP_NUM_THREADS``
  already set is kept and pinned; ``AELAB_ADAPT=0`` pins the chosen count; a ``GOMP_SPINCOUNT``
  or ``OMP_WAIT_POLICY`` already set is passed on as it is.

The variables must be set before torch starts its thread pool (when it is imported), so the policy
is applied where a process starts: the notebooks' kernel (:mod:`aelab.kernel`, the kernel spec
``make lab`` installs), the grader's sandboxes (:mod:`aelab.grade.sandbox` builds their
environment from :func:`variables`), the ``aelab`` command (:mod:`aelab.cli`) and the test
processes (the repository's ``conftest.py``, whose environment nbval's kernels inherit). ``python
-m aelab.threads`` prints the decision and why.

This module imports nothing but the standard library, so that applying it costs nothing.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ADAPT", "Decision", "affinity_cpus", "apply", "cgroup_quota", "decide", "variables"]

#: The kit's own override: the number of torch threads, whatever else is set.
OVERRIDE = "AELAB_THREADS"
#: "1": the kit's training loops may move the count between 1 and the chosen one by timing their
#: steps (:class:`aelab.runtime.AdaptiveThreads`); "0": the count is pinned. Set to "0" by an
#: override; one already set is kept (a child process inherits its parent's).
ADAPT = "AELAB_ADAPT"
#: Variables that set a thread count: OpenMP's (torch, MKL, scikit-learn's OpenMP code), MKL's and
#: OpenBLAS's (NumPy's and SciPy's BLAS, which keeps a pool of its own).
COUNT_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
#: Variables that set how OpenMP's threads wait: the kit sets none, and passes on one already set.
WAIT_VARIABLES = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")


@dataclass(frozen=True)
class Decision:
    """What :func:`decide` chose: the thread count, why (one line, e.g. "2 thread(s): 8 CPU(s) by
    affinity, cgroup quota 2 CPUs"), and the variables to set (``variables``: name -> value)."""

    threads: int
    reason: str
    variables: dict[str, str] = field(default_factory=dict)


def affinity_cpus() -> int:
    """The CPUs this process may run on: Python 3.13's ``os.process_cpu_count`` (affinity, and
    ``PYTHON_CPU_COUNT``), else the affinity mask's size, else the host's count."""
    counter = getattr(os, "process_cpu_count", None)
    if counter is not None:
        return max(1, counter() or 1)
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _ancestors(folder: Path, root: Path) -> list[Path]:
    """``folder`` and each folder above it up to ``root`` (inclusive), nearest first."""
    chain = [folder]
    while chain[-1] != root and root in chain[-1].parents:
        chain.append(chain[-1].parent)
    return chain


def cgroup_quota(root: str | os.PathLike[str] = "/sys/fs/cgroup", self_cgroup: str | None = None) -> float | None:
    """The cgroup CPU quota of this process, in CPUs (1.5: one and a half CPUs' time per period),
    the smallest along its cgroup and the cgroups above it; None when there is none (or no cgroups).

    ``root`` is where the cgroup file systems are mounted, ``self_cgroup`` the text of
    ``/proc/self/cgroup`` (read when None): both are parameters so that tests can hand in a tree.
    cgroup v2 keeps the quota in ``cpu.max`` ("max 100000" or "150000 100000"); v1 in the ``cpu``
    controller's ``cpu.cfs_quota_us`` (-1: none) and ``cpu.cfs_period_us``.
    """
    root = Path(root)
    if self_cgroup is None:
        self_cgroup = _read(Path("/proc/self/cgroup")) or ""
    quotas: list[float] = []
    for line in self_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        relative = path.strip().lstrip("/")
        if parts[0] == "0" and controllers == "":  # cgroup v2
            mounts = [root]
            files = ("cpu.max",)
        elif "cpu" in controllers.split(","):  # cgroup v1, mounted as cpu, or cpu,cpuacct
            mounts = [root / name for name in (controllers, "cpu", "cpu,cpuacct") if (root / name).is_dir()][:1]
            files = ("cpu.cfs_quota_us", "cpu.cfs_period_us")
        else:
            continue
        for mount in mounts:
            start = mount / relative if (mount / relative).is_dir() else mount  # a namespace's own root
            for folder in _ancestors(start, mount):
                texts = [_read(folder / name) for name in files]
                if None in texts:
                    continue
                quota = _quota(*texts)
                if quota is not None:
                    quotas.append(quota)
    return min(quotas) if quotas else None


def _quota(*texts: str | None) -> float | None:
    """CPUs from cgroup v2's ``cpu.max`` text, or from v1's quota and period texts; None: no quota."""
    try:
        if len(texts) == 1:
            quota, _, period = (texts[0] or "").partition(" ")
            return None if quota == "max" else int(quota) / int(period or 100_000)
        quota_us, period_us = int(texts[0] or "-1"), int(texts[1] or "0")
    except ValueError:
        return None
    return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us


def _count(name: str, text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(
            f"{name} must be a whole number of threads >= 1, got {text!r}; "
            f"unset it to let the kit choose from the CPUs this process may use."
        )
    return value


def decide(
    environ: Mapping[str, str] | None = None,
    *,
    cpus: Callable[[], int] = affinity_cpus,
    quota: Callable[[], float | None] = cgroup_quota,
    share: int = 1,
) -> Decision:
    """The threads and variables for a process about to start torch.

    ``environ`` (default: this process's) is read for the overrides; ``cpus`` and ``quota`` are
    the readers of the affinity and of the cgroup quota (parameters so that tests can inject a
    machine); ``share``: how many such processes start together and split the CPUs. Raises
    ValueError when ``AELAB_THREADS`` or ``OMP_NUM_THREADS`` is not a count.
    """
    environ = os.environ if environ is None else environ
    if share < 1:
        raise ValueError(f"share must be >= 1 (processes that split the CPUs), got {share!r}")
    overridden = bool(environ.get(OVERRIDE, "").strip())
    pinned = bool(environ.get("OMP_NUM_THREADS", "").strip())
    if overridden:
        threads = _count(OVERRIDE, environ[OVERRIDE])
        reason = f"{OVERRIDE}={threads}"
    elif pinned:
        threads = _count("OMP_NUM_THREADS", environ["OMP_NUM_THREADS"].split(",")[0])
        reason = f"OMP_NUM_THREADS={threads} (set before the kit)"
    else:
        usable, limit = cpus(), quota()
        threads = usable if limit is None else max(1, min(usable, math.floor(limit + 1e-9)))
        why = [f"{usable} CPU(s) by affinity", "no cgroup quota" if limit is None else f"cgroup quota {limit:g} CPUs"]
        if share > 1:
            threads = max(1, threads // share)
            why.append(f"shared by {share} processes")
        reason = f"{threads} thread(s): " + ", ".join(why)
    chosen = {name: str(threads) for name in COUNT_VARIABLES}
    if not overridden:  # MKL_NUM_THREADS or OPENBLAS_NUM_THREADS set before the kit are kept
        chosen.update({name: environ[name] for name in COUNT_VARIABLES if environ.get(name, "").strip()})
    chosen["OMP_NUM_THREADS"] = str(threads)
    # the kit's loops may move a count the kit chose (aelab.runtime.AdaptiveThreads), never a pinned one
    chosen[ADAPT] = environ.get(ADAPT, "").strip() or ("0" if overridden or pinned else "1")
    if chosen[ADAPT] not in ("0", "1"):
        raise ValueError(f"{ADAPT} must be 0 (keep the thread count) or 1 (let loops time it), got {chosen[ADAPT]!r}")
    return Decision(threads, reason, chosen)


def variables(threads: int) -> dict[str, str]:
    """The policy's variables for a child process that runs ``threads`` torch threads whatever this
    process's environment says (a grading sandbox: one thread, the batch's jobs share the cores)."""
    return decide({OVERRIDE: str(threads)}).variables


def apply(environ: MutableMapping[str, str] | None = None, *, share: int = 1) -> Decision:
    """Set the policy's variables in ``environ`` (default: ``os.environ``, which torch reads when it
    is imported and every child process inherits); returns the decision. Call it before torch is
    imported: a thread pool already started keeps its size and its waiting."""
    environ = os.environ if environ is None else environ
    decision = decide(environ, share=share)
    environ.update(decision.variables)
    return decision


def main() -> int:
    """``python -m aelab.threads``: the decision for this process, its reason and its variables."""
    decision = decide()
    print(decision.reason)
    for name, value in decision.variables.items():
        print(f"{name}={value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
