"""aelab.threads: the thread count and OpenMP waiting chosen for each process (decisions, never speed)."""

from __future__ import annotations

import itertools
import math
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from aelab import threads


def _machine(cpus: int, quota: float | None = None) -> dict[str, object]:
    return {"cpus": lambda: cpus, "quota": lambda: quota}


@pytest.mark.parametrize(("cpus", "quota", "share", "expected"), [
    (8, None, 1, 8),      # no quota: every CPU the affinity allows
    (8, 1.0, 1, 1),       # a pod limited to one CPU on an 8-core host
    (8, 1.5, 1, 1),       # a fractional quota rounds down: a thread past it is throttled mid-op
    (8, 2.0, 1, 2),
    (2, 4.0, 1, 2),       # the affinity is the tighter limit
    (8, 0.5, 1, 1),       # never fewer than one
    (2, None, 2, 1),      # make test: two pytest-xdist workers on two cores
    (1, None, 2, 1),
])  # fmt: skip
def test_the_count_follows_affinity_quota_and_sharing(
    cpus: int, quota: float | None, share: int, expected: int
) -> None:
    decision = threads.decide({}, **_machine(cpus, quota), share=share)
    assert decision.threads == expected
    assert {decision.variables[name] for name in threads.COUNT_VARIABLES} == {str(expected)}
    assert not set(threads.WAIT_VARIABLES) & set(decision.variables)  # OpenMP's waiting is libgomp's


def test_the_reason_names_what_decided() -> None:
    assert threads.decide({}, **_machine(8, 1.5)).reason == "1 thread(s): 8 CPU(s) by affinity, cgroup quota 1.5 CPUs"
    assert threads.decide({}, **_machine(2)).reason == "2 thread(s): 2 CPU(s) by affinity, no cgroup quota"


def test_overrides_win_and_are_validated() -> None:
    machine = _machine(8, 1.0)
    assert threads.decide({"AELAB_THREADS": "3"}, **machine).variables["OMP_NUM_THREADS"] == "3"
    assert threads.decide({"AELAB_THREADS": "3", "OMP_NUM_THREADS": "6"}, **machine).threads == 3
    kept = threads.decide({"OMP_NUM_THREADS": "4", "MKL_NUM_THREADS": "2"}, **machine)
    assert (kept.threads, kept.variables["MKL_NUM_THREADS"]) == (4, "2")
    assert "set before the kit" in kept.reason
    for bad in ("0", "two", "-1"):
        with pytest.raises(ValueError, match="AELAB_THREADS must be a whole number"):
            threads.decide({"AELAB_THREADS": bad}, **machine)
    with pytest.raises(ValueError, match="share"):
        threads.decide({}, **machine, share=0)


def test_a_waiting_policy_already_set_is_left_alone() -> None:
    environ = {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "0"}
    threads.apply(environ, share=1)
    assert (environ["OMP_WAIT_POLICY"], environ["GOMP_SPINCOUNT"]) == ("PASSIVE", "0")


def test_apply_sets_the_variables_in_the_environment_it_is_given() -> None:
    environ = {"AELAB_THREADS": "2"}
    decision = threads.apply(environ)
    assert environ == {"AELAB_THREADS": "2", **decision.variables} and environ["OMP_NUM_THREADS"] == "2"


# --- the cgroup CPU quota -----------------------------------------------------------------------


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_quota_is_the_smallest_along_the_path(tmp_path: Path) -> None:
    _write(tmp_path / "cpu.max", "max 100000\n")
    assert threads.cgroup_quota(tmp_path, "0::/\n") is None
    _write(tmp_path / "kubepods" / "cpu.max", "300000 100000\n")
    _write(tmp_path / "kubepods" / "pod1" / "cpu.max", "150000 100000\n")
    assert threads.cgroup_quota(tmp_path, "0::/kubepods/pod1\n") == 1.5
    _write(tmp_path / "kubepods" / "pod1" / "cpu.max", "max 100000\n")
    assert threads.cgroup_quota(tmp_path, "0::/kubepods/pod1\n") == 3.0  # the parent's
    assert threads.cgroup_quota(tmp_path, "0::/elsewhere\n") is None  # a namespace's root: the mount's own


