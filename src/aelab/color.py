"""Colour transfer (DeepFaceLab's ``ct_mode``): recolour a source batch toward a target batch.

Images are tensors of shape (N, 3, H, W) holding floats in [0, 1]; the optional masks are
(N, 1, H, W) weights in [0, 1] that restrict the colour *statistics* to the face (every pixel is
recoloured). Image i of ``source`` is recoloured toward image i of ``target`` (a target batch of one
serves every source image); source and target may differ in size. Results are clipped to [0, 1]
and keep the source's shape and dtype. The statistics are computed in float64.

What each mode reproduces (``core/imagelib/color_transfer.py``):

- ``rct`` -- ``reinhard_color_transfer``: per-channel mean and standard deviation matched in
  CIE L*a*b* (D65), L clipped to [0, 100] and a, b to [-127, 127] as DeepFaceLab does. The Lab
  conversion (:func:`rgb_to_lab`, :func:`lab_to_rgb`) is the exact sRGB one with the constants of
  OpenCV's float conversion and of ``nn.rgb_to_lab`` in ``core/leras/ops``.
- ``lct`` -- ``linear_color_transfer`` (mode ``"pca"``, eps 1e-5):
  ``x' = Ct^(1/2) Cs^(-1/2) (x - mu_s) + mu_t`` with symmetric square roots from eigendecompositions.
- ``mkl`` -- ``color_transfer_mkl``: the Monge-Kantorovich linear map
  ``T = Cs^(-1/2) (Cs^(1/2) Ct Cs^(1/2))^(1/2) Cs^(-1/2)``, eigenvalues clipped at machine eps.
- ``idt`` -- ``color_transfer_idt``: ``n_rot`` random rotations (uniform on SO(3)), 1-D matching of
  every rotated axis, each step relaxed by ``1 / n_rot``.
- ``sot`` -- ``color_transfer_sot``: sliced optimal transport, ``steps`` steps of ``batch_size``
  random directions, then the regularisation that smooths the colour displacement in space.
- ``hist_match`` -- ``color_hist_match``: per-channel histogram matching.

Differences, all documented where they occur: masks are soft weights (DeepFaceLab zeroes the pixels
outside the mask and still counts them, or cuts at 0.5); 1-D matching is exact quantile matching
(the CDF at each value's mid-rank, then the target's quantile function) instead of 256-bin
histograms; covariances are the population ones (1/N) for lct and mkl (``np.cov``'s 1/(N-1) in
mkl cancels out for equal pixel counts); sot's bilateral filter is a Gaussian (its range term,
sigma 5, is flat for colour differences within [0, 1]).
"""

from __future__ import annotations

import torch

from aelab.losses import gaussian_blur

__all__ = [
    "CT_MODES",
    "rgb_to_lab",
    "lab_to_rgb",
    "rct",
    "lct",
    "mkl",
    "idt",
    "sot",
    "hist_match",
    "transfer",
]

#: The ``ct_mode`` names :func:`transfer` accepts (plus ``None`` / ``"none"`` for no transfer).
CT_MODES = ("rct", "lct", "mkl", "idt", "sot", "hist_match")

# sRGB (linear) -> XYZ, rows R, G, B (as nn.rgb_to_lab and OpenCV), and the D65 white point.
_RGB_TO_XYZ = torch.tensor(
    [[0.412453, 0.212671, 0.019334], [0.357580, 0.715160, 0.119193], [0.180423, 0.072169, 0.950227]],
    dtype=torch.float64,
)
_WHITE = torch.tensor([0.950456, 1.0, 1.088754], dtype=torch.float64)
_EPSILON = 6.0 / 29.0
_LAB_LOW = torch.tensor([0.0, -127.0, -127.0], dtype=torch.float64)
_LAB_HIGH = torch.tensor([100.0, 127.0, 127.0], dtype=torch.float64)


