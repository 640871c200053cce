"""aelab.losses: SSIM against scikit-image, DSSIM, SAEHD's loss terms and their weights."""

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from aelab import losses


def _skimage_ssim(x: torch.Tensor, y: torch.Tensor) -> float:
    """scikit-image's Gaussian SSIM averaged over the batch (window 11 = sigma 1.5, truncate 3.5)."""
    values = [
        structural_similarity(
            a.permute(1, 2, 0).double().numpy(),
            b.permute(1, 2, 0).double().numpy(),
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1.0,
            channel_axis=-1,
        )
        for a, b in zip(x, y)
    ]
    return float(np.mean(values))


def _structured(n: int, size: int = 48) -> torch.Tensor:
    """Smooth gradients, a disc and stripes: images with structure at several scales."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    disc = (((xx - 0.5) ** 2 + (yy - 0.5) ** 2) < 0.1).float()
    stripes = 0.5 + 0.5 * torch.sin(12 * xx + 3 * yy)
    base = torch.stack([xx, disc, stripes])
    return torch.stack([base.roll(i, dims=-1) for i in range(n)])


@pytest.mark.parametrize("kind", ["random", "structured"])
def test_ssim_matches_scikit_image(kind: str) -> None:
    if kind == "random":
        x = torch.rand(3, 3, 40, 40)
        y = (x + 0.2 * torch.randn_like(x)).clamp(0, 1)
    else:
        x = _structured(3)
        y = (0.8 * x + 0.1 + 0.05 * torch.randn_like(x)).clamp(0, 1)
    ours = losses.ssim(x, y, kernel_size=11, sigma=1.5).item()
    assert ours == pytest.approx(_skimage_ssim(x, y), abs=1e-3)
    per_sample = losses.ssim(x, y, reduction="none")
    assert per_sample.shape == (3,)
    assert per_sample.mean().item() == pytest.approx(ours, abs=1e-6)


def test_ssim_of_identical_images_is_one_and_dssim_zero() -> None:
    x = torch.rand(2, 3, 32, 32)
    assert losses.ssim(x, x).item() == pytest.approx(1.0, abs=1e-5)
    assert losses.dssim(x, x, kernel_size=5).item() == pytest.approx(0.0, abs=1e-5)
    y = torch.rand(2, 3, 32, 32)
    assert losses.dssim(x, y).item() == pytest.approx((1 - losses.ssim(x, y).item()) / 2, abs=1e-6)


def test_gaussian_window_is_dfl_softmax_window() -> None:
    for size in (5, 8, 11):
        w = losses.gaussian_window(size, 1.5)
        assert w.shape == (size,)
        assert w.sum().item() == pytest.approx(1.0, abs=1e-6)
        assert torch.allclose(w, w.flip(0))  # centred at (size - 1) / 2, even sizes too
        d = np.arange(size) - (size - 1) / 2
        dfl_2d = np.exp(-(d[:, None] ** 2 + d[None, :] ** 2) / (2 * 1.5**2))
        dfl_2d /= dfl_2d.sum()  # nn.dssim: softmax of the 2-D exponent
        assert np.allclose(np.outer(w.numpy(), w.numpy()), dfl_2d, atol=1e-7)


def test_dfl_kernel_size() -> None:
    assert [losses.dfl_kernel_size(r) for r in (64, 96, 128, 256)] == [5, 8, 11, 22]


def test_reconstruction_loss_weights() -> None:
    t = torch.rand(4, 3, 64, 64)
    p = torch.rand(4, 3, 64, 64)
    assert losses.reconstruction_loss(t, t, 64).item() == pytest.approx(0.0, abs=1e-5)
    expected = 10 * losses.dssim(t, p, kernel_size=5) + 10 * losses.mse(t, p)
    assert losses.reconstruction_loss(t, p, 64).item() == pytest.approx(expected.item(), rel=1e-5)


def test_reconstruction_loss_two_windows_from_256() -> None:
    t = torch.rand(1, 3, 256, 256)
    p = (t + 0.1 * torch.randn_like(t)).clamp(0, 1)
    expected = 5 * losses.dssim(t, p, kernel_size=22) + 5 * losses.dssim(t, p, kernel_size=11) + 10 * losses.mse(t, p)
    assert losses.reconstruction_loss(t, p, 256).item() == pytest.approx(expected.item(), rel=1e-5)


def test_blur_mask_range_shape_and_plateau() -> None:
    mask = torch.zeros(2, 1, 64, 64)
    mask[:, :, 16:48, 16:48] = 1.0
    blurred = losses.blur_mask(mask, 64)
    assert blurred.shape == mask.shape
    assert blurred.min().item() >= 0.0 and blurred.max().item() <= 1.0
    assert blurred[0, 0, 32, 32].item() == pytest.approx(1.0)  # deep inside: 1
    assert blurred[0, 0, 2, 2].item() == 0.0  # far outside: 0
    edge = blurred[0, 0, 32, 12:20]
    assert ((edge > 0) & (edge < 1)).any()  # a soft ramp across the edge


@pytest.mark.parametrize(("sigma", "taps"), [(1.0, 5), (1.25, 5), (1.5, 7), (2.0, 9), (0.5, 3), (2.6, 11)])
def test_gaussian_blur_matches_dfl_kernel_size(sigma: float, taps: int) -> None:
    """nn.gaussian_blur: max(3, int(2 * 2 * sigma)) taps, plus 1 when even (1.25 -> int(5.0) = 5)."""
    impulse = torch.zeros(1, 1, 21, 21)
    impulse[0, 0, 10, 10] = 1.0
    spread = losses.gaussian_blur(impulse, sigma)
    support = (spread[0, 0, 10] > 0).nonzero().flatten()
    assert support.max().item() - support.min().item() + 1 == taps
    assert support.min().item() == 10 - taps // 2  # centred at kernel_size // 2
    assert spread.sum().item() == pytest.approx(1.0, abs=1e-6)
    # The 2-D kernel is the outer product of the normalised 1-D window: the middle row is w * w[centre].
    d = torch.arange(taps, dtype=torch.float64) - taps // 2
    window = torch.exp(-(d**2) / (2 * sigma**2))
    window = window / window.sum()
    row = spread[0, 0, 10, 10 - taps // 2 : 11 + taps // 2].double()
    assert torch.allclose(row, window * window[taps // 2], atol=1e-6)


def test_eyes_mouth_loss_sees_only_the_region() -> None:
    t = torch.rand(2, 3, 32, 32)
    em = torch.zeros(2, 1, 32, 32)
    em[:, :, 10:14, 8:24] = 1.0
    p = t.clone()
    p[:, :, :8] = 0.0  # changes outside the eyes/mouth region only
    assert losses.eyes_mouth_loss(t, p, em).item() == 0.0
    p2 = t.clone()
    p2[:, :, 10:14, 8:24] += 0.1
    assert losses.eyes_mouth_loss(t, p2, em).item() == pytest.approx(300 * 0.1 * 64 * 3 / (3 * 32 * 32), rel=1e-4)


def test_mask_loss_and_kl() -> None:
    m = torch.rand(3, 1, 16, 16)
    assert losses.mask_loss(m, m).item() == 0.0
    assert losses.mask_loss(m, torch.zeros_like(m)).item() == pytest.approx(10 * (m**2).mean().item(), rel=1e-5)
    zeros = torch.zeros(5, 8)
    assert losses.kl_divergence(zeros, zeros).item() == 0.0
    mu = torch.ones(5, 8)
    assert losses.kl_divergence(mu, zeros).item() == pytest.approx(0.5 * 8)  # summed over dims


def test_saehd_loss_assembles_the_terms() -> None:
    t, p = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    tm = torch.zeros(2, 1, 64, 64)
    tm[:, :, 8:56, 8:56] = 1.0
    pm, em = torch.rand(2, 1, 64, 64), torch.zeros(2, 1, 64, 64)
    em[:, :, 20:28] = 1.0
    terms = losses.saehd_loss(t, p, tm, pm, 64, em_mask=em, eyes_prio=True)
    assert set(terms) == {"dssim", "mse", "eyes_mouth", "mask", "total"}
    total = terms["dssim"] + terms["mse"] + terms["eyes_mouth"] + terms["mask"]
    assert terms["total"].item() == pytest.approx(total.item(), rel=1e-6)
    w = losses.blur_mask(tm, 64)
    expected = losses.reconstruction_loss(losses.masked(t, w), losses.masked(p, w), 64)
    assert (terms["dssim"] + terms["mse"]).item() == pytest.approx(expected.item(), rel=1e-5)
    assert terms["eyes_mouth"].item() == pytest.approx(losses.eyes_mouth_loss(t, p, em).item())
    assert terms["mask"].item() == pytest.approx(losses.mask_loss(tm, pm).item())

    plain = losses.saehd_loss(t, p, tm, pm, 64, masked_training=False, learn_mask=False, reduction="none")
    assert plain["total"].shape == (2,)
    assert torch.allclose(plain["total"], losses.reconstruction_loss(t, p, 64, reduction="none"))
    assert plain["eyes_mouth"].eq(0).all() and plain["mask"].eq(0).all()


def test_loss_gradients_flow() -> None:
    p = torch.rand(2, 3, 64, 64, requires_grad=True)
    losses.reconstruction_loss(torch.rand(2, 3, 64, 64), p, 64).backward()
    assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


def test_errors_name_the_problem() -> None:
    x = torch.rand(2, 3, 16, 16)
    with pytest.raises(ValueError, match="same shape"):
        losses.ssim(x, torch.rand(2, 3, 16, 8))
    with pytest.raises(ValueError, match="kernel_size"):
        losses.ssim(x, x, kernel_size=32)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        losses.mse(x[0], x[0])
    with pytest.raises(ValueError, match="reduction"):
        losses.mse(x, x, reduction="sum")
    with pytest.raises(ValueError, match="em_mask"):
        losses.saehd_loss(x, x, x[:, :1], x[:, :1], 16, eyes_prio=True)
    with pytest.raises(ValueError, match="one channel"):
        losses.blur_mask(x, 64)
