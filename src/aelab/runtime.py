"""Where computations run: the device choice, work that runs on one thread, the CPUs other programs
leave free (:class:`MachineLoad`), and the thread count a loop of training steps finds fastest
(:class:`AdaptiveThreads`)."""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch


def default_device() -> torch.device:
    """The best device present: CUDA, then Apple's MPS, then the CPU.

    Set ``AELAB_DEVICE`` (e.g. ``cpu``) to override the choice.
    """
    forced = os.environ.get("AELAB_DEVICE")
    if forced:
        return torch.device(forced)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block on one torch thread, then give back the thread count it found.

    For work made of many small ops (the SynthFaces renderer's per-pixel passes), where a second
    thread gains nothing on a quiet machine and, with the other cores busy, makes every op wait for
    a descheduled thread (:mod:`aelab.threads`; docs/benchmarks.md, "Threads on a busy machine").
    The count is process-wide (``torch.set_num_threads``): do not render from two Python threads
    while a third runs torch work that should keep its threads.
    """
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _ceiling() -> int:
    """The most threads a loop may use: the count the kit's policy chose for this process
    (``OMP_NUM_THREADS``, set by :func:`aelab.threads.apply` before torch started), else torch's."""
    text = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(text) if text.isdigit() and int(text) > 0 else torch.get_num_threads()


class MachineLoad:
    """How many of the CPUs this process may use other programs leave free, seen in Linux's
    ``/proc/stat``: over a window of at least ``window`` seconds, the CPUs' busy time (user, nice,
    system, irq, softirq and a hypervisor's steal, in the kernel's ticks) less this process's own CPU
    time (all its threads), per second of wall time, is the other programs' load in CPUs.

    Calling the object returns ``cpus - load`` from the latest full window, reading the file again
    once the window has passed (a read costs about 0.1 ms; a call between reads costs nothing), and
    None before the first window ends or where there is no ``/proc/stat`` (macOS, Windows: there the
    loop's timing alone decides). Only the CPUs of the process's affinity are counted; a cgroup quota
    narrower than them is not seen here (the policy's count already stops at it, :mod:`aelab.threads`).

    ``stat``, ``cpus``, ``clock`` and ``own`` (this process's CPU seconds) are parameters so that tests
    can hand in a machine.
    """

    def __init__(
        self,
        stat: str | os.PathLike[str] = "/proc/stat",
        *,
        cpus: set[int] | None = None,
        window: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        own: Callable[[], float] = time.process_time,
    ) -> None:
        if cpus is None:
            cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
        self.stat, self.cpus, self.window, self.clock, self.own = Path(stat), set(cpus), window, clock, own
        self.tick = 1 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01
        self.last = self._snapshot()
        self.free: float | None = None

    def _snapshot(self) -> tuple[float, float, float] | None:
        """(wall s, this process's CPU s, the CPUs' busy s), or None when the file cannot be read."""
        try:
            lines = self.stat.read_text(encoding="ascii").splitlines()
        except (OSError, UnicodeDecodeError):
            return None
        busy = 0
        for line in lines:
            name, *ticks = line.split() or [""]
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in self.cpus:
                user, nice, system, _idle, _iowait, irq, softirq, steal = (int(t) for t in (ticks + ["0"] * 8)[:8])
                busy += user + nice + system + irq + softirq + steal
        return self.clock(), self.own(), busy * self.tick

    def __call__(self) -> float | None:
        if self.last is None or self.clock() - self.last[0] < self.window:
            return self.free
        now = self._snapshot()
        if now is None:
            return self.free
        wall, own, busy = (b - a for a, b in zip(self.last, now))
        self.last, self.free = now, len(self.cpus) - max(0.0, (busy - own) / wall)
        return self.free


_machine_load: MachineLoad | None = None


def free_cpus() -> float | None:
    """The CPUs other programs leave free, from the process's one :class:`MachineLoad` (started at
    the first call, so the first returns None)."""
    global _machine_load
    if _machine_load is None:
        _machine_load = MachineLoad()
    return _machine_load()


#: The count the last adaptive loop left torch on (None: none has run). A count that differs from
#: both it and the policy's was set by the code around the loop, which the loop then keeps.
_left_at: int | None = None


def _adaptive() -> bool:
    """Whether loops may change the thread count: not when ``AELAB_ADAPT=0`` (the policy sets it when
    a count was pinned by ``AELAB_THREADS`` or an ``OMP_NUM_THREADS`` set before the kit), nor when
    torch's deterministic algorithms are on (the count changes a reduction's last bits)."""
    return os.environ.get("AELAB_ADAPT", "1") != "0" and not torch.are_deterministic_algorithms_enabled()


class AdaptiveThreads:
    """Chooses torch's CPU thread count for a loop of like steps by timing them.

    On a quiet machine a training step runs fastest on every core; when other programs hold the
    cores, OpenMP's threads wait at each op's barrier for a thread the operating system has
    descheduled, and the same step can take several times longer than on one thread
    (:mod:`aelab.threads`; docs/benchmarks.md, "Threads on a busy machine"). Which count is faster
    is a property of the load, and the load changes while a loop runs, so the loop measures it:

    1. the first ``warmup`` steps run untimed on the current count (a loop's first steps allocate);
    2. then one step is timed on it and ``trial`` on a neighbour (half or double the count, between
       1 and the policy's count), and the loop moves to the neighbour when its median is more than
       ``margin`` (a fraction) below the kept count's (later trials weigh the kept count's latest
       ``trial`` steps);
    3. a trial costs about k (r - 1) steps (k steps of a count r times as slow), so the next waits
       k (r - 1) / ``budget`` steps or more (at most ``longest``); a lost trial waits at least twice
       as long as the last; after a narrow move (r < 1.5, which may rest on noise) the trial comes
       back after ``every`` steps;
    4. when the kept count's recent median grows by more than ``drift`` (a fraction) over the
       median it was kept on (other programs started), fewer threads are tried at once, and on one
       thread the wait for more starts again;
    5. where the other programs' load can be seen (``free``: the CPUs they leave free,
       :class:`MachineLoad`, Linux), the loop never runs more threads than the free CPUs, rounded:
       it halves the count at once when they take CPUs, tries no count above them, and tries more
       threads at once when they give the CPUs back. A busy machine then costs no trial at all,
       and trials only find what the load cannot tell: whether this loop's ops gain from more
       threads on a quiet machine (a 32-px model's may not), and loads the file does not show
       (step 4). A lost trial therefore waits ``longest`` steps for the next.

    A trial ends after one step that takes twice the kept count's median, so a lost trial costs one
    to ``trial`` slower steps, and trials cost about ``budget`` (2 %) of a long loop's time. The count is
    process-wide (``torch.set_num_threads``) and stays at the loop's last choice, which reflects
    the machine's load, for the work that follows. Nothing changes when the count cannot matter or must
    not move: one thread allowed, ``enabled=False`` (a loop on a GPU), ``AELAB_ADAPT=0``,
    deterministic algorithms on, or a count the code around the loop set itself (the kit's asset
    commands set one thread, so that their files repeat bit for bit). Different counts may round a
    reduction differently in its last bits; the kit's assets and tests run on one thread, where the
    loop never adapts.

    Use::

        threads = AdaptiveThreads(enabled=device.type == "cpu")
        for step in range(steps):
            with threads.step():
                ...  # one training step
    """

    def __init__(
        self,
        *,
        enabled: bool = True,
        warmup: int = 2,
        trial: int = 3,
        every: int = 50,
        longest: int = 1000,
        drift: float = 0.5,
        budget: float = 0.02,
        margin: float = 0.1,
        free: Callable[[], float | None] | None = None,
    ) -> None:
        self.free = free_cpus if free is None else free
        self.ceiling = _ceiling()
        current = torch.get_num_threads()
        chosen_by_code = current not in (self.ceiling, _left_at)  # e.g. an asset's torch.set_num_threads(1)
        self.enabled = bool(enabled) and self.ceiling > 1 and _adaptive() and not chosen_by_code
        self.count = min(max(1, current), self.ceiling)
        self.warmup, self.trial, self.every, self.longest, self.drift = warmup, trial, every, longest, drift
        self.budget, self.margin = budget, margin
        self.interval = 0  # steps on the kept count before the next trial; 0: as soon as it is timed
        self.since = 0  # steps timed on the kept count since it was kept or last tried against
        self.reference: float | None = None  # the kept count's median when it was kept
        self.kept: list[float] = []  # the kept count's latest `trial` step times
        self.tried: list[float] = []  # the neighbour's step times while it is tried
        self.neighbour: int | None = None  # the count on trial, None between trials
        self.direction = -1  # which neighbour the next trial tries when both exist
        self.cap = self.ceiling  # the most threads the other programs' load leaves room for
        self.lowered = False  # whether the load took the count down, which more free CPUs give back
        self.seen = False  # whether the other programs' load is seen (step 5)
        #: (steps, threads) in order: how many steps ran on each count, for a report.
        self.log: list[tuple[int, int]] = []

    def _next_neighbour(self, direction: int = 0) -> int:
        """Half or double the kept count (within 1 and the load's cap, step 5): ``direction`` 1 up, -1
        down, 0 the two in turns; the kept count itself where neither exists."""
        down, up = max(1, self.count // 2), min(self.cap, self.count * 2)
        if direction == 0:
            direction, self.direction = self.direction, -self.direction
        return up if down == self.count or (up != self.count and direction > 0) else down

    def _run_on(self, count: int) -> None:
        global _left_at
        if torch.get_num_threads() != count:
            torch.set_num_threads(count)
        _left_at = count
        if self.log and self.log[-1][1] == count:
            self.log[-1] = (self.log[-1][0] + 1, count)
        else:
            self.log.append((1, count))

    @contextmanager
    def step(self) -> Iterator[None]:
        """Time one step of the loop on the count this object chose for it."""
        if not self.enabled:
            yield
            return
        self._follow_load()
        self._run_on(self.count if self.neighbour is None else self.neighbour)
        start = time.perf_counter()
        yield
        self._record(time.perf_counter() - start)

    def _follow_load(self) -> None:
        """Step 5: no more threads than the CPUs the other programs leave free (rounded, at least 1)."""
        free = self.free()
        self.seen = free is not None
        self.cap = self.ceiling if free is None else max(1, min(self.ceiling, math.floor(free + 0.5)))
        if self.count > self.cap or (self.neighbour or 0) > self.cap:
            self.neighbour, self.tried, self.since = None, [], 0  # a trial above the free CPUs ends
            while self.count > self.cap:
                self.count, self.reference, self.kept, self.lowered = max(1, self.count // 2), None, [], True
        elif self.lowered and self.cap > self.count:  # the CPUs are free again: try more threads now
            self.lowered, self.interval, self.direction = False, 0, 1

    def _record(self, seconds: float) -> None:
        if self.warmup > 0:
            self.warmup -= 1
            return
        if self.neighbour is not None:
            self.tried.append(seconds)
            # a step twice as slow as the kept count's ends the trial at once: on a busy machine more
            # threads can take several times as long, and every further step would cost that
            if len(self.tried) == self.trial or seconds > 2 * statistics.median(self.kept):
                self._decide()
            return
        self.kept = [*self.kept, seconds][-self.trial :]
        self.since += 1
        if len(self.kept) < (self.trial if self.reference is not None else 1):  # the first trial: after one step
            return
        median = statistics.median(self.kept)
        if self.reference is None:
            self.reference = median
        # the steps got slower: other programs may have started. More than one thread: fewer may now be
        # faster, tried at once (a collapse costs many times a step). One thread: more would lose even
        # more under the heavier load, so the wait for their next trial starts again.
        slower = median > self.reference * (1 + self.drift)
        if slower and self.count == 1:
            self.reference, self.since = median, 0
        elif slower or self.since >= self.interval:
            neighbour = self._next_neighbour(-1 if slower else 0)
            if neighbour != self.count:  # none where the load leaves one thread and there is no fewer
                self.neighbour, self.tried = neighbour, []

    def _decide(self) -> None:
        mine, theirs = statistics.median(self.kept), statistics.median(self.tried)
        # a trial like this one costs about its steps x (ratio - 1) kept steps: space trials so that
        # they cost at most `budget` of the loop's time
        ratio = max(mine, theirs) / min(mine, theirs)
        spacing = math.ceil(len(self.tried) * (ratio - 1) / self.budget)
        if theirs < (1 - self.margin) * mine:
            # a narrow win may rest on a noisy median: checked again after `every` steps; a wide one
            # (a collapse) is not noise, and trying the slower count again costs what any trial does
            self.count, self.reference, self.kept = self.neighbour, theirs, list(self.tried)
            self.interval = self.every if ratio < 1.5 else min(self.longest, max(self.every, spacing))
        else:
            # where the load is seen (step 5), a lost trial only says again what this loop's ops gain
            self.reference = mine
            wait = self.longest if self.seen else max(self.every, 2 * self.interval, spacing)
            self.interval = min(self.longest, wait)
        self.neighbour, self.tried, self.since = None, [], 0

    def share(self, count: int) -> float:
        """The fraction of the timed and untimed steps that ran on ``count`` threads."""
        total = sum(steps for steps, _ in self.log)
        return sum(steps for steps, threads in self.log if threads == count) / total if total else 0.0
