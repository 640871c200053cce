"""Where computations run: the device choice, and work that runs on one thread."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block on one torch thread, then give back the thread count it found.

    For work made of many small ops (the SynthFaces renderer's per-pixel passes), where a second
    thread gains nothing on a quiet machine and, with the other cores busy, makes every op wait for
    a descheduled thread (:mod:`aelab.threads`; docs/benchmarks.md, "Threads on a busy machine").
    The count is process-wide (``torch.set_num_threads``): do not render from two Python threads
    while a third runs torch work that should keep its threads.
    """
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
