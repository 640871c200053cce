"""Lab 09 -- detectors against an adversary: the checks of the operating point, calibration and attacks.

The exercises (``solutions/09-adversarial-forensics.ipynb``):

- ``check_operating_point(operating_point)``: ``operating_point(calibration, test, fpr)`` takes two
  (scores, labels) pairs and returns ``(threshold, test_tpr, test_fpr)``: the lowest threshold whose
  FPR on the **calibration** reals is at most ``fpr`` (a score at or above it is called fake), and the
  rates that threshold gives on the **test** split -- :func:`aelab.forensics.operating.operating_point`.
- ``check_expected_calibration_error(expected_calibration_error)``: Guo et al.'s ECE of probabilities of
  "fake" with ``bins`` equal-width bins of the confidence max(p, 1 − p), (m − 1)/M < c <= m/M, each
  bin's |accuracy − mean confidence| weighted by its share of the items --
  :func:`aelab.forensics.calibration.expected_calibration_error`.
- ``check_spectral_correction(spectral_correction)``: ``spectral_correction(images, reference)`` moves
  each channel's ring powers to ``reference`` by the gain sqrt(P_ref / P_image) on every ring but the
  zero frequency, keeping the phase, and clips to [0, 1] --
  :func:`aelab.forensics.correction.spectral_correction`.
- ``check_pgd_step(pgd_step)``: ``pgd_step(images, gradient, clean, epsilon, step_size)``: a step of
  ``step_size`` along the sign of the gradient, projected into the L∞ ball of radius ε around the clean
  images and into [0, 1] -- :func:`aelab.forensics.attacks.pgd_step`.

Scores and probabilities are (N,) float tensors, labels (N,) with 1 for a fake; images (N, 3, H, W)
float32 in [0, 1]. Each judge rebuilds the fixed inputs from their seeds, recomputes the reference
with the library and, when the answer is off, says which usual mistake it looks like.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from aelab.forensics import calibration, correction, operating
from aelab.forensics.attacks import pgd_step as reference_pgd_step

from . import check, floats, numbers, tensor

__all__ = ["check_operating_point", "check_expected_calibration_error", "check_pgd_step", "check_spectral_correction"]

#: How far a student's float32 result may be from the reference.
_TOLERANCE = 1e-5


# --------------------------------------------------------------------------------------------------
# Exercise 9.1: the operating point


def _scores(seed: int, shift: float) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed split: 200 reals and 100 fakes, scores rounded to 0.02 (ties), fakes ``shift`` higher."""
    generator = torch.Generator().manual_seed(seed)
    reals = torch.randn(200, generator=generator, dtype=torch.float64)
    fakes = torch.randn(100, generator=generator, dtype=torch.float64) + 2.0
    scores = torch.sigmoid(torch.cat([reals + shift, fakes])).mul(50).round().div(50)
    return scores, torch.cat([torch.zeros(200), torch.ones(100)]).double()


#: The fixed cases: (calibration seed, test seed, the reals' shift on the test split, target FPR).
_OPERATING_CASES = ((90, 91, 0.3, 0.05), (92, 93, 0.0, 0.01), (94, 95, -0.2, 0.1))


def _operating_variants(calibration_split: tuple, test_split: tuple, fpr: float) -> dict[str, list[float]]:
    """What the usual mistakes return: name -> [threshold, test TPR, test FPR]."""

    def at(threshold: float, strict: bool = False) -> list[float]:
        s, y = test_split
        flagged = s > threshold if strict else s >= threshold
        return [threshold, float(flagged[y == 1].double().mean()), float(flagged[y == 0].double().mean())]

    on_test = operating.threshold_at_fpr(*test_split, fpr)
    s, y = calibration_split
    everything = float(np.quantile(s.numpy(), 1 - fpr))
    reals = float(np.quantile(s[y == 0].numpy(), 1 - fpr))
    right = operating.threshold_at_fpr(*calibration_split, fpr)
    return {
        "test": at(on_test),
        "all": at(everything),
        "quantile": at(reals),
        "strict": at(right, strict=True),
        "calibration": [right, *operating.rates(*calibration_split, right)],
    }


_OPERATING_HINTS = {
    "test": "your threshold comes from the test split; choose it on the calibration split, then apply it to test",
    "all": "your threshold is a quantile of all the calibration scores; the FPR counts reals only",
    "quantile": "your threshold is an interpolated quantile of the reals; take the lowest real score's threshold "
    "whose FPR is at most the target (ties count together)",
    "strict": "your rates count a score equal to the threshold as real; a score at or above it is called fake",
    "calibration": "your rates are the calibration split's; report what the threshold does on the test split",
}


