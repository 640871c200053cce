"""Lab 08's recipe: the seed card's benchmark of architectures -- several swapping models, one budget,
one table.

The seed model card's future work asks for "a benchmark of architectures on perceptual realism". The
kit answers it on its synthetic faces, where every swap has a true answer. Every model of
:data:`MODELS` (built by :func:`aelab.models.from_spec`) trains on the same data (SynthFaces A as src,
B as dst), with lab 03's recipe and number of steps (:func:`trainer`, :func:`make_model`), and every
one is then measured on the same held-out dst faces by the same judges (:func:`judges`,
:mod:`aelab.scorecard`: pixels against the true swap, pose carry-over and identity leak, realism as a
set, detectability of merged frames by lab 07's blend detector and by a spectral detector fit on
*other* architectures' frames), one row of :func:`table` each, with the **cost**: parameters, and the
CPU time of one training step on this machine (shown, never compared: it is not the same on two
machines).

Every model is trained from several seeds (:data:`SEEDS`); :func:`record` keeps each one's per-face
figures in ``lab08/results.json`` (:func:`make_results`, run by ``python -m aelab.assets.make_lab08``),
and :class:`Seeds` reads them all back: each figure's mean over seeds with its 95 % interval over seeds
and test faces (:mod:`aelab.stats`), the leaders' differences, and bootstrap tables for how often a
ranking or a front holds. :func:`figure` draws the swaps and the trade-off of quality and
detectability with its Pareto front (:func:`aelab.stats.pareto_front`). Images are tensors (N, 3, H,
W) of floats in [0, 1]; masks (N, 1, H, W).
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from aelab import assets, models, report, stats
from aelab.course.lab03 import ITERATIONS, LAB_CONFIG
from aelab.data import faces
from aelab.featurenet import FeatureNet
from aelab.forensics import BlendDetector, SpectralDetector, auc
from aelab.metrics import FactorReader
from aelab.plotting import Figure, trade_off
from aelab.scorecard import (
    SEED_COLUMNS,
    Judges,
    Measured,
    Seeds,
    blend_members,
    floor,
    measure,
    record,
    rounded,
    spectral_detector,
    spectral_scores,
)
from aelab.train import EVAL_SEED, Config, Trainer
from aelab.validate import check_int

__all__ = [
    "MODELS",
    "COLUMNS",
    "TEST_FACES",
    "REAL_SEED",
    "SEED_TABLES",
    "Row",
    "trainer",
    "step_time",
    "judges",
    "row",
    "score",
    "seed_table",
    "table",
    "figure",
    "STEMS",
    "SEEDS",
    "RUNS",
    "checkpoint",
    "make_model",
    "make_results",
]

#: The benchmark's models at lab size (32 px, lab 03's): name -> spec (``archi``, ``resolution`` and
#: the archi's dims). DF and LIAE are lab 03's (``ae_dims`` 32, ``e_dims`` 16, ``d_dims`` 8,
#: ``d_mask_dims`` 8); LIAE-ud is the seed card's archi option with the same dims. H128 keeps DFL 1.0's
#: structure with ``e_dims`` 16 (the SAEHD models') and ``ae_dims`` 64 = 4·``e_dims``, DFL's own ratio
#: (512 / 128), which also makes its decoders as wide as the SAEHD ones (64, 32, 16 channels). AE is
#: lab 01's autoencoder (``latent_dims`` 64, ``width`` 16) wired as DF (:class:`aelab.models.SwapAutoencoder`).
MODELS: dict[str, dict[str, Any]] = {
    "H128": {"archi": "h128", "resolution": 32, "ae_dims": 64, "e_dims": 16},
    "DF": {"archi": "df", "resolution": 32, "ae_dims": 32, "e_dims": 16, "d_dims": 8, "d_mask_dims": 8},
    "LIAE": {"archi": "liae", "resolution": 32, "ae_dims": 32, "e_dims": 16, "d_dims": 8, "d_mask_dims": 8},
    "LIAE-ud": {"archi": "liae-ud", "resolution": 32, "ae_dims": 32, "e_dims": 16, "d_dims": 8, "d_mask_dims": 8},
    "AE": {"archi": "ae", "resolution": 32, "latent_dims": 64, "width": 16},
}
#: The table's columns: name -> (decimals, higher is better; None: shown, not ranked).
COLUMNS: dict[str, tuple[int, bool | None]] = {
    "ms/step": (0, None),
    "SSIM": (2, True),
    "PSNR": (1, True),
    "pose R²": (2, True),
    "leak": (2, False),
    "FD": (1, False),
    "KID": (2, False),
    "precision": (2, True),
    "recall": (2, True),
    "AUC blend": (2, False),
    "AUC spectral": (2, False),
}


def _config(model: models.SwapModel, recipe: Mapping[str, Any]) -> Config:
    """The trainer's configuration: the recipe, with a DF or LIAE model's own archi and dims (any other
    model is trained with the recipe alone; its config names DF, whose wiring it has)."""
    values = {**recipe, "resolution": model.resolution}
    if isinstance(model, models.SAEHD):
        values.update(
            archi=model.archi,
            ae_dims=model.ae_dims,
            e_dims=model.e_dims,
            d_dims=model.d_dims,
            d_mask_dims=model.d_mask_dims,
        )
    else:
        values["archi"] = "df"
    return Config(**values)


def trainer(model: models.SwapModel, recipe: Mapping[str, Any], *, seed: int = 0, pool_size: int = 512) -> Trainer:
    """A :class:`aelab.train.Trainer` of ``model`` on the benchmark's data with ``recipe`` (the fields of
    :class:`aelab.train.Config` but the archi, e.g. lab 03's ``LAB_CONFIG``). With ``model =
    aelab.models.from_spec(spec, seed=seed)`` it repeats, step for step, the run that made the shipped
    checkpoint."""
    if not isinstance(model, models.SwapModel):
        raise TypeError(
            f"model must be an aelab.models.SwapModel (e.g. from aelab.models.from_spec), got {type(model).__name__}"
        )
    return Trainer(_config(model, recipe), device="cpu", seed=seed, pool_size=pool_size, model=model)


def step_time(model: models.SwapModel, recipe: Mapping[str, Any], *, steps: int = 10) -> float:
    """CPU seconds of one training step of a copy of ``model`` (the mean of ``steps`` after one
    warm-up step), in this process: a figure of this machine, for showing beside the others."""
    steps = check_int("steps", steps, minimum=1)
    run = trainer(copy.deepcopy(model), recipe)
    run.fit(1, progress=False)
    start = time.process_time()
    run.fit(steps, progress=False)
    return (time.process_time() - start) / steps


#: The test faces: the first :data:`TEST_FACES` of lab 03's held-out dst faces (render seed
#: :data:`aelab.train.EVAL_SEED`); and the real dst frames the detectors meet (render seed
#: :data:`REAL_SEED`, as many, none of them a test face).
TEST_FACES = 256
REAL_SEED = 108


def judges(reader: FactorReader, net: FeatureNet, blend: BlendDetector) -> Judges:
    """The lab's judges: :data:`TEST_FACES` held-out dst faces and as many real frames
    (:data:`REAL_SEED`), with these three networks."""
    dst = faces.render(2 * TEST_FACES, resolution=32, domain="B", seed=EVAL_SEED)[:TEST_FACES]
    real = faces.render(TEST_FACES, resolution=32, domain="B", seed=REAL_SEED).images
    return Judges(dst=dst, reader=reader, net=net, blend=blend, real_frames=real)


@dataclass(frozen=True)
class Row:
    """One model's figures (see the module's docstring; ``kid`` is KID's mean over subsets,
    ``step_seconds`` CPU seconds per training step). :meth:`cells` gives them under the table's column
    names."""

    parameters: int
    step_seconds: float
    ssim: float
    psnr: float
    pose_r2: float
    leak: float
    fd: float
    kid: float
    precision: float
    recall: float
    auc_blend: float
    auc_spectral: float

    def cells(self) -> dict[str, float]:
        """name -> value for every column of :data:`COLUMNS` (the step in milliseconds)."""
        values = asdict(self)
        values.pop("parameters")
        values["step_seconds"] *= 1000.0
        return dict(zip(COLUMNS, values.values()))


def row(measured: Measured, judges: Judges, *, step_seconds: float, spectral: SpectralDetector) -> Row:
    """A measured model's :class:`Row`: every figure's mean over the test faces, the blend detector's
    and ``spectral``'s ROC AUC of its merged frames against the real test frames."""
    half = judges.half
    real_blend = blend_members(judges, judges.real_frames[half:]).mean(0)
    real_spectral, fake_spectral = spectral_scores(spectral, measured.frames, judges)
    labels = torch.cat([torch.zeros(half), torch.ones(half)])
    return Row(
        parameters=measured.parameters,
        step_seconds=float(step_seconds),
        ssim=float(measured.ssim.mean()),
        psnr=float(measured.psnr.mean()),
        pose_r2=float(measured.pose.mean()),
        leak=float(measured.leak.mean()),
        fd=measured.fd,
        kid=measured.kid,
        precision=measured.precision,
        recall=measured.recall,
        auc_blend=auc(torch.cat([real_blend, measured.blend.mean(0).float()]), labels),
        auc_spectral=auc(torch.cat([real_spectral, fake_spectral]), labels),
    )


