"""Reproduce lab 07's files: the four upsampling autoencoders, the blend-boundary detector and its control.

    .venv/bin/python -m aelab.assets.make_lab07             # all six
    .venv/bin/python -m aelab.assets.make_lab07 blend       # or some of: pixel_shuffle transposed nearest
                                                            #   bilinear blend blend_control

writes ``ae_<kind>.pt``, ``blend.pt`` and ``blend_control.pt`` into ``lab07/`` of the assets folder
(:func:`aelab.assets.root`) and prints their SHA-256 (compare with ``lab07/README.md``). One torch
thread, fixed seeds: the bytes repeat with the same torch version and aelab code. Each file holds
tensors, numbers and strings only -- read it with ``torch.load(path, weights_only=True)``.

- ``ae_<kind>.pt`` for each kind of :data:`aelab.forensics.generators.UPSAMPLINGS`: ``config`` (the
  model's constructor arguments), ``steps``, ``losses`` (every step's MSE) and ``state_dict`` (float16):
  :func:`~aelab.forensics.generators.train_autoencoder` with :data:`AE_RECIPE`.
- ``blend.pt``: :meth:`aelab.forensics.BlendDetector.state_dict` of a detector fit with
  :data:`BLEND_RECIPE` on :data:`BLEND_REALS` rendered faces of domain "B" (lab 03's dst; render seed
  :data:`BLEND_SEED`) and their face masks -- real faces and their self-blends only, as SBI trains on
  the real videos of its data set; no swap or merged frame is ever seen. An ensemble of three networks.
- ``blend_control.pt``: the same with ``shuffled=True`` -- the shuffled-label control (the labels of
  every batch replaced by :func:`aelab.forensics.shuffle_labels`).
"""

from __future__ import annotations

import sys

import torch

from aelab import assets
from aelab.data import faces
from aelab.forensics import BlendDetector
from aelab.forensics.generators import UPSAMPLINGS, train_autoencoder

#: train_autoencoder's arguments for every kind.
AE_RECIPE = {"steps": 400, "seed": 0, "resolution": 32, "pool_size": 1024, "batch_size": 32, "lr": 2e-3}
#: BlendDetector's arguments.
BLEND_RECIPE = {"steps": 600, "batch_size": 32, "lr": 5e-3, "width": 8, "members": 3, "seed": 0}
BLEND_REALS = 2048
BLEND_SEED = 70


def make_autoencoder(kind: str) -> dict:
    """Train the autoencoder whose last upsampling is ``kind``; return what its file holds."""
    model, losses = train_autoencoder(kind, **AE_RECIPE)
    return {"config": model.config(), "steps": AE_RECIPE["steps"], "losses": losses,
            "state_dict": {k: v.half() for k, v in model.state_dict().items()}}


def make_blend(shuffled: bool = False) -> dict:
    """Fit the blend-boundary detector (``shuffled``: its control) on rendered dst-domain reals and their
    self-blends; return its state."""
    reals = faces.render(BLEND_REALS, resolution=32, domain="B", seed=BLEND_SEED)
    detector = BlendDetector(**BLEND_RECIPE, shuffled=shuffled, progress=True)
    return detector.fit(reals.images, reals.face_mask).state_dict()


def main(argv: list[str]) -> int:
    torch.set_num_threads(1)
    makers = {**{kind: (f"ae_{kind}.pt", lambda kind=kind: make_autoencoder(kind)) for kind in UPSAMPLINGS},
              "blend": ("blend.pt", make_blend),
              "blend_control": ("blend_control.pt", lambda: make_blend(shuffled=True))}
    for name in argv or list(makers):
        filename, make = makers[name]
        path = assets.root() / "lab07" / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(make(), path)
        print(f"{assets.sha256(path)}  {path.name}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
