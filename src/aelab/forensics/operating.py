"""A detector at the operating point a platform runs it at: one threshold, a fixed false positive rate.

AUC averages over every threshold; a platform picks one, on data it holds (the **calibration** split),
and applies it to a stream it has not seen (the **test** split). What it promises is the false positive
rate it chose; what it gets is the true positive rate at that threshold on new data, and the FPR there
drifts from the one it chose. Where fakes are rare, what a flag is worth is the precision at the
stream's prevalence, not at the 1:1 mix of a test set.

- :func:`threshold_at_fpr` -- the lowest threshold whose FPR on the calibration split is at most the
  target (a score at or above the threshold is called "fake", as scikit-learn's ``roc_curve`` counts);
- :func:`rates` -- (TPR, FPR) of scores at a given threshold;
- :func:`operating_point` -> :class:`OperatingPoint` -- the threshold from calibration, the rates on
  calibration and on test side by side;
- :func:`equal_error_rate` -- the EER: where the FPR and the false negative rate cross;
- :func:`precision_at_prevalence` -- Bayes' rule: TPR·π / (TPR·π + FPR·(1 − π));
- :func:`fpr_upper_bound` -- the exact (Clopper-Pearson) upper bound of an FPR measured on a few
  hundred reals: with no false positive among n reals the FPR is not 0 but below about 3/n.

Scores: higher means "more likely fake"; labels 1 for a fake, 0 for a real (as in
:mod:`aelab.forensics.evaluation`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from aelab.forensics.evaluation import _arrays, roc_curve
from aelab.validate import check_float, check_int

__all__ = [
    "threshold_at_fpr",
    "rates",
    "OperatingPoint",
    "operating_point",
    "equal_error_rate",
    "precision_at_prevalence",
    "fpr_upper_bound",
]


def threshold_at_fpr(scores: object, labels: object, fpr: float) -> float:
    """The lowest threshold t such that the share of reals scoring >= t is at most ``fpr``.

    That is the ROC's point with the highest TPR among those with FPR <= ``fpr``; when even the highest
    real score is too many, t lies just above it (``numpy.nextafter``), so no real is flagged.
    """
    fpr = check_float("fpr", fpr, minimum=0.0, maximum=1.0)
    false_rates, _, thresholds = roc_curve(scores, labels)
    allowed = np.nonzero(false_rates <= fpr)[0]
    best = allowed[-1]  # rates grow as the threshold falls: the last allowed point is the lowest threshold
    if best == 0:  # only the (0, 0) corner: flag nothing that any real reaches
        s, y = _arrays(scores, labels)
        return float(np.nextafter(s[y == 0].max(), np.inf))
    return float(thresholds[best])


def rates(scores: object, labels: object, threshold: float) -> tuple[float, float]:
    """(TPR, FPR) when a score at or above ``threshold`` is called fake."""
    s, y = _arrays(scores, labels)
    flagged = s >= float(threshold)
    return float(flagged[y == 1].mean()), float(flagged[y == 0].mean())


@dataclass(frozen=True)
class OperatingPoint:
    """A threshold chosen on the calibration split for ``target_fpr`` and what it does on both splits.

    ``drift`` is the test FPR minus the target: what the platform gets beyond what it chose.
    """

    target_fpr: float
    threshold: float
    calibration_tpr: float
    calibration_fpr: float
    test_tpr: float
    test_fpr: float

    @property
    def drift(self) -> float:
        return self.test_fpr - self.target_fpr

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "drift": self.drift}


def operating_point(calibration: tuple[object, object], test: tuple[object, object], fpr: float) -> OperatingPoint:
    """The threshold for ``fpr`` from ``calibration`` = (scores, labels), applied to ``test`` = (scores, labels)."""
    threshold = threshold_at_fpr(*calibration, fpr)
    calibration_tpr, calibration_fpr = rates(*calibration, threshold)
    test_tpr, test_fpr = rates(*test, threshold)
    return OperatingPoint(fpr, threshold, calibration_tpr, calibration_fpr, test_tpr, test_fpr)


def equal_error_rate(scores: object, labels: object) -> float:
    """The equal error rate: at the ROC point where |FPR − FNR| is smallest, the mean of the two."""
    false_rates, true_rates, _ = roc_curve(scores, labels)
    misses = 1.0 - true_rates
    k = int(np.argmin(np.abs(false_rates - misses)))
    return float((false_rates[k] + misses[k]) / 2.0)


def precision_at_prevalence(tpr: float, fpr: float, prevalence: float) -> float:
    """The share of flagged items that are fake on a stream where a share ``prevalence`` are fakes:
    TPR·π / (TPR·π + FPR·(1 − π)); NaN when nothing is flagged (TPR = FPR = 0)."""
    tpr = check_float("tpr", tpr, minimum=0.0, maximum=1.0)
    fpr = check_float("fpr", fpr, minimum=0.0, maximum=1.0)
    prevalence = check_float("prevalence", prevalence, minimum=0.0, maximum=1.0, min_inclusive=False)
    flagged = tpr * prevalence + fpr * (1.0 - prevalence)
    return float("nan") if flagged == 0 else tpr * prevalence / flagged


def fpr_upper_bound(false_positives: int, reals: int, *, level: float = 0.95) -> float:
    """The one-sided Clopper-Pearson upper bound at ``level`` of an FPR seen as ``false_positives`` of
    ``reals``: with none, 1 − (1 − level)^(1/n), about 3/n at 95 %."""
    from scipy.stats import beta

    reals = check_int("reals", reals, minimum=1)
    false_positives = check_int("false_positives", false_positives, minimum=0, maximum=reals)
    level = check_float("level", level, minimum=0.0, maximum=1.0, min_inclusive=False, max_inclusive=False)
    if false_positives == reals:
        return 1.0
    return float(beta.ppf(level, false_positives + 1, reals - false_positives))
