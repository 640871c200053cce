"""Uncertainty of measured figures: confidence intervals, paired comparisons and Holm's correction.

Every lab that compares models or calls an effect uses this one module, so that one rule holds across
the course (:data:`RULE`): *"A beats B"* or *"option Z has an effect"* is called only where the 95 %
interval of the difference excludes 0 after Holm's correction over the family of comparisons the lab
makes, which keeps the chance of one or more false calls in that family at 5 % or less.

Which interval fits which data:

- figures over **test items** of one model (per-face errors, per-image scores):
  :func:`bootstrap_interval` (percentile bootstrap, Efron & Tibshirani 1993, ch. 13);
- two models scored on the **same items**: :func:`paired_difference` (items resampled jointly, so
  that what the items share cancels);
- one figure per **training seed**: :func:`seed_interval` / :func:`seed_difference` (Student's and
  Welch's t: with 3 seeds a bootstrap over seeds would be far too narrow);
- **seeds × items** (every seed scored on the same test items): :func:`seeds_items_interval` /
  :func:`seeds_items_difference`, which add the seed and the item components of the error;
- an **AUC** and the difference of two AUCs on the same items: :func:`auc_interval`,
  :func:`auc_difference` (DeLong, DeLong & Clarke-Pearson 1988, in Sun & Xu's 2014 fast form);
- a **family** of comparisons: :func:`holm_adjusted` (Holm 1979) and :func:`family`;
- a **trade-off** of two figures: :func:`pareto_front`, the points no other dominates.

Inputs are 1-D sequences of numbers (lists, NumPy arrays, tensors); outputs are plain floats.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _scipy

from aelab.validate import check_float, check_int, check_seed

__all__ = [
    "RULE",
    "Interval",
    "Comparison",
    "Called",
    "bootstrap_interval",
    "paired_difference",
    "seed_interval",
    "seed_difference",
    "seeds_items_interval",
    "seeds_items_difference",
    "auc_interval",
    "auc_difference",
    "holm_adjusted",
    "holm",
    "family",
    "pareto_front",
]

#: The decision rule every lab states, in one sentence.
RULE = (
    "An effect or a ranking is called only where the 95 % interval of the difference excludes 0 after "
    "Holm's correction over the lab's family of comparisons: the chance of one or more false calls in "
    "the family is then at most 5 %."
)

Statistic = Callable[[np.ndarray], float]


@dataclass(frozen=True)
class Interval:
    """A figure and its confidence interval: ``estimate`` in [``low``, ``high``] at ``level``."""

    estimate: float
    low: float
    high: float
    level: float = 0.95

    def excludes(self, value: float = 0.0) -> bool:
        """True when ``value`` lies outside the interval (both ends inclusive in the interval)."""
        return value < self.low or value > self.high

    def __str__(self) -> str:
        return f"{self.estimate:.3f} [{self.low:.3f}, {self.high:.3f}]"


@dataclass(frozen=True)
class Comparison:
    """A difference (first minus second) with its interval and a two-sided p-value for "no difference"."""

    difference: Interval
    p_value: float


@dataclass(frozen=True)
class Called:
    """One comparison of a family after Holm's correction: ``called`` when the family's rule calls it."""

    name: str
    difference: Interval
    p_value: float
    p_holm: float
    called: bool

    @property
    def direction(self) -> str:
        """``"higher"`` or ``"lower"`` (the first against the second) when called, else ``"none"``."""
        if not self.called:
            return "none"
        return "higher" if self.difference.estimate > 0 else "lower"


def _values(name: str, values: object, *, minimum: int = 2, ndim: int | tuple[int, ...] = 1) -> np.ndarray:
    """``values`` as a float64 array of finite numbers with at least ``minimum`` rows."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()  # type: ignore[union-attr]
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be numbers (a list, an array or a tensor), got {type(values).__name__}") from None
    dims = (ndim,) if isinstance(ndim, int) else ndim
    if array.ndim not in dims:
        raise ValueError(f"{name} must have {' or '.join(map(str, dims))} dimension(s), got shape {array.shape}")
    if array.shape[0] < minimum:
        raise ValueError(f"{name} needs at least {minimum} values to give an interval, got {array.shape[0]}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds NaN or infinite values; remove or explain them before an interval")
    return array


