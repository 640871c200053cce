"""Data that shows no real person: SynthFaces (procedural faces with ground truth), digit sets in
the IDX format, and torch ``Dataset`` wrappers. Images are (N, C, H, W) float32 in [0, 1].

Names are imported from their modules on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "faces": (
        "DOMAINS",
        "FACTORS",
        "FaceBatch",
        "draw",
        "factors_at",
        "iter_render",
        "render",
        "render_swap",
        "sample_factors",
    ),
    "digits": ("Digits", "fashion_mnist", "kmnist", "load_digits", "mnist", "read_idx"),
    "datasets": ("DigitDataset", "FaceDataset"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'aelab.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"aelab.data.{_MODULE_OF[name]}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
