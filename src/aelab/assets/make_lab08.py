"""Reproduce lab 08's files: the benchmark's models that lab 03 does not ship, trained on its budget.

    .venv/bin/python -m aelab.assets.make_lab08            # all three, about 10 CPU-minutes
    .venv/bin/python -m aelab.assets.make_lab08 h128       # or some of: h128 liae_ud ae

writes ``h128.pt``, ``liae_ud.pt`` and ``ae.pt`` into ``lab08/`` of the assets folder
(:func:`aelab.assets.root`) and prints their SHA-256 (compare with ``lab08/README.md``). The benchmark's
DF and LIAE are lab 03's ``df.pt`` and ``liae.pt``: made by :mod:`aelab.assets.make_lab03` with this
very budget (:data:`aelab.assets.make_lab03.LAB_CONFIG`, :data:`aelab.assets.make_lab03.ITERATIONS`
steps, seed 0, pools of 512 faces), so they are not shipped twice. One torch thread, fixed seeds: the
bytes repeat with the same torch version and aelab code. Each file holds tensors, numbers and strings
only -- read it with ``torch.load(path, weights_only=True)`` and :func:`aelab.benchmark.load`.

Each file: ``model`` (the spec, an entry of :data:`aelab.benchmark.MODELS`), ``config`` (the
:class:`aelab.train.Config` the trainer ran, as a dict; a model other than DF and LIAE takes the recipe
from it, its archi and dims from ``model``), ``iteration``, ``history`` (``src_total`` and
``dst_total`` of every step) and ``state_dict`` (float16):
``benchmark.trainer(benchmark.build(spec, seed=0), LAB_CONFIG, seed=0, pool_size=512)`` trained for
:data:`~aelab.assets.make_lab03.ITERATIONS` steps. The script also prints each training's CPU
seconds per step (a figure of the machine, kept out of the files so that their bytes repeat;
docs/benchmarks.md records them).
"""

from __future__ import annotations

import sys
import time

import torch

from aelab import assets, benchmark
from aelab.assets.make_lab03 import ITERATIONS, LAB_CONFIG

#: file stem -> the benchmark model it holds.
FILES = {"h128": "H128", "liae_ud": "LIAE-ud", "ae": "AE"}


def make_model(name: str) -> tuple[dict, float]:
    """Train the benchmark model ``name`` (an entry of :data:`aelab.benchmark.MODELS`) on lab 03's budget;
    return what its file holds, and the CPU seconds per step."""
    spec = benchmark.MODELS[name]
    run = benchmark.trainer(benchmark.build(spec, seed=0), LAB_CONFIG, seed=0, pool_size=512)
    start = time.process_time()
    run.fit(ITERATIONS)
    seconds = (time.process_time() - start) / ITERATIONS
    return {
        "model": dict(spec),
        "config": run.config.to_dict(),
        "iteration": run.iteration,
        "history": {key: run.history[key] for key in ("src_total", "dst_total")},
        "state_dict": {k: v.half() for k, v in run.model.state_dict().items()},
    }, seconds


def main(argv: list[str]) -> int:
    unknown = [name for name in argv if name not in FILES]
    if unknown:
        print(f"usage: python -m aelab.assets.make_lab08 [{' '.join(FILES)}]; unknown: {' '.join(unknown)}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    for stem in argv or list(FILES):
        path = assets.root() / "lab08" / f"{stem}.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        saved, seconds = make_model(FILES[stem])
        torch.save(saved, path)
        print(f"{assets.sha256(path)}  {path.name}  ({1000 * seconds:.0f} CPU-ms per step)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
