"""The losses of DeepFaceLab's SAEHD: SSIM/DSSIM, MSE, masked training, eye/mouth priority, mask, KL.

Images are tensors of shape (N, C, H, W) holding floats in [0, 1]; masks are (N, 1, H, W) in [0, 1].

What each block reproduces:

- :func:`gaussian_window`, :func:`ssim`, :func:`dssim` -- ``nn.dssim`` in DeepFaceLab's
  ``core/leras/ops/__init__.py``: a Gaussian window built as a softmax of ``-d^2 / (2 sigma^2)``
  (i.e. normalised to sum 1), centred at ``(kernel_size - 1) / 2`` (so even sizes such as
  ``int(96 / 11.6) = 8`` are kept as they are), applied per channel with *valid* convolution (no
  padding), ``c1 = (k1 * 1)^2``, ``c2 = (k2 * 1)^2``; the SSIM map is averaged over the spatial axes.
- :func:`gaussian_blur` -- ``nn.gaussian_blur``: kernel size ``max(3, int(4 sigma))``, made odd
  by adding 1 when even (sigma 1.25 -> 5 taps, 1.5 -> 7), zero padding of ``kernel_size // 2`` so
  the output keeps the input's size.
- :func:`blur_mask`, :func:`masked`, :func:`reconstruction_loss`, :func:`eyes_mouth_loss`,
  :func:`mask_loss`, :func:`saehd_loss` -- the loss assembly of ``models/Model_SAEHD/Model.py``.

Reduction: as in ``Model_SAEHD``, every term is first reduced to one value per sample (DSSIM: mean
over channels of the per-channel SSIM; MSE and L1 terms: mean over C, H, W), the terms are added per
sample, and the batch mean is what is reported (DeepFaceLab prints ``np.mean`` of the per-sample
vector). ``reduction="none"`` returns the per-sample vector (N,). DeepFaceLab's ``tf.gradients`` of
that vector is the gradient of its *sum* over the batch, and :class:`aelab.train.Trainer` follows
that gradient (so clipgrad's norm and the optimisers' ε act at DFL's scale).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from aelab.validate import (
    check_choice,
    check_float,
    check_image_pair,
    check_images,
    check_int,
    check_mask,
    check_positive_int,
    check_tensor,
)

__all__ = [
    "gaussian_window",
    "separable_filter",
    "gaussian_blur",
    "ssim",
    "dssim",
    "dfl_kernel_size",
    "mse",
    "blur_mask",
    "masked",
    "reconstruction_loss",
    "eyes_mouth_loss",
    "mask_loss",
    "kl_divergence",
    "saehd_loss",
    "style_loss",
]

_REDUCTIONS = ("mean", "none")
_BORDERS = ("zeros", "replicate")


def _reduce(per_sample: torch.Tensor, reduction: str) -> torch.Tensor:
    check_choice("reduction", reduction, _REDUCTIONS)
    return per_sample.mean() if reduction == "mean" else per_sample


def _per_sample_mean(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1).mean(dim=1)


def gaussian_window(kernel_size: int, sigma: float) -> torch.Tensor:
    """The normalised 1-D Gaussian window (kernel_size,) centred at ``(kernel_size - 1) / 2``.

    DeepFaceLab builds a 2-D window as ``softmax(-(dx^2 + dy^2) / (2 sigma^2))``; that is the outer
    product of this 1-D window with itself, so the kit filters separably (rows, then columns) with
    the same result.
    """
    kernel_size = check_positive_int("kernel_size", kernel_size)
    sigma = check_float("sigma", sigma, minimum=0, min_inclusive=False)
    d = torch.arange(kernel_size, dtype=torch.float64) - (kernel_size - 1) / 2.0
    return torch.softmax(-(d**2) / (2.0 * sigma**2), dim=0).float()


def separable_filter(x: torch.Tensor, window: torch.Tensor, border: str | None) -> torch.Tensor:
    """Filter each channel of (N, C, H, W) ``x`` with the 1-D ``window`` along W, then along H.

    ``border=None`` is a valid convolution (output shrinks by ``len(window) - 1``); "zeros" and
    "replicate" pad by ``len(window) // 2`` on each side (odd windows keep the size). The blur of
    :func:`gaussian_blur`, :func:`ssim` and :func:`aelab.merge.merge_mask`.
    """
    c, k = x.shape[1], window.numel()
    if border is not None:
        pad = k // 2
        x = F.pad(x, (pad, pad, pad, pad), mode="constant" if border == "zeros" else border)
    # One depthwise (groups=C) convolution per axis: far faster on CPU than N*C one-channel planes.
    window = window.to(device=x.device, dtype=x.dtype)
    x = F.conv2d(x, window.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)
    return F.conv2d(x, window.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)


def gaussian_blur(x: torch.Tensor, sigma: float, *, border: str = "zeros") -> torch.Tensor:
    """Blur (N, C, H, W) ``x`` with a Gaussian of ``sigma`` pixels; the output keeps the shape.

    Reproduces ``nn.gaussian_blur`` (``core/leras/ops/__init__.py``, ``make_kernel``): kernel size
    ``max(3, int(2 * 2 * sigma))``, plus 1 when even (so 4 sigma + 1 for integer sigmas, 5 taps for
    sigma 1.25), the window centred at ``kernel_size // 2`` and normalised, and zero padding.
    ``border="replicate"`` repeats the edge pixels instead of padding with zeros.
    """
    check_images("x", x)
    check_choice("border", border, _BORDERS)
    check_float("sigma", sigma, minimum=0.0, min_inclusive=False)
    kernel_size = max(3, int(2 * 2 * sigma))
    if kernel_size % 2 == 0:
        kernel_size += 1
    return separable_filter(x, gaussian_window(kernel_size, sigma), border)


def ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    kernel_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    reduction: str = "mean",
) -> torch.Tensor:
    """Structural similarity of two (N, C, H, W) image batches in [0, 1] (data range 1).

    Gaussian window (:func:`gaussian_window`), valid convolution, the SSIM map averaged over space
    and channels: one value per sample with ``reduction="none"`` (shape (N,)), their mean with
    ``"mean"``. Reproduces the SSIM inside ``nn.dssim`` (``core/leras/ops``); with kernel 11 and
    sigma 1.5 it equals ``skimage.metrics.structural_similarity(..., gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, data_range=1.0)``.
    """
    check_image_pair(("x", "y"), x, y)
    kernel_size = check_positive_int("kernel_size", kernel_size)
    if kernel_size > min(x.shape[-2:]):
        raise ValueError(
            f"kernel_size {kernel_size} is larger than the images ({x.shape[-2]}x{x.shape[-1]}); "
            "use a kernel no larger than the image side (e.g. dfl_kernel_size(resolution))"
        )
    window = gaussian_window(kernel_size, sigma)
    c1, c2 = k1**2, k2**2
    stats = separable_filter(torch.cat([x, y, x * y, x * x + y * y], dim=1), window, None)
    mu_x, mu_y, mu_xy, mu_sq = stats.chunk(4, dim=1)
    num0 = 2.0 * mu_x * mu_y
    den0 = mu_x**2 + mu_y**2
    luminance = (num0 + c1) / (den0 + c1)
    cs = (2.0 * mu_xy - num0 + c2) / (mu_sq - den0 + c2)
    return _reduce(_per_sample_mean(luminance * cs), reduction)


def dssim(x: torch.Tensor, y: torch.Tensor, **kwargs: object) -> torch.Tensor:
    """Structural dissimilarity ``(1 - ssim(x, y)) / 2`` of (N, C, H, W) images in [0, 1].

    Takes :func:`ssim`'s keyword arguments; reproduces ``nn.dssim`` (``core/leras/ops``).
    """
    return (1.0 - ssim(x, y, **kwargs)) / 2.0  # type: ignore[arg-type]


def dfl_kernel_size(resolution: int) -> int:
    """SAEHD's DSSIM window for a resolution: ``int(resolution / 11.6)`` (``Model_SAEHD``)."""
    resolution = check_int("resolution", resolution, minimum=12, expected="an int >= 12 (so the window is >= 1)")
    return int(resolution / 11.6)