def score(model: models.SwapModel, judges: Judges, *, step_seconds: float, spectral: SpectralDetector) -> Row:
    """A model's :class:`Row` on ``judges``' faces (:func:`measure`, then :func:`row`);
    ``step_seconds`` from :func:`step_time`, ``spectral`` from :func:`spectral_detector`."""
    return row(measure(model, judges), judges, step_seconds=step_seconds, spectral=spectral)


#: The two seed-level tables: the swaps one by one (and their detectability), and the swaps as a set.
SEED_TABLES = (("SSIM", "PSNR", "pose R²", "leak", "AUC blend", "AUC spectral"), ("FD", "KID", "precision", "recall"))


def _half(interval: stats.Interval, digits: int) -> str:
    """The half-width of an interval as a measured figure, ``n/a`` where it has none."""
    half = (interval.high - interval.low) / 2
    return report.measured(half, digits, width=digits + 2) if math.isfinite(half) else f"{'n/a':>{digits + 4}}"


def seed_table(intervals: Mapping[str, Mapping[str, stats.Interval]], seeds: Seeds) -> None:
    """Print :meth:`Seeds.intervals` as two tables (:data:`SEED_TABLES`), one line per model with its
    parameters and seeds, each cell ``≈ mean ± ≈ half-width`` of the 95 % interval (nbval masks the
    digits; ``n/a``: a set figure of a model trained from one seed); the set table ends with the floor
    of two real sets (:func:`floor`)."""
    width = max(len(name) for name in intervals)
    for columns in SEED_TABLES:
        cells = [max(len(c), 2 * SEED_COLUMNS[c][0] + 12) for c in columns]
        print(f"{'model':<{width}} {'parameters':>10} seeds" + "".join(f"  {c:>{w}}" for c, w in zip(columns, cells)))
        for name, row in intervals.items():
            text = "".join(
                "  "
                + f"{report.measured(row[c].estimate, SEED_COLUMNS[c][0], width=SEED_COLUMNS[c][0] + 3)} ± "
                f"{_half(row[c], SEED_COLUMNS[c][0])}".rjust(w)
                for c, w in zip(columns, cells)
            )
            print(f"{name:<{width}} {seeds.parameters[name]:>10,} {len(seeds.seeds[name]):>5}{text}")
        if columns[0] in seeds.floor:
            text = "".join(
                f"  {report.measured(seeds.floor[c], SEED_COLUMNS[c][0], width=w - 2)}" for c, w in zip(columns, cells)
            )
            print(f"{'real vs real (the floor)':<{width + 17}}{text}")
        print()


