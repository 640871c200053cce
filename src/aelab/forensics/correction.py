"""Spectral correction: give generated images the reals' power spectrum, and a spectral detector nothing.

Durall et al. 2020 ("Watch your up-convolution") and Dzanic et al. 2020 ("Fourier spectrum
discrepancies in deep network generated images") show that a generator's images differ from real ones
in their azimuthally averaged power spectrum, and that matching that spectrum -- a spectral loss in
training, or a filter afterwards -- removes what a spectral detector reads. The kit applies the filter
afterwards, as a forger holding finished fakes would: each image's FFT, per channel, is multiplied on
each ring of integer radius by sqrt(P_real(r) / P_image(r)), where P is the ring's mean power and
P_real the reals' mean; the phase is kept, the mean (ring 0) too. Raising the gain to ``strength`` in
[0, 1] moves part of the way. The image is clipped back to [0, 1], which puts a little of the old
spectrum back.

Images are tensors (N, C, H, W) of floats in [0, 1]; spectra use :mod:`aelab.forensics.spectra`'s
layout (unnormalised FFT, zero frequency at (H // 2, W // 2), ring r holding radii in [r, r + 1)).
"""

from __future__ import annotations

import torch
from torch import Tensor

from aelab.forensics.spectra import _radii, azimuthal_average
from aelab.validate import check_float, check_images, check_tensor

__all__ = ["ring_index", "channel_spectra", "reference_spectrum", "spectral_correction"]


def ring_index(h: int, w: int, device: torch.device | str = "cpu") -> Tensor:
    """(H, W) long: the ring of each frequency of a shifted H x W spectrum (floor of its distance from
    (H // 2, W // 2)), as :func:`~aelab.forensics.spectra.azimuthal_average` groups them."""
    return _radii(h, w, torch.device(device))


def _shifted_fft(images: Tensor) -> Tensor:
    return torch.fft.fftshift(torch.fft.fft2(images.double()), dim=(-2, -1))


def channel_spectra(images: Tensor) -> Tensor:
    """(N, C, R) the ring means of each channel's power |FFT|² of images (N, C, H, W) in [0, 1]."""
    images = check_images("images", images)
    n, c = images.shape[:2]
    power = _shifted_fft(images).abs() ** 2
    return azimuthal_average(power.flatten(0, 1)).view(n, c, -1)


def reference_spectrum(reals: Tensor) -> Tensor:
    """(C, R) the mean over real images (N, C, H, W) of :func:`channel_spectra`: what fakes are moved to."""
    return channel_spectra(reals).mean(dim=0)


def spectral_correction(images: Tensor, reference: Tensor, *, strength: float = 1.0) -> Tensor:
    """Images (N, C, H, W) in [0, 1] whose ring powers are moved to ``reference`` (C, R), by the gain
    (P_ref / P_image)^(strength / 2) on every ring but the zero frequency; clipped to [0, 1], float32."""
    images = check_images("images", images)
    reference = check_tensor("reference", reference, ndim=2, floating=True)
    strength = check_float("strength", strength, minimum=0.0, maximum=1.0)
    n, c, h, w = images.shape
    rings = ring_index(h, w, images.device)
    if reference.shape != (c, int(rings.max()) + 1):
        raise ValueError(
            f"reference must be (C, R) = ({c}, {int(rings.max()) + 1}) for {h}x{w} images with {c} "
            f"channels, got {tuple(reference.shape)}; make it with reference_spectrum(reals)"
        )
    spectrum = _shifted_fft(images)
    profile = azimuthal_average((spectrum.abs() ** 2).flatten(0, 1)).view(n, c, -1)
    gain = (reference.double().to(images.device) / profile.clamp_min(1e-12)) ** (strength / 2.0)
    gain[..., 0] = 1.0
    corrected = spectrum * gain[..., rings]
    return torch.fft.ifft2(torch.fft.ifftshift(corrected, dim=(-2, -1))).real.clamp(0.0, 1.0).to(images.dtype)
