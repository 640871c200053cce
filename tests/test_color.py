"""aelab.color: DeepFaceLab's colour transfer modes recolour a source toward a target."""

import pytest
import torch

from aelab import color


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _smooth_colours(n: int, size: int, centre: tuple[float, float, float], spread: float, seed: int) -> torch.Tensor:
    """In-gamut images: a smooth random colour field around ``centre`` (no clipping needed)."""
    g = _gen(seed)
    coarse = torch.randn(n, 3, 4, 4, generator=g)
    field = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    noise = 0.3 * torch.randn(n, 3, size, size, generator=g)
    field = torch.tanh(field + noise)  # in (-1, 1)
    return torch.tensor(centre).view(1, 3, 1, 1) + spread * field


@pytest.fixture()
def pair() -> tuple[torch.Tensor, torch.Tensor]:
    source = _smooth_colours(3, 32, (0.55, 0.45, 0.40), 0.15, seed=1)
    target = _smooth_colours(3, 32, (0.40, 0.50, 0.60), 0.12, seed=2)
    return source, target


def _covariance(x: torch.Tensor) -> torch.Tensor:
    p = x.flatten(2).double()
    p = p - p.mean(dim=2, keepdim=True)
    return p @ p.transpose(1, 2) / p.shape[2]


def _sliced_wasserstein(x: torch.Tensor, y: torch.Tensor, n_dirs: int = 64) -> float:
    d = torch.randn(n_dirs, 3, generator=_gen(99), dtype=torch.float64)
    d = d / d.norm(dim=1, keepdim=True)
    px = (x.flatten(2).transpose(1, 2).double() @ d.T).sort(dim=1).values
    py = (y.flatten(2).transpose(1, 2).double() @ d.T).sort(dim=1).values
    return (px - py).abs().mean().item()


def _cie_lab(rgb: torch.Tensor) -> torch.Tensor:
    """The CIE formulas for (..., 3) sRGB in [0, 1], D65, OpenCV's matrix: the reference the table stores."""
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = torch.tensor(
        [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]],
        dtype=torch.float64,
    )
    t = linear @ m.T / torch.tensor([0.950456, 1.0, 1.088754], dtype=torch.float64)
    f = torch.where(t > (6 / 29) ** 3, t ** (1 / 3), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return torch.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def test_rgb_to_lab_is_opencvs_float_table() -> None:
    """cv2.cvtColor(float RGB -> Lab) reads a 33^3 table in 1/16384 steps, trilinearly."""
    x = torch.rand(2, 3, 16, 16, generator=_gen(4), dtype=torch.float64)
    lab = color.rgb_to_lab(x)
    # Outputs are whole table steps: L in 100/16384, a and b in 256/16384 (offset by 128).
    steps = torch.tensor([100.0, 256.0, 256.0], dtype=torch.float64).view(1, 3, 1, 1) / 16384
    offset = torch.tensor([0.0, 128.0, 128.0], dtype=torch.float64).view(1, 3, 1, 1)
    units = (lab + offset) / steps
    assert torch.allclose(units, units.round(), atol=1e-6)
    # At the table's nodes (multiples of 1/32) it is the CIE value rounded to a step ...
    nodes = torch.randint(0, 33, (1, 3, 4, 4), generator=_gen(5)).double() / 32
    exact = _cie_lab(nodes.flatten(2).transpose(1, 2)).transpose(1, 2).reshape(nodes.shape)
    assert torch.allclose(color.rgb_to_lab(nodes), exact, atol=0.5 * 256 / 16384 + 1e-9)
    # ... and between them the interpolation departs from the formulas by up to about half a unit.
    between = (color.rgb_to_lab(x) - _cie_lab(x.flatten(2).transpose(1, 2)).transpose(1, 2).reshape(x.shape)).abs()
    assert 0.05 < between.max().item() < 0.8
    red = color.rgb_to_lab(torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1))[0, :, 0, 0]
    assert red.tolist() == pytest.approx([53.24, 80.09, 67.20], abs=0.1)  # the textbook sRGB red


def test_lab_to_rgb_uses_opencvs_constants_and_round_trips() -> None:
    # L <= 8: y = L / 903.3 (OpenCV's rounded (29/3)^3); grey (a = b = 0) has R = G = B = y, then sRGB.
    dark = color.lab_to_rgb(torch.tensor([5.0, 0.0, 0.0], dtype=torch.float64).view(1, 3, 1, 1))[0, :, 0, 0]
    y = 5.0 / 903.3
    assert dark.tolist() == pytest.approx([1.055 * y ** (1 / 2.4) - 0.055] * 3, abs=2e-4)
    x = torch.rand(2, 3, 8, 8, generator=_gen(6))
    assert torch.allclose(color.lab_to_rgb(color.rgb_to_lab(x)), x, atol=5e-3)  # OpenCV's round trip: 3e-3
    white_black = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]).view(1, 3, 1, 2)
    assert torch.allclose(color.lab_to_rgb(color.rgb_to_lab(white_black)), white_black, atol=2e-3)


