"""aelab.augment: SAEHD's sample augmentation as DeepFaceLab computes it, batched and seeded.

The reference numbers are derived from DeepFaceLab's code (core/imagelib/warp.py gen_warp_params,
warp_by_params; samplelib/SampleProcessor.py), not measured from the kit:

- scale ~ U(1 / (1 - lo), 1 + hi) with SAEHD's scale_range (-0.15, 0.15): U(0.8696, 1.15), sd
  (1.15 - 1 / 1.15) / sqrt(12) = 0.0810.
- randomex.random_normal: N(0, 1) truncated at +-2.5, divided by 2.5: variance
  (1 - 5 phi(2.5) / (2 Phi(2.5) - 1)) / 6.25 = 0.14580.
- The warp at 64 px: cells of 32, 16 or 8 px (p 1/3 each), interior control moves 0.24 * cell *
  random_normal, read bilinearly at (i + 0.5) / cell. Averaging the squared bilinear weights of
  the interior points over the pixels gives E|d|^2 = 1.1153 px^2 for independent x and y noises
  (rms 1.056 px); DeepFaceLab's ``mapy = mapx.T`` view doubles each axis' variance: rms 1.4935 px.
- Cubic interpolation (OpenCV's a = -0.75) half-way between pixels weighs the four neighbours
  -3/32, 19/32, 19/32, -3/32.
"""

import math

import pytest
import torch

