"""Frequency features of images: the log power spectrum, its azimuthal average, DCT features, and a
statistic of the peaks that 2x upsampling leaves at the Nyquist lines.

- :func:`power_spectrum` (the log of :func:`fft_power`) and :func:`azimuthal_average` follow Durall et al. 2020
  ("Watch your up-convolution", repository cc-hpc-itwm/DeepFakeDetection, ``radialProfile.azimuthalAverage``):
  the 2-D FFT of the grey image, shifted so the zero frequency sits in the middle, its log power, and
  the mean over rings of integer radius around that centre. Their centre is the image's geometric
  centre ((W - 1) / 2, half a pixel off the zero frequency for even sizes); the kit centres the rings
  on the zero frequency itself, (H // 2, W // 2), so that ring r holds the frequencies of radius
  [r, r + 1).
- :func:`dct_features` follows Frank et al. 2020 ("Leveraging frequency analysis for deep fake image
  recognition", RUB-SysSec/GANDCTAnalysis): the orthonormal 2-D DCT-II of the grey image, log of the
  absolute coefficients (their per-coefficient standardisation is the detector's job).
- :func:`nyquist_peak`: transposed convolution and pixel shuffle repeat a 2x2 pattern, which puts
  power at the highest frequencies (Chandrasegaran et al. 2021); the statistic is the log power at
  the three Nyquist frequencies minus that of the bins around them.

Images are tensors (N, C, H, W) of floats in [0, 1] with C = 1 or 3; colour images are reduced to
luminance (ITU-R BT.601: 0.299 R + 0.587 G + 0.114 B). Spectra are computed in float64.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from aelab.validate import check_float, check_images, check_tensor

__all__ = [
    "luminance",
    "fft_power",
    "power_spectrum",
    "radial_frequency",
    "azimuthal_average",
    "dct_matrix",
    "dct_features",
    "nyquist_peak",
]

#: Added to the power (and to |DCT coefficients|) before the log, so a zero never gives -inf.
EPS = 1e-8
_BT601 = (0.299, 0.587, 0.114)


def luminance(images: Tensor) -> Tensor:
    """Grey images (N, H, W) in float64 from (N, C, H, W) images in [0, 1] (C = 1, or 3 by BT.601)."""
    images = check_images("images", images, channels=(1, 3))
    x = images.double()
    if x.shape[1] == 1:
        return x[:, 0]
    weights = torch.tensor(_BT601, dtype=torch.float64, device=x.device)
    return torch.einsum("nchw,c->nhw", x, weights)


def fft_power(images: Tensor) -> Tensor:
    """Power spectra ``|FFT(grey)|²`` (N, H, W) of (N, C, H, W) images in [0, 1], float64.

    fft-shifted: the zero frequency sits at (H // 2, W // 2), the highest (Nyquist) frequencies of an
    even size on row 0 and column 0. Unnormalised FFT.
    """
    return torch.fft.fftshift(torch.fft.fft2(luminance(images)), dim=(-2, -1)).abs() ** 2


def power_spectrum(images: Tensor, *, eps: float = EPS) -> Tensor:
    """Log power spectra (N, H, W) of (N, C, H, W) images in [0, 1]: ``log(|FFT(grey)|² + eps)``,
    laid out as :func:`fft_power`'s."""
    eps = check_float("eps", eps, minimum=0.0, min_inclusive=False)
    return torch.log(fft_power(images) + eps)


def radial_frequency(h: int, w: int, device: torch.device | str = "cpu") -> Tensor:
    """(H, W) float64: each bin's distance from the zero frequency of :func:`fft_power`'s layout, in
    cycles per pixel (0.5 is the Nyquist frequency of each axis)."""
    fy = (torch.arange(h, device=device, dtype=torch.float64) - h // 2) / h
    fx = (torch.arange(w, device=device, dtype=torch.float64) - w // 2) / w
    return torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)


def _radii(h: int, w: int, device: torch.device) -> Tensor:
    y = torch.arange(h, device=device, dtype=torch.float64) - h // 2
    x = torch.arange(w, device=device, dtype=torch.float64) - w // 2
    return torch.sqrt(y[:, None] ** 2 + x[None, :] ** 2).floor().long()


def azimuthal_average(spectrum: Tensor) -> Tensor:
    """The mean of (N, H, W) fft-shifted spectra over rings of integer radius: (N, R).

    Ring r holds the bins whose distance from the zero frequency (H // 2, W // 2) lies in [r, r + 1);
    R = 1 + the largest such radius (a corner: for 32x32, R = 23). Durall et al.'s 1-D power spectrum.
    """
    spectrum = check_tensor("spectrum", spectrum, ndim=3, floating=True)
    n, h, w = spectrum.shape
    rings = _radii(h, w, spectrum.device).flatten()
    count = torch.bincount(rings).to(spectrum.dtype)
    sums = torch.zeros(n, count.numel(), dtype=spectrum.dtype, device=spectrum.device)
    sums.index_add_(1, rings, spectrum.reshape(n, -1))
    return sums / count


def dct_matrix(size: int, *, dtype: torch.dtype = torch.float64) -> Tensor:
    """The orthonormal DCT-II matrix D (size, size): ``D @ x`` is ``scipy.fft.dct(x, norm="ortho")``."""
    k = torch.arange(size, dtype=dtype)[:, None]
    i = torch.arange(size, dtype=dtype)[None, :]
    d = torch.cos(math.pi * (2 * i + 1) * k / (2 * size)) * math.sqrt(2.0 / size)
    d[0] /= math.sqrt(2.0)
    return d


def dct_features(images: Tensor, *, eps: float = EPS) -> Tensor:
    """``log(|DCT-II(grey)| + eps)`` (N, H, W) of (N, C, H, W) images in [0, 1], orthonormal, 2-D.

    Coefficient (0, 0) is the mean (times H·W / sqrt(H·W)); (H - 1, W - 1) the highest frequency.
    """
    eps = check_float("eps", eps, minimum=0.0, min_inclusive=False)
    grey = luminance(images)
    h, w = grey.shape[1:]
    coefficients = dct_matrix(h).to(grey.device) @ grey @ dct_matrix(w).to(grey.device).T
    return torch.log(coefficients.abs() + eps)


def nyquist_peak(images: Tensor) -> Tensor:
    """(N,) how far the power at the three Nyquist frequencies stands above the bins around them.

    A 2x2 pattern repeated over the image (what the bias and the kernel layout of a 2x transposed
    convolution or pixel shuffle leave) puts power at exactly (H/2, 0), (0, W/2) and (H/2, W/2) cycles:
    in the shifted spectrum, (0, W // 2), (H // 2, 0) and (0, 0). The statistic is the mean log power
    at those three bins minus the mean over their eight neighbours each (wrapping around the spectrum's
    edges). A repeated pattern makes it clearly positive; natural (or blurred) images give about 0.
    """
    images = check_images("images", images, channels=(1, 3))
    h, w = images.shape[2:]
    if h % 2 or w % 2 or h < 4 or w < 4:
        raise ValueError(f"nyquist_peak needs an even image size of at least 4, got {h}x{w}")
    spectrum = power_spectrum(images)
    peaks, around = [], []
    for row, col in ((0, w // 2), (h // 2, 0), (0, 0)):
        peaks.append(spectrum[:, row, col])
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                if dr or dc:
                    around.append(spectrum[:, (row + dr) % h, (col + dc) % w])
    return torch.stack(peaks, dim=1).mean(dim=1) - torch.stack(around, dim=1).mean(dim=1)
