"""DeepFaceLab's merge step: a swapped face pasted back into the dst frame through its mask.

A face-swap tool's output is not the model's swap but the dst frame with the swap pasted in, through
a mask that the merger erodes (or dilates) and blurs, after recolouring the swap toward dst. That
composite is what a detector meets, and its seam is what blend-boundary detectors
(:mod:`aelab.forensics.blending`) look for. This module reproduces ``merger/MergeMasked.py``
(``MergeMaskedFace``) and the options of ``merger/MergerConfig.py`` (``MergerConfigMasked``) on the
kit's synthetic faces.

The kit's faces are already aligned (the frame *is* the face crop), so the landmark transforms of
``MergeMaskedFace`` are the identity here, and the frame and the face have the same size R.
What the merge keeps of DeepFaceLab:

- the **working mask** (``mask_mode``): ``full``, ``dst`` (the true dst face mask), ``learned-prd``
  (the swap's own mask), ``learned-dst`` (dst's mask as the model draws it), ``learned-prd*learned-dst``
  (DeepFaceLab's default) and ``learned-prd+learned-dst``; values below 1/255 zeroed;
- the mask processed at ``mask_subres_size`` = 4·R, padded with R zeros, eroded
  (``erode_mask_modifier`` > 0) or dilated (< 0) by an elliptic structuring element of that many
  pixels (``cv2.getStructuringElement(MORPH_ELLIPSE, (k, k))``), zeroed within R + blur // 2 of the
  padded border, then blurred by a Gaussian of size ``blur + (1 - blur % 2)`` (``blur_mask_modifier``
  made odd) whose sigma OpenCV derives from the size, ``0.3·((k - 1)/2 - 1) + 0.8``; cropped, clipped
  to [0, 1], taken back to R by bicubic sampling (OpenCV's ``warpAffine`` with ``INTER_CUBIC``; no
  anti-aliasing), clipped, values below 1/255 zeroed. Both modifiers are in pixels of the 4·R mask,
  as in DeepFaceLab: an erosion of 8 moves the edge by one image pixel at R.
- colour transfer of the swap toward dst (``ct_mode``: any of :data:`aelab.color.CT_MODES`), with
  statistics over the mask's area (the pixels where it is > 0), as DeepFaceLab's ``rct`` does; its
  ``lct``/``mkl``/``idt`` take the whole crop and their ``-m`` variants the masked crop -- the kit
  restricts every mode to the area;
- the modes ``original`` (dst, untouched), ``overlay`` (DeepFaceLab's default) and ``hist-match``
  (per-channel histogram matching over the mask area, ``masked_hist_match`` on, no threshold), then
  the composite ``dst·(1 - m) + swap·m``;
- a face whose mask (>= 0.1) spans less than 4 pixels in either direction is not merged: its output
  is dst and its mask zero.

Not reproduced: the seamless modes (Poisson cloning), super resolution, motion blur, sharpening,
denoising and degrade options, and XSeg masks.

Images are tensors (N, 3, R, R) of floats in [0, 1]; masks (N, 1, R, R) in [0, 1].
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from aelab import color
from aelab.losses import gaussian_window, separable_filter
from aelab.validate import check_choice, check_images, check_int, check_mask, check_same_shape

__all__ = [
    "MODES",
    "MASK_MODES",
    "MASK_SUBRES",
    "Merged",
    "ellipse_kernel",
    "blur_kernel_size",
    "opencv_sigma",
    "merge_mask",
    "merge",
    "working_mask",
    "swap_and_mask",
    "merge_swap",
]

#: The merge modes the kit reproduces (``MergerConfig.mode_dict``, less raw and seamless).
MODES = ("original", "overlay", "hist-match")
#: The working masks (``MergerConfig.mask_mode_dict``, less XSeg).
MASK_MODES = ("full", "dst", "learned-prd", "learned-dst", "learned-prd*learned-dst", "learned-prd+learned-dst")
#: The mask is processed at this multiple of the face's size (``mask_subres_size = input_size * 4``).
MASK_SUBRES = 4
#: DeepFaceLab zeroes mask values below this ("get rid of noise").
NOISE_FLOOR = 1.0 / 255.0
#: ``MergerConfig.add_erode_mask_modifier`` / ``add_blur_mask_modifier`` clip to these.
MODIFIER_LIMIT = 400


class Merged(NamedTuple):
    """A merge's result: the frames (N, 3, R, R) in [0, 1] and the masks they were merged through."""

    images: Tensor
    mask: Tensor