from aelab import augment


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _face_like(n: int = 8, size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose first channel equals a mask that is zero near the border."""
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    mask = ((xx / 0.6) ** 2 + (yy / 0.7) ** 2 < 1).float()[None, None].repeat(n, 1, 1, 1)
    rest = torch.rand(n, 2, size, size, generator=_gen(99))
    return torch.cat([mask, rest], dim=1), mask


def _displacement(params: augment.WarpParams) -> tuple[torch.Tensor, torch.Tensor]:
    """The random warp's (dx, dy) in pixels: the maps minus each pixel and DFL's half-pixel offset."""
    pixel = torch.arange(params.size, dtype=torch.float32) + 0.5
    return params.maps[:, 0] - pixel, params.maps[:, 1] - pixel[:, None]


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
    # Same parameters; masks are filtered bilinearly with a zero border (SampleProcessor's FACE_MASK).
    as_mask = augment.warp_by_params(
        images,
        out.params,
        can_warp=False,
        can_transform=True,
        can_flip=True,
        border_replicate=False,
        interpolation="bilinear",
    )
    assert torch.allclose(as_mask[:, :1], out.masks[0], atol=1e-6)
    assert (out.target[:, :1] - out.masks[0]).abs().mean() < 0.02  # the filters differ at edges only


def test_images_are_filtered_bicubically_like_dfl() -> None:
    """cv2.INTER_CUBIC keeps fine detail that bilinear filtering blurs; augment_batch clips to [0, 1]."""
    stripes = (torch.arange(64.0) % 2).expand(1, 1, 64, 64).contiguous()  # finest vertical stripes
    params = augment.gen_warp_params(
        1,
        64,
        generator=_gen(),
        flip=False,
        rotation_range=(0, 0),
        scale_range=(0, 0),
        tx_range=(0.25 / 64, 0.25 / 64),
        ty_range=(0, 0),
    )
    kwargs = dict(can_warp=False, can_transform=True, can_flip=False, border_replicate=True)
    cubic = augment.warp_by_params(stripes, params, **kwargs)
    linear = augment.warp_by_params(stripes, params, **kwargs, interpolation="bilinear")
    contrast = {
        name: float(x[..., 4:-4].amax() - x[..., 4:-4].amin()) for name, x in (("cubic", cubic), ("linear", linear))
    }
    assert contrast["cubic"] > contrast["linear"] + 0.05, contrast
    assert cubic.min() < 0.0  # warp_by_params does not clip (bicubic overshoots), as DFL's
    clipped = augment.augment_batch(stripes.expand(1, 3, 64, 64), generator=_gen(4))
    assert clipped.warped.min() >= 0.0 and clipped.warped.max() <= 1.0
    with pytest.raises(ValueError, match="interpolation"):
        augment.warp_by_params(stripes, params, **kwargs, interpolation="lanczos")


def test_warp_off_gives_the_target() -> None:
    images, mask = _face_like()
    out = augment.augment_batch(images, [mask], generator=_gen(4), random_warp=False)
    assert torch.equal(out.warped, out.target)


def test_zero_affine_is_the_identity() -> None:
    """getRotationMatrix2D with angle 0, scale 1 and no shift is the identity: pixels are read exactly."""
    images = torch.rand(4, 3, 64, 64, generator=_gen())
    still = augment.random_affine(
        images, generator=_gen(), rotation_range=(0, 0), scale_range=(0, 0), tx_range=(0, 0), ty_range=(0, 0)
    )
    assert torch.allclose(still, images, atol=1e-6)


def test_dfl_warp_reads_half_a_pixel_on_with_a_zero_border() -> None:
    """At strength 0 DFL's maps are x + 0.5: the interior of a flat image stays, the edges do not.

    Bicubic weights at t = 1/2 are (-3, 19, 19, -3) / 32. The last column reads two taps past the
    edge (zeros, cv2.remap's default border): 16/32 of the value; the first column loses the
    negative tap before the edge: 35/32 of it; the bottom-right corner 1/4.
    """
    flat = torch.full((1, 3, 64, 64), 0.8)
    out = augment.random_warp(flat, generator=_gen(), strength=0.0)
    assert torch.allclose(out[..., 2:-2, 2:-2], flat[..., 2:-2, 2:-2], atol=1e-6)
    assert out[0, 0, 30, -1].item() == pytest.approx(0.8 * 16 / 32, abs=1e-5)
    assert out[0, 0, -1, 30].item() == pytest.approx(0.8 * 16 / 32, abs=1e-5)
    assert out[0, 0, 30, 0].item() == pytest.approx(0.8 * 35 / 32, abs=1e-5)
    assert out[0, 0, -1, -1].item() == pytest.approx(0.8 / 4, abs=1e-5)


def test_scale_rotation_and_shift_follow_dfl_distributions() -> None:
    params = augment.gen_warp_params(4000, 64, generator=_gen(5))
    a, b = params.rmat[:, 0, 0], params.rmat[:, 0, 1]
    scale, angle = torch.hypot(a, b), torch.rad2deg(torch.atan2(b, a))
    assert scale.min() >= 1 / 1.15 - 1e-9 and scale.max() <= 1.15 + 1e-9
    assert scale.std().item() == pytest.approx((1.15 - 1 / 1.15) / math.sqrt(12), abs=0.002)  # 0.0810
    assert scale.mean().item() == pytest.approx((1 / 1.15 + 1.15) / 2, abs=0.004)
    assert angle.abs().max() <= 10 + 1e-9 and angle.std().item() == pytest.approx(20 / math.sqrt(12), abs=0.2)
    # rmat = [[a, b, (1 - a) c - b c + tx w], ...] about c = w // 2: recover the shift.
    c = 32.0
    tx = (params.rmat[:, 0, 2] - ((1 - a) * c - b * c)) / 64
    assert tx.abs().max() <= 0.05 + 1e-9 and tx.std().item() == pytest.approx(0.1 / math.sqrt(12), abs=0.0015)


def test_flip_probability_is_dfl_04_and_per_call() -> None:
    params = augment.gen_warp_params(3000, 64, generator=_gen(5))
    assert params.flip.float().mean().item() == pytest.approx(0.4, abs=0.03)
    assert not augment.gen_warp_params(100, 64, generator=_gen(5), flip=False).flip.any()
    images, mask = _face_like(n=32)
    kept = augment.augment_batch(images, [mask], generator=_gen(6), random_flip=False)
    assert not kept.params.flip.any()  # random_src_flip off: no image is mirrored


def test_random_flip_mirrors_or_keeps() -> None:
    images = torch.rand(64, 3, 8, 8)
    out = augment.random_flip(images, generator=_gen(6))
    mirrored = (out == images.flip(-1)).flatten(1).all(1)
    kept = (out == images).flatten(1).all(1)
    assert (mirrored | kept).all() and mirrored.any() and kept.any()


def test_rotation_follows_opencv_direction_about_w_half() -> None:
    image = torch.zeros(1, 1, 64, 64)
    image[0, 0, 32, 52] = 1.0  # 20 px right of DFL's centre (w // 2, w // 2) = (32, 32)
    turned = augment.random_affine(
        image, generator=_gen(), rotation_range=(90, 90), scale_range=(0, 0), tx_range=(0, 0), ty_range=(0, 0)
    )
    assert divmod(int(turned.argmax()), 64) == (12, 32)  # cv2.getRotationMatrix2D(+90): counter-clockwise
    shifted = augment.random_affine(
        image,
        generator=_gen(),
        rotation_range=(0, 0),
        scale_range=(0, 0),
        tx_range=(-2 / 64, -2 / 64),
        ty_range=(0, 0),
    )
    assert divmod(int(shifted.argmax()), 64) == (32, 50)


def test_dfl_warp_field_is_symmetric_and_sqrt2_stronger() -> None:
    """mapy = mapx.T is a view: dy is dx transposed, and the rms is sqrt(2) times the independent field's."""
    rms = {}
    for field in augment.WARP_FIELDS:
        params = augment.gen_warp_params(3000, 64, generator=_gen(7), warp_field=field)
        dx, dy = _displacement(params)
        if field == "dfl":
            assert torch.equal(dy, dx.transpose(1, 2))
        else:
            assert not torch.allclose(dy, dx.transpose(1, 2))
        rms[field] = (dx.double() ** 2 + dy.double() ** 2).mean().sqrt().item()
        # Each move is within 0.24 * cell (32 px at most); DFL's sums two of them.
        bound = 0.24 * 32 * (2 if field == "dfl" else 1)
        assert dx.abs().max().item() <= bound + 1e-4
    assert rms["dfl"] == pytest.approx(1.4935, rel=0.04)
    assert rms["independent"] == pytest.approx(1.0561, rel=0.04)
    assert rms["dfl"] / rms["independent"] == pytest.approx(math.sqrt(2), rel=0.05)


def test_small_images_are_augmented_at_64px_and_resized_back() -> None:
    """gen_warp_params: ``if w < 64: rw = w; w = 64``; warp_by_params resizes to 64 and back."""
    images, mask = _face_like(n=4, size=32)
    out = augment.augment_batch(images, [mask], generator=_gen(8))
    assert out.params.size == 64 and out.params.resolution == 32
    assert out.warped.shape == images.shape and out.masks[0].shape == mask.shape


def test_eyes_mouth_mask_is_renormalised_by_its_max() -> None:
    """SampleProcessor divides the EYES_MOUTH mask by its max after the transform ("normalize to 1.0")."""
    images, mask = _face_like(n=6)
    faint = mask * 0.5
    out = augment.augment_batch(
        images, [faint, faint, torch.zeros_like(mask)], generator=_gen(9), normalize_max=(False, True, True)
    )
    assert out.masks[0].amax(dim=(1, 2, 3)).max().item() <= 0.5 + 1e-6
    assert torch.allclose(out.masks[1].amax(dim=(1, 2, 3)), torch.ones(6))
    assert torch.allclose(out.masks[1], out.masks[0] / out.masks[0].amax(dim=(1, 2, 3), keepdim=True))
    assert torch.equal(out.masks[2], torch.zeros_like(mask))  # an empty mask stays empty


def test_hsv_conversion_is_opencvs() -> None:
    rgb = torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0.5, 0.5, 0.5], [0.2, 0.4, 0.8]])
    hsv = augment.rgb_to_hsv(rgb.T.reshape(1, 3, 1, 6))[0, :, 0].T
    expected = torch.tensor([[0.0, 1, 1], [120, 1, 1], [240, 1, 1], [60, 1, 1], [0, 0, 0.5], [220, 0.75, 0.8]])
    assert torch.allclose(hsv, expected, atol=1e-4)
    images = torch.rand(4, 3, 16, 16, generator=_gen(10))
    assert torch.allclose(augment.hsv_to_rgb(augment.rgb_to_hsv(images)), images, atol=1e-5)


