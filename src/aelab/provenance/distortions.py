"""The laundering chain a signed image meets before it reaches a detector, one named transformation at a
time, each at a strength: JPEG, crop, resize, blur, noise (images (N, 3, H, W) in [0, 1]).

JPEG, blur, resize and noise are :func:`aelab.forensics.degrade.degrade`'s (Pillow's JPEG, a Gaussian
blur with replicated edges, down-and-back resizing, Gaussian noise from a seed). :func:`crop` keeps a
centred window of a fraction of each side, at its own smaller size: a re-framed image (the lab's
extractor resizes what it reads to its own input size). Colour transfer and DeepFaceLab's
merge, which need a dst frame, are :mod:`aelab.color`'s and :mod:`aelab.merge`'s.

:data:`STRENGTHS` holds the strengths the lab sweeps, weakest first.
"""

from __future__ import annotations

from torch import Tensor

from aelab.forensics.degrade import degrade
from aelab.validate import check_choice, check_float, check_images, check_seed

__all__ = ["crop", "launder", "DISTORTIONS", "STRENGTHS"]

#: The named transformations :func:`launder` applies, and what their strength means.
DISTORTIONS = {
    "jpeg": "JPEG quality (Pillow, 1-100; lower is stronger)",
    "crop": "fraction of each side kept, centred",
    "resize": "scale down to and back up (bilinear)",
    "blur": "sigma of a Gaussian blur, pixels",
    "noise": "sigma of additive Gaussian noise",
}

#: The strengths the lab sweeps, weakest first.
STRENGTHS = {
    "jpeg": (90, 70, 50, 30),
    "crop": (0.9, 0.75, 0.6, 0.5),
    "resize": (0.9, 0.75, 0.6, 0.5),
    "blur": (0.5, 0.75, 1.0, 1.5),
    "noise": (0.02, 0.04, 0.08, 0.12),
}


def crop(images: Tensor, keep: float) -> Tensor:
    """The centred window of ``keep`` times each side of (N, C, H, W) images (at least 1 pixel)."""
    images = check_images("images", images)
    keep = check_float("keep", keep, minimum=0.0, min_inclusive=False, maximum=1.0)
    h, w = images.shape[2:]
    ch, cw = max(1, round(h * keep)), max(1, round(w * keep))
    top, left = (h - ch) // 2, (w - cw) // 2
    return images[:, :, top : top + ch, left : left + cw]


def launder(images: Tensor, name: str, strength: float, *, seed: int = 0) -> Tensor:
    """(N, 3, H, W) images in [0, 1] through the transformation ``name`` (:data:`DISTORTIONS`) at ``strength``.

    ``seed`` seeds the noise. Every transformation but "crop" keeps the shape.
    """
    images = check_images("images", images, channels=3)
    name = check_choice("name", name, tuple(DISTORTIONS))
    seed = check_seed("seed", seed)
    if name == "crop":
        return crop(images, strength)
    if name == "jpeg":
        return degrade(images, jpeg=int(strength))
    return degrade(images, **{name: float(strength)}, seed=seed)
