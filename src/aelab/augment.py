"""Training-sample augmentation as DeepFaceLab's SAEHD does it: random affine, flip, random warp, HSV.

Images are tensors of shape (N, C, H, W) holding floats in [0, 1], square (H == W); masks are
(N, 1, H, W) in [0, 1]. Everything is batched and torch-native: each image gets its own random
parameters. The pinned DeepFaceLab (last commit 46fc239, 2023) is followed step by step, its
quirks included; each block names the file and function it reproduces.

- :func:`gen_warp_params` -- ``core/imagelib/warp.py`` ``gen_warp_params`` with the ranges SAEHD
  passes through ``samplelib/SampleProcessor.py`` ``SampleProcessor.Options`` (``Model_SAEHD``
  ``on_initialize``: ``scale_range=[-0.15, 0.15]``): rotation U(-10, 10) degrees; scale
  ``U(1 / (1 - lo), 1 + hi)`` = U(0.870, 1.150) (not ``1 + U(lo, hi)``: sd 0.081); shifts U(-0.05,
  0.05) times the width; a flip when ``randint(10) < 4`` (p 0.4). The affine is
  ``cv2.getRotationMatrix2D((w // 2, w // 2), rotation, scale)`` plus the shift, i.e. about the
  pixel ``w // 2``, half a pixel off the true centre of an even image, as DeepFaceLab.
  The random warp ("random warp V1"): a control grid with cell ``w/2``, ``w/4`` or ``w/8``, interior
  points moved by ``randomex.random_normal`` (N(0, 1) truncated at +-2.5, divided by 2.5) times
  ``0.24 * cell``, border points fixed, the maps resized bilinearly to ``w + cell`` and cropped by
  half a cell, which reads control point k at pixel ``k * cell - 0.5`` and leaves every map value
  half a pixel past its pixel (``mapx = x + 0.5 + noise``). Below 64 px DeepFaceLab draws and
  applies everything at 64 px (``rw``) and resizes back.
- **DeepFaceLab's warp-field quirk** (``warp_field="dfl"``, the default): ``mapy = mapx.T`` is a
  numpy *view*, so adding the y noise writes into ``mapx`` too. The x displacement is the x noise
  plus the transposed y noise, and the y displacement is exactly the transpose of the x
  displacement: the field is symmetric about the diagonal and sqrt(2) stronger than the code seems
  to ask (at 64 px: rms 1.49 px, 99th percentile 5.5 px, against 1.06 and 3.6 for independent
  noises). ``warp_field="independent"`` draws the two noises
  independently, the field the code was meant to make, for comparison.
- :func:`warp_by_params` -- ``warp_by_params``: ``cv2.remap`` by the maps (border: zeros, remap's
  default), then ``cv2.warpAffine`` by ``rmat`` (border replicated for images, zeros for masks),
  then the flip: two resamplings, as DeepFaceLab. With DeepFaceLab's half-pixel map offset and zero
  border, the warped image's last row and column read half outside the picture and come out about
  half as bright (the first ones about 9 % brighter: the cubic's negative tap falls outside).
  Images are filtered bicubically (``cv2.INTER_CUBIC``; torch's bicubic is OpenCV's, a = -0.75),
  masks bilinearly (``SampleProcessor`` passes ``cv2.INTER_LINEAR``), at positions
  rounded to 1/32 pixel as OpenCV's (``INTER_TAB_SIZE``); the result matches DeepFaceLab's
  OpenCV calls to float rounding.
- :func:`random_hsv` -- ``SampleProcessor.process``' ``random_hsv_shift_amount`` (SAEHD's
  ``random_hsv_power``, src only): hue shifted by a random whole number of degrees, saturation and
  value by ``U(-power/2, power/2)``, in OpenCV's float HSV.
- :func:`augment_batch` -- SAEHD's sample (``Model_SAEHD``'s ``output_sample_types``): the
  network's input is ``warp=random_warp, transform=True`` (after the HSV shift), the target and
  the masks ``warp=False, transform=True``, all with one set of parameters; images clipped to
  [0, 1]; the EYES_MOUTH mask divided by its maximum after the transform ("normalize to 1.0 after
  warp"), which :func:`augment_batch` does for the masks named in ``normalize_max``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from aelab.validate import (
    check_bool,
    check_choice,
    check_float,
    check_generator,
    check_images,
    check_instance,
    check_int,
    check_mask,
    check_range,
)

__all__ = [
    "FLIP_PROBABILITY",
    "SCALE_RANGE",
    "WARP_FIELDS",
    "INTERPOLATIONS",
    "WarpParams",
    "AugmentedBatch",
    "gen_warp_params",
    "warp_by_params",
    "rgb_to_hsv",
    "hsv_to_rgb",
    "random_hsv",
    "random_affine",
    "random_flip",
    "random_warp",
    "augment_batch",
]

#: ``gen_warp_params``: ``p_flip = flip and rnd_state.randint(10) < 4``.
FLIP_PROBABILITY = 0.4
#: ``Model_SAEHD``: ``SampleProcessor.Options(scale_range=[-0.15, 0.15], ...)`` for src and dst.
SCALE_RANGE = (-0.15, 0.15)
#: The random warp's y field: DeepFaceLab's (``mapy = mapx.T`` view quirk) or independent of x.
WARP_FIELDS = ("dfl", "independent")
#: ``warp_by_params``' filters: DeepFaceLab's ``cv2_inter`` values, by name.
INTERPOLATIONS = ("bicubic", "bilinear")
#: ``gen_warp_params`` works at 64 px at least (``if w < 64: rw = w; w = 64``).
_MIN_SIZE = 64
#: Cell sizes of the random-warp grid: ``w // 2**i`` for i = 1, 2, 3.
_CELL_DIVISORS = (2, 4, 8)
#: OpenCV's ``remap`` and ``warpAffine`` round sampling positions to 1/32 pixel (``INTER_TAB_SIZE``).
_OPENCV_SUBPIXELS = 32
#: ``randomex.random_normal`` truncates a standard normal at this value and divides by it.
_TRUNCATION = 2.5


@dataclass(frozen=True)
class WarpParams:
    """Per-image augmentation parameters for a batch (DeepFaceLab's ``params`` dict, batched).

    In DeepFaceLab's pixel coordinates (pixel centres at integers), at the working size ``w`` =
    max(64, resolution): ``rmat`` (N, 2, 3) float64, the affine's forward map
    (``cv2.warpAffine``'s matrix, destination = rmat @ (x, y, 1)); ``maps`` (N, 2, w, w) float32,
    ``mapx`` and ``mapy``: where each output pixel of the warp reads the source (``cv2.remap``);
    ``flip`` (N,) bool; ``resolution`` the side of the images they apply to (``rw``).
    """

    rmat: torch.Tensor
    maps: torch.Tensor
    flip: torch.Tensor
    resolution: int

    @property
    def size(self) -> int:
        """The working size ``w`` (64 for images smaller than 64 px, else their side)."""
        return self.maps.shape[-1]


@dataclass(frozen=True)
class AugmentedBatch:
    """SAEHD's training sample: ``warped`` (the network's input), ``target``, and the ``masks``.

    Images are (N, C, H, W) in [0, 1]; ``masks`` holds the input masks transformed like ``target``,
    in the order given; ``params`` the parameters that made them.
    """

    warped: torch.Tensor
    target: torch.Tensor
    masks: list[torch.Tensor]
    params: WarpParams


def _truncated_normal(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """``randomex.random_normal``: N(0, 1) truncated to [-2.5, 2.5], divided by 2.5 (inverse CDF)."""
    low = 0.5 * math.erfc(_TRUNCATION / math.sqrt(2.0))
    u = torch.rand(shape, generator=generator, dtype=torch.float64)
    return torch.special.ndtri(low + (1.0 - 2.0 * low) * u) / _TRUNCATION


def _control_weights(size: int, cell: int) -> torch.Tensor:
    """(size, size // cell + 1) bilinear weights: output pixel i reads control index (i + 0.5) / cell.

    ``cv2.resize`` of the (count, count) control grid to ``size + cell`` (half-pixel centres: output
    j reads (j + 0.5) / cell - 0.5), cropped by ``cell // 2``, so i = j - cell / 2.
    """
    count = size // cell + 1
    u = (torch.arange(size, dtype=torch.float64) + 0.5) / cell
    k = u.floor().long().clamp(max=count - 2)
    t = u - k
    weights = torch.zeros(size, count, dtype=torch.float64)
    weights[torch.arange(size), k] = 1.0 - t
    weights[torch.arange(size), k + 1] = t
    return weights


def _warp_maps(n: int, size: int, strength: float, field: str, generator: torch.Generator) -> torch.Tensor:
    """``mapx``, ``mapy`` (n, 2, size, size) of ``gen_warp_params``' random warp V1, in pixels."""
    choice = torch.randint(len(_CELL_DIVISORS), (n,), generator=generator)
    inner = _CELL_DIVISORS[-1] - 1  # interior control points per axis on the finest grid
    noise = _truncated_normal((n, 2, inner, inner), generator)
    pixel = torch.arange(size, dtype=torch.float32) + 0.5  # the grid alone reads half a pixel on
    maps = torch.stack([pixel.expand(size, size), pixel[:, None].expand(size, size)]).repeat(n, 1, 1, 1)
    for index, divisor in enumerate(_CELL_DIVISORS):
        members = (choice == index).nonzero().flatten()
        if members.numel() == 0:
            continue
        cell = size // divisor
        grid = torch.zeros(members.numel(), 2, divisor + 1, divisor + 1, dtype=torch.float64)
        grid[:, :, 1:-1, 1:-1] = noise[members, :, : divisor - 1, : divisor - 1] * (strength * cell)
        if field == "dfl":
            # mapy is a view of mapx: both noises land in one array, read as mapx and as its transpose.
            shared = grid[:, 0] + grid[:, 1].transpose(1, 2)
            grid = torch.stack([shared, shared.transpose(1, 2)], dim=1)
        weights = _control_weights(size, cell)
        maps[members] += (weights @ grid @ weights.T).float()
    return maps


def gen_warp_params(
    n: int,
    resolution: int,
    *,
    generator: torch.Generator,
    flip: bool = True,
    rotation_range: tuple[float, float] = (-10.0, 10.0),
    scale_range: tuple[float, float] = SCALE_RANGE,
    tx_range: tuple[float, float] = (-0.05, 0.05),
    ty_range: tuple[float, float] = (-0.05, 0.05),
    warp_strength: float = 0.24,
    warp_field: str = "dfl",
) -> WarpParams:
    """Draw augmentation parameters for ``n`` images of side ``resolution`` (``gen_warp_params``).

    Rotation U(``rotation_range``) degrees (positive turns the picture counter-clockwise, as
    ``cv2.getRotationMatrix2D``), scale U(1 / (1 - lo), 1 + hi) for ``scale_range`` (lo, hi),
    shifts U(``t*_range``) times the width, a flip with probability :data:`FLIP_PROBABILITY` when
    ``flip``, and the random warp of strength ``warp_strength`` (times the cell size; DeepFaceLab's
    0.24; 0 leaves only the maps' half-pixel offset) with ``warp_field`` one of :data:`WARP_FIELDS`
    (see the module doc). Resolutions below 64 get parameters for 64 px, as DeepFaceLab; from 64 px
    up the resolution must be a multiple of 16 (so every cell is an even number of pixels).
    Deterministic given ``generator`` (a CPU ``torch.Generator``).
    """
    n = check_int("n", n, minimum=1)
    resolution = check_int("resolution", resolution, minimum=2)
    generator = check_generator("generator", generator)
    flip = check_bool("flip", flip)
    rotation_range = check_range("rotation_range", rotation_range)
    scale_range = check_range("scale_range", scale_range)
    if scale_range[0] >= 1:
        raise ValueError(f"scale_range[0] must be < 1 (the smallest scale is 1 / (1 - low)), got {scale_range!r}")
    tx_range, ty_range = check_range("tx_range", tx_range), check_range("ty_range", ty_range)
    warp_strength = check_float("warp_strength", warp_strength, minimum=0.0)
    warp_field = check_choice("warp_field", warp_field, WARP_FIELDS)
    size = max(resolution, _MIN_SIZE)
    if size % 16:
        raise ValueError(
            f"resolution must be below 64 or a multiple of 16 (the warp's cells w/2, w/4, w/8 are even), "
            f"got {resolution}"
        )

    u = torch.rand(n, 5, generator=generator, dtype=torch.float64)
    angle = torch.deg2rad(rotation_range[0] + (rotation_range[1] - rotation_range[0]) * u[:, 0])
    smallest = 1.0 / (1.0 - scale_range[0])
    scale = smallest + (1.0 + scale_range[1] - smallest) * u[:, 1]
    shift = (
        torch.stack(
            [tx_range[0] + (tx_range[1] - tx_range[0]) * u[:, 2], ty_range[0] + (ty_range[1] - ty_range[0]) * u[:, 3]],
            dim=1,
        )
        * size
    )
    # cv2.getRotationMatrix2D about (w // 2, w // 2): [[a, b, (1 - a) c - b c], [-b, a, b c + (1 - a) c]].
    a, b = scale * torch.cos(angle), scale * torch.sin(angle)
    linear = torch.stack([torch.stack([a, b], 1), torch.stack([-b, a], 1)], 1)
    centre = torch.full((n, 2, 1), float(size // 2), dtype=torch.float64)
    offset = centre - linear @ centre + shift[:, :, None]
    flips = (u[:, 4] < FLIP_PROBABILITY) & flip
    maps = _warp_maps(n, size, warp_strength, warp_field, generator)
    return WarpParams(rmat=torch.cat([linear, offset], dim=2), maps=maps, flip=flips, resolution=resolution)


def _sample(x: torch.Tensor, px: torch.Tensor, py: torch.Tensor, interpolation: str, padding: str) -> torch.Tensor:
    """Read (N, C, w, w) ``x`` at pixel coordinates (N, w, w) ``px``, ``py`` (centres at integers).

    The positions are rounded to 1/32 pixel first, as OpenCV's ``remap`` and ``warpAffine`` do.
    """
    size = x.shape[-1]
    px, py = (torch.round(c * _OPENCV_SUBPIXELS) / _OPENCV_SUBPIXELS for c in (px, py))
    grid = torch.stack([(2.0 * px + 1.0) / size - 1.0, (2.0 * py + 1.0) / size - 1.0], dim=-1)
    grid = grid.to(device=x.device, dtype=x.dtype)
    return F.grid_sample(x, grid, mode=interpolation, padding_mode=padding, align_corners=False)


def _warp_affine(x: torch.Tensor, rmat: torch.Tensor, interpolation: str, border_replicate: bool) -> torch.Tensor:
    """``cv2.warpAffine(x, rmat, (w, w))``: each output pixel q reads the source at rmat^-1 (q).

    Positions in OpenCV's fixed point: the inverse's terms in x and in (y, 1) each rounded to
    1/1024 pixel (``AB_BITS``), their sum rounded to 1/32 pixel.
    """
    size = x.shape[-1]
    inverse = torch.linalg.inv(rmat[:, :, :2])
    inverse = torch.cat([inverse, -inverse @ rmat[:, :, 2:]], dim=2)  # (N, 2, 3), cv2.invertAffineTransform
    pixel = torch.arange(size, dtype=torch.float64)
    fine = 1024.0
    along_x = torch.round(inverse[:, :, None, 0:1] * pixel * fine)  # (N, 2, 1, w): term in x
    along_y = torch.round((inverse[:, :, 1:2] * pixel + inverse[:, :, 2:3]) * fine)[..., None]  # (N, 2, w, 1)
    steps = fine / _OPENCV_SUBPIXELS
    p = torch.floor((along_x + along_y + steps / 2) / steps) / _OPENCV_SUBPIXELS  # (N, 2, w, w)
    return _sample(x, p[:, 0], p[:, 1], interpolation, "border" if border_replicate else "zeros")


def warp_by_params(
    x: torch.Tensor,
    params: WarpParams,
    *,
    can_warp: bool,
    can_transform: bool,
    can_flip: bool,
    border_replicate: bool,
    interpolation: str = "bicubic",
) -> torch.Tensor:
    """Apply ``params`` to (N, C, R, R) images or masks in [0, 1] (``warp_by_params``).

    Below 64 px the input is first resized to 64 px and back afterwards (``rw``), with the same
    filter. Then ``cv2.remap`` by the maps (``can_warp``; zero border), ``cv2.warpAffine``
    (``can_transform``; ``border_replicate`` repeats edge pixels, else zeros), and the flip
    (``can_flip``). ``interpolation``: "bicubic" (``cv2.INTER_CUBIC``, DeepFaceLab's default, for
    images) or "bilinear" (``cv2.INTER_LINEAR``, what ``SampleProcessor`` uses for masks). Like
    DeepFaceLab's, the result is not clipped: bicubic filtering may overshoot [0, 1] a little.
    """
    check_images("x", x, square=True)
    check_instance("params", params, WarpParams, made_by="gen_warp_params")
    if x.shape[0] != params.flip.shape[0] or tuple(x.shape[2:]) != (params.resolution, params.resolution):
        raise ValueError(
            f"x of shape {tuple(x.shape)} does not match the parameters (made for {params.flip.shape[0]} "
            f"images of side {params.resolution}); call gen_warp_params with the batch's size and resolution"
        )
    interpolation = check_choice("interpolation", interpolation, INTERPOLATIONS)
    resize = (can_warp or can_transform) and params.resolution < params.size
    if resize:
        x = F.interpolate(x, size=(params.size, params.size), mode=interpolation, align_corners=False)
    if can_warp:
        maps = params.maps.to(torch.float64)
        x = _sample(x, maps[:, 0], maps[:, 1], interpolation, "zeros")
    if can_transform:
        x = _warp_affine(x, params.rmat, interpolation, border_replicate)
    if resize:
        x = F.interpolate(x, size=(params.resolution, params.resolution), mode=interpolation, align_corners=False)
    if can_flip:
        x = torch.where(params.flip.to(x.device)[:, None, None, None], x.flip(-1), x)
    return x


def rgb_to_hsv(images: torch.Tensor) -> torch.Tensor:
    """OpenCV's float HSV of (N, 3, H, W) RGB images in [0, 1]: H in degrees [0, 360), S and V in [0, 1].

    ``cv2.cvtColor(..., COLOR_RGB2HSV)`` for float images: V = max, S = (V - min) / (V + eps),
    H = 60 (G - B) / (V - min + eps) (+120, +240 where G or B is the max), plus 360 if negative.
    """
    check_images("images", images, channels=3)
    eps = torch.finfo(torch.float32).eps
    r, g, b = images.unbind(1)
    value, _ = images.max(dim=1)
    spread = value - images.min(dim=1).values
    saturation = spread / (value.abs() + eps)
    step = 60.0 / (spread + eps)
    hue = torch.where(
        value == r, (g - b) * step, torch.where(value == g, (b - r) * step + 120.0, (r - g) * step + 240.0)
    )
    hue = torch.where(hue < 0, hue + 360.0, hue)
    return torch.stack([hue, saturation, value], dim=1)


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """RGB (N, 3, H, W) of OpenCV float HSV images (H in degrees), the inverse of :func:`rgb_to_hsv`.

    ``cv2.cvtColor(..., COLOR_HSV2RGB)`` for float images: the hue's sector picks which channel is
    V, V (1 - S), V (1 - S f) or V (1 - S (1 - f)).
    """
    check_images("hsv", hsv, channels=3)
    hue, saturation, value = hsv.unbind(1)
    h = torch.remainder(hue / 60.0, 6.0)
    sector = h.floor().clamp(0, 5)
    f = h - sector
    table = torch.stack(
        [value, value * (1 - saturation), value * (1 - saturation * f), value * (1 - saturation * (1 - f))], dim=1
    )
    # OpenCV's sector_data, as (R, G, B) indices into (v, p, q, t) for sectors 0..5.
    pick = torch.tensor([[0, 3, 1], [2, 0, 1], [1, 0, 3], [1, 2, 0], [3, 1, 0], [0, 1, 2]], device=hsv.device)
    index = pick[sector.long()].permute(0, 3, 1, 2)
    return table.gather(1, index)


def random_hsv(images: torch.Tensor, power: float, *, generator: torch.Generator) -> torch.Tensor:
    """Shift the hue, saturation and value of each (N, 3, R, R) RGB image in [0, 1] at random.

    ``SampleProcessor.process`` with ``random_hsv_shift_amount = power`` (SAEHD's
    ``random_hsv_power``, 0 to 0.3 in DeepFaceLab, applied to src's network input only): in
    OpenCV's float HSV, the hue moves by a whole number of degrees drawn uniformly from
    [-h, h] with h = max(1, int(180 power)) (modulo 360), saturation and value each by
    U(-power/2, power/2), clipped to [0, 1]; back to RGB, clipped to [0, 1]. ``power = 0``
    returns the images unchanged. Deterministic given ``generator``.
    """
    check_images("images", images, channels=3)
    power = check_float("power", power, minimum=0.0, maximum=1.0)
    generator = check_generator("generator", generator)
    if power == 0:
        return images
    n = images.shape[0]
    reach = max(1, int(360 * power * 0.5))
    hue_shift = torch.randint(-reach, reach + 1, (n,), generator=generator).to(images)
    shifts = ((torch.rand(n, 2, generator=generator) - 0.5) * power).to(images)
    hue, saturation, value = rgb_to_hsv(images).unbind(1)
    hue = torch.remainder(hue + hue_shift[:, None, None], 360.0)
    saturation = (saturation + shifts[:, 0, None, None]).clamp(0.0, 1.0)
    value = (value + shifts[:, 1, None, None]).clamp(0.0, 1.0)
    return hsv_to_rgb(torch.stack([hue, saturation, value], dim=1)).clamp(0.0, 1.0)


def random_affine(
    images: torch.Tensor,
    *,
    generator: torch.Generator,
    rotation_range: tuple[float, float] = (-10.0, 10.0),
    scale_range: tuple[float, float] = SCALE_RANGE,
    tx_range: tuple[float, float] = (-0.05, 0.05),
    ty_range: tuple[float, float] = (-0.05, 0.05),
) -> torch.Tensor:
    """Rotate, scale and shift each (N, C, R, R) image in [0, 1] at random (SAEHD's ranges), clipped to [0, 1]."""
    check_images("images", images, square=True)
    params = gen_warp_params(
        images.shape[0],
        images.shape[-1],
        generator=generator,
        flip=False,
        rotation_range=rotation_range,
        scale_range=scale_range,
        tx_range=tx_range,
        ty_range=ty_range,
    )
    out = warp_by_params(images, params, can_warp=False, can_transform=True, can_flip=False, border_replicate=True)
    return out.clamp(0.0, 1.0)


def random_flip(images: torch.Tensor, *, generator: torch.Generator) -> torch.Tensor:
    """Mirror each (N, C, R, R) image in [0, 1] left-right with probability 0.4 (DeepFaceLab's)."""
    check_images("images", images, square=True)
    params = gen_warp_params(images.shape[0], images.shape[-1], generator=generator)
    return warp_by_params(images, params, can_warp=False, can_transform=False, can_flip=True, border_replicate=True)


def random_warp(
    images: torch.Tensor, *, generator: torch.Generator, strength: float = 0.24, warp_field: str = "dfl"
) -> torch.Tensor:
    """Apply only the random grid warp to (N, C, R, R) images in [0, 1] (``IMG_WARPED``), clipped to [0, 1].

    ``strength`` scales the control-point moves (times the cell size); ``warp_field`` is one of
    :data:`WARP_FIELDS`. Even at strength 0 the image moves by DeepFaceLab's half-pixel offset.
    """
    check_images("images", images, square=True)
    params = gen_warp_params(
        images.shape[0], images.shape[-1], generator=generator, warp_strength=strength, warp_field=warp_field
    )
    out = warp_by_params(images, params, can_warp=True, can_transform=False, can_flip=False, border_replicate=True)
    return out.clamp(0.0, 1.0)


def augment_batch(
    images: torch.Tensor,
    masks: Sequence[torch.Tensor] = (),
    *,
    generator: torch.Generator,
    random_warp: bool = True,
    random_flip: bool = True,
    normalize_max: Sequence[bool] = (),
    random_hsv_power: float = 0.0,
    warp_field: str = "dfl",
) -> AugmentedBatch:
    """Make SAEHD's training sample from (N, C, R, R) images in [0, 1] and their (N, 1, R, R) masks.

    One set of parameters per image (:func:`gen_warp_params`, SAEHD's ranges) is shared by the
    input, the target and every mask. ``warped`` (the network's input) = :func:`random_hsv` by
    ``random_hsv_power`` (RGB images only), then warp (if ``random_warp``) + affine + flip;
    ``target`` = affine + flip; both clipped to [0, 1]. ``masks`` = affine + flip, bilinear, zero
    border; a mask whose entry in ``normalize_max`` is True is divided by its maximum afterwards
    (where that is not 0), as ``SampleProcessor`` does for the EYES_MOUTH mask. ``random_flip`` is
    the side's flip option (SAEHD's ``random_src_flip`` / ``random_dst_flip``). Deterministic given
    ``generator``.
    """
    check_images("images", images, square=True)
    masks = list(masks)
    for i, mask in enumerate(masks):
        check_mask(f"masks[{i}]", mask, like=images)
    normalize_max = [check_bool(f"normalize_max[{i}]", flag) for i, flag in enumerate(normalize_max)]
    if normalize_max and len(normalize_max) != len(masks):
        raise ValueError(f"normalize_max must hold one flag per mask ({len(masks)}), got {len(normalize_max)}")
    random_warp = check_bool("random_warp", random_warp)
    params = gen_warp_params(
        images.shape[0], images.shape[-1], generator=generator, flip=random_flip, warp_field=warp_field
    )
    transform = dict(can_transform=True, can_flip=True)
    target = warp_by_params(images, params, can_warp=False, border_replicate=True, **transform).clamp(0.0, 1.0)
    if random_warp or random_hsv_power != 0:
        source = random_hsv(images, random_hsv_power, generator=generator)
        warped = warp_by_params(source, params, can_warp=random_warp, border_replicate=True, **transform)
        warped = warped.clamp(0.0, 1.0)
    else:
        warped = target
    moved: list[torch.Tensor] = []
    if masks:
        stacked = warp_by_params(
            torch.cat(masks, dim=1),
            params,
            can_warp=False,
            border_replicate=False,
            interpolation="bilinear",
            **transform,
        )
        moved = list(stacked.split(1, dim=1))
        for i, flag in enumerate(normalize_max):
            if flag:
                peak = moved[i].amax(dim=(1, 2, 3), keepdim=True)
                moved[i] = torch.where(peak > 0, moved[i] / peak.clamp_min(1e-12), moved[i])
    return AugmentedBatch(warped=warped, target=target, masks=moved, params=params)