def test_random_hsv_shifts_as_dfl() -> None:
    """Hue by a whole number of degrees in [-h, h], h = max(1, int(180 power)); S, V by U(-power/2, power/2)."""
    power = 0.1
    hsv = torch.tensor([200.0, 0.5, 0.5]).view(1, 3, 1, 1).expand(2000, 3, 4, 4).contiguous()
    images = augment.hsv_to_rgb(hsv)
    assert torch.equal(augment.random_hsv(images, 0.0, generator=_gen()), images)
    out = augment.rgb_to_hsv(augment.random_hsv(images, power, generator=_gen(11)))[:, :, 0, 0]
    hue_shift, sat_shift, val_shift = out[:, 0] - 200.0, out[:, 1] - 0.5, out[:, 2] - 0.5
    assert torch.allclose(hue_shift, hue_shift.round(), atol=2e-3)  # whole degrees
    assert hue_shift.round().min() == -18 and hue_shift.round().max() == 18
    for shift in (sat_shift, val_shift):
        assert shift.abs().max() <= power / 2 + 1e-4
        assert shift.std().item() == pytest.approx(power / math.sqrt(12), rel=0.08)
    seeded = [augment.random_hsv(images[:4], power, generator=_gen(12)) for _ in range(2)]
    assert torch.equal(*seeded)


