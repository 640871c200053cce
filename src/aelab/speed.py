"""The kit's speed figures: the sections that ``aelab bench`` (:mod:`aelab.commands.bench`) prints.

Each section is a function returning rows ``(label, value)``; :data:`SECTIONS` maps the section's
name to it, in the order they print. To add a section, write its function and add it to
:data:`SECTIONS`; ``--only NAME`` runs one. Figures depend on the machine and its load, so each run
prints the load average beside them; tests never assert on them.
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from tqdm.auto import tqdm

from aelab.runtime import AdaptiveThreads
from aelab.threads import WAIT_VARIABLES

Row = tuple[str, str]


def _peak_rss_mib() -> float:
    """This process's peak resident memory so far, in MiB (ru_maxrss is KiB on Linux, bytes on macOS);
    NaN where the ``resource`` module is missing (Windows)."""
    try:
        import resource
    except ImportError:
        return math.nan
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


# --------------------------------------------------------------------------------------------------
# faces: SynthFaces rendering


def _faces_per_second(n: int, batch_size: int, resolution: int) -> float:
    """Render the first ``n`` faces in batches, each dropped after use; faces per second."""
    from aelab.data.faces import iter_render

    start = time.perf_counter()
    with tqdm(total=n, unit="face", desc="faces", leave=False) as progress:
        for batch in iter_render(n, batch_size=batch_size, resolution=resolution):
            progress.update(len(batch))
    return n / (time.perf_counter() - start)


def faces_section(n: int = 100_000, batch_size: int = 512, resolution: int = 64) -> list[Row]:
    """Throughput of rendering ``n`` faces in batches, and how much the peak resident memory grew
    over that run (flat rendering keeps it near one batch's size); then the throughput on one
    thread, which is what a loaded machine often does best."""
    threads = torch.get_num_threads()
    _faces_per_second(batch_size, batch_size, resolution)  # warm-up
    peak_before = _peak_rss_mib()
    rate = _faces_per_second(n, batch_size, resolution)
    growth = _peak_rss_mib() - peak_before
    torch.set_num_threads(1)
    try:
        single = _faces_per_second(n // 5, batch_size, resolution)
    finally:
        torch.set_num_threads(threads)
    batch_mib = batch_size * 5 * resolution**2 * 4 / 2**20  # images + two masks, float32
    return [
        (f"faces/s at {resolution} px", f"{rate:,.0f}  ({n:,} faces, batches of {batch_size}, {threads} threads)"),
        ("peak RSS growth", f"{growth:,.0f} MiB over that run (one batch is {batch_mib:,.0f} MiB)"),
        (f"faces/s at {resolution} px, 1 thread", f"{single:,.0f}  ({n // 5:,} faces)"),
    ]


# --------------------------------------------------------------------------------------------------
# train: one SAEHD step of the CPU preset, its FLOPs, and time to masked SSIM 0.90 (aelab.train)

#: Torch threads of the step section, which compares the step's FLOP rate with a matmul's on as many
#: threads. One: on this kit's 2-core machines, shared with other work, a second thread has made a
#: step several times slower (docs/benchmarks.md): small convolutions wait on a busy core. The
#: time-to-SSIM section runs on all cores instead, as a notebook does (its load is printed beside it).
TRAIN_THREADS = 1


def _rate(work: Callable[[], object], seconds: float) -> tuple[float, float, int]:
    """Run ``work`` repeatedly for ``seconds`` of wall time; (wall s per call, CPU s per call, calls).

    CPU time (all threads) is the load-robust figure on a shared machine: other processes stretch
    the wall time of a step far more than its CPU time."""
    calls, wall, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - wall < seconds:
        work()
        calls += 1
    return (time.perf_counter() - wall) / calls, (time.process_time() - cpu) / calls, calls


def train_step_section(seconds: float = 20.0, matmul_size: int = 2048) -> list[Row]:
    """Time the CPU preset's training step, count its FLOPs (forward + backward, FlopCounterMode) and
    compare the rate it achieves with a float32 matrix multiply measured in the same run on as many
    threads (:data:`TRAIN_THREADS`), per second of wall time and per second of CPU time."""
    from torch.utils.flop_counter import FlopCounterMode

    from aelab.train import Config, Trainer

    previous = torch.get_num_threads()
    torch.set_num_threads(TRAIN_THREADS)
    try:
        config = Config.preset("cpu")
        trainer = Trainer(config, device="cpu", pool_size=256)
        for _ in range(3):  # warm-up
            trainer.step()
        with FlopCounterMode(display=False) as counter:
            trainer.step()
        flops = counter.get_total_flops()
        step_wall, step_cpu, steps = _rate(trainer.step, seconds)
        a, b = torch.rand(matmul_size, matmul_size), torch.rand(matmul_size, matmul_size)
        matmul_wall, matmul_cpu, _ = _rate(lambda: a @ b, seconds / 4)
    finally:
        torch.set_num_threads(previous)
    matmul_flops = 2 * matmul_size**3
    return [
        (
            "cpu preset step",
            f"{step_wall * 1e3:,.0f} ms wall, {step_cpu * 1e3:,.0f} ms CPU  ({config.batch_size} "
            f"src+dst pairs, {config.resolution} px, {TRAIN_THREADS} thread(s), mean of {steps} steps)",
        ),
        ("FLOPs per step", f"{flops / 1e9:,.2f} GFLOP (forward + backward)"),
        ("achieved rate", f"{flops / step_wall / 1e9:,.1f} GFLOP/s wall, {flops / step_cpu / 1e9:,.1f} per CPU-s"),
        (
            f"{matmul_size}² matmul",
            f"{matmul_flops / matmul_wall / 1e9:,.1f} GFLOP/s wall, "
            f"{matmul_flops / matmul_cpu / 1e9:,.1f} per CPU-s (float32, {TRAIN_THREADS} thread(s))",
        ),
        (
            "ratio to matmul",
            f"{flops / step_wall / (matmul_flops / matmul_wall):.2f} by wall time, "
            f"{flops / step_cpu / (matmul_flops / matmul_cpu):.2f} by CPU time (target >= 0.8)",
        ),
    ]


def _time_to_ssim(
    name: str, threshold: float, budget: float, every: float
) -> tuple[float, float, int, list[tuple[float, float]]]:
    """Train preset ``name`` until masked SSIM on 128 held-out src and dst faces both reach
    ``threshold``, the preset's ``target_iter``, or ``budget`` seconds of training (wall clock).

    Runs on torch's default threads (all cores), as a student's notebook does on a quiet laptop; on a
    machine shared with other work the wall clock stretches, so the section prints the load beside
    it and the CPU seconds too. Evaluation, every ``every`` s of training, is not counted.
    Returns (training wall s, training CPU s, iterations, [(wall s, lowest SSIM) at each evaluation]).
    """
    from aelab.train import Config, Trainer

    config = Config.preset(name)
    trainer = Trainer(config, device="cpu", pool_size=1024)
    score = min(trainer.evaluate(n=128).values())  # also renders the held-out faces before the clock starts
    target = config.target_iter or math.inf
    wall, cpu, curve = 0.0, 0.0, [(0.0, score)]
    with tqdm(total=round(budget), unit="s", desc=name, leave=False) as progress:
        while wall < budget and score < threshold and trainer.iteration < target:
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            while time.perf_counter() - start_wall < min(every, budget - wall) and trainer.iteration < target:
                trainer.step()
            wall += time.perf_counter() - start_wall
            cpu += time.process_time() - start_cpu
            score = min(trainer.evaluate(n=128).values())
            curve.append((wall, score))
            progress.update(round(wall) - progress.n)
            progress.set_postfix(ssim=f"{score:.3f}", refresh=False)
    return wall, cpu, trainer.iteration, curve


def _curve(curve: list[tuple[float, float]], points: int = 6) -> str:
    """A few (seconds: SSIM) points of a training curve, evenly spread, the last one included."""
    picks = sorted({round(k * (len(curve) - 1) / (points - 1)) for k in range(points)}) if len(curve) > 1 else [0]
    return ", ".join(f"{curve[k][0]:.0f} s: {curve[k][1]:.3f}" for k in picks)


def time_to_ssim_section(threshold: float = 0.90, budget: float = 120.0, factor: float = 5.0) -> list[Row]:
    """Seconds of training until masked SSIM >= ``threshold`` on held-out SynthFaces-64 src and dst,
    for the CPU preset (within ``budget``) and for DeepFaceLab's defaults (the "dfl-defaults" preset:
    AdaBelief, lr 5e-5, random warp, dst flips only, at the same model size; capped at ``factor`` times
    the CPU preset's time, or at ``budget`` when the preset did not get there: then both SSIMs at the
    same time are what compares). Face pools are rendered before the clock starts; see
    :func:`_time_to_ssim` for the clock and threads."""
    rows = []
    seconds, cpu, iterations, curve = _time_to_ssim("cpu", threshold, budget, every=5.0)
    score = curve[-1][1]
    reached = score >= threshold
    rows.append(
        (
            "cpu preset",
            f"{'reached' if reached else 'not reached'}: SSIM {score:.3f} after {seconds:,.0f} s "
            f"({cpu:,.0f} CPU s, {iterations:,} steps; target <= {budget:.0f} s)",
        )
    )
    rows.append(("  its curve", _curve(curve)))
    cap = factor * seconds if reached else budget
    dfl_seconds, dfl_cpu, dfl_iterations, dfl_curve = _time_to_ssim(
        "dfl-defaults", threshold, cap, every=max(10.0, cap / 20)
    )
    dfl_score = dfl_curve[-1][1]
    dfl_reached = dfl_score >= threshold
    rows.append(
        (
            "dfl-defaults",
            f"{'reached' if dfl_reached else 'not reached'}: SSIM {dfl_score:.3f} after "
            f"{dfl_seconds:,.0f} s ({dfl_cpu:,.0f} CPU s, {dfl_iterations:,} steps)",
        )
    )
    rows.append(("  its curve", _curve(dfl_curve)))
    if reached:
        bound = "" if dfl_reached else ">= "
        rows.append(
            ("ratio", f"{bound}{dfl_seconds / seconds:.1f}x sooner with the cpu preset (target >= {factor:.0f})")
        )
    else:
        rows.append(("ratio", f"n/a: the cpu preset did not reach SSIM {threshold:.2f} in {budget:.0f} s"))
    rows.append(
        (
            "threads, evaluation",
            f"{torch.get_num_threads()} thread(s), wall clock; 128 held-out faces per "
            f"side, every 5 s (cpu preset), not counted",
        )
    )
    return rows


# --------------------------------------------------------------------------------------------------
# seed: the seed card's model on the best device present (a researcher's GPU, else the CPU)


def seed_step_section(seconds: float = 15.0) -> list[Row]:
    """Time a training step of the seed card's model (the "seed" preset: LIAE, 128 px, ae 128, e 80,
    d 48, d_mask 16, DFL's batch 8, past pretraining) on :func:`aelab.runtime.default_device`, with
    the peak memory it took there when that is a GPU. What a researcher training the card for real
    meets; on a 2-core CPU a step takes seconds."""
    from aelab.runtime import default_device
    from aelab.train import Config, Trainer

    device = default_device()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    trainer = Trainer(Config.preset("seed"), device=device, pool_size=64)
    trainer.end_pretrain()
    for _ in range(3):  # warm-up (cuDNN's algorithm search)
        trainer.step()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def step() -> None:
        trainer.step()
        sync()

    wall, cpu, steps = _rate(step, seconds)
    batch = trainer.config.batch_size
    rows = [
        (
            "device",
            str(torch.cuda.get_device_name(device))
            if device.type == "cuda"
            else f"{device} ({torch.get_num_threads()} threads)",
        ),
        (
            "seed preset step",
            f"{wall * 1e3:,.1f} ms wall, {cpu * 1e3:,.1f} ms CPU ({batch} src + {batch} dst faces, "
            f"{steps} steps): {2 * batch / wall:,.0f} faces/s",
        ),
    ]
    if device.type == "cuda":
        rows.append(("peak GPU memory", f"{torch.cuda.max_memory_allocated(device) / 2**20:,.0f} MiB"))
    return rows


# --------------------------------------------------------------------------------------------------
# contended: the kit's threads against one thread, with the bench's own busy processes (aelab.threads)


#: A plain Python loop that keeps one core busy, and ends by itself if the bench is gone.
_BUSY_LOOP = """
import os
parent = os.getppid()
while os.getppid() == parent:
    for _ in range(100_000):
        pass
