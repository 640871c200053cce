"""The seed card's benchmark of architectures (lab 08): several swapping models, one budget, one table.

The seed model card's future work asks for "a benchmark of architectures on perceptual realism". The
kit answers it on its synthetic faces, where every swap has a true answer. Every model trains on the
same data (SynthFaces A as src, B as dst), with the same recipe and the same number of steps
(``python -m aelab.assets.make_lab08``), and every one is then measured on the same held-out dst
faces (:class:`Judges`), one row of :func:`table` each:

- **pixels** against the true swap, inside the face: SSIM and PSNR (:func:`aelab.metrics.score_swap_images`);
- **what carries over and what leaks**, read by lab 03's factor reader: the mean carry-over R² of the
  pose (yaw, pitch, roll) and the mean identity leak (0: src's identity, 1: dst's);
- **realism as a set**: Fréchet distance, KID, precision and recall of the merged swaps against the
  merged true swaps, in lab 06's feature network (:func:`aelab.realism.swap_realism`);
- **detectability** by lab 07's detectors, as held-out ROC AUC (0.5: undetectable): its shipped
  blend detector (trained on self-blended real faces only) on frames merged by DeepFaceLab's merger
  (:mod:`aelab.merge`, :data:`MERGE`) against real dst frames, and a linear spectral detector (Durall
  et al. 2020) fit on half the swaps against their true swaps and tested on the other half;
- **cost**: parameters, and the CPU time of one training step on this machine (shown, never
  compared: it is not the same on two machines).

:func:`pareto_front` names the models that no other beats on both quality and detectability;
:func:`figure` draws the swaps and that trade-off. :data:`MODELS` holds the benchmark's five
models at lab size (32 px); :func:`build` makes any of them, :func:`trainer` trains a model on the
benchmark's recipe. Images are tensors (N, 3, H, W) of floats in [0, 1]; masks (N, 1, H, W).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch

from aelab import merge, metrics, models, realism, report
from aelab.data import faces
from aelab.forensics import BlendDetector, SpectralDetector, auc, labelled
from aelab.metrics import FactorReader
from aelab.plotting import Figure
from aelab.realism import FeatureNet
from aelab.train import Config, Trainer
from aelab.validate import check_int, check_seed

__all__ = ["MODELS", "POSE", "MERGE_MASK", "MERGE", "COLUMNS", "Judges", "Row", "build", "spec_of", "load", "trainer",
           "step_time", "score", "table", "pareto_front", "figure"]

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
#: The factors whose mean carry-over R² is the table's "pose R²".
POSE: tuple[str, ...] = ("yaw", "pitch", "roll")
#: How swaps are merged into their frames for the blend detector: DeepFaceLab's default working mask
#: (learned-prd*learned-dst, :data:`MERGE_MASK`), its edge blurred by 16 pixels of the 4x mask (as in
#: lab 07), recoloured toward dst by rct -- which hides part of the seam (lab 07), so that the detector
#: has work to do.
MERGE_MASK = "learned-prd*learned-dst"
MERGE: dict[str, Any] = {"blur_mask_modifier": 16, "ct_mode": "rct"}
#: The table's columns: name -> (decimals, higher is better; None: shown, not ranked).
COLUMNS: dict[str, tuple[int, bool | None]] = {
    "ms/step": (0, None), "SSIM": (2, True), "PSNR": (1, True), "pose R²": (2, True), "leak": (2, False),
    "FD": (1, False), "KID": (2, False), "precision": (2, True), "recall": (2, True),
    "AUC blend": (2, False), "AUC spectral": (2, False),
}


def spec_of(saved: Mapping[str, Any]) -> dict[str, Any]:
    """The model spec of a shipped checkpoint: its ``model`` entry (lab 08's files), else the SAEHD
    archi and dims of its ``config`` (lab 03's), with the resolution."""
    if "model" in saved:
        return dict(saved["model"])
    return {key: saved["config"][key] for key in models.CONFIG_KEYS}


def build(spec: Mapping[str, Any], *, seed: int = 0) -> models.SwapModel:
    """The model a spec describes, its weights drawn from ``seed`` (torch's global generator is left as
    it was): ``archi`` "h128" (:class:`aelab.models.H128`: ``ae_dims``, ``e_dims``), "ae"
    (:class:`aelab.models.SwapAutoencoder`: ``latent_dims``, ``width``) or an SAEHD archi such as
    "liae-ud" (:func:`aelab.models.build`: ``ae_dims``, ``e_dims``, ``d_dims``, ``d_mask_dims``); and
    ``resolution``."""
    seed = check_seed("seed", seed)
    values = dict(spec)
    archi = values.pop("archi", None)
    if archi not in ("h128", "ae"):
        return models.build(dict(spec), seed=seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return models.H128(**values) if archi == "h128" else models.SwapAutoencoder(**values)


def load(saved: Mapping[str, Any]) -> models.SwapModel:
    """A shipped checkpoint's model (lab 03's or lab 08's file, read with ``torch.load(...,
    weights_only=True)``), its float16 weights as float32, in eval mode."""
    model = build(spec_of(saved))
    model.load_state_dict({key: value.float() for key, value in saved["state_dict"].items()})
    return model.eval()


def _config(model: models.SwapModel, recipe: Mapping[str, Any]) -> Config:
    """The trainer's configuration: the recipe, with a DF or LIAE model's own archi and dims (any other
    model is trained with the recipe alone; its config names DF, whose wiring it has)."""
    values = {**recipe, "resolution": model.resolution}
    if isinstance(model, models.SAEHD):
        values.update(archi=model.archi, ae_dims=model.ae_dims, e_dims=model.e_dims, d_dims=model.d_dims,
                      d_mask_dims=model.d_mask_dims)
    else:
        values["archi"] = "df"
    return Config(**values)


def trainer(model: models.SwapModel, recipe: Mapping[str, Any], *, seed: int = 0, pool_size: int = 512) -> Trainer:
    """A :class:`aelab.train.Trainer` of ``model`` on the benchmark's data with ``recipe`` (the fields of
    :class:`aelab.train.Config` but the archi, e.g. lab 03's ``LAB_CONFIG``). With ``model =
    build(spec, seed=seed)`` it repeats, step for step, the run that made the shipped checkpoint."""
    if not isinstance(model, models.SwapModel):
        raise TypeError(f"model must be an aelab.models.SwapModel (e.g. from benchmark.build), got {type(model).__name__}")
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


@dataclass(frozen=True)
class Judges:
    """What every model is measured with: held-out dst faces (:class:`aelab.data.faces.FaceBatch`, an
    even number: the spectral detector fits on the first half's swaps and is tested on the second's,
    whose merged frames the blend detector meets), lab 03's factor reader, lab 06's feature network,
    lab 07's blend detector and real dst frames for it (no face of ``dst``), and the domain whose
    identity the swaps should show."""

    dst: faces.FaceBatch
    reader: FactorReader
    net: FeatureNet
    blend: BlendDetector
    real_frames: torch.Tensor
    src_domain: str = "A"

    def __post_init__(self) -> None:
        if not isinstance(self.dst, faces.FaceBatch) or len(self.dst) % 2 or len(self.dst) < 64:
            raise ValueError("dst must be a FaceBatch of an even number (at least 64) of held-out dst faces")
        for name, kind in (("reader", FactorReader), ("net", FeatureNet), ("blend", BlendDetector)):
            if not isinstance(getattr(self, name), kind):
                raise TypeError(f"{name} must be a {kind.__name__}, got {type(getattr(self, name)).__name__}")


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


@torch.no_grad()
def score(model: models.SwapModel, judges: Judges, *, step_seconds: float) -> Row:
    """A model's :class:`Row` on ``judges``' faces; ``step_seconds`` from :func:`step_time`."""
    if not isinstance(model, models.SwapModel):
        raise TypeError(f"model must be an aelab.models.SwapModel, got {type(model).__name__}")
    dst = judges.dst.to("cpu")
    swap = metrics.swaps_of(model, dst)
    image, mask = swap.pred_src_dst, swap.pred_src_dstm
    pixels = metrics.score_swap_images(image, mask, dst, judges.reader, src_domain=judges.src_domain)
    sets = realism.swap_realism(image, mask, dst, judges.net, src_domain=judges.src_domain)
    half = len(dst) // 2
    frames = merge.merge(dst.images[half:], image[half:], merge.working_mask(
        MERGE_MASK, pred_src_dstm=mask[half:], pred_dst_dstm=swap.pred_dst_dstm[half:]), **MERGE).images
    truth = faces.render_swap(dst, judges.src_domain).images
    spectral = SpectralDetector("azimuthal").fit(*labelled(truth[:half], image[:half]))
    blend_scores = torch.cat([judges.blend.score(judges.real_frames), judges.blend.score(frames)])
    return Row(
        parameters=models.count_parameters(model),
        step_seconds=float(step_seconds),
        ssim=pixels.ssim,
        psnr=pixels.psnr,
        pose_r2=sum(pixels.carry_over[name] for name in POSE) / len(POSE),
        leak=pixels.mean_leak,
        fd=sets.fd,
        kid=sets.kid.mean,
        precision=sets.prdc.precision,
        recall=sets.prdc.recall,
        auc_blend=auc(blend_scores, labelled(judges.real_frames, frames)[1]),
        auc_spectral=auc(spectral.score(torch.cat([truth[half:], image[half:]])), labelled(truth[half:], image[half:])[1]),
    )


def table(rows: Mapping[str, Row], bands: Mapping[str, Mapping[str, tuple[float, float]]]) -> dict[str, dict[str, float]]:
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
            for column, value in row.cells().items()}
    return report.table(lines, digits={column: digits for column, (digits, _) in COLUMNS.items()},
                        label=f"{'model':<{width}} {'parameters':>10}")


def pareto_front(points: Mapping[str, tuple[float, float]]) -> list[str]:
    """The names of ``points`` (name -> (quality, detectability)) that no other point dominates: none has
    a quality at least as high and a detectability at least as low, one of them strictly. In the
    order given."""
    items = [(str(name), float(q), float(d)) for name, (q, d) in points.items()]
    return [name for name, q, d in items
            if not any(q2 >= q and d2 <= d and (q2 > q or d2 < d) for _, q2, d2 in items)]


def figure(rows: Mapping[str, Row], swaps: Mapping[str, torch.Tensor], dst: torch.Tensor, truth: torch.Tensor, *,
           quality: str = "SSIM", detectability: str = "AUC blend") -> Figure:
    """The benchmark in one picture: left, each model's swaps (images (n, 3, R, R) in [0, 1]) under the dst
    faces and their true swaps; right, every model's ``quality`` against its ``detectability`` (columns
    of :data:`COLUMNS`), the marker's area growing with its parameters, the Pareto front
    (:func:`pareto_front`) joined by a line."""
    for column in (quality, detectability):
        if column not in COLUMNS:
            raise ValueError(f"{column!r} is not a column; choose from {', '.join(COLUMNS)}")
    names = list(rows)
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
    left.suptitle("swaps of held-out dst faces", fontsize=9)
    ax = right.subplots()
    points = {name: (row.cells()[quality], row.cells()[detectability]) for name, row in rows.items()}
    largest = max(row.parameters for row in rows.values())
    for name, (q, d) in points.items():
        ax.scatter(d, q, s=40 + 400 * rows[name].parameters / largest, alpha=0.6)
        ax.annotate(name, (d, q), fontsize=8, xytext=(4, 4), textcoords="offset points")
    front = sorted((points[name][1], points[name][0]) for name in pareto_front(points))
    ax.plot([d for d, _ in front], [q for _, q in front], color="grey", linestyle=":", label="Pareto front")
    ax.set(xlabel=f"{detectability} (lower: harder to detect)", ylabel=f"{quality} (higher: better)")
    ax.legend(fontsize=7)
    right.suptitle("quality against detectability (area: parameters)", fontsize=9)
    return result

