"""Reproduce lab 06's feature network: the network whose features the realism metrics compare.

    .venv/bin/python -m aelab.assets.make_lab06

writes ``features.pt`` into ``lab06/`` of the assets folder (:func:`aelab.assets.root`) and prints its
SHA-256 (compare with ``lab06/README.md``). One torch thread, fixed seeds: the bytes repeat with the
same torch version and aelab code on the same CPU (other CPUs round differently). The file holds
tensors, numbers and strings only -- read it with ``torch.load(path, weights_only=True)`` and
:meth:`aelab.realism.FeatureNet.from_state_dict`.

``features.pt``: :meth:`aelab.realism.FeatureNet.state_dict` of ``FeatureNet.for_faces(
resolution=32, steps=STEPS, seed=0)`` (weights as float16, the loss of every step as float64).
"""

from __future__ import annotations

import sys

import torch

from aelab import assets
from aelab.realism import FeatureNet

#: Training steps of 64 freshly rendered faces each.
STEPS = 3000


def make_features() -> dict:
    """Train the feature network; return what its file holds."""
    state = FeatureNet.for_faces(resolution=32, steps=STEPS, seed=0).state_dict()
    state["net"] = {k: v.half() if v.is_floating_point() else v for k, v in state["net"].items()}
    return state


def main(argv: list[str]) -> int:
    if argv:
        print("usage: python -m aelab.assets.make_lab06", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    path = assets.root() / "lab06" / "features.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(make_features(), path)
    print(f"{assets.sha256(path)}  {path.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
