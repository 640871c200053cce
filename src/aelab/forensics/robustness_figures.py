"""Pictures of a detector at its operating point and under attack: the ROC with the operating point
marked, the reliability diagram, AUC against the attack's ε, and attacked images beside clean ones.

Each function returns an :class:`aelab.plotting.Figure` (shown as a PNG in a notebook, no pyplot).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from torch import Tensor

from aelab.forensics.calibration import Reliability
from aelab.forensics.evaluation import roc_curve
from aelab.plotting import Figure, image_grid

__all__ = ["operating_roc_figure", "reliability_figure", "epsilon_figure", "attacked_figure"]


def _label(ax: Axes, xlabel: str, ylabel: str, legend: str, title: str) -> None:
    """The axes' labels, a light grid, the legend at ``legend`` and the title, as every figure here has."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc=legend)
    ax.set_title(title, fontsize=9)


def operating_roc_figure(
    curves: Mapping[str, tuple[object, object, tuple[float, float]]], *, title: str | None = None
) -> Figure:
    """ROC curves on a log FPR axis, ``{name: (scores, labels, (test FPR, test TPR))}``, each with its
    operating point (the threshold from the calibration split) marked."""
    figure = Figure(figsize=(4.2, 3.4), layout="constrained")
    ax = figure.subplots()
    for name, (scores, labels, (fpr, tpr)) in curves.items():
        false_rates, true_rates, _ = roc_curve(scores, labels)
        (line,) = ax.step(np.maximum(false_rates, 1e-4), true_rates, where="post", label=name)
        ax.plot([max(fpr, 1e-4)], [tpr], "o", color=line.get_color(), markersize=6)
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1)
    ax.set_ylim(0, 1.02)
    _label(
        ax,
        "false positive rate (log; 0 drawn at 1e-4)",
        "true positive rate",
        "lower right",
        title or "ROC; dots: the threshold from calibration, on test",
    )
    return figure


def reliability_figure(diagrams: Mapping[str, Reliability], *, title: str | None = None) -> Figure:
    """Reliability diagrams (accuracy against mean confidence per bin, Guo et al.), ECE in the legend."""
    figure = Figure(figsize=(3.8, 3.4), layout="constrained")
    ax = figure.subplots()
    ax.plot([0.5, 1], [0.5, 1], color="grey", linestyle=":", linewidth=1, label="calibrated")
    for name, diagram in diagrams.items():
        filled = diagram.counts > 0
        ax.plot(diagram.confidence[filled], diagram.accuracy[filled], "o-", label=f"{name} (ECE {diagram.ece:.3f})")
    _label(ax, "mean confidence in the bin", "accuracy in the bin", "upper left", title or "reliability diagram")
    return figure


def epsilon_figure(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float], Sequence[tuple[float, float]]]],
    *,
    title: str | None = None,
) -> Figure:
    """AUC against ε (in 1/255) for each detector: ``{name: (epsilons, aucs, [(low, high), ...])}``."""
    figure = Figure(figsize=(4.4, 3.2), layout="constrained")
    ax = figure.subplots()
    for name, (epsilons, aucs, intervals) in curves.items():
        x = np.asarray(epsilons, dtype=float) * 255
        low, high = np.asarray(intervals, dtype=float).T
        (line,) = ax.plot(x, aucs, "o-", label=name)
        ax.fill_between(x, low, high, color=line.get_color(), alpha=0.15)
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.set_xscale("symlog", linthresh=1)
    ax.set_ylim(0, 1.02)
    _label(ax, "ε (in 1/255)", "AUC under PGD (95 % CI)", "lower left", title or "white-box PGD against each detector")
    return figure


def attacked_figure(rows: Mapping[str, Tensor], clean: Tensor, *, amplify: float = 10.0, count: int = 6) -> Figure:
    """The clean images (N, 3, H, W) in [0, 1], then for each attack its images and its perturbation
    (attacked − clean) times ``amplify``, shifted to 0.5 grey: one row each, an :func:`aelab.plotting.image_grid`."""
    clean = clean[:count]
    images = {"clean": clean}
    for name, attacked in rows.items():
        images[name] = attacked[:count]
        images[f"{name}\n(x{amplify:g} diff)"] = (0.5 + amplify * (attacked[:count] - clean)).clamp(0, 1)
    return image_grid(torch.cat(list(images.values())), nrow=len(clean), row_labels=list(images), label_width=1.4)
