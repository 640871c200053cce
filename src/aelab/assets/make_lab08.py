"""Reproduce lab 08's files: the benchmark's five models trained from three seeds on one budget, and
what the lab reads of them.

    .venv/bin/python -m aelab.assets.make_lab08              # everything
    .venv/bin/python -m aelab.assets.make_lab08 h128 results # or some of: h128 liae_ud ae seeds results

- ``h128``, ``liae_ud``, ``ae``: ``h128.pt``, ``liae_ud.pt`` and ``ae.pt`` in ``lab08/`` of the assets
  folder (:func:`aelab.assets.root`), the three models trained from seed 0 that lab 03 does not ship
  (the benchmark's DF and LIAE from seed 0 are lab 03's ``df.pt`` and ``liae.pt``, made by
  :mod:`aelab.assets.make_lab03` with this very budget, so they are not shipped twice). The lab
  loads these five to draw their swaps.
- ``seeds``: the five models trained from the other seeds of :data:`SEEDS`, into
  ``runs/lab08/<stem>-seed<k>.pt`` under the working folder (not shipped; a file already there is
  kept).
- ``results``: ``results.json`` in ``lab08/``: every model from every seed measured on the lab's
  judges (:func:`aelab.benchmark.judges`): per test face SSIM, PSNR, pose carry-over and identity
  leak, per model FD, KID, precision and recall, the scores of each blend-detector member and of a
  spectral detector fit on the other four architectures' frames from seed 0
  (:func:`aelab.benchmark.record`); the blend members' scores of the real test frames; and the floor
  of FD, KID, precision and recall between two real sets (:func:`aelab.benchmark.floor`).

One torch thread, fixed seeds: the bytes repeat with the same torch version and aelab code. It prints
each file's SHA-256 (compare with ``lab08/README.md``) and each training's CPU seconds per step (a
figure of the machine, kept out of the files). Each model's file: ``model`` (the spec, an entry of
:data:`aelab.benchmark.MODELS`), ``config`` (the :class:`aelab.train.Config` the trainer ran, as a
dict), ``iteration``, ``history`` (``src_total`` and ``dst_total`` of every step) and ``state_dict``
(float16): ``benchmark.trainer(benchmark.build(spec, seed=k), LAB_CONFIG, seed=k, pool_size=512)``
trained for :data:`~aelab.assets.make_lab03.ITERATIONS` steps. Read it with ``torch.load(path,
weights_only=True)`` and :func:`aelab.benchmark.load`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from aelab import assets, benchmark
from aelab.assets.make_lab03 import ITERATIONS, LAB_CONFIG
from aelab.data import faces
from aelab.forensics import BlendDetector
from aelab.metrics import FactorReader
from aelab.realism import FeatureNet
from aelab.train import EVAL_SEED

#: model name -> file stem.
STEMS = {"H128": "h128", "DF": "df", "LIAE": "liae", "LIAE-ud": "liae_ud", "AE": "ae"}
#: The training seeds of every model.
SEEDS = (0, 1, 2)
#: Where the checkpoints that are not shipped go, under the working folder.
RUNS = Path("runs") / "lab08"


def checkpoint(name: str, seed: int) -> Path:
    """Where model ``name`` trained from ``seed`` lies: the shipped file for seed 0, else under :data:`RUNS`."""
    if seed == 0:
        return assets.root() / ("lab03" if name in ("DF", "LIAE") else "lab08") / f"{STEMS[name]}.pt"
    return RUNS / f"{STEMS[name]}-seed{seed}.pt"


def make_model(name: str, seed: int = 0) -> tuple[dict, float]:
    """Train the benchmark model ``name`` (an entry of :data:`aelab.benchmark.MODELS`) from ``seed`` on
    lab 03's budget; return what its file holds, and the CPU seconds per step."""
    spec = benchmark.MODELS[name]
    run = benchmark.trainer(benchmark.build(spec, seed=seed), LAB_CONFIG, seed=seed, pool_size=512)
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


def _train(name: str, seed: int) -> Path:
    path = checkpoint(name, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    saved, seconds = make_model(name, seed)
    torch.save(saved, path)
    print(f"{assets.sha256(path)}  {path.name}  ({1000 * seconds:.0f} CPU-ms per step)", flush=True)
    return path


def make_results() -> dict:
    """Measure every model from every seed of :data:`SEEDS` whose checkpoint is there (:func:`checkpoint`)
    on the lab's judges; return results.json. Each architecture's spectral detector is fit on the
    seed-0 frames of the other four, and scores every seed of it."""
    def load(name: str) -> dict:
        return torch.load(assets.path(name), weights_only=True)

    judges = benchmark.judges(reader=FactorReader.from_state_dict(load("lab03/reader.pt")),
                              net=FeatureNet.from_state_dict(load("lab06/features.pt")),
                              blend=BlendDetector.from_state_dict(load("lab07/blend.pt")))
    others = faces.render(2 * benchmark.TEST_FACES, resolution=32, domain="B", seed=EVAL_SEED)[benchmark.TEST_FACES:]
    trained = {(name, seed): path for seed in SEEDS for name in STEMS if (path := checkpoint(name, seed)).is_file()}
    missing = [f"{name} from seed {seed}" for seed in SEEDS for name in STEMS if (name, seed) not in trained]
    if any((name, 0) not in trained for name in STEMS):
        raise SystemExit("make_lab08 results needs the five models from seed 0: run make_lab03 and make_lab08 h128 liae_ud ae")
    measured = {key: benchmark.measure(benchmark.load(torch.load(path, weights_only=True)), judges) for key, path in trained.items()}
    detectors = {name: benchmark.spectral_detector([measured[other, 0].frames for other in STEMS if other != name], judges)
                 for name in STEMS}
    models = {}
    for name in STEMS:
        seeds = [seed for seed in SEEDS if (name, seed) in trained]
        models[name] = {"parameters": measured[name, 0].parameters, "seeds": seeds,
                        "runs": [benchmark.record(measured[name, seed], benchmark.spectral_scores(
                            detectors[name], measured[name, seed].frames, judges)) for seed in seeds]}
    if missing:
        print("not trained yet (make_lab08 seeds), so not in results.json:", ", ".join(missing), flush=True)
    return {
        "about": "lab 08's benchmark: python -m aelab.assets.make_lab08 results (aelab.benchmark.Seeds reads it)",
        "floor": {key: benchmark.rounded(value) for key, value in benchmark.floor(judges, others).items()},
        "real_blend": benchmark.rounded(benchmark.blend_members(judges, judges.real_frames[judges.half:])),
        "models": models,
    }


def main(argv: list[str]) -> int:
    targets = {"h128": "H128", "liae_ud": "LIAE-ud", "ae": "AE"}
    unknown = [name for name in argv if name not in (*targets, "seeds", "results")]
    if unknown:
        usage = f"usage: python -m aelab.assets.make_lab08 [{' '.join(targets)} seeds results]"
        print(f"{usage}; unknown: {' '.join(unknown)}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    chosen = argv or [*targets, "seeds", "results"]
    for stem in chosen:
        if stem in targets:
            _train(targets[stem], 0)
        elif stem == "seeds":
            for seed in SEEDS[1:]:
                for name in STEMS:
                    if not checkpoint(name, seed).is_file():
                        _train(name, seed)
        elif stem == "results":
            path = assets.root() / "lab08" / "results.json"
            path.write_text(json.dumps(make_results(), separators=(",", ":")) + "\n")
            print(f"{assets.sha256(path)}  {path.name}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
