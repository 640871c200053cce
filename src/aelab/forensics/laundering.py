"""Laundering: what a forger does to a fake before posting it, and what every attack costs the image.

A fake is recompressed, resized, blurred and given noise, on purpose or by the platforms it passes
through; each step removes some of what a detector reads. :data:`LAUNDERING` names the settings the
lab sweeps -- JPEG from quality 95 down to 30, a down- and up-scale, a blur, noise, and a chain of all
four as a forger would apply them (:func:`aelab.forensics.degrade.degrade`'s order: blur, resize,
noise, JPEG) -- and :func:`launder` applies one.

:func:`perceptual_cost` is the price of any attack: the PSNR and SSIM of the attacked fakes against the
clean fakes (how much the forger changed) and against the **true swaps** the renderer draws (how far
the result is from the face it pretends to be; the clean fake's own distance from it is the baseline).

Images are tensors (N, 3, H, W) of floats in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from aelab import losses, metrics
from aelab.forensics.degrade import degrade
from aelab.validate import check_choice, check_image_pair, check_seed

__all__ = ["LAUNDERING", "launder", "PerceptualCost", "perceptual_cost"]

#: name -> :func:`~aelab.forensics.degrade.degrade`'s arguments.
LAUNDERING: dict[str, dict[str, float | int]] = {
    "JPEG 95": {"jpeg": 95},
    "JPEG 70": {"jpeg": 70},
    "JPEG 50": {"jpeg": 50},
    "JPEG 30": {"jpeg": 30},
    "down/up x0.5": {"resize": 0.5},
    "blur 1": {"blur": 1.0},
    "noise 0.02": {"noise": 0.02},
    "chain": {"blur": 0.5, "resize": 0.75, "noise": 0.01, "jpeg": 70},
}


def launder(images: Tensor, name: str, *, seed: int = 0) -> Tensor:
    """Images (N, C, H, W) in [0, 1] laundered by the setting ``name`` of :data:`LAUNDERING` (noise from ``seed``)."""
    name = check_choice("name", name, tuple(LAUNDERING))
    return degrade(images, **LAUNDERING[name], seed=check_seed("seed", seed))  # type: ignore[arg-type]


@dataclass(frozen=True)
class PerceptualCost:
    """Per image (N,): PSNR (dB) and SSIM of the attacked fakes against the clean fakes and against the
    true swaps, and the clean fakes' own against the true swaps."""

    psnr_clean: Tensor
    ssim_clean: Tensor
    psnr_truth: Tensor
    ssim_truth: Tensor
    baseline_psnr_truth: Tensor
    baseline_ssim_truth: Tensor


def perceptual_cost(attacked: Tensor, clean: Tensor, truth: Tensor) -> PerceptualCost:
    """The cost of an attack on fakes (N, 3, H, W) in [0, 1]: see :class:`PerceptualCost`. SSIM with a
    7-pixel Gaussian window (the images are small); PSNR is +inf where nothing changed."""
    check_image_pair(("attacked", "clean"), attacked, clean)
    check_image_pair(("attacked", "truth"), attacked, truth)

    def pair(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        with torch.no_grad():
            return (
                metrics.psnr(x, y, reduction="none"),
                losses.ssim(x.float(), y.float(), kernel_size=7, reduction="none"),
            )

    return PerceptualCost(*pair(attacked, clean), *pair(attacked, truth), *pair(clean, truth))
