"""Realism without Inception: distances between sets of images in the features of a kit-trained network.

FID (Heusel et al. 2017) compares generated and real images in the features of an Inception network
trained on ImageNet. The kit can neither download those weights nor trust them on cartoon faces, so
it measures in the features of :class:`aelab.featurenet.FeatureNet` -- the factor reader of lab 03 grown up: a CNN
trained on rendered faces to read back every generative factor (pose, expression, light, background,
identity), whose last hidden layer is the feature vector. Every metric below takes feature arrays
(N, D) (or tensors) and follows its paper's definition:

- :func:`frechet_distance`: the Fréchet distance between Gaussians fitted to two sets (FID's formula);
  :func:`frechet_distance_gaussians` is the closed form on given means and covariances;
  :func:`fd_curve`: FD at several sample sizes and its extrapolation to N → ∞ (FD∞, Chong & Forsyth 2020);
- :func:`kid`: the kernel inception distance (Bińkowski et al. 2018), unbiased MMD² with the kernel
  (x·y/d + 1)³ averaged over random subsets: mean and std;
- :func:`prdc`: precision and recall (Kynkäänniemi et al. 2019), density and coverage (Naeem et al.
  2020) on k-nearest-neighbour balls (one k for all four unless ``pr_k`` gives precision and recall
  their own: the papers use k = 3 and k = 5);
- :func:`set_intervals`: 95 % intervals of FD, KID, precision and recall over the items of two sets
  (a jackknife for FD and KID, a bootstrap for precision and recall);
- :func:`ms_ssim`: multi-scale SSIM (Wang et al. 2003) with as many scales as small images allow;
- :func:`realism` scores a fake feature set against a real one with all three in one call, and
  :func:`swap_realism` scores a model's swaps, merged into their dst frames by DeepFaceLab's merger
  (:func:`aelab.merge.merge`), against the true swaps merged the same way.

Images are tensors (N, 3, H, W) of floats in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import t as t_distribution

from aelab import losses, stats
from aelab.data import faces
from aelab.featurenet import FeatureNet
from aelab.merge import merge
from aelab.validate import check_float, check_images, check_instance, check_int, check_seed

__all__ = [
    "frechet_distance",
    "frechet_distance_gaussians",
    "FDCurve",
    "fd_curve",
    "KID",
    "kid",
    "PRDC",
    "prdc",
    "set_intervals",
    "ms_ssim",
    "MS_SSIM_WEIGHTS",
    "blur",
    "Realism",
    "realism",
    "swap_realism",
]

# ----------------------------------------------------------------------------------------------------
# Fréchet distance
# ----------------------------------------------------------------------------------------------------


def _features(name: str, value: object, *, minimum: int = 2) -> torch.Tensor:
    """``value`` (a tensor or array (N, D)) as float64; ValueError below ``minimum`` rows or with NaN."""
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if not isinstance(value, torch.Tensor):
        raise TypeError(
            f"{name} must be a feature array (N, D): a torch.Tensor or numpy array, got {type(value).__name__}"
        )
    if value.ndim != 2:
        raise ValueError(f"{name} must have shape (N, D), got {tuple(value.shape)}; flatten with x.flatten(1)")
    if value.shape[0] < minimum or value.shape[1] < 1:
        raise ValueError(
            f"{name} must hold at least {minimum} feature vectors of at least 1 number, got {tuple(value.shape)}"
        )
    value = value.detach().to("cpu", torch.float64)
    if not torch.isfinite(value).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return value


def _pair(a: object, b: object, minimum: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = _features("features_a", a, minimum=minimum), _features("features_b", b, minimum=minimum)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"features_a and features_b must have the same width D, got {x.shape[1]} and {y.shape[1]}")
    return x, y


def _sqrtm_psd(matrix: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def frechet_distance_gaussians(
    mean_a: torch.Tensor, cov_a: torch.Tensor, mean_b: torch.Tensor, cov_b: torch.Tensor
) -> float:
    """The Fréchet (2-Wasserstein²) distance between N(mean_a, cov_a) and N(mean_b, cov_b):

        ‖μa − μb‖² + tr(Σa + Σb − 2 (Σa^½ Σb Σa^½)^½)

    (Dowson & Landau 1982). tr((Σa Σb)^½), the term FID's code computes with ``scipy.linalg.sqrtm``,
    equals tr((Σa^½ Σb Σa^½)^½); the symmetric form needs two eigendecompositions of symmetric
    matrices only, never a complex square root, and gives exactly 0 for two equal Gaussians.
    """
    mean_a, mean_b = mean_a.double(), mean_b.double()
    root_a = _sqrtm_psd(cov_a.double())
    middle = root_a @ cov_b.double() @ root_a
    trace_root = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    value = (mean_a - mean_b).pow(2).sum() + cov_a.double().trace() + cov_b.double().trace() - 2 * trace_root
    return max(float(value), 0.0)


def frechet_distance(features_a: object, features_b: object) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, D) and (M, D): FID's formula
    (Heusel et al. 2017) in whatever features are given.

    Means and covariances (unbiased, /(N − 1), as ``numpy.cov``) are computed in float64; see
    :func:`frechet_distance_gaussians`. FD(X, X) = 0 and FD(X, Y) = FD(Y, X). The estimate is biased
    upwards at finite N (roughly by a constant / N): compare FDs at the same N only, or use
    :func:`fd_curve`.
    """
    x, y = _pair(features_a, features_b)
    return frechet_distance_gaussians(
        x.mean(0), torch.cov(x.T).reshape(x.shape[1], -1), y.mean(0), torch.cov(y.T).reshape(y.shape[1], -1)
    )