def ellipse_kernel(size: int) -> Tensor:
    """``cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))`` as a (size, size) bool tensor.

    OpenCV's rule: with r = c = size // 2, row i holds the columns c - dx .. c + dx (clipped to the
    kernel), dx = round(c·sqrt((r² - (i - r)²) / r²)); a size of 1 or 2 is a full square.
    """
    size = check_int("size", size, minimum=1)
    kernel = torch.zeros(size, size, dtype=torch.bool)
    r = c = size // 2
    if r == 0:
        return kernel.fill_(True)
    for i in range(size):
        dy = i - r
        if abs(dy) <= r:
            dx = int(math.floor(c * math.sqrt((r * r - dy * dy) / (r * r)) + 0.5))
            kernel[i, max(c - dx, 0) : min(c + dx + 1, size)] = True
    return kernel


def blur_kernel_size(blur_mask_modifier: int) -> int:
    """The Gaussian's size for a ``blur_mask_modifier`` > 0: the modifier made odd (``blur + (1 - blur % 2)``)."""
    blur = check_int("blur_mask_modifier", blur_mask_modifier, minimum=1, maximum=MODIFIER_LIMIT)
    return blur + (1 - blur % 2)


def opencv_sigma(kernel_size: int) -> float:
    """The sigma ``cv2.GaussianBlur`` takes for a kernel of ``kernel_size`` when given sigma 0."""
    kernel_size = check_int("kernel_size", kernel_size, minimum=1)
    return 0.3 * ((kernel_size - 1) * 0.5 - 1) + 0.8


def _morphology(x: Tensor, kernel: Tensor, erode: bool) -> Tensor:
    """Grey erosion (min) or dilation (max) of (N, 1, H, W) ``x`` by a bool footprint anchored at its centre.

    The footprint is taken row by row: each row is a run of columns, a 1-D min/max pool, shifted.
    Outside the image the neutral value (1 for erosion of [0, 1] masks, 0 for dilation) is assumed,
    as OpenCV's default border does.
    """
    size = kernel.shape[0]
    anchor = size // 2
    pad = size
    padded = F.pad(x, (pad, pad, pad, pad), value=1.0 if erode else 0.0)
    sign = -1.0 if erode else 1.0
    h, w = x.shape[2:]
    out = None
    for i in range(size):
        columns = kernel[i].nonzero().flatten()
        if columns.numel() == 0:
            continue
        a, b = int(columns[0]) - anchor, int(columns[-1]) - anchor
        run = sign * F.max_pool2d(sign * padded, kernel_size=(1, b - a + 1), stride=1)
        dy = i - anchor
        row = run[:, :, pad + dy : pad + dy + h, pad + a : pad + a + w]
        out = row if out is None else (torch.minimum(out, row) if erode else torch.maximum(out, row))
    assert out is not None
    return out


def _gaussian_blur(x: Tensor, kernel_size: int) -> Tensor:
    """``cv2.GaussianBlur(x, (k, k), 0)`` of (N, 1, H, W) ``x`` whose border band of k // 2 is zero.

    With that band zero, OpenCV's reflected border and zero padding give the same result. The batch is
    filtered as the channels of one image (far faster on CPU than N one-channel planes).
    """
    window = gaussian_window(kernel_size, opencv_sigma(kernel_size))
    return separable_filter(x.transpose(0, 1), window, "zeros").transpose(0, 1)


