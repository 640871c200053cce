"""aelab.speed: the sections run and stop where they should (their figures are never asserted)."""

import math
import statistics
import time

import pytest

from aelab import speed, train

TINY = dict(resolution=32, ae_dims=8, e_dims=4, d_dims=4, d_mask_dims=4, batch_size=2, pretrain=False, lr=1e-3)


@pytest.fixture
def tiny_preset(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(train.PRESETS, "tiny", TINY)
    monkeypatch.setitem(train.PRESETS, "tiny-3", dict(TINY, target_iter=3))
    return "tiny"


class FakeClock:
    """perf_counter for speed: each reading is ``tick`` seconds after the last, however fast the machine."""

    def __init__(self, tick: float) -> None:
        self.now, self.tick = 0.0, tick

    def perf_counter(self) -> float:
        self.now += self.tick
        return self.now

    process_time = staticmethod(time.process_time)


def test_time_to_ssim_stops_at_the_budget(tiny_preset: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each training step reads the clock once: 0.04 s a step, so 0.12 s between evaluations
    # (every = 0.1), and the 0.3 s budget is spent after three evaluations, on any machine.
    monkeypatch.setattr(speed, "time", FakeClock(tick=0.04))
    seconds, wall, iterations, curve = speed._time_to_ssim(tiny_preset, threshold=1.01, budget=0.3, every=0.1)
    assert seconds >= 0.3 and wall >= 0 and iterations >= 1
    assert curve[0][0] == 0.0 and len(curve) >= 3
    assert all(0.0 <= score <= 1.0 for _, score in curve)


def test_time_to_ssim_stops_at_the_threshold_and_at_target_iter(tiny_preset: str) -> None:
    assert speed._time_to_ssim(tiny_preset, threshold=0.0, budget=60.0, every=0.1)[2] == 0  # reached at once
    assert speed._time_to_ssim("tiny-3", threshold=1.01, budget=60.0, every=0.1)[2] == 3


def test_curve_shows_evenly_spread_points_and_the_last() -> None:
    curve = [(float(s), s / 100) for s in range(0, 101, 5)]
    assert speed._curve(curve, points=3) == "0 s: 0.000, 50 s: 0.500, 100 s: 1.000"
    assert speed._curve(curve[:1]) == "0 s: 0.000"


def test_faces_section_reports_rate_memory_and_one_thread() -> None:
    rows = speed.faces_section(n=1024, batch_size=512, resolution=32)
    assert [label for label, _ in rows] == ["faces/s at 32 px", "peak RSS growth", "faces/s at 32 px, 1 thread"]


def test_seed_section_times_the_seed_preset_on_the_default_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(train.PRESETS, "seed", dict(TINY, pretrain=True))  # the section ends pretraining itself
    rows = dict(speed.seed_step_section(seconds=0.05))
    assert rows["device"].startswith("cpu") and "ms wall" in rows["seed preset step"]


def test_contended_section_compares_with_one_thread_and_stops_its_busy_processes(
    tiny_preset: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list = []

    def busy(count: int) -> list:
        started.extend(processes := real_busy(count))
        return processes

    real_busy = speed.busy_processes
    monkeypatch.setattr(speed, "busy_processes", busy)
    threads = speed.torch.get_num_threads()
    rows = speed.contended_section(seconds=0.05, busy=(0, 1), rounds=2, preset=tiny_preset, batch_size=8, resolution=32)
    assert [label for label, _ in rows] == ["step, quiet", "render, quiet", "step, 1 busy", "render, 1 busy", "threads"]
    assert len(started) == 1 and all(process.poll() is not None for process in started)
    assert speed.torch.get_num_threads() == threads
    if threads > 1:
        assert all(value.endswith("one thread's speed") for _, value in rows[:4])
    kit, two, one = [0.1, 0.1, 0.1], [0.098, 0.098, 0.098], [0.14, 0.15, 0.16]  # seconds a call, 3 rounds
    # one thread's ratios 1.4, 1.5, 1.6: geometric mean 1.50, t interval (2 df) over the log ratios
    logs = [math.log(r) for r in (1.4, 1.5, 1.6)]
    half = 4.302653 * statistics.stdev(logs) / math.sqrt(3)
    low, high = (math.exp(statistics.fmean(logs) + sign * half) for sign in (-1, 1))
    assert speed._versus(["the kit", "on 2 threads", "on 1"], [kit, two, one], "{:,.0f} ms", rate=False) == (
        "100 ms the kit, 98 ms on 2 threads, 150 ms on 1: "
        f"0.98x [0.98, 0.98] 2 threads', 1.50x [{low:.2f}, {high:.2f}] one thread's speed"
    )
    assert speed._versus(["on 1 thread"], [[0.2, 0.2]], "{:,.0f} faces/s", rate=True, size=1) == "5 faces/s on 1 thread"