def table(
    rows: Mapping[str, Row], bands: Mapping[str, Mapping[str, tuple[float, float]]]
) -> dict[str, dict[str, float]]:
    """Print the benchmark's table (:func:`aelab.report.table`): one line per model, its parameters
    beside its name, a measured figure per column, and the verdict against ``bands`` (model -> column ->
    (lo, hi)). A model without bands (your own) is shown unchecked, and so is every step time.
    Returns ``{label: {column: value}}``."""
    if not isinstance(rows, Mapping) or not rows:
        raise ValueError("rows must be a non-empty dict {model name: Row}")
    width = max(len(name) for name in rows)
    lines = {}
    for name, row in rows.items():
        checked = bands.get(name)
        lines[f"{name:<{width}} {row.parameters:>10,}"] = {
            column: (value, None if checked is None or COLUMNS[column][1] is None else checked[column])
            for column, value in row.cells().items()
        }
    return report.table(
        lines,
        digits={column: digits for column, (digits, _) in COLUMNS.items()},
        label=f"{'model':<{width}} {'parameters':>10}",
    )


def figure(
    intervals: Mapping[str, Mapping[str, stats.Interval]],
    parameters: Mapping[str, int],
    swaps: Mapping[str, torch.Tensor],
    dst: torch.Tensor,
    truth: torch.Tensor,
    *,
    quality: str = "SSIM",
    detectability: str = "AUC blend",
) -> Figure:
    """The benchmark in one picture (:func:`aelab.plotting.trade_off`): each model's swaps (images (n, 3,
    R, R) in [0, 1]) under the dst faces and their true swaps, and its ``quality`` against its
    ``detectability`` (columns of :data:`SEED_COLUMNS`, ``intervals`` from :meth:`Seeds.intervals`), the
    marker's area growing with its ``parameters``, the Pareto front of the means marked."""
    for column in (quality, detectability):
        if column not in SEED_COLUMNS:
            raise ValueError(f"{column!r} is not a column; choose from {', '.join(SEED_COLUMNS)}")
    return trade_off(intervals, parameters, swaps, dst, truth, quality=quality, detectability=detectability)


