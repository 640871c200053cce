"""Lab 05 -- colour transfer and GAN fine-tuning: the checks of the student's rct, GAN loss and measure.

The exercises (``solutions/05-color-and-gan.ipynb``):

- ``check_rct(rct)``: ``rct(source, target, source_mask, target_mask)`` is Reinhard colour transfer
  in L*a*b* (``core/imagelib/color_transfer.py``, ``reinhard_color_transfer``) -- :func:`aelab.color.rct`:
  each L*a*b* channel of ``source`` shifted and scaled so its mask-weighted mean and (population)
  standard deviation become ``target``'s, clipped to L in [0, 100] and a, b in [-127, 127], back to
  sRGB in [0, 1]. The sample standard deviation (n - 1) passes, and the message says which DFL uses.
- ``check_patch_d_loss(patch_d_loss)``: ``patch_d_loss(real_centre, real_pixels, fake_centre,
  fake_pixels)`` is the patch discriminator's per-sample loss of ``Model_SAEHD`` (``D_src_dst_loss``):
  ``(BCE(real_centre→1) + BCE(fake_centre→0)) / 2 + (BCE(real_pixels→1) + BCE(fake_pixels→0)) / 2``,
  each BCE on logits averaged over a sample's elements; shape (N,).
- ``check_hf_energy(hf_energy)``: ``hf_energy(images, cutoff)`` is the share of the grey images'
  spectral power (luminance, :func:`aelab.forensics.spectra.luminance`; mean removed) above
  ``cutoff`` cycles per pixel -- :func:`aelab.appearance.high_frequency_energy`.

Images are tensors (N, 3, H, W) of float32 in [0, 1]; masks (N, 1, H, W).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from aelab import appearance, color, losses
from aelab.data import faces
from aelab.forensics import spectra

from . import check, floats

__all__ = ["check_rct", "check_patch_d_loss", "check_hf_energy"]


def _as_tensor(evidence: Any, shape: tuple[int, ...], what: str) -> tuple[torch.Tensor | None, str]:
    """The evidence as a float64 tensor of ``shape``, or None and why not."""
    try:
        got = torch.tensor(floats(evidence), dtype=torch.float64)
    except (TypeError, ValueError):
        return None, f"{what}: expected a tensor of numbers, got something else."
    if tuple(got.shape) != shape:
        return None, f"{what}: your output has shape {tuple(got.shape)}; expected {shape}."
    if not torch.isfinite(got).all():
        return None, f"{what}: your output holds NaN or infinity."
    return got, ""


def _rct_inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """source (A) and target (B) faces (2, 3, 32, 32) and their face masks, rendered with seed 6."""
    source = faces.render(2, resolution=32, domain="A", seed=6)
    target = faces.render(2, resolution=32, domain="B", seed=6)
    return source.images, target.images, source.face_mask, target.face_mask


def _rct_variant(*, inverted: bool = False, ddof: int = 0, threshold: float | None = None) -> torch.Tensor:
    """rct of :func:`_rct_inputs` in float64, a mistake's way: the scale ``std_s / std_t``
    (``inverted``) instead of ``std_t / std_s``; deviations over the mask's weight minus ``ddof`` (1:
    the sample standard deviation) instead of over its weight (the population's, DFL's); or the soft
    masks made 0/1 at ``threshold``."""
    source, target, source_mask, target_mask = (x.double() for x in _rct_inputs())

    def moments(images: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if threshold is not None:
            mask = (mask > threshold).double()
        lab, weight = color.rgb_to_lab(images), mask.sum(dim=(2, 3), keepdim=True)
        mean = (lab * mask).sum(dim=(2, 3), keepdim=True) / weight
        return lab, mean, ((lab - mean).square() * mask).sum(dim=(2, 3), keepdim=True).div(weight - ddof).sqrt()

    (lab, mean_s, std_s), (_, mean_t, std_t) = moments(source, source_mask), moments(target, target_mask)
    scale = std_s / std_t if inverted else std_t / std_s
    low = torch.tensor([0.0, -127.0, -127.0], dtype=lab.dtype).view(1, 3, 1, 1)
    high = torch.tensor([100.0, 127.0, 127.0], dtype=lab.dtype).view(1, 3, 1, 1)
    return color.lab_to_rgb(torch.maximum(torch.minimum((lab - mean_s) * scale + mean_t, high), low))


def _judge_rct(evidence: Any) -> tuple[bool, str]:
    source, target, source_mask, target_mask = _rct_inputs()
    reference = color.rct(source, target, source_mask=source_mask, target_mask=target_mask).double()
    what = "on two face pairs (A -> B)"
    got, message = _as_tensor(evidence, tuple(reference.shape), what)
    if got is None:
        return False, message
    error = float((got - reference).abs().max())
    if error <= 2e-3:
        sample = float((got - _rct_variant(ddof=1)).abs().max())
        if sample < error / 10:
            return True, (
                "your rct matches the kit's Reinhard transfer in L*a*b*, with the sample standard "
                "deviation (n - 1); DFL's is the population's (n): here the two agree to 0.0001."
            )
        return True, "your rct matches the kit's Reinhard transfer in L*a*b*."
    unmasked = color.rct(source, target).double()
    if (got - unmasked).abs().max() <= 2e-3:
        return False, f"{what} your statistics use every pixel: weight the means and deviations by the masks."
    if (got - source.double()).abs().max() <= 1e-6:
        return False, f"{what} your output is the source unchanged."
    if (got - _rct_variant(inverted=True)).abs().max() <= 2e-3:
        return False, (
            f"{what} your scale is inverted: multiply (x - mean_s) by std_t / std_s, "
            "the target's deviation over the source's."
        )
    if any((got - _rct_variant(threshold=t)).abs().max() <= 2e-3 for t in (0.0, 0.5)):
        return False, (
            f"{what} your statistics count masked pixels as 0 or 1: weight each pixel by its mask "
            "value (the masks are soft at the edges)."
        )
    return (
        False,
        f"{what} your recoloured images are up to {error:.3f} from the reference (work in L*a*b*: color.rgb_to_lab).",
    )


@check(_judge_rct)
def check_rct(rct: Callable[..., torch.Tensor]) -> list[Any]:
    """Your rct(source, target, source_mask, target_mask) against the kit's, on two face pairs."""
    source, target, source_mask, target_mask = _rct_inputs()
    return (
        torch.as_tensor(rct(source.clone(), target.clone(), source_mask.clone(), target_mask.clone()))
        .detach()
        .double()
        .tolist()
    )


