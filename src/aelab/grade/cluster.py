"""Grading on a Dask cluster: ``aelab grade ... --scheduler ADDRESS`` or ``--cluster local:N``.

Needs the ``cluster`` extra (``pip install 'aelab[cluster]'``: dask and distributed) on the
instructor's machine and on every worker, with the same aelab version.

What runs where. The instructor's machine reads the solution and the submissions, builds each
submission's cells (:mod:`aelab.grade.plan`), and sends only those cells to a Dask worker. The
worker runs them exactly as a local batch does, in the same sandbox (:func:`run_on_worker` calls
:func:`aelab.grade.sandbox.run_worker`: its own process, kernel, limits and, as root, a user of
its own and a private mount namespace), and sends back the worker's events, plain JSON data. The
instructor's machine judges them (:func:`aelab.grade.results.assess`) and writes the grades and
feedback there, atomically, as a local batch does; the checks never run on a worker.

Failures. A worker that dies while it runs a submission (its machine fails, the batch system
pre-empts it, someone kills it): the scheduler runs the submission again on another worker, once
(``distributed.scheduler.allowed-failures`` = 1, set on the scheduler of the batch); if that worker
dies too, the submission ends with the status "worker-died" and is graded again by the next run of
the same command. A batch interrupted on the instructor's side resumes without regrading what is
done (the results written so far are kept, as in a local batch).

Workers that are not root. A sandbox needs root to switch to a user of its own (so that a
submission cannot touch the worker's processes and files) and to hide the solution and the output
folder in a private mount namespace; a cluster's batch jobs usually run as the instructor's own
user, often with the solution on a shared file system. So the grader refuses such workers with a
message, unless ``--allow-unprivileged-workers`` is given: then their sandboxes keep the
instructor's user with the limits only (time, memory, processes, file size; its own process group
and working folder), and the batch says so when it starts.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from aelab.grade.sandbox import DEFAULT_UIDS, Identities, Limits, Outcome, SandboxError, Slot, run_worker

__all__ = ["DaskSandboxes", "local_cluster", "parse_local", "run_on_worker"]

#: The worker's message when it refuses to run a sandbox without root.
NOT_ROOT = (
    "the Dask worker {where} does not run as root, so a sandbox cannot switch to a user of its own nor hide "
    "the solution and the output folder; run the workers as root (e.g. in containers), or pass "
    "--allow-unprivileged-workers to grade with the limits only (time, memory, processes, file size)"
)
#: Seconds between two looks at how many worker threads the cluster has.
CAPACITY_REFRESH = 5.0
#: The detail of a submission whose workers died (see the module docstring).
DIED = "the Dask workers running it died twice (last {worker}); run the same command again to grade it"


def parse_local(spec: str) -> int:
    """The number of workers of ``--cluster local:N``; ValueError for anything else."""
    kind, _, count = spec.partition(":")
    if kind != "local" or not count.isdigit() or int(count) < 1:
        raise ValueError(f"--cluster must be local:N with N >= 1 workers (e.g. local:4), got {spec!r}")
    return int(count)


#: This worker process's block of sandbox user ids, claimed at its first submission and held while
#: it lives (a dead worker's block is released by the system, and its leftover processes keep others
#: from reusing it: see :class:`~aelab.grade.sandbox.Identities`).
_IDENTITIES: dict[tuple[int, int], Identities] = {}
_IDENTITIES_LOCK = threading.Lock()


def run_on_worker(
    payload: dict[str, Any], limits: Limits, hide: list[str], uids: tuple[int, int], allow_unprivileged: bool
) -> Outcome:
    """On a Dask worker: run one submission's cells in the sandbox, as a local batch does (a user
    id of its own from this worker's block, as root)."""
    if os.geteuid() != 0 and not allow_unprivileged:
        detail = NOT_ROOT.format(where=f"on {os.uname().nodename}")
        return Outcome([{"event": "end", "status": "sandbox-error", "detail": detail}], "", False, False)
    slot = Slot(None, None)
    if os.geteuid() == 0:
        with _IDENTITIES_LOCK:
            if uids not in _IDENTITIES:
                _IDENTITIES[uids] = Identities(uids)
            slot = _IDENTITIES[uids].next()
    scratch = Path(tempfile.mkdtemp(prefix="aelab-grade-"))
    os.chmod(scratch, 0o711)
    try:
        return run_worker(payload, limits, slot, hide, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def local_cluster(workers: int) -> Any:
    """A ``distributed.LocalCluster`` of ``workers`` single-threaded worker processes (one sandbox
    each), quiet, without a dashboard or a memory limit (the sandbox sets its own)."""
    from distributed import LocalCluster

    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                        silence_logs=50, memory_limit=0)  # fmt: skip


def _retry_once(dask_scheduler: Any) -> None:
    """On the scheduler: a task whose worker dies runs once more elsewhere, then fails (KilledWorker)."""
    dask_scheduler.allowed_failures = 1


