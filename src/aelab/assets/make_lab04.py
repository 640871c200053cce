"""Reproduce lab 04's files: the training recipe measured one option at a time (:mod:`aelab.recipe`).

    .venv/bin/python -m aelab.assets.make_lab04            # all runs, 5 worker processes

trains the baseline (the seed card's recipe at lab size, :data:`aelab.recipe.BASELINE`) with seeds
:data:`BASELINE_SEEDS` and each option of :data:`aelab.recipe.OPTIONS` switched, with seeds
:data:`OPTION_SEEDS`, each for :data:`STEPS` steps on one torch thread, scores every run on held-out faces
(:func:`aelab.recipe.measure`, with lab 03's factor reader) and writes into ``lab04/`` of the assets
folder:

- ``results.json``: ``steps``, ``baseline`` (the config), ``runs`` -- one ``{"option", "seed",
  "metrics", "history"}`` per run, ``option`` None for the baseline, ``history`` the first
  :data:`HISTORY_STEPS` values of ``src_total`` (what the lab's short retrain repeats);
- ``baseline.pt`` and ``masked_training.pt``: the baseline and the run without masked training
  (seed 0) as ``{"config", "iteration", "state_dict"}`` (float16 weights), for the lab's previews.

It prints each file's SHA-256 (compare with ``lab04/README.md``). Runs are independent and seeded, so
the results do not depend on the number of workers; the bytes repeat with the same torch version and
aelab code on the same CPU kind.
"""

from __future__ import annotations

import json
import sys
from multiprocessing import get_context
from typing import Any

import torch

from aelab import assets, recipe
from aelab.metrics import FactorReader

STEPS = 150
BASELINE_SEEDS = (0, 1, 2)
OPTION_SEEDS = (0, 1, 2)
HISTORY_STEPS = 10
#: The runs whose weights ship: file stem -> option (None: the baseline), all seed 0.
SHIPPED = {"baseline": None, "masked_training": "masked_training"}
READER = ("lab03/reader.pt", "9e91b94a6305f7e96e8414a5cedf7c644849b9cbde774e9828d930f3cfa584f7")


def load_reader() -> FactorReader:
    """Lab 03's factor reader, SHA-256 verified."""
    return FactorReader.from_state_dict(torch.load(assets.verify(*READER), weights_only=True))


def run(job: tuple[str | None, int]) -> dict[str, Any]:
    """Train and score one run; return its entry of ``results.json`` (and its weights when shipped)."""
    torch.set_num_threads(1)
    option, seed = job
    trainer = recipe.train_run(option, seed, STEPS)
    entry: dict[str, Any] = {
        "option": option, "seed": seed,
        "metrics": recipe.measure(trainer, load_reader()),
        "history": trainer.history["src_total"][:HISTORY_STEPS],
    }
    if seed == 0 and option in SHIPPED.values():
        entry["weights"] = {
            "config": trainer.config.to_dict(), "iteration": trainer.iteration,
            "state_dict": {k: v.half() for k, v in trainer.model.state_dict().items()},
        }
    print(f"done {option or 'baseline'} seed {seed}", flush=True)
    return entry


def main(argv: list[str]) -> int:
    workers = int(argv[0]) if argv else 5
    jobs = [(None, s) for s in BASELINE_SEEDS] + [(o, s) for o in recipe.OPTIONS for s in OPTION_SEEDS]
    jobs.sort(key=lambda job: job[0] != "pretrain")  # the longest run (it trains twice) first
    with get_context("spawn").Pool(workers) as pool:
        entries = pool.map(run, jobs, chunksize=1)
    folder = assets.root() / "lab04"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, option in SHIPPED.items():
        entry = next(e for e in entries if e["option"] == option and e["seed"] == 0)
        torch.save(entry.pop("weights"), folder / f"{stem}.pt")
        written.append(folder / f"{stem}.pt")
    for entry in entries:
        entry.pop("weights", None)
    results = {"steps": STEPS, "baseline": recipe.BASELINE, "runs": entries}
    (folder / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    for path in [folder / "results.json", *written]:
        print(f"{assets.sha256(path)}  {path.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
