"""Lab 02 -- Latent spaces: the checks of the student's PCA, interpolation, probe and VAE pieces.

The exercises (``solutions/02-latent-spaces.ipynb``) work on samples as rows: data (N, D), codes
(N, D) or (D,), factors (N,), all float tensors.

- ``check_pca_fit(pca_fit)``: ``pca_fit(x, k) -> (components, mean)``, the top ``k`` principal
  directions of ``x`` (N, D) as orthonormal rows (k, D) by decreasing variance, and the mean (D,);
  judged against :class:`aelab.latent.PCA` (components up to sign, and the reconstruction error).
- ``check_lerp(lerp)`` and ``check_slerp(slerp)``: ``f(z0, z1, t)`` for codes z0, z1 (D,) and
  positions t (T,) gives the path (T, D); against :func:`aelab.latent.lerp` / :func:`~aelab.latent.slerp`,
  slerp on two fixed codes and on two codes that point the same way (ω = 0, so sin ω = 0: no NaN).
  ``check_slerp_parallel(slerp)`` (the hidden test): codes 1e-5 rad apart, where rounding can push
  the cosine above 1.
- ``check_probe_r2(probe_r2)``: ``probe_r2(codes, factor, test_fraction=0.25, seed=0)``, the held-out
  R² of a least-squares read-out with an intercept, on the split the exercise draws; against
  :func:`aelab.metrics.linear_probe` with ``ridge=0``.
- ``check_kl_term(kl_term)``: ``kl_term(mu, logvar)``, KL(N(mu, σ²) ‖ N(0, I)) summed over the latent
  dimensions and averaged over the batch; against :func:`aelab.losses.kl_divergence`.
- ``check_reparameterize(reparameterize)``: ``reparameterize(mu, logvar, generator)``, z = mu +
  exp(logvar / 2)·eps with eps from ``generator``: its mean, spread, repeatability and gradients.

Each judge rebuilds the fixed inputs, recomputes the reference with the library and, when the answer
is off, compares it with the usual mistakes (no centring, columns of Vh instead of rows, scoring on
the training samples, no intercept, a missing 1/2 ...) to say which one it looks like. slerp is judged
with the reference lerp in place of the student's (it may fall back to it), so that a wrong lerp costs
the lerp check only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from aelab import latent, losses, metrics

from . import check, numbers, tensor, upstream

__all__ = [
    "check_pca_fit",
    "check_lerp",
    "check_slerp",
    "check_slerp_parallel",
    "check_probe_r2",
    "check_kl_term",
    "check_reparameterize",
]

#: How far a student's float32 result may be from the float64 reference.
_TOLERANCE = 1e-4
#: The PCA check: samples, values per sample, components asked for.
_PCA_N, _PCA_D, _PCA_K = 60, 12, 4
#: How closely each student component must line up with the reference one (|cosine|).
_ALIGNED = 0.999
#: Positions of the interpolation checks.
_T = (0.0, 0.25, 0.5, 0.75, 1.0)
#: How far a student's R² may be from the reference.
_R2_TOLERANCE = 2e-3
#: The reparameterisation check: samples, and the posterior each row shares (mean, standard deviation).
_REPARAM_N = 4000
_REPARAM_MU = (0.0, 2.0, -1.0)
_REPARAM_STD = (1.0, 2.0, 0.5)
#: Rows of z (and of the gradients) the evidence carries.
_REPARAM_ROWS = 16


# ------------------------------------------------------------------------------------------------
# Fixed inputs and helpers shared by the exercises
# ------------------------------------------------------------------------------------------------


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _shape(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def _rounded(values: torch.Tensor, digits: int = 2) -> str:
    """A 1-D tensor as "(0.12, 3.40)" for messages."""
    return "(" + ", ".join(f"{v:.{digits}f}" for v in values.tolist()) + ")"


# ------------------------------------------------------------------------------------------------
# Exercise 2.1: PCA by SVD
# ------------------------------------------------------------------------------------------------


def _pca_data() -> torch.Tensor:
    """(60, 12) float32 samples: Gaussian with well-separated variances along a random rotation,
    around a mean far from 0 (so that forgetting to centre shows)."""
    generator = _generator(20)
    rotation, _ = torch.linalg.qr(torch.randn(_PCA_D, _PCA_D, generator=generator, dtype=torch.float64))
    scales = torch.tensor([6.0, 4.0, 2.5, 1.5] + [0.4] * (_PCA_D - 4), dtype=torch.float64)
    raw = torch.randn(_PCA_N, _PCA_D, generator=generator, dtype=torch.float64) * scales
    mean = torch.linspace(2.0, 9.0, _PCA_D, dtype=torch.float64)
    return (raw @ rotation.T + mean).float()


def _reconstruction_mse(x: torch.Tensor, components: torch.Tensor, mean: torch.Tensor) -> float:
    centred = x - mean
    return float((centred @ components.T @ components - centred).pow(2).mean())


def _judge_pca_fit(evidence: Any) -> tuple[bool, str]:
    if "returned" in evidence:
        return False, f"pca_fit must return a pair (components, mean); yours returned {evidence['returned']}."
    components, mean = tensor(evidence["components"]), tensor(evidence["mean"])
    x = _pca_data().double()
    data = f"a fixed data set x of shape ({_PCA_N}, {_PCA_D}) with k = {_PCA_K}"
    wrong_form = _pca_form_error(components, mean, x, data)
    if wrong_form:
        return False, wrong_form
    return _pca_verdict(components, mean, x, data)


def _pca_form_error(components: torch.Tensor, mean: torch.Tensor, x: torch.Tensor, data: str) -> str | None:
    """What is wrong with the form of a PCA fit of ``x`` (shapes, the mean, orthonormal rows), or None."""
    n, d, k = _PCA_N, _PCA_D, _PCA_K
    if _shape(components) != (k, d):
        if _shape(components) == (d, k):
            return (
                f"your components have shape {(d, k)} on {data}: one component per column; "
                f"return them as rows, shape (k, D) = {(k, d)}."
            )
        if n in _shape(components):
            return (
                f"your components have shape {_shape(components)} on {data}: one value per sample, "
                f"like the columns of U, which are the samples' codes. The components are directions "
                f"in the data space: k rows of length D, shape {(k, d)}."
            )
        return f"your components have shape {_shape(components)} on {data}; expected {(k, d)}."
    if _shape(mean) != (d,):
        return (
            f"your mean has shape {_shape(mean)} on {data}; expected ({d},): the mean sample, "
            f"over the samples (dimension 0)."
        )
    mean_error = (mean - x.mean(0)).abs().max().item()
    if mean_error > 1e-3:
        return (
            f"your mean differs from the mean sample of x (the mean over dimension 0) by up to "
            f"{mean_error:.3f} on {data}."
        )
    gram = components @ components.T
    if not torch.allclose(gram, torch.eye(k, dtype=gram.dtype), atol=1e-3):
        return (
            f"your components are not orthonormal rows on {data}: their norms are "
            f"{_rounded(components.norm(dim=1))} and the largest dot product between two of them is "
            f"{(gram - torch.diag(gram.diag())).abs().max().item():.2f}."
        )
    return None


def _pca_verdict(components: torch.Tensor, mean: torch.Tensor, x: torch.Tensor, data: str) -> tuple[bool, str]:
    """Well-formed components against the reference's principal directions, naming the usual mistakes."""
    n, k = _PCA_N, _PCA_K
    reference = latent.PCA(k).fit(x)
    ref_components = reference.components_
    mse = _reconstruction_mse(x, components, mean)
    ref_mse = _reconstruction_mse(x, ref_components, reference.mean_)
    total = (x - x.mean(0)).pow(2).sum(0).sum() / (n - 1)
    captured = (x - x.mean(0)) @ components.T
    variances = captured.var(0)
    share = 100 * variances.sum().item() / total.item()
    alignment = (components @ ref_components.T).abs()
    if bool((alignment.diag() >= _ALIGNED).all()):
        return True, (
            f"your {k} components match the principal directions (up to sign) on {data}; they keep "
            f"{share:.1f}% of the variance and reconstruct x with MSE {mse:.3f}, as the reference."
        )
    uncentred = torch.linalg.svd(x, full_matrices=False).Vh[:k]
    if bool(((components @ uncentred.T).abs().diag() >= _ALIGNED).all()):
        return False, (
            f"your components are the top {k} right singular vectors of x itself on {data}; the first "
            f"one points to the mean, not along the spread. Subtract the mean from x before the SVD."
        )
    if (components[:, :k].abs() - ref_components[:, :k].T.abs()).abs().max().item() < 1e-3:
        return False, (
            f"your components are the first {k} columns of Vh on {data} (each one mixes every "
            f"principal direction); the principal directions are the rows of Vh."
        )
    projector, ref_projector = components.T @ components, ref_components.T @ ref_components
    if (projector - ref_projector).abs().max().item() < 1e-3:
        return False, (
            f"your components span the right subspace on {data}, but not in order: the variances along "
            f"them are {_rounded(variances, 1)}; sort them by decreasing variance (so that the first "
            f"k of them are the best k)."
        )
    ref_share = 100 * reference.explained_variance_.sum().item() / total.item()
    return False, (
        f"your {k} components keep {share:.1f}% of the variance of {data}, and reconstruct it with MSE "
        f"{mse:.3f}; the top {k} principal directions keep {ref_share:.1f}% (MSE {ref_mse:.3f})."
    )


