"""Lab 00 (demo): the worked example of how a lab's checks are written.

Copy this module to write a new lab's checks. Each check is a pair:

- the **probe** (decorated with :func:`aelab.checks.check`) runs in the student's kernel: it calls
  the student's function on fixed, seeded inputs and returns what came out, as plain data;
- the **judge** runs wherever the verdict is made (the student's kernel, or the grader's own
  process): it rebuilds the same inputs, recomputes the reference itself and compares. It reads
  numbers back with :func:`aelab.checks.floats`, validates the shape of what it got, and says
  precisely what is wrong with rounded numbers, without giving the solution away. The evidence
  parsers (:func:`~aelab.checks.floats`, :func:`~aelab.checks.tensor`, :func:`~aelab.checks.shape`,
  :func:`~aelab.checks.numbers`) come from :mod:`aelab.checks`; when an exercise calls an earlier
  one, its probe runs with the reference in place (:func:`~aelab.checks.upstream`).

The exercises (see ``tests/fixtures/demo_solution.ipynb``) work on image batches: tensors of shape
(N, C, H, W) holding float32 values in [0, 1].

- ``check_mean(mean)``: ``mean(x)`` is the mean of every element of ``x``, as one number.
- ``check_normalize(normalize)``: ``normalize(x, eps=1e-6)`` standardises each channel over the
  batch, ``(x - mean) / sqrt(var + eps)`` with the biased variance over (N, H, W), as BatchNorm does.
- ``check_normalize_constant(normalize)``: the same on a batch with a constant channel, which must
  come out as zeros, not NaN (the hidden test of the demo).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from . import check, floats, shape, tensor

__all__ = ["check_mean", "check_normalize", "check_normalize_constant"]

#: The shape of the fixed batches the checks feed to the student's functions.
_SHAPE = (2, 3, 4, 4)
#: How far the student's float32 result may be from the float64 reference.
_TOLERANCE = 1e-4


def _batch(seed: int) -> torch.Tensor:
    """A fixed image batch (N, C, H, W) = (2, 3, 4, 4), float32 in [0, 1], from ``seed``."""
    return torch.rand(_SHAPE, generator=torch.Generator().manual_seed(seed))


def _constant_channel_batch() -> torch.Tensor:
    """The batch of seed 2 with channel 0 set to 0.5 everywhere (N, C, H, W), float32 in [0, 1]."""
    x = _batch(2)
    x[:, 0] = 0.5
    return x


def _reference_normalize(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-channel standardisation over (N, H, W) with the biased variance, in float64."""
    x = x.double()
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), keepdim=True, unbiased=False)
    return (x - mean) / torch.sqrt(var + eps)


def _judge_mean(evidence: Any) -> tuple[bool, str]:
    value = floats(evidence)
    if isinstance(value, list):
        return (
            False,
            f"your mean returned a tensor of shape {shape(value)}; expected one number (a float or a 0-d tensor).",
        )
    expected = _batch(0).double().mean().item()
    if abs(value - expected) <= _TOLERANCE:
        return True, "your mean matches the reference on a fixed batch."
    return False, (
        f"your mean is {value:.4f} on a fixed batch of shape {_SHAPE}, which is not the mean over all "
        f"{torch.Size(_SHAPE).numel()} elements (batch, channels, height and width)."
    )


def _judge_normalized(evidence: Any, x: torch.Tensor, case: str) -> tuple[bool, str]:
    """Compare the student's normalize(x) (as evidence) with the reference on ``x``, described by ``case``."""
    got = tensor(evidence)
    if tuple(got.shape) != _SHAPE:
        return False, f"your output has shape {tuple(got.shape)} on {case}; expected the input's shape {_SHAPE}."
    if not torch.isfinite(got).all():
        return False, f"your output holds NaN or infinity on {case}; is eps inside the square root?"
    error = (got - _reference_normalize(x)).abs().amax(dim=(0, 2, 3))
    if (error <= _TOLERANCE).all():
        return True, f"your normalize matches the reference on {case}."
    channel = int(error.argmax())
    yours, reference = got[:, channel], _reference_normalize(x)[:, channel]
    return False, (
        f"on {case}, channel {channel} of your output has mean {_rounded(yours.mean())} and std "
        f"{_rounded(yours.std(unbiased=False))} over (N, H, W); expected mean {_rounded(reference.mean())} "
        f"and std {_rounded(reference.std(unbiased=False))}."
    )


def _rounded(value: torch.Tensor) -> str:
    """A 0-d tensor as text with 3 decimals, never "-0.000" (which would differ between machines)."""
    text = f"{value.item():.3f}"
    return "0.000" if text == "-0.000" else text


def _judge_normalize(evidence: Any) -> tuple[bool, str]:
    return _judge_normalized(evidence, _batch(1), "a fixed batch")


def _judge_normalize_constant(evidence: Any) -> tuple[bool, str]:
    return _judge_normalized(evidence, _constant_channel_batch(), "a batch whose channel 0 is constant")


@check(_judge_mean)
def check_mean(mean: Callable[[torch.Tensor], Any]) -> Any:
    """Your ``mean(x)`` on a fixed image batch (N, C, H, W): one number, the mean of every element."""
    return mean(_batch(0))


@check(_judge_normalize)
def check_normalize(normalize: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """Your ``normalize(x)`` on a fixed image batch (N, C, H, W): each channel standardised."""
    return normalize(_batch(1))


@check(_judge_normalize_constant)
def check_normalize_constant(normalize: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """Your ``normalize(x)`` on a batch whose channel 0 is constant: zeros there, never NaN."""
    return normalize(_constant_channel_batch())
