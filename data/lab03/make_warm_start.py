"""Reproduce lab 03's warm-start checkpoints: DF and LIAE trained on SynthFaces A (src) and B (dst).

    .venv/bin/python data/lab03/make_warm_start.py

writes ``data/lab03/df.pt`` and ``data/lab03/liae.pt`` and prints their SHA-256 (compare with
``data/lab03/README.md``). The recipe is ``aelab.train.Config.preset("cpu")`` at the lab's size
(:data:`LAB_SIZE`), ``Trainer(config, seed=0, pool_size=512)``, :data:`ITERATIONS` steps, one torch
thread (thread count changes float rounding, so the bytes repeat only with one thread and the same
torch version). Each file holds tensors, numbers and strings only -- read it with
``torch.load(path, weights_only=True)``:

- ``config``: the ``Config`` as a dict; ``iteration``: the steps trained;
- ``history``: ``{"src_total": [...], "dst_total": [...]}``, the loss of every step;
- ``state_dict``: the model's weights, stored as float16 to keep the files small.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
from pathlib import Path

import torch

from aelab.train import Config, Trainer

#: What lab 03 changes from the cpu preset: 32 px and narrow layers, so both models train on a laptop.
LAB_SIZE = {"resolution": 32, "ae_dims": 32, "e_dims": 16, "d_dims": 8, "d_mask_dims": 8, "batch_size": 8}
ITERATIONS = 3000
HERE = Path(__file__).resolve().parent


def make(archi: str, iterations: int = ITERATIONS) -> Path:
    """Train ``archi`` ("df" or "liae") and write ``HERE / f"{archi}.pt"``; return its path."""
    config = dataclasses.replace(Config.preset("cpu"), archi=archi, **LAB_SIZE)
    trainer = Trainer(config, device="cpu", seed=0, pool_size=512)
    trainer.fit(iterations)
    path = HERE / f"{archi}.pt"
    torch.save(
        {
            "config": config.to_dict(),
            "iteration": trainer.iteration,
            "history": {key: trainer.history[key] for key in ("src_total", "dst_total")},
            "state_dict": {k: v.half() for k, v in trainer.model.state_dict().items()},
        },
        path,
    )
    return path


def main(argv: list[str]) -> int:
    torch.set_num_threads(1)
    for archi in argv or ["df", "liae"]:
        path = make(archi)
        print(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
