"""Where computations run: the device choice."""

from __future__ import annotations

import os

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
