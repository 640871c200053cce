"""How a swap looks against the true swap (lab 05): colour error in L*a*b*, sharpness.

- :func:`lab_error` -- the mean colour distance (CIE76 ΔE, in L*a*b* as :func:`aelab.color.rgb_to_lab`
  computes it) inside a mask: how far a swap's colours are from the truth's;
- :func:`high_frequency_energy` -- the share of an image's spectral power (the 2-D FFT of its grey
  image, :func:`aelab.forensics.spectra.fft_power`, without the zero frequency: the mean removed) at
  radial frequencies above ``cutoff`` (cycles per pixel, 0.5 is Nyquist): what a GAN adds and a
  blurred autoencoder output lacks;
- :func:`edge_ratio` -- the mean gradient magnitude of the prediction's grey image over the truth's
  (1: as sharp).

Grey means the forensics lab's luminance (:func:`aelab.forensics.spectra.luminance`, ITU-R BT.601),
and the spectrum lab 05 plots is the forensics lab's too -- :func:`aelab.forensics.spectra.azimuthal_average`
of :func:`aelab.forensics.spectra.power_spectrum`, Durall et al.'s rings of integer radius -- so the
two labs read one implementation.

Images are tensors (N, 3, H, W) of floats in [0, 1]; masks (N, 1, H, W).
"""

from __future__ import annotations

import torch

from aelab import color
from aelab.forensics.spectra import fft_power, luminance, radial_frequency
from aelab.validate import check_float, check_image_pair, check_images, check_mask

__all__ = ["lab_error", "high_frequency_energy", "edge_ratio"]


def lab_error(pred: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per image (N,): the mean ΔE (Euclidean distance in L*a*b*) between ``pred`` and ``truth``,
    weighted by ``mask``."""
    check_image_pair(("pred", "truth"), pred, truth)
    check_mask("mask", mask, like=pred)
    distance = (color.rgb_to_lab(pred.double()) - color.rgb_to_lab(truth.double())).square().sum(1, keepdim=True).sqrt()
    return ((distance * mask).flatten(1).sum(1) / mask.double().flatten(1).sum(1).clamp_min(1e-8)).float()


def high_frequency_energy(images: torch.Tensor, cutoff: float = 0.25) -> torch.Tensor:
    """Per image (N,): the share of spectral power above ``cutoff`` cycles per pixel (0 < cutoff <
    0.5·√2) among all frequencies but zero (the image's mean)."""
    check_images("images", images)
    cutoff = check_float("cutoff", cutoff, minimum=0.0, maximum=0.7, min_inclusive=False)
    power = fft_power(images)
    frequency = radial_frequency(*images.shape[2:], device=power.device)
    high = (power * (frequency > cutoff)).flatten(1).sum(1)
    return (high / (power * (frequency > 0)).flatten(1).sum(1).clamp_min(1e-12)).float()


def _gradient_magnitude(images: torch.Tensor) -> torch.Tensor:
    grey = luminance(images)
    dy, dx = grey.diff(dim=1)[:, :, :-1], grey.diff(dim=2)[:, :-1, :]
    return (dy.square() + dx.square()).sqrt().flatten(1).mean(1)


def edge_ratio(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Per image (N,): mean gradient magnitude of ``pred`` over that of ``truth`` (1: as sharp)."""
    check_image_pair(("pred", "truth"), pred, truth)
    return (_gradient_magnitude(pred) / _gradient_magnitude(truth).clamp_min(1e-12)).float()
