"""Measures of reconstruction and of what a latent code holds.

- :func:`psnr`: peak signal-to-noise ratio of images in [0, 1].
- :func:`linear_probe`: how much of each ground-truth factor a linear read-out recovers from codes
  (R² on held-out samples), the standard "linear probe" of representation learning.

Images are tensors (N, C, H, W) of floats in [0, 1].
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

__all__ = ["psnr", "linear_probe", "r2_score"]


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)):
        raise TypeError(f"expected two tensors, got {type(x).__name__} and {type(y).__name__}")
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"expected two (N, C, H, W) tensors of the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")


def psnr(x: torch.Tensor, y: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """PSNR in dB of images in [0, 1] (data range 1): 10·log10(1 / MSE), per image then reduced.

    ``reduction``: "mean" (a scalar) or "none" (one value per image). Identical images give +inf.
    """
    _check_pair(x, y)
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    mse = (x.float() - y.float()).pow(2).flatten(1).mean(1)
    values = -10.0 * torch.log10(mse)
    return values.mean() if reduction == "mean" else values


def r2_score(target: torch.Tensor, prediction: torch.Tensor) -> float:
    """Coefficient of determination 1 − SS_res / SS_tot of a 1-D target; 0 for a constant target."""
    target, prediction = target.double().flatten(), prediction.double().flatten()
    ss_tot = (target - target.mean()).pow(2).sum()
    if ss_tot <= 0:
        return 0.0
    return float(1.0 - (target - prediction).pow(2).sum() / ss_tot)


def linear_probe(
    codes: torch.Tensor,
    factors: Mapping[str, torch.Tensor],
    *,
    test_fraction: float = 0.25,
    ridge: float = 1e-3,
    seed: int = 0,
) -> dict[str, float]:
    """Held-out R² of a ridge-regularised linear read-out of each factor from the codes.

    ``codes``: (N, D) (or (N, ...) flattened); ``factors``: name -> (N,) tensor. The samples are split
    once at random (seeded) into train and test; codes are standardised on the train part. An R² near
    1 means the factor is linearly readable from the code; near 0 (or below) means it is not.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if ridge < 0:
        raise ValueError(f"ridge must be >= 0, got {ridge}")
    x = codes.detach().flatten(1).double().cpu()
    n = x.shape[0]
    n_test = int(round(n * test_fraction))
    if n_test < 2 or n - n_test < 2:
        raise ValueError(f"need more samples for a held-out probe: got {n} with test_fraction {test_fraction}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    train, test = order[n_test:], order[:n_test]
    mean, std = x[train].mean(0), x[train].std(0).clamp_min(1e-8)
    x = torch.cat([(x - mean) / std, torch.ones(n, 1, dtype=x.dtype)], dim=1)
    gram = x[train].T @ x[train] + ridge * len(train) * torch.eye(x.shape[1], dtype=x.dtype)
    scores = {}
    for name, values in factors.items():
        y = values.detach().double().cpu().flatten()
        if y.shape[0] != n:
            raise ValueError(f"factor {name!r} has {y.shape[0]} values for {n} codes")
        weights = torch.linalg.solve(gram, x[train].T @ y[train])
        scores[name] = r2_score(y[test], x[test] @ weights)
    return scores
