"""aelab.merge: DeepFaceLab's merge step, tested on its defining properties."""

from __future__ import annotations

import pytest
import torch

from aelab import color, merge, models
from aelab.data import faces


@pytest.fixture(scope="module")
def frames() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    dst = faces.render(6, resolution=32, domain="B", seed=3)
    swap = faces.render_swap(dst, "A")
    return dst.images, swap.images, dst.face_mask


def _half_plane(resolution: int = 32, edge: int = 16) -> torch.Tensor:
    """A mask (1, 1, R, R): ones in the columns >= edge, inside a frame 8 pixels from the border."""
    mask = torch.zeros(1, 1, resolution, resolution)
    mask[..., 8:-8, edge:-8] = 1.0
    return mask


def test_ellipse_kernel_is_opencvs() -> None:
    # cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)) for k = 3, 5 and the even 4 (anchor k // 2).
    assert merge.ellipse_kernel(3).int().tolist() == [[0, 1, 0], [1, 1, 1], [0, 1, 0]]
    assert merge.ellipse_kernel(5).int().tolist() == [
        [0, 0, 1, 0, 0],
        [1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1],
        [0, 0, 1, 0, 0],
    ]
    assert merge.ellipse_kernel(4).int().tolist() == [[0, 0, 1, 0], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]]
    assert merge.ellipse_kernel(1).tolist() == [[True]]


def test_blur_sizes_follow_deepfacelab() -> None:
    assert [merge.blur_kernel_size(b) for b in (1, 2, 15, 16)] == [1, 3, 15, 17]
    assert merge.opencv_sigma(3) == pytest.approx(0.8)
    assert merge.opencv_sigma(17) == pytest.approx(0.3 * 7 + 0.8)


def test_outside_is_dst_and_inside_is_swap_exactly(frames) -> None:
    dst, swap, mask = frames
    out = merge.merge(dst, swap, mask, blur_mask_modifier=12, erode_mask_modifier=4)
    outside = (out.mask == 0).expand_as(dst)
    inside = (out.mask == 1).expand_as(dst)
    assert outside.any() and inside.any()
    assert torch.equal(out.images[outside], dst[outside])
    assert torch.equal(out.images[inside], swap[inside])
    between = ((out.mask > 0) & (out.mask < 1)).expand_as(dst)
    expected = dst * (1 - out.mask) + swap * out.mask
    assert torch.allclose(out.images[between], expected[between], atol=1e-6)


def test_colour_transfer_recolours_the_swap_toward_dst(frames) -> None:
    dst, swap, mask = frames
    out = merge.merge(dst, swap, mask, ct_mode="rct")
    inside = (out.mask == 1).expand_as(dst)
    area = (out.mask > 0).float()
    expected = color.rct(swap, dst, source_mask=area, target_mask=area)
    assert torch.allclose(out.images[inside], expected[inside], atol=1e-6)

    # rct moves the face's mean colour toward dst's: closer than the raw swap was
    def face_mean(x: torch.Tensor) -> torch.Tensor:
        return (x * area).sum(dim=(2, 3)) / area.sum(dim=(2, 3))

    assert (face_mean(out.images) - face_mean(dst)).abs().mean() < (face_mean(swap) - face_mean(dst)).abs().mean()
    hist = merge.merge(dst, swap, mask, mode="hist-match")
    assert not torch.equal(hist.images, merge.merge(dst, swap, mask).images)


def test_original_mode_returns_dst(frames) -> None:
    dst, swap, mask = frames
    assert torch.equal(merge.merge(dst, swap, mask, mode="original").images, dst)


def _soft(row: torch.Tensor) -> torch.Tensor:
    """The columns left of the middle (the mask's left edge) where the mask is strictly between 0 and 1."""
    return ((row[:20] > 0) & (row[:20] < 1)).nonzero().flatten()


def test_no_blur_no_erosion_keeps_a_sharp_edge() -> None:
    # Only the bicubic resampling to 4x and back softens the edge: one pixel on each side of it.
    row = merge.merge_mask(_half_plane())[0, 0, 16]
    assert _soft(row).tolist() == [15, 16]
    assert row[:15].eq(0).all() and row[17:23].eq(1).all()