@dataclass(frozen=True)
class FDCurve:
    """FD at several sample sizes and its extrapolation (see :func:`fd_curve`).

    ``sizes``: the N; ``values``: mean FD over the trials at each N; ``fd_inf``, ``slope``: the line
    FD(N) ≈ fd_inf + slope / N fitted by least squares to every trial.
    """

    sizes: tuple[int, ...]
    values: tuple[float, ...]
    fd_inf: float
    slope: float

    def predict(self, n: float) -> float:
        """The fitted FD at sample size ``n`` (``math.inf`` gives ``fd_inf``)."""
        return self.fd_inf + self.slope / n


def fd_curve(real: object, fake: object, sizes: Sequence[int], *, trials: int = 3, seed: int = 0) -> FDCurve:
    """FD between the whole ``real`` set and random subsets of ``fake`` of each size in ``sizes``
    (``trials`` subsets each, drawn without replacement with a seeded generator), and FD∞: the
    intercept of the line fitted to FD against 1/N (scikit-learn's ``LinearRegression``), the value at
    N → ∞ (Chong & Forsyth 2020, "Effectively Unbiased FID and Inception Score and where to find
    them": FID is linear in 1/N).

    The real set's own statistics are taken once from all of it (as FID's reference statistics are);
    the bias that remains from it is not removed.
    """
    from sklearn.linear_model import LinearRegression

    x, y = _pair(real, fake)
    trials = check_int("trials", trials, minimum=1)
    seed = check_seed("seed", seed)
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence) or len(sizes) < 2:
        raise ValueError(f"sizes must be a sequence of at least two sample sizes, got {sizes!r}")
    sizes = tuple(check_int("each size", n, minimum=2, maximum=len(y)) for n in sizes)
    if len(set(sizes)) < 2:
        raise ValueError(f"sizes must hold at least two different sample sizes, got {sizes}")
    generator = torch.Generator().manual_seed(seed)
    mean_x, cov_x = x.mean(0), torch.cov(x.T).reshape(x.shape[1], -1)
    points: list[tuple[int, float]] = []
    for n in sizes:
        for _ in range(trials):
            part = y[torch.randperm(len(y), generator=generator)[:n]]
            points.append(
                (
                    n,
                    frechet_distance_gaussians(
                        mean_x, cov_x, part.mean(0), torch.cov(part.T).reshape(part.shape[1], -1)
                    ),
                )
            )
    line = LinearRegression().fit(np.array([[1.0 / n] for n, _ in points]), np.array([v for _, v in points]))
    intercept, slope = float(line.intercept_), float(line.coef_[0])
    values = tuple(float(np.mean([v for m, v in points if m == n])) for n in sizes)
    return FDCurve(sizes, values, intercept, slope)


