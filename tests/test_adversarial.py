"""Lab 09's library: operating points, calibration, attacks, spectral correction, laundering and defences,
each pinned against an independent computation (scikit-learn's ROC, a hand-made ECE, brute force)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_curve

from aelab import forensics
from aelab.forensics import attacks, calibration, correction, defences, laundering, operating


def _split(seed: int, n_real: int = 400, n_fake: int = 200, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = np.r_[rng.normal(0, 1, n_real), rng.normal(1.5, 1, n_fake)]
    if ties:
        scores = np.round(scores, 1)
    return scores, np.r_[np.zeros(n_real), np.ones(n_fake)]


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("target", [0.001, 0.01, 0.05, 0.2])
def test_tpr_at_a_fixed_fpr_agrees_with_sklearns_roc(ties: bool, target: float) -> None:
    scores, labels = _split(0, ties=ties)
    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=False)
    best = np.nonzero(fpr <= target)[0][-1]
    threshold = operating.threshold_at_fpr(scores, labels, target)
    got_tpr, got_fpr = operating.rates(scores, labels, threshold)
    assert got_fpr <= target
    assert got_tpr == pytest.approx(tpr[best])
    if best > 0:
        assert threshold == pytest.approx(thresholds[best])


def test_a_threshold_that_flags_no_real_lies_just_above_the_highest() -> None:
    scores, labels = _split(1, n_real=50)
    threshold = operating.threshold_at_fpr(scores, labels, 0.0)
    assert threshold > scores[labels == 0].max()
    assert operating.rates(scores, labels, threshold)[1] == 0.0


def test_the_operating_point_applies_the_calibration_threshold_to_the_test_split() -> None:
    calibration_split, test_split = _split(2), _split(3)
    shifted = (test_split[0] + 0.5 * (test_split[1] == 0), test_split[1])  # the reals drift up
    point = operating.operating_point(calibration_split, shifted, 0.05)
    assert point.threshold == operating.threshold_at_fpr(*calibration_split, 0.05)
    assert point.calibration_fpr <= 0.05 < point.test_fpr
    assert point.drift == pytest.approx(point.test_fpr - 0.05)


def test_equal_error_rate() -> None:
    assert operating.equal_error_rate([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 0.0
    assert operating.equal_error_rate([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 1.0
    scores, labels = _split(4, 4000, 4000)
    # two unit normals 1.5 apart cross at 0.75: both error rates are Phi(-0.75)
    assert operating.equal_error_rate(scores, labels) == pytest.approx(0.5 * math.erfc(0.75 / math.sqrt(2)), abs=0.01)


def test_precision_at_prevalence() -> None:
    assert operating.precision_at_prevalence(0.9, 0.01, 0.5) == pytest.approx(0.9 / 0.91)
    assert operating.precision_at_prevalence(0.9, 0.01, 1e-4) == pytest.approx(0.9e-4 / (0.9e-4 + 0.01 * (1 - 1e-4)))
    assert math.isnan(operating.precision_at_prevalence(0.0, 0.0, 0.01))
    with pytest.raises(ValueError, match="prevalence"):
        operating.precision_at_prevalence(0.9, 0.01, 0.0)


def test_fpr_upper_bound_is_clopper_pearson() -> None:
    assert operating.fpr_upper_bound(0, 1000) == pytest.approx(1 - 0.05 ** (1 / 1000))
    assert operating.fpr_upper_bound(0, 1000) == pytest.approx(3 / 1000, rel=0.01)
    assert operating.fpr_upper_bound(5, 5) == 1.0
    assert operating.fpr_upper_bound(10, 1000) > 0.01


def test_ece_is_zero_on_a_calibrated_score() -> None:
    # every bin's accuracy equals its confidence exactly: 0.75 with 3 of 4 right, 0.9 with 9 of 10, 0.6 ...
    p = np.r_[[0.75] * 4, [0.1] * 10, [0.6] * 5]
    labels = np.r_[[1, 1, 1, 0], [1] + [0] * 9, [1, 1, 1, 0, 0]]
    assert calibration.expected_calibration_error(p, labels) == pytest.approx(0.0, abs=1e-12)
    rng = np.random.default_rng(0)
    p = rng.uniform(size=200_000)
    assert calibration.expected_calibration_error(p, rng.uniform(size=p.size) < p) < 0.01


def test_ece_on_a_hand_made_case() -> None:
    # confidences 0.95 (bin 10), 0.95, 0.7 (bin 7: (0.6, 0.7]), 0.8 (bin 8) with 1, 0, 1, 1 right:
    # bin 10: |0.5 - 0.95| x 2/4, bin 7: |1 - 0.7| x 1/4, bin 8: |1 - 0.8| x 1/4
    p, labels = [0.95, 0.05, 0.3, 0.8], [1, 1, 0, 1]
    expected = 0.45 * 2 / 4 + 0.3 / 4 + 0.2 / 4
    assert calibration.expected_calibration_error(p, labels) == pytest.approx(expected)
    diagram = calibration.reliability(p, labels)
    assert diagram.counts.tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 0, 2]


def test_temperature_scaling_calibrates_an_overconfident_score_and_keeps_the_order() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(0, 2, 20_000)
    labels = rng.uniform(size=z.size) < 1 / (1 + np.exp(-z))
    overconfident = 1 / (1 + np.exp(-3 * z))
    temperature = calibration.fit_temperature(overconfident, labels)
    assert temperature == pytest.approx(3.0, rel=0.1)
    rescaled = calibration.apply_temperature(overconfident, temperature)
    assert (
        calibration.expected_calibration_error(rescaled, labels)
        < calibration.expected_calibration_error(overconfident, labels) / 3
    )
    assert forensics.auc(rescaled, labels) == pytest.approx(forensics.auc(overconfident, labels), abs=1e-6)


def _linear_detector(seed: int = 0) -> attacks.Logit:
    weights = torch.randn(3, 8, 8, generator=torch.Generator().manual_seed(seed))
    return lambda x: (x * weights).flatten(1).sum(1)


@pytest.mark.parametrize("epsilon", [1 / 255, 4 / 255, 8 / 255])
def test_pgd_never_leaves_the_epsilon_ball_or_the_unit_range(epsilon: float) -> None:
    images = torch.rand(6, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    images[:, :, 0] = 0.0
    images[:, :, -1] = 1.0
    attacked = attacks.pgd(_linear_detector(), images, epsilon=epsilon, steps=7, step_size=epsilon)
    assert float((attacked - images).abs().max()) <= epsilon + 1e-7
    assert attacked.min() >= 0 and attacked.max() <= 1
    assert (attacked != images).any()


def test_fgsm_on_a_linear_detector_is_minus_epsilon_times_the_sign_of_the_weights() -> None:
    weights = torch.randn(3, 8, 8, generator=torch.Generator().manual_seed(0))
    images = torch.full((2, 3, 8, 8), 0.5)
    attacked = attacks.fgsm(lambda x: (x * weights).flatten(1).sum(1), images, epsilon=2 / 255)
    assert torch.allclose(attacked, images - 2 / 255 * weights.sign().expand_as(images))


def test_pgd_step_projects_around_the_clean_images() -> None:
    clean = torch.full((1, 1, 2, 2), 0.5)
    far = torch.tensor([[[[0.9, 0.1], [0.5, 0.0]]]])
    gradient = torch.tensor([[[[1.0, -1.0], [1.0, -1.0]]]])
    out = attacks.pgd_step(far, gradient, clean, 0.1, 0.05)
    assert torch.allclose(out, torch.tensor([[[[0.6, 0.4], [0.55, 0.4]]]]))


def test_attacked_auc_falls_as_epsilon_grows() -> None:
    # fakes are brighter than reals by 8/255; a detector that reads the brightness
    generator = torch.Generator().manual_seed(0)
    reals = (0.5 + 0.01 * torch.randn(200, 1, 1, 1, generator=generator)).expand(200, 3, 4, 4).clamp(0, 1)
    fakes = (reals + 8 / 255).clamp(0, 1)
    logit = lambda x: 100 * (x.mean(dim=(1, 2, 3)) - 0.5 - 4 / 255)  # noqa: E731
    real_scores = torch.sigmoid(logit(reals))
    labels = forensics.labelled(reals, fakes)[1]
    aucs = []
    for epsilon in (0.0, 2 / 255, 4 / 255, 8 / 255, 16 / 255):
        attacked = attacks.pgd(logit, fakes, epsilon=epsilon, steps=3, seed=0) if epsilon else fakes
        aucs.append(forensics.auc(torch.cat([real_scores, torch.sigmoid(logit(attacked))]), labels))
    assert aucs[0] > 0.9 and aucs[-1] < 0.1
    assert all(a > b for a, b in zip(aucs, aucs[1:])), aucs


def test_a_cnn_as_a_logit_gives_its_scores() -> None:
    generator = torch.Generator().manual_seed(1)
    images = torch.rand(16, 3, 8, 8, generator=generator)
    labels = torch.arange(16) % 2
    for members in (1, 3):
        detector = forensics.CNNDetector(steps=3, members=members, seed=0).fit(images, labels)
        assert torch.allclose(
            torch.sigmoid(attacks.detector_logit(detector)(images)), detector.score(images), atol=1e-5
        )


def test_the_spectral_detector_as_a_logit_gives_its_scores() -> None:
    generator = torch.Generator().manual_seed(2)
    reals = torch.rand(40, 3, 16, 16, generator=generator)
    fakes = forensics.degrade(torch.rand(40, 3, 16, 16, generator=generator), blur=1.0)
    detector = forensics.SpectralDetector("azimuthal").fit(*forensics.labelled(reals, fakes))
    logit = attacks.detector_logit(detector)
    assert torch.allclose(torch.sigmoid(logit(fakes)).float(), detector.score(fakes), atol=1e-5)


def test_mean_logit_is_the_log_odds_of_the_mean_probability() -> None:
    f, g = _linear_detector(0), _linear_detector(1)
    x = torch.rand(4, 3, 8, 8) * 0.1
    p = (torch.sigmoid(f(x)) + torch.sigmoid(g(x))) / 2
    assert torch.allclose(attacks.mean_logit([f, g])(x), torch.log(p / (1 - p)), atol=1e-5)


def test_spectral_correction_moves_the_ring_powers_to_the_reference() -> None:
    generator = torch.Generator().manual_seed(3)
    reals = torch.rand(32, 3, 16, 16, generator=generator) * 0.4 + 0.3
    fakes = forensics.degrade(torch.rand(8, 3, 16, 16, generator=generator) * 0.4 + 0.3, blur=1.0)
    reference = correction.reference_spectrum(reals)
    corrected = correction.spectral_correction(fakes, reference)
    ratio = correction.channel_spectra(corrected)[..., 1:] / reference[None, :, 1:]
    assert float((ratio - 1).abs().median()) < 0.05
    assert torch.allclose(
        corrected.mean(dim=(2, 3)), fakes.mean(dim=(2, 3)), atol=0.01
    )  # the mean kept, but for the clip
    assert torch.allclose(correction.spectral_correction(fakes, reference, strength=0.0), fakes, atol=1e-6)
    with pytest.raises(ValueError, match="reference_spectrum"):
        correction.spectral_correction(fakes, reference[:, :5])


def test_laundering_and_its_cost() -> None:
    images = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    for name in laundering.LAUNDERING:
        out = laundering.launder(images, name)
        assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1
    cost = laundering.perceptual_cost(laundering.launder(images, "blur 1"), images, images)
    assert torch.equal(cost.psnr_clean, cost.psnr_truth)
    assert torch.isinf(cost.baseline_psnr_truth).all() and (cost.ssim_clean < 1).all()
    with pytest.raises(ValueError, match="JPEG 30"):
        laundering.launder(images, "JPEG 10")


def test_adversarial_training_repeats_and_an_ensemble_is_the_mean() -> None:
    generator = torch.Generator().manual_seed(5)
    reals, fakes = (
        torch.rand(32, 3, 8, 8, generator=generator) * 0.5,
        torch.rand(32, 3, 8, 8, generator=generator) * 0.5 + 0.5,
    )
    data = forensics.labelled(reals, fakes)
    first = defences.AdversarialCNNDetector(steps=5, seed=3).fit(*data)
    second = defences.AdversarialCNNDetector(steps=5, seed=3).fit(*data)
    assert first.losses_ == second.losses_
    assert first.losses_ != forensics.CNNDetector(steps=5, seed=3).fit(*data).losses_
    restored = defences.AdversarialCNNDetector.from_state_dict(first.state_dict())
    assert restored.epsilon == first.epsilon and restored.attack_steps == 3
    ensemble = defences.Ensemble([first, second])
    assert torch.allclose(ensemble.score(reals), (first.score(reals) + second.score(reals)) / 2)
    with pytest.raises(TypeError, match="fit each member"):
        ensemble.fit(*data)
