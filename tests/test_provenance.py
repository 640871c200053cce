"""aelab.provenance and lab 10's shipped files: the binomial test against scipy.stats, the extractor on
signed swaps against chance elsewhere, the laundering chain, the DWT-DCT baseline and the C2PA manifest
that verifies, then is gone after one re-encode while the built-in watermark survives."""

from __future__ import annotations

import pytest
import torch
from scipy import stats as scipy_stats

from aelab import assets, models
from aelab.course import lab10
from aelab.data import faces
from aelab.forensics.degrade import compress, png_roundtrip
from aelab.provenance import attacks, detection, distortions, manifest, posthoc


@pytest.mark.parametrize("k", [8, 16, 30, 32, 48, 64])
@pytest.mark.parametrize("fpr", [0.05, 1e-3, 1e-6, 1e-9])
def test_threshold_is_the_smallest_count_whose_binomial_tail_reaches_the_fpr(k: int, fpr: float) -> None:
    t = detection.threshold(k, fpr)
    if t <= k:
        assert scipy_stats.binom.sf(t - 1, k, 0.5) <= fpr < scipy_stats.binom.sf(t - 2, k, 0.5)
        assert detection.false_positive_rate(k, t) == pytest.approx(scipy_stats.binom.sf(t - 1, k, 0.5))
    else:
        assert 0.5**k > fpr
    assert detection.threshold(48, 1e-6) == 41


def test_decisions_count_matching_bits_read_at_logit_zero() -> None:
    key = torch.tensor([1, 0, 1, 1])
    logits = torch.tensor([[0.1, -0.1, 2.0, 3.0], [0.4, 0.2, -1.0, 1.0], [-1.0, 1.0, -1.0, -1.0]])
    assert detection.matching_bits(logits, key).tolist() == [4, 2, 0]
    assert detection.detect(logits, key, 2).tolist() == [True, True, False]
    assert detection.bit_accuracy(logits, key).tolist() == [1.0, 0.5, 0.0]
    assert detection.p_value(torch.tensor([4]), 4).item() == pytest.approx(1 / 16)
    with pytest.raises(ValueError, match="key has 3 bits"):
        detection.matching_bits(logits, key[:3])


def test_the_laundering_chain_keeps_the_shape_but_for_crops() -> None:
    x = faces.render(4, resolution=32, domain="B", seed=0).images
    for name, strengths in distortions.STRENGTHS.items():
        out = distortions.launder(x, name, strengths[-1])
        assert out.shape == ((4, 3, 16, 16) if name == "crop" else x.shape)
        assert 0 <= out.min() and out.max() <= 1
    with pytest.raises(ValueError, match="name"):
        distortions.launder(x, "rotate", 1.0)


@pytest.fixture(scope="module")
def lab() -> dict:
    """Lab 10's shipped extractor and signed LIAE, the unsigned LIAE, and 64 held-out dst faces."""
    load = lambda name: torch.load(assets.path(name), weights_only=True)  # noqa: E731
    liae_state = load("lab03/liae.pt")
    dst = faces.render(64, resolution=32, domain="B", seed=7)
    with torch.no_grad():
        signed = lab10.load_signed(liae_state, load("lab10/signed.pt")).swap(dst.images).pred_src_dst
        unsigned = models.from_checkpoint(liae_state).swap(dst.images).pred_src_dst
    return {
        "extractor": lab10.load_extractor(load("lab10/extractor.pt")),
        "key": lab10.key(),
        "signed": signed,
        "unsigned": unsigned,
        "real": dst.images,
    }


def test_the_extractor_reads_the_key_on_signed_swaps_and_chance_elsewhere(lab: dict) -> None:
    with torch.no_grad():
        read = {name: lab["extractor"](lab[name]) for name in ("signed", "unsigned", "real")}
    t = detection.threshold(lab10.BITS, lab10.FPR)
    assert detection.bit_accuracy(read["signed"], lab["key"]).mean() >= 0.99
    assert detection.detect(read["signed"], lab["key"], t).all()
    for name in ("unsigned", "real"):
        assert abs(detection.bit_accuracy(read[name], lab["key"]).mean().item() - 0.5) < 0.1
        assert not detection.detect(read[name], lab["key"], t).any()


def test_pgd_and_averaging_attack_the_key(lab: dict) -> None:
    x = lab["signed"][:8]
    pushed = attacks.pgd_remove(lab["extractor"], x, lab["key"], eps=8 / 255, steps=5)
    assert (pushed - x).abs().max() <= 8 / 255 + 1e-6
    with torch.no_grad():
        before = detection.bit_accuracy(lab["extractor"](x), lab["key"]).mean()
        after = detection.bit_accuracy(lab["extractor"](pushed), lab["key"]).mean()
    assert after < before
    pattern = attacks.average_pattern(lab["signed"], lab["unsigned"])
    assert pattern.shape == (1, 3, 32, 32)
    assert torch.equal(attacks.subtract_pattern(x, torch.zeros_like(pattern)), x)


def test_the_dwt_dct_watermark_reads_back_on_its_published_image(lab: dict) -> None:
    """Far above chance, not perfect: DWT-DCT loses bits in the flat blocks of upscaled 32-px faces."""
    published = posthoc.embed(posthoc.publish(lab["unsigned"][:8]), lab["key"])
    assert published.shape == (8, 3, posthoc.SIZE, posthoc.SIZE)
    assert (posthoc.read(published, lab10.BITS) == lab["key"].bool()).float().mean() >= 0.65
    assert (posthoc.read(posthoc.publish(lab["unsigned"][:8]), lab10.BITS) == lab["key"].bool()).float().mean() < 0.6


def test_a_c2pa_manifest_verifies_then_is_gone_after_a_re_encode_while_the_watermark_stays(lab: dict) -> None:
    one = lab["signed"][:1]
    signed_png = manifest.sign_png(manifest.png_bytes(one), manifest.test_credentials())
    state, codes = manifest.verify(signed_png)
    assert state == "Valid" and codes == ["signingCredential.untrusted"]
    assert manifest.verify(manifest.png_bytes(png_roundtrip(one))) == ("missing", [])
    assert manifest.verify(manifest.png_bytes(compress(one, 90))) == ("missing", [])
    t = detection.threshold(lab10.BITS, lab10.FPR)
    with torch.no_grad():
        assert detection.detect(lab["extractor"](png_roundtrip(one)), lab["key"], t).all()
        assert detection.detect(lab["extractor"](compress(one, 90)), lab["key"], t).all()
