"""How a swap looks against the true swap (lab 05): colour error in L*a*b*, sharpness, spectra.

- :func:`lab_error` -- the mean colour distance (CIE76 ΔE, in L*a*b* as :func:`aelab.color.rgb_to_lab`
  computes it) inside a mask: how far a swap's colours are from the truth's;
- :func:`high_frequency_energy` -- the share of an image's spectral power (2-D FFT of the grey image,
  mean removed) at radial frequencies above ``cutoff`` (cycles per pixel, 0.5 is Nyquist): what a GAN
  adds and a blurred autoencoder output lacks;
- :func:`edge_ratio` -- the mean gradient magnitude of the prediction over the truth's (1: as sharp);
- :func:`radial_spectrum` -- the azimuthally averaged log power spectrum, per radial frequency bin,
  the curve the forensics lab (07) reads for upsampling and GAN artefacts.

Images are tensors (N, 3, H, W) of floats in [0, 1]; masks (N, 1, H, W).
"""

from __future__ import annotations

import torch

from aelab import color
from aelab.validate import check_float, check_image_pair, check_images, check_mask, check_positive_int

__all__ = ["lab_error", "high_frequency_energy", "edge_ratio", "radial_spectrum"]


def lab_error(pred: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per image (N,): the mean ΔE (Euclidean distance in L*a*b*) between ``pred`` and ``truth``,
    weighted by ``mask``."""
    check_image_pair(("pred", "truth"), pred, truth)
    check_mask("mask", mask, like=pred)
    distance = (color.rgb_to_lab(pred.double()) - color.rgb_to_lab(truth.double())).square().sum(1, keepdim=True).sqrt()
    return ((distance * mask).flatten(1).sum(1) / mask.double().flatten(1).sum(1).clamp_min(1e-8)).float()


def _grey_power(images: torch.Tensor) -> torch.Tensor:
    """(N, H, W) power spectrum of the grey images with their mean removed (FFT, unshifted)."""
    grey = images.double().mean(1)
    grey = grey - grey.mean(dim=(1, 2), keepdim=True)
    return torch.fft.fft2(grey).abs().square()


def _radius(h: int, w: int) -> torch.Tensor:
    """(H, W) radial frequency of each FFT bin, in cycles per pixel."""
    fy, fx = torch.fft.fftfreq(h, dtype=torch.float64), torch.fft.fftfreq(w, dtype=torch.float64)
    return (fy[:, None].square() + fx[None, :].square()).sqrt()


def high_frequency_energy(images: torch.Tensor, cutoff: float = 0.25) -> torch.Tensor:
    """Per image (N,): the share of spectral power above ``cutoff`` cycles per pixel (0 < cutoff < 0.5*√2)."""
    check_images("images", images)
    cutoff = check_float("cutoff", cutoff, minimum=0.0, maximum=0.7, min_inclusive=False)
    power = _grey_power(images)
    high = _radius(*images.shape[2:]) > cutoff
    return ((power * high).flatten(1).sum(1) / power.flatten(1).sum(1).clamp_min(1e-12)).float()


def _gradient_magnitude(images: torch.Tensor) -> torch.Tensor:
    grey = images.double().mean(1)
    dy, dx = grey.diff(dim=1)[:, :, :-1], grey.diff(dim=2)[:, :-1, :]
    return (dy.square() + dx.square()).sqrt().flatten(1).mean(1)


def edge_ratio(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Per image (N,): mean gradient magnitude of ``pred`` over that of ``truth`` (1: as sharp)."""
    check_image_pair(("pred", "truth"), pred, truth)
    return (_gradient_magnitude(pred) / _gradient_magnitude(truth).clamp_min(1e-12)).float()


def radial_spectrum(images: torch.Tensor, bins: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """(frequencies (bins,), mean log10 power (bins,)) of the images' grey spectrum, averaged over
    the batch and over each ring of radial frequency from 0 to 0.5 cycles per pixel."""
    check_images("images", images)
    bins = check_positive_int("bins", bins)
    power = _grey_power(images).mean(0)
    radius = _radius(*images.shape[2:])
    edges = torch.linspace(0.0, 0.5, bins + 1, dtype=torch.float64)
    index = torch.bucketize(radius, edges[1:-1])
    keep = radius <= 0.5
    total = torch.zeros(bins, dtype=torch.float64).index_add_(0, index[keep], power[keep])
    count = torch.zeros(bins, dtype=torch.float64).index_add_(0, index[keep], torch.ones_like(power[keep]))
    centres = (edges[1:] + edges[:-1]) / 2
    return centres.float(), (total / count.clamp_min(1)).clamp_min(1e-12).log10().float()
