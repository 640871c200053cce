"""Detection of a k-bit watermark as a statistical test (Stable Signature, Fernandez et al. 2023, sec. 3).

An extractor reads k logits from an image; bit i is read as 1 where logit i > 0. The detector counts
the bits that match the model's key, ``m``. Under the null hypothesis "this image was not made by the
signed model" the read bits are independent of the key, so ``m ~ Binomial(k, 1/2)``, and the false
positive rate of the rule "signed when m >= t" is ``P(Binomial(k, 1/2) >= t)``: the threshold for a
target FPR is computed, not fitted on data (:func:`threshold`). The p-value of an image is the same
tail at its own count (:func:`p_value`).

``key`` is a tensor (k,) of 0s and 1s; ``logits`` a tensor (N, k) (one row per image).
"""

from __future__ import annotations

import torch
from scipy import stats as scipy_stats
from torch import Tensor

from aelab.validate import check_float, check_int, check_tensor

__all__ = ["threshold", "false_positive_rate", "p_value", "read_bits", "matching_bits", "bit_accuracy", "detect"]


def false_positive_rate(k: int, t: int) -> float:
    """``P(Binomial(k, 1/2) >= t)``: how often an unsigned image matches at least t of k key bits."""
    k = check_int("k", k, minimum=1)
    t = check_int("t", t)
    return float(scipy_stats.binom.sf(t - 1, k, 0.5))


def threshold(k: int, fpr: float) -> int:
    """The smallest number of matching bits t with ``P(Binomial(k, 1/2) >= t) <= fpr``.

    ``k + 1`` (never "signed") when even all k bits matching is more likely than ``fpr``.
    """
    k = check_int("k", k, minimum=1)
    fpr = check_float("fpr", fpr, minimum=0.0, maximum=1.0, min_inclusive=False)
    return next((t for t in range(k + 1) if false_positive_rate(k, t) <= fpr), k + 1)


def p_value(matches: Tensor, k: int) -> Tensor:
    """Per image, ``P(Binomial(k, 1/2) >= m)`` for its count of matching bits m (a tensor (N,))."""
    k = check_int("k", k, minimum=1)
    counts = check_tensor("matches", matches, ndim=1)
    return torch.tensor(scipy_stats.binom.sf(counts.cpu().numpy() - 1, k, 0.5), dtype=torch.float64)


def _key_for(logits: Tensor, key: Tensor) -> Tensor:
    logits = check_tensor("logits", logits, ndim=2, floating=True)
    key = check_tensor("key", key, ndim=1)
    if key.numel() != logits.shape[1]:
        raise ValueError(f"key has {key.numel()} bits but logits have {logits.shape[1]} per image; use the model's key")
    return key.to(logits.device).bool()


def read_bits(logits: Tensor) -> Tensor:
    """The bits an extractor reads, (N, k) bool: logit > 0 (probability > 1/2)."""
    return check_tensor("logits", logits, ndim=2, floating=True) > 0


def matching_bits(logits: Tensor, key: Tensor) -> Tensor:
    """Per image, how many of the k bits read from ``logits`` (N, k) equal ``key`` (k,): a long tensor (N,)."""
    key = _key_for(logits, key)
    return (read_bits(logits) == key).sum(dim=1)


def bit_accuracy(logits: Tensor, key: Tensor) -> Tensor:
    """Per image, the fraction of the k bits read correctly: a float tensor (N,)."""
    return matching_bits(logits, key).float() / logits.shape[1]


def detect(logits: Tensor, key: Tensor, t: int) -> Tensor:
    """Per image, signed or not: at least ``t`` of the k bits match ``key``; a bool tensor (N,)."""
    t = check_int("t", t)
    return matching_bits(logits, key) >= t
