"""The checks of lab 02 (latent spaces): references pass, the usual mistakes fail with the right
message, unfinished exercises and tampered evidence fail without raising."""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable
from typing import Any

import pytest
import torch

from aelab import latent, losses, metrics
from aelab.checks import REGISTRY, CheckFailed, Feedback, lab02, plain


def _feedback(check: Any, fn: Callable[..., Any]) -> Feedback:
    """Probe and judge as a student's call does (through JSON), without raising."""
    return check.judge(json.loads(json.dumps(check.probe(fn))))


def _passes(check: Any, fn: Callable[..., Any]) -> None:
    feedback = _feedback(check, fn)
    assert feedback.passed, feedback.message


def _fails(check: Any, fn: Callable[..., Any], *fragments: str) -> str:
    feedback = _feedback(check, fn)
    assert not feedback.passed, feedback.message
    for fragment in fragments:
        assert fragment in feedback.message, feedback.message
    return feedback.message


# --- reference solutions, as a student would write them ---------------------------------------------


def pca_fit(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    mean = x.mean(0)
    _, _, vh = torch.linalg.svd(x - mean, full_matrices=False)
    return vh[:k], mean


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    t = t[:, None]
    return (1 - t) * z0 + t * z1


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    cos = (z0 @ z1 / (z0.norm() * z1.norm())).clamp(-1, 1)
    omega = torch.arccos(cos)
    if omega < 1e-4:
        return lerp(z0, z1, t)
    t = t[:, None]
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


def _split(n: int, test_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    n_test = int(round(n * test_fraction))
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[n_test:], order[:n_test]


def _design(codes: torch.Tensor) -> torch.Tensor:
    return torch.cat([codes, torch.ones(len(codes), 1)], dim=1)


def probe_r2(codes: torch.Tensor, factor: torch.Tensor, test_fraction: float = 0.25, seed: int = 0) -> float:
    train, test = _split(len(codes), test_fraction, seed)
    x = _design(codes)
    w = torch.linalg.lstsq(x[train], factor[train, None]).solution[:, 0]
    residual = factor[test] - x[test] @ w
    return float(1 - residual.pow(2).sum() / (factor[test] - factor[test].mean()).pow(2).sum())


def kl_term(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return (-0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(1)).mean()


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    eps = torch.randn(mu.shape, generator=generator)
    return mu + torch.exp(0.5 * logvar) * eps


# --- tampered evidence ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", lab02.__all__)
@pytest.mark.parametrize(
    "evidence",
    [None, 3, "x", [], {}, {"shape": "x"}, [[1.0]], {"components": 1, "mean": []}, ["nan", "nan"], {"returned": 1}],
)
def test_tampered_evidence_fails_without_raising(name: str, evidence: Any) -> None:
    feedback = REGISTRY[name].judge(evidence)
    assert isinstance(feedback, Feedback)
    assert not feedback.passed


def test_a_passing_check_prints_and_a_failing_one_raises(capsys: pytest.CaptureFixture[str]) -> None:
    lab02.check_kl_term(kl_term)
    assert "[PASSED] check_kl_term" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match="NOT YET"):
        lab02.check_kl_term.require(lambda mu, logvar: 2 * kl_term(mu, logvar))


# --- 2.1 PCA --------------------------------------------------------------------------------------------


def test_pca_reference_passes_and_reports_the_variance_kept() -> None:
    message = _feedback(lab02.check_pca_fit, pca_fit).message
    assert "match the principal directions" in message and "% of the variance" in message


def test_pca_any_signs_and_the_library_pass() -> None:
    def flipped(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        components, mean = pca_fit(x, k)
        return components * torch.tensor([[1.0], [-1.0], [1.0], [-1.0]]), mean

    def library(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        pca = latent.PCA(k).fit(x)
        return pca.components_, pca.mean_

    _passes(lab02.check_pca_fit, flipped)
    _passes(lab02.check_pca_fit, library)


def test_pca_usual_mistakes() -> None:
    def uncentred(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.linalg.svd(x, full_matrices=False).Vh[:k], x.mean(0)

    def columns(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        components, mean = pca_fit(x, k)
        return components.T, mean

    def vh_columns(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        mean = x.mean(0)
        return torch.linalg.svd(x - mean, full_matrices=False).Vh[:, :k].T, mean

    def left_vectors(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        u, _, _ = torch.linalg.svd(x - x.mean(0), full_matrices=False)
        return u[:, :k], x.mean(0)

    def ascending(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        components, mean = pca_fit(x, k)
        return components.flip(0), mean

    def eigh_smallest(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        centred = x - x.mean(0)
        _, vectors = torch.linalg.eigh(centred.T @ centred)  # ascending: the k smallest
        return vectors[:, :k].T, x.mean(0)

    def wrong_mean(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        components, _ = pca_fit(x, k)
        return components, x.mean(1)

    def scaled(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        components, mean = pca_fit(x, k)
        return 2 * components, mean

    _fails(lab02.check_pca_fit, uncentred, "Subtract the mean")
    _fails(lab02.check_pca_fit, columns, "one component per column")
    _fails(lab02.check_pca_fit, vh_columns, "first 4 columns of Vh", "rows of Vh")
    _fails(lab02.check_pca_fit, left_vectors, "columns of U")
    _fails(lab02.check_pca_fit, ascending, "not in order")
    _fails(lab02.check_pca_fit, eigh_smallest, "keep", "the top 4 principal directions keep")
    _fails(lab02.check_pca_fit, wrong_mean, "your mean has shape (60,)")
    _fails(lab02.check_pca_fit, scaled, "not orthonormal", "2.00")
    _fails(lab02.check_pca_fit, lambda x, k: pca_fit(x, k)[0], "must return a pair")


# --- 2.2 interpolation ------------------------------------------------------------------------------------


def test_interpolation_references_pass() -> None:
    _passes(lab02.check_lerp, lerp)
    _passes(lab02.check_slerp, slerp)
    _passes(lab02.check_slerp_parallel, slerp)
    _passes(lab02.check_lerp, latent.lerp)
    _passes(lab02.check_slerp, latent.slerp)
    _passes(lab02.check_slerp_parallel, latent.slerp)


def test_interpolation_usual_mistakes() -> None:
    def unit_slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return slerp(z0 / z0.norm(), z1 / z1.norm(), t)

    def unguarded(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        omega = torch.arccos(z0 @ z1 / (z0.norm() * z1.norm()))
        t = t[:, None]
        return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)

    _fails(lab02.check_lerp, lambda z0, z1, t: lerp(z1, z0, t), "runs backwards")
    _fails(lab02.check_lerp, lambda z0, z1, t: lerp(z0, z1, t).T, "shape (6, 5)", "one row per position")
    _fails(lab02.check_lerp, lambda z0, z1, t: (1 - t[:, None]) * z0 + t[:, None] ** 2 * z1, "at t = 0.5")
    _fails(lab02.check_slerp, lerp, "straight line")
    _fails(lab02.check_slerp, unit_slerp, "unit vectors")
    _fails(lab02.check_slerp, unguarded, "NaN", "point the same way", "fall back to lerp")  # the visible check
    _fails(lab02.check_slerp_parallel, unguarded, "NaN", "1e-5 rad apart", "fall back to lerp")  # and the hidden


def test_a_wrong_lerp_costs_the_lerp_check_only() -> None:
    notebook: dict[str, Any] = {"torch": torch}
    exec("def lerp(z0, z1, t):\n    return z0 + 0 * t[:, None]\n", notebook)
    exec(inspect.getsource(slerp), notebook)  # the reference slerp, falling back to the notebook's lerp
    _fails(lab02.check_lerp, notebook["lerp"], "at t = ")
    _passes(lab02.check_slerp, notebook["slerp"])
    _passes(lab02.check_slerp_parallel, notebook["slerp"])


# --- 2.3 linear probe -------------------------------------------------------------------------------------


def test_probe_reference_matches_the_library() -> None:
    message = _feedback(lab02.check_probe_r2, probe_r2).message
    assert "matches the reference" in message
    for _, codes, factor in lab02._probe_cases():
        assert probe_r2(codes, factor) == pytest.approx(
            metrics.linear_probe(codes, {"f": factor}, ridge=0.0)["f"], abs=1e-4
        )


def test_probe_usual_mistakes() -> None:
    def train_score(codes: torch.Tensor, factor: torch.Tensor, test_fraction: float = 0.25, seed: int = 0) -> float:
        train, _ = _split(len(codes), test_fraction, seed)
        x = _design(codes)
        w = torch.linalg.lstsq(x[train], factor[train, None]).solution[:, 0]
        return metrics.r2_score(factor[train], x[train] @ w)

    def no_intercept(codes: torch.Tensor, factor: torch.Tensor, test_fraction: float = 0.25, seed: int = 0) -> float:
        train, test = _split(len(codes), test_fraction, seed)
        w = torch.linalg.lstsq(codes[train], factor[train, None]).solution[:, 0]
        return metrics.r2_score(factor[test], codes[test] @ w)

    def fit_everything(codes: torch.Tensor, factor: torch.Tensor, test_fraction: float = 0.25, seed: int = 0) -> float:
        _, test = _split(len(codes), test_fraction, seed)
        x = _design(codes)
        w = torch.linalg.lstsq(x, factor[:, None]).solution[:, 0]
        return metrics.r2_score(factor[test], x[test] @ w)

    _fails(lab02.check_probe_r2, train_score, "training samples")
    _fails(lab02.check_probe_r2, no_intercept, "no intercept")
    _fails(lab02.check_probe_r2, fit_everything, "fitted on every sample")
    _fails(lab02.check_probe_r2, lambda codes, factor: 0.5, "your R² is 0.500", "expected")
    _fails(lab02.check_probe_r2, lambda codes, factor: torch.zeros(3), "one number")
    _fails(lab02.check_probe_r2, lambda codes, factor: float("nan"), "nan")


# --- 2.4 KL -------------------------------------------------------------------------------------------------


def test_kl_reference_and_library_pass() -> None:
    _passes(lab02.check_kl_term, kl_term)
    _passes(lab02.check_kl_term, losses.kl_divergence)


@pytest.mark.parametrize(
    ("wrong", "fragment"),
    [
        (lambda mu, lv: -kl_term(mu, lv), "wrong sign"),
        (lambda mu, lv: 2 * kl_term(mu, lv), "factor is 1/2"),
        (lambda mu, lv: (-0.5 * (1 + lv - mu**2 - lv.exp())).sum(), "do not sum"),
        (lambda mu, lv: (-0.5 * (1 + lv - mu**2 - lv.exp())).mean(1).mean(), "do not average"),
        (lambda mu, lv: (-0.5 * (lv - mu**2 - lv.exp())).sum(1).mean(), "must be 0"),
        (lambda mu, lv: (-0.5 * (1 + lv - mu**2 - lv)).sum(1).mean(), "must be 0"),
        (lambda mu, lv: (-0.5 * (1 + lv - mu - lv.exp())).sum(1).mean(), "expected"),
        (lambda mu, lv: (-0.5 * (1 + lv - mu**2 - lv.exp())).sum(1), "one number"),
    ],
)
def test_kl_usual_mistakes(wrong: Callable[..., Any], fragment: str) -> None:
    _fails(lab02.check_kl_term, wrong, fragment)


# --- 2.5 reparameterisation ----------------------------------------------------------------------------------


def test_reparameterize_reference_and_library_pass() -> None:
    _passes(lab02.check_reparameterize, reparameterize)
    _passes(lab02.check_reparameterize, latent.reparameterize)


def test_reparameterize_usual_mistakes() -> None:
    def variance(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return mu + torch.exp(logvar) * torch.randn(mu.shape, generator=generator)

    def global_rng(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def detached(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        with torch.no_grad():
            return reparameterize(mu, logvar, generator)

    def std_detached(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return mu + torch.exp(0.5 * logvar).detach() * torch.randn(mu.shape, generator=generator)

    def no_mean(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=generator)

    def mu_detached(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return mu.detach() + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=generator)

    _fails(lab02.check_reparameterize, variance, "that is the variance")
    _fails(lab02.check_reparameterize, global_rng, "generator it is given")
    _fails(lab02.check_reparameterize, detached, "no gradient flows")
    _fails(lab02.check_reparameterize, std_detached, "no gradient flows")
    _fails(lab02.check_reparameterize, no_mean, "centred on mu")
    _fails(lab02.check_reparameterize, mu_detached, "no gradient flows")
    _fails(lab02.check_reparameterize, lambda mu, logvar, generator=None: mu[:10], "shape (10, 3)")


def test_reparameterize_tampered_gradients_fail() -> None:
    evidence = lab02.check_reparameterize.probe(reparameterize)
    evidence = json.loads(json.dumps(plain(evidence)))
    evidence["grad_logvar"] = [[0.0] * 3] * len(evidence["grad_logvar"])
    feedback = lab02.check_reparameterize.judge(evidence)
    assert not feedback.passed and "(z - mu) / 2" in feedback.message


# --- the library side the checks rely on --------------------------------------------------------------------


def test_library_pca_agrees_with_a_full_svd_on_both_sides_of_n_and_d() -> None:
    generator = torch.Generator().manual_seed(0)
    for n, d in [(50, 8), (8, 50)]:
        x = torch.randn(n, d, generator=generator, dtype=torch.float64) * torch.linspace(3, 0.5, d, dtype=torch.float64)
        pca = latent.PCA(3).fit(x)
        vh = torch.linalg.svd(x - x.mean(0), full_matrices=False).Vh[:3]
        assert (pca.components_ @ vh.T).abs().diag() == pytest.approx(torch.ones(3, dtype=torch.float64), abs=1e-8)
        assert math.isclose(
            pca.reconstruction_error(x),
            float(((x - x.mean(0)) @ vh.T @ vh - (x - x.mean(0))).pow(2).mean()),
            rel_tol=1e-6,
        )