def _judge_operating_point(evidence: Any) -> tuple[bool, str]:
    if not isinstance(evidence, list) or len(evidence) != len(_OPERATING_CASES):
        return False, "the check expected your (threshold, TPR, FPR) on its fixed cases from its probe."
    for answer, (cal_seed, test_seed, shift, fpr) in zip(evidence, _OPERATING_CASES):
        got = floats(answer) if isinstance(answer, list) else None
        if not isinstance(got, list) or len(got) != 3 or any(isinstance(v, list) for v in got):
            return False, "your operating_point must return three numbers: (threshold, test TPR, test FPR)."
        calibration_split, test_split = _scores(cal_seed, 0.0), _scores(test_seed, shift)
        point = operating.operating_point(calibration_split, test_split, fpr)
        expected = [point.threshold, point.test_tpr, point.test_fpr]
        if all(abs(a - b) <= _TOLERANCE for a, b in zip(got, expected)):
            continue
        case = f"the case with a target FPR of {fpr:g}"
        for name, variant in _operating_variants(calibration_split, test_split, fpr).items():
            if variant != expected and all(abs(a - b) <= _TOLERANCE for a, b in zip(got, variant)):
                return False, f"on {case}, {_OPERATING_HINTS[name]}."
        if abs(got[0] - expected[0]) > _TOLERANCE:
            return False, (
                f"on {case} your threshold is {got[0]:.3f}; "
                f"it is not the lowest whose calibration FPR is at most {fpr:g}."
            )
        return False, (
            f"on {case} your threshold is right but your test rates ({got[1]:.3f}, {got[2]:.3f}) are not what it gives."
        )
    return True, "your threshold comes from the calibration split and your rates from the test split, ties included."


@check(_judge_operating_point)
def check_operating_point(operating_point: Callable[..., Any]) -> list[Any]:
    """Your operating_point(calibration, test, fpr) on fixed score splits, one with drifted reals."""
    answers = []
    for cal_seed, test_seed, shift, fpr in _OPERATING_CASES:
        answers.append(operating_point(_scores(cal_seed, 0.0), _scores(test_seed, shift), fpr))
    return answers


# --------------------------------------------------------------------------------------------------
# Exercise 9.2: expected calibration error