def test_rct_matches_lab_mean_and_std(pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    source, _ = pair
    # An in-gamut target with other Lab statistics: the source's Lab scaled, shifted and shuffled.
    lab = color.rgb_to_lab(source.double()) * torch.tensor([0.9, 1.3, 0.8]).view(1, 3, 1, 1).double()
    lab = lab + torch.tensor([4.0, -3.0, 5.0]).view(1, 3, 1, 1).double()
    target = color.lab_to_rgb(lab).float()
    assert torch.allclose(color.rgb_to_lab(target.double()), lab, atol=0.6)  # no clipping happened
    target = target.flatten(2)[:, :, torch.randperm(32 * 32, generator=_gen(3))].view_as(target)
    out = color.rct(source, target)
    lab_out, lab_t = color.rgb_to_lab(out).flatten(2), color.rgb_to_lab(target).flatten(2)
    # OpenCV's Lab round trip (its table, its rounded inverse matrix) is off by up to ~0.1 in L, as in DFL.
    assert torch.allclose(lab_out.mean(2), lab_t.mean(2), atol=0.15)
    assert torch.allclose(lab_out.std(2, unbiased=False), lab_t.std(2, unbiased=False), atol=0.15)
    assert not torch.allclose(out, target, atol=0.05)  # the pixels keep the source's layout


@pytest.mark.parametrize("mode", ["lct", "mkl"])
def test_linear_modes_match_mean_and_covariance(mode: str, pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    source, target = pair
    out = color.transfer(source, target, mode)
    assert torch.allclose(out.flatten(2).mean(2), target.flatten(2).mean(2), atol=1e-4)
    assert torch.allclose(_covariance(out), _covariance(target), atol=2e-5)


def test_mkl_is_the_identity_between_equal_distributions(pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    source, _ = pair
    assert torch.allclose(color.mkl(source, source), source, atol=1e-5)


def test_hist_match_matches_per_channel_quantiles(pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    source, target = pair
    out = color.hist_match(source, target)
    assert torch.allclose(out.flatten(2).sort(dim=2).values, target.flatten(2).sort(dim=2).values, atol=1e-6)
    # ranks are kept: the brightest source pixel of a channel stays the brightest
    assert torch.equal(out.flatten(2).argmax(2), source.flatten(2).argmax(2))


@pytest.mark.parametrize("mode", ["idt", "sot"])
def test_random_modes_move_the_distribution_and_are_seeded(mode: str, pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    source, target = pair
    out = color.transfer(source, target, mode, generator=_gen(5))
    before, after = _sliced_wasserstein(source, target), _sliced_wasserstein(out, target)
    assert after < 0.5 * before
    again = color.transfer(source, target, mode, generator=_gen(5))
    assert torch.equal(out, again)


def test_masks_restrict_the_statistics() -> None:
    source = torch.full((1, 3, 16, 16), 0.3)
    source[:, :, :, 8:] = 0.9  # the right half is "background"
    mask = torch.zeros(1, 1, 16, 16)
    mask[:, :, :, :8] = 1.0
    target = torch.full((1, 3, 16, 16), 0.6)
    out = color.lct(source, target, source_mask=mask)
    assert torch.allclose(out[:, :, :, :8], torch.full_like(out[:, :, :, :8], 0.6), atol=1e-4)
    with pytest.raises(ValueError, match="empty"):
        color.rct(source, target, source_mask=torch.zeros_like(mask))


@pytest.mark.parametrize("mode", [*color.CT_MODES, None, "none"])
def test_every_mode_keeps_shape_dtype_and_range(mode: str | None) -> None:
    source = torch.rand(2, 3, 12, 12)
    target = torch.rand(1, 3, 10, 10)  # one target for the batch, another size
    out = color.transfer(source, target, mode, generator=_gen())
    assert out.shape == source.shape and out.dtype == source.dtype
    assert out.min().item() >= 0.0 and out.max().item() <= 1.0
    if mode in (None, "none"):
        assert torch.equal(out, source)


def test_bilateral_filter_is_opencvs_with_d_0() -> None:
    """cv2.bilateralFilter(d=0): a circular window of radius round(1.5 sigma_space), Gaussian in space and colour."""
    impulse = torch.zeros(1, 3, 64, 64)
    impulse[0, :, 32, 32] = 1.0
    spread = color.bilateral_filter(impulse, 1e6, 16.0)  # colour term flat: a spatial Gaussian only
    reached = spread[0, 0] > 0
    rows, cols = reached.nonzero().T
    assert (rows.min().item(), rows.max().item()) == (8, 56)  # radius 24 along the axes
    assert reached[32 - 24, 32] and not reached[32 - 17, 32 - 17]  # 17^2 + 17^2 > 24^2: outside the circle
    space = torch.exp(-torch.tensor([0.0, 10.0**2]) / (2 * 16.0**2))
    assert (spread[0, 0, 32, 42] / spread[0, 0, 32, 32]).item() == pytest.approx((space[1] / space[0]).item(), rel=1e-5)
    # The colour term keeps an edge: pixels across a step of 1 weigh exp(-(3 * 1)^2 / (2 * 0.1^2)) ~ 0.
    step = torch.zeros(1, 3, 32, 32)
    step[..., 16:] = 1.0
    assert torch.allclose(color.bilateral_filter(step, 0.1, 16.0), step, atol=1e-6)
    flat = torch.full((1, 3, 8, 8), 0.25)
    assert torch.equal(color.bilateral_filter(flat, 5.0, 16.0), flat)  # OpenCV copies a flat image


def test_dfl_training_modes_and_the_hist_match_extension() -> None:
    assert color.DFL_CT_MODES == ("rct", "lct", "mkl", "idt", "sot")  # Model_SAEHD's ct_mode choices
    assert color.CT_MODES == (*color.DFL_CT_MODES, "hist_match")
    assert "extension" in (color.hist_match.__doc__ or "")


def test_unknown_mode_lists_the_allowed_ones() -> None:
    x = torch.rand(1, 3, 4, 4)
    with pytest.raises(ValueError, match="rct, lct, mkl, idt, sot, hist_match"):
        color.transfer(x, x, "fs-aug")
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        color.transfer(x[:, :1], x, "rct")
