"""Lab 01's recipe: the autoencoders its loss comparison and its rate-distortion curve load.

Shared by ``python -m aelab.assets.make_lab01`` (which writes ``lab01/models.pt``) and
``solutions/01-autoencoders.ipynb``. The file holds tensors, numbers and strings only
(:func:`aelab.assets.load`):

- ``data``, ``model``, ``training``: the faces (:data:`DATA`), the constructor arguments every model
  shares (:data:`MODEL`) and :func:`aelab.fitting.fit_autoencoder`'s arguments (:data:`TRAINING`) --
  the lab's own recipe, which the notebook compares with its cells;
- ``models``: for each of :data:`RUNS` (name -> loss, latent dims) its ``loss``, ``latent_dims``,
  ``history`` (every step's loss) and ``state_dict`` (float16 weights):
  ``ConvAutoencoder(**MODEL, latent_dims=...)`` built after ``torch.manual_seed(0)``, trained with
  ``fit_autoencoder(model, images, LOSSES[loss], **TRAINING)``.

The lab trains the MSE model itself; these are the six more runs of its sections 4 and 5 (six
600-step trainings, most of a lab's time budget), with the library's losses, which the lab's exercises
reproduce (``aelab.checks.lab01``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from aelab import losses
from aelab.data import faces
from aelab.fitting import fit_autoencoder
from aelab.models import ConvAutoencoder

__all__ = ["DATA", "MODEL", "TRAINING", "LOSSES", "RUNS", "half", "train_run", "make_models"]

#: ``faces.render``'s arguments for the training set (lab 01's ``train``).
DATA = {"n": 1024, "resolution": 32, "domain": "A", "seed": 0}
#: What every model shares; the latent dims come with each run.
MODEL = {"resolution": 32, "width": 16}
#: fit_autoencoder's arguments (lab 01's ``TRAINING``).
TRAINING = {"steps": 600, "batch_size": 16, "lr": 2e-3, "seed": 0}
#: The losses by name: lab 01's L1, its ``dssim`` (11-px window) and its ``dfl_loss`` at 32 px.
LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "L1": lambda target, pred: (target - pred).abs().mean(),
    "DSSIM": losses.dssim,
    "DFL": lambda target, pred: losses.reconstruction_loss(target, pred, MODEL["resolution"]),
}
#: The runs: name -> (loss, latent dims). Section 4 compares the losses at 64 dims (the MSE model is
#: the lab's own), section 5 sweeps the code size with DeepFaceLab's loss (64 dims is "DFL").
RUNS = {
    "L1": ("L1", 64),
    "DSSIM": ("DSSIM", 64),
    "DFL": ("DFL", 64),
    "DFL 4": ("DFL", 4),
    "DFL 16": ("DFL", 16),
    "DFL 256": ("DFL", 256),
}


def half(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict with its floating-point tensors as float16, to keep the shipped files small."""
    return {key: value.half() if value.is_floating_point() else value for key, value in state_dict.items()}


def train_run(
    images: torch.Tensor,
    model: dict,
    loss_fn: Callable,
    latent_dims: int,
    training: dict,
    kind: type[ConvAutoencoder] = ConvAutoencoder,
) -> dict:
    """Train ``kind(**model, latent_dims=...)`` (a ConvAutoencoder or a VAE, initialised after
    ``torch.manual_seed(0)``) on ``images`` (N, C, H, W) in [0, 1] with ``fit_autoencoder(...,
    **training)``; return ``latent_dims``, ``history`` and ``state_dict``."""
    torch.manual_seed(0)
    net = kind(**model, latent_dims=latent_dims)
    history = fit_autoencoder(net, images, loss_fn, **training)
    return {"latent_dims": latent_dims, "history": history, "state_dict": half(net.state_dict())}


def make_models() -> dict:
    """Train every run of :data:`RUNS`; return what ``models.pt`` holds."""
    images = faces.render(**DATA).images
    runs = {}
    for name, (loss, latent_dims) in RUNS.items():
        runs[name] = {"loss": loss, **train_run(images, MODEL, LOSSES[loss], latent_dims, {**TRAINING, "desc": name})}
    return {"data": DATA, "model": MODEL, "training": TRAINING, "models": runs}
