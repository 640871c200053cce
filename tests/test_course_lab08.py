"""aelab.course.lab08 (lab 08's benchmark) and the library it stands on (aelab.models.from_spec, aelab.scorecard,
aelab.stats.pareto_front): the models it builds, the trainer that repeats the shipped runs, the Pareto front,
the scores of one row and the table that prints them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from aelab import assets, forensics, models, report, scorecard, stats
from aelab.course import lab08
from aelab.course.lab03 import LAB_CONFIG
from aelab.data import faces
from aelab.featurenet import FeatureNet
from aelab.metrics import FactorReader
from aelab.train import Config, Trainer


def test_every_model_builds_at_lab_size_from_its_seed_and_leaves_the_global_generator() -> None:
    state = torch.random.get_rng_state()
    for name, spec in lab08.MODELS.items():
        model = models.from_spec(spec, seed=1)
        assert isinstance(model, models.SwapModel) and model.resolution == 32, name
        again = models.from_spec(spec, seed=1)
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values())), name
    assert torch.equal(state, torch.random.get_rng_state())
    assert isinstance(models.from_spec(lab08.MODELS["H128"]), models.H128)
    assert models.from_spec(lab08.MODELS["LIAE-ud"]).archi == "liae-ud"


def test_spec_of_reads_lab03s_and_lab08s_files() -> None:
    saved = {"config": Config(archi="df", resolution=32, ae_dims=32, e_dims=16, d_dims=8, d_mask_dims=8).to_dict()}
    assert models.spec_of(saved) == lab08.MODELS["DF"]
    assert models.spec_of({"model": lab08.MODELS["AE"], "config": saved["config"]}) == lab08.MODELS["AE"]


def test_the_benchmark_trainer_repeats_lab03s_run_of_df() -> None:
    """DF through lab08.trainer takes the same steps as lab03.make_model's Trainer(Config(...)): lab 03's
    df.pt is the benchmark's DF."""
    recipe = {**LAB_CONFIG, "batch_size": 2}
    ours = lab08.trainer(models.from_spec(lab08.MODELS["DF"], seed=0), recipe, pool_size=16)
    theirs = Trainer(Config(archi="df", **recipe), device="cpu", seed=0, pool_size=16)
    ours.fit(3, progress=False)
    theirs.fit(3, progress=False)
    assert ours.history["src_total"] == theirs.history["src_total"]
    assert (
        ours.config.archi == "df"
        and lab08.trainer(models.H128(resolution=32, ae_dims=8, e_dims=2), recipe).config.archi == "df"
    )
    with pytest.raises(TypeError, match="SwapModel"):
        lab08.trainer(models.ConvAutoencoder(32), recipe)


def test_pareto_front_keeps_what_nothing_dominates_in_order() -> None:
    points = {"a": (0.9, 0.9), "b": (0.5, 0.5), "c": (0.5, 0.6), "d": (0.9, 0.9), "e": (0.4, 0.4), "f": (0.3, 0.45)}
    assert stats.pareto_front(points) == ["a", "b", "d", "e"]  # c by b, f by e; a and d tie
    assert stats.pareto_front({"only": (0.0, 1.0)}) == ["only"]


def _row(**values: float) -> lab08.Row:
    fields = {f.name: 0.5 for f in dataclasses.fields(lab08.Row)}
    return lab08.Row(**{**fields, "parameters": 1234, **values})


def test_row_cells_follow_the_columns_and_the_table_checks_only_banded_rows(capsys: pytest.CaptureFixture[str]) -> None:
    row = _row(step_seconds=0.071)
    assert list(row.cells()) == list(lab08.COLUMNS) and row.cells()["ms/step"] == pytest.approx(71.0)
    bands = {"DF": {column: (0.0, 1.0) for column in lab08.COLUMNS}}
    lab08.table({"DF": _row(), "yours": _row(ssim=5.0)}, bands)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["model", "parameters"] and "1,234" in lines[1]
    assert lines[1].endswith("ok") and lines[2].endswith("shown")
    with pytest.raises(report.FigureOutOfBand, match="SSIM"):
        lab08.table({"DF": _row(ssim=5.0)}, bands)


@pytest.fixture(scope="module")
def judges() -> scorecard.Judges:
    """The lab's judges: the shipped reader, feature network and blend detector, on 64 held-out faces."""

    def shipped(name: str) -> dict:
        return torch.load(assets.path(name), weights_only=True)

    return scorecard.Judges(
        dst=faces.render(64, resolution=32, domain="B", seed=90),
        reader=FactorReader.from_state_dict(shipped("lab03/reader.pt")),
        net=FeatureNet.from_state_dict(shipped("lab06/features.pt")),
        blend=forensics.BlendDetector.from_state_dict(shipped("lab07/blend.pt")),
        real_frames=faces.render(64, resolution=32, domain="B", seed=91).images,
    )


def test_an_untrained_model_scores_far_from_the_truth_and_is_easy_to_detect(judges: scorecard.Judges) -> None:
    torch.set_num_threads(1)
    model = models.from_spec(lab08.MODELS["AE"], seed=0)
    spectral = scorecard.spectral_detector(
        [scorecard.merged_frames(models.from_spec(lab08.MODELS["DF"], seed=1), judges)[1]], judges
    )
    measured = scorecard.measure(model, judges)
    assert measured.ssim.shape == measured.pose.shape == measured.leak.shape == (64,)
    assert measured.blend.shape == (len(judges.blend.nets_), 32) and measured.frames.shape == (64, 3, 32, 32)
    row = lab08.row(measured, judges, step_seconds=0.01, spectral=spectral)
    assert row.parameters == models.count_parameters(model)
    assert row.psnr < 14 and row.pose_r2 < 0.2 and row.fd > 10 and row.precision < 0.2
    assert all(0.0 <= v <= 1.0 for v in (row.precision, row.recall, row.auc_blend, row.auc_spectral))
    assert lab08.score(model, judges, step_seconds=0.01, spectral=spectral) == row  # fixed inputs, fixed seeds
    with pytest.raises(ValueError, match="even number"):
        dataclasses.replace(judges, dst=faces.render(65, resolution=32, domain="B", seed=90))
    with pytest.raises(ValueError, match="as many"):
        dataclasses.replace(judges, real_frames=judges.real_frames[:10])


