"""aelab.realism: each metric against a reference computed here from its paper's definition, and on
its defining properties (FD(X, X) = 0, unbiased KID, coverage of matching sets ≈ 1 − 2⁻ᵏ, growth
with blur, recall lost with a factor's range)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from numpy.lib.stride_tricks import sliding_window_view

from aelab import losses, merge, stats
from aelab import realism as realism_module
from aelab.data import faces
from aelab.featurenet import FeatureNet
from aelab.realism import (
    MS_SSIM_WEIGHTS,
    blur,
    fd_curve,
    frechet_distance,
    frechet_distance_gaussians,
    kid,
    ms_ssim,
    prdc,
    realism,
    set_intervals,
    swap_realism,
)

RTOL = 1e-4


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small matrix products: one thread is fastest, and on a shared machine far faster than two."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def gaussian(n: int, d: int, *, seed: int, shift: float = 0.0, scale: float = 1.0) -> np.ndarray:
    """n samples of a correlated Gaussian in d dimensions (the same one for every seed), shifted and scaled."""
    mix = np.random.default_rng(12345).normal(size=(d, d)) / math.sqrt(d) + np.eye(d)
    return shift + scale * np.random.default_rng(seed).normal(size=(n, d)) @ mix


# ---------------------------------------------------------------------------------------------- FD


def fd_reference(a: np.ndarray, b: np.ndarray) -> float:
    """FID's formula as pytorch-fid computes it: scipy's sqrtm of Σa·Σb."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(root))


def test_fd_matches_the_definition():
    for seed, d in ((0, 4), (1, 16), (2, 64)):
        a, b = gaussian(300, d, seed=seed), gaussian(200, d, seed=seed + 10, shift=0.3, scale=1.2)
        assert frechet_distance(a, b) == pytest.approx(fd_reference(a, b), rel=RTOL)
        assert frechet_distance(torch.from_numpy(a).float(), b) == pytest.approx(
            fd_reference(a.astype(np.float32), b), rel=RTOL
        )


def test_fd_of_a_set_with_itself_is_zero_and_fd_is_symmetric():
    a, b = gaussian(500, 32, seed=0), gaussian(400, 32, seed=1, shift=0.2)
    assert abs(frechet_distance(a, a)) < 1e-9 * np.trace(np.cov(a, rowvar=False))
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-10)


def test_fd_of_gaussians_matches_the_closed_form():
    # Commuting (diagonal) covariances: FD = |Δμ|² + Σ (√σa − √σb)².
    mean_a, mean_b = torch.tensor([0.0, 1.0, -2.0]), torch.tensor([1.0, 1.0, 0.5])
    var_a, var_b = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([9.0, 1.0, 0.25])
    closed = float((mean_a - mean_b).pow(2).sum() + (var_a.sqrt() - var_b.sqrt()).pow(2).sum())
    assert frechet_distance_gaussians(mean_a, torch.diag(var_a), mean_b, torch.diag(var_b)) == pytest.approx(
        closed, rel=1e-12
    )
    # ... and samples of those Gaussians approach it.
    rng = np.random.default_rng(0)
    a = mean_a.numpy() + rng.normal(size=(200_000, 3)) * var_a.sqrt().numpy()
    b = mean_b.numpy() + rng.normal(size=(200_000, 3)) * var_b.sqrt().numpy()
    assert frechet_distance(a, b) == pytest.approx(closed, rel=0.01)


def test_fd_is_biased_at_small_n_and_fd_inf_removes_it():
    real = gaussian(4000, 16, seed=0)
    fake = gaussian(4000, 16, seed=1)  # the same distribution
    halves = frechet_distance(real[:2000], real[2000:])
    assert halves > 0.05  # the floor: one distribution, yet FD > 0
    curve = fd_curve(real, fake, sizes=[250, 500, 1000, 2000, 4000], trials=3, seed=0)
    assert list(curve.values) == sorted(curve.values, reverse=True)  # FD falls as N grows
    assert abs(curve.fd_inf) < 0.25 * curve.values[0] and curve.fd_inf < curve.values[-1]
    shifted = fd_curve(real, gaussian(4000, 16, seed=1, shift=0.5), sizes=[250, 500, 1000, 2000], seed=0)
    assert shifted.fd_inf == pytest.approx(16 * 0.25, rel=0.15)  # the bias removed: |Δμ|² = 16 · 0.5²


def test_fd_rejects_bad_input():
    with pytest.raises(TypeError, match="feature array"):
        frechet_distance([[1.0]], [[2.0]])
    with pytest.raises(ValueError, match="same width"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        frechet_distance(np.zeros(5), np.zeros(5))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.full((5, 3), np.nan), np.zeros((5, 3)))


# --------------------------------------------------------------------------------------------- KID


