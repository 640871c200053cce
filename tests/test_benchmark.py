"""aelab.benchmark: the models it builds, the trainer that repeats the shipped runs, the Pareto front,
the scores of one row and the table that prints them."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from aelab import assets, benchmark, forensics, models, report
from aelab.assets.make_lab03 import LAB_CONFIG
from aelab.data import faces
from aelab.metrics import FactorReader
from aelab.realism import FeatureNet
from aelab.train import Config, Trainer


def test_every_model_builds_at_lab_size_from_its_seed_and_leaves_the_global_generator() -> None:
    state = torch.random.get_rng_state()
    for name, spec in benchmark.MODELS.items():
        model = benchmark.build(spec, seed=1)
        assert isinstance(model, models.SwapModel) and model.resolution == 32, name
        again = benchmark.build(spec, seed=1)
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values())), name
    assert torch.equal(state, torch.random.get_rng_state())
    assert isinstance(benchmark.build(benchmark.MODELS["H128"]), models.H128)
    assert benchmark.build(benchmark.MODELS["LIAE-ud"]).archi == "liae-ud"


def test_spec_of_reads_lab03s_and_lab08s_files() -> None:
    saved = {"config": Config(archi="df", resolution=32, ae_dims=32, e_dims=16, d_dims=8, d_mask_dims=8).to_dict()}
    assert benchmark.spec_of(saved) == benchmark.MODELS["DF"]
    assert benchmark.spec_of({"model": benchmark.MODELS["AE"], "config": saved["config"]}) == benchmark.MODELS["AE"]


def test_the_benchmark_trainer_repeats_lab03s_run_of_df() -> None:
    """DF through benchmark.trainer takes the same steps as make_lab03's Trainer(Config(...)): lab 03's
    df.pt is the benchmark's DF."""
    recipe = {**LAB_CONFIG, "batch_size": 2}
    ours = benchmark.trainer(benchmark.build(benchmark.MODELS["DF"], seed=0), recipe, pool_size=16)
    theirs = Trainer(Config(archi="df", **recipe), device="cpu", seed=0, pool_size=16)
    ours.fit(3, progress=False)
    theirs.fit(3, progress=False)
    assert ours.history["src_total"] == theirs.history["src_total"]
    assert ours.config.archi == "df" and benchmark.trainer(models.H128(resolution=32, ae_dims=8, e_dims=2), recipe).config.archi == "df"
    with pytest.raises(TypeError, match="SwapModel"):
        benchmark.trainer(models.ConvAutoencoder(32), recipe)


def test_pareto_front_keeps_what_nothing_dominates_in_order() -> None:
    points = {"a": (0.9, 0.9), "b": (0.5, 0.5), "c": (0.5, 0.6), "d": (0.9, 0.9), "e": (0.4, 0.4), "f": (0.3, 0.45)}
    assert benchmark.pareto_front(points) == ["a", "b", "d", "e"]  # c by b, f by e; a and d tie
    assert benchmark.pareto_front({"only": (0.0, 1.0)}) == ["only"]


def _row(**values: float) -> benchmark.Row:
    fields = {f.name: 0.5 for f in dataclasses.fields(benchmark.Row)}
    return benchmark.Row(**{**fields, "parameters": 1234, **values})


def test_row_cells_follow_the_columns_and_the_table_checks_only_banded_rows(capsys: pytest.CaptureFixture[str]) -> None:
    row = _row(step_seconds=0.071)
    assert list(row.cells()) == list(benchmark.COLUMNS) and row.cells()["ms/step"] == pytest.approx(71.0)
    bands = {"DF": {column: (0.0, 1.0) for column in benchmark.COLUMNS}}
    benchmark.table({"DF": _row(), "yours": _row(ssim=5.0)}, bands)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["model", "parameters"] and "1,234" in lines[1]
    assert lines[1].endswith("ok") and lines[2].endswith("shown")
    with pytest.raises(report.FigureOutOfBand, match="SSIM"):
        benchmark.table({"DF": _row(ssim=5.0)}, bands)


@pytest.fixture(scope="module")
def judges() -> benchmark.Judges:
    """The lab's judges: the shipped reader, feature network and blend detector, on 64 held-out faces."""
    def shipped(name: str) -> dict:
        return torch.load(assets.path(name), weights_only=True)

    return benchmark.Judges(
        dst=faces.render(64, resolution=32, domain="B", seed=90), reader=FactorReader.from_state_dict(shipped("lab03/reader.pt")),
        net=FeatureNet.from_state_dict(shipped("lab06/features.pt")),
        blend=forensics.BlendDetector.from_state_dict(shipped("lab07/blend.pt")),
        real_frames=faces.render(64, resolution=32, domain="B", seed=91).images)


def test_an_untrained_model_scores_far_from_the_truth_and_is_easy_to_detect(judges: benchmark.Judges) -> None:
    torch.set_num_threads(1)
    model = benchmark.build(benchmark.MODELS["AE"], seed=0)
    row = benchmark.score(model, judges, step_seconds=0.01)
    assert row.parameters == models.count_parameters(model)
    assert row.psnr < 14 and row.pose_r2 < 0.2 and row.fd > 10 and row.precision < 0.2 and row.auc_spectral > 0.9
    assert all(0.0 <= v <= 1.0 for v in (row.precision, row.recall, row.auc_blend, row.auc_spectral))
    assert benchmark.score(model, judges, step_seconds=0.01) == row  # fixed inputs, fixed seeds
    with pytest.raises(ValueError, match="even number"):
        dataclasses.replace(judges, dst=faces.render(65, resolution=32, domain="B", seed=90))


def test_figure_draws_swaps_and_the_trade_off() -> None:
    images = torch.rand(3, 3, 32, 32)
    rows = {"DF": _row(), "AE": _row(ssim=0.2, auc_spectral=0.3)}
    figure = benchmark.figure(rows, {"DF": images, "AE": images}, images, images)
    assert len(figure.axes) == 4 * 3 + 1
    with pytest.raises(ValueError, match="column"):
        benchmark.figure(rows, {"DF": images, "AE": images}, images, images, quality="beauty")
