"""Lab 09's checks: the reference passes, the usual mistakes fail with their own message, tampered
evidence fails without raising."""

from __future__ import annotations

import numpy as np
import torch
from checks_support import verdict

from aelab.checks import lab09
from aelab.forensics import attacks, calibration, correction, operating


def _reference_operating_point(cal, test, fpr):
    point = operating.operating_point(cal, test, fpr)
    return point.threshold, point.test_tpr, point.test_fpr


def _rates(test, threshold, strict=False):
    s, y = (torch.as_tensor(v, dtype=torch.float64) for v in test)
    flagged = (s > threshold if strict else s >= threshold).double()
    return threshold, float(flagged[y == 1].mean()), float(flagged[y == 0].mean())


def test_operating_point() -> None:
    check = lab09.check_operating_point
    assert verdict(check, _reference_operating_point).passed
    mistakes = {
        "comes from the test split": lambda c, t, f: _rates(t, operating.threshold_at_fpr(*t, f)),
        "quantile of all the calibration scores": lambda c, t, f: _rates(t, float(np.quantile(c[0].numpy(), 1 - f))),
        "interpolated quantile of the reals": lambda c, t, f: _rates(
            t, float(np.quantile(c[0][c[1] == 0].numpy(), 1 - f))
        ),
        "equal to the threshold as real": lambda c, t, f: _rates(t, operating.threshold_at_fpr(*c, f), strict=True),
        "the calibration split's": lambda c, t, f: _rates(c, operating.threshold_at_fpr(*c, f)),
    }
    for message, mistake in mistakes.items():
        feedback = verdict(check, mistake)
        assert not feedback.passed and message in feedback.message, (message, feedback.message)
    feedback = verdict(check, lambda c, t, f: 0.5)
    assert not feedback.passed and "three numbers" in feedback.message
    assert not check.judge([[0.5, 1.0, 0.0]]).passed
    assert not check.judge({"error": "ValueError", "detail": "x"}).passed


def _ece_variant(name: str):
    def ece(p, y, bins):
        p, y = torch.as_tensor(p).numpy(), torch.as_tensor(y).numpy()
        predicted = p >= 0.5
        confidence = np.where(predicted, p, 1 - p)
        correct = (predicted == (y == 1)).astype(float)
        value, outcome = (p, y) if name == "positive" else (confidence, correct)
        index = np.clip(
            (np.floor(value * bins) if name == "floor" else np.ceil(value * bins) - 1).astype(int), 0, bins - 1
        )
        total = 0.0
        gaps = []
        for m in range(bins):
            members = index == m
            if members.any():
                gap = outcome[members].mean() - value[members].mean()
                gaps.append(abs(gap))
                total += members.mean() * (gap if name == "signed" else abs(gap))
        return float(np.mean(gaps)) if name == "unweighted" else float(total)

    return ece


def test_expected_calibration_error() -> None:
    check = lab09.check_expected_calibration_error
    assert verdict(check, lambda p, y, bins: calibration.expected_calibration_error(p, y, bins=bins)).passed
    hints = {
        "unweighted": "weight each bin",
        "floor": "bin m holds",
        "positive": "max(p, 1 − p)",
        "signed": "absolute gap",
    }
    for name, fragment in hints.items():
        feedback = verdict(check, _ece_variant(name))
        assert not feedback.passed and fragment in feedback.message, (name, feedback.message)
    feedback = verdict(check, lambda p, y, bins: torch.zeros(2))
    assert not feedback.passed and "shape (2,)" in feedback.message
    assert not check.judge("nonsense").passed


def test_pgd_step() -> None:
    check = lab09.check_pgd_step
    assert verdict(check, attacks.pgd_step).passed

    def project(x, clean, eps):
        return torch.min(torch.max(x, clean - eps), clean + eps)

    mistakes = {
        "gradient itself": lambda x, g, c, e, a: project(x + a * g, c, e).clamp(0, 1),
        "against the gradient": lambda x, g, c, e, a: project(x - a * g.sign(), c, e).clamp(0, 1),
        "leaves the ε-ball": lambda x, g, c, e, a: (x + a * g.sign()).clamp(0, 1),
        "around the current images": lambda x, g, c, e, a: project(x + a * g.sign(), x, e).clamp(0, 1),
        "leaves [0, 1]": lambda x, g, c, e, a: project(x + a * g.sign(), c, e),
    }
    for message, mistake in mistakes.items():
        feedback = verdict(check, mistake)
        assert not feedback.passed and message in feedback.message, (message, feedback.message)
    feedback = verdict(check, lambda x, g, c, e, a: x[0])
    assert not feedback.passed and "shape" in feedback.message
    assert not check.judge([1, "x"]).passed


def _correction_with(exponent: float, keep_mean: bool = True, clip: bool = True):

    def correct(images, reference):
        spectrum = torch.fft.fftshift(torch.fft.fft2(images.double()), dim=(-2, -1))
        gain = (reference.double() / correction.channel_spectra(images)) ** exponent
        if keep_mean:
            gain[..., 0] = 1.0
        rings = correction.ring_index(*images.shape[2:], images.device)
        out = torch.fft.ifft2(torch.fft.ifftshift(spectrum * gain[..., rings], dim=(-2, -1))).real
        return out.clamp(0, 1) if clip else out

    return correct


def test_spectral_correction() -> None:
    check = lab09.check_spectral_correction
    assert verdict(check, correction.spectral_correction).passed
    assert verdict(check, _correction_with(0.5)).passed
    for correct, fragment in (
        (_correction_with(1.0), "square root"),
        (_correction_with(-0.5), "divides by the reference"),
        (_correction_with(0.5, keep_mean=False), "changes each channel's mean"),
        (lambda x, r: x, "ring powers"),
    ):
        feedback = verdict(check, correct)
        assert not feedback.passed and fragment in feedback.message, (fragment, feedback.message)
    feedback = verdict(check, lambda x, r: x[0])
    assert not feedback.passed and "shape" in feedback.message
