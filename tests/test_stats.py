"""aelab.stats against scipy.stats and scikit-learn, and against known-null simulations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats
from sklearn.metrics import roc_auc_score

from aelab import report, stats


def test_bootstrap_interval_matches_scipy_percentile_bootstrap() -> None:
    values = np.random.default_rng(1).normal(2.0, 1.0, 60)
    ours = stats.bootstrap_interval(values, resamples=4000, seed=0)
    theirs = scipy_stats.bootstrap((values,), np.mean, method="percentile", n_resamples=4000, random_state=0)
    assert ours.estimate == pytest.approx(values.mean())
    assert ours.low == pytest.approx(theirs.confidence_interval.low, abs=0.03)
    assert ours.high == pytest.approx(theirs.confidence_interval.high, abs=0.03)
    assert stats.bootstrap_interval(values, resamples=4000, seed=0) == ours  # repeats from its seed


def test_bootstrap_interval_takes_a_statistic_of_rows() -> None:
    rng = np.random.default_rng(2)
    rows = np.column_stack([rng.normal(0, 1, 80), rng.integers(0, 2, 80)])
    ci = stats.bootstrap_interval(rows, lambda r: float(r[:, 0][r[:, 1] == 1].mean()), resamples=500)
    assert ci.low <= ci.estimate <= ci.high


def test_paired_difference_cancels_what_items_share() -> None:
    rng = np.random.default_rng(3)
    item = rng.normal(0, 5, 100)  # a large per-item effect both models share
    a, b = item + 0.3 + rng.normal(0, 0.1, 100), item + rng.normal(0, 0.1, 100)
    paired = stats.paired_difference(a, b)
    assert paired.difference.excludes(0) and paired.p_value < 0.01
    assert paired.difference.high - paired.difference.low < 0.1
    with pytest.raises(ValueError, match="same items"):
        stats.paired_difference(a, b[:50])


def test_seed_interval_is_students_t() -> None:
    values = [0.81, 0.84, 0.79]
    ci = stats.seed_interval(values)
    low, high = scipy_stats.t.interval(0.95, 2, loc=np.mean(values), scale=scipy_stats.sem(values))
    assert (ci.low, ci.high) == (pytest.approx(low), pytest.approx(high))


def test_seed_difference_is_welchs_t_test() -> None:
    a, b = [0.81, 0.84, 0.79, 0.83], [0.75, 0.78, 0.74]
    ours = stats.seed_difference(a, b)
    theirs = scipy_stats.ttest_ind(a, b, equal_var=False)
    assert ours.p_value == pytest.approx(theirs.pvalue)
    low, high = theirs.confidence_interval(0.95)
    assert (ours.difference.low, ours.difference.high) == (pytest.approx(low), pytest.approx(high))


def test_auc_interval_agrees_with_sklearn_and_a_bootstrap() -> None:
    rng = np.random.default_rng(4)
    labels = np.r_[np.zeros(150), np.ones(150)]
    scores = np.r_[rng.normal(0, 1, 150), rng.normal(1, 1, 150)]
    ci = stats.auc_interval(labels, scores)
    assert ci.estimate == pytest.approx(roc_auc_score(labels, scores))
    rows = np.column_stack([labels, scores])
    boot = stats.bootstrap_interval(rows, lambda r: roc_auc_score(r[:, 0], r[:, 1]), resamples=1000)
    assert ci.high - ci.low == pytest.approx(boot.high - boot.low, rel=0.25)


def test_auc_interval_counts_ties_half_as_the_forensics_auc_does() -> None:
    from aelab.forensics import auc

    rng = np.random.default_rng(6)
    labels = np.r_[np.zeros(80), np.ones(60)]
    scores = np.round(np.r_[rng.normal(0, 1, 80), rng.normal(0.8, 1, 60)] * 2) / 2  # many ties
    assert stats.auc_interval(labels, scores).estimate == pytest.approx(auc(scores, labels), abs=1e-12)


def test_auc_difference_of_a_detector_with_itself_is_zero_and_a_better_one_is_called() -> None:
    rng = np.random.default_rng(5)
    labels = np.r_[np.zeros(200), np.ones(200)]
    noise = rng.normal(0, 1, 400)
    weak, strong = labels * 0.5 + noise, labels * 2.0 + noise
    same = stats.auc_difference(labels, weak, weak)
    assert same.difference.estimate == 0 and same.p_value == 1.0
    better = stats.auc_difference(labels, strong, weak)
    assert better.difference.excludes(0) and better.p_value < 1e-6
    with pytest.raises(ValueError, match="both classes"):
        stats.auc_interval(np.ones(10), np.arange(10.0))


def test_seeds_items_interval_widens_with_seed_noise() -> None:
    rng = np.random.default_rng(6)
    items = rng.normal(0, 1, 200)
    quiet = items[None, :] + rng.normal(0, 0.01, (3, 1))
    noisy = items[None, :] + rng.normal(0, 0.5, (3, 1))
    assert stats.seeds_items_interval(noisy).high - stats.seeds_items_interval(noisy).low > (
        stats.seeds_items_interval(quiet).high - stats.seeds_items_interval(quiet).low
    )


def test_holm_matches_a_hand_worked_case() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    assert stats.holm_adjusted(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm(p) == [True, False, False, True]


def _null_false_calls(rng: np.random.Generator, comparisons: int) -> bool:
    """One family of comparisons where nothing differs: does the rule call anything?"""
    family = {}
    for k in range(comparisons):
        a, b = rng.normal(0, 1, 3), rng.normal(0, 1, 3)
        family[str(k)] = stats.seed_difference(a, b)
    return any(c.called for c in stats.family(family).values())


def test_the_rule_keeps_the_familywise_false_call_rate_at_five_percent() -> None:
    rng = np.random.default_rng(7)
    rate = np.mean([_null_false_calls(rng, 8) for _ in range(1000)])
    assert rate <= 0.05 + 0.02  # 1000 families: the rate's own sampling error is about 0.007


def test_each_interval_covers_a_null_difference_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(8)
    covered = []
    for _ in range(300):
        a, b = rng.normal(0, 1, 40), rng.normal(0, 1, 40)
        covered.append(
            not stats.paired_difference(a, b, resamples=500, seed=int(rng.integers(1e6))).difference.excludes(0)
        )
    assert 0.90 <= np.mean(covered) <= 0.99
    crossed = [
        not stats.seeds_items_difference(
            rng.normal(0, 1, (3, 1)) + rng.normal(0, 1, (3, 50)), rng.normal(0, 1, (3, 1)) + rng.normal(0, 1, (3, 50))
        ).difference.excludes(0)
        for _ in range(300)
    ]
    assert np.mean(crossed) >= 0.93  # conservative by design


def test_bad_input_names_the_problem() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        stats.seed_interval([0.5])
    with pytest.raises(ValueError, match="NaN"):
        stats.bootstrap_interval([0.1, float("nan"), 0.3])
    with pytest.raises(TypeError, match="numbers"):
        stats.bootstrap_interval(["a", "b"])
    with pytest.raises(TypeError, match="Comparison"):
        stats.family({"x": 0.5})  # type: ignore[dict-item]


def test_report_prints_masked_intervals_and_compared_verdicts(capsys: pytest.CaptureFixture[str]) -> None:
    report.interval("AUC", stats.Interval(0.9, 0.85, 0.95), (0.8, 1.0))
    assert capsys.readouterr().out == "AUC ≈ 0.900  (95 % CI ≈ 0.850 – ≈ 0.950; expected 0.800 – 1.000: ok)\n"
    called = stats.family(
        {
            "A vs B": stats.Comparison(stats.Interval(0.1, 0.05, 0.15), 0.001),
            "A vs C": stats.Comparison(stats.Interval(0.01, -0.02, 0.04), 0.4),
        }
    )
    assert report.called(called, higher="A better") == {"A vs B": "A better", "A vs C": "no difference shown"}
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("): A better") and out[1].endswith("): no difference shown")


def test_out_of_band_figure_with_a_source_names_the_exercise_and_goes_on(capsys: pytest.CaptureFixture[str]) -> None:
    assert report.figure("FD", 44.0, (20.0, 22.0), source="6.1") == 44.0
    lines = capsys.readouterr().out.splitlines()
    assert "OUT OF BAND" in lines[0] and lines[1].startswith("[NOT YET] exercise 6.1:")
    with pytest.raises(report.FigureOutOfBand) as failure:
        report.figure("FD", 44.0, (20.0, 22.0))
    (line,) = failure.value._render_traceback_()
    assert "DEVELOPING" not in line and line.startswith("FigureOutOfBand: FD = 44.0 is outside its band")