def _level(level: object) -> float:
    return check_float("level", level, minimum=0.5, maximum=1.0, max_inclusive=False)


def _resample_indices(n: int, resamples: object, seed: object) -> np.ndarray:
    resamples = check_int("resamples", resamples, minimum=100)
    return np.random.default_rng(check_seed("seed", seed)).integers(0, n, size=(resamples, n))


def _apply(statistic: Statistic | None, values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The statistic of every resample (rows ``index[b]`` of ``values``); the mean is vectorised."""
    if statistic is None:
        return values[index].mean(axis=1) if values.ndim == 1 else values[index].mean(axis=(1, 2))
    return np.array([float(statistic(values[rows])) for rows in index])


def _estimate(statistic: Statistic | None, values: np.ndarray) -> float:
    return float(values.mean()) if statistic is None else float(statistic(values))


def _percentile(estimate: float, draws: np.ndarray, level: float) -> Interval:
    tail = (1 - level) / 2
    low, high = np.quantile(draws, [tail, 1 - tail])
    return Interval(estimate, float(low), float(high), level)


def bootstrap_interval(
    values: object,
    statistic: Statistic | None = None,
    *,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap interval of ``statistic(values)`` over the test items.

    ``values``: one value per item (1-D), or one row per item (2-D; rows are resampled together, e.g.
    (score, label) pairs). ``statistic`` maps such an array to a number; ``None`` is the mean. The
    items are drawn with replacement ``resamples`` times from a generator seeded with ``seed``, so the
    interval repeats exactly on one machine.
    """
    data = _values("values", values, ndim=(1, 2))
    level = _level(level)
    draws = _apply(statistic, data, _resample_indices(len(data), resamples, seed))
    return _percentile(_estimate(statistic, data), draws, level)


def _bootstrap_p(draws: np.ndarray) -> float:
    """Two-sided bootstrap p-value of "the difference is 0": twice the smaller tail beyond 0.

    Matches the percentile interval: the (1 - alpha) interval excludes 0 about when p < alpha.
    """
    below = (np.sum(draws <= 0) + 1) / (len(draws) + 1)
    above = (np.sum(draws >= 0) + 1) / (len(draws) + 1)
    return float(min(1.0, 2 * min(below, above)))


def paired_difference(
    a: object,
    b: object,
    statistic: Statistic | None = None,
    *,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> Comparison:
    """``statistic(a) - statistic(b)`` for two models scored on the same items, with its interval.

    ``a[i]`` and ``b[i]`` are the two models' values on item ``i``; each resample draws the same items
    for both, so the variation the items share cancels (a paired bootstrap). ``statistic=None`` is the
    mean, for which this is the bootstrap of the per-item differences.
    """
    first = _values("a", a, ndim=(1, 2))
    second = _values("b", b, ndim=(1, 2))
    if first.shape != second.shape:
        raise ValueError(f"a and b must hold the same items (same shape), got {first.shape} and {second.shape}")
    level = _level(level)
    index = _resample_indices(len(first), resamples, seed)
    draws = _apply(statistic, first, index) - _apply(statistic, second, index)
    estimate = _estimate(statistic, first) - _estimate(statistic, second)
    return Comparison(_percentile(estimate, draws, level), _bootstrap_p(draws))


def _t_interval(estimate: float, se: float, df: float, level: float) -> tuple[Interval, float]:
    """``estimate ± t·se`` with ``df`` degrees of freedom, and the two-sided p-value of 0."""
    if se == 0:
        p = 1.0 if estimate == 0 else 0.0
        return Interval(estimate, estimate, estimate, level), p
    half = float(_scipy.t.ppf(0.5 + level / 2, df)) * se
    p = float(2 * _scipy.t.sf(abs(estimate) / se, df))
    return Interval(estimate, estimate - half, estimate + half, level), p


def seed_interval(values: object, *, level: float = 0.95) -> Interval:
    """Student's t interval of the mean of per-seed figures (one figure per training seed, n >= 2)."""
    data = _values("values", values)
    n = len(data)
    return _t_interval(float(data.mean()), float(data.std(ddof=1) / math.sqrt(n)), n - 1, _level(level))[0]


def _welch(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Welch's difference of means, its standard error and its Welch-Satterthwaite degrees of freedom."""
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if se > 0 else 1.0
    return float(a.mean() - b.mean()), se, df


def seed_difference(a: object, b: object, *, level: float = 0.95) -> Comparison:
    """Welch's t interval of mean(a) - mean(b), ``a`` and ``b`` one figure per training seed each."""
    estimate, se, df = _welch(_values("a", a), _values("b", b))
    interval, p = _t_interval(estimate, se, df, _level(level))
    return Comparison(interval, p)


def _satterthwaite(parts: Sequence[tuple[float, int]]) -> tuple[float, float]:
    """Standard error and degrees of freedom of a sum of variance components ``(variance, df)``."""
    total = sum(v for v, _ in parts)
    if total == 0:
        return 0.0, 1.0
    df = total**2 / sum(v**2 / d for v, d in parts if v > 0)
    return math.sqrt(total), df


def _seeds_items(name: str, values: object) -> np.ndarray:
    data = _values(name, values, ndim=2)
    if data.shape[1] < 2:
        raise ValueError(f"{name} must be (seeds, items) with at least 2 items, got shape {data.shape}")
    return data


def seeds_items_interval(values: object, *, level: float = 0.95) -> Interval:
    """Interval of the mean of a (seeds, items) table: every training seed scored on the same items.

    The standard error adds the seed component var(per-seed means) / S and the item component
    var(per-item means) / N -- a slightly conservative sum for this crossed design (each holds a share
    of the residual) -- with Welch-Satterthwaite degrees of freedom, so that 3 seeds give an interval
    as wide as 3 seeds deserve.
    """
    data = _seeds_items("values", values)
    s, n = data.shape
    se, df = _satterthwaite([(data.mean(axis=1).var(ddof=1) / s, s - 1), (data.mean(axis=0).var(ddof=1) / n, n - 1)])
    return _t_interval(float(data.mean()), se, df, _level(level))[0]


def seeds_items_difference(a: object, b: object, *, level: float = 0.95) -> Comparison:
    """mean(a) - mean(b) for two (seeds, items) tables on the same items, the seeds independent.

    The items pair: the item component is the variance of the per-item differences of the seed
    means; each model adds its own seed component (see :func:`seeds_items_interval`).
    """
    first, second = _seeds_items("a", a), _seeds_items("b", b)
    if first.shape[1] != second.shape[1]:
        raise ValueError(f"a and b must score the same items, got {first.shape[1]} and {second.shape[1]} items")
    items = first.mean(axis=0) - second.mean(axis=0)
    parts = [
        (first.mean(axis=1).var(ddof=1) / len(first), len(first) - 1),
        (second.mean(axis=1).var(ddof=1) / len(second), len(second) - 1),
        (items.var(ddof=1) / len(items), len(items) - 1),
    ]
    se, df = _satterthwaite(parts)
    interval, p = _t_interval(float(first.mean() - second.mean()), se, df, _level(level))
    return Comparison(interval, p)


def _labels_scores(labels: object, *scores: object) -> tuple[np.ndarray, list[np.ndarray]]:
    y = _values("labels", labels)
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("labels must be 0 (real) and 1 (fake)")
    if y.min() == y.max():
        raise ValueError("labels must hold both classes (0 and 1) for an AUC")
    columns = [_values(f"scores {i + 1}" if len(scores) > 1 else "scores", s) for i, s in enumerate(scores)]
    for column in columns:
        if column.shape != y.shape:
            raise ValueError(f"scores must give one score per label, got {column.shape} for {y.shape} labels")
    return y, columns


def _delong(y: np.ndarray, columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """AUCs of the score columns and their DeLong covariance (Sun & Xu 2014's midrank form)."""
    m, n = int((y == 1).sum()), int((y == 0).sum())
    v10, v01, aucs = [], [], []
    for column in columns:
        pos, neg = column[y == 1], column[y == 0]
        rank_all = _scipy.rankdata(np.concatenate([pos, neg]))
        rank_pos, rank_neg = _scipy.rankdata(pos), _scipy.rankdata(neg)
        auc = (rank_all[:m].sum() - m * (m + 1) / 2) / (m * n)
        v10.append((rank_all[:m] - rank_pos) / n)  # per fake: share of reals it outscores
        v01.append(1 - (rank_all[m:] - rank_neg) / m)  # per real: share of fakes that outscore it
        aucs.append(auc)
    s10 = np.atleast_2d(np.cov(np.array(v10)))
    s01 = np.atleast_2d(np.cov(np.array(v01)))
    return np.array(aucs), s10 / m + s01 / n


def auc_interval(labels: object, scores: object, *, level: float = 0.95) -> Interval:
    """AUC (fakes labelled 1 should score higher) with DeLong's interval, clipped to [0, 1]."""
    y, columns = _labels_scores(labels, scores)
    aucs, cov = _delong(y, columns)
    auc, se = float(aucs[0]), math.sqrt(max(float(cov[0, 0]), 0.0))
    half = float(_scipy.norm.ppf(0.5 + _level(level) / 2)) * se
    return Interval(auc, max(0.0, auc - half), min(1.0, auc + half), level)


def auc_difference(labels: object, scores_a: object, scores_b: object, *, level: float = 0.95) -> Comparison:
    """AUC(a) - AUC(b) of two detectors scored on the same images, with DeLong's paired test."""
    y, columns = _labels_scores(labels, scores_a, scores_b)
    aucs, cov = _delong(y, columns)
    estimate = float(aucs[0] - aucs[1])
    se = math.sqrt(max(float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]), 0.0))
    level = _level(level)
    if se == 0:
        return Comparison(Interval(estimate, estimate, estimate, level), 1.0 if estimate == 0 else 0.0)
    half = float(_scipy.norm.ppf(0.5 + level / 2)) * se
    p = float(2 * _scipy.norm.sf(abs(estimate) / se))
    return Comparison(Interval(estimate, estimate - half, estimate + half, level), p)


def holm_adjusted(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979), in the order given.

    The i-th smallest p (0-based) is multiplied by (m - i), and the adjusted values are made
    non-decreasing in that order and capped at 1. Rejecting where the adjusted p < alpha controls the
    family-wise error rate at alpha.
    """
    p = [check_float(f"p_values[{i}]", v, minimum=0.0, maximum=1.0) for i, v in enumerate(p_values)]
    m = len(p)
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(sorted(range(m), key=p.__getitem__)):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def holm(p_values: Sequence[float], alpha: float = 0.05) -> list[bool]:
    """Which hypotheses Holm's procedure rejects at family-wise level ``alpha``, in the order given."""
    alpha = check_float("alpha", alpha, minimum=0.0, maximum=1.0, min_inclusive=False, max_inclusive=False)
    return [q < alpha for q in holm_adjusted(p_values)]


def family(comparisons: Mapping[str, Comparison], *, alpha: float = 0.05) -> dict[str, Called]:
    """A lab's family of comparisons, each with its Holm-adjusted p and whether :data:`RULE` calls it."""
    if not isinstance(comparisons, Mapping) or not comparisons:
        raise TypeError("comparisons must be a non-empty mapping {name: Comparison}")
    for name, comparison in comparisons.items():
        if not isinstance(comparison, Comparison):
            raise TypeError(f"comparison {name!r} must be a stats.Comparison, got {type(comparison).__name__}")
    names = list(comparisons)
    adjusted = holm_adjusted([comparisons[n].p_value for n in names])
    alpha = check_float("alpha", alpha, minimum=0.0, maximum=1.0, min_inclusive=False, max_inclusive=False)
    return {
        n: Called(n, comparisons[n].difference, comparisons[n].p_value, q, q < alpha) for n, q in zip(names, adjusted)
    }


def pareto_front(points: Mapping[str, tuple[float, float]]) -> list[str]:
    """The names of ``points`` (name -> (quality, detectability): higher is better, then lower is better)
    that no other point dominates: none has a quality at least as high and a detectability at least as
    low, one of them strictly. In the order given."""
    items = [(str(name), float(q), float(d)) for name, (q, d) in points.items()]
    return [name for name, q, d in items if not any(q2 >= q and d2 <= d and (q2 > q or d2 < d) for _, q2, d2 in items)]
