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

from dataclasses import dataclass
from typing import Any

import torch

from aelab import losses, merge, metrics, models, realism
from aelab.data import faces
from aelab.forensics import BlendDetector, SpectralDetector, labelled
from aelab.forensics.degrade import degrade
from aelab.metrics import FactorReader
from aelab.realism import FeatureNet

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
        if not isinstance(self.dst, faces.FaceBatch) or len(self.dst) % 2 or len(self.dst) < 64:
            raise ValueError("dst must be a FaceBatch of an even number (at least 64) of held-out dst faces")
        for name, kind in (("reader", FactorReader), ("net", FeatureNet), ("blend", BlendDetector)):
            if not isinstance(getattr(self, name), kind):
                raise TypeError(f"{name} must be a {kind.__name__}, got {type(getattr(self, name)).__name__}")
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
