"""aelab.plotting: figures of the right layout, built without pyplot, and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from aelab.data.faces import faces_grid
from aelab.plotting import _moving_average, image_grid, loss_curves, rate_distortion


def _visible_axes(figure: Figure) -> list:
    return [ax for ax in figure.axes if ax.axison]


def test_image_grid_lays_out_rows_titles_and_labels(tmp_path: Path) -> None:
    images = torch.rand(10, 3, 8, 8)
    figure = image_grid(images, nrow=4, titles=[f"#{i}" for i in range(10)], row_labels=["a", "b", "c"], title="ten")
    assert isinstance(figure, Figure)
    assert len(figure.axes) == 12 and len(_visible_axes(figure)) == 10  # 3 rows of 4, two left empty
    assert [ax.get_title() for ax in _visible_axes(figure)] == [f"#{i}" for i in range(10)]
    assert [figure.axes[i].get_ylabel() for i in (0, 4, 8)] == ["a", "b", "c"]
    figure.savefig(tmp_path / "grid.png")
    assert (tmp_path / "grid.png").stat().st_size > 0
    assert figure._repr_png_().startswith(b"\x89PNG")  # what a notebook shows, without a backend


def test_image_grid_draws_masks_in_grey_and_clips() -> None:
    masks = torch.linspace(-1, 2, 16).view(1, 1, 4, 4).repeat(2, 1, 1, 1)
    figure = image_grid(masks.requires_grad_(True), nrow=8)
    assert len(figure.axes) == 2  # fewer images than nrow: one row of two
    shown = figure.axes[0].images[0]
    assert shown.get_cmap().name == "gray" and shown.get_array().min() == 0.0 and shown.get_array().max() == 1.0


def test_image_grid_leaves_label_width_for_the_row_labels() -> None:
    images = torch.rand(6, 3, 8, 8)
    assert image_grid(images, nrow=3).get_size_inches()[0] == pytest.approx(3.0)
    assert image_grid(images, nrow=3, row_labels=["a", "b"]).get_size_inches()[0] == pytest.approx(3.9)
    wide = image_grid(images, nrow=3, row_labels=["a\n(x10 diff)", "b"], label_width=1.4)
    assert wide.get_size_inches()[0] == pytest.approx(4.4)


def test_faces_grid_shows_five_labelled_rows(tmp_path: Path) -> None:
    figure = faces_grid(2, resolution=32)
    assert len(_visible_axes(figure)) == 10
    labels = [figure.axes[i].get_ylabel() for i in range(0, 10, 2)]
    assert labels == ["A", "B", "mixed", "another A", "true swap\nA → B"]
    figure.savefig(tmp_path / "grid.png")
    assert (tmp_path / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        ((np.zeros((2, 3, 4, 4)),), {}, TypeError, "torch.Tensor"),
        ((torch.rand(3, 4, 4),), {}, ValueError, r"\(N, C, H, W\)"),
        ((torch.rand(2, 2, 4, 4),), {}, ValueError, "C = 1 or 3"),
        ((torch.rand(2, 3, 4, 4), 0), {}, ValueError, "nrow must be a positive int"),
        ((torch.rand(2, 3, 4, 4),), {"titles": ["one"]}, ValueError, "one string per image: expected 2, got 1"),
        ((torch.rand(2, 3, 4, 4),), {"row_labels": "ab"}, TypeError, "sequence of strings"),
    ],
)
def test_image_grid_errors_name_the_argument(args: tuple, kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        image_grid(*args, **kwargs)


def test_loss_curves_one_or_several_smoothed() -> None:
    figure = loss_curves([4.0, 2.0, 1.0, 0.5])
    ax = figure.axes[0]
    assert ax.get_yscale() == "log" and len(ax.lines) == 1 and ax.get_legend() is None
    figure = loss_curves({"mse": [1.0, 0.5, 0.2], "dssim": torch.tensor([0.4, 0.3])}, smooth=2, title="t")
    ax = figure.axes[0]
    assert len(ax.lines) == 4  # raw and smoothed, per curve
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["mse", "dssim"]
    assert ax.get_title() == "t"


def test_loss_curves_errors() -> None:
    with pytest.raises(ValueError, match="logy=False"):
        loss_curves([1.0, 0.0])
    assert loss_curves([1.0, 0.0], logy=False).axes[0].get_yscale() == "linear"
    with pytest.raises(ValueError, match="empty"):
        loss_curves({})
    with pytest.raises(ValueError, match="non-empty 1-D"):
        loss_curves({"a": []})
    with pytest.raises(TypeError, match="sequence of floats"):
        loss_curves(3.0)  # type: ignore[arg-type]


def test_moving_average_uses_the_last_values() -> None:
    assert np.allclose(_moving_average(np.array([1.0, 3.0, 5.0, 7.0]), 2), [1.0, 2.0, 4.0, 6.0])
    assert np.allclose(_moving_average(np.array([2.0, 4.0]), 5), [2.0, 3.0])


def test_rate_distortion_one_panel_per_measure() -> None:
    figure = rate_distortion([4, 16, 64], {"PSNR (dB)": [18.0, 20.0, 21.0], "SSIM": [0.5, 0.7, 0.8]}, title="rd")
    assert len(figure.axes) == 2
    first = figure.axes[0]
    assert first.get_xscale() == "log" and first.get_ylabel() == "PSNR (dB)"
    assert [tick.get_text() for tick in first.get_xticklabels()] == ["4", "16", "64"]
    assert rate_distortion([0, 1], {"a": [1, 2]}, logx=False).axes[0].get_xscale() == "linear"


def test_rate_distortion_errors() -> None:
    with pytest.raises(ValueError, match="one value per rate"):
        rate_distortion([1, 2], {"a": [1.0]})
    with pytest.raises(ValueError, match="logx=False"):
        rate_distortion([0, 1], {"a": [1.0, 2.0]})
    with pytest.raises(ValueError, match="non-empty dict"):
        rate_distortion([1, 2], {})
    with pytest.raises(TypeError, match="sequence of numbers"):
        rate_distortion("12", {"a": [1.0, 2.0]})
