"""Temporary: the checks of the model constructors."""

from __future__ import annotations

import numpy as np
from torch import Tensor


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int, got {value!r} ({type(value).__name__})")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return int(value)


def _check_images(x: object, name: str, channels: int, resolution: int) -> None:
    """Raise a clear error unless ``x`` is a float tensor of shape (N, channels, resolution, resolution)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of images (N, {channels}, H, W), got {type(x).__name__}")
    if x.ndim != 4 or x.shape[1] != channels or x.shape[2] != resolution or x.shape[3] != resolution:
        raise ValueError(
            f"{name} must have shape (N, {channels}, {resolution}, {resolution}) (images in [0, 1]), "
            f"got {tuple(x.shape)}; resize the images or build the model for this resolution"
        )
    if not x.is_floating_point():
        raise TypeError(f"{name} must hold floats in [0, 1], got dtype {x.dtype}; use x.float() / 255")
