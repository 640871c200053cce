"""Lab 07 -- detecting generated images: the checks of the student's spectra, blending, AP and evaluation.

The exercises (``solutions/07-forensics.ipynb``):

- ``check_azimuthal_average(azimuthal_average)``: ``azimuthal_average(spectrum)`` maps (N, H, W)
  fft-shifted spectra to (N, R): the mean over rings of integer radius ``floor(distance)`` from the
  zero frequency (H // 2, W // 2) -- :func:`aelab.forensics.azimuthal_average`.
- ``check_boundary_and_blend(boundary_map, blend)``: ``boundary_map(mask) = 4·M·(1 - M)`` and
  ``blend(real, source, mask) = source·M + real·(1 - M)`` -- :func:`aelab.forensics.boundary_map` and
  the last line of :func:`aelab.forensics.self_blend`.
- ``check_average_precision(average_precision)``: ``average_precision(scores, labels)`` is
  ``sum_k (R_k - R_{k-1}) P_k`` over the distinct thresholds from the highest score down, ties
  taken together -- :func:`aelab.forensics.average_precision`.
- ``check_evaluate_detector(evaluate_detector)``: ``evaluate_detector(make_detector, train, test,
  seed)`` returns the accuracy at 0.5 on the training set, on the held-out set, and on the held-out
  set of a fresh detector fit on the training labels replaced by
  :func:`aelab.forensics.shuffle_labels` (labels, seed) -- :func:`aelab.forensics.train_held_out_control`.

Spectra are (N, H, W) float64 tensors; images (N, 3, H, W) float32 in [0, 1]; masks (N, 1, H, W).
Each judge rebuilds the fixed inputs from their seeds, recomputes the reference with the library and,
when the answer is off, says which usual mistake it looks like.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from aelab import forensics

from . import check, floats

__all__ = ["check_azimuthal_average", "check_boundary_and_blend", "check_average_precision", "check_evaluate_detector"]

_TOLERANCE = 1e-6


def _spectra() -> torch.Tensor:
    """Two fixed (2, 12, 12) float64 'spectra' (random values: every ring's mean differs)."""
    generator = torch.Generator().manual_seed(70)
    return torch.rand(2, 12, 12, generator=generator, dtype=torch.float64)


def _odd_spectrum() -> torch.Tensor:
    """One fixed (1, 9, 9) float64 spectrum: an odd size, where the centre is (4, 4)."""
    return torch.rand(1, 9, 9, generator=torch.Generator().manual_seed(71), dtype=torch.float64)


def _ring_variants(spectrum: torch.Tensor) -> dict[str, torch.Tensor]:
    """What the usual mistakes compute: name -> (N, R')."""
    n, h, w = spectrum.shape
    y = torch.arange(h, dtype=torch.float64) - h // 2
    x = torch.arange(w, dtype=torch.float64) - w // 2
    distance = torch.sqrt(y[:, None] ** 2 + x[None, :] ** 2)
    y0 = torch.arange(h, dtype=torch.float64) - (h - 1) / 2.0
    x0 = torch.arange(w, dtype=torch.float64) - (w - 1) / 2.0
    geometric = torch.sqrt(y0[:, None] ** 2 + x0[None, :] ** 2)
    variants = {}
    for name, rings, mean in (
        ("rounded", distance.round(), True),
        ("geometric", geometric.floor(), True),
        ("sum", distance.floor(), False),
    ):
        flat = rings.long().flatten()
        sums = torch.zeros(n, int(flat.max()) + 1, dtype=torch.float64).index_add_(1, flat, spectrum.reshape(n, -1))
        variants[name] = sums / torch.bincount(flat).double().clamp_min(1) if mean else sums
    return variants


_RING_HINTS = {
    "rounded": "rounds the distance; a ring holds the distances from r up to (not including) r + 1",
    "geometric": "measures the distance from the image's geometric centre; the zero frequency sits at (H // 2, W // 2)",
    "sum": "sums each ring; take the mean of the bins in it",
}


def _judge_azimuthal_average(evidence: Any) -> tuple[bool, str]:
    if not isinstance(evidence, dict) or set(evidence) != {"even", "odd"}:
        return False, "the check expected your profiles of two fixed spectra from its probe."
    for key, spectrum in (("even", _spectra()), ("odd", _odd_spectrum())):
        got = torch.tensor(floats(evidence[key]), dtype=torch.float64)
        expected = forensics.azimuthal_average(spectrum)
        label = f"{tuple(spectrum.shape[1:])} spectra"
        if got.shape == expected.shape and float((got - expected).abs().max()) <= _TOLERANCE:
            continue
        for name, variant in _ring_variants(spectrum).items():  # before the shape: a wrong centre changes R
            if variant.shape == got.shape and float((got - variant).abs().max()) <= _TOLERANCE:
                return False, f"on {label} your profile {_RING_HINTS[name]}."
        if got.shape != expected.shape:
            if got.ndim == 1:
                return False, (
                    f"your profile of {label} has shape {tuple(got.shape)}; "
                    f"expected one profile per spectrum, (N, R) = {tuple(expected.shape)}."
                )
            return False, (
                f"your profile of {label} has shape {tuple(got.shape)}; "
                f"expected (N, R) = {tuple(expected.shape)} (rings 0 up to the farthest corner)."
            )
        error = float((got - expected).abs().max())
        return False, f"your profile of {label} differs from the ring means by up to {error:.3g}."
    return True, "your azimuthal average matches the ring means on even and odd spectra."


@check(_judge_azimuthal_average)
def check_azimuthal_average(azimuthal_average: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, Any]:
    """Your azimuthal_average(spectrum) on fixed (2, 12, 12) and (1, 9, 9) spectra."""
    return {"even": azimuthal_average(_spectra().clone()), "odd": azimuthal_average(_odd_spectrum().clone())}


def _blend_inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(72)
    real = torch.rand(2, 3, 6, 6, generator=generator)
    source = torch.rand(2, 3, 6, 6, generator=generator)
    mask = torch.rand(2, 1, 6, 6, generator=generator)
    mask[:, :, 0] = 0.0
    mask[:, :, -1] = 1.0
    mask[:, :, 2, 2] = 0.5
    return real, source, mask


def _judge_boundary_and_blend(evidence: Any) -> tuple[bool, str]:
    if not isinstance(evidence, dict) or set(evidence) != {"boundary", "blend"}:
        return False, "the check expected your boundary map and blend of a fixed batch from its probe."
    real, source, mask = _blend_inputs()
    boundary = torch.tensor(floats(evidence["boundary"]), dtype=torch.float64)
    expected = forensics.boundary_map(mask.double())
    if boundary.shape != expected.shape:
        return (
            False,
            f"your boundary map has shape {tuple(boundary.shape)}; expected the mask's shape {tuple(expected.shape)}.",
        )
    if float((boundary - expected).abs().max()) > 1e-5:
        if float((boundary - expected / 4).abs().max()) <= 1e-5:
            return False, "your boundary map peaks at 0.25 where M = 1/2; Face X-ray scales it to peak at 1."
        if float(boundary[:, :, 0].abs().max()) > 1e-5 or float(boundary[:, :, -1].abs().max()) > 1e-5:
            return (
                False,
                "your boundary map is not 0 where the mask is 0 or 1 (one image alone shows there: no boundary).",
            )
        return (
            False,
            f"your boundary map differs from Face X-ray's by up to {float((boundary - expected).abs().max()):.3g}.",
        )
    blended = torch.tensor(floats(evidence["blend"]), dtype=torch.float64)
    expected = source.double() * mask.double() + real.double() * (1 - mask.double())
    if blended.shape != expected.shape:
        return (
            False,
            f"your blend has shape {tuple(blended.shape)}; expected the images' shape {tuple(expected.shape)}.",
        )
    if float((blended - expected).abs().max()) <= 1e-5:
        return True, "your boundary map is 4·M·(1 - M) and your blend puts the source where M is 1."
    swapped = real.double() * mask.double() + source.double() * (1 - mask.double())
    if float((blended - swapped).abs().max()) <= 1e-5:
        return False, "your blend shows the real image where M is 1; the mask marks where the (changed) source goes."
    return (
        False,
        f"your blend differs from source·M + real·(1 - M) by up to {float((blended - expected).abs().max()):.3g}.",
    )


@check(_judge_boundary_and_blend)
def check_boundary_and_blend(
    boundary_map: Callable[[torch.Tensor], torch.Tensor],
    blend: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
) -> dict[str, Any]:
    """Your boundary_map(mask) and blend(real, source, mask) on a fixed (2, 3, 6, 6) batch."""
    real, source, mask = _blend_inputs()
    return {"boundary": boundary_map(mask.clone()), "blend": blend(real.clone(), source.clone(), mask.clone())}


def _ap_cases() -> list[tuple[list[float], list[int]]]:
    """Score/label cases: a hand case, one with ties, one random (in the probe's order)."""
    generator = torch.Generator().manual_seed(73)
    labels = (torch.rand(40, generator=generator) < 0.4).long()
    scores = ((torch.rand(40, generator=generator) + 0.4 * labels) * 5).round() / 5  # ties
    return [
        ([0.9, 0.8, 0.7, 0.1], [1, 0, 1, 0]),
        ([0.9, 0.5, 0.5, 0.5, 0.2, 0.1], [1, 1, 0, 0, 1, 0]),
        (scores.tolist(), labels.tolist()),
    ]


def _ap_variants(scores: list[float], labels: list[int]) -> dict[str, float]:
    """What the usual mistakes give: ties broken one by one, and precision interpolated."""
    s, y = torch.tensor(scores, dtype=torch.float64), torch.tensor(labels, dtype=torch.float64)
    order = torch.argsort(-s, stable=True)
    ys = y[order]
    tp = ys.cumsum(0)
    precision = tp / torch.arange(1, len(ys) + 1)
    one_by_one = float((precision * ys).sum() / ys.sum())
    interpolated = float((precision.flip(0).cummax(0).values.flip(0) * ys).sum() / ys.sum())
    return {
        "one_by_one": one_by_one,
        "interpolated": interpolated,
        "auc": forensics.auc(scores, labels),
        "inverted": forensics.average_precision(scores, [1 - label for label in labels]),
        "ascending": forensics.average_precision([-score for score in scores], labels),
    }


#: The usual mistakes of 7.2, in the order they are tried, and what each is told ({value}: the AP on
#: the first case where it differs).
_AP_HINTS = {
    "inverted": (
        "your AP ({value:.3f}) is the reals' (label 0) AP; the positive class is the fakes, label 1: "
        "count flagged fakes, not flagged reals."
    ),
    "ascending": (
        "your AP ({value:.3f}) goes through the thresholds from the lowest score up; start at the "
        "highest (a higher score means more likely fake)."
    ),
    "auc": "your AP ({value:.3f}) equals the ROC AUC; AP weighs precision by each step in recall.",
    "one_by_one": "your AP ({value:.3f}) steps through tied scores one at a time; tied scores share one threshold.",
    "interpolated": (
        "your AP ({value:.3f}) interpolates precision (the best precision at any higher recall); use "
        "the precision at each threshold."
    ),
}


def _judge_average_precision(evidence: Any) -> tuple[bool, str]:
    got = floats(evidence)
    cases = _ap_cases()
    if not isinstance(got, list) or len(got) != len(cases) or any(isinstance(v, list) for v in got):
        return False, f"the check expected one number per case ({len(cases)}) from its probe."
    names = (
        "the hand case [0.9 fake, 0.8 real, 0.7 fake, 0.1 real]",
        "a case with tied scores",
        "40 random scores with ties",
    )
    expected = [forensics.average_precision(scores, labels) for scores, labels in cases]
    wrong = [k for k, (value, reference) in enumerate(zip(got, expected)) if not abs(value - reference) <= _TOLERANCE]
    if not wrong:
        return True, "your average precision matches the reference, ties included."
    first = wrong[0]
    value, name = got[first], names[first]
    if math.isnan(value):
        return False, (
            f"your AP on {name} is nan: a precision of 0 flagged / 0 flagged. Flag the scores >= "
            "each threshold (not >), so the highest threshold flags at least one image."
        )
    variants = [_ap_variants(scores, labels) for scores, labels in cases]
    for mistake, hint in _AP_HINTS.items():  # a mistake explains every case, not one alone
        if all(abs(v - variant[mistake]) <= _TOLERANCE for v, variant in zip(got, variants)):
            return False, f"on {name} " + hint.format(value=value)
    return False, f"your AP on {name} is {value:.4f}, which is not sum over thresholds of (recall step) x precision."


@check(_judge_average_precision)
def check_average_precision(average_precision: Callable[[Any, Any], float]) -> list[float]:
    """Your average_precision(scores, labels) on a hand case, a case with ties and a random case."""
    return [float(average_precision(torch.tensor(s), torch.tensor(y))) for s, y in _ap_cases()]


def _evaluation_data() -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Train and held-out sets (images, labels): smooth images, the fakes with a faint repeated 2x2 pattern."""

    def images(n: int, seed: int, amplitude: float) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        smooth = torch.nn.functional.interpolate(
            torch.rand(n, 3, 4, 4, generator=generator), size=16, mode="bilinear", align_corners=False
        )
        tile = torch.rand(n, 3, 2, 2, generator=generator)
        tile = tile - tile.mean(dim=(2, 3), keepdim=True)
        return (0.1 + 0.8 * smooth + amplitude * tile.repeat(1, 1, 8, 8)).clamp(0, 1)

    train = forensics.labelled(images(40, 1, 0.0), images(40, 2, 0.02))
    test = forensics.labelled(images(60, 3, 0.0), images(60, 4, 0.02))
    return train, test


def _make_detector() -> forensics.SpectralDetector:
    return forensics.SpectralDetector("azimuthal", C=0.1)


_EVAL_SEED = 2


def _reference_evaluation() -> dict[str, float]:
    train, test = _evaluation_data()
    return forensics.train_held_out_control(_make_detector, train, test, seed=_EVAL_SEED)


def _judge_evaluate_detector(evidence: Any) -> tuple[bool, str]:
    keys = ("train", "held_out", "shuffled")
    if not isinstance(evidence, dict) or set(evidence) != set(keys):
        return False, f"evaluate_detector must return a dict with the keys {', '.join(keys)}."
    got = {key: floats(evidence[key]) for key in keys}
    if any(isinstance(v, list) for v in got.values()):
        return False, "each accuracy must be one number (a float), not a list or a tensor of several."
    expected = _reference_evaluation()
    if abs(got["held_out"] - expected["train"]) <= 1e-9 and abs(expected["held_out"] - expected["train"]) > 1e-9:
        return (
            False,
            "your held-out accuracy equals the training accuracy: score the held-out images, not the training ones.",
        )
    for key in keys:
        if abs(got[key] - expected[key]) > 1e-9:
            if key == "shuffled" and abs(got[key] - expected["held_out"]) <= 1e-9:
                return False, (
                    "your shuffled-label control scores as well as the real detector: "
                    "did the labels get shuffled before fitting?"
                )
            if key == "shuffled":
                return False, (
                    f"your shuffled control's accuracy is {got[key]:.3f}, not the reference's; replace the training "
                    "labels by forensics.shuffle_labels(labels, seed), fit a fresh detector, score the held-out set."
                )
            return False, (
                f"your {key.replace('_', '-')} accuracy is {got[key]:.3f}; "
                "expected the accuracy at 0.5 of a detector fit on the training set."
            )
    return True, "your evaluation gives the training, held-out and shuffled-label accuracies of the reference."


@check(_judge_evaluate_detector)
def check_evaluate_detector(evaluate_detector: Callable[..., dict[str, float]]) -> dict[str, Any]:
    """Your evaluate_detector(make_detector, train, test, seed) on fixed patterned images."""
    train, test = _evaluation_data()
    return dict(evaluate_detector(_make_detector, train, test, _EVAL_SEED))