def test_the_per_face_figures_average_to_the_library_s_scores(judges: scorecard.Judges) -> None:
    """measure()'s per-face pose and leak are decompositions: their means are the mean R² and the mean
    leak of aelab.metrics.score_swap_images."""
    from aelab import metrics

    model = models.from_spec(lab08.MODELS["DF"], seed=2)
    measured = scorecard.measure(model, judges)
    swap = metrics.swaps_of(model, judges.dst)
    scores = metrics.score_swap_images(swap.pred_src_dst, swap.pred_src_dstm, judges.dst, judges.reader)
    assert float(measured.ssim.mean()) == pytest.approx(scores.ssim, abs=1e-5)
    assert float(measured.psnr.mean()) == pytest.approx(scores.psnr, abs=1e-4)
    assert float(measured.pose.mean()) == pytest.approx(sum(scores.carry_over[n] for n in scorecard.POSE) / 3, abs=1e-5)
    assert float(measured.leak.mean()) == pytest.approx(scores.mean_leak, abs=1e-5)


def _results(seeds: dict[str, int], *, shift: dict[str, float] | None = None) -> dict:
    """A results.json of made-up figures: 40 faces, 10 test frames a side, 2 blend members."""
    rng = np.random.default_rng(0)
    shift = shift or {}
    runs = {}
    for name, count in seeds.items():
        runs[name] = {
            "parameters": 100,
            "seeds": list(range(count)),
            "runs": [
                {
                    "ssim": (0.5 + shift.get(name, 0.0) + 0.05 * rng.standard_normal(40)).tolist(),
                    "psnr": (12 + rng.standard_normal(40)).tolist(),
                    "pose": rng.random(40).tolist(),
                    "leak": rng.random(40).tolist(),
                    "fd": float(20 + rng.random()),
                    "kid": float(rng.random()),
                    "precision": float(rng.random()),
                    "recall": float(rng.random()),
                    "blend": rng.random((2, 10)).tolist(),
                    "spectral": {"real": rng.random(10).tolist(), "fake": (rng.random(10) + 0.5).tolist()},
                }
                for _ in range(count)
            ],
        }
    return {
        "floor": {"FD": 1.0, "KID": 0.0, "precision": 0.9, "recall": 0.9},
        "real_blend": rng.random((2, 10)).tolist(),
        "models": runs,
    }


def test_seeds_read_results_give_intervals_differences_and_bootstrap_tables(capsys: pytest.CaptureFixture[str]) -> None:
    seeds = scorecard.Seeds(_results({"A": 3, "B": 3, "C": 1}, shift={"A": 0.2}))
    intervals = seeds.intervals(resamples=200)
    for name in "ABC":
        for column, interval in intervals[name].items():
            assert interval.estimate == pytest.approx(seeds.table()[name][column]), (name, column)
    assert intervals["A"]["SSIM"].low < intervals["A"]["SSIM"].estimate < intervals["A"]["SSIM"].high
    assert np.isnan(intervals["C"]["FD"].low) and not np.isnan(intervals["C"]["SSIM"].low)  # one seed: no seed spread
    assert scorecard.leader(seeds.table(), "SSIM") == "A"
    leaders = seeds.leaders()
    assert leaders["SSIM: A - B"].difference.excludes(0.0) if "SSIM: A - B" in leaders else False
    assert seeds.difference("FD", "A", "C") is None and seeds.difference("SSIM", "A", "C") is not None
    tables = seeds.tables(50)
    assert len(tables) == 50 and scorecard.share(tables, lambda t: scorecard.leader(t, "SSIM") == "A") > 0.9
    assert seeds.table(seed=2)["C"] == seeds.table(seed=0)["C"]  # one seed: its only one
    lab08.seed_table(intervals, seeds)
    out = capsys.readouterr().out
    assert "real vs real (the floor)" in out and "n/a" in out
    with pytest.raises(ValueError, match="results.json"):
        scorecard.Seeds({"models": {}})


def test_figure_draws_swaps_the_trade_off_and_a_one_point_front_in_its_legend() -> None:
    images = torch.rand(3, 3, 32, 32)
    seeds = scorecard.Seeds(_results({"DF": 2, "AE": 2}, shift={"DF": 0.3}))
    intervals = seeds.intervals(resamples=50)
    figure = lab08.figure(intervals, seeds.parameters, {"DF": images, "AE": images}, images, images)
    assert len(figure.axes) == 4 * 3 + 1
    legend = figure.axes[-1].get_legend()
    (handle,) = legend.legend_handles
    assert handle.get_marker() == "o"  # a front of one point still shows in the legend
    with pytest.raises(ValueError, match="column"):
        lab08.figure(intervals, seeds.parameters, {"DF": images, "AE": images}, images, images, quality="beauty")


def test_the_judges_refuse_what_is_not_a_face_batch_or_a_judge(judges: scorecard.Judges) -> None:
    with pytest.raises(TypeError, match="dst must be a FaceBatch"):
        dataclasses.replace(judges, dst=judges.dst.images)
    with pytest.raises(TypeError, match="net must be a FeatureNet"):
        dataclasses.replace(judges, net=judges.reader)
