"""Lab 07's recipe: the four upsampling autoencoders, the blend-boundary detector and its control.

Shared by ``python -m aelab.assets.make_lab07`` (which writes the files of :data:`FILES` into
``lab07/``) and ``solutions/07-forensics.ipynb``. One torch thread, fixed seeds. Each file holds
tensors, numbers and strings only (:func:`aelab.assets.load`):

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

from aelab.data import faces
from aelab.forensics import BlendDetector
from aelab.forensics.generators import UPSAMPLINGS, train_autoencoder
from aelab.validate import check_choice

__all__ = ["AE_RECIPE", "BLEND_RECIPE", "BLEND_REALS", "BLEND_SEED", "FILES", "make_autoencoder", "make_blend", "make"]

#: train_autoencoder's arguments for every kind.
AE_RECIPE = {"steps": 400, "seed": 0, "resolution": 32, "pool_size": 1024, "batch_size": 32, "lr": 2e-3}
#: BlendDetector's arguments.
BLEND_RECIPE = {"steps": 600, "batch_size": 32, "lr": 5e-3, "width": 8, "members": 3, "seed": 0}
BLEND_REALS = 2048
BLEND_SEED = 70
#: The files, in the order the command makes them: target -> file name in ``lab07/``.
FILES = {**{kind: f"ae_{kind}.pt" for kind in UPSAMPLINGS}, "blend": "blend.pt", "blend_control": "blend_control.pt"}


def make_autoencoder(kind: str) -> dict:
    """Train the autoencoder whose last upsampling is ``kind``; return what its file holds."""
    model, losses = train_autoencoder(kind, **AE_RECIPE)
    return {
        "config": model.config(),
        "steps": AE_RECIPE["steps"],
        "losses": losses,
        "state_dict": {k: v.half() for k, v in model.state_dict().items()},
    }


def make_blend(shuffled: bool = False) -> dict:
    """Fit the blend-boundary detector (``shuffled``: its control) on rendered dst-domain reals and their
    self-blends; return its state."""
    reals = faces.render(BLEND_REALS, resolution=32, domain="B", seed=BLEND_SEED)
    detector = BlendDetector(**BLEND_RECIPE, shuffled=shuffled, progress=True)
    return detector.fit(reals.images, reals.face_mask).state_dict()


def make(target: str) -> dict:
    """What the file of ``target`` (a key of :data:`FILES`) holds."""
    target = check_choice("target", target, tuple(FILES))
    return make_autoencoder(target) if target in UPSAMPLINGS else make_blend(shuffled=target == "blend_control")
