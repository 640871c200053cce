"""Lab 04's checks (``aelab.checks.lab04``): the references pass, the usual mistakes fail with a message
that names them, tampered evidence fails without raising (unfinished exercises: test_checks_labs.py)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from aelab import losses, recipe
from aelab.checks import lab04
from checks_support import verdict


@pytest.mark.parametrize("name", lab04.__all__)
@pytest.mark.parametrize("evidence", [None, 3, "nan", {}, {"32": "x"}, {"32": [1.0], "64": [1.0]}, [[1.0]], [1, 2]])
def test_tampered_evidence_fails_without_raising(name: str, evidence: Any) -> None:
    assert not getattr(lab04, name).judge(evidence).passed


# ---------------------------------------------------------------- 4.1 the masked-training target


def test_masked_target_reference_passes() -> None:
    assert verdict(lab04.check_masked_target, losses.blur_mask).passed


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda m, r: losses.gaussian_blur(m, max(1, r // 32)), "the blurred mask itself"),
        (lambda m, r: losses.gaussian_blur(m, max(1, r // 32)).clamp(0, 0.5), "never exceeds 0.5"),
        (lambda m, r: losses.blur_mask(m, 32), "too narrow"),
        (lambda m, r: m, "from the reference"),
    ],
)
def test_masked_target_mistakes_are_named(wrong: Any, message: str) -> None:
    feedback = verdict(lab04.check_masked_target, wrong)
    assert not feedback.passed and message in feedback.message


# ---------------------------------------------------------------- 4.2 the eyes-and-mouth term


def test_eyes_mouth_term_reference_passes() -> None:
    reference = lambda t, p, em: losses.eyes_mouth_loss(t, p, em, reduction="none")  # noqa: E731
    assert verdict(lab04.check_eyes_mouth_term, reference).passed


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda t, p, em: (t * em - p * em).abs().flatten(1).mean(1), "300 times too small"),
        (lambda t, p, em: 300 * (t * em - p * em).square().flatten(1).mean(1), "squares the difference"),
        (lambda t, p, em: 300 * (t * em - p * em).abs().flatten(1).sum(1) / (3 * em.flatten(1).sum(1)).clamp_min(1),
         "masked pixels only"),
        (lambda t, p, em: losses.eyes_mouth_loss(t, p, em), "one number per sample"),
    ],
)
def test_eyes_mouth_term_mistakes_are_named(wrong: Any, message: str) -> None:
    feedback = verdict(lab04.check_eyes_mouth_term, wrong)
    assert not feedback.passed and message in feedback.message


# ---------------------------------------------------------------- 4.3 which options matter


def _called() -> set[str]:
    return {row.option for row in lab04._shipped_effects() if row.called}


def test_options_that_matter_reference_passes() -> None:
    assert lab04.check_options_that_matter.judge(sorted(_called())).passed


def test_options_that_matter_counts_extra_and_missing_without_naming_them() -> None:
    every = sorted(recipe.OPTIONS)
    feedback = lab04.check_options_that_matter.judge(every)
    assert not feedback.passed and "less than the noise" in feedback.message
    assert not any(name in feedback.message for name in _called())
    feedback = lab04.check_options_that_matter.judge([])
    assert not feedback.passed and "missing" in feedback.message


def test_options_that_matter_names_an_unknown_option() -> None:
    feedback = lab04.check_options_that_matter.judge(["gan_power"])
    assert not feedback.passed and "'gan_power' is not an option" in feedback.message


# ---------------------------------------------------------------- aelab.recipe


def test_effects_call_only_what_exceeds_twice_the_baseline_spread() -> None:
    base = [{"option": None, "seed": s, "metrics": {"swap_error": v, "mask_error": 0.1}} for s, v in enumerate((1.0, 1.1, 0.9))]
    runs = base + [
        {"option": "clipgrad", "seed": 0, "metrics": {"swap_error": 1.15}},  # within 2 sd = 0.2
        {"option": "pretrain", "seed": 0, "metrics": {"swap_error": 0.7}},  # beyond it, better
    ]
    rows = {row.option: row for row in recipe.effects(runs)}
    assert set(rows) == {"clipgrad", "pretrain"}
    assert not rows["clipgrad"].called
    assert rows["pretrain"].called and rows["pretrain"].better
    assert rows["pretrain"].noise == pytest.approx(0.2)
    with pytest.raises(ValueError, match="at least 2 seeds"):
        recipe.effects(base[:1])


def test_seed_effect_compares_any_metric_with_the_baseline_seeds() -> None:
    row = recipe.seed_effect("rct", "delta_e", [20.0, 21.0, 22.0], [25.0, 25.5])
    assert (row.option, row.metric, row.baseline, row.value) == ("rct", "delta_e", 21.0, 25.25)
    assert row.spread == pytest.approx(1.0) and row.noise == pytest.approx(2.0) and row.called
    assert not recipe.seed_effect("idt", "delta_e", [20.0, 21.0, 22.0], [22.5]).called
    with pytest.raises(ValueError, match="at least 2 seeds"):
        recipe.seed_effect("rct", "delta_e", [20.0], [25.0])


def test_config_for_switches_one_option() -> None:
    base = recipe.config_for(None)
    switched = recipe.config_for("random_warp")
    assert switched.random_warp is not base.random_warp
    assert {k for k, v in switched.to_dict().items() if base.to_dict()[k] != v} == {"random_warp"}
    with pytest.raises(ValueError, match="option must be one of"):
        recipe.config_for("gan_power")


def test_measure_returns_every_metric_on_an_untrained_model() -> None:
    torch.set_num_threads(1)
    trainer = recipe.train_run(None, 0, 1, pool_size=8)
    reader = lab04_reader()
    scores = recipe.measure(trainer, reader, n=8)
    assert set(scores) == set(recipe.LOWER_IS_BETTER) | {"mask_iou", "carry_over"}
    assert all(isinstance(v, float) for v in scores.values())
    assert 0.0 <= scores["mask_iou"] <= 1.0


def lab04_reader() -> Any:
    from aelab.assets import make_lab04

    return make_lab04.load_reader()
