"""Where computations run and how they are made repeatable: device choice and seeding."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def default_device() -> torch.device:
    """The best device present: CUDA, then Apple's MPS, then the CPU.

    Set ``AELAB_DEVICE`` (e.g. ``cpu``) to override the choice.
    """
    forced = os.environ.get("AELAB_DEVICE")
    if forced:
        return torch.device(forced)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU ``torch.Generator`` seeded the same way."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
