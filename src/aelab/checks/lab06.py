"""Lab 06 -- measuring realism: the checks of the student's Fréchet distance, unbiased KID and coverage.

The exercises (``solutions/06-realism-metrics.ipynb``), each on feature arrays (numpy, float64):

- ``check_frechet_distance(frechet_distance)``: ``frechet_distance(a, b)`` of feature sets (N, D) and
  (M, D) -- :func:`aelab.realism.frechet_distance` -- on four fixed pairs (one set with itself, a
  pair both ways round, a set barely wider than it is long).
- ``check_mmd2_unbiased(mmd2_unbiased)``: ``mmd2_unbiased(x, y)``, KID on one subset: the unbiased MMD²
  of two (m, d) samples with the kernel (x·y/d + 1)³ -- :func:`aelab.realism.kid` with one subset of
  the whole sets -- on three fixed pairs.
- ``check_coverage(coverage)``: ``coverage(real, fake, k)``, the share of real vectors whose k-NN ball
  holds a fake, with closed balls -- :attr:`aelab.realism.prdc`'s ``coverage`` -- on three fixed pairs,
  one with duplicated real vectors.

Each judge rebuilds the fixed inputs from their seeds, recomputes the reference with the library and,
when the answer is off, says which usual mistake it looks like (without giving the answer away).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from aelab import realism

from . import check, floats

__all__ = ["check_frechet_distance", "check_mmd2_unbiased", "check_coverage"]

_RTOL = 1e-4


def _gaussian(n: int, d: int, seed: int, shift: float = 0.0, scale: float = 1.0) -> np.ndarray:
    """n samples of a correlated d-dimensional Gaussian (the correlations fixed by d alone)."""
    mix = np.random.default_rng(1000 + d).normal(size=(d, d)) / np.sqrt(d) + np.eye(d)
    return shift + scale * np.random.default_rng(seed).normal(size=(n, d)) @ mix


def _close(got: float, expected: float, atol: float = 1e-6) -> bool:
    return bool(np.isfinite(got) and abs(got - expected) <= max(atol, _RTOL * abs(expected)))


def _number(value: Any) -> float:
    got = floats(value)
    if not isinstance(got, float):
        raise TypeError(f"expected one number, got a list of {len(got)}")
    return got


def _answers(evidence: Any, count: int, what: str) -> list[float] | str:
    """The student's numbers, or a message saying why the evidence holds none."""
    if not isinstance(evidence, list) or len(evidence) != count:
        return f"the check expected {count} numbers from its probe, got {str(evidence)[:60]}."
    raised = next((v for v in evidence if isinstance(v, dict) and "raised" in v), None)
    if raised is not None:
        return f"your {what} raised {raised['raised']}: {str(raised.get('detail', ''))[:200]}"
    try:
        return [_number(v) for v in evidence]
    except TypeError:
        return f"your {what} must return one number (a float); it returned {str(evidence[0])[:60]}."


# ------------------------------------------------------------------------------------------------
# 6.1 Fréchet distance
# ------------------------------------------------------------------------------------------------


def _fd_pairs() -> list[tuple[str, np.ndarray, np.ndarray]]:
    a, b = _gaussian(200, 6, seed=1), _gaussian(150, 6, seed=2, shift=0.4, scale=1.3)
    c, d = _gaussian(30, 20, seed=3), _gaussian(40, 20, seed=4, shift=-0.2)
    return [
        ("two different sets", a, b),
        ("those two sets the other way round", b, a),
        ("a set and itself", a, a),
        ("two 20-dimensional sets of 30 and 40 vectors", c, d),
    ]


