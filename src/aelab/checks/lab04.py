"""Lab 04 -- the training recipe, one option at a time: the checks of the student's loss pieces and reading.

The exercises (``solutions/04-training-recipe.ipynb``):

- ``check_masked_target(masked_target)``: ``masked_target(mask, resolution)`` is SAEHD's masked-training
  weight, ``clip(gaussian_blur(mask, max(1, resolution // 32)), 0, 0.5) * 2`` (``Model_SAEHD``'s
  ``target_srcm_blur``) -- :func:`aelab.losses.blur_mask`. Checked on rendered face masks at 32 and
  64 px (where the blur's sigma differs).
- ``check_eyes_mouth_term(eyes_mouth_term)``: ``eyes_mouth_term(target, pred, em_mask)`` is the
  eyes-and-mouth priority term per sample, ``300 * mean|target * em - pred * em|`` (shape (N,)) --
  :func:`aelab.losses.eyes_mouth_loss` with ``reduction="none"``.
- ``check_options_that_matter(options)``: the set of option names whose effect in the shipped table
  (``lab04/results.json``) exceeds its noise -- :func:`aelab.recipe.effects`, recomputed by the judge.

Images are tensors (N, 3, H, W) of float32 in [0, 1]; masks (N, 1, H, W).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import torch

from aelab import assets, losses, recipe
from aelab.data import faces

from . import check, floats

__all__ = ["check_masked_target", "check_eyes_mouth_term", "check_options_that_matter"]

_TOLERANCE = 1e-5
_RESOLUTIONS = (32, 64)
#: The shipped table the reading exercise is judged against (file, SHA-256): see make_lab04.
RESULTS = ("lab04/results.json", "9d81d60c7f70052602c5a519132bc5d8dc6236e69faa07662a704dde0dbc5a7b")


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
        blurred = losses.gaussian_blur(mask, sigma).double()
        if (got - blurred).abs().max() <= _TOLERANCE:
            return False, f"{what} your weight is the blurred mask itself: DFL clips it to [0, 0.5] and doubles it."
        if got.max() <= 0.5 + _TOLERANCE:
            return False, f"{what} your weight never exceeds 0.5: after clipping, DFL multiplies by 2."
        if resolution > 32 and (got - losses.blur_mask(mask, 32).double()).abs().max() <= _TOLERANCE:
            return False, f"{what} your blur is too narrow: its sigma grows with the resolution (resolution // 32, at least 1)."
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


def _shipped_effects() -> list[recipe.Effect]:
    """The effects of the shipped table (lab04/results.json, SHA-256 verified)."""
    results = json.loads(assets.verify(*RESULTS).read_text(encoding="utf-8"))
    return recipe.effects(results["runs"])


def _judge_options_that_matter(evidence: Any) -> tuple[bool, str]:
    if not isinstance(evidence, list) or not all(isinstance(name, str) for name in evidence):
        return False, "the check expected a set of option names (strings)."
    unknown = sorted(set(evidence) - set(recipe.OPTIONS))
    if unknown:
        return False, f"{', '.join(map(repr, unknown))} is not an option of the table; the options are {', '.join(recipe.OPTIONS)}."
    called = {row.option for row in _shipped_effects() if row.called}
    chosen = set(evidence)
    extra, missing = chosen - called, called - chosen
    if not extra and not missing:
        return True, f"your {len(chosen)} options are exactly those whose effect exceeds the noise."
    parts = []
    if extra:
        parts.append(f"{len(extra)} of your options changed their metric by less than the noise (2 sd of the baseline's seeds)")
    if missing:
        parts.append(f"{len(missing)} option(s) whose effect exceeds the noise are missing")
    return False, "; ".join(parts) + ": compare |effect| with the noise column, row by row."


@check(_judge_options_that_matter)
def check_options_that_matter(options: Any) -> list[str]:
    """Your set of option names against the options whose effect exceeds the noise in the shipped table."""
    return sorted(str(name) for name in options)