@check(_judge_pca_fit)
def check_pca_fit(pca_fit: Callable[[torch.Tensor, int], Any]) -> Any:
    """Your ``pca_fit(x, k)`` on fixed data (60, 12) with k = 4: components (4, 12) and mean (12,)."""
    out = pca_fit(_pca_data(), _PCA_K)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        size = f" of {len(out)} items" if isinstance(out, (tuple, list)) else ""
        return {"returned": f"a {type(out).__name__}{size}"}
    components, mean = out
    return {"components": torch.as_tensor(components), "mean": torch.as_tensor(mean)}


# ------------------------------------------------------------------------------------------------
# Exercise 2.2: interpolation
# ------------------------------------------------------------------------------------------------


def _codes() -> tuple[torch.Tensor, torch.Tensor]:
    """Two codes (6,) of different norms, about 100 degrees apart."""
    generator = _generator(22)
    z0 = torch.randn(6, generator=generator)
    z1 = torch.randn(6, generator=generator)
    z1 = z1 - 1.2 * (z1 @ z0) / (z0 @ z0) * z0  # tip z1 a little past perpendicular
    return 2.0 * z0 / z0.norm(), 3.0 * z1 / z1.norm()


def _judge_path(
    got: torch.Tensor, reference: Callable[..., torch.Tensor], z0: torch.Tensor, z1: torch.Tensor, name: str, case: str
) -> tuple[bool, str]:
    """Compare a path (T, D) with ``reference(z0, z1, t)`` at the positions :data:`_T`: (passed, message)."""
    t = torch.tensor(_T, dtype=torch.float64)
    want = reference(z0.double(), z1.double(), t)
    if _shape(got) != _shape(want):
        return False, (
            f"your {name} returned shape {_shape(got)} for codes of shape {_shape(z0)} and {len(_T)} "
            f"positions t; expected {_shape(want)}: one row per position."
        )
    if not torch.isfinite(got).all():
        return False, f"your {name} returned NaN or infinity on {case}."
    error = (got - want).abs().amax(dim=1)
    if (error <= _TOLERANCE).all():
        return True, f"your {name} matches the reference on {case}."
    if (got[0] - z1.double()).abs().max() <= _TOLERANCE and (got[-1] - z0.double()).abs().max() <= _TOLERANCE:
        return False, f"your {name} runs backwards on {case}: at t = 0 it must give z0, at t = 1 z1."
    index = int(error.argmax())
    return False, (
        f"on {case}, at t = {_T[index]} your {name} is off by up to {error[index].item():.3f}; the norm "
        f"of your code is {got[index].norm().item():.2f}, expected {want[index].norm().item():.2f}."
    )