"""


def busy_processes(count: int) -> list[subprocess.Popen[bytes]]:
    """``count`` processes that each keep one core busy with a plain Python loop, as a browser tab,
    a video call or a second kernel would; the caller kills them (a loop whose parent dies ends)."""
    return [subprocess.Popen([sys.executable, "-c", _BUSY_LOOP], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(count)]  # fmt: skip


def _alternated(
    work: Callable[[], object], settings: list[Callable[[], None]], seconds: float, rounds: int = 6
) -> list[list[float]]:
    """Wall seconds per call of ``work`` under each of ``settings`` (each a function that sets the
    threads up) in each of ``rounds`` turns of ``seconds / rounds`` (``[setting][round]``), each round
    starting one setting later, so that a change in the machine's other load, and the order, fall on
    every setting alike, and the settings of one round can be compared pair by pair."""
    times = [[0.0] * rounds for _ in settings]
    for round_ in range(rounds):
        for k in ((round_ + shift) % len(settings) for shift in range(len(settings))):
            settings[k]()
            times[k][round_] = _rate(work, seconds / rounds)[0]
    return times


def _versus(labels: list[str], times: list[list[float]], form: str, *, rate: bool, size: float = 1.0) -> str:
    """'183 ms the kit, 180 ms on 2 threads, 290 ms on 1: 0.98x [0.95, 1.01] 2 threads', 1.58x [1.49,
    1.68] one thread's speed': each setting's mean over the rounds (``times[setting][round]``, seconds
    a call, shown as ``form`` of ms or, with ``rate``, of ``size`` / seconds), and the first setting's
    speed as a multiple of each other one's, with its 95 % interval (Student's t over the rounds'
    paired log ratios, :func:`aelab.stats.seed_interval`): an interval that holds 1 is no difference
    these rounds can tell. The last setting is one thread."""
    from aelab.stats import seed_interval  # SciPy: imported by this section only

    values = [size / statistics.fmean(row) if rate else 1e3 * statistics.fmean(row) for row in times]
    text = ", ".join(form.format(value) + f" {label}" for label, value in zip(labels, values))
    if len(times) < 2:
        return text
    names = [label.removeprefix("on ") for label in labels[1:-1]]
    names = [name + ("'" if name.endswith("s") else "'s") for name in names] + ["one thread's"]
    ratios = []
    for other, name in zip(times[1:], names):
        logs = [math.log(theirs / mine) for mine, theirs in zip(times[0], other)]
        interval = seed_interval(logs) if len(logs) > 1 else None
        span = f" [{math.exp(interval.low):.2f}, {math.exp(interval.high):.2f}]" if interval else ""
        ratios.append(f"{math.exp(statistics.fmean(logs)):.2f}x{span} {name}")
    return text + ": " + ", ".join(ratios) + " speed"


def contended_section(
    seconds: float = 12.0,
    busy: tuple[int, ...] = (0, 1, 2),
    rounds: int = 6,
    preset: str = "cpu",
    batch_size: int = 256,
    resolution: int = 64,
) -> list[Row]:
    """The training step of ``preset`` and the render rate of SynthFaces (batches of ``batch_size``
    at ``resolution`` px), each measured in turns with 0, 1, 2 (``busy``) cores kept busy by
    processes the section starts and stops itself.

    The step is timed under the kit's policy (:mod:`aelab.threads`: the process's count, which the
    trainer's :class:`aelab.runtime.AdaptiveThreads` moves by the load that
    :class:`aelab.runtime.MachineLoad` sees and by timing its steps), on that count held
    fixed (torch's default when OpenMP's waiting is left as it is), and on one thread; the render on
    the process's count and on one thread. Each setting gets ``seconds`` under each load, in
    ``rounds`` turns (:func:`_alternated`). Each row ends with the first figure's speed as a multiple of the
    others', with its 95 % interval over the rounds: an interval below 1 loses to them under that
    load, one that holds 1 is a difference these rounds cannot tell from noise."""
    from aelab.data import faces
    from aelab.train import Config, Trainer

    threads = torch.get_num_threads()
    trainer = Trainer(Config.preset(preset), device="cpu", pool_size=256)
    adaptive = trainer.threads.enabled
    for _ in range(6):  # warm-up, and the adaptive count's first trial (one timed step and three on trial)
        trainer.step()

    def fixed(count: int) -> Callable[[], None]:
        def setting() -> None:
            trainer.threads.enabled = False
            torch.set_num_threads(count)

        return setting

    def kit() -> None:
        trainer.threads.enabled = adaptive

    # torch's threads held fixed, then one thread (where they differ); the kit's adaptive count first
    fixed_counts = [threads, 1] if threads > 1 else [1]
    render_settings = [fixed(count) for count in fixed_counts]
    render_labels = [f"on {threads} thread" + "s" * (threads > 1), "on 1"][: len(fixed_counts)]
    step_settings, step_labels = [kit, *render_settings], ["the kit", *render_labels]
    if not adaptive:
        step_settings, step_labels = render_settings, render_labels

    def render() -> None:
        faces.render(batch_size, resolution=resolution, seed=0)

    render()
    rows = []
    try:
        for count in busy:
            with _busy(count):
                steps = _alternated(trainer.step, step_settings, seconds, rounds)
                renders = _alternated(render, render_settings, seconds, rounds)
            load = "quiet" if count == 0 else f"{count} busy"
            rows.append((f"step, {load}", _versus(step_labels, steps, "{:,.0f} ms", rate=False)))
            rendered = _versus(render_labels, renders, "{:,.0f} faces/s", rate=True, size=batch_size)
            rows.append((f"render, {load}", rendered))
    finally:
        trainer.threads.enabled = adaptive
        torch.set_num_threads(threads)
    about = f"step: {preset} preset, render: {resolution} px in batches of {batch_size}"
    return [*rows, ("threads", _threads_note(threads, trainer.threads, about))]


@contextmanager
def _busy(count: int, settle: float = 1.0) -> Iterator[None]:
    """Keep ``count`` cores busy (:func:`busy_processes`) while the block runs, which starts
    ``settle`` seconds later: the bench measures a load that holds, and the kit's loops see a new load
    within a window of :class:`aelab.runtime.MachineLoad` (one step on the old count)."""
    processes = busy_processes(count)
    try:
        if processes:
            time.sleep(settle)
        yield
    finally:
        for process in processes:
            process.kill()
            process.wait()


def _threads_note(threads: int, adaptive: AdaptiveThreads, about: str) -> str:
    """The contended section's last row: the policy's count, OpenMP's waiting and what the kit's
    adaptive count chose."""
    waiting = ", ".join(f"{name}={os.environ[name]}" for name in WAIT_VARIABLES if name in os.environ)
    counts = sorted({count for _, count in adaptive.log}, reverse=True)
    chosen = ", ".join(f"{adaptive.share(count):.0%} of its steps on {count}" for count in counts)
    return (
        f"{threads} (the kit's policy; OpenMP waiting: {waiting or 'libgomp default'}); "
        f"the kit's adaptive count: {chosen if adaptive.enabled else 'off (one CPU, or a pinned count)'}; "
        f"{about} (the renderer runs one thread whatever the count: aelab.runtime.one_thread); "
        f"'quiet' is this machine's own load"
    )


# --------------------------------------------------------------------------------------------------
# Sections, in print order


def ddp_section() -> list[Row]:
    """Training in 1 and 2 processes under torchrun (:func:`aelab.distributed.bench_section`)."""
    from aelab.distributed import bench_section

    return bench_section()


SECTIONS: dict[str, Callable[[], list[Row]]] = {
    "faces": faces_section,
    "train": train_step_section,
    "time-to-ssim": time_to_ssim_section,
    "ddp": ddp_section,
    "seed": seed_step_section,
    "contended": contended_section,
}


def machine() -> list[Row]:
    """The torch version, its threads, the CPUs and the load average: printed beside every figure."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return [
        ("torch", f"{torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs"),
        ("load average (1, 5, 15 min)", load),
    ]
