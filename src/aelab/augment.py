"""Training-sample augmentation as DeepFaceLab does it: random affine, flip and random warp.

Images are tensors of shape (N, C, H, W) holding floats in [0, 1], square (H == W); masks are
(N, 1, H, W) in [0, 1]. Everything is batched and torch-native: each image gets its own random
parameters, and one ``F.grid_sample`` call (``align_corners=False``) resamples a whole batch.

What it reproduces (``core/imagelib/warp.py`` and ``samplelib/SampleProcessor.py``):

- :func:`gen_warp_params` -- ``gen_warp_params`` with the ranges SAEHD gets from
  ``SampleProcessor.Options``: rotation uniform in [-10, 10] degrees, scale ``1 + U(-0.05, 0.05)``,
  shift ``U(-0.05, 0.05)`` of the width on each axis, flip when ``randint(10) < 4`` (p = 0.4).
  (The design notes say "scale 1/1.15-1.15"; DeepFaceLab's source says 0.95-1.05, and the kit
  follows the source.) The random warp: a coarse grid with cell ``w/2``, ``w/4`` or ``w/8`` chosen
  per image, interior control points moved by ``randomex.random_normal`` (a normal truncated at
  +-2.5 and divided by 2.5, so within +-1) times ``0.24 * cell``, border points fixed, the
  displacements bilinearly upsampled to a dense field (``cv2.resize`` then the half-cell crop, which
  places control point k at ``k * cell``).
- :func:`warp_by_params` -- ``warp_by_params``: warp (``cv2.remap``), then the affine
  (``cv2.warpAffine``), then the flip, composed here into one sampling grid so each output is
  resampled once (DeepFaceLab resamples twice). Filtering as in DeepFaceLab: images bicubic
  (``cv2.INTER_CUBIC``, warp_by_params' default; torch's bicubic uses OpenCV's a = -0.75), then
  clipped to [0, 1] (``SampleProcessor``'s ``np.clip``); masks bilinear (``SampleProcessor`` passes
  ``cv2.INTER_LINEAR`` for them). Bilinear filtering would blur every training target a little, and
  the network would learn that blur. Images repeat their border pixels, masks are padded with zeros,
  as in DeepFaceLab. Two small departures, both so that "no augmentation" is the exact identity: the
  rotation is about the true image centre (OpenCV's ``w // 2`` is half a pixel off for even ``w``),
  and DeepFaceLab's warp maps carry a constant half-pixel shift that the kit leaves out.
- :func:`augment_batch` -- SAEHD's samples: the network's input is ``IMG_WARPED_TRANSFORMED``
  (warp + affine + flip); the target image and every mask are ``IMG_TRANSFORMED`` (affine + flip,
  no warp), all with the same parameters, so the network learns to undo the warp.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "FLIP_PROBABILITY",
    "INTERPOLATIONS",
    "WarpParams",
    "AugmentedBatch",
    "gen_warp_params",
    "warp_by_params",
    "random_affine",
    "random_flip",
    "random_warp",
    "augment_batch",
]

#: ``gen_warp_params``: ``p_flip = flip and rnd_state.randint(10) < 4``.
FLIP_PROBABILITY = 0.4
#: Cell sizes of the random-warp grid, as fractions of the width (``w // 2**i`` for i = 1, 2, 3).
_CELL_FRACTIONS = (1 / 2, 1 / 4, 1 / 8)
#: ``randomex.random_normal`` truncates a standard normal at this value and divides by it.
_TRUNCATION = 2.5


@dataclass(frozen=True)
class WarpParams:
    """Per-image augmentation parameters for a batch (DeepFaceLab's ``params`` dict, batched).

    ``theta`` (N, 2, 3): the affine as ``F.affine_grid`` wants it (output -> source, normalised
    coordinates in [-1, 1]); ``flip`` (N,) bool; ``flow`` (N, 2, R, R): the random warp's (x, y)
    displacement in normalised coordinates at every pixel (``mapx``/``mapy`` minus the identity).
    """

    theta: torch.Tensor
    flip: torch.Tensor
    flow: torch.Tensor

    @property
    def resolution(self) -> int:
        """The side of the images these parameters apply to."""
        return self.flow.shape[-1]


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


def _check_range(name: str, value: tuple[float, float]) -> tuple[float, float]:
    if len(value) != 2 or not value[0] <= value[1]:
        raise ValueError(f"{name} must be a pair (low, high) with low <= high, got {value!r}")
    return float(value[0]), float(value[1])


def _check_batch(name: str, x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, C, H, W), got {type(x).__name__}")
    if x.ndim != 4 or not x.is_floating_point() or x.shape[-1] != x.shape[-2]:
        raise ValueError(
            f"{name} must be a float tensor of square images (N, C, R, R), got dtype {x.dtype} and "
            f"shape {tuple(x.shape)}"
        )


def _uniform(u: torch.Tensor, bounds: tuple[float, float]) -> torch.Tensor:
    return bounds[0] + (bounds[1] - bounds[0]) * u


def _truncated_normal(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """``randomex.random_normal``: N(0, 1) truncated to [-2.5, 2.5], divided by 2.5 (inverse CDF)."""
    low = 0.5 * math.erfc(_TRUNCATION / math.sqrt(2.0))
    u = torch.rand(shape, generator=generator, dtype=torch.float64)
    return (torch.special.ndtri(low + (1.0 - 2.0 * low) * u) / _TRUNCATION).float()


def _identity_grid(n: int, resolution: int) -> torch.Tensor:
    """Normalised (x, y) of every pixel centre, (n, R, R, 2)."""
    eye = torch.eye(2, 3).expand(n, 2, 3)
    return F.affine_grid(eye, [n, 1, resolution, resolution], align_corners=False)


def _warp_flow(
    n: int, resolution: int, strength: float, generator: torch.Generator
) -> torch.Tensor:
    """The random warp's dense displacement (n, 2, R, R) in normalised coordinates."""
    choice = torch.randint(len(_CELL_FRACTIONS), (n,), generator=generator)
    finest = round(1 / _CELL_FRACTIONS[-1]) - 1  # interior control points per axis on the finest grid
    moves = _truncated_normal((n, 2, finest, finest), generator)
    flow = torch.zeros(n, 2, resolution, resolution)
    for index, fraction in enumerate(_CELL_FRACTIONS):
        members = (choice == index).nonzero().flatten()
        if members.numel() == 0:
            continue
        cells = round(1 / fraction)
        coarse = torch.zeros(members.numel(), 2, cells + 1, cells + 1)
        # 0.24 * cell pixels is 0.24 * fraction * 2 in normalised units (the width spans 2).
        coarse[:, :, 1:-1, 1:-1] = moves[members, :, : cells - 1, : cells - 1] * (strength * fraction * 2)
        # Control point k sits at x = -1 + 2k / cells: the corners of an align_corners=True grid.
        flow[members] = F.grid_sample(
            coarse, _identity_grid(members.numel(), resolution), mode="bilinear", align_corners=True
        )
    return flow


def gen_warp_params(
    n: int,
    resolution: int,
    *,
    generator: torch.Generator,
    flip: bool = True,
    rotation_range: tuple[float, float] = (-10.0, 10.0),
    scale_range: tuple[float, float] = (-0.05, 0.05),
    tx_range: tuple[float, float] = (-0.05, 0.05),
    ty_range: tuple[float, float] = (-0.05, 0.05),
    warp_strength: float = 0.24,
) -> WarpParams:
    """Draw augmentation parameters for ``n`` images of side ``resolution`` (``gen_warp_params``).

    Rotation in degrees (positive turns the picture counter-clockwise, as ``cv2.getRotationMatrix2D``),
    scale ``1 + U(scale_range)``, shifts ``U(t*_range)`` times the width, a flip with probability
    :data:`FLIP_PROBABILITY` when ``flip``, and the random warp of strength ``warp_strength`` (times
    the cell size; DeepFaceLab's 0.24, 0 gives no warp). Deterministic given ``generator`` (a CPU
    ``torch.Generator``; the parameters are drawn on the CPU and moved to the images' device).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 2:
        raise ValueError(f"resolution must be an int >= 2, got {resolution!r}")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    rotation_range = _check_range("rotation_range", rotation_range)
    scale_range = _check_range("scale_range", scale_range)
    if scale_range[0] <= -1:
        raise ValueError(f"scale_range must stay above -1 (scale = 1 + value > 0), got {scale_range!r}")
    tx_range, ty_range = _check_range("tx_range", tx_range), _check_range("ty_range", ty_range)
    if not warp_strength >= 0:
        raise ValueError(f"warp_strength must be >= 0, got {warp_strength!r}")

    u = torch.rand(n, 5, generator=generator, dtype=torch.float64)
    angle = torch.deg2rad(_uniform(u[:, 0], rotation_range))
    scale = 1.0 + _uniform(u[:, 1], scale_range)
    shift = torch.stack([_uniform(u[:, 2], tx_range), _uniform(u[:, 3], ty_range)], dim=1) * 2.0
    # OpenCV's forward map is dst = s * R @ src + t with R = [[cos, sin], [-sin, cos]]; invert it.
    cos, sin = torch.cos(angle), torch.sin(angle)
    inverse = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1) / scale[:, None, None]
    offset = -(inverse @ shift[:, :, None])
    theta = torch.cat([inverse, offset], dim=2).float()
    flips = (u[:, 4] < FLIP_PROBABILITY) & flip
    return WarpParams(theta=theta, flip=flips, flow=_warp_flow(n, resolution, warp_strength, generator))


def _sampling_grid(
    params: WarpParams, device: torch.device, *, can_warp: bool, can_transform: bool, can_flip: bool
) -> torch.Tensor:
    """Where each output pixel reads the source: flip, then the affine, then the warp (N, R, R, 2)."""
    n = params.theta.shape[0]
    grid = _identity_grid(n, params.resolution)
    if can_flip:
        grid = torch.where(params.flip[:, None, None, None], grid * torch.tensor([-1.0, 1.0]), grid)
    if can_transform:
        grid = grid @ params.theta[:, None, :, :2].transpose(-1, -2) + params.theta[:, None, None, :, 2]
    if can_warp:
        displacement = F.grid_sample(params.flow, grid, mode="bilinear", padding_mode="border", align_corners=False)
        grid = grid + displacement.permute(0, 2, 3, 1)
    return grid.to(device)


#: ``warp_by_params``' filters: DeepFaceLab's ``cv2_inter`` values, by name.
INTERPOLATIONS = ("bicubic", "bilinear")


def _resample(x: torch.Tensor, grid: torch.Tensor, border_replicate: bool, interpolation: str) -> torch.Tensor:
    """Sample ``x`` at ``grid``; bicubic results are clipped back to [0, 1] (bicubic overshoots at edges)."""
    padding = "border" if border_replicate else "zeros"
    out = F.grid_sample(x, grid.to(x.dtype), mode=interpolation, padding_mode=padding, align_corners=False)
    return out.clamp_(0.0, 1.0) if interpolation == "bicubic" else out


def _check_params(params: WarpParams, x: torch.Tensor, name: str) -> None:
    _check_batch(name, x)
    if x.shape[0] != params.theta.shape[0] or x.shape[-1] != params.resolution:
        raise ValueError(
            f"{name} of shape {tuple(x.shape)} does not match the parameters (made for "
            f"{params.theta.shape[0]} images of side {params.resolution}); call gen_warp_params "
            "with the batch's size and resolution"
        )


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

    ``border_replicate`` repeats edge pixels (images) instead of padding with zeros (masks).
    ``interpolation``: "bicubic" (DeepFaceLab's default ``cv2.INTER_CUBIC``, for images; the result
    is clipped to [0, 1]) or "bilinear" (``cv2.INTER_LINEAR``, what ``SampleProcessor`` uses for masks).
    """
    _check_params(params, x, "x")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {', '.join(map(repr, INTERPOLATIONS))}; got {interpolation!r}")
    grid = _sampling_grid(params, x.device, can_warp=can_warp, can_transform=can_transform, can_flip=can_flip)
    return _resample(x, grid, border_replicate, interpolation)


def random_affine(
    images: torch.Tensor,
    *,
    generator: torch.Generator,
    rotation_range: tuple[float, float] = (-10.0, 10.0),
    scale_range: tuple[float, float] = (-0.05, 0.05),
    tx_range: tuple[float, float] = (-0.05, 0.05),
    ty_range: tuple[float, float] = (-0.05, 0.05),
) -> torch.Tensor:
    """Rotate, scale and shift each (N, C, R, R) image in [0, 1] at random (DeepFaceLab's ranges)."""
    _check_batch("images", images)
    params = gen_warp_params(
        images.shape[0], images.shape[-1], generator=generator, flip=False, rotation_range=rotation_range,
        scale_range=scale_range, tx_range=tx_range, ty_range=ty_range,
    )
    return warp_by_params(images, params, can_warp=False, can_transform=True, can_flip=False, border_replicate=True)


def random_flip(images: torch.Tensor, *, generator: torch.Generator) -> torch.Tensor:
    """Mirror each (N, C, R, R) image in [0, 1] left-right with probability 0.4 (DeepFaceLab's)."""
    _check_batch("images", images)
    params = gen_warp_params(images.shape[0], images.shape[-1], generator=generator)
    return torch.where(params.flip.to(images.device)[:, None, None, None], images.flip(-1), images)


def random_warp(images: torch.Tensor, *, generator: torch.Generator, strength: float = 0.24) -> torch.Tensor:
    """Apply only the random grid warp to (N, C, R, R) images in [0, 1] (``IMG_WARPED``).

    ``strength`` scales the control-point moves (times the cell size); 0 is the identity.
    """
    _check_batch("images", images)
    params = gen_warp_params(images.shape[0], images.shape[-1], generator=generator, warp_strength=strength)
    return warp_by_params(images, params, can_warp=True, can_transform=False, can_flip=False, border_replicate=True)


def augment_batch(
    images: torch.Tensor,
    masks: list[torch.Tensor] | tuple[torch.Tensor, ...] = (),
    *,
    generator: torch.Generator,
    random_warp: bool = True,
    random_flip: bool = True,
) -> AugmentedBatch:
    """Make SAEHD's training sample from (N, C, R, R) images in [0, 1] and their (N, 1, R, R) masks.

    One set of parameters per image (:func:`gen_warp_params`) is shared by the image, the target and
    every mask (face mask, eyes-and-mouth mask, ...). ``warped`` = warp + affine + flip (the
    network's input); ``target`` and ``masks`` = affine + flip only. With ``random_warp=False``
    (pretraining) ``warped`` is ``target``. Deterministic given ``generator``.
    """
    _check_batch("images", images)
    masks = list(masks)
    for i, mask in enumerate(masks):
        _check_batch(f"masks[{i}]", mask)
        if mask.shape[0] != images.shape[0] or mask.shape[-1] != images.shape[-1]:
            raise ValueError(
                f"masks[{i}] of shape {tuple(mask.shape)} does not match images {tuple(images.shape)}; "
                "give one (N, 1, R, R) mask per image"
            )
    params = gen_warp_params(images.shape[0], images.shape[-1], generator=generator, flip=random_flip)
    target_grid = _sampling_grid(params, images.device, can_warp=False, can_transform=True, can_flip=True)
    target = _resample(images, target_grid, border_replicate=True, interpolation="bicubic")
    if random_warp:
        warped_grid = _sampling_grid(params, images.device, can_warp=True, can_transform=True, can_flip=True)
        warped = _resample(images, warped_grid, border_replicate=True, interpolation="bicubic")
    else:
        warped = target
    moved_masks: list[torch.Tensor] = []
    if masks:
        stacked = _resample(torch.cat(masks, dim=1), target_grid, border_replicate=False, interpolation="bilinear")
        moved_masks = list(stacked.split([m.shape[1] for m in masks], dim=1))
    return AugmentedBatch(warped=warped, target=target, masks=moved_masks, params=params)