def _judge_lerp(evidence: Any) -> tuple[bool, str]:
    z0, z1 = _codes()
    return _judge_path(tensor(evidence), latent.lerp, z0, z1, "lerp", "two fixed codes")


def _parallel_codes() -> tuple[torch.Tensor, torch.Tensor]:
    """Two codes (6,) pointing the same way: ω = 0, so sin ω = 0."""
    z0, _ = _codes()
    return z0, 2.5 * z0


def _nearly_parallel_codes() -> tuple[torch.Tensor, torch.Tensor]:
    """Two codes (6,) 1e-5 rad apart: in float32 their cosine rounds to 1, or just above it."""
    z0, z1 = _codes()
    across = z1 - (z1 @ z0) / (z0 @ z0) * z0
    return z0, 2.5 * z0 + 1e-5 * 2.5 * z0.norm() * across / across.norm()


def _judge_parallel(got: torch.Tensor, z0: torch.Tensor, z1: torch.Tensor, case: str) -> tuple[bool, str]:
    """Judge a slerp path on codes whose angle is (nearly) 0."""
    if _shape(got) == (len(_T), z0.shape[0]) and not torch.isfinite(got).all():
        return False, (
            f"your slerp gives NaN for {case}: their angle ω is 0 or nearly, so sin ω = 0 (and "
            "rounding can push the cosine just above 1). Clamp the cosine to [-1, 1] and fall back "
            "to lerp when ω is tiny."
        )
    return _judge_path(got, latent.slerp, z0, z1, "slerp", case)