def _logits() -> tuple[torch.Tensor, ...]:
    """real and fake centre logits (3, 1, 2, 2) and per-pixel logits (3, 1, 8, 8), seeded."""
    generator = torch.Generator().manual_seed(9)
    rc, fc = (2 * torch.randn(3, 1, 2, 2, generator=generator) for _ in range(2))
    rp, fp = (2 * torch.randn(3, 1, 8, 8, generator=generator) for _ in range(2))
    return rc, rp, fc, fp


def _bce(logits: torch.Tensor, label: float) -> torch.Tensor:
    return (
        F.binary_cross_entropy_with_logits(logits.double(), torch.full_like(logits.double(), label), reduction="none")
        .flatten(1)
        .mean(1)
    )


def _judge_patch_d_loss(evidence: Any) -> tuple[bool, str]:
    rc, rp, fc, fp = _logits()
    centre = (_bce(rc, 1.0) + _bce(fc, 0.0)) / 2
    pixels = (_bce(rp, 1.0) + _bce(fp, 0.0)) / 2
    what = "on three fixed samples of discriminator logits"
    got, message = _as_tensor(evidence, (3,), what)
    if got is None:
        return False, message + (" (one number per sample)" if "shape" in message else "")
    if (got - (centre + pixels)).abs().max() <= 1e-4:
        return True, "your discriminator loss matches DFL's two heads, sample by sample."
    if (got - centre).abs().max() <= 1e-4:
        return False, f"{what} your loss has the centre head only: DFL adds the per-pixel head's terms."
    if (got - pixels).abs().max() <= 1e-4:
        return False, f"{what} your loss has the per-pixel head only: DFL adds the centre head's terms."
    if (got - 2 * (centre + pixels)).abs().max() <= 1e-4:
        return False, f"{what} your loss is twice DFL's: each head's real and fake terms are averaged (/ 2)."
    swapped = (_bce(rc, 0.0) + _bce(fc, 1.0)) / 2 + (_bce(rp, 0.0) + _bce(fp, 1.0)) / 2
    if (got - swapped).abs().max() <= 1e-4:
        return False, f"{what} your labels are reversed: the discriminator calls real 1 and fake 0."
    error = float((got - (centre + pixels)).abs().max())
    return False, f"{what} your loss is up to {error:.4f} from the reference (BCE on logits, mean per sample)."


