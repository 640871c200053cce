"""aelab.threads: the thread count and OpenMP waiting chosen for each process (decisions, never speed)."""

from __future__ import annotations

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
    assert decision.variables.get("GOMP_SPINCOUNT") == (str(threads.SPIN_COUNT) if expected > 1 else None)


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


def test_a_waiting_policy_already_set_is_kept() -> None:
    for given in ({"OMP_WAIT_POLICY": "PASSIVE"}, {"GOMP_SPINCOUNT": "0"}):
        assert "GOMP_SPINCOUNT" not in threads.decide(given, **_machine(2)).variables
    assert threads.decide({"GOMP_SPINCOUNT": "0"}, **_machine(2)).variables["OMP_NUM_THREADS"] == "2"


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
    env = {name: value for name, value in os.environ.items()
           if name not in (threads.OVERRIDE, *threads.COUNT_VARIABLES, *threads.WAIT_VARIABLES)}  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "aelab.threads"], env=env, capture_output=True, text=True,
                          preexec_fn=lambda: os.sched_setaffinity(0, {cpu}), check=True)  # fmt: skip
    assert done.stdout.splitlines()[0].startswith("1 thread(s): 1 CPU(s) by affinity")
    assert "OMP_NUM_THREADS=1" in done.stdout.splitlines()


# --- where the policy is applied ----------------------------------------------------------------


def test_the_sandbox_runs_one_thread(tmp_path: Path) -> None:
    from aelab.grade import sandbox

    env = sandbox._environment(str(tmp_path))
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "1"
    assert "GOMP_SPINCOUNT" not in env  # one thread waits for nobody


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
    count = int(os.environ["OMP_NUM_THREADS"])
    assert count == 1 or os.environ.get("GOMP_SPINCOUNT") or os.environ.get("OMP_WAIT_POLICY")


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
    draw_chunk = faces.draw_faces

    def spy(*args: object) -> None:
        seen.append(torch.get_num_threads())
        draw_chunk(*args)

    monkeypatch.setattr(faces, "draw_faces", spy)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        batch = faces.render(3, resolution=16, seed=5)
        assert seen and set(seen) == {1}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    monkeypatch.setattr(faces, "draw_faces", draw_chunk)
    assert torch.equal(batch.images, faces.render(3, resolution=16, seed=5).images)