def _judge_slerp(evidence: Any) -> tuple[bool, str]:
    if not isinstance(evidence, dict) or set(evidence) != {"path", "parallel"}:
        raise TypeError("expected the path and the parallel path")
    z0, z1 = _codes()
    got = tensor(evidence["path"])
    passed, message = _judge_path(got, latent.slerp, z0, z1, "slerp", "two fixed codes")
    if not passed:
        if _shape(got) == (len(_T), z0.shape[0]) and torch.isfinite(got).all():
            t = torch.tensor(_T, dtype=torch.float64)
            if (got - latent.lerp(z0.double(), z1.double(), t)).abs().max() <= _TOLERANCE:
                return False, (
                    "your slerp follows the straight line from z0 to z1 (that is lerp); slerp follows "
                    "the arc, weighting z0 by sin((1 - t)ω) / sin ω and z1 by sin(tω) / sin ω."
                )
            if abs(got[0].norm().item() - 1.0) < 1e-3 and abs(got[-1].norm().item() - 1.0) < 1e-3:
                return False, (
                    "your slerp returns unit vectors: at t = 0 it must give z0 itself (norm 2.00 here) "
                    "and at t = 1 z1 (norm 3.00). Use the unit vectors only to find the angle ω."
                )
        return passed, message
    passed, message = _judge_parallel(
        tensor(evidence["parallel"]), *_parallel_codes(), "two codes that point the same way"
    )
    if not passed:
        return passed, message
    return True, "your slerp matches the reference on two fixed codes and on two codes that point the same way."


def _judge_slerp_parallel(evidence: Any) -> tuple[bool, str]:
    return _judge_parallel(tensor(evidence), *_nearly_parallel_codes(), "two codes 1e-5 rad apart")