def test_random_hsv_reaches_the_input_only() -> None:
    images, mask = _face_like()
    plain = augment.augment_batch(images, [mask], generator=_gen(13), random_warp=False)
    shifted = augment.augment_batch(images, [mask], generator=_gen(13), random_warp=False, random_hsv_power=0.2)
    assert torch.equal(plain.target, shifted.target)
    assert not torch.allclose(shifted.warped, shifted.target)


def test_errors_name_the_problem() -> None:
    images = torch.rand(2, 3, 16, 16)
    with pytest.raises(ValueError, match="square"):
        augment.augment_batch(torch.rand(2, 3, 16, 8), generator=_gen())
    with pytest.raises(ValueError, match="masks\\[0\\]"):
        augment.augment_batch(images, [torch.rand(3, 1, 16, 16)], generator=_gen())
    with pytest.raises(ValueError, match="normalize_max"):
        augment.augment_batch(images, [images[:, :1]], generator=_gen(), normalize_max=(True, True))
    with pytest.raises(ValueError, match="rotation_range"):
        augment.gen_warp_params(2, 16, generator=_gen(), rotation_range=(5, -5))
    with pytest.raises(ValueError, match="multiple of 16"):
        augment.gen_warp_params(2, 72, generator=_gen())
    with pytest.raises(ValueError, match="warp_field"):
        augment.gen_warp_params(2, 16, generator=_gen(), warp_field="smooth")
    with pytest.raises(TypeError, match="generator"):
        augment.gen_warp_params(2, 16, generator=0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="n must be an int"):
        augment.gen_warp_params(2.0, 16, generator=_gen())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="power"):
        augment.random_hsv(images, 1.5, generator=_gen())
    params = augment.gen_warp_params(2, 16, generator=_gen())
    with pytest.raises(ValueError, match="does not match"):
        augment.warp_by_params(
            torch.rand(2, 3, 32, 32), params, can_warp=True, can_transform=True, can_flip=True, border_replicate=True
        )