def _fd_mistakes(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """What the usual mistakes give on one pair: message -> value."""
    from scipy.linalg import sqrtm

    mean = float(((a.mean(0) - b.mean(0)) ** 2).sum())
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = float(np.trace(sqrtm(cov_a @ cov_b).real))
    biased_a, biased_b = np.cov(a, rowvar=False, bias=True), np.cov(b, rowvar=False, bias=True)
    traces = float(np.trace(cov_a) + np.trace(cov_b))
    return {
        "divides the covariances by N; FID (and numpy.cov) divide by N − 1": mean
        + float(np.trace(biased_a) + np.trace(biased_b))
        - 2 * float(np.trace(sqrtm(biased_a @ biased_b).real)),
        "leaves out the distance between the means, ‖μa − μb‖²": traces - 2 * root,
        "subtracts the trace of (Σa Σb)^½ once; the formula subtracts it twice": mean + traces - root,
        "uses the variances alone (an element-wise square root, or only the diagonals); the covariances "
        "between features count too: take the matrix square root of Σa Σb": mean
        + traces
        - 2 * float(np.sqrt(np.diag(cov_a) * np.diag(cov_b)).sum()),
        "returns the square root of the Fréchet distance; FD is already a squared distance": float(
            np.sqrt(max(mean + traces - 2 * root, 0.0))
        ),
    }


def _wrong_axis(evidence: Any) -> str | None:
    """The message for a covariance taken over the wrong axis (``np.cov(a)``: one variable per
    vector, N × N), read off the ValueError the student's code raised on the first pair; else None."""
    if not isinstance(evidence, list) or not evidence or not isinstance(evidence[0], dict):
        return None
    detail = str(evidence[0].get("detail", ""))
    _, a, b = _fd_pairs()[0]
    if evidence[0].get("raised") != "ValueError" or not all(str(len(x)) in detail for x in (a, b)):
        return None
    return (
        f"on two different sets ({len(a)} and {len(b)} vectors of {a.shape[1]} features) your covariances are "
        f"{len(a)} × {len(a)} and {len(b)} × {len(b)}, one row per vector: np.cov treats rows as variables "
        "unless rowvar=False; Σ is D × D."
    )


def _judge_frechet_distance(evidence: Any) -> tuple[bool, str]:
    wrong_axis = _wrong_axis(evidence)
    if wrong_axis is not None:
        return False, wrong_axis
    answers = _answers(evidence, 4, "frechet_distance")
    if isinstance(answers, str):
        return False, answers
    for (label, a, b), got in zip(_fd_pairs(), answers):
        expected = realism.frechet_distance(a, b)
        if _close(got, expected):
            continue
        for message, value in _fd_mistakes(a, b).items():
            if _close(got, value, atol=1e-4):
                return False, f"on {label} your frechet_distance {message}."
        if label == "a set and itself":
            return False, f"a set's distance to itself must be 0 (to rounding); yours gives {got:.3g}."
        return False, f"on {label} your frechet_distance gives {got:.4g}; expected {expected:.4g}."
    return True, "your frechet_distance matches FID's formula on four pairs, FD(X, X) = 0 and symmetric included."


def _value_or_error(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)``, or ``{"raised": "ValueError", "detail": ...}`` when it raises a ValueError
    (numpy's message on mismatched shapes tells the judge which axis went wrong)."""
    try:
        return function(*args)
    except ValueError as exc:
        return {"raised": "ValueError", "detail": str(exc)[:300]}


@check(_judge_frechet_distance)
def check_frechet_distance(frechet_distance: Callable[[np.ndarray, np.ndarray], Any]) -> Any:
    """Your ``frechet_distance(a, b)`` on four fixed pairs of feature arrays (N, D)."""
    return [_value_or_error(frechet_distance, a.copy(), b.copy()) for _, a, b in _fd_pairs()]


# ------------------------------------------------------------------------------------------------
# 6.2 unbiased MMD² (KID on one subset)
# ------------------------------------------------------------------------------------------------


def _kid_pairs() -> list[tuple[str, np.ndarray, np.ndarray]]:
    return [
        ("two different samples (m = 50, d = 8)", _gaussian(50, 8, seed=5), _gaussian(50, 8, seed=6, shift=0.5)),
        ("two samples of one distribution (m = 60, d = 8)", _gaussian(60, 8, seed=7), _gaussian(60, 8, seed=8)),
        ("two samples of m = 40, d = 32", _gaussian(40, 32, seed=9, scale=0.7), _gaussian(40, 32, seed=10)),
    ]


def _mmd2(
    x: np.ndarray,
    y: np.ndarray,
    *,
    power: int = 3,
    scaled: bool = True,
    diagonal: bool = False,
    over_m2: bool = False,
    cross: float = -2.0,
) -> float:
    m, d = x.shape
    kernel = lambda u, v: (u @ v.T / (d if scaled else 1) + 1) ** power  # noqa: E731
    k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
    within = k_xx.sum() + k_yy.sum()
    if not diagonal:
        within -= np.trace(k_xx) + np.trace(k_yy)
    pairs = m * m if (diagonal or over_m2) else m * (m - 1)
    return float(within / pairs + cross * k_xy.mean())


_KID_MISTAKES = {
    "keeps the diagonal terms k(xᵢ, xᵢ) in the within-set sums: that is the biased estimator (it is "
    "positive even for one distribution); sum over i ≠ j only": {"diagonal": True},
    "leaves out the diagonal but still divides by m²; there are m(m − 1) pairs i ≠ j": {"over_m2": True},
    "uses the kernel (x·y + 1)³; KID's kernel divides the dot product by the dimension d": {"scaled": False},
    "uses a quadratic kernel; KID's is cubic, (x·y/d + 1)³": {"power": 2},
    "adds the cross term: MMD² subtracts 2 · mean k(xᵢ, yⱼ) (check its sign)": {"cross": 2.0},
    "subtracts the cross term once: MMD² subtracts it twice, 2 · mean k(xᵢ, yⱼ)": {"cross": -1.0},
}


def _judge_mmd2_unbiased(evidence: Any) -> tuple[bool, str]:
    answers = _answers(evidence, 3, "mmd2_unbiased")
    if isinstance(answers, str):
        return False, answers
    for (label, x, y), got in zip(_kid_pairs(), answers):
        expected = realism.kid(x, y, subsets=1, subset_size=len(x)).mean
        if _close(got, expected):
            continue
        for message, options in _KID_MISTAKES.items():
            if _close(got, _mmd2(x, y, **options)):
                return False, f"on {label} your mmd2_unbiased {message}."
        if _close(got, -expected):
            return False, f"on {label} your mmd2_unbiased has the wrong sign: the cross term is subtracted."
        return False, f"on {label} your mmd2_unbiased gives {got:.4g}; expected {expected:.4g}."
    return True, "your mmd2_unbiased is the unbiased MMD² with KID's kernel (x·y/d + 1)³ on three pairs."


@check(_judge_mmd2_unbiased)
def check_mmd2_unbiased(mmd2_unbiased: Callable[[np.ndarray, np.ndarray], Any]) -> Any:
    """Your ``mmd2_unbiased(x, y)`` on three fixed pairs of samples (m, d)."""
    return [mmd2_unbiased(x.copy(), y.copy()) for _, x, y in _kid_pairs()]


# ------------------------------------------------------------------------------------------------
# 6.3 coverage
# ------------------------------------------------------------------------------------------------


def _coverage_cases() -> list[tuple[str, np.ndarray, np.ndarray, int]]:
    base = _gaussian(25, 4, seed=13)
    return [
        ("two different sets, k = 3", _gaussian(80, 4, seed=11), _gaussian(70, 4, seed=12, shift=0.6), 3),
        ("two sets of one distribution, k = 5", _gaussian(100, 4, seed=14), _gaussian(90, 4, seed=15), 5),
        (
            "real vectors repeated six times each, k = 5",
            np.repeat(base, 6, axis=0),
            np.concatenate([base[:10], _gaussian(10, 4, seed=16)]),
            5,
        ),
    ]


def _coverage_variant(
    real: np.ndarray, fake: np.ndarray, k: int, *, self_neighbour: bool = False, open_ball: bool = False
) -> float:
    """Coverage computed with one of two usual mistakes: the point itself as its own first
    neighbour, or open balls (distance < radius)."""
    distances = np.sqrt(((real[:, None, :] - fake[None, :, :]) ** 2).sum(-1))
    within = np.sqrt(((real[:, None, :] - real[None, :, :]) ** 2).sum(-1))
    radii = np.sort(within, axis=1)[:, k - 1 if self_neighbour else k]
    nearest = distances.min(axis=1)
    return float((nearest < radii).mean() if open_ball else (nearest <= radii).mean())


def _judge_coverage(evidence: Any) -> tuple[bool, str]:
    answers = _answers(evidence, 3, "coverage")
    if isinstance(answers, str):
        return False, answers
    for (label, real, fake, k), got in zip(_coverage_cases(), answers):
        scores = realism.prdc(real, fake, k)
        if _close(got, scores.coverage):
            continue
        if _close(got, _coverage_variant(real, fake, k, self_neighbour=True)):
            return False, (
                f"on {label} your radii are the distance to the (k − 1)-th neighbour: a vector's "
                "nearest neighbour in its own set is itself, at distance 0; skip it."
            )
        if _close(got, _coverage_variant(real, fake, k, open_ball=True)):
            return False, (
                f"on {label} your balls are open (distance < radius): a vector with k copies has "
                "radius 0 and its open ball is empty, so an exact match is missed; use ≤."
            )
        if _close(got, scores.precision):
            return False, (
                f"on {label} you computed precision (the share of fakes inside a real ball); "
                "coverage counts real vectors whose own ball holds a fake."
            )
        if _close(got, scores.recall):
            return False, (
                f"on {label} you computed recall (balls around the fakes); coverage uses the real vectors' balls."
            )
        return False, f"on {label} your coverage gives {got:.4g}; expected {scores.coverage:.4g}."
    return True, "your coverage matches Naeem et al.'s on three pairs, duplicated real vectors included."


@check(_judge_coverage)
def check_coverage(coverage: Callable[[np.ndarray, np.ndarray, int], Any]) -> Any:
    """Your ``coverage(real, fake, k)`` on three fixed pairs of feature arrays."""
    return [coverage(real.copy(), fake.copy(), k) for _, real, fake, k in _coverage_cases()]
