"""Tests of aelab.metrics: PSNR (whole and masked), R², the factor reader, the identity leak and the
scoring of swaps against the true swap."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from aelab import metrics
from aelab.data import faces
from aelab.models import SAEHDSwap


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Any:
    """The readers train small CNNs: one thread is several times faster than two on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def images(n: int = 4, size: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- PSNR and R²


def test_masked_psnr_with_a_full_mask_is_psnr() -> None:
    x, y = images(seed=1), images(seed=2)
    full = torch.ones(4, 1, 16, 16)
    assert torch.allclose(metrics.masked_psnr(x, y, full), metrics.psnr(x, y, reduction="none"))


def test_masked_psnr_ignores_pixels_outside_the_mask() -> None:
    x = images(seed=1)
    y = x.clone()
    y[:, :, :, 8:] = 0.0  # differ on the right half only
    left = torch.zeros(4, 1, 16, 16)
    left[..., :8] = 1.0
    assert torch.isinf(metrics.masked_psnr(x, y, left)).all()
    y[:, :, :, :8] += 0.1
    assert torch.allclose(metrics.masked_psnr(x, y, left), torch.full((4,), 20.0), atol=1e-3)  # MSE 0.01


def test_masked_psnr_refuses_a_mask_of_another_shape() -> None:
    with pytest.raises(ValueError, match="mask must be"):
        metrics.masked_psnr(images(), images(), torch.ones(4, 3, 16, 16))


def test_r2_score() -> None:
    t = torch.arange(10.0)
    assert metrics.r2_score(t, t) == pytest.approx(1.0)
    assert metrics.r2_score(t, torch.full((10,), t.mean())) == pytest.approx(0.0)
    assert metrics.r2_score(torch.ones(5), torch.zeros(5)) == 0.0


# ---------------------------------------------------------------- the factor reader


def test_factor_targets_adds_the_light_vector() -> None:
    factors = {
        "light_azimuth": torch.tensor([0.0, 90.0, 180.0]),
        "light_strength": torch.tensor([1.0, 0.5, 0.0]),
        "yaw": torch.tensor([1.0, 2.0, 3.0]),
    }
    targets = metrics.factor_targets(factors)
    assert torch.allclose(targets["light_x"], torch.tensor([1.0, 0.0, 0.0]), atol=1e-6)
    assert torch.allclose(targets["light_y"], torch.tensor([0.0, 0.5, 0.0]), atol=1e-6)
    assert torch.equal(targets["yaw"], factors["yaw"])


def brightness_set(n: int, seed: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Images whose brightness is the factor "level" and whose left-right balance is "tilt"."""
    g = torch.Generator().manual_seed(seed)
    level, tilt = torch.rand(n, generator=g), torch.rand(n, generator=g) - 0.5
    ramp = torch.linspace(-1, 1, 8)
    x = (level[:, None, None, None] * 0.6 + 0.2 + 0.2 * tilt[:, None, None, None] * ramp).expand(n, 3, 8, 8)
    return x.contiguous(), {"level": level, "tilt": tilt}


def test_factor_reader_learns_what_the_images_show() -> None:
    x, factors = brightness_set(512, seed=0)
    reader = metrics.FactorReader(("level", "tilt"), resolution=8, width=4).fit(
        x, factors, steps=300, batch_size=64, lr=3e-3, progress=False
    )
    test_x, test_factors = brightness_set(128, seed=1)
    scores = reader.score(test_x, test_factors)
    assert scores["level"] > 0.9 and scores["tilt"] > 0.8
    read = reader.predict(test_x)
    assert set(read) == {"level", "tilt"} and read["level"].shape == (128,)


def test_factor_reader_is_repeatable_and_round_trips_its_state() -> None:
    x, factors = brightness_set(128, seed=0)
    first = metrics.FactorReader(("level",), resolution=8, width=4).fit(x, factors, steps=20, progress=False)
    second = metrics.FactorReader(("level",), resolution=8, width=4).fit(x, factors, steps=20, progress=False)
    assert torch.equal(first.predict(x)["level"], second.predict(x)["level"])
    copy = metrics.FactorReader.from_state_dict(first.state_dict())
    assert torch.equal(copy.predict(x)["level"], first.predict(x)["level"])


def test_factor_reader_for_faces_reads_pose_from_rendered_faces() -> None:
    reader = metrics.FactorReader.for_faces(resolution=32, steps=100, batch_size=32, progress=False)
    test = faces.render(128, resolution=32, domain="mixed", seed=123)
    scores = reader.score(test.images * test.face_mask, test.factors)
    assert set(scores) == set(metrics.CARRY_FACTORS + metrics.IDENTITY_READ)
    assert scores["roll"] > 0.5 and scores["face_height"] > 0.5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"names": "yaw"}, "names must be"), ({"resolution": 24}, "power of two"), ({"width": 0}, "width must be")],
)
def test_factor_reader_checks_its_arguments(kwargs: dict[str, Any], message: str) -> None:
    names = kwargs.pop("names", ("yaw",))
    with pytest.raises(ValueError, match=message):
        metrics.FactorReader(names, **kwargs)


def test_factor_reader_refuses_to_predict_untrained_or_at_another_size() -> None:
    reader = metrics.FactorReader(("level",), resolution=8, width=4)
    with pytest.raises(RuntimeError, match="not trained"):
        reader.predict(torch.rand(2, 3, 8, 8))
    x, factors = brightness_set(64, seed=0)
    reader.fit(x, factors, steps=2, progress=False)
    with pytest.raises(ValueError, match="8x8 images"):
        reader.predict(torch.rand(2, 3, 16, 16))
    with pytest.raises(ValueError, match="factors lack"):
        reader.fit(x, {"other": factors["level"]}, steps=2, progress=False)


# ---------------------------------------------------------------- identity leak


def test_identity_leak_is_0_for_the_truth_1_for_dst_and_cancels_bias() -> None:
    truth = {"w": torch.tensor([0.5, 0.6, 0.55]), "s": torch.tensor([0.1, 0.2, 0.1])}
    dst = {"w": torch.tensor([0.9, 1.0, 0.95]), "s": torch.tensor([0.7, 0.7, 0.8])}
    half = {k: (truth[k] + dst[k]) / 2 for k in truth}
    assert metrics.identity_leak(truth, truth, dst) == {"w": 0.0, "s": 0.0}
    assert metrics.identity_leak(dst, truth, dst) == pytest.approx({"w": 1.0, "s": 1.0})
    assert metrics.identity_leak(half, truth, dst) == pytest.approx({"w": 0.5, "s": 0.5})
    shifted = [{k: v + 3.0 for k, v in d.items()} for d in (half, truth, dst)]
    assert metrics.identity_leak(*shifted) == pytest.approx({"w": 0.5, "s": 0.5})
    assert math.isnan(metrics.identity_leak(half, truth, truth)["w"])


# ---------------------------------------------------------------- scoring swaps


class StubModel(torch.nn.Module):
    """A "model" whose swap of the given dst batch is a fixed batch of images and masks."""

    def __init__(self, images: torch.Tensor, masks: torch.Tensor) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.images, self.masks = images, masks
        self.calls = 0

    def swap(self, dst: torch.Tensor) -> SAEHDSwap:
        start = self.calls
        self.calls += len(dst)
        part = slice(start, start + len(dst))
        return SAEHDSwap(self.images[part], self.masks[part], self.masks[part])


@pytest.fixture(scope="module")
def reader() -> metrics.FactorReader:
    return metrics.FactorReader.for_faces(resolution=32, steps=30, batch_size=32, progress=False)


@pytest.fixture(scope="module")
def dst() -> faces.FaceBatch:
    return faces.render(48, resolution=32, domain="B", seed=5)


def test_a_perfect_swap_scores_as_the_truth(reader: metrics.FactorReader, dst: faces.FaceBatch) -> None:
    truth = faces.render_swap(dst, "A")
    scores = metrics.score_swaps(StubModel(truth.images, truth.face_mask), dst, reader, batch_size=20)
    assert scores.ssim == pytest.approx(1.0, abs=1e-5) and math.isinf(scores.psnr)
    assert scores.carry_over == pytest.approx(scores.ceiling)
    assert set(scores.carry_over) == set(metrics.CARRY_FACTORS)
    assert scores.identity_leak == pytest.approx(dict.fromkeys(metrics.IDENTITY_READ, 0.0), abs=1e-6)


def test_a_swap_that_returns_dst_leaks_all_of_dst_identity(reader: metrics.FactorReader, dst: faces.FaceBatch) -> None:
    model = StubModel(dst.images, dst.face_mask)
    model.train()
    scores = metrics.score_swaps(model, dst, reader)
    assert scores.mean_leak == pytest.approx(1.0)
    assert scores.ssim < 0.9 and model.training  # the model's mode is restored


def test_swap_table_puts_models_side_by_side_with_a_verdict_per_row() -> None:
    def fake(ssim: float, psnr: float, yaw: float, leak: float) -> metrics.SwapScores:
        return metrics.SwapScores(
            ssim=ssim,
            psnr=psnr,
            carry_over={"yaw": yaw, "smile": -0.001, "gaze_x": 0.1},
            ceiling={"yaw": 0.9, "smile": 0.8, "gaze_x": 0.0},
            identity_leak={"face_width": leak},
        )

    table = metrics.swap_table({"DF": fake(0.7, 20.0, 0.5, 0.3), "LIAE": fake(0.8, 20.05, 0.52, -0.1)})
    rows = {line[:24].strip(): [cell for cell in line[24:].split() if cell != "≈"] for line in table.splitlines()[2:]}
    assert table.splitlines()[0].split() == ["DF", "LIAE", "truth", "verdict"]
    assert rows["SSIM vs true swap"] == ["0.70", "0.80", "LIAE"]
    assert rows["PSNR vs true swap (dB)"] == ["20.00", "20.05", "tie"]
    assert rows["carry-over R² yaw"] == ["0.50", "0.52", "0.90", "tie"]
    assert rows["carry-over R² smile"] == ["0.00", "0.00", "0.80", "neither"]  # -0.00 is printed 0.00
    assert rows["carry-over R² gaze_x"][-1] == "unreadable"
    assert rows["identity leak (mean)"] == ["0.30", "-0.10", "LIAE"]  # nearer 0 is better
    with pytest.raises(ValueError, match="empty"):
        metrics.swap_table({})


def test_score_swaps_checks_its_arguments(reader: metrics.FactorReader, dst: faces.FaceBatch) -> None:
    model = StubModel(dst.images, dst.face_mask)
    with pytest.raises(TypeError, match="dst must be a FaceBatch"):
        metrics.score_swaps(model, dst.images, reader)
    with pytest.raises(TypeError, match="reader must be a FactorReader"):
        metrics.score_swaps(model, dst, None)  # type: ignore[arg-type]
