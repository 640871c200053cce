"""Lab 02's recipe: the plain autoencoder and the VAE whose code spaces the lab explores.

Shared by ``python -m aelab.assets.make_lab02`` (which writes ``lab02/models.pt``) and
``solutions/02-latent-spaces.ipynb``, which loads them and retrains the first steps of each to show
that the command gives them (the two trainings would take half of the lab's time budget). The file
holds tensors, numbers and strings only (:func:`aelab.assets.load`): ``data`` and ``model`` (the faces
and what both models share), and for ``"ae"`` and ``"vae"`` their ``training``
(:func:`aelab.fitting.fit_autoencoder`'s arguments), ``latent_dims``, ``history`` (every step's loss)
and ``state_dict`` (float16 weights), made by :func:`aelab.course.lab01.train_run`:

- ``"ae"``: ``ConvAutoencoder(**MODEL, latent_dims=16)`` trained with ``aelab.losses.mse``;
- ``"vae"``: ``VAE(**MODEL, latent_dims=16)`` trained with MSE + ``beta`` · KL, both per pixel value
  (:func:`vae_loss`; the lab's ``vae_loss`` with the student's KL term).
"""

from __future__ import annotations

import torch

from aelab import losses
from aelab.course.lab01 import train_run
from aelab.data import faces
from aelab.models import VAE, VAEOutput

__all__ = ["DATA", "MODEL", "LATENT_DIMS", "AE_TRAINING", "VAE_TRAINING", "BETA", "vae_loss", "make_models"]

#: ``faces.render``'s arguments for the training set (lab 02's ``train``).
DATA = {"n": 2048, "resolution": 32, "domain": "A", "seed": 0}
#: What both models share but the code size.
MODEL = {"resolution": 32, "width": 16}
LATENT_DIMS = 16
#: fit_autoencoder's arguments for each model.
AE_TRAINING = {"steps": 800, "batch_size": 32, "lr": 3e-3, "seed": 0}
VAE_TRAINING = {"steps": 600, "batch_size": 32, "lr": 3e-3, "seed": 0}
#: The weight of the VAE's KL term.
BETA = 0.3


def vae_loss(target: torch.Tensor, out: VAEOutput) -> torch.Tensor:
    """Reconstruction MSE + BETA · KL of a VAE's output for images (N, C, H, W), both per pixel value."""
    return losses.mse(target, out.recon) + BETA * losses.kl_divergence(out.mu, out.logvar) / target[0].numel()


def make_models() -> dict:
    """Train the lab's autoencoder and VAE; return what ``models.pt`` holds."""
    images = faces.render(**DATA).images
    ae = train_run(images, MODEL, losses.mse, LATENT_DIMS, {**AE_TRAINING, "desc": "autoencoder"})
    vae = train_run(images, MODEL, vae_loss, LATENT_DIMS, {**VAE_TRAINING, "desc": "VAE"}, kind=VAE)
    return {
        "data": DATA,
        "model": MODEL,
        "ae": {"training": AE_TRAINING, **ae},
        "vae": {"training": VAE_TRAINING, "beta": BETA, **vae},
    }