def test_cgroup_v1_quota_from_cfs_files(tmp_path: Path) -> None:
    cpu = tmp_path / "cpu,cpuacct"
    _write(cpu / "cpu.cfs_quota_us", "-1\n")
    _write(cpu / "cpu.cfs_period_us", "100000\n")
    lines = "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n"
    assert threads.cgroup_quota(tmp_path, lines) is None
    _write(cpu / "docker" / "abc" / "cpu.cfs_quota_us", "50000\n")
    _write(cpu / "docker" / "abc" / "cpu.cfs_period_us", "100000\n")
    assert threads.cgroup_quota(tmp_path, lines) == 0.5
    assert threads.cgroup_quota(tmp_path / "none", lines) is None  # no cgroup file systems at all


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux's CPU affinity")
def test_a_process_pinned_to_one_cpu_uses_one_thread() -> None:
    """What ``taskset -c 0 aelab ...`` gives: the affinity, not the host's count, decides."""
    cpu = min(os.sched_getaffinity(0))
    policy = (threads.OVERRIDE, threads.ADAPT, *threads.COUNT_VARIABLES, *threads.WAIT_VARIABLES)
    env = {name: value for name, value in os.environ.items() if name not in policy}
    done = subprocess.run([sys.executable, "-m", "aelab.threads"], env=env, capture_output=True, text=True,
                          preexec_fn=lambda: os.sched_setaffinity(0, {cpu}), check=True)  # fmt: skip
    assert done.stdout.splitlines()[0].startswith("1 thread(s): 1 CPU(s) by affinity")
    assert "OMP_NUM_THREADS=1" in done.stdout.splitlines()


# --- where the policy is applied ----------------------------------------------------------------


def test_the_sandbox_runs_one_thread(tmp_path: Path) -> None:
    from aelab.grade import sandbox

    env = sandbox._environment(str(tmp_path))
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "1"
    assert env["AELAB_ADAPT"] == "0"  # a sandbox keeps its one thread


def test_the_aelab_command_applies_the_policy_before_its_verb(monkeypatch: pytest.MonkeyPatch) -> None:
    from aelab import cli

    seen: list[str | None] = []
    verb = types.SimpleNamespace(main=lambda argv: seen.append(os.environ.get("OMP_NUM_THREADS")))
    monkeypatch.setitem(cli.COMMANDS, "probe", ("probe", "records the threads its verb starts with"))
    monkeypatch.setattr(cli, "importlib", types.SimpleNamespace(import_module=lambda name: verb))
    monkeypatch.setenv("AELAB_THREADS", "3")
    for name in threads.COUNT_VARIABLES:
        monkeypatch.setenv(name, "1")  # restored afterwards: apply() writes into os.environ
    assert cli.main(["probe"]) == 0 and seen == ["3"]


def test_the_test_processes_run_under_the_policy() -> None:
    """The repository's conftest set the variables before torch started (xdist workers: their share)."""
    assert int(os.environ["OMP_NUM_THREADS"]) >= 1 and os.environ["AELAB_ADAPT"] in ("0", "1")


