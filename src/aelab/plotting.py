"""Small plotting helpers the labs share: image grids, loss curves, rate–distortion curves.

Every helper returns a :class:`matplotlib.figure.Figure` built without ``pyplot``, so nothing is
left open between calls (no "too many open figures" warning) and tests need no display. The figure
draws itself as a PNG in any notebook front end when it is the last expression of a cell (no
``%matplotlib`` needed); elsewhere call ``figure.savefig(path)``.

Images are tensors (N, C, H, W) of floats in [0, 1] with C = 1 (drawn in grey) or C = 3 (RGB);
masks (N, 1, H, W) in [0, 1] are images with one channel.

- :func:`image_grid` -- a batch as a grid, with optional titles per image and labels per row
  (previews, side-by-side reconstructions, masks): the kit's one image grid, which its other
  figures of images call (e.g. :func:`aelab.data.faces.faces_grid`, docs/images/synthfaces_grid.png).
- :func:`loss_curves` -- one or several loss histories against the step, log scale, optionally
  smoothed (the list that :func:`aelab.fitting.fit_autoencoder` returns, or a dict of them).
- :func:`rate_distortion` -- quality measures against the size of a code (latent dims, bits), one
  panel per measure.
- :func:`trade_off` -- several swapping models: their swaps, and one figure against another with
  95 % intervals and the Pareto front (lab 08's benchmark).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib import figure as mpl_figure

from aelab.stats import Interval, pareto_front
from aelab.validate import check_float, check_images, check_positive_int, check_strings

__all__ = ["image_grid", "loss_curves", "rate_distortion", "trade_off"]


class Figure(mpl_figure.Figure):
    """matplotlib's Figure, which a notebook also shows as a PNG when no matplotlib backend was set up."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()


