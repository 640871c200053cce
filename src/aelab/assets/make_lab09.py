"""Reproduce lab 09's file: the CNN detectors it attacks and defends, three kinds from three seeds.

    .venv/bin/python -m aelab.assets.make_lab09

writes ``detectors.pt`` into ``lab09/`` of the assets folder (:func:`aelab.assets.root`) and prints its
SHA-256 (compare with ``lab09/README.md``). The recipe is :mod:`aelab.course.lab09`'s: this command only
runs it. One torch thread, fixed seeds: the bytes repeat with the same torch version and aelab code.
The file holds tensors, numbers and strings only -- read it with ``torch.load(path, weights_only=True)``:
``{kind: [state of seed 0, 1, 2]}`` for each kind of :data:`aelab.course.lab09.KINDS` ("plain",
"adversarial", "augmented"), each a :meth:`aelab.forensics.CNNDetector.state_dict` (its settings, every
step's loss, float16 weights) fit on the train split (:func:`aelab.course.lab09.split`) with lab 03's DF.
"""

from __future__ import annotations

import sys

import torch

from aelab import assets
from aelab.course import lab09

#: The files this command reads (lab 03's DF, which draws the fakes) with their SHA-256.
DF = ("lab03/df.pt", "0e82d694a2150f819a838e2528c633e988d5ee8d3d7c5fde2ef2ea8480fa4cc3")


def make() -> dict:
    """Every shipped detector's state: ``{kind: [state per seed of lab09.SEEDS]}``."""
    df = lab09.load_df(torch.load(assets.verify(*DF), weights_only=True))
    data = lab09.split("train", df)
    return {kind: [lab09.train(kind, seed, data, progress=True).state_dict() for seed in lab09.SEEDS]
            for kind in lab09.KINDS}


def main(argv: list[str]) -> int:
    return assets.make_one(argv, "lab09/detectors.pt", make)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
