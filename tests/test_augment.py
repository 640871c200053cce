"""aelab.augment: DeepFaceLab's random affine, flip and warp, batched and seeded."""

import pytest
import torch

from aelab import augment


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _face_like(n: int = 8, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose first channel equals a mask that is zero near the border."""
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    mask = ((xx / 0.6) ** 2 + (yy / 0.7) ** 2 < 1).float()[None, None].repeat(n, 1, 1, 1)
    rest = torch.rand(n, 2, size, size)
    return torch.cat([mask, rest], dim=1), mask


def test_shapes_range_and_determinism() -> None:
    images, mask = _face_like()
    a = augment.augment_batch(images, [mask, mask * 0.5], generator=_gen(1))
    b = augment.augment_batch(images, [mask, mask * 0.5], generator=_gen(1))
    c = augment.augment_batch(images, [mask, mask * 0.5], generator=_gen(2))
    assert a.warped.shape == a.target.shape == images.shape
    assert [m.shape for m in a.masks] == [mask.shape, mask.shape]
    for t in (a.warped, a.target, *a.masks):
        assert t.min().item() >= 0.0 and t.max().item() <= 1.0
    assert torch.equal(a.warped, b.warped) and torch.equal(a.target, b.target)
    assert not torch.allclose(a.warped, c.warped)
    assert not torch.allclose(a.warped, a.target)  # the warp moves the input only


def test_masks_move_exactly_like_the_image() -> None:
    images, mask = _face_like()
    out = augment.augment_batch(images, [mask], generator=_gen(3))
    # Same parameters; masks are filtered bilinearly (SampleProcessor's cv2.INTER_LINEAR), images bicubically.
    as_mask = augment.warp_by_params(
        images, out.params, can_warp=False, can_transform=True, can_flip=True, border_replicate=True,
        interpolation="bilinear",
    )
    assert torch.allclose(as_mask[:, :1], out.masks[0], atol=1e-6)
    assert (out.target[:, :1] - out.masks[0]).abs().mean() < 0.02  # the filters differ at edges only


def test_images_are_filtered_bicubically_like_dfl() -> None:
    """cv2.INTER_CUBIC keeps fine detail that bilinear filtering blurs, and the result is clipped to [0, 1]."""
    stripes = (torch.arange(32.0) % 2).expand(1, 1, 32, 32).contiguous()  # finest vertical stripes
    params = augment.gen_warp_params(1, 32, generator=_gen(), flip=False, rotation_range=(0, 0),
                                     scale_range=(0, 0), tx_range=(0.25 / 32, 0.25 / 32), ty_range=(0, 0))
    kwargs = dict(can_warp=False, can_transform=True, can_flip=False, border_replicate=True)
    cubic = augment.warp_by_params(stripes, params, **kwargs)
    linear = augment.warp_by_params(stripes, params, **kwargs, interpolation="bilinear")
    contrast = {name: float(x[..., 4:-4].amax() - x[..., 4:-4].amin()) for name, x in (("cubic", cubic), ("linear", linear))}
    assert contrast["cubic"] > contrast["linear"] + 0.05, contrast
    assert cubic.min() >= 0.0 and cubic.max() <= 1.0
    with pytest.raises(ValueError, match="interpolation must be one of 'bicubic', 'bilinear'"):
        augment.warp_by_params(stripes, params, **kwargs, interpolation="lanczos")


def test_warp_off_gives_the_target() -> None:
    images, mask = _face_like()
    out = augment.augment_batch(images, [mask], generator=_gen(4), random_warp=False)
    assert torch.equal(out.warped, out.target)


def test_zero_strength_warp_and_zero_affine_are_identity() -> None:
    images = torch.rand(4, 3, 24, 24)
    assert torch.allclose(augment.random_warp(images, generator=_gen(), strength=0.0), images, atol=1e-5)
    still = augment.random_affine(
        images, generator=_gen(), rotation_range=(0, 0), scale_range=(0, 0), tx_range=(0, 0), ty_range=(0, 0)
    )
    assert torch.allclose(still, images, atol=1e-5)


def test_flip_probability_is_dfl_04() -> None:
    params = augment.gen_warp_params(4000, 8, generator=_gen(5))
    assert params.flip.float().mean().item() == pytest.approx(0.4, abs=0.03)
    assert not augment.gen_warp_params(100, 8, generator=_gen(5), flip=False).flip.any()


def test_random_flip_mirrors_or_keeps() -> None:
    images = torch.rand(64, 3, 8, 8)
    out = augment.random_flip(images, generator=_gen(6))
    mirrored = (out == images.flip(-1)).flatten(1).all(1)
    kept = (out == images).flatten(1).all(1)
    assert (mirrored | kept).all() and mirrored.any() and kept.any()


def test_rotation_follows_opencv_direction_and_shift() -> None:
    size = 33
    image = torch.zeros(1, 1, size, size)
    image[0, 0, 16, 28] = 1.0  # right of the centre
    turned = augment.random_affine(
        image, generator=_gen(), rotation_range=(90, 90), scale_range=(0, 0), tx_range=(0, 0), ty_range=(0, 0)
    )
    row, col = divmod(int(turned.argmax()), size)
    assert (row, col) == (4, 16)  # cv2.getRotationMatrix2D(+90): counter-clockwise, to the top
    shifted = augment.random_affine(
        image, generator=_gen(), rotation_range=(0, 0), scale_range=(0, 0), tx_range=(-2 / 33, -2 / 33),
        ty_range=(0, 0),
    )
    assert divmod(int(shifted.argmax()), size) == (16, 26)


def test_warp_displacement_is_bounded_by_dfl_strength() -> None:
    params = augment.gen_warp_params(32, 64, generator=_gen(7))
    # |move| <= 0.24 * cell, cell <= w / 2: at most 0.12 of the width, 0.24 in normalised units.
    assert params.flow.abs().max().item() <= 0.24 + 1e-6
    assert params.flow.abs().max().item() > 0.01
    assert params.theta.shape == (32, 2, 3) and params.flow.shape == (32, 2, 64, 64)


def test_errors_name_the_problem() -> None:
    images = torch.rand(2, 3, 16, 16)
    with pytest.raises(ValueError, match="square"):
        augment.augment_batch(torch.rand(2, 3, 16, 8), generator=_gen())
    with pytest.raises(ValueError, match="masks\\[0\\]"):
        augment.augment_batch(images, [torch.rand(3, 1, 16, 16)], generator=_gen())
    with pytest.raises(ValueError, match="rotation_range"):
        augment.gen_warp_params(2, 16, generator=_gen(), rotation_range=(5, -5))
    with pytest.raises(TypeError, match="generator"):
        augment.gen_warp_params(2, 16, generator=0)  # type: ignore[arg-type]
    params = augment.gen_warp_params(2, 16, generator=_gen())
    with pytest.raises(ValueError, match="does not match"):
        augment.warp_by_params(
            torch.rand(2, 3, 32, 32), params, can_warp=True, can_transform=True, can_flip=True, border_replicate=True
        )
