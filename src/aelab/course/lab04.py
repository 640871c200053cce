"""Lab 04's recipe: SAEHD's training options measured one at a time -- runs, held-out metrics, effects vs noise.

Each option of SAEHD's recipe (``models/Model_SAEHD/Model.py``, ``on_initialize_options``) is switched
on its own against a baseline -- the seed model card's recipe at lab size -- and scored on the
held-out metric it is meant to move:

- ``masked_training`` -- the reconstruction error inside the face mask (``masked_error``); the error
  over the whole image (``whole_error``) shows what it gives up;
- ``learn_mask`` -- the learned mask's error against the true mask (``mask_error``; ``mask_iou``);
- ``eyes_mouth_prio`` -- the error inside the eyes-and-mouth mask (``em_error``); the swap's gaze and
  smile carry-over (``carry_over``, read by :class:`aelab.metrics.FactorReader`);
- ``random_warp``, the flips, ``blur_out_mask``, ``clipgrad``, ``lr_dropout``, ``pretrain`` -- the swap
  against the true swap (``swap_error``); ``gap`` = swap error minus reconstruction error;
- ``uniform_yaw`` -- the swap error on the quarter of the faces with the largest |yaw|
  (``extreme_yaw_error``).

Errors are mean squared errors of images (N, 3, H, W) in [0, 1], per face, averaged over the
held-out faces (:meth:`aelab.train.Trainer.held_out`, never in a training pool). The baseline and
every option are trained with several seeds; an option's effect is the difference of its mean over
seeds from the baseline's, with a 95 % interval from Welch's t over the per-seed figures
(:func:`aelab.stats.seed_difference`), and the options form one family: an effect is *called* where
its interval excludes 0 after Holm's correction for all of them (:func:`called`, :data:`aelab.stats.RULE`).

**The shipped study** (:func:`make`, run by ``python -m aelab.assets.make_lab04``): the baseline with
seeds :data:`BASELINE_SEEDS` and each option of :data:`OPTIONS` switched with seeds
:data:`OPTION_SEEDS`, each for :data:`STEPS` steps on one torch thread in its own worker process,
every run scored by :func:`measure` with lab 03's factor reader. Its files in ``lab04/``:

- ``results.json``: ``steps``, ``baseline`` (the config), ``runs`` -- one ``{"option", "seed",
  "metrics", "history"}`` per run, ``option`` None for the baseline, ``history`` the first
  :data:`HISTORY_STEPS` values of ``src_total`` (what the lab's short retrain repeats);
- ``baseline.pt`` and ``masked_training.pt``: the baseline and the run without masked training
  (seed 0) as ``{"config", "iteration", "state_dict"}`` (float16 weights), for the lab's previews.

Runs are independent and seeded, so the results do not depend on the number of workers; the bytes
repeat with the same torch version and aelab code on the same CPU kind.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from multiprocessing import get_context
from typing import Any

import torch

from aelab import assets, losses, metrics, stats
from aelab.data import faces
from aelab.train import Config, Trainer
from aelab.validate import check_int

__all__ = [
    "BASELINE",
    "OPTIONS",
    "LOWER_IS_BETTER",
    "STEPS",
    "BASELINE_SEEDS",
    "OPTION_SEEDS",
    "HISTORY_STEPS",
    "SHIPPED",
    "config_for",
    "train_run",
    "measure",
    "per_seed",
    "comparisons",
    "called",
    "load_reader",
    "run",
    "make",
]

#: The seed card's recipe at lab size: masked training, learned mask, eyes and mouth priority,
#: random warp, DFL's flips (dst only), no pretraining; LIAE at 32 px with narrow layers, AdaBelief at
#: lr 5e-4 (DFL: 5e-5, too slow for a few hundred steps).
BASELINE: dict[str, Any] = {
    "archi": "liae",
    "resolution": 32,
    "ae_dims": 16,
    "e_dims": 8,
    "d_dims": 8,
    "d_mask_dims": 8,
    "batch_size": 8,
    "masked_training": True,
    "learn_mask": True,
    "eyes_mouth_prio": True,
    "random_warp": True,
    "random_src_flip": False,
    "random_dst_flip": True,
    "uniform_yaw": False,
    "blur_out_mask": False,
    "pretrain": False,
    "clipgrad": False,
    "lr_dropout": False,
    "optimizer": "adabelief",
    "lr": 5e-4,
    "target_iter": 0,
}
#: Each option switched away from the baseline, and the held-out metric it is judged on.
OPTIONS: dict[str, str] = {
    "masked_training": "masked_error",
    "learn_mask": "mask_error",
    "eyes_mouth_prio": "em_error",
    "random_warp": "swap_error",
    "random_src_flip": "swap_error",
    "random_dst_flip": "swap_error",
    "uniform_yaw": "extreme_yaw_error",
    "blur_out_mask": "swap_error",
    "pretrain": "swap_error",
    "clipgrad": "swap_error",
    "lr_dropout": "swap_error",
}
#: The metrics where lower is better (the rest -- ``mask_iou``, ``carry_over`` -- higher is better).
LOWER_IS_BETTER = ("masked_error", "whole_error", "mask_error", "em_error", "swap_error", "gap", "extreme_yaw_error")


def config_for(option: str | None) -> Config:
    """The baseline's :class:`aelab.train.Config`, or with ``option`` (a key of :data:`OPTIONS`) switched."""
    values = dict(BASELINE)
    if option is not None:
        if option not in OPTIONS:
            raise ValueError(f"option must be one of {', '.join(OPTIONS)} (or None for the baseline), got {option!r}")
        values[option] = not values[option]
    return Config(**values)