def image_grid(
    images: torch.Tensor,
    nrow: int = 8,
    *,
    titles: Sequence[str] | None = None,
    row_labels: Sequence[str] | None = None,
    cell_size: float = 1.0,
    label_width: float = 0.9,
    title: str | None = None,
) -> Figure:
    """A grid of images (N, C, H, W) in [0, 1], ``nrow`` images per row (like torchvision's make_grid).

    Args:
        images: a tensor (N, C, H, W) with C = 1 (grey, e.g. masks) or 3 (RGB), floats in [0, 1]
            (values outside are clipped); any device, gradients are ignored.
        nrow: images per row; the last row may be partly empty.
        titles: one short title per image, drawn above it (e.g. a factor value or a score); "" for
            none, e.g. to title the first row only.
        row_labels: one label per row, drawn at its left (e.g. "target", "MSE", "DSSIM").
        cell_size: the side of one image in inches.
        label_width: the room in inches left of the grid for ``row_labels`` (longer labels want more).
        title: a title for the whole figure.

    To show several batches of the same size side by side, one batch per row::

        image_grid(torch.cat([target, recon_mse, recon_dssim]), nrow=len(target),
                   row_labels=["target", "MSE", "DSSIM"])
    """
    check_images("images", images, channels=(1, 3))
    if images.shape[0] == 0:
        raise ValueError(f"images must hold at least one image, got shape {tuple(images.shape)}")
    nrow = check_positive_int("nrow", nrow)
    cell_size = check_float("cell_size", cell_size, minimum=0, min_inclusive=False)
    label_width = check_float("label_width", label_width, minimum=0)
    n = images.shape[0]
    columns = min(nrow, n)
    rows = math.ceil(n / columns)
    titles = None if titles is None else check_strings("titles", titles, count=n, per="image")
    row_labels = None if row_labels is None else check_strings("row_labels", row_labels, count=rows, per="row")
    pixels = images.detach().float().clamp(0.0, 1.0).permute(0, 2, 3, 1).cpu().numpy()

    titled_rows = sum(any(titles[row * columns : (row + 1) * columns]) for row in range(rows)) if titles else 0
    label_room = label_width if row_labels else 0.0
    figure = Figure(
        figsize=(columns * cell_size + label_room, rows * cell_size + titled_rows * 0.22 + (0.35 if title else 0.0)),
        layout="constrained",
    )
    axes = figure.subplots(rows, columns, squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if index >= n:
            ax.set_axis_off()
            continue
        if pixels.shape[-1] == 1:
            ax.imshow(pixels[index, :, :, 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        else:
            ax.imshow(pixels[index], interpolation="nearest")
        if titles and titles[index]:
            ax.set_title(titles[index], fontsize=7, pad=2)
    for label, row in zip(row_labels or [], axes):
        row[0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        figure.suptitle(title, fontsize=10)
    return figure


def _as_histories(history: Sequence[float] | Mapping[str, Sequence[float]]) -> dict[str, np.ndarray]:
    """name -> 1-D float array; a bare sequence becomes {"loss": ...}."""
    if isinstance(history, Mapping):
        items = dict(history)
    elif isinstance(history, (Sequence, np.ndarray, torch.Tensor)) and not isinstance(history, str):
        items = {"loss": history}
    else:
        raise TypeError(f"history must be a sequence of floats or a dict of them, got {type(history).__name__}")
    if not items:
        raise ValueError("history is empty: give at least one curve")
    curves = {}
    for name, values in items.items():
        array = np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values, dtype=float)
        if array.ndim != 1 or array.size == 0:
            raise ValueError(f"history {name!r} must be a non-empty 1-D sequence of numbers, got shape {array.shape}")
        curves[str(name)] = array
    return curves


def _moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """The mean of the last ``window`` values at each step (fewer at the start)."""
    sums = np.cumsum(np.insert(values, 0, 0.0))
    counts = np.minimum(np.arange(1, values.size + 1), window)
    return (sums[1:] - sums[np.arange(1, values.size + 1) - counts]) / counts


def loss_curves(
    history: Sequence[float] | Mapping[str, Sequence[float]],
    *,
    smooth: int = 1,
    logy: bool = True,
    title: str | None = None,
    ylabel: str = "loss",
) -> Figure:
    """Loss against training step: one curve, or one per name of a dict {name: losses}.

    Args:
        history: the per-step losses (e.g. what :func:`aelab.fitting.fit_autoencoder` returns), or a
            dict of such lists, drawn on the same axes (they may have different lengths).
        smooth: a moving average over this many steps; with ``smooth > 1`` the raw curve stays
            behind it, faint.
        logy: log scale on the loss axis (losses span decades; needs positive values).
        title, ylabel: the axes' title and the loss axis' label.
    """
    curves = _as_histories(history)
    smooth = check_positive_int("smooth", smooth)
    figure = Figure(figsize=(6.0, 3.2), layout="constrained")
    ax = figure.subplots()
    for name, values in curves.items():
        steps = np.arange(1, values.size + 1)
        if smooth > 1:
            (raw,) = ax.plot(steps, values, alpha=0.25, linewidth=0.8)
            ax.plot(steps, _moving_average(values, smooth), color=raw.get_color(), label=name)
        else:
            ax.plot(steps, values, label=name)
    if logy:
        if any((values <= 0).any() for values in curves.values()):
            raise ValueError("logy=True needs positive losses; pass logy=False for losses that reach 0 or below")
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if len(curves) > 1 or smooth > 1:
        ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return figure


def rate_distortion(
    rates: Sequence[float],
    measures: Mapping[str, Sequence[float]],
    *,
    xlabel: str = "latent dims",
    logx: bool = True,
    title: str | None = None,
) -> Figure:
    """Quality against code size: one panel per measure, each a curve with a marker per point.

    Args:
        rates: the x values, e.g. the latent dims of each trained model (or bits per image).
        measures: name -> one value per rate, e.g. ``{"PSNR (dB)": [...], "SSIM": [...]}``; higher
            is better for reconstruction quality, so the curves rise and flatten.
        xlabel: the x axis' label.
        logx: log-2 x axis with a tick at each rate (sizes usually double from point to point).
        title: a title for the whole figure.
    """
    if isinstance(rates, str) or not isinstance(rates, (Sequence, np.ndarray, torch.Tensor)):
        raise TypeError(f"rates must be a sequence of numbers, got {type(rates).__name__}")
    x = np.asarray(rates, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"rates must be a non-empty 1-D sequence of numbers, got shape {x.shape}")
    if logx and (x <= 0).any():
        raise ValueError("logx=True needs positive rates; pass logx=False otherwise")
    if not isinstance(measures, Mapping) or not measures:
        raise ValueError("measures must be a non-empty dict {name: values}, one value per rate")
    figure = Figure(figsize=(3.4 * len(measures), 3.0), layout="constrained")
    axes = figure.subplots(1, len(measures), squeeze=False)[0]
    for ax, (name, values) in zip(axes, measures.items()):
        y = np.asarray(values, dtype=float)
        if y.shape != x.shape:
            raise ValueError(f"measure {name!r} has {y.size} values for {x.size} rates; give one value per rate")
        ax.plot(x, y, marker="o")
        if logx:
            ax.set_xscale("log", base=2)
            ax.set_xticks(x, [f"{value:g}" for value in x])
            ax.minorticks_off()
        ax.set_xlabel(xlabel)
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
    if title:
        figure.suptitle(title, fontsize=10)
    return figure


def trade_off(
    intervals: Mapping[str, Mapping[str, Interval]],
    parameters: Mapping[str, int],
    swaps: Mapping[str, torch.Tensor],
    dst: torch.Tensor,
    truth: torch.Tensor,
    *,
    quality: str,
    detectability: str,
) -> Figure:
    """Several swapping models in one picture: left, each model's swaps (images (n, 3, R, R) in [0, 1])
    under the dst faces and their true swaps; right, every model's ``quality`` (higher is better)
    against its ``detectability`` (lower is better), two figures of ``intervals`` (model -> figure ->
    its mean and 95 % interval, drawn as error bars), the marker's area growing with its
    ``parameters``, the Pareto front of the means (:func:`aelab.stats.pareto_front`) marked, and
    joined where it holds more than one model."""
    for name in intervals:
        for column in (quality, detectability):
            if column not in intervals[name]:
                raise ValueError(f"intervals of {name!r} have no {column!r}; they have {', '.join(intervals[name])}")
    names = list(intervals)
    shown = [dst, truth, *(swaps[name] for name in names)]
    n = len(dst)
    result = Figure(figsize=(0.75 * n + 5.2, 0.75 * len(shown) + 0.6), layout="constrained")
    left, right = result.subfigures(1, 2, width_ratios=[0.75 * n, 4.4])
    axes = left.subplots(len(shown), n, squeeze=False)
    for r, (label, images) in enumerate(zip(["dst", "true swap", *names], shown)):
        for c in range(n):
            axes[r, c].imshow(images[c].detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy(), interpolation="nearest")
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    left.suptitle("swaps of held-out dst faces (seed 0)", fontsize=9)
    ax = right.subplots()
    largest = max(parameters[name] for name in names)
    points = {}
    for name in names:
        q, d = intervals[name][quality], intervals[name][detectability]
        points[name] = (q.estimate, d.estimate)
        drawn = ax.scatter(d.estimate, q.estimate, s=40 + 400 * parameters[name] / largest, alpha=0.6)
        ax.errorbar(
            d.estimate,
            q.estimate,
            xerr=[[d.estimate - d.low], [d.high - d.estimate]],
            yerr=[[q.estimate - q.low], [q.high - q.estimate]],
            color=drawn.get_facecolor()[0],
            alpha=0.6,
            linewidth=1,
        )
        ax.annotate(name, (d.estimate, q.estimate), fontsize=8, xytext=(4, 4), textcoords="offset points")
    front = sorted((points[name][1], points[name][0]) for name in pareto_front(points))
    ax.plot(
        [d for d, _ in front],
        [q for _, q in front],
        color="grey",
        linestyle=":",
        marker="o",
        markersize=13,
        markerfacecolor="none",
        label="Pareto front (of the means)",
    )
    ax.set(xlabel=f"{detectability} (lower: harder to detect)", ylabel=f"{quality} (higher: better)")
    ax.legend(fontsize=7)
    right.suptitle("quality against detectability, 95 % intervals (area: parameters)", fontsize=9)
    return result