def _deaths(dask_scheduler: Any, key: str) -> int:
    """On the scheduler: how many workers died while running task ``key`` (each death, a rerun)."""
    task = dask_scheduler.tasks.get(key)
    return int(getattr(task, "suspicious", 0)) if task is not None else 0


class DaskSandboxes:
    """Sandboxes on the workers of a Dask cluster; ``run(payload)`` blocks until one ran it.

    ``scheduler``: the address of a running scheduler (``tcp://host:8786``); ``local``: start a
    ``distributed.LocalCluster`` of that many single-threaded workers instead. Raises
    :class:`~aelab.grade.sandbox.SandboxError` when the cluster has workers that are not root and
    ``allow_unprivileged`` is False, ValueError when the extra is missing or nothing answers.
    """

    def __init__(
        self,
        limits: Limits,
        hide: list[str],
        uids: tuple[int, int] = DEFAULT_UIDS,
        *,
        scheduler: str | None = None,
        local: int | None = None,
        allow_unprivileged: bool = False,
        timeout: float = 60.0,
    ) -> None:
        try:
            import dask
            from distributed import Client
        except ImportError:
            raise ValueError(
                "grading on a Dask cluster needs the cluster extra: pip install 'aelab[cluster]'"
            ) from None
        if (scheduler is None) == (local is None):
            raise ValueError("give either a scheduler address or a number of local workers")
        self.limits, self.hide, self.uids, self.allow_unprivileged = limits, hide, uids, allow_unprivileged
        self._cluster = None
        settings = {"distributed.scheduler.allowed-failures": 1, "distributed.scheduler.worker-saturation": 1.0,
                    "distributed.worker.daemon": False}  # fmt: skip
        with dask.config.set(settings):
            if local is not None:
                self._cluster = local_cluster(local)
                self.client = Client(self._cluster)
            else:
                try:
                    self.client = Client(scheduler, timeout=timeout)
                except OSError as exc:
                    raise ValueError(f"no Dask scheduler answers at {scheduler}: {exc}") from None
        try:
            self.client.run_on_scheduler(_retry_once)
            self.client.wait_for_workers(1, timeout=timeout)
            users = self.client.run(os.geteuid)
        except Exception:
            self.close()
            raise
        self.unprivileged = sorted(address for address, uid in users.items() if uid != 0)
        if self.unprivileged and not allow_unprivileged:
            self.close()
            raise SandboxError(NOT_ROOT.format(where=self.unprivileged[0]))
        self.capacity = max(1, sum(self.client.nthreads().values()))
        self._checked = time.monotonic()
        self._in_flight = 0
        self._room = threading.Condition()

    def _current_capacity(self) -> int:
        """The worker threads of the cluster now (asked again every few seconds: clusters grow and shrink)."""
        if time.monotonic() - self._checked > CAPACITY_REFRESH:
            self.capacity = max(1, sum(self.client.nthreads().values()))
            self._checked = time.monotonic()
        return self.capacity

    def run(self, payload: dict[str, Any], name: str) -> Outcome:
        """Run one submission's cells (``payload``) on a worker; a worker that died twice gives an
        outcome with the status "worker-died".

        At most as many submissions as the cluster has worker threads are out at once: a worker
        that dies then takes only the submission it runs with it (the scheduler counts a death
        against every task assigned to that worker, queued ones too).
        """
        from distributed import KilledWorker

        with self._room:
            while self._in_flight >= self._current_capacity():
                self._room.wait(timeout=CAPACITY_REFRESH)
            self._in_flight += 1
        key = f"aelab-grade-{name}-{time.monotonic_ns()}"
        try:
            future = self.client.submit(
                run_on_worker, payload, self.limits, self.hide, self.uids, self.allow_unprivileged,
                key=key, pure=False, retries=0,
            )  # fmt: skip
            outcome: Outcome = future.result()
            outcome.retries = self.client.run_on_scheduler(_deaths, key=key)  # while the future holds the task
            return outcome
        except KilledWorker as exc:
            detail = DIED.format(worker=getattr(exc.last_worker, "address", "unknown"))
            return Outcome([{"event": "end", "status": "worker-died", "detail": detail}], "", False, False, retries=1)
        finally:
            with self._room:
                self._in_flight -= 1
                self._room.notify()

    def describe(self) -> str:
        """One line: where the batch runs, and what the sandbox of workers without root lacks."""
        workers = len(self.client.nthreads())
        line = f"grading on {workers} Dask workers ({self.capacity} at once) at {self.client.scheduler.address}"
        if self.unprivileged:
            line += (f"; {len(self.unprivileged)} of them are not root: their sandboxes keep the worker's user, "
                     "with the limits only (--allow-unprivileged-workers)")  # fmt: skip
        return line

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()
