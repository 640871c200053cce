"""Reproduce lab 02's file: the plain autoencoder and the VAE whose code spaces the lab explores.

    .venv/bin/python -m aelab.assets.make_lab02

writes ``models.pt`` into ``lab02/`` of the assets folder (:func:`aelab.assets.root`) and prints its
SHA-256 (compare with ``lab02/README.md``). One torch thread, fixed seeds: the bytes repeat with the
same torch version and the same aelab code. The file holds tensors, numbers and strings only -- read
it with ``torch.load(path, weights_only=True)``: ``data`` and ``model`` (the faces and what both models
share), and for ``"ae"`` and ``"vae"`` their ``training`` (:func:`aelab.fitting.fit_autoencoder`'s
arguments), ``latent_dims``, ``history`` (every step's loss) and ``state_dict`` (float16 weights), made
by :func:`aelab.assets.make_lab01.train_run`:

- ``"ae"``: ``ConvAutoencoder(**MODEL, latent_dims=16)`` trained with ``aelab.losses.mse``;
- ``"vae"``: ``VAE(**MODEL, latent_dims=16)`` trained with MSE + ``beta`` · KL, both per pixel value
  (:func:`vae_loss`; the lab's ``vae_loss`` with the student's KL term).

The two trainings would take half of the lab's time budget; the lab loads them and retrains the
first steps of each to show that this command gives them.
"""

from __future__ import annotations

import sys

import torch

from aelab import assets, losses
from aelab.assets.make_lab01 import train_run
from aelab.data import faces
from aelab.models import VAE, VAEOutput

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
    return {"data": DATA, "model": MODEL, "ae": {"training": AE_TRAINING, **ae},
            "vae": {"training": VAE_TRAINING, "beta": BETA, **vae}}


def main(argv: list[str]) -> int:
    return assets.make_one(argv, "lab02/models.pt", make_models)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
