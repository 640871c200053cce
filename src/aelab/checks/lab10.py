"""Lab 10 -- provenance: the checks of the binomial threshold, the detector's decision and the watermark
term of the signed decoder's loss.

The exercises (``solutions/10-provenance.ipynb``):

- ``check_threshold(threshold)``: ``threshold(k, fpr)`` is the smallest number of matching bits t with
  ``P(Binomial(k, 1/2) >= t) <= fpr``, and ``k + 1`` when no t reaches it
  (:func:`aelab.provenance.detection.threshold`), on six (k, fpr) pairs.
- ``check_detect(detect)``: ``detect(logits, key, t)`` says, per image, whether at least t of the k bits
  read from the logits (bit = logit > 0) match the key: a bool tensor (N,)
  (:func:`aelab.provenance.detection.detect`), on fixed logits built so that each usual mistake shows.
- ``check_watermark_loss(watermark_loss)``: ``watermark_loss(signed, unsigned, logits, key, weight)`` is
  Stable Signature's loss, the binary cross-entropy of the logits against the key plus ``weight`` times
  :func:`aelab.provenance.signing.perceptual_distance` of the signed and unsigned images
  (:func:`aelab.provenance.signing.watermark_loss`), on fixed inputs at three weights.

Each judge rebuilds the fixed inputs, recomputes the reference with the library and, when the answer
is off, says which usual mistake it looks like.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from scipy import stats as scipy_stats

from aelab.provenance import detection, signing

from . import check, numbers

__all__ = ["check_threshold", "check_detect", "check_watermark_loss"]

# ----------------------------------------------------------------------------------------------------
# Exercise 10.1: the binomial threshold
# ----------------------------------------------------------------------------------------------------

#: (k, fpr): Stable Signature's 48 bits at 1e-6, HiDDeN's 30 and 32, a loose rate, one where a single
#: bit decides, and one no count reaches (8 bits cannot reach 1e-3: all 8 match with probability 1/256).
_THRESHOLD_CASES = ((48, 1e-6), (32, 1e-6), (30, 1e-3), (48, 0.05), (10, 0.011), (8, 1e-3))


def _search(k: int, fpr: float, tail: Callable[[int, int], float]) -> int:
    return next((t for t in range(k + 1) if tail(k, t) <= fpr), k + 1)


_THRESHOLD_MISTAKES = {
    "looks like the tail P(X > t), not P(X >= t): an image matching exactly t bits is called signed": (
        lambda k, f: _search(k, f, lambda n, t: float(scipy_stats.binom.sf(t, n, 0.5)))
    ),
    "looks like P(X = t) <= fpr, one count, not the tail P(X >= t) of every count from t up": (
        lambda k, f: next((t for t in range(k // 2, k + 1) if scipy_stats.binom.pmf(t, k, 0.5) <= f), k + 1)
    ),
    "looks like the normal approximation, which is far off in the tail the test lives in": (
        lambda k, f: math.ceil(k / 2 + scipy_stats.norm.isf(f) * math.sqrt(k) / 2)
    ),
    "looks like a two-sided test (fpr / 2 each side); the detector only counts matches": (
        lambda k, f: _search(k, f / 2, detection.false_positive_rate)
    ),
}


def _judge_threshold(evidence: Any) -> tuple[bool, str]:
    values = numbers(evidence, len(_THRESHOLD_CASES), "threshold")
    if isinstance(values, str):
        return False, values
    expected = [detection.threshold(k, f) for k, f in _THRESHOLD_CASES]
    if values == expected:
        return True, "your thresholds match the binomial test's at six (k, fpr), the unreachable one included."
    for message, mistake in _THRESHOLD_MISTAKES.items():
        if values == [mistake(k, f) for k, f in _THRESHOLD_CASES]:
            return False, f"your threshold {message}."
    i = next(i for i, (v, e) in enumerate(zip(values, expected)) if v != e)
    k, f = _THRESHOLD_CASES[i]
    if expected[i] == k + 1:
        return False, (
            f"for k = {k}, fpr = {f:g} you return {values[i]:g}: even all {k} bits matching has "
            f"probability {2.0**-k:.2g} > fpr, so no count reaches it; return k + 1 then."
        )
    got = detection.false_positive_rate(k, int(values[i])) if float(values[i]).is_integer() else float("nan")
    return False, (
        f"for k = {k}, fpr = {f:g} you return {values[i]:g}, whose false positive rate "
        f"P(X >= t) is {got:.2g}; the smallest t with P(X >= t) <= fpr is wanted."
    )


@check(_judge_threshold)
def check_threshold(threshold: Callable[[int, float], int]) -> Any:
    """Your ``threshold(k, fpr)`` on six (k, fpr) pairs."""
    return [threshold(k, f) for k, f in _THRESHOLD_CASES]


# ----------------------------------------------------------------------------------------------------
# Exercise 10.2: the detector's decision
# ----------------------------------------------------------------------------------------------------

#: Bits per image and the threshold of the fixed case.
_K, _T = 12, 9


def _detect_case() -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed logits (8, 12) and key (12,): rows matching 12, 9 (exactly t), 8, 3 bits; a row of 9 whose
    matching bits have logits in (0, 0.5), one matching 0, one 10 with large logits, one 9 again."""
    generator = torch.Generator().manual_seed(10)
    key = torch.randint(0, 2, (_K,), generator=generator)
    sign = key.float() * 2 - 1  # +1 where the key bit is 1
    matches = (12, 9, 8, 3, 9, 0, 10, 9)
    rows = []
    for i, m in enumerate(matches):
        agree = torch.zeros(_K, dtype=torch.bool)
        agree[torch.randperm(_K, generator=generator)[:m]] = True
        size = (
            0.2 + 0.25 * torch.rand(_K, generator=generator)
            if i == 4
            else 0.5 + 3 * torch.rand(_K, generator=generator)
        )
        rows.append(torch.where(agree, sign, -sign) * size)
    return torch.stack(rows), key