@check(_judge_patch_d_loss)
def check_patch_d_loss(patch_d_loss: Callable[..., torch.Tensor]) -> list[Any]:
    """Your patch_d_loss(real_centre, real_pixels, fake_centre, fake_pixels) against DFL's, per sample."""
    return torch.as_tensor(patch_d_loss(*(x.clone() for x in _logits()))).detach().double().tolist()


def _hf_inputs() -> torch.Tensor:
    """Four rendered faces (4, 3, 32, 32), two of them blurred (their high frequencies removed)."""
    images = faces.render(4, resolution=32, domain="mixed", seed=8).images
    images[2:] = losses.gaussian_blur(images[2:], 1.5, border="replicate")
    return images


_CUTOFFS = (0.25, 0.125)


def _hf_variants(cutoff: float) -> dict[str, torch.Tensor]:
    """The usual mistakes' shares (4,) on :func:`_hf_inputs` at ``cutoff``, each named by its fault."""
    grey = spectra.luminance(_hf_inputs())
    centred = grey - grey.mean(dim=(1, 2), keepdim=True)
    cycles = torch.fft.fftfreq(grey.shape[-1], dtype=torch.float64)  # square images
    radius = (cycles[:, None] ** 2 + cycles[None, :] ** 2).sqrt()

    def share(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        power = torch.fft.fft2(x).abs() ** 2
        return (power * (r > cutoff)).flatten(1).sum(1) / power.flatten(1).sum(1)

    bins = radius * grey.shape[-1]
    return {
        "your shares are far too small: remove each grey image's mean before the FFT (its zero "
        "frequency holds most of the power).": share(grey, radius),
        "your radius is in frequency bins: compare cycles per pixel (torch.fft.fftfreq(n), in [-0.5, "
        "0.5)) with the cutoff.": share(centred, bins),
        "your radius is in frequency bins and the mean is not removed: use torch.fft.fftfreq(n) "
        "(cycles per pixel) and subtract each grey image's mean.": share(grey, bins),
    }


def _judge_hf_energy(evidence: Any) -> tuple[bool, str]:
    if not isinstance(evidence, dict) or set(evidence) != {str(c) for c in _CUTOFFS}:
        return False, "the check expected your measure at two cutoffs from its probe."
    images = _hf_inputs()
    for cutoff in _CUTOFFS:
        reference = appearance.high_frequency_energy(images, cutoff).double()
        what = f"on four faces (two blurred) at cutoff {cutoff}"
        got, message = _as_tensor(evidence[str(cutoff)], (4,), what)
        if got is None:
            return False, message
        if (got - reference).abs().max() <= 1e-4:
            continue
        for fault, variant in _hf_variants(cutoff).items():
            if (got - variant).abs().max() <= 1e-4:
                return False, f"{what} {fault}"
        if (got > 1 + 1e-6).any():
            return False, f"{what} your measure exceeds 1: divide by the total power (the mean removed)."
        return False, f"{what} your shares are up to {float((got - reference).abs().max()):.4f} from the reference."
    return True, "your high-frequency energy matches the reference at both cutoffs."


@check(_judge_hf_energy)
def check_hf_energy(hf_energy: Callable[..., torch.Tensor]) -> dict[str, Any]:
    """Your hf_energy(images, cutoff) against the reference, on four faces at two cutoffs."""
    return {str(c): torch.as_tensor(hf_energy(_hf_inputs(), c)).detach().double().tolist() for c in _CUTOFFS}