def _check_images(name: str, x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, 3, H, W), got {type(x).__name__}")
    if x.ndim != 4 or x.shape[1] != 3 or not x.is_floating_point():
        raise ValueError(
            f"{name} must be a float tensor of RGB images (N, 3, H, W) in [0, 1], got dtype {x.dtype} "
            f"and shape {tuple(x.shape)}"
        )


def _pixels(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) -> (N, H*W, 3) in float64."""
    return x.flatten(2).transpose(1, 2).double()


def _weights(name: str, mask: torch.Tensor | None, images: torch.Tensor) -> torch.Tensor:
    """(N, H*W) statistics weights from an optional (N, 1, H, W) mask; ones without one."""
    n, _, h, w = images.shape
    if mask is None:
        return torch.ones(n, h * w, dtype=torch.float64, device=images.device)
    if not isinstance(mask, torch.Tensor) or mask.ndim != 4 or mask.shape[1] != 1:
        raise ValueError(f"{name} must be a (N, 1, H, W) tensor, got {getattr(mask, 'shape', mask)!r}")
    if mask.shape[0] not in (1, n) or mask.shape[2:] != images.shape[2:]:
        raise ValueError(
            f"{name} of shape {tuple(mask.shape)} does not match its images {tuple(images.shape)}; "
            "give one (N, 1, H, W) mask per image"
        )
    weights = mask.clamp(0.0, 1.0).expand(n, 1, h, w).flatten(1).double()
    if (weights.sum(dim=1) <= 0).any():
        raise ValueError(f"{name} is empty (all zero) for some image; statistics need some face pixels")
    return weights


def _moments(pixels: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted mean (N, 3) and population covariance (N, 3, 3) of (N, P, 3) pixels."""
    w = weights / weights.sum(dim=1, keepdim=True)
    mean = (w[..., None] * pixels).sum(dim=1)
    centred = pixels - mean[:, None]
    return mean, (w[..., None] * centred).transpose(1, 2) @ centred


def _sym_power(c: torch.Tensor, power: float, floor: float) -> torch.Tensor:
    """``c ** power`` of symmetric (N, 3, 3) matrices by eigendecomposition, eigenvalues >= floor."""
    values, vectors = torch.linalg.eigh(c)
    return vectors @ torch.diag_embed(values.clamp_min(floor) ** power) @ vectors.transpose(1, 2)


def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor, right: bool) -> torch.Tensor:
    """Batched ``np.interp`` of (B, P) ``x`` on non-decreasing (B, Q) ``xp``, ends clamped."""
    idx = torch.searchsorted(xp, x, right=right).clamp(1, xp.shape[1] - 1)
    x0, x1 = xp.gather(1, idx - 1), xp.gather(1, idx)
    f0, f1 = fp.gather(1, idx - 1), fp.gather(1, idx)
    t = ((x - x0) / (x1 - x0).clamp_min(1e-12)).clamp(0.0, 1.0)
    return f0 + t * (f1 - f0)