def train_run(option: str | None, seed: int, steps: int, *, pool_size: int = 256, progress: bool = False) -> Trainer:
    """Train the baseline (``option=None``) or one switched option for ``steps`` steps on the CPU.

    With ``pretrain`` switched on, the model first pretrains ``steps`` steps on "mixed" faces, then
    leaves pretraining as DeepFaceLab does (:meth:`aelab.train.Trainer.end_pretrain`: inter
    re-initialised) and trains ``steps`` steps on src/dst: the same budget after the warm start.
    """
    steps = check_int("steps", steps, minimum=1)
    trainer = Trainer(config_for(option), device="cpu", seed=seed, pool_size=pool_size)
    if trainer.config.pretrain:
        trainer.fit(steps, progress=progress)
        trainer.end_pretrain()
    trainer.fit(steps, progress=progress)
    return trainer


def _masked_mse(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-image MSE of (N, C, H, W) ``a`` and ``b`` over the pixels weighted by (N, 1, H, W) ``mask``."""
    weight = mask.expand_as(a)
    return ((a - b).square() * weight).flatten(1).sum(1) / weight.flatten(1).sum(1).clamp_min(1e-8)


@torch.no_grad()
def measure(trainer: Trainer, reader: metrics.FactorReader, *, n: int = 128) -> dict[str, float]:
    """The held-out metrics of a trained run (see the module doc) on ``n`` src and dst faces."""
    n = check_int("n", n, minimum=4)
    src, dst = trainer.held_out(n)
    out = trainer.reconstruct(src.images, dst.images)
    truth = faces.render_swap(dst, "A")
    em = dst.eyes_mouth_mask
    masked_error = _masked_mse(out.pred_dst_dst, dst.images, dst.face_mask)
    swap_error = _masked_mse(out.pred_src_dst, truth.images, truth.face_mask)
    extreme = dst.factors["yaw"].abs() >= dst.factors["yaw"].abs().quantile(0.75)
    predicted, true_mask = out.pred_dst_dstm > 0.5, dst.face_mask > 0.5
    iou = (predicted & true_mask).flatten(1).sum(1) / (predicted | true_mask).flatten(1).sum(1).clamp_min(1)
    carry = metrics.score_swaps(trainer.model, dst, reader).carry_over
    return {
        "masked_error": float(masked_error.mean()),
        "whole_error": float(losses.mse(out.pred_dst_dst, dst.images)),
        "mask_error": float(losses.mse(out.pred_dst_dstm, dst.face_mask)),
        "mask_iou": float(iou.float().mean()),
        "em_error": float(
            ((out.pred_dst_dst - dst.images).abs() * em)
            .flatten(1)
            .sum(1)
            .div(3 * em.flatten(1).sum(1).clamp_min(1e-8))
            .mean()
        ),
        "swap_error": float(swap_error.mean()),
        "gap": float((swap_error - masked_error).mean()),
        "extreme_yaw_error": float(swap_error[extreme].mean()),
        "carry_over": float(sum(carry[k] for k in ("gaze_x", "gaze_y", "smile")) / 3),
    }


def per_seed(runs: Sequence[Mapping[str, Any]], option: str | None, metric: str) -> list[float]:
    """One figure per seed: ``metric`` of every run ``{"option", "seed", "metrics"}`` of ``option``
    (None: the baseline), in the order of the runs."""
    return [float(r["metrics"][metric]) for r in runs if r["option"] == option]


def comparisons(runs: Sequence[Mapping[str, Any]], metrics: Mapping[str, str] = OPTIONS) -> dict[str, stats.Comparison]:
    """Each option of ``metrics`` (option -> metric, by default :data:`OPTIONS`) that has runs, against the
    baseline on its metric: option − baseline over the per-seed figures, Welch's t
    (:func:`aelab.stats.seed_difference`). Both need at least two seeds."""
    base = [r for r in runs if r["option"] is None]
    if len(base) < 2:
        raise ValueError(f"comparisons needs the baseline trained with at least 2 seeds, got {len(base)}")
    table = {}
    for option, metric in metrics.items():
        values = per_seed(runs, option, metric)
        if len(values) == 1:
            raise ValueError(f"comparisons needs each option with at least 2 seeds, got 1 run of {option!r}")
        if values:
            table[option] = stats.seed_difference(values, per_seed(runs, None, metric))
    return table


def called(runs: Sequence[Mapping[str, Any]], *, alpha: float = 0.05) -> dict[str, stats.Called]:
    """The options of :data:`OPTIONS` as one family (:func:`aelab.stats.family`): each one's difference
    from the baseline on its own metric, its p-value, Holm's adjusted p-value and whether it is called
    (the family-wise rate of false calls at most ``alpha``)."""
    return stats.family(comparisons(runs), alpha=alpha)


# --------------------------------------------------------------------------------------------------
# The shipped study (python -m aelab.assets.make_lab04)

STEPS = 150
BASELINE_SEEDS = (0, 1, 2)
OPTION_SEEDS = (0, 1, 2)
HISTORY_STEPS = 10
#: The runs whose weights ship: file stem -> option (None: the baseline), all seed 0.
SHIPPED = {"baseline": None, "masked_training": "masked_training"}


def load_reader() -> metrics.FactorReader:
    """Lab 03's factor reader, verified against the assets' manifest."""
    return metrics.FactorReader.from_state_dict(assets.load("lab03/reader.pt"))


def run(job: tuple[str | None, int]) -> dict[str, Any]:
    """Train and score one run ``(option, seed)`` on one torch thread; return its entry of
    ``results.json`` (and its weights when shipped)."""
    torch.set_num_threads(1)
    option, seed = job
    trainer = train_run(option, seed, STEPS)
    entry: dict[str, Any] = {
        "option": option,
        "seed": seed,
        "metrics": measure(trainer, load_reader()),
        "history": trainer.history["src_total"][:HISTORY_STEPS],
    }
    if seed == 0 and option in SHIPPED.values():
        entry["weights"] = {
            "config": trainer.config.to_dict(),
            "iteration": trainer.iteration,
            "state_dict": {k: v.half() for k, v in trainer.model.state_dict().items()},
        }
    print(f"done {option or 'baseline'} seed {seed}", flush=True)
    return entry


def make(workers: int = 5) -> dict[str, Any]:
    """Every run of the study in ``workers`` processes; return the files of ``lab04/``: name -> contents
    (``results.json`` as its text)."""
    jobs = [(None, s) for s in BASELINE_SEEDS] + [(o, s) for o in OPTIONS for s in OPTION_SEEDS]
    jobs.sort(key=lambda job: job[0] != "pretrain")  # the longest run (it trains twice) first
    with get_context("spawn").Pool(check_int("workers", workers, minimum=1)) as pool:
        entries = pool.map(run, jobs, chunksize=1)
    files: dict[str, Any] = {}
    for stem, option in SHIPPED.items():
        files[f"{stem}.pt"] = next(e for e in entries if e["option"] == option and e["seed"] == 0).pop("weights")
    for entry in entries:
        entry.pop("weights", None)
    files["results.json"] = json.dumps({"steps": STEPS, "baseline": BASELINE, "runs": entries}, indent=1) + "\n"
    return files
