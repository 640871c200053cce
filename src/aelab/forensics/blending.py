"""Blending, the step every face swap ends with, and the trace it leaves.

- :func:`boundary_map` -- Face X-ray (Li et al. 2020): an image blended through a soft mask M carries
  a boundary where M is neither 0 nor 1; its X-ray is ``B = 4·M·(1 - M)``, 0 where one image shows
  alone and 1 where both are mixed half and half.
- :func:`self_blend` -- Self-Blended Images (Shiohara & Yamasaki 2022, mapooon/SelfBlendedImages,
  ``src/utils/sbi.py``, ``self_blending``, and ``src/utils/blend.py``): a fake made from one real image
  alone, a face blended with a slightly changed copy of itself. As SBI does, the change goes with
  probability 1/2 to the copy pasted in (the "source") and otherwise to the image around it (the
  "target"), and the real counterpart of a blend is that target, changed or not -- so that neither
  a colour nor a blur of the whole image says "fake", only their mismatch across the seam. The change
  is a colour step, then either a downscale-upscale or a sharpening; the source then gets a small
  random scale and shift that also moves its mask. The mask is blurred, cut to its core (values
  below 1 zeroed), blurred again, and scaled by a blend ratio drawn from SBI's list (0.25, 0.5, 0.75,
  1, 1, 1): values in {0.25, 0.5, 0.75, 1}, 1 half of the time. A detector trained on real images
  against their self-blends learns the seam alone -- no generator ever seen -- and so meets unseen
  face swaps without having learnt any one generator's marks.

**Departures from SBI.** SBI works on 380 px crops with landmark hulls and elastic deformations of
the mask; the kit's faces come with their masks, and at 32 px the blur sigmas and the shift are
scaled down (documented on :func:`self_blend`). SBI's colour step is albumentations' ``RGBShift``
(±20/255, p 0.3), ``HueSaturationValue`` and ``RandomBrightnessContrast`` (±0.1). The kit's is a
**colour-statistics jitter** in CIE L*a*b* -- each channel's mean shifted and its spread scaled at
random, the move that Reinhard colour transfer (``rct``, :func:`aelab.color.rct`) makes toward a
target's statistics -- then brightness and contrast (±0.1). A face-swap merger recolours the swap
toward dst (DeepFaceLab's ``ct_mode``), which takes away most of the colour step that SBI's jitter
teaches a detector to look for; with SBI's own jitter the kit's detector found merged swaps without
colour transfer (AUC ≈ 1.0) but fell to AUC 0.76-0.89 on DF's swaps merged with ``rct``. Spanning
rct's move (L shifted up to ±24, a and b up to ±18, each spread scaled by up to e^±0.6) makes the seam,
not its colour, the cue.

Images are tensors (N, 3, H, W) of floats in [0, 1]; masks (N, 1, H, W) in [0, 1].
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from aelab.color import lab_to_rgb, rgb_to_lab
from aelab.losses import gaussian_blur
from aelab.validate import check_images, check_mask, check_seed

__all__ = ["BLEND_RATIOS", "SelfBlend", "boundary_map", "self_blend"]

#: SBI's ``blend_list``: the ratio that scales the blurred mask (1 drawn half of the time).
BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)
#: The colour-statistics jitter: the largest shift of the mean of L*, a*, b*, and of the log of their spreads.
LAB_SHIFT = (24.0, 18.0, 18.0)
LAB_LOG_SCALE = 0.6


class SelfBlend(NamedTuple):
    """Self-blended images (N, 3, H, W) in [0, 1], the masks M (N, 1, H, W) they were blended through,
    and their real counterparts (N, 3, H, W).

    ``images = source·M + real·(1 - M)``; :func:`boundary_map` of ``mask`` is their Face X-ray.
    ``real`` is the image around the pasted face (SBI's target): the real face itself, or -- for the
    half of the blends whose change went to the target -- the real face changed as a whole, which
    is still a real image (nothing pasted into it).
    """

    images: Tensor
    mask: Tensor
    real: Tensor


def boundary_map(mask: Tensor) -> Tensor:
    """Face X-ray ``4·M·(1 - M)`` of blending masks M (N, 1, H, W) in [0, 1]: 0 where M is 0 or 1, 1 at M = 1/2."""
    mask = check_mask("mask", mask)
    return 4.0 * mask * (1.0 - mask)


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def _colour_jitter(x: Tensor, generator: torch.Generator) -> Tensor:
    """The colour step, per image: each L*a*b* channel's mean shifted by up to :data:`LAB_SHIFT` and its
    spread about the mean scaled by up to e^±:data:`LAB_LOG_SCALE` (L clipped to [0, 100], a and b to
    ±127, as rct does), then brightness and contrast (±0.1 each, SBI's ``RandomBrightnessContrast``)."""
    n = len(x)
    lab = rgb_to_lab(x.double())
    mean = lab.mean(dim=(2, 3), keepdim=True)
    shift = torch.stack([_uniform(n, -limit, limit, generator) for limit in LAB_SHIFT], dim=1)
    scale = torch.exp(_uniform(n * 3, -LAB_LOG_SCALE, LAB_LOG_SCALE, generator).view(n, 3))
    lab = (lab - mean) * scale.view(n, 3, 1, 1).double() + mean + shift.view(n, 3, 1, 1).double()
    lab = torch.cat([lab[:, :1].clamp(0.0, 100.0), lab[:, 1:].clamp(-127.0, 127.0)], dim=1)
    x = lab_to_rgb(lab).to(x.dtype).clamp(0.0, 1.0)
    brightness = _uniform(n, -0.1, 0.1, generator).view(n, 1, 1, 1)
    contrast = _uniform(n, 0.9, 1.1, generator).view(n, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * contrast + mean + brightness).clamp(0.0, 1.0)


def _downscale_or_sharpen(x: Tensor, generator: torch.Generator) -> Tensor:
    """SBI's ``RandomDownScale`` (down to 1/2-1/4 of the size and back, which blurs) or ``Sharpen``."""
    n, _, h, w = x.shape
    down = torch.rand(n, generator=generator) < 0.5
    scale = _uniform(n, 0.5, 0.8, generator)
    amount = _uniform(n, 0.2, 0.5, generator)
    out = torch.empty_like(x)
    for i in range(n):
        xi = x[i : i + 1]
        if down[i]:
            size = (max(2, round(h * float(scale[i]))), max(2, round(w * float(scale[i]))))
            small = F.interpolate(xi, size=size, mode="bilinear", align_corners=False, antialias=True)
            out[i : i + 1] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
        else:
            out[i : i + 1] = xi + float(amount[i]) * (xi - gaussian_blur(xi, 1.0, border="replicate"))
    return out.clamp(0.0, 1.0)


def _random_affine(x: Tensor, mask: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """SBI's ``randaffine``: scale U(0.95, 1.05) and shift U(±3 %) of the image, the same for the mask."""
    n = len(x)
    scale = _uniform(n, 0.95, 1.05, generator)
    shift = _uniform(n * 2, -0.06, 0.06, generator).view(n, 2)  # ±3 % of the side; grid spans 2
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0 / scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
    moved = F.grid_sample(
        torch.cat([x, mask], dim=1), grid, mode="bilinear", padding_mode="border", align_corners=False
    )
    return moved[:, :3], moved[:, 3:]


def _blend_mask(mask: Tensor, generator: torch.Generator) -> Tensor:
    """SBI's ``get_blend_mask`` at 32 px: blur (sigma U(0.5, 2)), keep the core (values < 1 zeroed),
    blur again (sigma U(0.5, 2)), each per image; then times a ratio from :data:`BLEND_RATIOS`."""
    n = len(mask)
    out = torch.empty_like(mask)
    sigmas = _uniform(n * 2, 0.5, 2.0, generator).view(n, 2)
    for i in range(n):
        m = gaussian_blur(mask[i : i + 1], float(sigmas[i, 0]))
        m = torch.where(m < 1.0 - 1e-6, torch.zeros_like(m), torch.ones_like(m))
        out[i : i + 1] = gaussian_blur(m, float(sigmas[i, 1]))
    ratio = torch.tensor(BLEND_RATIOS)[torch.randint(len(BLEND_RATIOS), (n,), generator=generator)]
    return (out * ratio.view(n, 1, 1, 1).to(out)).clamp(0.0, 1.0)


def self_blend(images: Tensor, masks: Tensor, *, seed: int) -> SelfBlend:
    """Self-blended images (SBI) of real faces (N, 3, H, W) in [0, 1] and their face masks (N, 1, H, W).

    Each face is blended with a copy of itself through its blurred, cut and re-blurred mask times a
    blend ratio; the colour step and the blur or sharpening go, with probability 1/2 each, to the copy
    pasted in or to the image around it (returned as ``real``); the copy gets a small scale and shift
    that moves the mask too. Everything random is drawn per image from ``seed``. Masks whose core
    vanishes (a mask too small to survive the cut) give their real counterpart back with an all-zero M.
    """
    images = check_images("images", images, channels=3)
    masks = check_mask("masks", masks, like=images)
    seed = check_seed("seed", seed)
    generator = torch.Generator().manual_seed(seed)
    on_target = (torch.rand(len(images), generator=generator) < 0.5).view(-1, 1, 1, 1)
    changed = _downscale_or_sharpen(_colour_jitter(images, generator), generator)
    source, target = torch.where(on_target, images, changed), torch.where(on_target, changed, images)
    source, moved = _random_affine(source, masks, generator)
    mask = _blend_mask(moved, generator)
    return SelfBlend(source * mask + target * (1.0 - mask), mask, target)