def _cdf(values: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted (B, P) values and their weighted mid-rank CDF positions in (0, 1)."""
    ordered, order = values.sort(dim=1)
    w = weights.gather(1, order)
    cumulative = w.cumsum(dim=1)
    return ordered.contiguous(), (cumulative - 0.5 * w) / cumulative[:, -1:]


def _match_1d(
    values: torch.Tensor, values_w: torch.Tensor, reference: torch.Tensor, reference_w: torch.Tensor
) -> torch.Tensor:
    """Map each of the (B, P) ``values`` to the (B, Q) ``reference`` value at the same quantile.

    The quantile of a value is its weighted CDF at mid-rank (ties share the middle of their run);
    with equal, unweighted sizes the result is the reference sorted into the values' order.
    """
    values = values.contiguous()
    ordered, positions = _cdf(values, values_w)
    quantile = 0.5 * (_interp(values, ordered, positions, False) + _interp(values, ordered, positions, True))
    ref_ordered, ref_positions = _cdf(reference, reference_w)
    return _interp(quantile, ref_positions, ref_ordered, False)


def rgb_to_lab(x: torch.Tensor) -> torch.Tensor:
    """CIE L*a*b* (D65) of (N, 3, H, W) sRGB images in [0, 1]: L in [0, 100], a and b about +-110."""
    _check_images("x", x)
    c = _pixels(x)
    linear = torch.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    t = linear @ _RGB_TO_XYZ.to(c.device) / _WHITE.to(c.device)
    f = torch.where(t > _EPSILON**3, t.clamp_min(0.0) ** (1.0 / 3.0), t / (3 * _EPSILON**2) + 4.0 / 29.0)
    lab = torch.stack([116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])], -1)
    return lab.transpose(1, 2).reshape(x.shape).to(x.dtype)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """sRGB (N, 3, H, W) of L*a*b* (D65) images, the inverse of :func:`rgb_to_lab`, clipped to [0, 1]."""
    _check_images("lab", lab)
    v = _pixels(lab)
    fy = (v[..., 0] + 16.0) / 116.0
    f = torch.stack([fy + v[..., 1] / 500.0, fy, fy - v[..., 2] / 200.0], -1)
    t = torch.where(f > _EPSILON, f**3, 3 * _EPSILON**2 * (f - 4.0 / 29.0))
    linear = ((t * _WHITE.to(v.device)) @ torch.linalg.inv(_RGB_TO_XYZ).to(v.device)).clamp_min(0.0)
    c = torch.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1.0 / 2.4) - 0.055)
    return c.clamp(0.0, 1.0).transpose(1, 2).reshape(lab.shape).to(lab.dtype)


def _prepare(
    source: torch.Tensor,
    target: torch.Tensor,
    source_mask: torch.Tensor | None,
    target_mask: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validate a transfer's inputs; return (N, P, 3) pixels and (N, P) weights of both sides."""
    _check_images("source", source)
    _check_images("target", target)
    if target.shape[0] not in (1, source.shape[0]):
        raise ValueError(
            f"target must hold one image or one per source image ({source.shape[0]}), got {target.shape[0]}"
        )
    target = target.expand(source.shape[0], *target.shape[1:])
    return (
        _pixels(source),
        _weights("source_mask", source_mask, source),
        _pixels(target),
        _weights("target_mask", target_mask, target),
    )


def _to_images(pixels: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(N, P, 3) float64 pixels -> images shaped and typed like ``like``, clipped to [0, 1]."""
    return pixels.clamp(0.0, 1.0).transpose(1, 2).reshape(like.shape).to(like.dtype)


def rct(
    source: torch.Tensor,
    target: torch.Tensor,
    *,
    source_mask: torch.Tensor | None = None,
    target_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Reinhard colour transfer of (N, 3, H, W) images in [0, 1] (``reinhard_color_transfer``).

    In L*a*b*, each channel is shifted and scaled so its (masked) mean and standard deviation become
    the target's; then L is clipped to [0, 100], a and b to [-127, 127], and the result goes back to
    sRGB, clipped to [0, 1].
    """
    _, ws, _, wt = _prepare(source, target, source_mask, target_mask)
    lab_s, lab_t = _pixels(rgb_to_lab(source.double())), _pixels(rgb_to_lab(target.double()))
    lab_t = lab_t.expand(lab_s.shape[0], *lab_t.shape[1:])
    mean_s, cov_s = _moments(lab_s, ws)
    mean_t, cov_t = _moments(lab_t, wt)
    std_s = cov_s.diagonal(dim1=1, dim2=2).sqrt().clamp_min(1e-6)
    std_t = cov_t.diagonal(dim1=1, dim2=2).sqrt()
    lab = (lab_s - mean_s[:, None]) * (std_t / std_s)[:, None] + mean_t[:, None]
    lab = torch.maximum(torch.minimum(lab, _LAB_HIGH.to(lab.device)), _LAB_LOW.to(lab.device))
    rgb = lab_to_rgb(lab.transpose(1, 2).reshape(source.shape[0], 3, *source.shape[2:]))
    return rgb.to(source.dtype)


def _linear_transfer(
    source: torch.Tensor,
    target: torch.Tensor,
    source_mask: torch.Tensor | None,
    target_mask: torch.Tensor | None,
    matrix: str,
) -> torch.Tensor:
    """``x' = (x - mu_s) T + mu_t`` with T from lct's or mkl's formula (symmetric, (N, 3, 3))."""
    ps, ws, pt, wt = _prepare(source, target, source_mask, target_mask)
    mean_s, cov_s = _moments(ps, ws)
    mean_t, cov_t = _moments(pt, wt)
    if matrix == "lct":
        eye = 1e-5 * torch.eye(3, dtype=cov_s.dtype, device=cov_s.device)
        transform = _sym_power(cov_t + eye, 0.5, 0.0) @ _sym_power(cov_s + eye, -0.5, 1e-12)
    else:
        eps = torch.finfo(torch.float64).eps
        root, inverse_root = _sym_power(cov_s, 0.5, eps), _sym_power(cov_s, -0.5, eps)
        transform = inverse_root @ _sym_power(root @ cov_t @ root, 0.5, eps) @ inverse_root
    # Row-vector pixels: x' = (x - mu_s) @ T^T + mu_t.
    return _to_images((ps - mean_s[:, None]) @ transform.transpose(1, 2) + mean_t[:, None], source)


def lct(
    source: torch.Tensor,
    target: torch.Tensor,
    *,
    source_mask: torch.Tensor | None = None,
    target_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Linear colour transfer of (N, 3, H, W) images in [0, 1] (``linear_color_transfer``, "pca").

    ``x' = Ct^(1/2) Cs^(-1/2) (x - mu_s) + mu_t`` with eps 1e-5 on the covariances' diagonals.
    """
    return _linear_transfer(source, target, source_mask, target_mask, "lct")


def mkl(
    source: torch.Tensor,
    target: torch.Tensor,
    *,
    source_mask: torch.Tensor | None = None,
    target_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Monge-Kantorovich linear colour transfer of (N, 3, H, W) images in [0, 1] (``color_transfer_mkl``).

    The optimal-transport map between Gaussians with the two (masked) means and covariances.
    """
    return _linear_transfer(source, target, source_mask, target_mask, "mkl")


def _directional_match(
    ps: torch.Tensor, ws: torch.Tensor, pt: torch.Tensor, wt: torch.Tensor, directions: torch.Tensor
) -> torch.Tensor:
    """Move (N, P, 3) ``ps`` so its projections on (N, K, 3) unit ``directions`` match ``pt``'s.

    Returns the displacement (N, P, 3): the sum over directions of (matched - projected) * direction.
    """
    n, k = directions.shape[:2]
    proj_s = (ps @ directions.transpose(1, 2)).transpose(1, 2).reshape(n * k, -1)
    proj_t = (pt @ directions.transpose(1, 2)).transpose(1, 2).reshape(n * k, -1)
    moved = _match_1d(proj_s, ws.repeat_interleave(k, 0), proj_t, wt.repeat_interleave(k, 0))
    return ((moved - proj_s).reshape(n, k, -1).transpose(1, 2)) @ directions


def _generator(generator: torch.Generator | None) -> torch.Generator:
    if generator is None:
        return torch.Generator().manual_seed(0)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    return generator


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def idt(
    source: torch.Tensor,
    target: torch.Tensor,
    *,
    source_mask: torch.Tensor | None = None,
    target_mask: torch.Tensor | None = None,
    n_rot: int = 20,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Iterative distribution transfer of (N, 3, H, W) images in [0, 1] (``color_transfer_idt``).

    ``n_rot`` times: a random rotation per image (uniform on SO(3), seeded by ``generator``; None
    means seed 0), 1-D matching of each rotated axis, and a step of ``1 / n_rot`` toward the match.
    """
    _check_count("n_rot", n_rot)
    ps, ws, pt, wt = _prepare(source, target, source_mask, target_mask)
    g = _generator(generator)
    for _ in range(n_rot):
        q, r = torch.linalg.qr(torch.randn(ps.shape[0], 3, 3, generator=g, dtype=torch.float64))
        rotation = q * torch.sign(torch.diagonal(r, dim1=1, dim2=2))[:, None, :]  # Haar on O(3)
        rotation[:, :, 0] *= torch.sign(torch.linalg.det(rotation))[:, None]  # det +1: SO(3)
        # The rows of R are the axes; the move goes back through R^-1 = R^T (DFL's np.linalg.solve).
        ps = ps + _directional_match(ps, ws, pt, wt, rotation.to(ps.device)) / n_rot
    return _to_images(ps, source)


def sot(
    source: torch.Tensor,
    target: torch.Tensor,
    *,
    source_mask: torch.Tensor | None = None,
    target_mask: torch.Tensor | None = None,
    steps: int = 10,
    batch_size: int = 5,
    reg_sigma_xy: float = 16.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Sliced optimal transport colour transfer of (N, 3, H, W) images in [0, 1] (``color_transfer_sot``).

    ``steps`` times: ``batch_size`` random unit directions per image (seeded by ``generator``; None
    means seed 0); along each, the source's projections are matched to the target's, and the source
    moves by the mean of those moves. Then, when ``reg_sigma_xy > 0``, the colour displacement is
    smoothed in space with a Gaussian of ``reg_sigma_xy`` pixels (DeepFaceLab's bilateral filter).
    """
    _check_count("steps", steps)
    _check_count("batch_size", batch_size)
    if not reg_sigma_xy >= 0:
        raise ValueError(f"reg_sigma_xy must be >= 0 (0 turns the regularisation off), got {reg_sigma_xy!r}")
    ps, ws, pt, wt = _prepare(source, target, source_mask, target_mask)
    g = _generator(generator)
    moved = ps
    for _ in range(steps):
        directions = torch.randn(ps.shape[0], batch_size, 3, generator=g, dtype=torch.float64)
        directions = (directions / directions.norm(dim=2, keepdim=True)).to(ps.device)
        moved = moved + _directional_match(moved, ws, pt, wt, directions) / batch_size
    if reg_sigma_xy > 0:
        shift = (moved - ps).transpose(1, 2).reshape(source.shape[0], 3, *source.shape[2:])
        shift = gaussian_blur(shift, reg_sigma_xy, border="replicate")
        moved = ps + shift.flatten(2).transpose(1, 2)
    return _to_images(moved, source)


def hist_match(
    source: torch.Tensor,
    target: torch.Tensor,
    *,
    source_mask: torch.Tensor | None = None,
    target_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-channel histogram matching of (N, 3, H, W) images in [0, 1] (``color_hist_match``).

    Each channel's value goes to the target's value at the same (masked) quantile.
    """
    ps, ws, pt, wt = _prepare(source, target, source_mask, target_mask)
    axes = torch.eye(3, dtype=ps.dtype, device=ps.device).expand(ps.shape[0], 3, 3)
    return _to_images(ps + _directional_match(ps, ws, pt, wt, axes), source)


def transfer(
    source: torch.Tensor,
    target: torch.Tensor,
    mode: str | None,
    *,
    source_mask: torch.Tensor | None = None,
    target_mask: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Recolour (N, 3, H, W) ``source`` images in [0, 1] toward ``target`` with DeepFaceLab's ``ct_mode``.

    ``mode`` is one of :data:`CT_MODES` or ``None`` / ``"none"`` (the source, unchanged);
    ``generator`` seeds the random modes (idt, sot).
    """
    if mode is None or mode == "none":
        _prepare(source, target, source_mask, target_mask)
        return source
    if mode not in CT_MODES:
        raise ValueError(f"unknown ct_mode {mode!r}; use one of {', '.join(CT_MODES)} or None")
    masks = {"source_mask": source_mask, "target_mask": target_mask}
    if mode in ("idt", "sot"):
        return {"idt": idt, "sot": sot}[mode](source, target, generator=generator, **masks)
    return {"rct": rct, "lct": lct, "mkl": mkl, "hist_match": hist_match}[mode](source, target, **masks)
