"""Lab 04 -- the training recipe, one option at a time: the checks of the student's loss pieces and reading.

The exercises (``solutions/04-training-recipe.ipynb``):

- ``check_masked_target(masked_target)``: ``masked_target(mask, resolution)`` is SAEHD's masked-training
  weight, ``clip(gaussian_blur(mask, max(1, resolution // 32)), 0, 0.5) * 2`` (``Model_SAEHD``'s
  ``target_srcm_blur``) -- :func:`aelab.losses.blur_mask`. Checked on rendered face masks at 32 and
  64 px (where the blur's sigma differs).
- ``check_eyes_mouth_term(eyes_mouth_term)``: ``eyes_mouth_term(target, pred, em_mask)`` is the
  eyes-and-mouth priority term per sample, ``300 * mean|target * em - pred * em|`` (shape (N,)) --
  :func:`aelab.losses.eyes_mouth_loss` with ``reduction="none"``.
- ``check_options_that_matter(options_that_matter)``: ``options_that_matter(comparisons)`` applies Holm's
  step-down to a family ``{option: stats.Comparison}`` at a family-wise error rate of 5 % and returns the
  set of options it calls -- :func:`aelab.stats.holm`. Checked on the shipped table
  (``lab04/results.json``, :func:`aelab.course.lab04.comparisons`, recomputed by the judge) and on two fixed
  families whose p-values tell Holm from no correction, Bonferroni, Hochberg's step-up and a step-down
  that does not stop.

Images are tensors (N, 3, H, W) of float32 in [0, 1]; masks (N, 1, H, W).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from statistics import NormalDist
from typing import Any

import torch

from aelab import assets, losses, stats
from aelab.course import lab04
from aelab.data import faces

from . import check, floats

__all__ = ["check_masked_target", "check_eyes_mouth_term", "check_options_that_matter"]

_TOLERANCE = 1e-5
_RESOLUTIONS = (32, 64)


def _masks(resolution: int) -> torch.Tensor:
    """Two rendered face masks (2, 1, R, R) in [0, 1] (domain "mixed", seed 4)."""
    return faces.render(2, resolution=resolution, domain="mixed", seed=4).face_mask


def _compare(evidence: Any, reference: torch.Tensor, what: str) -> tuple[bool, str, torch.Tensor | None]:
    """(ok so far, message, the evidence as a tensor of the reference's shape or None)."""
    try:
        got = torch.tensor(floats(evidence), dtype=torch.float64)
    except (TypeError, ValueError):
        return False, f"{what}: expected a tensor of numbers, got something else.", None
    if tuple(got.shape) != tuple(reference.shape):
        return False, f"{what}: your output has shape {tuple(got.shape)}; expected {tuple(reference.shape)}.", None
    if not torch.isfinite(got).all():
        return False, f"{what}: your output holds NaN or infinity.", None
    return True, "", got


def _ramp_width(weight: torch.Tensor) -> int:
    """How many pixels of a weight lie strictly between 0 and 1 (the ramp across the outline)."""
    return int(((weight > 0.01) & (weight < 0.99)).sum())


def _judge_masked_target(evidence: Any) -> tuple[bool, str]:
    if not isinstance(evidence, dict) or set(evidence) != {str(r) for r in _RESOLUTIONS}:
        return False, "the check expected your weights at 32 and 64 px from its probe."
    for resolution in _RESOLUTIONS:
        mask = _masks(resolution)
        reference = losses.blur_mask(mask, resolution).double()
        what = f"on two face masks at {resolution} px"
        ok, message, got = _compare(evidence[str(resolution)], reference, what)
        if not ok or got is None:
            return False, message
        if (got - reference).abs().max() <= _TOLERANCE:
            continue
        sigma = max(1, resolution // 32)
        if (got - mask.double()).abs().max() <= _TOLERANCE:
            return (
                False,
                f"{what} your weight is the face mask itself: DFL blurs it first, so the outline becomes a ramp.",
            )
        blurred = losses.gaussian_blur(mask, sigma).double()
        if (got - blurred).abs().max() <= _TOLERANCE:
            return False, f"{what} your weight is the blurred mask itself: DFL clips it to [0, 0.5] and doubles it."
        if got.max() <= 0.5 + _TOLERANCE:
            return False, f"{what} your weight never exceeds 0.5: after clipping, DFL multiplies by 2."
        if resolution > 32 and (got - losses.blur_mask(mask, 32).double()).abs().max() <= _TOLERANCE:
            return (
                False,
                f"{what} your blur is too narrow: its sigma grows with the resolution (resolution // 32, at least 1).",
            )
        ramp = _ramp_width(got) - _ramp_width(reference)
        spans = got.min().abs() <= _TOLERANCE and (got.max() - 1).abs() <= _TOLERANCE  # 0 outside, 1 inside
        if spans and ramp != 0:
            width = "wider" if ramp > 0 else "narrower"
            return False, (
                f"{what} your weight's ramp across the outline is {width} than DFL's: the blur's sigma is "
                f"wrong (DFL's is {sigma} pixel{'s' if sigma > 1 else ''} here)."
            )
        error = float((got - reference).abs().max())
        return False, f"{what} your weight is up to {error:.4f} from the reference."
    return True, "your masked-training weight matches DFL's target_srcm_blur at 32 and 64 px."


@check(_judge_masked_target)
def check_masked_target(masked_target: Callable[[torch.Tensor, int], torch.Tensor]) -> dict[str, Any]:
    """Your masked_target(mask, resolution) against SAEHD's blurred mask, on face masks at 32 and 64 px."""
    return {str(r): masked_target(_masks(r).clone(), r).detach().double().tolist() for r in _RESOLUTIONS}


def _em_inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """target, pred (3, 3, 16, 16) in [0, 1] and an eyes-and-mouth mask (3, 1, 16, 16), seeded."""
    generator = torch.Generator().manual_seed(5)
    target = torch.rand(3, 3, 16, 16, generator=generator)
    pred = torch.rand(3, 3, 16, 16, generator=generator)
    em = (torch.rand(3, 1, 16, 16, generator=generator) > 0.7).float()
    em[2] = 0.0  # a face whose eyes and mouth are out of view: its term is 0
    return target, pred, em


def _judge_eyes_mouth_term(evidence: Any) -> tuple[bool, str]:
    target, pred, em = _em_inputs()
    reference = losses.eyes_mouth_loss(target, pred, em, reduction="none").double()
    what = "on three fixed (target, pred, mask) batches"
    ok, message, got = _compare(evidence, reference, what)
    if not ok or got is None:
        return False, message if "shape" not in message else message + " (one number per sample)"
    if (got - reference).abs().max() <= 1e-3:
        return True, "your eyes-and-mouth term matches DFL's, sample by sample."
    if (got * 300 - reference).abs().max() <= 1e-3:
        return False, f"{what} your term is 300 times too small: DFL weights it by 300."
    diff = (target * em - pred * em).double()
    if (got - 300 * diff.square().flatten(1).mean(1)).abs().max() <= 1e-3:
        return False, f"{what} your term squares the difference: DFL takes its absolute value."
    if (got - 300 * diff.abs().mean(dim=(0, 2, 3))).abs().max() <= 1e-3:
        return False, (
            f"{what} your term averages over the batch (dim 0) and gives one number per channel: "
            "average each sample over its own (C, H, W) instead."
        )
    per_region = 300 * diff.abs().flatten(1).sum(1) / (3 * em.flatten(1).sum(1)).clamp_min(1)
    if (got - per_region).abs().max() <= 1e-3:
        return False, f"{what} your term averages over the masked pixels only: DFL averages over the whole image."
    error = float((got - reference).abs().max())
    return False, f"{what} your term is up to {error:.3f} from the reference."


@check(_judge_eyes_mouth_term)
def check_eyes_mouth_term(eyes_mouth_term: Callable[..., torch.Tensor]) -> list[float]:
    """Your eyes_mouth_term(target, pred, em_mask) against DFL's, per sample, on fixed batches."""
    target, pred, em = _em_inputs()
    return torch.as_tensor(eyes_mouth_term(target.clone(), pred.clone(), em.clone())).detach().double().tolist()


_ALPHA = 0.05


def _shipped_comparisons() -> dict[str, stats.Comparison]:
    """The family of the shipped table (lab04/results.json, verified against the assets' manifest): each
    option against the baseline."""
    return lab04.comparisons(assets.load("lab04/results.json")["runs"])


def _comparison(p_value: float) -> stats.Comparison:
    """A difference of 1 whose 95 % interval excludes 0 exactly when ``p_value`` < 0.05 (a normal test)."""
    half = 1.96 / NormalDist().inv_cdf(1 - p_value / 2)
    return stats.Comparison(stats.Interval(1.0, 1.0 - half, 1.0 + half), p_value)


#: Two fixed families (name -> p-value, in the order the probe hands them over) on which Holm's
#: step-down calls other options than each usual mistake does.
_FAMILIES: tuple[dict[str, float], ...] = (
    # Holm: a, c; no correction: a, b, c, d; Bonferroni: a; in the table's order: none.
    {"c": 0.012, "a": 0.004, "b": 0.03, "d": 0.04, "e": 0.2},
    # Holm: g; no correction: f, g, h, i, j; no stop: g, h, i; Hochberg's step-up: f, g, h, i.
    {"h": 0.012, "f": 0.011, "g": 0.001, "i": 0.013, "j": 0.04, "k": 0.3},
)


def _families() -> list[dict[str, float]]:
    """Every family the check hands over, as p-values: :data:`_FAMILIES`, then the shipped table's."""
    return [*map(dict, _FAMILIES), {name: c.p_value for name, c in _shipped_comparisons().items()}]


def _ordered(p_values: Mapping[str, float]) -> list[tuple[str, float]]:
    return sorted(p_values.items(), key=lambda item: item[1])


def _no_stop(p_values: Mapping[str, float]) -> set[str]:
    m = len(p_values)
    return {name for i, (name, p) in enumerate(_ordered(p_values)) if p <= _ALPHA / (m - i)}


def _step_up(p_values: Mapping[str, float]) -> set[str]:
    ordered, m = _ordered(p_values), len(p_values)
    last = max((i for i, (_, p) in enumerate(ordered) if p <= _ALPHA / (m - i)), default=-1)
    return {name for name, _ in ordered[: last + 1]}


def _table_order(p_values: Mapping[str, float]) -> set[str]:
    called = set()
    for i, (name, p) in enumerate(p_values.items()):
        if p > _ALPHA / (len(p_values) - i):
            break
        called.add(name)
    return called


#: The usual mistakes: message -> the set they call on a family of p-values.
_HOLM_MISTAKES: dict[str, Callable[[Mapping[str, float]], set[str]]] = {
    "calls every p-value below 0.05 (no correction): with many options some pass by chance; compare the "
    "i-th smallest with 0.05 / (m − i + 1)": lambda p: {name for name, v in p.items() if v < _ALPHA},
    "applies Bonferroni (every p-value against 0.05 / m): Holm compares the i-th smallest with "
    "0.05 / (m − i + 1), less strict after each call": lambda p: {
        name for name, v in p.items() if v <= _ALPHA / len(p)
    },
    "does not stop at the first p-value that fails its threshold: Holm's step-down calls nothing after it": _no_stop,
    "steps up from the largest p-value (Hochberg): Holm steps down from the smallest and stops at the "
    "first failure": _step_up,
    "walks the options in the table's order: sort the p-values first, smallest first": _table_order,
}


def _judge_options_that_matter(evidence: Any) -> tuple[bool, str]:
    families = _families()
    if not isinstance(evidence, list) or len(evidence) != len(families):
        return False, f"the check expected {len(families)} sets of option names from its probe."
    where = ("on a fixed family of five", "on a fixed family of six", "on the lab's table")
    for label, p_values, got in zip(where, families, evidence):
        if not isinstance(got, list) or not all(isinstance(name, str) for name in got):
            return False, f"{label} your options_that_matter must return a set of option names (strings)."
        unknown = sorted(set(got) - set(p_values))
        if unknown:
            return False, f"{label} {', '.join(map(repr, unknown))} is not in the family; return keys of comparisons."
        names = list(p_values)
        holm = {name for name, called in zip(names, stats.holm([p_values[n] for n in names], alpha=_ALPHA)) if called}
        chosen = set(got)
        if chosen == holm:
            continue
        for message, mistake in _HOLM_MISTAKES.items():
            if chosen == mistake(p_values):
                return False, f"{label} your options_that_matter {message}."
        extra, missing = len(chosen - holm), len(holm - chosen)
        return False, (
            f"{label} your options_that_matter calls {extra} option(s) Holm does not and misses {missing} "
            "it calls: sort the p-values, compare the i-th smallest with 0.05 / (m − i + 1), stop at the "
            "first that fails."
        )
    return True, "your Holm step-down calls exactly what the family calls, on the lab's table and two fixed families."


@check(_judge_options_that_matter)
def check_options_that_matter(options_that_matter: Callable[[dict[str, stats.Comparison]], Any]) -> list[list[str]]:
    """Your options_that_matter(comparisons) on two fixed families and the lab's: the names it calls."""
    families = [{name: _comparison(p) for name, p in family.items()} for family in _FAMILIES] + [_shipped_comparisons()]
    return [sorted(str(name) for name in options_that_matter(dict(family))) for family in families]
