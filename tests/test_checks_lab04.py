"""Lab 04's checks (``aelab.checks.lab04``): the references pass, the usual mistakes fail with a message
that names them, tampered evidence fails without raising (unfinished exercises: test_checks_labs.py)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from checks_support import verdict

from aelab import losses, stats
from aelab.checks import lab04, verified
from aelab.course import lab04 as recipe


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
        (
            lambda m, r: losses.gaussian_blur(m, 2 * max(1, r // 32)).clamp(0, 0.5) * 2,
            "ramp across the outline is wider",
        ),
        (lambda m, r: losses.gaussian_blur(m, r / 16).clamp(0, 0.5) * 2, "the blur's sigma is wrong"),
        (lambda m, r: losses.gaussian_blur(m, 0.5).clamp(0, 0.5) * 2, "ramp across the outline is narrower"),
        (lambda m, r: m, "the face mask itself"),
        (lambda m, r: 0.7 * m + 0.3, "from the reference"),
    ],
)
def test_masked_target_mistakes_are_named(wrong: Any, message: str) -> None:
    feedback = verdict(lab04.check_masked_target, wrong)
    assert not feedback.passed and message in feedback.message


def test_a_wrong_masked_target_is_replaced_by_the_reference_downstream(capsys: pytest.CaptureFixture[str]) -> None:
    wrong = lambda m, r: losses.gaussian_blur(m, 2 * max(1, r // 32)).clamp(0, 0.5) * 2  # noqa: E731
    used = verified(lab04.check_masked_target, wrong, exercise="4.1", reference=losses.blur_mask)
    assert used is losses.blur_mask and capsys.readouterr().out.startswith("[NOT YET] exercise 4.1:")


# ---------------------------------------------------------------- 4.2 the eyes-and-mouth term


def test_eyes_mouth_term_reference_passes() -> None:
    reference = lambda t, p, em: losses.eyes_mouth_loss(t, p, em, reduction="none")  # noqa: E731
    assert verdict(lab04.check_eyes_mouth_term, reference).passed


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda t, p, em: (t * em - p * em).abs().flatten(1).mean(1), "300 times too small"),
        (lambda t, p, em: 300 * (t * em - p * em).square().flatten(1).mean(1), "squares the difference"),
        (
            lambda t, p, em: 300 * (t * em - p * em).abs().flatten(1).sum(1) / (3 * em.flatten(1).sum(1)).clamp_min(1),
            "masked pixels only",
        ),
        (lambda t, p, em: losses.eyes_mouth_loss(t, p, em), "one number per sample"),
        (lambda t, p, em: 300 * (t * em - p * em).abs().mean(dim=(0, 2, 3)), "averages over the batch (dim 0)"),
        (lambda t, p, em: 300 * (t * em - p * em).abs().mean(0).flatten(1).mean(1), "one number per channel"),
    ],
)
def test_eyes_mouth_term_mistakes_are_named(wrong: Any, message: str) -> None:
    feedback = verdict(lab04.check_eyes_mouth_term, wrong)
    assert not feedback.passed and message in feedback.message


# ---------------------------------------------------------------- 4.3 which options matter (Holm by hand)


def holm_reference(comparisons: dict[str, stats.Comparison]) -> set[str]:
    return {name for name, row in stats.family(comparisons).items() if row.called}


def p_values_of(mistake: Any) -> Any:
    return lambda comparisons: mistake({name: c.p_value for name, c in comparisons.items()})


def test_options_that_matter_reference_passes() -> None:
    assert verdict(lab04.check_options_that_matter, holm_reference).passed


@pytest.mark.parametrize("message", list(lab04._HOLM_MISTAKES))
def test_options_that_matter_names_each_usual_mistake(message: str) -> None:
    feedback = verdict(lab04.check_options_that_matter, p_values_of(lab04._HOLM_MISTAKES[message]))
    assert not feedback.passed and message in feedback.message, feedback.message


def test_each_mistake_calls_another_set_than_holm_on_a_fixed_family() -> None:
    holm = [{name for name, c in zip(family, stats.holm(list(family.values()))) if c} for family in lab04._FAMILIES]
    for message, mistake in lab04._HOLM_MISTAKES.items():
        assert any(mistake(family) != called for family, called in zip(lab04._FAMILIES, holm)), message


def test_options_that_matter_names_other_wrong_sets_and_unknown_names() -> None:
    feedback = verdict(lab04.check_options_that_matter, lambda comparisons: set(list(comparisons)[:1]))
    assert not feedback.passed and "0.05 / (m − i + 1)" in feedback.message, feedback.message
    feedback = verdict(lab04.check_options_that_matter, lambda comparisons: {"gan_power"})
    assert not feedback.passed and "'gan_power' is not in the family" in feedback.message


def test_the_fixed_families_intervals_agree_with_their_p_values() -> None:
    for family in lab04._FAMILIES:
        for p in family.values():
            assert lab04._comparison(p).difference.excludes(0.0) == (p < 0.05)


# ---------------------------------------------------------------- aelab.course.lab04


def seeded_runs(option_values: dict[str | None, tuple[float, ...]], metric: str = "swap_error") -> list[dict]:
    return [
        {"option": option, "seed": seed, "metrics": {metric: value}}
        for option, values in option_values.items()
        for seed, value in enumerate(values)
    ]


def test_comparisons_take_option_minus_baseline_over_seeds_with_welch() -> None:
    runs = seeded_runs({None: (1.0, 1.1, 0.9), "clipgrad": (1.05, 1.15, 0.95), "pretrain": (0.5, 0.52, 0.48)})
    table = recipe.comparisons(runs)
    assert set(table) == {"clipgrad", "pretrain"}
    expected = stats.seed_difference([0.5, 0.52, 0.48], [1.0, 1.1, 0.9])
    assert table["pretrain"].difference.estimate == pytest.approx(-0.5)
    assert table["pretrain"].p_value == pytest.approx(expected.p_value)
    called = recipe.called(runs)
    assert called["pretrain"].called and not called["clipgrad"].called
    with pytest.raises(ValueError, match="at least 2 seeds"):
        recipe.comparisons(runs[:1] + runs[3:])
    with pytest.raises(ValueError, match="at least 2 seeds, got 1 run of 'clipgrad'"):
        recipe.comparisons(runs[:4])


def test_per_seed_reads_one_figure_per_run() -> None:
    runs = seeded_runs({None: (1.0, 2.0), "clipgrad": (3.0,)})
    assert recipe.per_seed(runs, None, "swap_error") == [1.0, 2.0]
    assert recipe.per_seed(runs, "pretrain", "swap_error") == []


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
    scores = recipe.measure(trainer, recipe.load_reader(), n=8)
    assert set(scores) == set(recipe.LOWER_IS_BETTER) | {"mask_iou", "carry_over"}
    assert all(isinstance(v, float) for v in scores.values())
    assert 0.0 <= scores["mask_iou"] <= 1.0