def test_one_thread_gives_the_count_back_even_after_an_error() -> None:
    import torch

    from aelab.runtime import one_thread

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(RuntimeError, match="inside"), one_thread():
            assert torch.get_num_threads() == 1
            raise RuntimeError("inside")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_the_renderer_draws_on_one_thread_and_gives_the_count_back(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from aelab.data import faces

    seen: list[int] = []
    draw_chunk, factors = faces.draw_faces, faces._factors

    def spy(*args: object) -> None:
        seen.append(torch.get_num_threads())
        draw_chunk(*args)

    def spy_factors(*args: object) -> dict:
        seen.append(torch.get_num_threads())
        return factors(*args)

    monkeypatch.setattr(faces, "draw_faces", spy)
    monkeypatch.setattr(faces, "_factors", spy_factors)  # the factors too: small ops, stalled when busy
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        batch = faces.render(3, resolution=16, seed=5)
        assert len(seen) >= 2 and set(seen) == {1}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    monkeypatch.setattr(faces, "draw_faces", draw_chunk)
    monkeypatch.setattr(faces, "_factors", factors)
    assert torch.equal(batch.images, faces.render(3, resolution=16, seed=5).images)


# --- the adaptive count of a loop (aelab.runtime.AdaptiveThreads) ------------------------------------


class _Machine:
    """A fake clock: a step on n threads takes ``cost[n]`` seconds (what the loop would measure)."""

    def __init__(self, cost: dict[int, float]) -> None:
        self.cost, self.now = dict(cost), 0.0

    def __call__(self) -> float:
        return self.now

    def run(self, loop: object, steps: int) -> list[int]:
        import torch

        counts = []
        for _ in range(steps):
            with loop.step():  # type: ignore[attr-defined]
                counts.append(torch.get_num_threads())
                self.now += self.cost[counts[-1]]
        return counts


@pytest.fixture
def two_threads(monkeypatch: pytest.MonkeyPatch) -> object:
    """A process the policy gave 2 threads, with the runtime's clock replaced by a fake machine."""
    import torch

    from aelab import runtime

    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.delenv("AELAB_ADAPT", raising=False)
    monkeypatch.setattr(runtime, "_left_at", None)
    monkeypatch.setattr(runtime, "free_cpus", lambda: None)  # the load unseen: timing alone decides
    torch.set_num_threads(2)
    yield runtime
    torch.set_num_threads(before)


def test_a_quiet_machine_keeps_every_thread_and_tries_one_ever_less_often(
    two_threads: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine = _Machine({2: 0.18, 1: 0.29})
    monkeypatch.setattr(two_threads.time, "perf_counter", machine)  # type: ignore[attr-defined]
    loop = two_threads.AdaptiveThreads(warmup=1, trial=3, every=50, longest=400)  # type: ignore[attr-defined]
    counts = machine.run(loop, 1000)
    ones = [k for k, count in enumerate(counts) if count == 1]
    starts = [k for k in ones if k - 1 not in ones]
    assert loop.count == 2 and len(ones) == 3 * len(starts)
    # after warm-up and one timed step; then steps on the kept count between trials: 3 trial steps of a
    # count 0.29 / 0.18 times as slow, at 2 % of the loop's time, then twice as many each time, at most 400
    first = math.ceil(3 * (0.29 / 0.18 - 1) / 0.02)
    assert [b - a - 3 for a, b in zip(starts, starts[1:])] == [first, 2 * first, 4 * first]  # then 400
    assert starts[0] == 2 and loop.share(1) == pytest.approx(3 * len(starts) / 1000) and len(starts) == 4


def test_a_busy_machine_moves_to_one_thread_and_back_when_it_is_quiet_again(
    two_threads: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine = _Machine({2: 1.27, 1: 0.69})  # both cores busy: two threads wait at every barrier
    monkeypatch.setattr(two_threads.time, "perf_counter", machine)  # type: ignore[attr-defined]
    loop = two_threads.AdaptiveThreads(warmup=1, trial=3, every=50)  # type: ignore[attr-defined]
    counts = machine.run(loop, 200)
    assert counts[:5] == [2, 2, 1, 1, 1] and loop.count == 1
    # warm-up and one timed step, then a trial 3 x (1.27 / 0.69 - 1) / 2 % = 127 steps after the move
    # (a wide win: no early check), lost
    assert counts[-10:] == [1] * 10 and counts.count(2) == 2 + 3
    machine.cost = {2: 0.18, 1: 0.29}  # the other programs end: the next scheduled trial finds it out
    counts = machine.run(loop, 320)
    back = counts.index(2)
    assert loop.count == 2 and set(counts[back : back + 50]) == {2} and back <= 2 * 127  # within the backoff
    import torch

    assert torch.get_num_threads() == 2  # the loop's last choice stays for the work that follows


def test_a_trial_far_slower_than_the_kept_count_ends_after_one_step(
    two_threads: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine = _Machine({2: 0.18, 1: 0.29})
    monkeypatch.setattr(two_threads.time, "perf_counter", machine)  # type: ignore[attr-defined]
    loop = two_threads.AdaptiveThreads(warmup=1, trial=3, every=50)  # type: ignore[attr-defined]
    machine.run(loop, 10)
    machine.cost = {2: 3.0, 1: 0.45}  # one core taken: two threads stall at every barrier
    counts = machine.run(loop, 1000)
    assert loop.count == 1 and counts[:5] == [2, 2, 1, 1, 1]  # two steps slower by more than `drift`: try one
    runs = [(count, len(list(group))) for count, group in itertools.groupby(counts[5:])]
    assert [length for count, length in runs if count == 2] == [1]  # the trial of two threads: one step
    # trials cost about 2 % of the loop: 3 trial steps of a count 3.0 / 0.45 times as slow, then one step
    assert runs[0][0] == 1 and abs(runs[0][1] - 3 * (3.0 / 0.45 - 1) / 0.02) <= 1
    more = two_threads.AdaptiveThreads(warmup=0, trial=3, every=1000)  # type: ignore[attr-defined]
    machine.cost = {2: 1.0, 1: 0.45}
    machine.run(more, 20)
    machine.cost = {2: 1.0, 1: 0.9}  # busier still: one thread's steps slow down, two would be worse
    assert set(machine.run(more, 50)) == {1}  # no trial: the load changed against the other count
    soon = two_threads.AdaptiveThreads(warmup=0, trial=3, every=50)  # type: ignore[attr-defined]
    machine.cost = {2: 0.5, 1: 0.4}
    machine.run(soon, 40)  # on one thread, 36 steps after its first trial
    machine.cost = {2: 5.0, 1: 0.9}  # both cores taken: the trial due in 14 steps waits 50 more
    counts = machine.run(soon, 60)
    assert counts.index(2) == 2 + 50  # two slow steps to see it, then a full wait


def test_a_narrow_move_is_checked_again_soon(two_threads: object, monkeypatch: pytest.MonkeyPatch) -> None:
    machine = _Machine({2: 0.30, 1: 0.25})  # one thread 1.2x as fast: a win that noise could give
    monkeypatch.setattr(two_threads.time, "perf_counter", machine)  # type: ignore[attr-defined]
    loop = two_threads.AdaptiveThreads(warmup=1, trial=3, every=50)  # type: ignore[attr-defined]
    counts = machine.run(loop, 60)
    assert counts[:5] == [2, 2, 1, 1, 1] and counts[5:55] == [1] * 50 and counts[55] == 2


def _stat(path: Path, busy: dict[int, int]) -> None:
    """A /proc/stat whose CPU n has been busy ``busy[n]`` ticks (user 1/2, system 1/4, steal 1/4)."""
    lines = ["cpu  0 0 0 0 0 0 0 0 0 0"]
    for cpu, ticks in busy.items():
        lines.append(f"cpu{cpu} {ticks // 2} 0 {ticks // 4} 5000 7 0 0 {ticks - ticks // 2 - ticks // 4} 0 0")
    path.write_text("\n".join([*lines, "intr 123 4 5", "ctxt 99", ""]), encoding="ascii")


def test_the_machine_load_is_the_cpus_busy_time_less_this_process(tmp_path: Path) -> None:
    from aelab.runtime import MachineLoad

    stat, clock, own = tmp_path / "stat", [100.0], [5.0]
    _stat(stat, {0: 1000, 1: 1000, 2: 1000})
    load = MachineLoad(stat, cpus={0, 1}, window=0.25, clock=lambda: clock[0], own=lambda: own[0])
    assert load() is None  # no window has ended yet
    # in 2 s: CPUs 0 and 1 busy for 3.6 s (360 ticks of 1/100 s; CPU 2 is not ours), 1.0 s of it ours
    clock[0], own[0] = 102.0, 6.0
    _stat(stat, {0: 1200, 1: 1160, 2: 9999})
    assert load.tick == pytest.approx(0.01)
    assert load() == pytest.approx(2 - (3.6 - 1.0) / 2)  # others held 1.3 CPUs: 0.7 free
    _stat(stat, {0: 1400, 1: 1360, 2: 9999})
    clock[0] = 102.1  # within the window: the last figure, the file not read
    assert load() == pytest.approx(0.7)
    clock[0], own[0] = 104.0, 10.5  # quiet but for this process, whose time ran ahead of the ticks: 0
    assert load() == pytest.approx(2.0)
    assert MachineLoad(tmp_path / "missing", cpus={0})() is None  # no /proc/stat: the loop times alone


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="Linux's /proc/stat")
def test_the_machine_load_reads_this_machines_proc_stat() -> None:
    import time

    from aelab.runtime import MachineLoad

    load = MachineLoad(window=0.05)
    assert load.last is not None and load.cpus
    deadline = time.monotonic() + 0.1
    while time.monotonic() < deadline:  # this process's own work is not the others' load
        sum(range(1000))
    free = load()
    assert free is not None and -0.5 <= free <= len(load.cpus)


def test_a_machine_seen_busy_runs_one_thread_without_trying_two(
    two_threads: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine = _Machine({2: 6.4, 1: 0.44})  # both cores busy: two threads stall at every barrier
    free = [None]
    monkeypatch.setattr(two_threads.time, "perf_counter", machine)  # type: ignore[attr-defined]
    loop = two_threads.AdaptiveThreads(warmup=2, trial=3, every=50, free=lambda: free[0])  # type: ignore[attr-defined]
    assert machine.run(loop, 1) == [2]  # the first window has not ended
    free[0] = 0.66  # the other programs hold 1.34 CPUs
    counts = machine.run(loop, 500)
    assert set(counts) == {1} and loop.count == 1 and loop.cap == 1  # no trial of two threads at all
    free[0] = 1.0  # one core busy: one free CPU, still one thread
    assert set(machine.run(loop, 100)) == {1}
    machine.cost, free[0] = {2: 0.18, 1: 0.29}, 1.97  # the others end: two threads are tried at once
    counts = machine.run(loop, 10)
    assert counts[:4] == [1, 2, 2, 2] and loop.count == 2 and set(counts[4:]) == {2}
    free[0] = 1.2  # one core taken mid-trial or mid-run: halved at the next step
    assert machine.run(loop, 3) == [1, 1, 1]


def test_a_quiet_machine_seen_tries_one_thread_once_then_every_longest_steps(
    two_threads: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine = _Machine({2: 0.18, 1: 0.29})
    monkeypatch.setattr(two_threads.time, "perf_counter", machine)  # type: ignore[attr-defined]
    loop = two_threads.AdaptiveThreads(warmup=1, trial=3, longest=400, free=lambda: 1.97)  # type: ignore[attr-defined]
    counts = machine.run(loop, 1000)
    ones = [k for k, count in enumerate(counts) if count == 1]
    assert ones == [2, 3, 4, 405, 406, 407, 808, 809, 810] and loop.count == 2  # the load is watched


def test_a_quiet_machine_seen_still_lets_the_loop_find_one_thread_faster(
    two_threads: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine = _Machine({2: 0.05, 1: 0.03})  # a small model: ops too small to gain from a second thread
    monkeypatch.setattr(two_threads.time, "perf_counter", machine)  # type: ignore[attr-defined]
    loop = two_threads.AdaptiveThreads(warmup=1, trial=3, every=50, free=lambda: 1.98)  # type: ignore[attr-defined]
    counts = machine.run(loop, 60)
    assert counts[:5] == [2, 2, 1, 1, 1] and loop.count == 1 and not loop.lowered


@pytest.mark.parametrize("why", ["disabled", "AELAB_ADAPT=0", "deterministic", "set by the code", "one CPU"])
def test_the_count_stays_where_it_must(two_threads: object, monkeypatch: pytest.MonkeyPatch, why: str) -> None:
    import torch

    machine = _Machine({2: 1.27, 1: 0.69})
    monkeypatch.setattr(two_threads.time, "perf_counter", machine)  # type: ignore[attr-defined]
    expected = 2
    if why == "AELAB_ADAPT=0":
        monkeypatch.setenv("AELAB_ADAPT", "0")
    elif why == "deterministic":
        monkeypatch.setattr(torch, "are_deterministic_algorithms_enabled", lambda: True)
    elif why == "set by the code":  # an asset command's torch.set_num_threads(1): its files repeat bit for bit
        torch.set_num_threads(expected := 1)
        machine.cost = {2: 0.18, 1: 0.29}
    elif why == "one CPU":
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        torch.set_num_threads(expected := 1)
        machine.cost = {1: 0.29}
    loop = two_threads.AdaptiveThreads(enabled=why != "disabled")  # type: ignore[attr-defined]
    assert not loop.enabled
    assert set(machine.run(loop, 100)) == {expected}


def test_the_policy_lets_loops_adapt_only_a_count_it_chose() -> None:
    assert threads.decide({}, **_machine(4)).variables["AELAB_ADAPT"] == "1"
    for pinned in ({"AELAB_THREADS": "2"}, {"OMP_NUM_THREADS": "2"}):
        assert threads.decide(pinned, **_machine(4)).variables["AELAB_ADAPT"] == "0"
    # a child of a kit process inherits the kit's OMP_NUM_THREADS and its AELAB_ADAPT=1
    assert threads.decide({"OMP_NUM_THREADS": "4", "AELAB_ADAPT": "1"}, **_machine(4)).variables["AELAB_ADAPT"] == "1"
    assert threads.decide({"AELAB_ADAPT": "0"}, **_machine(4)).variables["AELAB_ADAPT"] == "0"
    with pytest.raises(ValueError, match="AELAB_ADAPT must be 0"):
        threads.decide({"AELAB_ADAPT": "off"}, **_machine(4))


def test_the_training_loops_carry_an_adaptive_count(two_threads: object) -> None:
    import torch

    from aelab import fitting
    from aelab.train import Config, Trainer

    trainer = Trainer(Config.preset("cpu"), device="cpu", pool_size=8)
    assert trainer.threads.enabled and trainer.threads.ceiling == 2
    seen: list[int] = []
    model = torch.nn.Linear(2, 1)

    def loss(step: int) -> torch.Tensor:
        seen.append(torch.get_num_threads())
        return model(torch.ones(1, 2)).square().sum()

    fitting.fit_steps(model, loss, steps=12, lr=1e-3, progress=False)
    assert seen[:4] == [2, 2, 2, 1]  # the first trial of one thread, after two warm-up steps and one timed
