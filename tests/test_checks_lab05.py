"""Lab 05's checks (``aelab.checks.lab05``) and :mod:`aelab.appearance`: the references pass, the usual
mistakes fail with a message that names them, tampered evidence fails without raising (unfinished
exercises: test_checks_labs.py); the measures have their defining properties."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

from aelab import appearance, color, losses
from aelab.assets import make_lab05
from aelab.checks import lab05
from aelab.data import faces
from aelab.forensics.spectra import luminance
from checks_support import verdict


@pytest.mark.parametrize("name", lab05.__all__)
@pytest.mark.parametrize("evidence", [None, 3, "nan", {}, {"0.25": "x"}, [[1.0]], [1, 2]])
def test_tampered_evidence_fails_without_raising(name: str, evidence: Any) -> None:
    assert not getattr(lab05, name).judge(evidence).passed


def test_rct_reference_passes_and_mistakes_are_named() -> None:
    assert verdict(lab05.check_rct, lambda s, t, sm, tm: color.rct(s, t, source_mask=sm, target_mask=tm)).passed
    feedback = verdict(lab05.check_rct, lambda s, t, sm, tm: color.rct(s, t))
    assert not feedback.passed and "weight the means" in feedback.message
    feedback = verdict(lab05.check_rct, lambda s, t, sm, tm: s)
    assert not feedback.passed and "unchanged" in feedback.message


def _bce(x: torch.Tensor, label: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(x, torch.full_like(x, label), reduction="none").flatten(1).mean(1)


def _d_loss(rc: torch.Tensor, rp: torch.Tensor, fc: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    return (_bce(rc, 1.0) + _bce(fc, 0.0)) / 2 + (_bce(rp, 1.0) + _bce(fp, 0.0)) / 2


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda rc, rp, fc, fp: (_bce(rc, 1.0) + _bce(fc, 0.0)) / 2, "centre head only"),
        (lambda rc, rp, fc, fp: (_bce(rp, 1.0) + _bce(fp, 0.0)) / 2, "per-pixel head only"),
        (lambda rc, rp, fc, fp: 2 * _d_loss(rc, rp, fc, fp), "twice DFL's"),
        (lambda rc, rp, fc, fp: _d_loss(fc, fp, rc, rp), "labels are reversed"),
        (lambda rc, rp, fc, fp: _d_loss(rc, rp, fc, fp).mean(), "one number per sample"),
    ],
)
def test_patch_d_loss_mistakes_are_named(wrong: Any, message: str) -> None:
    assert verdict(lab05.check_patch_d_loss, _d_loss).passed
    feedback = verdict(lab05.check_patch_d_loss, wrong)
    assert not feedback.passed and message in feedback.message


def test_hf_energy_reference_passes_and_an_unnormalised_power_fails() -> None:
    assert verdict(lab05.check_hf_energy, appearance.high_frequency_energy).passed
    feedback = verdict(lab05.check_hf_energy, lambda x, c: appearance.high_frequency_energy(x, c) * 1e3)
    assert not feedback.passed and "exceeds 1" in feedback.message


def test_measures_rank_blurred_below_sharp() -> None:
    images = faces.render(4, resolution=32, domain="mixed", seed=3).images
    blurred = losses.gaussian_blur(images, 1.5, border="replicate")
    assert (appearance.high_frequency_energy(blurred) < appearance.high_frequency_energy(images)).all()
    assert (appearance.edge_ratio(blurred, images) < 1).all()
    assert torch.allclose(appearance.edge_ratio(images, images), torch.ones(4))
    mask = torch.ones(4, 1, 32, 32)
    assert torch.allclose(appearance.lab_error(images, images, mask), torch.zeros(4))
    spectrum, spectrum_blurred = make_lab05.spectrum(images), make_lab05.spectrum(blurred)
    assert len(spectrum) == 23 and spectrum_blurred[-1] < spectrum[-1]  # rings of radius 0 .. 22 at 32 px


def test_hf_energy_is_the_share_above_the_cutoff_with_the_mean_removed() -> None:
    images = faces.render(3, resolution=32, domain="mixed", seed=4).images
    grey = luminance(images)
    power = torch.fft.fft2(grey - grey.mean(dim=(1, 2), keepdim=True)).abs() ** 2
    f = torch.fft.fftfreq(32, dtype=torch.float64)
    high = (f[:, None] ** 2 + f[None, :] ** 2).sqrt() > 0.25
    share = (power * high).flatten(1).sum(1) / power.flatten(1).sum(1)
    assert torch.allclose(appearance.high_frequency_energy(images).double(), share, atol=1e-6)
    flat = torch.full((2, 3, 32, 32), 0.5)
    assert torch.equal(appearance.high_frequency_energy(flat), torch.zeros(2))
