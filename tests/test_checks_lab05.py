"""Lab 05's checks (``aelab.checks.lab05``) and :mod:`aelab.appearance`: the references pass, the usual
mistakes fail with a message that names them, tampered evidence fails without raising (unfinished
exercises: test_checks_labs.py); the measures have their defining properties."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from checks_support import verdict

from aelab import appearance, color, losses
from aelab.checks import lab05
from aelab.course import lab05 as recipe
from aelab.data import faces
from aelab.forensics.spectra import luminance


@pytest.mark.parametrize("name", lab05.__all__)
@pytest.mark.parametrize("evidence", [None, 3, "nan", {}, {"0.25": "x"}, [[1.0]], [1, 2]])
def test_tampered_evidence_fails_without_raising(name: str, evidence: Any) -> None:
    assert not getattr(lab05, name).judge(evidence).passed


def _student_rct(scale: str = "t/s", ddof: int = 0, threshold: float | None = None, masked: bool = True) -> Any:
    """rct as a student writes it (float64 in L*a*b*), right or with one of the catalogue's mistakes."""

    def rct(
        source: torch.Tensor, target: torch.Tensor, source_mask: torch.Tensor, target_mask: torch.Tensor
    ) -> torch.Tensor:
        def stats(lab: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            mask = torch.ones_like(mask) if not masked else mask if threshold is None else (mask > threshold).double()
            weight = mask.sum(dim=(2, 3), keepdim=True)
            mean = (lab * mask).sum(dim=(2, 3), keepdim=True) / weight
            return mean, (((lab - mean) ** 2) * mask).sum(dim=(2, 3), keepdim=True).div(weight - ddof).sqrt()

        lab_s, lab_t = color.rgb_to_lab(source.double()), color.rgb_to_lab(target.double())
        (mean_s, std_s), (mean_t, std_t) = stats(lab_s, source_mask.double()), stats(lab_t, target_mask.double())
        lab = (lab_s - mean_s) * (std_t / std_s if scale == "t/s" else std_s / std_t) + mean_t
        low = torch.tensor([0.0, -127.0, -127.0], dtype=lab.dtype).view(1, 3, 1, 1)
        high = torch.tensor([100.0, 127.0, 127.0], dtype=lab.dtype).view(1, 3, 1, 1)
        return color.lab_to_rgb(torch.maximum(torch.minimum(lab, high), low)).float()

    return rct


def test_rct_reference_passes_and_the_sample_std_is_named() -> None:
    for right in (lambda s, t, sm, tm: color.rct(s, t, source_mask=sm, target_mask=tm), _student_rct()):
        feedback = verdict(lab05.check_rct, right)
        assert feedback.passed and "sample" not in feedback.message
    feedback = verdict(lab05.check_rct, _student_rct(ddof=1))  # harmless here: passes, and says which std DFL uses
    assert (
        feedback.passed and "with the sample standard deviation (n - 1); DFL's is the population's" in feedback.message
    )


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_student_rct(masked=False), "your statistics use every pixel: weight the means and deviations by the masks"),
        (lambda s, t, sm, tm: s, "your output is the source unchanged"),
        (_student_rct(scale="s/t"), "your scale is inverted: multiply (x - mean_s) by std_t / std_s"),
        (_student_rct(scale="s/t", ddof=1), "your scale is inverted"),
        (_student_rct(threshold=0.5), "your statistics count masked pixels as 0 or 1: weight each pixel by its mask"),
        (_student_rct(threshold=0.0, ddof=1), "your statistics count masked pixels as 0 or 1"),
        (
            lambda s, t, sm, tm: color.lab_to_rgb(color.rgb_to_lab(_student_rct()(s, t, sm, tm).double()) + 5).float(),
            "from the reference (work in L*a*b*",
        ),
    ],
)
def test_rct_mistakes_are_named(wrong: Any, message: str) -> None:
    feedback = verdict(lab05.check_rct, wrong)
    assert not feedback.passed and message in feedback.message, feedback.message


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


def _student_hf_energy(mean_removed: bool = True, bins: bool = False) -> Any:
    """hf_energy as a student writes it, right or with one of the catalogue's mistakes."""

    def hf_energy(images: torch.Tensor, cutoff: float = 0.25) -> torch.Tensor:
        grey = luminance(images)
        grey = grey - grey.mean(dim=(1, 2), keepdim=True) if mean_removed else grey
        power = torch.fft.fft2(grey).abs() ** 2
        f = torch.fft.fftfreq(images.shape[2], dtype=torch.float64) * (images.shape[2] if bins else 1)
        high = (f[:, None] ** 2 + f[None, :] ** 2).sqrt() > cutoff
        return (power * high).flatten(1).sum(1) / power.flatten(1).sum(1)

    return hf_energy


def test_hf_energy_reference_passes() -> None:
    assert verdict(lab05.check_hf_energy, appearance.high_frequency_energy).passed
    assert verdict(lab05.check_hf_energy, _student_hf_energy()).passed


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (
            lambda x, c: appearance.high_frequency_energy(x, c) * 1e3,
            "your measure exceeds 1: divide by the total power",
        ),
        (_student_hf_energy(mean_removed=False), "your shares are far too small: remove each grey image's mean"),
        (_student_hf_energy(bins=True), "your radius is in frequency bins: compare cycles per pixel"),
        (
            _student_hf_energy(mean_removed=False, bins=True),
            "your radius is in frequency bins and the mean is not removed",
        ),
        (lambda x, c: appearance.high_frequency_energy(x, 2 * c), "your shares are up to"),
    ],
)
def test_hf_energy_mistakes_are_named(wrong: Any, message: str) -> None:
    feedback = verdict(lab05.check_hf_energy, wrong)
    assert not feedback.passed and message in feedback.message, feedback.message


def test_measures_rank_blurred_below_sharp() -> None:
    images = faces.render(4, resolution=32, domain="mixed", seed=3).images
    blurred = losses.gaussian_blur(images, 1.5, border="replicate")
    assert (appearance.high_frequency_energy(blurred) < appearance.high_frequency_energy(images)).all()
    assert (appearance.edge_ratio(blurred, images) < 1).all()
    assert torch.allclose(appearance.edge_ratio(images, images), torch.ones(4))
    mask = torch.ones(4, 1, 32, 32)
    assert torch.allclose(appearance.lab_error(images, images, mask), torch.zeros(4))
    spectrum, spectrum_blurred = recipe.spectrum(images), recipe.spectrum(blurred)
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