def _detect_mistakes(logits: torch.Tensor, key: torch.Tensor) -> dict[str, list[bool]]:
    k = key.bool()
    return {
        "reads a bit as logit > 0.5; logits are not probabilities, a bit is 1 where the logit is > 0": (
            ((logits > 0.5) == k).sum(1) >= _T
        ).tolist(),
        "calls an image signed only above t matches; the test is at least t (>= t)": (
            ((logits > 0) == k).sum(1) > _T
        ).tolist(),
        "counts the bits that differ from the key, not those that match": (((logits > 0) != k).sum(1) >= _T).tolist(),
        "compares the bit accuracy (a fraction) with t, a count of bits": (
            ((logits > 0) == k).float().mean(1) >= _T
        ).tolist(),
    }


def _judge_detect(evidence: Any) -> tuple[bool, str]:
    logits, key = _detect_case()
    expected = detection.detect(logits, key, _T).tolist()
    if not isinstance(evidence, list) or len(evidence) != len(expected):
        return False, (
            f"your detect should return one bool per image, a tensor ({len(expected)},) here; got {str(evidence)[:60]}"
        )
    got = [bool(v) for v in evidence]
    if not all(isinstance(v, (bool, int)) for v in evidence):
        return False, "your detect should return bools (True: signed), one per image."
    if got == expected:
        return True, "your decisions match the reference on 8 images, exactly-t and small logits included."
    for message, wrong in _detect_mistakes(logits, key).items():
        if got == wrong:
            return False, f"your detect {message}."
    wrong = [i for i, (g, e) in enumerate(zip(got, expected)) if g != e]
    return False, f"your detect decides {len(wrong)} of 8 fixed images wrongly (images {wrong})."


@check(_judge_detect)
def check_detect(detect: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]) -> Any:
    """Your ``detect(logits, key, t)`` on fixed logits (8, 12), key (12,) and t = 9."""
    logits, key = _detect_case()
    return detect(logits.clone(), key.clone(), _T)


# ----------------------------------------------------------------------------------------------------
# Exercise 10.3: the watermark term of the decoder's loss
# ----------------------------------------------------------------------------------------------------

#: The weights (lambda_i) the check tries.
_WEIGHTS = (0.0, 1.0, 5.0)
#: How far the student's loss may be from the reference.
_LOSS_TOLERANCE = 1e-4


def _loss_case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fixed signed and unsigned images (4, 3, 16, 16) in [0, 1], logits (4, 12) and a key (12,)."""
    generator = torch.Generator().manual_seed(11)
    unsigned = torch.rand(4, 3, 16, 16, generator=generator)
    signed = (unsigned + 0.1 * torch.randn(4, 3, 16, 16, generator=generator)).clamp(0, 1)
    logits = 2 * torch.randn(4, 12, generator=generator)
    key = torch.randint(0, 2, (12,), generator=generator)
    return signed, unsigned, logits, key


def _loss_mistakes(
    signed: torch.Tensor, unsigned: torch.Tensor, logits: torch.Tensor, key: torch.Tensor
) -> dict[str, Callable[[float], float]]:
    target = key.float().expand_as(logits)
    bce = F.binary_cross_entropy_with_logits(logits, target).item()
    image = signing.perceptual_distance(signed, unsigned).item()
    return {
        "leaves out the perceptual term (weight times the distance between signed and unsigned images)": lambda w: bce,
        "weighs the key term instead of the perceptual one (weight · BCE + distance)": lambda w: w * bce + image,
        "applies a sigmoid before a BCE that takes logits (binary_cross_entropy_with_logits)": lambda w: (
            F.binary_cross_entropy_with_logits(torch.sigmoid(logits), target).item() + w * image
        ),
        "takes the key as -1/+1 targets; BCE wants 0/1 bits": lambda w: (
            F.binary_cross_entropy_with_logits(logits, 2 * target - 1).item() + w * image
        ),
        "subtracts the perceptual term: it must be added, to keep the signed images close": lambda w: bce - w * image,
    }


def _judge_watermark_loss(evidence: Any) -> tuple[bool, str]:
    values = numbers(evidence, len(_WEIGHTS), "watermark_loss")
    if isinstance(values, str):
        return False, values
    case = _loss_case()
    expected = [signing.watermark_loss(*case, w).item() for w in _WEIGHTS]
    if all(abs(v - e) <= _LOSS_TOLERANCE for v, e in zip(values, expected)):
        return True, "your loss matches Stable Signature's on fixed images, logits and key at three weights."
    for message, mistake in _loss_mistakes(*case).items():
        if all(abs(v - mistake(w)) <= _LOSS_TOLERANCE for v, w in zip(values, _WEIGHTS)):
            return False, f"your loss {message}."
    if abs(values[0] - expected[0]) > _LOSS_TOLERANCE:
        return False, (
            f"with weight 0 your loss is {values[0]:.4f}; it should be the key term alone, the BCE of "
            f"the logits against the key ({expected[0]:.4f})."
        )
    return False, (
        f"with weight 0 your loss is right, but with weight {_WEIGHTS[2]:g} it is {values[2]:.4f}, "
        f"not {expected[2]:.4f}: check the perceptual term (perceptual_distance(signed, unsigned))."
    )


@check(_judge_watermark_loss)
def check_watermark_loss(watermark_loss: Callable[..., torch.Tensor]) -> Any:
    """Your ``watermark_loss(signed, unsigned, logits, key, weight)`` on fixed inputs at three weights."""
    case = _loss_case()
    return [watermark_loss(*(x.clone() for x in case), w) for w in _WEIGHTS]