def merge_mask(mask: Tensor, *, erode_mask_modifier: int = 0, blur_mask_modifier: int = 0) -> Tensor:
    """Process working masks (N, 1, R, R) in [0, 1] as ``MergeMaskedFace`` does; same shape out.

    Zero below 1/255; bicubic up to 4·R; pad R zeros; erode (modifier > 0) or dilate (< 0) with an
    elliptic element of |modifier| pixels; zero the band within R + blur // 2 of the padded border;
    Gaussian blur of size :func:`blur_kernel_size`; crop; clip; bicubic sampling back to R; clip;
    zero below 1/255. The modifiers are in pixels of the 4·R mask.
    """
    mask = check_mask("mask", mask)
    ero = check_int("erode_mask_modifier", erode_mask_modifier, minimum=-MODIFIER_LIMIT, maximum=MODIFIER_LIMIT)
    blur = check_int("blur_mask_modifier", blur_mask_modifier, minimum=0, maximum=MODIFIER_LIMIT)
    h, w = mask.shape[2:]
    if h != w:
        raise ValueError(f"mask must be square face crops (N, 1, R, R), got {tuple(mask.shape)}")
    pad = h  # np.pad(wrk_face_mask_a_0, input_size)
    m = torch.where(mask < NOISE_FLOOR, torch.zeros_like(mask), mask)
    m = F.interpolate(m, scale_factor=MASK_SUBRES, mode="bicubic", align_corners=False)
    m = F.pad(m, (pad, pad, pad, pad))
    if ero != 0:
        m = _morphology(m, ellipse_kernel(abs(ero)).to(m.device), erode=ero > 0)
    clip = pad + blur // 2
    border = torch.zeros_like(m, dtype=torch.bool)
    border[..., :clip, :] = border[..., -clip:, :] = True
    border[..., :, :clip] = border[..., :, -clip:] = True
    m = m.masked_fill(border, 0.0)
    if blur > 0:
        m = _gaussian_blur(m, blur_kernel_size(blur))
    m = m[..., pad:-pad, pad:-pad].clamp(0.0, 1.0)
    m = F.interpolate(m, size=(h, w), mode="bicubic", align_corners=False).clamp(0.0, 1.0)
    return torch.where(m < NOISE_FLOOR, torch.zeros_like(m), m)


def _mergeable(mask: Tensor) -> Tensor:
    """(N,) bool: the mask (>= 0.1) spans at least 4 pixels both ways (``MergeMaskedFace``'s size test)."""
    region = mask[:, 0] >= 0.1
    spans = []
    for axis in (1, 2):
        present = region.any(dim=axis)
        index = torch.arange(present.shape[1], device=mask.device).expand_as(present)
        first = torch.where(present, index, present.shape[1]).amin(dim=1)
        last = torch.where(present, index, -1).amax(dim=1)
        spans.append(last - first)
    return (spans[0] >= 4) & (spans[1] >= 4)


def merge(
    dst: Tensor,
    swap: Tensor,
    mask: Tensor,
    *,
    mode: str = "overlay",
    erode_mask_modifier: int = 0,
    blur_mask_modifier: int = 0,
    ct_mode: str | None = None,
    generator: torch.Generator | None = None,
) -> Merged:
    """Merge swapped faces into dst frames (``MergeMaskedFace``): dst·(1 - m) + swap'·m.

    Args:
        dst: the dst frames (N, 3, R, R) in [0, 1].
        swap: the model's swaps of them (``pred_src_dst``), (N, 3, R, R) in [0, 1].
        mask: the working masks (N, 1, R, R) in [0, 1] (see :func:`working_mask`).
        mode: one of :data:`MODES`.
        erode_mask_modifier: erode (> 0) or dilate (< 0) the mask by this many pixels of the 4·R mask.
        blur_mask_modifier: blur the mask's edge by a Gaussian of about this many pixels of the 4·R mask.
        ct_mode: recolour the swap toward dst first: None, "none" or one of :data:`aelab.color.CT_MODES`.
        generator: seeds the random colour transfers (idt, sot).

    Returns:
        :class:`Merged`: the frames, and m (from :func:`merge_mask`), zero for faces too small to
        merge. Where m is 0 the frame is dst exactly; where m is 1 it is swap' exactly.
    """
    dst = check_images("dst", dst, channels=3)
    swap = check_images("swap", swap, channels=3)
    check_same_shape(("dst", "swap"), dst, swap)
    mask = check_mask("mask", mask, like=dst)
    mode = check_choice("mode", mode, MODES)
    if ct_mode is not None and ct_mode != "none":
        check_choice("ct_mode", ct_mode, color.CT_MODES)
    m = merge_mask(mask, erode_mask_modifier=erode_mask_modifier, blur_mask_modifier=blur_mask_modifier)
    keep = _mergeable(m)
    m = m * keep.to(m.dtype)[:, None, None, None]
    if mode == "original":
        return Merged(dst, m)
    merged = dst.clone()
    if keep.any():
        d, s, mk = dst[keep], swap[keep], m[keep]
        area = (mk > 0).to(mk.dtype)  # wrk_face_mask_area_a
        if ct_mode is not None and ct_mode != "none":
            s = color.transfer(s, d, ct_mode, source_mask=area, target_mask=area, generator=generator)
        if mode == "hist-match":
            s = color.hist_match(s, d, source_mask=area, target_mask=area)
        merged[keep] = (d * (1.0 - mk) + s * mk).clamp(0.0, 1.0)
    return Merged(merged, m)


