"""Latent-space machinery: the linear baseline (PCA), paths through a code space, and batch encoding.

What lab 02 ("Latent spaces") teaches, as reusable library code (the lab's exercises are the
student's own versions of the first ones; its checks judge them against these):

- :class:`PCA` -- principal component analysis by an eigen-decomposition, in scikit-learn's style
  (``fit`` / ``transform`` / ``inverse_transform``), the linear autoencoder every non-linear one is
  measured against: its codes are the projections on the top-k principal directions, its decoder the
  transpose, and no linear code of k numbers reconstructs the data with a smaller squared error.
- :func:`lerp`, :func:`slerp`, :func:`interpolate` -- paths between two codes (Shoemake's spherical
  interpolation, as White 2016 "Sampling Generative Networks" uses it for Gaussian latents).
- :func:`factor_direction` and :class:`FactorDirection` -- the least-squares read-out of a factor
  from codes (a linear probe fitted on every sample), used as a *direction* to traverse: move a code
  so that the read-out takes given values (the yaw, the smile, ...).
- :func:`reparameterize` -- the VAE's z = mu + sigma * eps, with a seeded generator.
- :func:`encode_dataset`, :func:`decode_dataset` -- a model's codes of a whole data set (or images of
  many codes) in batches, without gradients, in eval mode, back on the CPU.
- :func:`nearest_mse` and :func:`prior_coverage` -- how close samples come to real data, and how much
  of a prior a set of codes covers: the numbers behind "sampling an autoencoder fails, a VAE works".

Images are tensors (N, C, H, W) of floats in [0, 1]; codes are (N, D) tensors.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from aelab.validate import check_choice, check_float, check_int, check_positive_int, check_seed, check_tensor

__all__ = [
    "PCA",
    "FactorDirection",
    "decode_dataset",
    "encode_dataset",
    "factor_direction",
    "interpolate",
    "lerp",
    "nearest_mse",
    "prior_coverage",
    "reparameterize",
    "slerp",
]

#: Below this angle (radians) between two codes :func:`slerp` falls back to :func:`lerp` (sin ω ≈ 0).
_SLERP_MIN_ANGLE = 1e-4


def _flat(name: str, x: object) -> Tensor:
    """Samples (N, ...) as a float64 matrix (N, D)."""
    x = check_tensor(name, x)
    if x.ndim < 2 or x.shape[0] < 1:
        raise ValueError(f"{name} must be samples (N, ...) with N >= 1, got shape {tuple(x.shape)}")
    return x.detach().flatten(1).double().cpu()


# --------------------------------------------------------------------------------------------------
# PCA: the linear baseline
# --------------------------------------------------------------------------------------------------


class PCA:
    """Principal component analysis of samples (N, ...) flattened to (N, D), in scikit-learn's style.

    ``fit`` centres the data on its mean and takes the top ``n_components`` eigenvectors of the
    smaller of the two Gram matrices (Xᶜᵀ Xᶜ (D × D) or Xᶜ Xᶜᵀ (N × N), in float64), which are the
    right singular vectors of the centred data Xᶜ = U S Vᵀ: exact, deterministic, and cheaper than a
    full SVD when N and D differ. Each component's sign is fixed so that its largest-magnitude entry
    is positive (as scikit-learn's ``svd_flip``), so the same data give the same components anywhere.

    Attributes (after ``fit``):
        components_: (k, D) orthonormal rows, by decreasing explained variance.
        mean_: (D,) the mean sample.
        explained_variance_: (k,) variance along each component (S² / (N - 1)).
        explained_variance_ratio_: (k,) the same as a fraction of the total variance.
        sample_shape_: the shape of one sample, e.g. (3, 32, 32); ``inverse_transform`` restores it.

    Tensors it returns are float32 on the CPU.
    """

    def __init__(self, n_components: int | None = None) -> None:
        if n_components is not None:
            n_components = check_positive_int("n_components", n_components)
        self.n_components = n_components

    def fit(self, x: Tensor) -> PCA:
        """Fit the components to samples ``x`` (N, ...), e.g. images (N, C, H, W); returns self."""
        data = _flat("x", x)
        n, d = data.shape
        k = min(n, d) if self.n_components is None else self.n_components
        if k > min(n, d):
            raise ValueError(
                f"n_components must be at most min(N, D) = {min(n, d)} for {n} samples of {d} values, got {k}"
            )
        mean = data.mean(0)
        centred = data - mean
        if d <= n:
            values, vectors = torch.linalg.eigh(centred.T @ centred)
            values, vectors = values.flip(0)[:k], vectors.flip(1)[:, :k]
        else:  # X Xᵀ u = s² u and v = Xᵀ u / s; QR completes the directions of variance 0 orthonormally
            values, left = torch.linalg.eigh(centred @ centred.T)
            values, left = values.flip(0)[:k], left.flip(1)[:, :k]
            vectors, _ = torch.linalg.qr(centred.T @ left / values.clamp_min(1e-300).sqrt())
        values = values.clamp_min(0.0)
        signs = torch.sign(vectors.gather(0, vectors.abs().argmax(0, keepdim=True)))
        vectors = vectors * torch.where(signs == 0, 1.0, signs)
        total = centred.pow(2).sum()
        self.components_ = vectors.T.contiguous()
        self.mean_ = mean
        self.explained_variance_ = values / max(n - 1, 1)
        self.explained_variance_ratio_ = values / total if total > 0 else torch.zeros_like(values)
        self.sample_shape_ = tuple(x.shape[1:])
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "components_"):
            raise RuntimeError("this PCA is not fitted yet: call fit(x) first")

    def _components(self, k: int | None) -> Tensor:
        self._check_fitted()
        if k is None:
            return self.components_
        available = self.components_.shape[0]
        k = check_int(
            "k", k, minimum=1, maximum=available, expected=f"an int in [1, {available}] (the fitted components)"
        )
        return self.components_[:k]

    def transform(self, x: Tensor, k: int | None = None) -> Tensor:
        """Codes (N, k) of samples ``x`` (N, ...): projections on the first ``k`` components (default all)."""
        components = self._components(k)
        data = _flat("x", x)
        if data.shape[1] != components.shape[1]:
            raise ValueError(f"x has {data.shape[1]} values per sample; this PCA was fitted on {components.shape[1]}")
        return ((data - self.mean_) @ components.T).float()

    def inverse_transform(self, codes: Tensor) -> Tensor:
        """Samples (N, *sample_shape_) from codes (N, k), k <= the fitted components (the first k are used)."""
        codes = check_tensor("codes", codes, ndim=2)
        components = self._components(codes.shape[1])
        flat = codes.detach().double().cpu() @ components + self.mean_
        return flat.reshape(codes.shape[0], *self.sample_shape_).float()

    def reconstruct(self, x: Tensor, k: int | None = None) -> Tensor:
        """``x`` (N, ...) through the first ``k`` components and back: (N, ...) float32."""
        return self.inverse_transform(self.transform(x, k))

    def reconstruction_error(self, x: Tensor, k: int | None = None) -> float:
        """Mean squared error per value of :meth:`reconstruct` on ``x`` (for images in [0, 1], the MSE)."""
        data = _flat("x", x)
        return float((self.reconstruct(x, k).flatten(1).double() - data).pow(2).mean())

    def fit_transform(self, x: Tensor) -> Tensor:
        """``fit(x)`` then ``transform(x)``."""
        return self.fit(x).transform(x)


# --------------------------------------------------------------------------------------------------
# Paths through code space
# --------------------------------------------------------------------------------------------------


def _path_inputs(z0: object, z1: object, t: object) -> tuple[Tensor, Tensor, Tensor]:
    z0, z1 = check_tensor("z0", z0, ndim=1), check_tensor("z1", z1, ndim=1)
    if z0.shape != z1.shape:
        raise ValueError(f"z0 and z1 must be codes (D,) of the same size, got {tuple(z0.shape)} and {tuple(z1.shape)}")
    t = torch.as_tensor(t, dtype=z0.dtype, device=z0.device)
    if t.ndim != 1:
        raise ValueError(f"t must be a 1-D tensor of positions (T,), 0 at z0 and 1 at z1, got shape {tuple(t.shape)}")
    return z0, z1, t[:, None]


def lerp(z0: Tensor, z1: Tensor, t: Tensor) -> Tensor:
    """Straight-line interpolation: codes (T, D), row i = (1 - t[i])·z0 + t[i]·z1 for codes z0, z1 (D,)."""
    z0, z1, t = _path_inputs(z0, z1, t)
    return (1 - t) * z0 + t * z1


def slerp(z0: Tensor, z1: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation (Shoemake 1985): codes (T, D) along the arc from z0 to z1 (D,).

    With ω the angle between z0 and z1, row i = sin((1 - t)ω)/sin ω · z0 + sin(tω)/sin ω · z1. For a
    Gaussian prior the midpoint keeps a typical norm where the straight line passes close to the
    origin. Nearly parallel codes (ω < 1e-4) fall back to :func:`lerp`.
    """
    z0, z1, t = _path_inputs(z0, z1, t)
    cosine = torch.dot(z0, z1) / (z0.norm() * z1.norm()).clamp_min(torch.finfo(z0.dtype).tiny)
    omega = torch.arccos(cosine.clamp(-1.0, 1.0))
    if not torch.isfinite(omega) or omega < _SLERP_MIN_ANGLE:
        return (1 - t) * z0 + t * z1
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


def interpolate(z0: Tensor, z1: Tensor, steps: int, *, method: str = "lerp") -> Tensor:
    """``steps`` codes (steps, D) from z0 to z1 (both included), by "lerp" or "slerp"."""
    steps = check_int("steps", steps, minimum=2, expected="an int >= 2 (at least 2: both ends)")
    paths = {"lerp": lerp, "slerp": slerp}
    check_choice("method", method, tuple(paths))
    return paths[method](z0, z1, torch.linspace(0.0, 1.0, steps, dtype=z0.dtype, device=z0.device))


# --------------------------------------------------------------------------------------------------
# Factor directions: a linear probe used to move codes
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FactorDirection:
    """A factor's least-squares read-out y ≈ codes · weights + bias, used as a direction in code space.

    ``weights`` (D,) is the direction along which the read-out grows fastest; :meth:`move` shifts a
    code along it (the smallest change of the code) until the read-out takes given values.
    """

    weights: Tensor
    bias: float

    def predict(self, codes: Tensor) -> Tensor:
        """The read-out (N,) of codes (N, D)."""
        codes = check_tensor("codes", codes, ndim=2)
        return (codes.detach().double().cpu() @ self.weights.double() + self.bias).float()

    def move(self, code: Tensor, values: Tensor | list[float]) -> Tensor:
        """Codes (T, D): ``code`` (D,) moved along ``weights`` so that the read-out equals each value (T,)."""
        code = check_tensor("code", code, ndim=1).detach().double().cpu()
        values = torch.as_tensor(values, dtype=torch.float64).flatten()
        w = self.weights.double()
        start = code @ w + self.bias
        return (code + (values - start)[:, None] * w / w.dot(w).clamp_min(1e-300)).float()


def factor_direction(codes: Tensor, factor: Tensor, *, ridge: float = 1e-3) -> FactorDirection:
    """Fit the read-out of ``factor`` (N,) from ``codes`` (N, D) by ridge-regularised least squares.

    scikit-learn's ``Ridge`` with ``alpha = ridge · N``: the penalty is on the weights, not the bias
    (``ridge = 0``: ``LinearRegression``). It keeps the direction stable when some code dimensions
    are nearly constant or redundant. Fitted on every sample: to measure how well a factor is read
    (held-out R², the same fit) use :func:`aelab.metrics.linear_probe`.
    """
    from sklearn.linear_model import LinearRegression, Ridge

    x = _flat("codes", codes)
    y = check_tensor("factor", factor).detach().double().cpu().flatten()
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"factor has {y.shape[0]} values for {x.shape[0]} codes")
    ridge = check_float("ridge", ridge, minimum=0)
    fitted = (Ridge(alpha=ridge * x.shape[0]) if ridge > 0 else LinearRegression()).fit(x.numpy(), y.numpy())
    return FactorDirection(torch.from_numpy(fitted.coef_).float(), float(fitted.intercept_))


