"""Data that shows no real person: SynthFaces (procedural faces with ground truth), digit sets in
the IDX format, and torch ``Dataset`` wrappers. Images are (N, C, H, W) float32 in [0, 1]."""

from aelab.data.datasets import DigitDataset, FaceDataset
from aelab.data.digits import Digits, fashion_mnist, kmnist, load_digits, mnist, read_idx
from aelab.data.faces import (
    DOMAINS,
    FACTORS,
    FaceBatch,
    draw,
    factors_at,
    iter_render,
    render,
    render_swap,
    sample_factors,
)

__all__ = [
    "DOMAINS",
    "FACTORS",
    "DigitDataset",
    "Digits",
    "FaceBatch",
    "FaceDataset",
    "draw",
    "factors_at",
    "fashion_mnist",
    "iter_render",
    "kmnist",
    "load_digits",
    "mnist",
    "read_idx",
    "render",
    "render_swap",
    "sample_factors",
]