def working_mask(
    mask_mode: str,
    *,
    pred_src_dstm: Tensor | None = None,
    pred_dst_dstm: Tensor | None = None,
    dst_mask: Tensor | None = None,
    like: Tensor | None = None,
) -> Tensor:
    """The working mask (N, 1, R, R) of a ``mask_mode`` (:data:`MASK_MODES`, ``MergeMaskedFace``).

    ``learned-prd`` is the swap's own mask (``pred_src_dstm``), ``learned-dst`` dst's mask as the
    model draws it (``pred_dst_dstm``), ``dst`` the true face mask of dst (``dst_mask``), ``full``
    ones shaped like the masks given (or like the (N, C, R, R) batch ``like``).
    """
    mask_mode = check_choice("mask_mode", mask_mode, MASK_MODES)
    needs = {
        "dst": ("dst_mask",),
        "learned-prd": ("pred_src_dstm",),
        "learned-dst": ("pred_dst_dstm",),
        "learned-prd*learned-dst": ("pred_src_dstm", "pred_dst_dstm"),
        "learned-prd+learned-dst": ("pred_src_dstm", "pred_dst_dstm"),
        "full": (),
    }[mask_mode]
    given = {"pred_src_dstm": pred_src_dstm, "pred_dst_dstm": pred_dst_dstm, "dst_mask": dst_mask}
    for name in needs:
        if given[name] is None:
            raise ValueError(f"mask_mode {mask_mode!r} needs {name}")
        check_mask(name, given[name])
    if mask_mode == "full":
        shaped = next((t for t in given.values() if t is not None), like)
        if shaped is None:
            raise ValueError("mask_mode 'full' needs a mask or like= to take the shape from")
        return torch.ones(shaped.shape[0], 1, *shaped.shape[2:], dtype=shaped.dtype, device=shaped.device)
    prd, dstm = pred_src_dstm, pred_dst_dstm
    if mask_mode == "learned-prd*learned-dst":
        return prd * dstm  # type: ignore[operator]
    if mask_mode == "learned-prd+learned-dst":
        return (prd + dstm).clamp(0.0, 1.0)  # type: ignore[operator]
    return given[needs[0]]  # type: ignore[return-value]


@torch.no_grad()
def swap_and_mask(
    model: torch.nn.Module,
    dst: Tensor,
    *,
    mask_mode: str = "learned-prd*learned-dst",
    dst_mask: Tensor | None = None,
    batch_size: int = 256,
) -> tuple[Tensor, Tensor]:
    """An SAEHD ``model``'s swaps of dst frames (N, 3, R, R) in [0, 1] (``model.swap``'s
    ``pred_src_dst``) and their working mask (N, 1, R, R) by ``mask_mode`` (``dst`` needs
    ``dst_mask``, the true face masks): what :func:`merge` pastes, computed once for several merges.
    The model runs in eval mode on its own device, ``batch_size`` frames at a time."""
    dst = check_images("dst", dst, channels=3)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    parts = [model.swap(chunk.to(device)) for chunk in dst.split(batch_size)]
    model.train(was_training)
    swap, prd, dstm = (
        torch.cat([getattr(p, k) for p in parts]).to(dst.device)
        for k in ("pred_src_dst", "pred_src_dstm", "pred_dst_dstm")
    )
    return swap, working_mask(mask_mode, pred_src_dstm=prd, pred_dst_dstm=dstm, dst_mask=dst_mask)


@torch.no_grad()
def merge_swap(
    model: torch.nn.Module,
    dst: Tensor,
    *,
    mask_mode: str = "learned-prd*learned-dst",
    dst_mask: Tensor | None = None,
    batch_size: int = 256,
    **options: object,
) -> Merged:
    """Swap dst frames (N, 3, R, R) in [0, 1] with an SAEHD ``model`` and merge them: :func:`merge` of
    :func:`swap_and_mask`. ``options`` are :func:`merge`'s (mode, erode_mask_modifier,
    blur_mask_modifier, ct_mode, generator)."""
    swap, mask = swap_and_mask(model, dst, mask_mode=mask_mode, dst_mask=dst_mask, batch_size=batch_size)
    return merge(dst, swap, mask, **options)  # type: ignore[arg-type]
