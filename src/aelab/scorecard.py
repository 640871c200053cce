"""One swapping model measured as a whole on held-out faces, where every swap has a true answer.

The figures (lab 08's benchmark of architectures reads them for every model it compares):

- **pixels** against the true swap, inside the face: SSIM and PSNR per face;
- **what carries over and what leaks**, read by a factor reader (:class:`aelab.metrics.FactorReader`):
  per face, its share of the pose carry-over R² (:data:`POSE`) and its identity leak (0: src's
  identity, 1: dst's);
- **realism as a set**: Fréchet distance, KID, precision and recall of the merged swaps against the
  merged true swaps, in a feature network (:func:`aelab.realism.swap_realism`);
- **detectability** of merged frames (DeepFaceLab's merger, :mod:`aelab.merge`, :data:`MERGE`) against
  real dst frames: each member of a blend detector's scores (:func:`blend_members`), and a linear
  spectral detector (Durall et al. 2020) fit on *other* models' frames and read after a resize to half
  size and back (:data:`SPECTRAL_DEGRADE`; :func:`spectral_detector`, :func:`spectral_scores`).

:class:`Judges` holds what every model is measured with; :func:`measure` gives a model's
:class:`Measured` figures; :func:`floor` the set figures of two real sets. Images are tensors (N, 3, H,
W) of floats in [0, 1]; masks (N, 1, H, W).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from aelab import losses, merge, metrics, models, realism, stats
from aelab.data import faces
from aelab.featurenet import FeatureNet
from aelab.forensics import BlendDetector, SpectralDetector, labelled
from aelab.forensics.degrade import degrade
from aelab.metrics import FactorReader
from aelab.validate import check_instance, check_int, check_seed

__all__ = [
    "POSE",
    "MERGE_MASK",
    "MERGE",
    "SPECTRAL_DEGRADE",
    "Judges",
    "Measured",
    "merged_frames",
    "blend_members",
    "measure",
    "spectral_detector",
    "spectral_scores",
    "floor",
    "SEED_COLUMNS",
    "Seeds",
    "rounded",
    "record",
    "leader",
    "share",
]

#: The factors whose mean carry-over R² is the table's "pose R²".
POSE: tuple[str, ...] = ("yaw", "pitch", "roll")
#: How swaps are merged into their frames for the blend detector: DeepFaceLab's default working mask
#: (learned-prd*learned-dst, :data:`MERGE_MASK`), its edge blurred by 16 pixels of the 4x mask (as in
#: lab 07), recoloured toward dst by rct -- which hides part of the seam (lab 07), so that the detector
#: has work to do.
MERGE_MASK = "learned-prd*learned-dst"
MERGE: dict[str, Any] = {"blur_mask_modifier": 16, "ct_mode": "rct"}
#: The spectral detector's setting: every frame (merged swap or real) resized to half its size and back
#: (:func:`aelab.forensics.degrade.degrade`), as a re-upload does, before a linear spectral detector
#: that never saw the model it is tested on (:func:`spectral_detector`) reads it.
SPECTRAL_DEGRADE: dict[str, Any] = {"resize": 0.5}


@dataclass(frozen=True)
class Judges:
    """What every model is measured with: held-out dst faces (:class:`aelab.data.faces.FaceBatch`, an
    even number), a factor reader (lab 03's), a feature network (lab 06's), a blend detector (lab
    07's), real dst frames (no face of ``dst``; as many as ``dst``), and the domain whose identity the
    swaps should show.

    Each half has its role: the detectors are tested on the merged frames of ``dst``'s second half
    against the second half of ``real_frames``; a spectral detector is fit on first halves only."""

    dst: faces.FaceBatch
    reader: FactorReader
    net: FeatureNet
    blend: BlendDetector
    real_frames: torch.Tensor
    src_domain: str = "A"

    def __post_init__(self) -> None:
        if len(faces.check_face_batch("dst", self.dst)) % 2 or len(self.dst) < 64:
            raise ValueError("dst must be a FaceBatch of an even number (at least 64) of held-out dst faces")
        for name, kind in (("reader", FactorReader), ("net", FeatureNet), ("blend", BlendDetector)):
            check_instance(name, getattr(self, name), kind)
        if not isinstance(self.real_frames, torch.Tensor) or len(self.real_frames) != len(self.dst):
            raise ValueError(f"real_frames must hold as many real frames as dst has faces ({len(self.dst)})")

    @property
    def half(self) -> int:
        """The number of test frames per side (half the faces)."""
        return len(self.dst) // 2


@dataclass(frozen=True)
class Measured:
    """One model's figures on :class:`Judges`, per test face where the figure has one.

    ``ssim``, ``psnr`` (N,): each swap against its true swap inside the face. ``pose`` (N,): face i's
    share of the pose carry-over, 1 − mean over :data:`POSE` of (target − reading)² / var(target), whose
    mean over the faces is the mean R²; ``leak`` (N,): face i's identity leak, the mean over
    :data:`aelab.metrics.IDENTITY_READ` of (reading of the swap − reading of the truth) / the mean gap
    between dst and the truth, whose mean is :func:`aelab.metrics.identity_leak`'s mean. ``fd``,
    ``kid``, ``precision``, ``recall``: the merged swaps as a set (:func:`aelab.realism.swap_realism`).
    ``blend`` (members, N/2): each member of the blend detector on the merged frames of the second half
    (their mean is the detector's score); ``frames`` (N, 3, R, R): the merged frames (:data:`MERGE`)."""

    parameters: int
    ssim: torch.Tensor
    psnr: torch.Tensor
    pose: torch.Tensor
    leak: torch.Tensor
    fd: float
    kid: float
    precision: float
    recall: float
    blend: torch.Tensor
    frames: torch.Tensor


def merged_frames(model: models.SwapModel, judges: Judges) -> tuple[models.SAEHDSwap, torch.Tensor]:
    """A model's swaps of the judges' dst faces and the frames DeepFaceLab's merger makes of them
    (:data:`MERGE`, through :data:`MERGE_MASK`)."""
    if not isinstance(model, models.SwapModel):
        raise TypeError(f"model must be an aelab.models.SwapModel, got {type(model).__name__}")
    dst = judges.dst.to("cpu")
    swap = metrics.swaps_of(model, dst)
    mask = merge.working_mask(MERGE_MASK, pred_src_dstm=swap.pred_src_dstm, pred_dst_dstm=swap.pred_dst_dstm)
    return swap, merge.merge(dst.images, swap.pred_src_dst, mask, **MERGE).images


def blend_members(judges: Judges, frames: torch.Tensor) -> torch.Tensor:
    """Each member of the judges' blend detector on ``frames``: (members, N) probabilities."""
    with torch.no_grad():
        return torch.stack([torch.sigmoid(net(frames)) for net in judges.blend.nets_])


@torch.no_grad()
def measure(model: models.SwapModel, judges: Judges) -> Measured:
    """A model's :class:`Measured` figures on ``judges``."""
    swap, frames = merged_frames(model, judges)
    dst, half = judges.dst.to("cpu"), judges.half
    image, mask = swap.pred_src_dst, swap.pred_src_dstm
    truth = faces.render_swap(dst, judges.src_domain)
    face = truth.face_mask
    read_swap = judges.reader.predict(image * mask)
    read_truth = judges.reader.predict(truth.images * face)
    read_dst = judges.reader.predict(dst.images * dst.face_mask)
    targets = metrics.factor_targets(dst.factors)
    pose = 1.0 - torch.stack(
        [(targets[n].double() - read_swap[n].double()).pow(2) / targets[n].double().var(unbiased=False) for n in POSE]
    ).mean(0)
    kept = [n for n in metrics.IDENTITY_READ if n in judges.reader.names]
    leak = torch.stack(
        [
            (read_swap[n].double() - read_truth[n].double()) / (read_dst[n].double() - read_truth[n].double()).mean()
            for n in kept
        ]
    ).mean(0)
    sets = realism.swap_realism(image, mask, dst, judges.net, src_domain=judges.src_domain)
    return Measured(
        parameters=models.count_parameters(model),
        ssim=losses.ssim(image * face, truth.images * face, reduction="none").double(),
        psnr=metrics.masked_psnr(image, truth.images, face).double(),
        pose=pose,
        leak=leak,
        fd=sets.fd,
        kid=sets.kid.mean,
        precision=sets.prdc.precision,
        recall=sets.prdc.recall,
        blend=blend_members(judges, frames[half:]).double(),
        frames=frames,
    )


def spectral_detector(frames: list[torch.Tensor], judges: Judges) -> SpectralDetector:
    """A linear spectral detector (Durall et al., azimuthal spectrum) fit on the first half of each of
    ``frames`` (merged frames of other models, from :func:`merged_frames`) against as many copies of the
    first half of the real frames, all degraded by :data:`SPECTRAL_DEGRADE`."""
    if not frames:
        raise ValueError("give the merged frames of at least one model to fit the spectral detector on")
    half = judges.half
    fake = degrade(torch.cat([f[:half] for f in frames]), **SPECTRAL_DEGRADE)
    real = degrade(judges.real_frames[:half], **SPECTRAL_DEGRADE).repeat(len(frames), 1, 1, 1)
    return SpectralDetector("azimuthal").fit(*labelled(real, fake))


def spectral_scores(
    detector: SpectralDetector, frames: torch.Tensor, judges: Judges
) -> tuple[torch.Tensor, torch.Tensor]:
    """``detector``'s scores of the real test frames and of the second half of ``frames``, both
    degraded by :data:`SPECTRAL_DEGRADE`: (real (N/2,), fake (N/2,))."""
    half = judges.half
    real, fake = (degrade(x, **SPECTRAL_DEGRADE) for x in (judges.real_frames[half:], frames[half:]))
    return detector.score(real).double(), detector.score(fake).double()


def floor(judges: Judges, others: faces.FaceBatch) -> dict[str, float]:
    """FD, KID, precision and recall of two real sets: the true swaps of ``others`` (dst faces that are
    not the judges') against the judges' true swaps, both merged into their frames through their own
    face masks as :func:`aelab.realism.swap_realism` does -- what a perfect model would score."""

    def merged(batch: faces.FaceBatch) -> torch.Tensor:
        truth = faces.render_swap(batch, judges.src_domain)
        return judges.net.features(merge.merge(batch.images, truth.images, truth.face_mask).images)

    sets = realism.realism(merged(judges.dst.to("cpu")), merged(others.to("cpu")))
    return {"FD": sets.fd, "KID": sets.kid.mean, "precision": sets.prdc.precision, "recall": sets.prdc.recall}


#: The seed-level table's columns (:class:`Seeds`): name -> (decimals, higher is better). The first four
#: and the two AUCs are resampled over test faces as well as seeds; FD, KID, precision and recall are
#: figures of a whole set, taken over seeds only.
SEED_COLUMNS: dict[str, tuple[int, bool]] = {
    "SSIM": (3, True),
    "PSNR": (2, True),
    "pose R²": (3, True),
    "leak": (3, False),
    "FD": (1, False),
    "KID": (3, False),
    "precision": (3, True),
    "recall": (3, True),
    "AUC blend": (3, False),
    "AUC spectral": (3, False),
}
_PER_FACE = {"SSIM": "ssim", "PSNR": "psnr", "pose R²": "pose", "leak": "leak"}
_PER_SET = {"FD": "fd", "KID": "kid", "precision": "precision", "recall": "recall"}


def rounded(values: torch.Tensor | float) -> Any:
    """Numbers as JSON keeps them: 5 significant digits."""
    if isinstance(values, torch.Tensor):
        return (
            [float(f"{v:.5g}") for v in values.double().flatten().tolist()]
            if values.dim() < 2
            else [rounded(v) for v in values]
        )
    return float(f"{values:.5g}")


def record(measured: Measured, spectral: tuple[torch.Tensor, torch.Tensor]) -> dict[str, Any]:
    """What results.json keeps of one trained model: its per-face figures, its set figures, each blend
    member's and the spectral detector's scores of its merged test frames (``spectral``: the real and
    fake scores of :func:`spectral_scores`)."""
    return {
        "ssim": rounded(measured.ssim),
        "psnr": rounded(measured.psnr),
        "pose": rounded(measured.pose),
        "leak": rounded(measured.leak),
        "fd": rounded(measured.fd),
        "kid": rounded(measured.kid),
        "precision": rounded(measured.precision),
        "recall": rounded(measured.recall),
        "blend": rounded(measured.blend),
        "spectral": {"real": rounded(spectral[0]), "fake": rounded(spectral[1])},
    }


def _auc_matrix(real: Any, fake: Any) -> np.ndarray:
    """(fake, real) -> 1 where the fake scores higher, 0.5 on a tie: its mean is the ROC AUC."""
    real, fake = np.asarray(real, dtype=float), np.asarray(fake, dtype=float)
    return (fake[:, None] > real[None, :]) + 0.5 * (fake[:, None] == real[None, :])


class Seeds:
    """The benchmark over its training seeds: ``results.json`` as :mod:`aelab.assets.make_lab08` writes
    it (``models``: name -> ``parameters``, ``seeds`` and ``runs``, one :func:`record` per seed;
    ``real_blend``: each blend member's scores of the real test frames; ``floor``: :func:`floor`).

    Each figure of :data:`SEED_COLUMNS` is known per seed (:meth:`per_seed`). :meth:`interval` gives
    its mean over seeds with a 95 % interval that holds both sources of chance: Student's t over the
    seeds' figures (:func:`aelab.stats.seed_interval`), widened in quadrature by the half-width of a
    bootstrap over test faces (and, for the AUCs, over fake and real test frames) of the seed mean --
    the set figures (FD, KID, precision, recall) by the seeds alone. :meth:`resamples` draws the whole
    table again, seeds and faces with replacement, to say how often a ranking or a front holds."""

    def __init__(self, results: Mapping[str, Any]) -> None:
        try:
            self.names = list(results["models"])
            self.parameters = {name: int(results["models"][name]["parameters"]) for name in self.names}
            self._records = {name: list(results["models"][name]["runs"]) for name in self.names}
            self.seeds = {name: [int(s) for s in results["models"][name]["seeds"]] for name in self.names}
            self.floor = {key: float(value) for key, value in results["floor"].items()}
            real_blend = np.asarray(results["real_blend"], dtype=float)
        except (KeyError, TypeError) as error:
            raise ValueError(f"results is not lab 08's results.json (make_lab08 writes it): {error}") from None
        if any(not records for records in self._records.values()):
            raise ValueError("every model needs at least one seed in results.json")
        self._faces = {
            name: {key: np.asarray([r[field] for r in records], dtype=float) for key, field in _PER_FACE.items()}
            for name, records in self._records.items()
        }
        self._sets = {
            name: {key: np.asarray([r[field] for r in records], dtype=float) for key, field in _PER_SET.items()}
            for name, records in self._records.items()
        }
        #: (members,) lists of (fake, real) AUC matrices per model and seed; the ensemble is the members' mean.
        self._blend = {
            name: [
                [_auc_matrix(real_blend[m], r["blend"][m]) for m in range(len(real_blend))]
                + [_auc_matrix(real_blend.mean(0), np.mean(r["blend"], axis=0))]
                for r in records
            ]
            for name, records in self._records.items()
        }
        self._spectral = {
            name: [_auc_matrix(r["spectral"]["real"], r["spectral"]["fake"]) for r in records]
            for name, records in self._records.items()
        }
        self.members = len(real_blend)
        self.n_faces = len(next(iter(self._faces.values()))["SSIM"][0])
        self.n_frames = len(real_blend[0])

    def per_seed(self, column: str, *, member: int | None = None) -> dict[str, np.ndarray]:
        """Each model's figure per seed, on every test face; ``member``: that blend member alone for
        "AUC blend" (None: the detector, the members' mean)."""
        if column not in SEED_COLUMNS:
            raise ValueError(f"{column!r} is not a column; choose from {', '.join(SEED_COLUMNS)}")
        out = {}
        for name in self.names:
            if column in _PER_FACE:
                out[name] = self._faces[name][column].mean(axis=1)
            elif column in _PER_SET:
                out[name] = self._sets[name][column]
            elif column == "AUC blend":
                out[name] = np.asarray([m[-1 if member is None else member].mean() for m in self._blend[name]])
            else:
                out[name] = np.asarray([m.mean() for m in self._spectral[name]])
        return out

    def resamples(
        self, count: int = 1000, *, seed: int = 0, faces_only: bool = False, member: int | None = None
    ) -> dict[str, dict[str, np.ndarray]]:
        """``count`` bootstrap tables, model -> column -> (count,) figures: per model its seeds drawn
        with replacement (``faces_only``: every seed kept), the test faces, fake and real test frames
        drawn with replacement and shared by all models; each figure the mean over the drawn seeds
        (``member``: that blend member alone for "AUC blend")."""
        count = check_int("count", count, minimum=1)
        rng = np.random.default_rng(check_seed("seed", seed))

        def counts(n: int) -> np.ndarray:
            return np.stack([np.bincount(rng.integers(n, size=n), minlength=n) for _ in range(count)]) / n

        face, fake, real = counts(self.n_faces), counts(self.n_frames), counts(self.n_frames)
        out: dict[str, dict[str, np.ndarray]] = {}
        for name in self.names:
            n = len(self._records[name])
            drawn = np.tile(np.arange(n), (count, 1)) if faces_only else rng.integers(n, size=(count, n))

            def mean_over(per_seed: np.ndarray, drawn: np.ndarray = drawn) -> np.ndarray:  # (seeds, count) -> (count,)
                return per_seed[drawn, np.arange(count)[:, None]].mean(axis=1)

            def auc_of(matrices: list[np.ndarray]) -> np.ndarray:  # each (fake, real) -> (seeds, count)
                return np.stack([((fake @ g) * real).sum(axis=1) for g in matrices])

            cells = {key: mean_over(self._faces[name][key] @ face.T) for key in _PER_FACE}
            cells.update({key: mean_over(np.repeat(self._sets[name][key][:, None], count, axis=1)) for key in _PER_SET})
            cells["AUC blend"] = mean_over(auc_of([m[-1 if member is None else member] for m in self._blend[name]]))
            cells["AUC spectral"] = mean_over(auc_of(self._spectral[name]))
            out[name] = cells
        return out

    def table(self, *, seed: int | None = None, member: int | None = None) -> dict[str, dict[str, float]]:
        """model -> column -> figure: the mean over seeds, or the ``seed``-th seed's of every model (of a
        model trained from fewer seeds, its last); the
        blend detector's AUC from its ``member`` alone if given (its members are the detector
        retrained from three seeds)."""
        out: dict[str, dict[str, float]] = {name: {} for name in self.names}
        for column in SEED_COLUMNS:
            for name, values in self.per_seed(column, member=member if column == "AUC blend" else None).items():
                out[name][column] = float(values.mean() if seed is None else values[min(seed, len(values) - 1)])
        return out

    def tables(self, count: int = 1000, *, seed: int = 0) -> list[dict[str, dict[str, float]]]:
        """:meth:`resamples` as ``count`` tables like :meth:`table`'s."""
        drawn = self.resamples(count, seed=seed)
        return [
            {name: {column: float(values[b]) for column, values in drawn[name].items()} for name in self.names}
            for b in range(count)
        ]

    def items(self, column: str) -> dict[str, np.ndarray]:
        """Each model's (seeds, items) table of a per-face column or an AUC: the per-face figures, or
        each fake test frame's placement (the share of real test frames it outscores; their mean is
        the AUC, DeLong's structural component). The items are the same for every model."""
        if column in _PER_FACE:
            return {name: self._faces[name][column] for name in self.names}
        if column == "AUC blend":
            return {name: np.stack([m[-1].mean(axis=1) for m in self._blend[name]]) for name in self.names}
        if column == "AUC spectral":
            return {name: np.stack([m.mean(axis=1) for m in self._spectral[name]]) for name in self.names}
        raise ValueError(
            f"{column!r} has no per-item figures; choose from {', '.join([*_PER_FACE, 'AUC blend', 'AUC spectral'])}"
        )

    def intervals(self, *, resamples: int = 1000, seed: int = 0) -> dict[str, dict[str, stats.Interval]]:
        """model -> column -> the figure's mean over seeds and its 95 % interval: over seeds and test
        faces (:func:`aelab.stats.seeds_items_interval`) for the per-face columns; over seeds
        (:func:`aelab.stats.seed_interval`) for FD, KID, precision and recall; for an AUC, Student's t
        over the seeds' AUCs widened in quadrature by a bootstrap over the fake and the real test frames
        (``resamples``, ``seed``). A model trained from one seed only gets the test faces' part (the
        bootstrap over them), and no interval (NaN ends) for the set figures."""
        drawn = self.resamples(resamples, seed=seed, faces_only=True)
        out: dict[str, dict[str, stats.Interval]] = {name: {} for name in self.names}
        for column in SEED_COLUMNS:
            per_seed = self.per_seed(column)
            for name in self.names:
                several = len(per_seed[name]) > 1
                if column in _PER_FACE:
                    values = self._faces[name][column]
                    out[name][column] = (
                        stats.seeds_items_interval(values)
                        if several
                        else stats.bootstrap_interval(values[0], resamples=resamples, seed=seed)
                    )
                    continue
                estimate = float(per_seed[name].mean())
                over_seeds = stats.seed_interval(per_seed[name]) if several else None
                half = (
                    (over_seeds.high - over_seeds.low) / 2
                    if over_seeds
                    else (0.0 if column not in _PER_SET else math.nan)
                )
                if column not in _PER_SET:
                    low, high = np.percentile(drawn[name][column], [2.5, 97.5])
                    half = float(np.hypot(half, (high - low) / 2))
                out[name][column] = stats.Interval(estimate, estimate - half, estimate + half)
        return out

    def difference(self, column: str, first: str, second: str) -> stats.Comparison | None:
        """``first``'s figure minus ``second``'s: over seeds and the shared test items
        (:func:`aelab.stats.seeds_items_difference`; an AUC through its placements, :meth:`items`),
        over seeds alone for FD, KID, precision and recall (:func:`aelab.stats.seed_difference`). Where
        either model has one seed: over the shared test items alone (:func:`aelab.stats.paired_difference`
        of the seed means), and None for a set figure, which one seed cannot test."""
        several = all(len(self._records[name]) > 1 for name in (first, second))
        if column in _PER_SET:
            per_seed = self.per_seed(column)
            return stats.seed_difference(per_seed[first], per_seed[second]) if several else None
        items = self.items(column)
        if several:
            return stats.seeds_items_difference(items[first], items[second])
        return stats.paired_difference(items[first].mean(axis=0), items[second].mean(axis=0))

    def leaders(self) -> dict[str, stats.Comparison | None]:
        """For every column, its best model against the runner-up (by the mean over seeds), named
        ``"column: best - runner-up"``: the family of claims a ranking makes first (None where
        :meth:`difference` cannot test it)."""
        out = {}
        for column, (_, higher) in SEED_COLUMNS.items():
            means = {name: float(values.mean()) for name, values in self.per_seed(column).items()}
            first, second = sorted(means, key=means.get, reverse=higher)[:2]
            out[f"{column}: {first} - {second}"] = self.difference(column, first, second)
        return out


def leader(table: Mapping[str, Mapping[str, float]], column: str) -> str:
    """The model a table (model -> column -> figure) ranks first on ``column`` (:data:`SEED_COLUMNS`)."""
    higher = SEED_COLUMNS[column][1]
    return (max if higher else min)(table, key=lambda name: table[name][column])


def share(
    tables: list[Mapping[str, Mapping[str, float]]], holds: Callable[[Mapping[str, Mapping[str, float]]], bool]
) -> float:
    """The share of ``tables`` for which ``holds(table)`` is true."""
    return sum(bool(holds(t)) for t in tables) / len(tables)