@pytest.mark.parametrize("blur", [8, 24, 40])
def test_blur_spreads_the_edge_as_far_as_its_kernel(blur: int) -> None:
    # The Gaussian of size k reaches k // 2 pixels of the 4x mask: k // 8 image pixels each side (+1 for
    # the bicubic sampling back). Beyond that the mask is still 0 and 1; at the edge it is about 1/2.
    k = merge.blur_kernel_size(blur)
    reach = k // 2 // merge.MASK_SUBRES + 1
    row = merge.merge_mask(_half_plane(), blur_mask_modifier=blur)[0, 0, 16]
    soft = _soft(row)
    assert soft.min() >= 16 - reach and soft.max() <= 15 + reach
    assert 0.3 < float(row[15:17].mean()) < 0.7
    wider = merge.merge_mask(_half_plane(), blur_mask_modifier=blur + 16)[0, 0, 16]
    assert _soft(wider).numel() > soft.numel()


@pytest.mark.parametrize("ero", [8, 16, -8])
def test_erosion_moves_the_edge_by_half_its_size(ero: int) -> None:
    # An elliptic element of |ero| pixels at 4x moves a straight edge by ero // 2 pixels there: ero / 8 at R.
    row = merge.merge_mask(_half_plane(), erode_mask_modifier=ero)[0, 0, 16]
    first_one = int((row >= 0.5).nonzero().flatten().min())
    assert first_one == 16 + ero // 8


def test_mask_is_zero_near_the_frame_with_blur() -> None:
    full = torch.ones(1, 1, 32, 32)
    m = merge.merge_mask(full, blur_mask_modifier=32)
    assert m[..., 0, :].max() < 0.5 and m[..., 16, 16] == 1


def test_tiny_masks_are_not_merged(frames) -> None:
    dst, swap, _ = frames
    tiny = torch.zeros(len(dst), 1, 32, 32)
    tiny[..., 10:12, 10:12] = 1
    out = merge.merge(dst, swap, tiny)
    assert torch.equal(out.images, dst) and out.mask.eq(0).all()


def test_working_masks() -> None:
    prd, dstm = torch.full((2, 1, 4, 4), 0.6), torch.full((2, 1, 4, 4), 0.5)
    assert torch.allclose(
        merge.working_mask("learned-prd*learned-dst", pred_src_dstm=prd, pred_dst_dstm=dstm), prd * dstm
    )
    assert merge.working_mask("learned-prd+learned-dst", pred_src_dstm=prd, pred_dst_dstm=dstm).eq(1).all()
    assert merge.working_mask("full", like=torch.zeros(3, 3, 4, 4)).shape == (3, 1, 4, 4)
    with pytest.raises(ValueError, match="needs dst_mask"):
        merge.working_mask("dst", pred_src_dstm=prd)


def test_merge_swap_runs_a_model(frames) -> None:
    dst, _, mask = frames
    model = models.build(
        {"archi": "liae", "resolution": 32, "ae_dims": 8, "e_dims": 4, "d_dims": 4, "d_mask_dims": 2}, seed=0
    )
    out = merge.merge_swap(model, dst, mask_mode="dst", dst_mask=mask, blur_mask_modifier=8)
    with torch.no_grad():
        swap = model.swap(dst).pred_src_dst
    assert torch.allclose(out.images, merge.merge(dst, swap, mask, blur_mask_modifier=8).images)
    # the swaps and working mask once, for several merges: the same frames as merge_swap's, in chunks too
    swapped, working = merge.swap_and_mask(model, dst, batch_size=1)
    assert torch.allclose(swapped, swap) and working.shape == (len(dst), 1, *dst.shape[2:])
    for ct_mode in (None, "rct"):
        again = merge.merge(dst, swapped, working, ct_mode=ct_mode).images
        assert torch.allclose(again, merge.merge_swap(model, dst, ct_mode=ct_mode).images)


def test_bad_input() -> None:
    x = torch.rand(2, 3, 8, 8)
    with pytest.raises(ValueError, match="unknown mode"):
        merge.merge(x, x, torch.ones(2, 1, 8, 8), mode="seamless")
    with pytest.raises(TypeError):
        merge.merge_mask(torch.ones(2, 1, 8, 8), blur_mask_modifier=2.0)
    with pytest.raises(ValueError):
        merge.merge(x, x, torch.ones(3, 1, 8, 8))
    with pytest.raises(ValueError, match="unknown ct_mode"):
        merge.merge(x, x, torch.ones(2, 1, 8, 8), ct_mode="rtc")