# --------------------------------------------------------------------------------------------------
# The VAE's sampling step
# --------------------------------------------------------------------------------------------------


def reparameterize(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """z = mu + exp(logvar / 2) · eps with eps ~ N(0, I) drawn from ``generator`` (Kingma & Welling 2014).

    ``mu`` and ``logvar`` are (N, D); z is differentiable in both (the point of the trick). eps is
    ``torch.randn(mu.shape, generator=generator)`` on the generator's device, then moved to mu's.
    """
    mu, logvar = check_tensor("mu", mu), check_tensor("logvar", logvar)
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    device = mu.device if generator is None else generator.device
    eps = torch.randn(mu.shape, generator=generator, device=device, dtype=mu.dtype).to(mu.device)
    return mu + torch.exp(0.5 * logvar) * eps


# --------------------------------------------------------------------------------------------------
# Whole data sets through a model
# --------------------------------------------------------------------------------------------------


def _model_device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return torch.device("cpu") if parameter is None else parameter.device


def _map_batches(model: nn.Module, fn: Callable[[Tensor], object], x: Tensor, batch_size: int) -> Tensor:
    """fn over x in batches (no gradients, model in eval mode, restored after); outputs on the CPU."""
    batch_size = check_positive_int("batch_size", batch_size)
    device, was_training = _model_device(model), model.training
    model.eval()
    parts = []
    try:
        with torch.no_grad():
            for lo in range(0, x.shape[0], batch_size):
                out = fn(x[lo : lo + batch_size].to(device))
                if isinstance(out, tuple):  # a VAE's encode gives (mu, logvar): its code is mu
                    out = out[0]
                parts.append(out.cpu())
    finally:
        model.train(was_training)
    return torch.cat(parts)


def encode_dataset(model: nn.Module, images: Tensor, *, batch_size: int = 256) -> Tensor:
    """``model.encode`` of images (N, C, H, W) in [0, 1], in batches: codes (N, D) on the CPU.

    For a VAE (whose ``encode`` returns (mu, logvar)) the code is the posterior mean mu.
    """
    images = check_tensor("images", images, ndim=4)
    return _map_batches(model, model.encode, images, batch_size)


def decode_dataset(model: nn.Module, codes: Tensor, *, batch_size: int = 256) -> Tensor:
    """``model.decode`` of codes (N, D), in batches: images (N, C, H, W) in [0, 1] on the CPU."""
    codes = check_tensor("codes", codes, ndim=2)
    return _map_batches(model, model.decode, codes, batch_size)


# --------------------------------------------------------------------------------------------------
# Measures for sampling
# --------------------------------------------------------------------------------------------------


def nearest_mse(samples: Tensor, reference: Tensor, *, batch_size: int = 256) -> Tensor:
    """For each sample (N, ...), the MSE to its nearest neighbour in ``reference`` (M, ...): (N,).

    A sample that looks like the data lies close to some real sample; noise or a blend of two faces
    does not. Compare with the same measure of held-out real samples.
    """
    a, b = _flat("samples", samples), _flat("reference", reference)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"samples have {a.shape[1]} values each, reference {b.shape[1]}")
    batch_size = check_positive_int("batch_size", batch_size)
    b_sq = b.pow(2).sum(1)
    best = [((a_part.pow(2).sum(1, keepdim=True) - 2 * a_part @ b.T + b_sq).amin(1)) for a_part in a.split(batch_size)]
    return (torch.cat(best).clamp_min(0.0) / a.shape[1]).float()


def prior_coverage(codes: Tensor, *, samples: int = 1000, quantile: float = 0.9, seed: int = 0) -> float:
    """The fraction of draws from the prior N(0, I) that land where ``codes`` (N, D) are.

    A draw "lands" when its nearest code is no farther than the ``quantile`` of the codes' own
    nearest-neighbour distances (among themselves): about ``quantile`` when the codes fill the prior,
    near 0 when they sit elsewhere, at another scale, or leave holes. Seeded: the same codes give the
    same number.
    """
    x = _flat("codes", codes)
    if x.shape[0] < 2:
        raise ValueError(f"need at least 2 codes, got {x.shape[0]}")
    quantile = check_float("quantile", quantile, minimum=0, maximum=1, min_inclusive=False, max_inclusive=False)
    samples = check_positive_int("samples", samples)
    seed = check_seed("seed", seed)
    own = torch.cdist(x, x)
    own.fill_diagonal_(math.inf)
    radius = torch.quantile(own.amin(1), quantile)
    draws = torch.randn(samples, x.shape[1], generator=torch.Generator().manual_seed(seed), dtype=x.dtype)
    return float((torch.cdist(draws, x).amin(1) <= radius).double().mean())