def kid_reference(a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased MMD² with k(x, y) = (x·y/d + 1)³, by explicit sums over pairs."""
    m, d = a.shape
    k = lambda u, v: (u @ v / d + 1) ** 3  # noqa: E731
    xx = sum(k(a[i], a[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(b[i], b[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(a[i], b[j]) for i in range(m) for j in range(m)) / (m * m)
    return float(xx + yy - 2 * xy)


def test_kid_matches_the_definition():
    a, b = gaussian(40, 6, seed=0), gaussian(40, 6, seed=1, shift=0.4)
    # One subset of the whole set: the subset is a permutation of it, and MMD² does not depend on order.
    result = kid(a, b, subsets=1, subset_size=40)
    assert result.mean == pytest.approx(kid_reference(a, b), rel=RTOL)
    assert result.std == 0.0


def test_kid_is_unbiased_for_one_distribution_and_seeded():
    a, b = gaussian(2000, 16, seed=0), gaussian(2000, 16, seed=1)
    same = kid(a, b, subsets=20, subset_size=300, seed=0)
    assert abs(same.mean) < 2 * same.std
    assert kid(a, b, subsets=20, subset_size=300, seed=0) == same
    apart = kid(a, gaussian(2000, 16, seed=1, shift=0.3), subsets=20, subset_size=300, seed=0)
    assert apart.mean > 3 * apart.std


def test_kid_rejects_subsets_larger_than_the_sets():
    with pytest.raises(ValueError, match="subset_size 100 is larger"):
        kid(np.zeros((50, 3)), np.zeros((60, 3)), subset_size=100)


# -------------------------------------------------------------------------------------------- PRDC


def prdc_reference(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float, float, float]:
    """Kynkäänniemi et al. 2019 and Naeem et al. 2020, point by point, with closed balls."""
    dist = lambda u, v: float(np.sqrt(((u - v) ** 2).sum()))  # noqa: E731

    def radii(x):
        return [sorted(dist(p, q) for q in x)[k] for p in x]  # [0] is the point itself

    r_real, r_fake = radii(real), radii(fake)
    precision = np.mean([any(dist(f, r) <= rr for r, rr in zip(real, r_real)) for f in fake])
    recall = np.mean([any(dist(r, f) <= rf for f, rf in zip(fake, r_fake)) for r in real])
    density = np.mean([sum(dist(f, r) <= rr for r, rr in zip(real, r_real)) for f in fake]) / k
    coverage = np.mean([min(dist(r, f) for f in fake) <= rr for r, rr in zip(real, r_real)])
    return float(precision), float(recall), float(density), float(coverage)


def test_prdc_matches_the_definition():
    real, fake = gaussian(60, 4, seed=0), gaussian(50, 4, seed=1, shift=0.5, scale=0.8)
    for k in (1, 3, 5):
        assert tuple(prdc(real, fake, k)) == pytest.approx(prdc_reference(real, fake, k), rel=RTOL)


def test_prdc_of_one_distribution_density_one_and_coverage_one_minus_two_to_the_minus_k():
    real, fake = gaussian(3000, 8, seed=0), gaussian(3000, 8, seed=1)
    for k in (2, 5):
        scores = prdc(real, fake, k)
        assert scores.density == pytest.approx(1.0, abs=0.08)
        assert scores.coverage == pytest.approx(1 - 2.0**-k, abs=0.02)
    assert scores.precision > 0.9 and scores.recall > 0.9  # k = 5


def test_prdc_with_duplicates_counts_exact_copies():
    # Each real vector six times: with k = 5 every radius is 0. Open balls would score 0 everywhere.
    base = gaussian(40, 4, seed=0)
    real = np.repeat(base, 6, axis=0)
    scores = prdc(real, base, 5)
    assert scores.precision == 1.0 and scores.coverage == 1.0
    assert scores.density == pytest.approx(6 / 5)
    # A collapsed fake set (one vector, repeated) covers one real point's copies and nothing else.
    collapsed = prdc(real, np.repeat(base[:1], 20, axis=0), 5)
    assert collapsed.recall == pytest.approx(6 / 240) and collapsed.precision == 1.0


def test_prdc_rejects_k_too_large():
    with pytest.raises(ValueError, match="k must be smaller"):
        prdc(np.zeros((5, 2)), np.ones((5, 2)), 5)
    with pytest.raises(ValueError, match="pr_k must be smaller"):
        prdc(np.zeros((5, 2)), np.ones((5, 2)), 3, pr_k=5)


def test_prdc_pr_k_gives_precision_and_recall_their_own_k():
    real, fake = gaussian(60, 4, seed=0), gaussian(50, 4, seed=1, shift=0.5, scale=0.8)
    mixed = prdc(real, fake, 5, pr_k=3)
    three, five = prdc_reference(real, fake, 3), prdc_reference(real, fake, 5)
    assert tuple(mixed) == pytest.approx(three[:2] + five[2:], rel=RTOL)
    assert prdc(real, fake, 5, pr_k=5) == prdc(real, fake, 5)
    assert realism(real, fake, k=5, pr_k=3, subsets=2, subset_size=20).prdc == mixed


# ------------------------------------------------------------------------------------ set_intervals


def test_set_intervals_hold_the_point_estimates_and_cover_the_truth_of_one_distribution():
    real, fake = gaussian(150, 4, seed=0), gaussian(150, 4, seed=1)
    found = set_intervals(real, fake, k=3, resamples=200, seed=0)
    assert set(found) == {"FD", "KID", "precision", "recall"}
    assert found["FD"].estimate == pytest.approx(frechet_distance(real, fake))
    scores = prdc(real, fake, 3)
    assert (found["precision"].estimate, found["recall"].estimate) == pytest.approx((scores.precision, scores.recall))
    for name, interval in found.items():
        assert interval.low <= interval.estimate <= interval.high, name
    assert found["KID"].low < 0 < found["KID"].high  # one distribution: the unbiased MMD² straddles 0
    assert set_intervals(real, fake, k=3, resamples=200, seed=0) == found  # seeded


def test_set_intervals_kid_is_the_unbiased_mmd2_on_all_pairs_and_separates_a_shift():
    x, y = gaussian(80, 6, seed=2), gaussian(80, 6, seed=3, shift=0.8)
    kernel = lambda a, b: (a @ b.T / 6 + 1) ** 3  # noqa: E731
    h = kernel(x, x) + kernel(y, y) - kernel(x, y) - kernel(y, x)
    u = (h.sum() - np.trace(h)) / (80 * 79)
    found = set_intervals(x, y, resamples=200)
    assert found["KID"].estimate == pytest.approx(1e3 * u, rel=1e-9)
    assert found["KID"].low > 0 and found["FD"].low > 0


def test_the_jackknife_of_a_mean_is_the_t_interval_of_its_group_means():
    values = np.random.default_rng(4).normal(size=100)
    found = realism_module._jackknife(lambda kept: float(values[kept].mean()), 100, 10, 0.95)
    expected = stats.seed_interval(values.reshape(10, 10).mean(1))
    assert (found.estimate, found.low, found.high) == pytest.approx((expected.estimate, expected.low, expected.high))


def test_set_intervals_needs_paired_sets():
    with pytest.raises(ValueError, match="as many vectors"):
        set_intervals(gaussian(20, 3, seed=0), gaussian(21, 3, seed=1))


# ----------------------------------------------------------------------------------------- MS-SSIM


def ms_ssim_reference(x: np.ndarray, y: np.ndarray, kernel_size: int, sigma: float, scales: int) -> np.ndarray:
    """Wang et al. 2003 per image and channel with explicit windows, channels averaged."""
    d = np.arange(kernel_size) - (kernel_size - 1) / 2
    w1 = np.exp(-(d**2) / (2 * sigma**2))
    w = np.outer(w1, w1) / np.outer(w1, w1).sum()
    weights = np.array(MS_SSIM_WEIGHTS[:scales]) / sum(MS_SSIM_WEIGHTS[:scales])
    c1, c2 = 0.01**2, 0.03**2
    out = np.zeros(x.shape[:2])
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            a, b, value = x[n, c].astype(np.float64), y[n, c].astype(np.float64), 1.0
            for j in range(scales):
                win_a = sliding_window_view(a, (kernel_size, kernel_size))
                win_b = sliding_window_view(b, (kernel_size, kernel_size))
                mu_a, mu_b = (win_a * w).sum((-1, -2)), (win_b * w).sum((-1, -2))
                var_a = (win_a**2 * w).sum((-1, -2)) - mu_a**2
                var_b = (win_b**2 * w).sum((-1, -2)) - mu_b**2
                cov = (win_a * win_b * w).sum((-1, -2)) - mu_a * mu_b
                term = (2 * cov + c2) / (var_a + var_b + c2)
                if j == scales - 1:
                    term = term * (2 * mu_a * mu_b + c1) / (mu_a**2 + mu_b**2 + c1)
                value *= max(term.mean(), 0.0) ** weights[j]
                a = a.reshape(a.shape[0] // 2, 2, a.shape[1] // 2, 2).mean((1, 3))
                b = b.reshape(b.shape[0] // 2, 2, b.shape[1] // 2, 2).mean((1, 3))
            out[n, c] = value
    return out.mean(1)


def test_ms_ssim_matches_the_definition():
    batch = faces.render(3, resolution=64, domain="mixed", seed=0).images
    other = blur(batch, 1.0) * 0.9 + 0.05
    for kernel_size, scales in ((7, 3), (11, 3), (5, 4)):
        ours = ms_ssim(batch, other, kernel_size=kernel_size, scales=scales).numpy()
        assert ours == pytest.approx(
            ms_ssim_reference(batch.numpy(), other.numpy(), kernel_size, 1.5, scales), rel=RTOL
        )


def test_ms_ssim_small_images_and_one_scale_is_ssim():
    x = faces.render(4, resolution=32, domain="A", seed=0).images
    y = blur(x, 1.0)
    assert torch.allclose(ms_ssim(x, x), torch.ones(4))
    assert ms_ssim(x, y, scales=1, kernel_size=11) == pytest.approx(losses.ssim(x, y, reduction="none"), rel=RTOL)
    assert ms_ssim(x, y).shape == (4,)  # 32 px, window 7: three scales
    with pytest.raises(ValueError, match="scales must be an int in \\[1, 3\\]"):
        ms_ssim(x, y, scales=4)


# --------------------------------------------------------------------------- with the feature net


@pytest.fixture(scope="module")
def net() -> FeatureNet:
    from aelab import assets

    return FeatureNet.from_state_dict(torch.load(assets.path("lab06/features.pt"), weights_only=True))


@pytest.fixture(scope="module")
def real() -> faces.FaceBatch:
    return faces.render(600, resolution=32, domain="mixed", seed=11)


def test_features_shape(net, real):
    features = net.features(real.images[:10])
    assert features.shape == (10, 128) and features.dtype == torch.float32


def test_every_metric_worsens_monotonically_with_blur(net, real):
    reference = faces.render(600, resolution=32, domain="mixed", seed=12).images
    features = net.features(reference)
    rows = [
        realism(features, net.features(blur(real.images, s)), subsets=20, subset_size=300)
        for s in (0, 0.6, 1.0, 1.5, 2.0)
    ]
    for worse in ([r.fd for r in rows], [r.kid.mean for r in rows]):
        assert all(a < b for a, b in zip(worse, worse[1:])), worse
    for better in ([r.prdc.recall for r in rows], [r.prdc.coverage for r in rows]):
        assert all(a > b for a, b in zip(better, better[1:])), better
    # A slight blur pulls faces toward the dense middle of the real set, where precision and density
    # may even rise a little; from σ = 1 on both fall at every step, far below where they started.
    for better in ([r.prdc.precision for r in rows], [r.prdc.density for r in rows]):
        assert better[2] > better[3] > better[4] and better[4] < 0.5 * better[0], better
    similarity = [float(ms_ssim(real.images, blur(real.images, s)).mean()) for s in (0, 0.6, 1.0, 1.5, 2.0)]
    assert all(a > b for a, b in zip(similarity, similarity[1:])), similarity


def test_recall_falls_when_a_factor_loses_its_range(net, real):
    reference = faces.render(600, resolution=32, domain="mixed", seed=12).images
    factors = faces.sample_factors(600, domain="mixed", seed=13)
    full = faces.draw(factors, resolution=32).images
    narrow = faces.draw({**factors, "yaw": factors["yaw"] * 0.15}, resolution=32).images  # yaw within ±5°
    features = net.features(reference)
    wide, collapsed = realism(features, net.features(full)), realism(features, net.features(narrow))
    assert collapsed.prdc.recall < wide.prdc.recall - 0.1
    assert collapsed.prdc.precision > 0.8  # each face is still realistic


def test_swap_realism_merges_as_deepfacelab_does(net):
    # The swaps are pasted by aelab.merge.merge (DeepFaceLab's merger, default settings): with a zero
    # mask the merged frame is dst itself, whatever the model drew; with the true swap's own mask, the
    # truth merged by the same function.
    dst = faces.render(120, resolution=32, domain="B", seed=4)
    truth = faces.render_swap(dst, "A")
    merged_truth = net.features(merge.merge(dst.images, truth.images, truth.face_mask).images)
    nothing = swap_realism(torch.rand_like(dst.images), torch.zeros_like(dst.face_mask), dst, net)
    expected = realism(merged_truth, net.features(dst.images))
    assert nothing.fd == pytest.approx(expected.fd) and nothing.prdc == expected.prdc


def test_swap_realism_of_the_true_swap_is_perfect(net):
    dst = faces.render(200, resolution=32, domain="B", seed=3)
    truth = faces.render_swap(dst, "A")
    perfect = swap_realism(truth.images, truth.face_mask, dst, net)
    assert abs(perfect.fd) < 1e-6 and perfect.prdc.precision == 1.0 and perfect.prdc.coverage == 1.0
    blurred = swap_realism(blur(truth.images, 1.0), truth.face_mask, dst, net)
    assert blurred.fd > 1.0 and blurred.kid.mean > 0