def _probabilities(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """300 fixed probabilities of "fake" (overconfident: the labels follow a softer probability), some
    exactly on bin edges (0.7, 0.8, 0.3), and their labels."""
    generator = torch.Generator().manual_seed(seed)
    p = torch.rand(300, generator=generator, dtype=torch.float64)
    p[:30] = torch.tensor([0.7, 0.8, 0.3] * 10, dtype=torch.float64)
    labels = (torch.rand(300, generator=generator, dtype=torch.float64) < 0.5 + 0.6 * (p - 0.5)).double()
    return p, labels


#: The fixed cases: (seed, bins).
_ECE_CASES = ((80, 10), (81, 5), (82, 15))


def _ece_variants(p: torch.Tensor, y: torch.Tensor, bins: int) -> dict[str, float]:
    """What the usual mistakes compute: name -> value."""
    p, y = p.numpy(), y.numpy()
    predicted = p >= 0.5
    confidence = np.where(predicted, p, 1 - p)
    correct = (predicted == (y == 1)).astype(float)

    def binned(value: np.ndarray, outcome: np.ndarray, index: np.ndarray, weighted: bool = True) -> float:
        counts = np.bincount(index, minlength=bins)
        filled = counts > 0
        gaps = (
            np.abs(
                np.bincount(index, outcome, minlength=bins)[filled] - np.bincount(index, value, minlength=bins)[filled]
            )
            / counts[filled]
        )
        return float(np.sum(counts[filled] * gaps) / counts.sum()) if weighted else float(gaps.mean())

    ceil_index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    floor_index = np.clip(np.floor(confidence * bins).astype(int), 0, bins - 1)
    positive_index = np.clip(np.ceil(p * bins).astype(int) - 1, 0, bins - 1)
    return {
        "unweighted": binned(confidence, correct, ceil_index, weighted=False),
        "floor": binned(confidence, correct, floor_index),
        "positive": binned(p, y, positive_index),
        "signed": float(np.sum(np.bincount(ceil_index, correct - confidence, minlength=bins)) / len(p)),
    }


_ECE_HINTS = {
    "unweighted": "averages the bins' gaps equally; weight each bin by its share of the items",
    "floor": "puts a confidence on a bin edge into the bin above it; bin m holds (m − 1)/M < c <= m/M",
    "positive": "bins the probability of fake against the share of fakes; Guo et al. bin the confidence "
    "max(p, 1 − p) against the accuracy of the predicted class",
    "signed": "lets the bins' gaps cancel; take the absolute gap in each bin",
}


def _judge_expected_calibration_error(evidence: Any) -> tuple[bool, str]:
    values = numbers(evidence, len(_ECE_CASES), "expected_calibration_error")
    if isinstance(values, str):
        return False, values
    for got, (seed, bins) in zip(values, _ECE_CASES):
        p, y = _probabilities(seed)
        expected = calibration.expected_calibration_error(p, y, bins=bins)
        if abs(got - expected) <= _TOLERANCE:
            continue
        for name, variant in _ece_variants(p, y, bins).items():
            if abs(variant - expected) > _TOLERANCE and abs(got - variant) <= _TOLERANCE:
                return False, f"with {bins} bins your ECE {_ECE_HINTS[name]}."
        return (
            False,
            f"with {bins} bins your ECE is {got:.4f} on a fixed set of 300 probabilities; it is not Guo et al.'s.",
        )
    return True, "your ECE matches Guo et al.'s on three fixed sets (5, 10 and 15 bins, confidences on bin edges)."


@check(_judge_expected_calibration_error)
def check_expected_calibration_error(expected_calibration_error: Callable[..., Any]) -> list[Any]:
    """Your expected_calibration_error(probabilities, labels, bins) on fixed overconfident probabilities."""
    return [expected_calibration_error(*_probabilities(seed), bins) for seed, bins in _ECE_CASES]


# --------------------------------------------------------------------------------------------------
# Exercise 9.4: one PGD step

#: ε and the step size of the fixed step (pixels near 0 and 1 make the clip to [0, 1] matter; a step
#: longer than ε tells the ball around the clean images from one around the current images).
_EPSILON, _STEP = 4 / 255, 5 / 255


def _step_inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fixed clean images (2, 3, 6, 6) with pixels at 0 and 1, a point up to 3/255 from them, a gradient."""
    generator = torch.Generator().manual_seed(93)
    clean = torch.rand(2, 3, 6, 6, generator=generator)
    clean[:, :, 0] = 0.0
    clean[:, :, -1] = 1.0
    images = (clean + (torch.rand(clean.shape, generator=generator) * 2 - 1) * 3 / 255).clamp(0, 1)
    gradient = torch.randn(clean.shape, generator=generator)
    return images, gradient, clean


def _step_variants() -> dict[str, torch.Tensor]:
    images, gradient, clean = _step_inputs()
    low, high = clean - _EPSILON, clean + _EPSILON
    moved = images + _STEP * gradient.sign()
    return {
        "raw": torch.min(torch.max(images + _STEP * gradient, low), high).clamp(0, 1),
        "descent": torch.min(torch.max(images - _STEP * gradient.sign(), low), high).clamp(0, 1),
        "no projection": moved.clamp(0, 1),
        "around images": torch.min(torch.max(moved, images - _EPSILON), images + _EPSILON).clamp(0, 1),
        "no clip": torch.min(torch.max(moved, low), high),
    }


_STEP_HINTS = {
    "raw": "steps along the gradient itself; an L∞ step moves every pixel by the step size along its sign",
    "descent": "steps against the gradient; the step raises the loss it was given (the gradient's sign)",
    "no projection": "leaves the ε-ball; clip each pixel to [clean − ε, clean + ε]",
    "around images": "projects around the current images; the ε-ball is centred on the clean images",
    "no clip": "leaves [0, 1]; clip to valid pixel values after the projection",
}


def _judge_pgd_step(evidence: Any) -> tuple[bool, str]:
    got = tensor(evidence)
    images, gradient, clean = _step_inputs()
    expected = reference_pgd_step(images, gradient, clean, _EPSILON, _STEP).double()
    if tuple(got.shape) != tuple(expected.shape):
        return (
            False,
            f"your step returned shape {tuple(got.shape)}; expected the images' shape {tuple(expected.shape)}.",
        )
    if float((got - expected).abs().max()) <= _TOLERANCE:
        return True, "your step follows the gradient's sign and stays in the ε-ball and in [0, 1]."
    for name, variant in _step_variants().items():
        if float((got - variant.double()).abs().max()) <= _TOLERANCE:
            return False, f"your step {_STEP_HINTS[name]}."
    if float((got - clean.double()).abs().max()) > _EPSILON + _TOLERANCE:
        moved = float((got - clean.double()).abs().max()) * 255
        return False, f"your step moves a pixel {moved:.1f}/255 from the clean image; ε is 4/255."
    return (
        False,
        f"your step differs from the reference by up to {float((got - expected).abs().max()):.3g} on a fixed batch.",
    )


@check(_judge_pgd_step)
def check_pgd_step(pgd_step: Callable[..., torch.Tensor]) -> Any:
    """Your pgd_step(images, gradient, clean, epsilon, step_size) on a fixed batch, ε = 4/255, step 5/255."""
    images, gradient, clean = _step_inputs()
    return pgd_step(images, gradient, clean, _EPSILON, _STEP)


# --------------------------------------------------------------------------------------------------
# Exercise 9.3: spectral correction


def _correction_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed images (2, 3, 16, 16) in [0, 1] (smooth, so the clip rarely bites) and a reference (3, 12)."""
    generator = torch.Generator().manual_seed(94)
    coarse = torch.rand(2, 3, 4, 4, generator=generator)
    images = torch.nn.functional.interpolate(coarse, size=(16, 16), mode="bilinear", align_corners=False)
    images = 0.25 + 0.5 * images + 0.02 * torch.rand(images.shape, generator=generator)
    reference = correction.reference_spectrum(torch.rand(8, 3, 16, 16, generator=generator) * 0.3 + 0.35)
    return images, reference


def _corrected(exponent: float) -> torch.Tensor:
    """The fixed images with gain (P_ref / P_image) ** exponent on every ring but 0 (0.5 is right)."""
    images, reference = _correction_inputs()
    spectrum = torch.fft.fftshift(torch.fft.fft2(images.double()), dim=(-2, -1))
    gain = (reference.double() / correction.channel_spectra(images)) ** exponent
    gain[..., 0] = 1.0
    rings = correction.ring_index(*images.shape[2:], images.device)
    return torch.fft.ifft2(torch.fft.ifftshift(spectrum * gain[..., rings], dim=(-2, -1))).real.clamp(0, 1)


_CORRECTION_HINTS = {
    1.0: "multiplies the FFT by the power ratio; the amplitude scales by its square root",
    -0.5: "divides by the reference; the gain is sqrt(P_ref / P_image)",
}


def _judge_spectral_correction(evidence: Any) -> tuple[bool, str]:
    got = tensor(evidence)
    images, reference = _correction_inputs()
    expected = correction.spectral_correction(images, reference).double()
    if tuple(got.shape) != tuple(expected.shape):
        return (
            False,
            f"your correction returned shape {tuple(got.shape)}; expected the images' shape {tuple(expected.shape)}.",
        )
    if not torch.isfinite(got).all():
        return False, "your correction holds NaN or infinity; is a power divided by zero?"
    if float((got - expected).abs().max()) <= 1e-4:
        return True, "your correction gives each channel the reference's ring powers, phase and mean kept."
    if got.min() < -1e-6 or got.max() > 1 + 1e-6:
        return False, "your correction leaves [0, 1]; clip the images after the inverse FFT."
    for exponent, hint in _CORRECTION_HINTS.items():
        if float((got - _corrected(exponent)).abs().max()) <= 1e-4:
            return False, f"your correction {hint}."
    if float((got.mean(dim=(2, 3)) - images.double().mean(dim=(2, 3))).abs().max()) > 0.02:
        return False, "your correction changes each channel's mean; leave ring 0 (the zero frequency) as it is."
    got_rings = correction.channel_spectra(got.float())[..., 1:]
    gap = float((got_rings / reference[None, :, 1:] - 1).abs().median())
    return False, f"your corrected images' ring powers are {gap:.2f} from the reference's (median relative gap)."


@check(_judge_spectral_correction)
def check_spectral_correction(spectral_correction: Callable[..., torch.Tensor]) -> Any:
    """Your spectral_correction(images, reference) on fixed (2, 3, 16, 16) images and a fixed reference."""
    images, reference = _correction_inputs()
    return spectral_correction(images, reference)