# ----------------------------------------------------------------------------------------------------
# Kernel inception distance
# ----------------------------------------------------------------------------------------------------


class KID(NamedTuple):
    """KID's mean over the subsets and its standard deviation across them."""

    mean: float
    std: float


def _mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD² of two equal-size samples (m, d) with the kernel k(a, b) = (a·b/d + 1)³: the
    within-set kernel sums leave out the diagonal (Gretton et al. 2012, eq. 3)."""
    m, d = x.shape
    k_xx = (x @ x.T / d + 1) ** 3
    k_yy = (y @ y.T / d + 1) ** 3
    k_xy = (x @ y.T / d + 1) ** 3
    within = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return float(within - 2 * k_xy.mean())


def kid(features_a: object, features_b: object, *, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> KID:
    """Kernel inception distance (Bińkowski et al. 2018) between two feature sets (N, D) and (M, D).

    ``subsets`` times, draw ``subset_size`` vectors from each set without replacement (a generator
    seeded with ``seed``) and take the unbiased MMD² with the polynomial kernel (x·y/D + 1)³; return
    the mean and the standard deviation (population, as torch-fidelity's ``kid_std``) over subsets.
    Unbiased: two samples of one distribution give values around 0, negative ones included.
    ``subset_size`` may not exceed either set's size.
    """
    x, y = _pair(features_a, features_b)
    subsets = check_int("subsets", subsets, minimum=1)
    subset_size = check_int("subset_size", subset_size, minimum=2)
    seed = check_seed("seed", seed)
    if subset_size > min(len(x), len(y)):
        raise ValueError(
            f"subset_size {subset_size} is larger than the sets ({len(x)} and {len(y)} vectors); "
            f"use subset_size <= {min(len(x), len(y))}"
        )
    generator = torch.Generator().manual_seed(seed)
    values = [
        _mmd2_unbiased(
            x[torch.randperm(len(x), generator=generator)[:subset_size]],
            y[torch.randperm(len(y), generator=generator)[:subset_size]],
        )
        for _ in range(subsets)
    ]
    return KID(float(np.mean(values)), float(np.std(values)))


# ----------------------------------------------------------------------------------------------------
# Precision, recall, density, coverage
# ----------------------------------------------------------------------------------------------------


class PRDC(NamedTuple):
    """Precision and recall (fidelity and diversity, Kynkäänniemi et al. 2019), density and coverage
    (their outlier-robust versions, Naeem et al. 2020)."""

    precision: float
    recall: float
    density: float
    coverage: float


def _neighbourhoods(x: torch.Tensor, y: torch.Tensor) -> Callable[[int], tuple[torch.Tensor, torch.Tensor]]:
    """The distances of two sets, computed once, and for any k: which vectors of ``y`` lie in which k-NN
    ball of ``x`` (N, M), and of ``x`` in which of ``y``'s (N, M). A ball's radius is the distance to
    the k-th nearest neighbour in its own set, the vector itself excluded."""
    exact = "donot_use_mm_for_euclid_dist"  # exact zeros for duplicates
    within_x, within_y = torch.cdist(x, x, compute_mode=exact), torch.cdist(y, y, compute_mode=exact)
    between = torch.cdist(x, y, compute_mode=exact)  # (N real, M fake)

    def inside(k: int) -> tuple[torch.Tensor, torch.Tensor]:
        radius_x = within_x.kthvalue(k + 1, dim=1).values  # the 1st smallest is the vector itself (0)
        radius_y = within_y.kthvalue(k + 1, dim=1).values
        return between <= radius_x[:, None], between <= radius_y[None, :]

    return inside


def prdc(real: object, fake: object, k: int = 5, *, pr_k: int | None = None) -> PRDC:
    """Precision, recall, density and coverage of ``fake`` (M, D) against ``real`` (N, D).

    Each vector's k-NN ball is centred on it with the distance to its k-th nearest neighbour in its own
    set as radius (Euclidean). With B(r) the balls of the real vectors and B(f) those of the fakes:

    - precision: the share of fakes inside some B(r) (are the fakes realistic?);
    - recall: the share of reals inside some B(f) (does the fake set cover the real one?);
    - density: (1/k) · the mean over fakes of how many B(r) hold each fake (≈ 1 when the sets match;
      unlike precision, not fooled by a few outliers among the reals);
    - coverage: the share of reals whose B(r) holds some fake (≈ 1 − 2^−k when the sets match, k ≥ 1,
      large N).

    ``pr_k`` (default: ``k``) is the k of precision and recall, ``k`` that of density and coverage:
    Kynkäänniemi et al. (2019) use k = 3 for precision and recall, Naeem et al. (2020) k = 5 for
    density and coverage.

    **Duplicates.** Balls are *closed* (distance ≤ radius). A vector with k or more exact copies has
    radius 0, and its ball still holds those copies: a fake identical to a duplicated real counts as
    inside. With open balls (``<``, the ``prdc`` package's choice) a radius-0 ball is empty, and a set
    with repeated images -- which procedural data and collapsed generators produce -- would silently
    score 0 where it matches exactly. On data without ties both definitions agree.
    """
    x, y = _pair(real, fake)
    k = _check_k("k", k, x, y)
    pr_k = k if pr_k is None else _check_k("pr_k", pr_k, x, y)
    inside = _neighbourhoods(x, y)
    inside_real, inside_fake = inside(k)
    in_real, in_fake = (inside_real, inside_fake) if pr_k == k else inside(pr_k)
    return PRDC(
        precision=float(in_real.any(dim=0).double().mean()),
        recall=float(in_fake.any(dim=1).double().mean()),
        density=float(inside_real.sum(dim=0).double().mean() / k),
        coverage=float(inside_real.any(dim=1).double().mean()),
    )


def _check_k(name: str, k: object, x: torch.Tensor, y: torch.Tensor) -> int:
    """A neighbour count of sets ``x`` and ``y``: at least 1 and below both their sizes."""
    return check_int(
        name,
        k,
        minimum=1,
        maximum=min(len(x), len(y)) - 1,
        expected=f"smaller than both set sizes ({len(x)} real, {len(y)} fake), an int >= 1",
    )


def _jackknife(statistic: Callable[[np.ndarray], float], n: int, groups: int, level: float) -> stats.Interval:
    """``statistic(kept)`` (``kept``: a boolean mask of the n items) on all items, with a t interval whose
    standard error is the delete-a-group jackknife's: the items split into ``groups`` contiguous groups,
    each left out once, SE² = (g − 1)/g · Σ (θ₋ᵢ − mean θ₋)² (Efron & Tibshirani 1993, ch. 11)."""
    estimate = statistic(np.ones(n, dtype=bool))
    bounds = np.linspace(0, n, groups + 1).round().astype(int)
    left_out = []
    for start, stop in zip(bounds[:-1], bounds[1:]):
        kept = np.ones(n, dtype=bool)
        kept[start:stop] = False
        left_out.append(statistic(kept))
    spread = np.asarray(left_out) - np.mean(left_out)
    half = float(t_distribution.ppf(0.5 + level / 2, groups - 1) * np.sqrt((groups - 1) / groups * (spread**2).sum()))
    return stats.Interval(estimate, estimate - half, estimate + half, level)


def set_intervals(
    real: object,
    fake: object,
    *,
    k: int = 3,
    level: float = 0.95,
    groups: int = 20,
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, stats.Interval]:
    """Intervals of ``FD``, ``KID`` (×10³), ``precision`` and ``recall`` of ``fake`` against ``real``,
    two feature sets of equal size (N, D) whose items are left out or resampled together (row i of
    each from one face -- a swap and its true swap; two independent sets are paired by their order):

    - FD: :func:`frechet_distance`;
    - KID: the unbiased MMD² with KID's kernel (x·y/D + 1)³ on all N pairs, as a U-statistic over the
      items, h(i, j) = k(xᵢ, xⱼ) + k(yᵢ, yⱼ) − k(xᵢ, yⱼ) − k(xⱼ, yᵢ) averaged over i ≠ j (it differs from
      :func:`kid`, an average over random subsets, by those subsets' noise);
    - precision and recall: for each item, whether it lies in the other set's manifold (k-NN balls as
      :func:`prdc`; ``k`` 3, Kynkäänniemi et al.'s).

    FD and KID get a t interval from the delete-a-group jackknife (``groups`` groups): the bootstrap
    repeats items, and a set with repeats has a larger FD (FD is biased upwards by about a constant
    over the number of *distinct* items), so its percentile interval would not even hold the estimate.
    The interval is the noise of the figure at this N; its bias at this N is what a real-vs-real
    floor at the same N shows. Precision and recall are shares of items: a percentile bootstrap
    over the items (:func:`aelab.stats.bootstrap_interval`, ``resamples`` from ``seed``) with the
    balls held fixed, so the interval leaves out the balls' own noise.
    """
    x, y = _pair(real, fake, minimum=4)
    if len(x) != len(y):
        raise ValueError(
            f"set_intervals pairs the rows of the two sets: they must hold as many vectors, got {len(x)} and {len(y)}"
        )
    k = _check_k("k", k, x, y)
    groups = check_int("groups", groups, minimum=2, maximum=len(x))
    d = x.shape[1]
    kernel = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    cross = kernel(x, y)
    h = (kernel(x, x) + kernel(y, y) - cross - cross.T).numpy()
    np.fill_diagonal(h, 0.0)

    def fd(kept: np.ndarray) -> float:
        index = torch.from_numpy(kept)
        return frechet_distance(x[index], y[index])

    def kid_u(kept: np.ndarray) -> float:
        m = int(kept.sum())
        return float(1e3 * h[np.ix_(kept, kept)].sum() / (m * (m - 1)))

    in_real, in_fake = _neighbourhoods(x, y)(k)
    shares = {"level": level, "resamples": resamples, "seed": seed}
    return {
        "FD": _jackknife(fd, len(x), groups, level),
        "KID": _jackknife(kid_u, len(x), groups, level),
        "precision": stats.bootstrap_interval(in_real.any(dim=0).double().numpy(), **shares),
        "recall": stats.bootstrap_interval(in_fake.any(dim=1).double().numpy(), **shares),
    }


# ----------------------------------------------------------------------------------------------------
# MS-SSIM
# ----------------------------------------------------------------------------------------------------

#: Wang, Simoncelli & Bovik (2003), the exponents of the five scales (finest first).
MS_SSIM_WEIGHTS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ms_ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    kernel_size: int = 7,
    sigma: float = 1.5,
    scales: int | None = None,
    k1: float = 0.01,
    k2: float = 0.03,
) -> torch.Tensor:
    """Multi-scale SSIM (Wang et al. 2003) of two image batches (N, C, H, W) in [0, 1]: one value per image (N,).

        MS-SSIM = SSIM_M^{w_M} · Π_{j<M} cs_j^{w_j}

    where at scale j (the images average-pooled 2×2 j times) cs_j is the mean of the contrast-structure
    map (2σxy + C2)/(σx² + σy² + C2) and SSIM_M the mean SSIM map at the coarsest scale, each per channel,
    then the channels averaged; Gaussian window, valid convolution, as :func:`aelab.losses.ssim`. Negative
    means are set to 0 before the fractional powers (as pytorch-msssim does). Small images: ``scales``
    defaults to as many (at most 5) as keep the window inside the coarsest image, and the weights are
    Wang's first ``scales`` renormalised to sum 1; the default window is 7 (not 11) so that 32-px images
    keep three scales.
    """
    x = check_images("x", x)
    y = check_images("y", y)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    kernel_size = check_int("kernel_size", kernel_size, minimum=1)
    sigma = check_float("sigma", sigma, minimum=0.0, min_inclusive=False)
    side = min(x.shape[-2:])
    fit = sum(1 for j in range(len(MS_SSIM_WEIGHTS)) if side // 2**j >= kernel_size)
    if fit == 0:
        raise ValueError(f"kernel_size {kernel_size} is larger than the images ({side} px); use a smaller window")
    scales = fit if scales is None else check_int("scales", scales, minimum=1, maximum=fit)
    weights = torch.tensor(MS_SSIM_WEIGHTS[:scales], dtype=torch.float64)
    weights = weights / weights.sum()
    window = losses.gaussian_window(kernel_size, sigma)

    def local_mean(t: torch.Tensor) -> torch.Tensor:
        return losses.separable_filter(t, window, None)

    a, b = x.float(), y.float()
    c1, c2 = k1**2, k2**2
    result = torch.ones(x.shape[0], x.shape[1], dtype=torch.float64)
    for j in range(scales):
        mu_a, mu_b = local_mean(a), local_mean(b)
        var_a, var_b = local_mean(a * a) - mu_a**2, local_mean(b * b) - mu_b**2
        cov = local_mean(a * b) - mu_a * mu_b
        cs_map = (2 * cov + c2) / (var_a + var_b + c2)
        if j == scales - 1:
            cs_map = cs_map * (2 * mu_a * mu_b + c1) / (mu_a**2 + mu_b**2 + c1)
        result = result * cs_map.mean(dim=(2, 3)).double().clamp_min(0) ** weights[j]
        a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
    return result.mean(dim=1).float()


def blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Images (N, C, H, W) in [0, 1] blurred by a Gaussian of ``sigma`` pixels (edges replicated);
    ``sigma`` 0 returns them unchanged. The kit's stand-in for a generator's loss of detail."""
    sigma = check_float("sigma", sigma, minimum=0.0)
    images = check_images("images", images)
    return images if sigma == 0 else losses.gaussian_blur(images, sigma, border="replicate")


# ----------------------------------------------------------------------------------------------------
# Scoring image sets and swaps
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Realism:
    """A fake set against a real set in one feature space (see :func:`realism`)."""

    fd: float
    kid: KID
    prdc: PRDC

    def row(self) -> dict[str, float]:
        """The figures as one flat mapping, KID in units of 10⁻³."""
        return {"FD": self.fd, "KID×1e3": 1e3 * self.kid.mean, **self.prdc._asdict()}


def realism(
    real: object,
    fake: object,
    *,
    k: int = 5,
    pr_k: int | None = None,
    subsets: int = 50,
    subset_size: int | None = None,
    seed: int = 0,
) -> Realism:
    """FD, KID and PRDC of a fake feature set against a real one (arrays (N, D) and (M, D), e.g. from
    :meth:`FeatureNet.features`). ``subset_size`` (KID's) defaults to half the smaller set; ``k`` and
    ``pr_k`` go to :func:`prdc`."""
    x, y = _pair(real, fake)
    size = min(len(x), len(y)) // 2 if subset_size is None else subset_size
    return Realism(
        frechet_distance(x, y), kid(x, y, subsets=subsets, subset_size=size, seed=seed), prdc(x, y, k, pr_k=pr_k)
    )


def swap_realism(
    swap: torch.Tensor,
    swap_mask: torch.Tensor,
    dst: faces.FaceBatch,
    net: FeatureNet,
    *,
    src_domain: str = "A",
    **kwargs: Any,
) -> Realism:
    """A model's swaps of ``dst`` against the true swaps, as sets: ``swap`` (N, 3, R, R) in [0, 1] (DFL's
    ``pred_src_dst``) merged into dst through ``swap_mask`` (N, 1, R, R, ``pred_src_dstm``, the working
    mask "learned-prd") by :func:`aelab.merge.merge` with DeepFaceLab's default merger settings
    (``overlay``, no erosion, no blur, no colour transfer), against the true swap merged into dst the
    same way through its own face mask -- what a perfect model and DeepFaceLab's merger would show.
    Keyword arguments go to :func:`realism`. Pixel-wise scores of the same swaps:
    :func:`aelab.metrics.score_swaps`."""
    faces.check_face_batch("dst", dst)
    check_instance("net", net, FeatureNet, made_by="FeatureNet.for_faces")
    dst = dst.to("cpu")
    fake = merge(dst.images, swap.detach().cpu(), swap_mask.detach().cpu()).images
    truth = faces.render_swap(dst, src_domain)
    return realism(net.features(merge(dst.images, truth.images, truth.face_mask).images), net.features(fake), **kwargs)
