"""Pictures of forensics: mean spectra with their azimuthal averages, and ROC curves.

Each function returns an :class:`aelab.plotting.Figure` (shown as a PNG in a notebook, no pyplot).
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from aelab.forensics.evaluation import auc, roc_curve
from aelab.forensics.spectra import azimuthal_average, power_spectrum
from aelab.plotting import Figure
from aelab.validate import check_int

__all__ = ["spectra_figure", "roc_figure"]


def spectra_figure(groups: Mapping[str, Tensor], *, title: str | None = None, columns: int = 5) -> Figure:
    """For each named batch of images (N, C, H, W) in [0, 1]: its mean log power spectrum (a grid of
    up to ``columns`` panels a row), and below them all groups' mean azimuthal averages on one plot
    (the highest frequencies to the right), its legend outside the curves."""
    if not isinstance(groups, Mapping) or not groups:
        raise ValueError("groups must be a non-empty dict {name: images (N, C, H, W)}")
    columns = check_int("columns", columns, minimum=1)
    spectra = {name: power_spectrum(images).mean(dim=0) for name, images in groups.items()}
    columns = min(columns, len(spectra))
    rows = -(-len(spectra) // columns)
    figure = Figure(figsize=(1.6 * columns + 1.6, 1.6 * rows + 3.0), layout="constrained")
    grid = figure.add_gridspec(rows + 1, columns, height_ratios=[1] * rows + [1.9])
    low = min(float(s.min()) for s in spectra.values())
    high = max(float(s.max()) for s in spectra.values())
    for index, (name, spectrum) in enumerate(spectra.items()):
        ax = figure.add_subplot(grid[index // columns, index % columns])
        ax.imshow(spectrum.numpy(), cmap="magma", vmin=low, vmax=high)
        ax.set_title(name, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    curve_ax = figure.add_subplot(grid[rows, :])
    for name, spectrum in spectra.items():
        curve_ax.plot(azimuthal_average(spectrum[None])[0].numpy(), label=name)
    curve_ax.set_xlabel("frequency (ring radius)")
    curve_ax.set_ylabel("mean log power")
    curve_ax.grid(True, alpha=0.3)
    curve_ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    if title:
        figure.suptitle(title, fontsize=10)
    return figure


def roc_figure(curves: Mapping[str, tuple[object, object]], *, title: str | None = None) -> Figure:
    """ROC curves, one per name: ``{name: (scores, labels)}`` (1 generated, 0 real), AUC in the legend."""
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError("curves must be a non-empty dict {name: (scores, labels)}")
    figure = Figure(figsize=(3.8, 3.4), layout="constrained")
    ax = figure.subplots()
    for name, (scores, labels) in curves.items():
        fpr, tpr, _ = roc_curve(scores, labels)
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc(scores, labels):.2f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("false positive rate (reals called fake)")
    ax.set_ylabel("true positive rate (fakes caught)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_aspect("equal")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    if title:
        ax.set_title(title, fontsize=9)
    return figure
