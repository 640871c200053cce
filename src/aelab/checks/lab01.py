"""Lab 01 -- Autoencoders and reconstruction loss: the checks of the student's SSIM family.

The exercises (``solutions/01-autoencoders.ipynb``) work on image batches: tensors (N, C, H, W) of
float32 in [0, 1].

- ``check_gaussian_window(gaussian_window)``: ``gaussian_window(kernel_size, sigma)`` is the 1-D
  Gaussian window (kernel_size,), centred at ``(kernel_size - 1) / 2``, normalised to sum 1.
- ``check_ssim(ssim)``: ``ssim(x, y, kernel_size=11, sigma=1.5, k1=0.01, k2=0.03)`` is one number,
  the SSIM map (Gaussian window, *valid* convolution, c1 = k1², c2 = k2², data range 1) averaged
  over the batch, the channels and the pixels -- :func:`aelab.losses.ssim`.
  ``check_ssim_options(ssim)`` (the hidden test) checks that sigma, k1 and k2 are honoured.
- ``check_dssim(dssim)``: ``dssim(x, y, **ssim_options) = (1 - ssim) / 2``.
- ``check_dfl_loss(dfl_loss)``: DeepFaceLab's reconstruction loss below 256 px,
  ``10 * DSSIM(kernel_size=int(resolution / 11.6)) + 10 * MSE`` -- value and gradient.
- ``check_gradient_energy(gradient_energy)``: per image, the mean squared forward difference
  along the width plus the same along the height, shape (N,).

Each judge rebuilds the fixed inputs, recomputes the reference with :mod:`aelab.losses` and, when the
answer is off, compares it with the usual mistakes (a padded window, a box window, a missing ``/ 2``,
an 11-pixel window in the DFL loss ...) to say which one it looks like.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from aelab import losses

from . import check, floats, numbers, shape, upstream

__all__ = [
    "check_gaussian_window",
    "check_ssim",
    "check_ssim_options",
    "check_dssim",
    "check_dfl_loss",
    "check_gradient_energy",
]

#: How far a student's float32 result may be from the float64 reference.
_TOLERANCE = 1e-4
#: (kernel_size, sigma) pairs the window check asks for: odd, even, DFL's 2 px window at 32 px.
_WINDOWS = ((11, 1.5), (5, 1.5), (2, 1.5), (8, 1.0))
#: The resolutions of the DFL-loss check: windows int(32 / 11.6) = 2 and int(64 / 11.6) = 5.
_DFL_RESOLUTIONS = (32, 64)
#: The options of the hidden SSIM test, all different from the defaults.
_OPTIONS = {"kernel_size": 7, "sigma": 1.0, "k1": 0.05, "k2": 0.1}


# ------------------------------------------------------------------------------------------------
# Fixed inputs and references shared by the exercises
# ------------------------------------------------------------------------------------------------


def _smooth(x: torch.Tensor) -> torch.Tensor:
    """A 3x3 box blur that keeps the size (replicate border): random pixels with some structure."""
    x = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="replicate")
    return torch.nn.functional.avg_pool2d(x, 3, stride=1)


def _pair(size: int, seed: int, batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """A target and a degraded copy (N, 3, size, size) in [0, 1]: darker, noisier, a little blurred."""
    generator = torch.Generator().manual_seed(seed)
    target = _smooth(torch.rand(batch, 3, size, size, generator=generator))
    target = (target - 0.5) * 2.5 + 0.5  # stretch the contrast back after the blur
    noise = 0.08 * torch.randn(batch, 3, size, size, generator=generator)
    pred = 0.8 * _smooth(target) + 0.05 + noise
    return target.clamp(0.0, 1.0), pred.clamp(0.0, 1.0)


def _flat_pair() -> tuple[torch.Tensor, torch.Tensor]:
    """Two flat images (1, 3, 16, 16), grey 0.2 and grey 0.6: their local variances are all zero."""
    return torch.full((1, 3, 16, 16), 0.2), torch.full((1, 3, 16, 16), 0.6)


def _window(
    kernel_size: int, sigma: float, centre: float | None = None, denominator: float | None = None, box: bool = False
) -> torch.Tensor:
    """A 1-D window: DeepFaceLab's Gaussian by default, or a mistaken variant of it."""
    d = torch.arange(kernel_size, dtype=torch.float64) - ((kernel_size - 1) / 2 if centre is None else centre)
    w = torch.ones_like(d) if box else torch.exp(-(d**2) / (2 * sigma**2 if denominator is None else denominator))
    return w / w.sum()


