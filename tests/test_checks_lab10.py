"""Lab 10's checks: the reference passes, the usual mistakes fail with their own message, tampered
evidence fails without raising."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from checks_support import verdict
from scipy import stats as scipy_stats

from aelab.checks import lab10
from aelab.provenance import detection, signing


def test_threshold() -> None:
    check = lab10.check_threshold
    assert verdict(check, detection.threshold).passed
    for fn, words in [
        (lambda k, f: lab10._search(k, f, lambda n, t: float(scipy_stats.binom.sf(t, n, 0.5))), "P(X > t)"),
        (lambda k, f: math.ceil(k / 2 + scipy_stats.norm.isf(f) * math.sqrt(k) / 2), "normal approximation"),
        (lambda k, f: detection.threshold(k, f / 2), "two-sided"),
        (lambda k, f: min(detection.threshold(k, f), k), "return k + 1"),
        (lambda k, f: detection.threshold(k, f) + 2, "the smallest t"),
        (lambda k, f: torch.tensor([1, 2]), "tensor of shape"),
    ]:
        feedback = verdict(check, fn)
        assert not feedback.passed and words in feedback.message, feedback.message
    assert not check.judge(["41", None]).passed


def test_detect() -> None:
    check = lab10.check_detect
    assert verdict(check, detection.detect).passed
    for fn, words in [
        (lambda lo, key, t: ((lo > 0.5) == key.bool()).sum(1) >= t, "not probabilities"),
        (lambda lo, key, t: ((lo > 0) == key.bool()).sum(1) > t, "at least t"),
        (lambda lo, key, t: ((lo > 0) != key.bool()).sum(1) >= t, "differ from the key"),
        (lambda lo, key, t: ((lo > 0) == key.bool()).float().mean(1) >= t, "bit accuracy"),
        (lambda lo, key, t: ((lo > 0) == key.bool()).sum() >= t, "one bool per image"),
    ]:
        feedback = verdict(check, fn)
        assert not feedback.passed and words in feedback.message, feedback.message
    assert not check.judge({"x": 1}).passed


def test_watermark_loss() -> None:
    check = lab10.check_watermark_loss
    assert verdict(check, signing.watermark_loss).passed

    def bce(logits: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, key.float().expand_as(logits))

    for fn, words in [
        (lambda s, u, lo, key, w: bce(lo, key), "leaves out the perceptual term"),
        (lambda s, u, lo, key, w: w * bce(lo, key) + signing.perceptual_distance(s, u), "weighs the key term"),
        (lambda s, u, lo, key, w: bce(torch.sigmoid(lo), key) + w * signing.perceptual_distance(s, u), "sigmoid"),
        (lambda s, u, lo, key, w: bce(lo, key) - w * signing.perceptual_distance(s, u), "subtracts"),
        (lambda s, u, lo, key, w: bce(lo, key) + w * F.mse_loss(s, u), "check the perceptual term"),
    ]:
        feedback = verdict(check, fn)
        assert not feedback.passed and words in feedback.message, feedback.message
    assert not check.judge("nan").passed