def mse(x: torch.Tensor, y: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """Mean squared error of (N, C, H, W) images: per sample over C, H, W, then over the batch."""
    check_image_pair(("x", "y"), x, y)
    return _reduce(_per_sample_mean((x - y) ** 2), reduction)


def blur_mask(mask: torch.Tensor, resolution: int) -> torch.Tensor:
    """SAEHD's masked-training weight from a (N, 1, H, W) face mask in [0, 1].

    ``clip(gaussian_blur(mask, sigma=max(1, resolution // 32)), 0, 0.5) * 2`` (``Model_SAEHD``'s
    ``target_srcm_blur``): 1 inside the face, 0 far outside, a soft ramp across the edge.
    """
    check_mask("mask", mask)
    resolution = check_positive_int("resolution", resolution)
    return gaussian_blur(mask.clamp(0.0, 1.0), max(1, resolution // 32)).clamp(0.0, 0.5) * 2.0


def masked(x: torch.Tensor, blurred_mask: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) images times a (N, 1, H, W) weight from :func:`blur_mask` (``*_masked_opt``)."""
    check_images("x", x)
    check_mask("blurred_mask", blurred_mask, like=x)
    return x * blurred_mask


def _reconstruction_terms(
    target: torch.Tensor, pred: torch.Tensor, resolution: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample (DSSIM part, MSE part) of SAEHD's reconstruction loss."""
    check_image_pair(("target", "pred"), target, pred)
    if resolution < 256:
        structure = 10.0 * dssim(target, pred, kernel_size=dfl_kernel_size(resolution), reduction="none")
    else:
        structure = 5.0 * dssim(target, pred, kernel_size=dfl_kernel_size(resolution), reduction="none") + 5.0 * dssim(
            target, pred, kernel_size=int(resolution / 23.2), reduction="none"
        )
    return structure, 10.0 * mse(target, pred, reduction="none")


def reconstruction_loss(
    target: torch.Tensor, pred: torch.Tensor, resolution: int, *, reduction: str = "mean"
) -> torch.Tensor:
    """SAEHD's reconstruction loss of (N, C, H, W) images in [0, 1] (``Model_SAEHD``).

    ``resolution < 256``: ``10 * DSSIM(kernel int(res / 11.6)) + 10 * MSE``;
    ``resolution >= 256``: ``5 * DSSIM(int(res / 11.6)) + 5 * DSSIM(int(res / 23.2)) + 10 * MSE``.
    DSSIM uses sigma 1.5, k1 0.01, k2 0.03. Per sample, then the batch mean (see the module doc).
    """
    structure, pixels = _reconstruction_terms(target, pred, resolution)
    return _reduce(structure + pixels, reduction)


def eyes_mouth_loss(
    target: torch.Tensor, pred: torch.Tensor, em_mask: torch.Tensor, *, reduction: str = "mean"
) -> torch.Tensor:
    """Eye-and-mouth priority: ``300 * mean|target * em - pred * em|`` (``Model_SAEHD``, eyes_prio).

    ``target`` and ``pred`` are (N, C, H, W) images in [0, 1]; ``em_mask`` is the (N, 1, H, W)
    eyes-and-mouth mask, so only that region contributes.
    """
    check_image_pair(("target", "pred"), target, pred)
    check_mask("em_mask", em_mask, like=target)
    return _reduce(_per_sample_mean(300.0 * (target * em_mask - pred * em_mask).abs()), reduction)


def mask_loss(target_mask: torch.Tensor, pred_mask: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """The learned-mask loss ``10 * MSE(target_mask, pred_mask)`` of (N, 1, H, W) masks (``Model_SAEHD``)."""
    check_mask("target_mask", target_mask)
    check_mask("pred_mask", pred_mask, like=target_mask)
    return 10.0 * mse(target_mask, pred_mask, reduction=reduction)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) of a VAE's latent (N, ...) codes.

    ``-0.5 * sum(1 + logvar - mu^2 - exp(logvar))`` summed over all latent dimensions of a sample,
    then averaged over the batch (``reduction="mean"``) or returned per sample (``"none"``, (N,)).
    Not part of SAEHD: the kit's :class:`aelab.models.VAE` uses it.
    """
    check_tensor("mu", mu)
    check_tensor("logvar", logvar)
    if mu.shape != logvar.shape or mu.ndim < 2:
        raise ValueError(
            f"mu and logvar must have the same shape (N, latent...), got {tuple(mu.shape)} and {tuple(logvar.shape)}"
        )
    per_dim = 1.0 + logvar - mu**2 - logvar.exp()
    return _reduce(-0.5 * per_dim.flatten(1).sum(dim=1), reduction)


def saehd_loss(
    target: torch.Tensor,
    pred: torch.Tensor,
    target_mask: torch.Tensor,
    pred_mask: torch.Tensor,
    resolution: int,
    *,
    em_mask: torch.Tensor | None = None,
    masked_training: bool = True,
    eyes_prio: bool = False,
    learn_mask: bool = True,
    reduction: str = "mean",
) -> dict[str, torch.Tensor]:
    """One side's (src or dst) SAEHD loss, assembled as ``Model_SAEHD`` does, term by term.

    ``target``/``pred`` are (N, 3, H, W) images in [0, 1], ``target_mask``/``pred_mask`` and
    ``em_mask`` (N, 1, H, W) masks in [0, 1]. With ``masked_training`` the reconstruction terms
    see ``target`` and ``pred`` multiplied by :func:`blur_mask` of the target mask; the eye/mouth
    term (``eyes_prio``, needs ``em_mask``) sees the unmasked images; the mask term
    (``learn_mask``; current DeepFaceLab always learns it) compares the target mask, clipped to
    [0, 1], with the predicted one.

    Returns ``{"dssim", "mse", "eyes_mouth", "mask", "total"}`` (zeros for switched-off terms),
    each reduced by ``reduction`` (see the module doc), so a trainer can report every term.
    """
    check_image_pair(("target", "pred"), target, pred)
    check_mask("target_mask", target_mask, like=target)
    if eyes_prio and em_mask is None:
        raise ValueError("eyes_prio=True needs em_mask, the (N, 1, H, W) eyes-and-mouth mask")
    target_mask = target_mask.clamp(0.0, 1.0)
    if masked_training:
        weight = blur_mask(target_mask, resolution)
        structure, pixels = _reconstruction_terms(masked(target, weight), masked(pred, weight), resolution)
    else:
        structure, pixels = _reconstruction_terms(target, pred, resolution)
    zeros = torch.zeros_like(structure)
    terms = {
        "dssim": structure,
        "mse": pixels,
        "eyes_mouth": eyes_mouth_loss(target, pred, em_mask, reduction="none") if eyes_prio else zeros,
        "mask": mask_loss(target_mask, pred_mask, reduction="none") if learn_mask else zeros,
    }
    terms["total"] = sum(terms.values(), zeros)
    return {name: _reduce(value, reduction) for name, value in terms.items()}


def style_loss(
    target: torch.Tensor,
    style: torch.Tensor,
    *,
    blur_sigma: float = 0.0,
    weight: float = 1.0,
    reduction: str = "none",
) -> torch.Tensor:
    """DeepFaceLab's ``nn.style_loss`` (``core/leras/ops``) of two (N, C, H, W) image batches.

    Both are blurred first (:func:`gaussian_blur` with ``blur_sigma``, if > 0); then per sample and
    channel the spatial mean and standard deviation sqrt(var + 1e-5) (population variance) of each,
    and ``weight / C · Σ_c [(mean_t − mean_s)² + (std_t − std_s)²]``. SAEHD's face_style_power uses
    it with ``blur_sigma`` resolution // 8 and ``weight`` 10000 · power / 100. Per sample (N,) by
    default, or their mean with ``reduction="mean"``.
    """
    check_image_pair(("target", "style"), target, style)
    if blur_sigma > 0:
        target, style = gaussian_blur(target, blur_sigma), gaussian_blur(style, blur_sigma)
    t_var, t_mean = torch.var_mean(target, dim=(2, 3), correction=0)
    s_var, s_mean = torch.var_mean(style, dim=(2, 3), correction=0)
    t_std, s_std = (t_var + 1e-5).sqrt(), (s_var + 1e-5).sqrt()
    per_sample = ((t_mean - s_mean).square() + (t_std - s_std).square()).sum(dim=1) * (weight / target.shape[1])
    return _reduce(per_sample, reduction)