# --------------------------------------------------------------------------------------------------
# The shipped files (python -m aelab.assets.make_lab08)

#: model name -> file stem.
STEMS = {"H128": "h128", "DF": "df", "LIAE": "liae", "LIAE-ud": "liae_ud", "AE": "ae"}
#: The training seeds of every model.
SEEDS = (0, 1, 2)
#: Where the checkpoints that are not shipped go, under the working folder.
RUNS = Path("runs") / "lab08"


def checkpoint(name: str, seed: int) -> Path:
    """Where model ``name`` trained from ``seed`` lies: the shipped file for seed 0, else under :data:`RUNS`."""
    if seed == 0:
        return assets.root() / ("lab03" if name in ("DF", "LIAE") else "lab08") / f"{STEMS[name]}.pt"
    return RUNS / f"{STEMS[name]}-seed{seed}.pt"


def make_model(name: str, seed: int = 0) -> tuple[dict, float]:
    """Train the benchmark model ``name`` (an entry of :data:`MODELS`) from ``seed`` on lab 03's budget
    (:data:`aelab.course.lab03.LAB_CONFIG`, :data:`~aelab.course.lab03.ITERATIONS` steps); return what its
    file holds, and the CPU seconds per step."""
    spec = MODELS[name]
    run = trainer(models.from_spec(spec, seed=seed), LAB_CONFIG, seed=seed, pool_size=512)
    start = time.process_time()
    run.fit(ITERATIONS)
    seconds = (time.process_time() - start) / ITERATIONS
    return {
        "model": dict(spec),
        "config": run.config.to_dict(),
        "iteration": run.iteration,
        "history": {key: run.history[key] for key in ("src_total", "dst_total")},
        "state_dict": {k: v.half() for k, v in run.model.state_dict().items()},
    }, seconds


def make_results() -> str:
    """Measure every model from every seed of :data:`SEEDS` whose checkpoint is there (:func:`checkpoint`)
    on the lab's judges; return results.json's text. Each architecture's spectral detector is fit on the
    seed-0 frames of the other four, and scores every seed of it."""
    lab = judges(
        reader=FactorReader.from_state_dict(assets.load("lab03/reader.pt")),
        net=FeatureNet.from_state_dict(assets.load("lab06/features.pt")),
        blend=BlendDetector.from_state_dict(assets.load("lab07/blend.pt")),
    )
    others = faces.render(2 * TEST_FACES, resolution=32, domain="B", seed=EVAL_SEED)[TEST_FACES:]
    trained = {(name, seed): path for seed in SEEDS for name in STEMS if (path := checkpoint(name, seed)).is_file()}
    missing = [f"{name} from seed {seed}" for seed in SEEDS for name in STEMS if (name, seed) not in trained]
    if any((name, 0) not in trained for name in STEMS):
        raise SystemExit(
            "make_lab08 results needs the five models from seed 0: run make_lab03 and make_lab08 h128 liae_ud ae"
        )
    measured = {
        key: measure(models.from_checkpoint(torch.load(path, weights_only=True)), lab) for key, path in trained.items()
    }
    detectors = {
        name: spectral_detector([measured[other, 0].frames for other in STEMS if other != name], lab) for name in STEMS
    }
    results = {}
    for name in STEMS:
        seeds = [seed for seed in SEEDS if (name, seed) in trained]
        runs = [
            record(measured[name, seed], spectral_scores(detectors[name], measured[name, seed].frames, lab))
            for seed in seeds
        ]
        results[name] = {"parameters": measured[name, 0].parameters, "seeds": seeds, "runs": runs}
    if missing:
        print("not trained yet (make_lab08 seeds), so not in results.json:", ", ".join(missing), flush=True)
    return (
        json.dumps(
            {
                "about": "lab 08's benchmark: python -m aelab.assets.make_lab08 results "
                "(aelab.scorecard.Seeds reads it)",
                "floor": {key: rounded(value) for key, value in floor(lab, others).items()},
                "real_blend": rounded(blend_members(lab, lab.real_frames[lab.half :])),
                "models": results,
            },
            separators=(",", ":"),
        )
        + "\n"
    )