def _ssim_variant(
    x: torch.Tensor,
    y: torch.Tensor,
    window: torch.Tensor,
    *,
    padded: bool = False,
    k1: float = 0.01,
    k2: float = 0.03,
    squared: bool = True,
) -> float:
    """SSIM of (N, C, H, W) batches with a given 1-D window, valid or zero-padded ("same"), with
    c1 = k1², c2 = k2² (or, ``squared=False``, the usual mistake c1 = k1, c2 = k2)."""
    x, y = x.double(), y.double()
    c, k = x.shape[1], window.numel()
    kernel = (window[:, None] * window[None, :]).expand(c, 1, k, k)

    def blur(t: torch.Tensor) -> torch.Tensor:
        if padded:
            t = torch.nn.functional.pad(t, (k // 2, (k - 1) // 2, k // 2, (k - 1) // 2))
        return torch.nn.functional.conv2d(t, kernel, groups=c)

    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = (k1**2, k2**2) if squared else (k1, k2)
    return float((((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))).mean())


def _reference_ssim(x: torch.Tensor, y: torch.Tensor, **options: Any) -> float:
    return float(losses.ssim(x.double(), y.double(), **options))


def _upstream_gaussian_window(kernel_size: int, sigma: float = 1.5) -> torch.Tensor:
    """The reference for exercise 1.1, with the exercise's signature (given to later exercises)."""
    return losses.gaussian_window(kernel_size, sigma)


def _upstream_ssim(
    x: torch.Tensor, y: torch.Tensor, kernel_size: int = 11, sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03
) -> torch.Tensor:
    """The reference for exercise 1.2, with the exercise's signature (given to later exercises)."""
    return losses.ssim(x, y, kernel_size=kernel_size, sigma=sigma, k1=k1, k2=k2)


def _upstream_dssim(x: torch.Tensor, y: torch.Tensor, **options: Any) -> torch.Tensor:
    """The reference for exercise 1.3, with the exercise's signature (given to later exercises)."""
    return (1 - _upstream_ssim(x, y, **options)) / 2


#: The earlier exercises' references, by the names the notebook gives them.
_UPSTREAM = {"gaussian_window": _upstream_gaussian_window, "ssim": _upstream_ssim, "dssim": _upstream_dssim}


def _close(value: float, expected: float) -> bool:
    return abs(value - expected) <= _TOLERANCE


def _first_mismatch(values: list[float], expected: list[float]) -> int | None:
    return next((i for i, (v, e) in enumerate(zip(values, expected)) if not _close(v, e)), None)


# ------------------------------------------------------------------------------------------------
# Exercise 1.1: gaussian_window
# ------------------------------------------------------------------------------------------------


def _judge_gaussian_window(evidence: Any) -> tuple[bool, str]:
    windows = floats(evidence)
    if not isinstance(windows, list) or len(windows) != len(_WINDOWS):
        raise TypeError(f"expected {len(_WINDOWS)} windows")
    for (k, sigma), got in zip(_WINDOWS, windows):
        call = f"gaussian_window({k}, {sigma})"
        got_shape = shape(got)
        if got_shape != (k,):
            return False, f"{call} has shape {got_shape}; expected ({k},), one weight per tap."
        w = torch.tensor(got, dtype=torch.float64)
        if not torch.isfinite(w).all():
            return False, f"{call} holds NaN or infinity."
        if abs(w.sum().item() - 1) > _TOLERANCE:
            return False, f"{call} sums to {w.sum().item():.4f}; normalise it so the weights sum to 1."
        if (w - w.flip(0)).abs().max() > _TOLERANCE:
            return False, (
                f"{call} is not symmetric (first {w[0].item():.4f}, last {w[-1].item():.4f}); "
                "centre it at (kernel_size - 1) / 2."
            )
        error = (w - _window(k, sigma)).abs().max().item()
        if error > _TOLERANCE:
            hint = (
                "it looks like the exponent uses sigma instead of sigma²: exp(-d² / (2 sigma²))"
                if (w - _window(k, sigma, denominator=2 * sigma)).abs().max() <= _TOLERANCE
                else "check the exponent -d² / (2 sigma²), d being the distance to the centre"
            )
            return False, (
                f"{call} has its centre weight {w[(k - 1) // 2].item():.4f} (expected "
                f"{_window(k, sigma)[(k - 1) // 2].item():.4f}); {hint}."
            )
    return True, "your Gaussian windows match the reference (odd and even sizes, two sigmas)."


@check(_judge_gaussian_window)
def check_gaussian_window(gaussian_window: Callable[[int, float], torch.Tensor]) -> Any:
    """Your ``gaussian_window(kernel_size, sigma)`` for odd and even sizes: a normalised 1-D Gaussian."""
    return [gaussian_window(k, sigma) for k, sigma in _WINDOWS]


# ------------------------------------------------------------------------------------------------
# Exercise 1.2: ssim
# ------------------------------------------------------------------------------------------------


def _ssim_cases() -> list[tuple[str, torch.Tensor, torch.Tensor, dict[str, Any]]]:
    """(description, x, y, keyword arguments) of the SSIM and DSSIM checks."""
    x, y = _pair(24, seed=11)
    return [
        ("an image batch with itself", x, x, {}),
        ("a fixed pair of batches (N, 3, 24, 24)", x, y, {}),
        ("the same pair with kernel_size=5", x, y, {"kernel_size": 5}),
        ("the same pair with kernel_size=2 (DeepFaceLab's window at 32 px)", x, y, {"kernel_size": 2}),
        ("two flat images (grey 0.2 and grey 0.6)", *_flat_pair(), {}),
    ]


def _ssim_mistakes(x: torch.Tensor, y: torch.Tensor, options: dict[str, Any]) -> list[tuple[float, str]]:
    """(value, what it looks like) for the usual ways of getting SSIM wrong on one case."""
    k, sigma = options.get("kernel_size", 11), options.get("sigma", 1.5)
    return [
        (
            _ssim_variant(x, y, _window(k, sigma), padded=True),
            "it looks like the images were padded: SSIM here uses a *valid* window (no padding), so the "
            "map is smaller than the image",
        ),
        (
            _ssim_variant(x, y, _window(k, sigma, box=True)),
            "it looks like a uniform (box) window: weight the window with the Gaussian of gaussian_window",
        ),
        (
            _ssim_variant(x, y, _window(k, sigma, centre=float(k // 2))),
            f"it looks like the window is centred at kernel_size // 2 = {k // 2}; centre it at "
            f"(kernel_size - 1) / 2 = {(k - 1) / 2:g} so that even sizes stay symmetric",
        ),
        (
            _ssim_variant(x, y, _window(k, sigma, denominator=2 * sigma)),
            "it looks like the Gaussian's exponent uses sigma instead of sigma²: exp(-d² / (2 sigma²))",
        ),
        (
            _ssim_variant(x, y, _window(k, sigma), k1=0.0, k2=0.0),
            "it looks like c1 and c2 are missing: add c1 = (k1)² to the means' terms and c2 = (k2)² to the "
            "variances' terms, or flat regions divide 0 by 0",
        ),
        (
            _ssim_variant(x, y, _window(k, sigma), squared=False),
            "it looks like c1 = k1 and c2 = k2; the constants are their squares: c1 = (k1)² and c2 = (k2)²",
        ),
        (
            _ssim_variant(x, y, _window(k, sigma), k1=0.03, k2=0.01),
            "it looks like k1 and k2 are swapped: c1 = (k1)² goes with the means, c2 = (k2)² with the "
            "variances and the covariance",
        ),
    ]


def _judge_ssim_values(evidence: Any, what: str, transform: Callable[[float], float]) -> tuple[bool, str]:
    """Judge SSIM-like answers on :func:`_ssim_cases`; ``transform`` maps an SSIM to the expected value."""
    cases = _ssim_cases()
    values = numbers(evidence, len(cases), what)
    if isinstance(values, str):
        return False, values
    nan = next((case for (case, *_), value in zip(cases, values) if value != value), None)
    if nan is not None:
        return False, (
            f"on {nan}, your {what} is NaN: where the local variances are 0, c1 = (k1)² and "
            "c2 = (k2)² are what keep the fraction defined."
        )
    expected = [transform(_reference_ssim(x, y, **options)) for _, x, y, options in cases]
    index = _first_mismatch(values, expected)
    if index is None:
        return (
            True,
            f"your {what} matches the reference on {len(cases)} fixed cases (odd and even windows, flat images).",
        )
    case, x, y, options = cases[index]
    value = values[index]
    message = f"on {case}, your {what} is {value:.4f}; expected {expected[index]:.4f}"
    if index == 0:
        return False, message + " (an image compared with itself)."
    for wrong, why in _ssim_mistakes(x, y, options):
        if _close(value, transform(wrong)):
            return False, f"{message}; {why}."
    return False, message + "."


def _judge_ssim(evidence: Any) -> tuple[bool, str]:
    return _judge_ssim_values(evidence, "ssim", lambda s: s)


def _judge_ssim_options(evidence: Any) -> tuple[bool, str]:
    values = numbers(evidence, 2, "ssim")
    if isinstance(values, str):
        return False, values
    x, y = _pair(24, seed=17)
    expected = _reference_ssim(x, y, **_OPTIONS)
    if _close(values[0], expected):
        return True, "your ssim honours kernel_size, sigma, k1 and k2."
    if _close(values[0], values[1]):
        return False, (
            f"with sigma={_OPTIONS['sigma']}, k1={_OPTIONS['k1']}, k2={_OPTIONS['k2']} your ssim gives "
            f"{values[0]:.4f}, as with the default sigma, k1 and k2; use the arguments you "
            "are given."
        )
    return False, f"with options {_OPTIONS} your ssim is {values[0]:.4f}; expected {expected:.4f}."


@check(_judge_ssim)
def check_ssim(ssim: Callable[..., torch.Tensor]) -> Any:
    """Your ``ssim(x, y, **options)`` on fixed pairs of image batches: one number each."""
    with upstream(ssim, gaussian_window=_UPSTREAM["gaussian_window"]):
        return [ssim(x, y, **options) for _, x, y, options in _ssim_cases()]


@check(_judge_ssim_options)
def check_ssim_options(ssim: Callable[..., torch.Tensor]) -> Any:
    """Your ``ssim`` with kernel_size, sigma, k1 and k2 all different from the defaults."""
    x, y = _pair(24, seed=17)
    with upstream(ssim, gaussian_window=_UPSTREAM["gaussian_window"]):
        return [ssim(x, y, **_OPTIONS), ssim(x, y, kernel_size=_OPTIONS["kernel_size"])]


# ------------------------------------------------------------------------------------------------
# Exercise 1.3: dssim
# ------------------------------------------------------------------------------------------------


def _judge_dssim(evidence: Any) -> tuple[bool, str]:
    cases = _ssim_cases()
    values = numbers(evidence, len(cases), "dssim")
    if isinstance(values, str):
        return False, values
    ssims = [_reference_ssim(x, y, **options) for _, x, y, options in cases]
    expected = [(1 - s) / 2 for s in ssims]
    index = _first_mismatch(values, expected)
    if index is None:
        return True, "your dssim is (1 - SSIM) / 2 on every fixed case, options passed through."
    message = f"on {cases[index][0]}, your dssim is {values[index]:.4f}; expected {expected[index]:.4f}"
    mistakes: list[tuple[Callable[[float], float], str]] = [
        (lambda s: 1 - s, "it looks like 1 - SSIM: divide by 2"),
        (lambda s: s, "it looks like the SSIM itself"),
        (lambda s: (1 + s) / 2, "it looks like (1 + SSIM) / 2: subtract the SSIM"),
    ]
    for wrong, why in mistakes:
        if all(_close(value, wrong(s)) for value, s in zip(values, ssims)):
            return False, f"{message}; {why}."
    if index >= 2 and _close(values[index], (1 - ssims[1]) / 2):
        return False, f"{message}; pass the keyword arguments (here {cases[index][3]}) on to your ssim."
    return False, message + "."


@check(_judge_dssim)
def check_dssim(dssim: Callable[..., torch.Tensor]) -> Any:
    """Your ``dssim(x, y, **options)`` on the SSIM check's fixed pairs."""
    with upstream(dssim, **_UPSTREAM):
        return [dssim(x, y, **options) for _, x, y, options in _ssim_cases()]


# ------------------------------------------------------------------------------------------------
# Exercise 1.4: dfl_loss
# ------------------------------------------------------------------------------------------------


def _dfl_terms(resolution: int, kernel_size: int) -> tuple[float, float]:
    """(DSSIM with ``kernel_size``, MSE) of the DFL-loss check's pair at ``resolution``."""
    x, y = _pair(resolution, seed=resolution, batch=1)
    d = float(losses.dssim(x.double(), y.double(), kernel_size=kernel_size))
    return d, float(((x.double() - y.double()) ** 2).mean())


def _reference_dfl(resolution: int, x: torch.Tensor | None = None, y: torch.Tensor | None = None) -> torch.Tensor:
    if x is None or y is None:
        x, y = _pair(resolution, seed=resolution, batch=1)
    return losses.reconstruction_loss(x.double(), y.double(), resolution)


def _judge_dfl_loss(evidence: Any) -> tuple[bool, str]:
    if not isinstance(evidence, dict) or set(evidence) != {"values", "grad"}:
        raise TypeError("expected the values and the gradient")
    values = numbers(evidence["values"], len(_DFL_RESOLUTIONS), "dfl_loss")
    if isinstance(values, str):
        return False, values
    for resolution, value in zip(_DFL_RESOLUTIONS, values):
        kernel = losses.dfl_kernel_size(resolution)
        expected = float(_reference_dfl(resolution))
        if abs(value - expected) <= _TOLERANCE * 10:
            continue
        d, m = _dfl_terms(resolution, kernel)
        d11, _ = _dfl_terms(resolution, 11)
        rounded = round(resolution / 11.6)
        mistakes = [
            (
                10 * d11 + 10 * m,
                "it looks like an 11-pixel window; DeepFaceLab scales the window with the "
                "resolution: int(resolution / 11.6)",
            ),
            (
                10 * _dfl_terms(resolution, rounded)[0] + 10 * m,
                f"it looks like round(resolution / 11.6) = {rounded}; DeepFaceLab truncates: int(resolution / 11.6)",
            ),
            (d + m, "it looks like the terms are not weighted: both get the weight 10"),
            (10 * m, "it looks like the MSE term alone; add 10 * DSSIM"),
            (10 * d, "it looks like the DSSIM term alone; add 10 * MSE"),
            (10 * (1 - 2 * d) + 10 * m, "it looks like SSIM instead of DSSIM in the first term"),
            (20 * d + 10 * m, "it looks like the DSSIM term is twice DeepFaceLab's: does your dssim divide by 2?"),
        ]
        message = f"at {resolution} px your dfl_loss is {value:.4f}; expected {expected:.4f}"
        for wrong, why in mistakes:
            if abs(value - wrong) <= _TOLERANCE * 10:
                return False, f"{message}; {why}."
        return False, f"{message} (10 * DSSIM with DeepFaceLab's window + 10 * MSE)."
    if evidence["grad"] is None:
        return False, (
            "your dfl_loss gives the right values but no gradient flows back to pred: keep it a torch "
            "computation (no .item(), float() or NumPy), or it cannot train a model."
        )
    got = torch.tensor(floats(evidence["grad"]), dtype=torch.float64)
    x, y = _pair(_DFL_RESOLUTIONS[0], seed=_DFL_RESOLUTIONS[0], batch=1)
    pred = y.double().requires_grad_(True)
    (expected_grad,) = torch.autograd.grad(_reference_dfl(_DFL_RESOLUTIONS[0], x, pred), pred)
    if got.shape != expected_grad.shape:
        return (
            False,
            f"the gradient of your dfl_loss has shape {tuple(got.shape)}; expected {tuple(expected_grad.shape)}.",
        )
    error = (got - expected_grad).abs().max().item()
    scale = expected_grad.abs().max().item()
    if error > 1e-3 * scale:
        return False, (
            f"your dfl_loss has the right value but its gradient differs from the reference (largest "
            f"difference {error:.2e}, largest gradient {scale:.2e}); is something detached or clamped?"
        )
    return True, "your dfl_loss matches DeepFaceLab's at 32 and 64 px, value and gradient."


@check(_judge_dfl_loss)
def check_dfl_loss(dfl_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Any:
    """Your ``dfl_loss(target, pred)`` at 32 and 64 px, and its gradient with respect to pred at 32 px."""
    values = []
    grad = None
    for resolution in _DFL_RESOLUTIONS:
        target, pred = _pair(resolution, seed=resolution, batch=1)
        pred.requires_grad_(True)
        with upstream(dfl_loss, **_UPSTREAM):
            value = dfl_loss(target, pred)
        if resolution == _DFL_RESOLUTIONS[0] and isinstance(value, torch.Tensor) and value.requires_grad:
            (grad,) = torch.autograd.grad(value.sum(), pred)
        values.append(value.detach() if isinstance(value, torch.Tensor) else value)
    return {"values": values, "grad": grad}


# ------------------------------------------------------------------------------------------------
# Exercise 1.5: gradient_energy
# ------------------------------------------------------------------------------------------------


def _stripes() -> torch.Tensor:
    """(1, 3, 16, 16): vertical stripes, so only the differences along the width are non-zero."""
    columns = torch.arange(16, dtype=torch.float32) % 4 / 3.0
    return columns.expand(1, 3, 16, 16).clone()


def _energy_cases() -> list[tuple[str, torch.Tensor]]:
    """(description, images) of the gradient-energy check."""
    x, _ = _pair(16, seed=13, batch=3)
    return [
        ("a fixed batch of 3 images", x),
        ("flat images", torch.full((2, 3, 8, 8), 0.7)),
        ("vertical stripes", _stripes()),
    ]


def _reference_energy(x: torch.Tensor) -> torch.Tensor:
    x = x.double()
    dx, dy = x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]
    return dx.pow(2).flatten(1).mean(1) + dy.pow(2).flatten(1).mean(1)


def _energy_mistakes(x: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    x = x.double()
    dx, dy = x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]
    ex, ey = dx.pow(2).flatten(1).mean(1), dy.pow(2).flatten(1).mean(1)
    return [
        (dx.abs().flatten(1).mean(1) + dy.abs().flatten(1).mean(1), "it looks like absolute differences; square them"),
        (ex, "it looks like only the differences along the width (the last axis) count; add those along the height"),
        (ey, "it looks like only the differences along the height count; add those along the width"),
        ((ex + ey) / 2, "it looks like the two directions are averaged; add them instead"),
        (
            dx.pow(2).flatten(1).sum(1) + dy.pow(2).flatten(1).sum(1),
            "it looks like sums over the pixels; take means, so that the measure does not grow with the image size",
        ),
    ]


def _judge_gradient_energy(evidence: Any) -> tuple[bool, str]:
    cases = _energy_cases()
    answers = floats(evidence)
    if not isinstance(answers, list) or len(answers) != len(cases):
        raise TypeError(f"expected {len(cases)} results")
    for (case, x), got in zip(cases, answers):
        n = x.shape[0]
        got_shape = shape(got)
        if got_shape != (n,):
            return False, (
                f"on {case} (N = {n}) your gradient_energy returned shape {got_shape}; expected ({n},), "
                "one value per image."
            )
        values = torch.tensor(got, dtype=torch.float64)
        expected = _reference_energy(x)
        if (values - expected).abs().max() <= _TOLERANCE:
            continue
        message = (
            f"on {case}, your gradient_energy is {[round(v, 4) for v in values.tolist()]}; expected "
            f"{[round(v, 4) for v in expected.tolist()]}"
        )
        for wrong, why in _energy_mistakes(x):
            if (values - wrong).abs().max() <= _TOLERANCE:
                return False, f"{message}; {why}."
        return False, message + "."
    return True, f"your gradient_energy matches the reference on {len(cases)} fixed batches."


@check(_judge_gradient_energy)
def check_gradient_energy(gradient_energy: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """Your ``gradient_energy(x)`` on fixed image batches: one value per image."""
    return [gradient_energy(x) for _, x in _energy_cases()]