@check(_judge_lerp)
def check_lerp(lerp: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> Any:
    """Your ``lerp(z0, z1, t)`` on two fixed codes (6,) at t = 0, 0.25, 0.5, 0.75, 1: a path (5, 6)."""
    z0, z1 = _codes()
    return lerp(z0, z1, torch.tensor(_T))


@check(_judge_slerp)
def check_slerp(slerp: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> Any:
    """Your ``slerp(z0, z1, t)`` at t = 0, 0.25, 0.5, 0.75, 1 (paths (5, 6)) on two fixed codes (6,), and
    on two codes that point the same way (the angle is 0), with the reference lerp."""
    with upstream(slerp, lerp=latent.lerp):
        return {"path": slerp(*_codes(), torch.tensor(_T)), "parallel": slerp(*_parallel_codes(), torch.tensor(_T))}


@check(_judge_slerp_parallel)
def check_slerp_parallel(slerp: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> Any:
    """Your ``slerp(z0, z1, t)`` on two codes 1e-5 rad apart: no NaN, and the reference's path."""
    with upstream(slerp, lerp=latent.lerp):
        return slerp(*_nearly_parallel_codes(), torch.tensor(_T))


# ------------------------------------------------------------------------------------------------
# Exercise 2.3: a linear probe
# ------------------------------------------------------------------------------------------------


def _probe_cases() -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(description, codes (N, D), factor (N,)): an offset factor, and a small sample with many dims."""
    generator = _generator(23)
    codes = torch.randn(400, 5, generator=generator) + 2.0
    weights = torch.tensor([1.0, -0.5, 0.25, 0.0, 0.8])
    factor = 3.0 + codes @ weights + 0.6 * torch.randn(400, generator=generator)
    few = torch.randn(80, 30, generator=generator)
    noisy = few[:, 0] + 1.0 * torch.randn(80, generator=generator)
    return [
        ("400 codes of 5 dims (the factor has an offset)", codes, factor),
        ("80 codes of 30 dims (few samples per weight)", few, noisy),
    ]


def _split(n: int, test_fraction: float = 0.25, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The exercise's split (the one :func:`aelab.metrics.linear_probe` draws): (train, test) indices."""
    n_test = int(round(n * test_fraction))
    order = torch.randperm(n, generator=_generator(seed))
    return order[n_test:], order[:n_test]


def _least_squares_r2(
    codes: torch.Tensor, factor: torch.Tensor, fit: torch.Tensor, score: torch.Tensor, intercept: bool
) -> float:
    """R² on ``score`` of a least-squares fit on ``fit`` (scikit-learn's ``LinearRegression``), with or
    without an intercept."""
    from sklearn.linear_model import LinearRegression

    x, y = codes.double().numpy(), factor.double().numpy()
    fit, score = fit.numpy(), score.numpy()
    prediction = LinearRegression(fit_intercept=intercept).fit(x[fit], y[fit]).predict(x[score])
    return metrics.r2_score(torch.from_numpy(y[score]), torch.from_numpy(prediction))


def _judge_probe_r2(evidence: Any) -> tuple[bool, str]:
    cases = _probe_cases()
    got = numbers(evidence, len(cases), "probe_r2")
    if isinstance(got, str):
        return False, got + " The R² on the test samples is one number."
    for value, (case, codes, factor) in zip(got, cases):
        reference = metrics.linear_probe(codes, {"factor": factor}, ridge=0.0, seed=0)["factor"]
        if not math.isfinite(value):
            return False, f"your probe_r2 gives {value} on {case}; expected a finite R²."
        if abs(value - reference) <= _R2_TOLERANCE:
            continue
        train, test = _split(len(codes))
        everything = torch.arange(len(codes))
        mistakes = (
            (
                "it is the R² on the training samples: score the read-out on the test samples it was not fitted on",
                _least_squares_r2(codes, factor, train, train, intercept=True),
            ),
            (
                "the read-out has no intercept: add a column of ones to the codes (or centre codes and factor)",
                _least_squares_r2(codes, factor, train, test, intercept=False),
            ),
            (
                "the read-out was fitted on every sample, the test ones included: fit it on the training samples only",
                _least_squares_r2(codes, factor, everything, test, intercept=True),
            ),
        )
        for why, wrong in mistakes:
            if abs(value - wrong) <= _R2_TOLERANCE:
                return False, f"your R² is {value:.3f} on {case}; expected {reference:.3f}: {why}."
        return False, f"your R² is {value:.3f} on {case}; expected {reference:.3f}."
    return True, f"your probe_r2 matches the reference on {len(cases)} fixed cases (R² {got[0]:.3f} and {got[1]:.3f})."


@check(_judge_probe_r2)
def check_probe_r2(probe_r2: Callable[..., Any]) -> Any:
    """Your ``probe_r2(codes, factor)`` on two fixed cases: one held-out R² each."""
    return [probe_r2(codes, factor) for _, codes, factor in _probe_cases()]


# ------------------------------------------------------------------------------------------------
# Exercise 2.4: the KL term
# ------------------------------------------------------------------------------------------------


def _kl_cases() -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(description, mu, logvar), each (5, 3)."""
    generator = _generator(24)
    mu = torch.randn(5, 3, generator=generator)
    logvar = 0.8 * torch.randn(5, 3, generator=generator)
    zeros = torch.zeros(5, 3)
    return [
        ("mu = 0 and logvar = 0 (the posterior is the prior)", zeros, zeros),
        ("a fixed (mu, logvar) of shape (5, 3)", mu, logvar),
        ("mu = 0 and a fixed logvar", zeros, logvar),
    ]


def _judge_kl_term(evidence: Any) -> tuple[bool, str]:
    cases = _kl_cases()
    got = numbers(evidence, len(cases), "kl_term")
    if isinstance(got, str):
        return False, got + " The KL term is averaged over the batch."
    for value, (case, mu, logvar) in zip(got, cases):
        reference = losses.kl_divergence(mu.double(), logvar.double()).item()
        if abs(value - reference) <= _TOLERANCE * max(1.0, abs(reference)):
            continue
        n, d = mu.shape
        if reference == 0.0:
            return False, (
                f"your KL is {value:.3f} on {case}; it must be 0: a posterior equal to the prior "
                f"costs nothing (with mu = 0 and logvar = 0, 1 + logvar - mu² - exp(logvar) is 0 in each dimension)."
            )
        ratios = {
            -1.0: "it has the wrong sign (KL is never negative)",
            2.0: "it is twice the reference: the factor is 1/2",
            float(n): f"it is {n} times the reference: average over the batch, do not sum",
            1.0 / d: f"it is 1/{d} of the reference: sum over the latent dimensions, do not average",
            1.0 / (n * d): "it averages over every element: sum over the latent dimensions, average over the batch",
        }
        for ratio, why in ratios.items():
            if abs(value - ratio * reference) <= 1e-3 * max(1.0, abs(reference)):
                return False, f"your KL is {value:.3f} on {case}; expected {reference:.3f}: {why}."
        return False, f"your KL is {value:.3f} on {case}; expected {reference:.3f}."
    return True, f"your kl_term matches aelab.losses.kl_divergence on {len(cases)} fixed cases."


@check(_judge_kl_term)
def check_kl_term(kl_term: Callable[[torch.Tensor, torch.Tensor], Any]) -> Any:
    """Your ``kl_term(mu, logvar)`` on three fixed (5, 3) posteriors: one number each."""
    return [kl_term(mu.clone(), logvar.clone()) for _, mu, logvar in _kl_cases()]


# ------------------------------------------------------------------------------------------------
# Exercise 2.5: the reparameterisation trick
# ------------------------------------------------------------------------------------------------


def _reparam_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """mu and logvar (4000, 3): every row the same posterior, means (0, 2, -1), std (1, 2, 0.5)."""
    mu = torch.tensor(_REPARAM_MU).expand(_REPARAM_N, -1).clone()
    logvar = (2 * torch.log(torch.tensor(_REPARAM_STD))).expand(_REPARAM_N, -1).clone()
    return mu, logvar


def _judge_reparameterize(evidence: Any) -> tuple[bool, str]:
    shape = tuple(int(v) for v in evidence["shape"])
    expected_shape = (_REPARAM_N, len(_REPARAM_MU))
    if shape != expected_shape:
        return False, f"your z has shape {shape} for mu and logvar of shape {expected_shape}; expected the same shape."
    z, again = tensor(evidence["z"]), tensor(evidence["again"])
    rows = (_REPARAM_ROWS, len(_REPARAM_MU))
    if _shape(z) != rows or _shape(again) != rows:
        return False, "the evidence is malformed (the first rows of z are missing)."
    if not torch.isfinite(z).all():
        return False, "your z holds NaN or infinity."
    mean, std = tensor(evidence["mean"]), tensor(evidence["std"])
    want_mean = torch.tensor(_REPARAM_MU, dtype=torch.float64)
    want_std = torch.tensor(_REPARAM_STD, dtype=torch.float64)
    posterior = f"{_REPARAM_N} draws of a posterior with mean {_rounded(want_mean, 1)} and std {_rounded(want_std, 1)}"
    if ((std - want_std).abs() / want_std).max() > 0.08:
        hint = ""
        if ((std - want_std.pow(2)).abs() / want_std.pow(2)).max() < 0.08:
            hint = ": that is the variance exp(logvar); the standard deviation is exp(logvar / 2)"
        return False, f"your z spreads with std {_rounded(std)} over {posterior}{hint}."
    if (mean - want_mean).abs().max() > 0.15:
        return False, f"your z has mean {_rounded(mean)} over {posterior}; it must be centred on mu."
    if (z - again).abs().max() > 1e-6:
        return False, (
            "called twice with generators seeded alike, your reparameterize drew different noise: draw "
            "eps from the generator it is given (torch.randn(mu.shape, generator=generator))."
        )
    grad_mu, grad_logvar = evidence["grad_mu"], evidence["grad_logvar"]
    if grad_mu is None or grad_logvar is None:
        return False, (
            "no gradient flows from your z back to mu and logvar (was eps or z detached, or computed "
            "under torch.no_grad?); the point of the trick is that z is differentiable in both."
        )
    grad_mu, grad_logvar = tensor(grad_mu), tensor(grad_logvar)
    if _shape(grad_mu) != rows or _shape(grad_logvar) != rows:
        return False, "the evidence is malformed (the gradients' rows are missing)."
    if (grad_mu - 1.0).abs().max() > 1e-4:
        return False, "the gradient of z with respect to mu is not 1: z must be mu plus the scaled noise."
    want_grad = 0.5 * (z - want_mean)  # d/dlogvar of exp(logvar / 2)·eps = (z - mu) / 2
    if (grad_logvar - want_grad).abs().max() > 1e-3:
        return False, (
            "the gradient of z with respect to logvar is not (z - mu) / 2: the noise must be scaled by "
            "exp(logvar / 2), computed from logvar."
        )
    return (
        True,
        f"your reparameterize draws repeatable samples of the right mean and spread ({posterior}), with gradients.",
    )


@check(_judge_reparameterize)
def check_reparameterize(reparameterize: Callable[..., torch.Tensor]) -> Any:
    """Your ``reparameterize(mu, logvar, generator)`` on a fixed posterior (4000, 3): statistics,
    repeatability with a seeded generator, and the gradients of z."""
    mu, logvar = _reparam_inputs()
    mu.requires_grad_(True)
    logvar.requires_grad_(True)
    z = reparameterize(mu, logvar, _generator(25))
    again = reparameterize(mu.detach(), logvar.detach(), _generator(25))
    evidence: dict[str, Any] = {
        "shape": list(z.shape),
        "z": z.detach()[:_REPARAM_ROWS],
        "again": torch.as_tensor(again).detach()[:_REPARAM_ROWS],
        "mean": z.detach().double().mean(0),
        "std": z.detach().double().std(0),
        "grad_mu": None,
        "grad_logvar": None,
    }
    if z.requires_grad:
        grad_mu, grad_logvar = torch.autograd.grad(z.sum(), (mu, logvar), allow_unused=True)
        if grad_mu is not None and grad_logvar is not None:
            evidence["grad_mu"] = grad_mu[:_REPARAM_ROWS]
            evidence["grad_logvar"] = grad_logvar[:_REPARAM_ROWS]
    return evidence
