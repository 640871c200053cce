"""Is a detector's 0.9 a 90 % chance? Reliability diagrams, expected calibration error, temperature scaling.

Guo et al. 2017 ("On calibration of modern neural networks", ``gpleiss/temperature_scaling``): a
classifier's **confidence** is the probability of the class it predicts; group the predictions into
``bins`` equal-width bins of confidence, (m − 1)/M < confidence <= m/M, and compare each bin's mean
confidence with its accuracy. The **expected calibration error** is the mean gap weighted by the bins'
sizes, ECE = Σ_m |B_m| / n · |acc(B_m) − conf(B_m)|. For a detector's probability p of "fake" the
predicted class is fake when p >= 0.5 and its confidence max(p, 1 − p), so only the bins above 0.5 fill.

**Temperature scaling** divides the logits by one number T fitted on the calibration split (the
negative log-likelihood, minimised over log T); it changes no ranking (AUC and every ROC point stay
put), only what the probabilities say.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from aelab.forensics.evaluation import _arrays
from aelab.validate import check_float, check_int

__all__ = ["Reliability", "reliability", "expected_calibration_error", "logits", "fit_temperature", "apply_temperature"]

#: Probabilities are clipped to [EPS, 1 − EPS] before their logits are taken.
EPS = 1e-6


@dataclass(frozen=True)
class Reliability:
    """The reliability diagram's data: per bin, the upper edge, the count, mean confidence and accuracy
    (NaN where a bin is empty)."""

    edges: np.ndarray
    counts: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray

    @property
    def ece(self) -> float:
        filled = self.counts > 0
        gaps = np.abs(self.accuracy[filled] - self.confidence[filled])
        return float(np.sum(self.counts[filled] * gaps) / self.counts.sum())


def reliability(probabilities: object, labels: object, *, bins: int = 10) -> Reliability:
    """Guo et al.'s bins of a detector's probabilities of "fake" (N,) against labels (N,) (1 fake)."""
    bins = check_int("bins", bins, minimum=1)
    p, y = _arrays(probabilities, labels)
    if p.min() < 0 or p.max() > 1:
        raise ValueError(
            f"probabilities must lie in [0, 1], got [{p.min():.3g}, {p.max():.3g}]; pass detector.score(...)"
        )
    predicted = p >= 0.5
    confidence = np.where(predicted, p, 1.0 - p)
    correct = predicted == (y == 1)
    upper = np.arange(1, bins + 1) / bins
    index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)  # (m-1)/M < c <= m/M
    counts = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore"):
        mean_confidence = np.bincount(index, confidence, minlength=bins) / counts
        accuracy = np.bincount(index, correct.astype(float), minlength=bins) / counts
    return Reliability(upper, counts, mean_confidence, accuracy)


def expected_calibration_error(probabilities: object, labels: object, *, bins: int = 10) -> float:
    """ECE (Guo et al. 2017) of probabilities of "fake" (N,) against labels (N,), ``bins`` bins."""
    return reliability(probabilities, labels, bins=bins).ece


def logits(probabilities: object) -> Tensor:
    """log(p / (1 − p)) of probabilities clipped to [EPS, 1 − EPS], float64."""
    p = torch.as_tensor(probabilities, dtype=torch.float64).clamp(EPS, 1.0 - EPS)
    return torch.log(p) - torch.log1p(-p)


def fit_temperature(probabilities: object, labels: object) -> float:
    """The temperature T > 0 that minimises the mean binary cross-entropy of sigmoid(logit(p) / T)
    on a calibration split (a bounded 1-D search over log T in [−5, 5])."""
    from scipy.optimize import minimize_scalar

    p, y = _arrays(probabilities, labels)
    z, target = logits(p), torch.from_numpy(y)

    def loss(log_t: float) -> float:
        return float(torch.nn.functional.binary_cross_entropy_with_logits(z / np.exp(log_t), target))

    return float(np.exp(minimize_scalar(loss, bounds=(-5.0, 5.0), method="bounded").x))


def apply_temperature(probabilities: object, temperature: float) -> Tensor:
    """sigmoid(logit(p) / T): probabilities (N,) rescaled by a fitted temperature, float32."""
    temperature = check_float("temperature", temperature, minimum=0.0, min_inclusive=False)
    return torch.sigmoid(logits(probabilities) / temperature).float()
