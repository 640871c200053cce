"""Lab 09's recipe: the frames a platform sees, the detectors it runs, and how the shipped ones train.

The lab and its asset command (``python -m aelab.assets.make_lab09``, which writes what
:func:`make_detectors` returns as ``lab09/detectors.pt``) share everything here, so that the notebook
can rerun the first steps of a shipped training exactly.

**The frames** (32 px, everything rendered, so every fake has the truth it pretends to be). A split
is a set of dst frames of domain B (lab 03's dst) drawn from its seed in :data:`SPLITS`; its
**reals** are their true swaps (:func:`aelab.data.faces.render_swap`: the frame's pose, light and
background with A's identity), its **fakes** lab 03's DF swaps of the first frames, as in lab 07: the
same identity in the same pose, the generator the only difference. For the blend detector, lab 07's
other task: the fakes merged back into their frames (:func:`aelab.merge.merge`, DeepFaceLab's default
working mask blurred by 16) against frames no merge touched. "train" fits the detectors,
"calibration" places thresholds and temperatures, "test" reports.

**The detectors.** :func:`cnn` is lab 07's small CNN trained on the train split; :func:`adversarial_cnn`
the same network trained adversarially (Madry et al. 2018, PGD at :data:`TRAIN_EPSILON`);
:func:`augmented_cnn` the same with Wang et al.'s blur + JPEG augmentation (laundering in training). Each
is shipped from the seeds :data:`SEEDS`; :func:`spectral` (Durall et al.'s azimuthal detector) is fit in
the lab; the blend detector is lab 07's ``blend.pt``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from aelab import assets, models
from aelab.data import faces
from aelab.forensics.defences import AdversarialCNNDetector
from aelab.forensics.detectors import CNNDetector, SpectralDetector
from aelab.merge import merge, working_mask
from aelab.validate import check_choice, check_int

__all__ = [
    "RESOLUTION",
    "SPLITS",
    "SEEDS",
    "CNN_RECIPE",
    "TRAIN_EPSILON",
    "ADVERSARIAL_RECIPE",
    "Split",
    "split",
    "cnn",
    "adversarial_cnn",
    "augmented_cnn",
    "spectral",
    "KINDS",
    "restore",
    "train",
    "make_detectors",
]

RESOLUTION = 32
#: split name -> (render seed of its dst frames, fakes, reals): the first ``fakes`` frames are swapped;
#: reals are cheap (rendered) and fakes are not (lab 03's DF), and an FPR of 0.1 % needs many reals.
SPLITS: dict[str, tuple[int, int, int]] = {
    "train": (901, 512, 512),
    "calibration": (902, 250, 2000),
    "test": (903, 250, 2000),
}
#: The training seeds of the shipped CNNs (three of each kind: a claim about training holds across them).
SEEDS = (0, 1, 2)
#: :class:`~aelab.forensics.detectors.CNNDetector`'s arguments for every shipped CNN.
CNN_RECIPE: dict[str, Any] = {"steps": 300, "batch_size": 32, "lr": 5e-3, "width": 8}
#: The L∞ radius of the adversarial training (4/255: the middle of the ε range the lab attacks with).
TRAIN_EPSILON = 4 / 255
#: :class:`~aelab.forensics.defences.AdversarialCNNDetector`'s own arguments.
ADVERSARIAL_RECIPE: dict[str, Any] = {"epsilon": TRAIN_EPSILON, "attack_steps": 3, "clean_share": 0.5}
#: The merge of the fakes into their frames (lab 07's): DeepFaceLab's default working mask, blurred by 16.
MASK_MODE = "learned-prd*learned-dst"
BLUR_MASK_MODIFIER = 16


@dataclass(frozen=True)
class Split:
    """One split, images (N, 3, 32, 32) in [0, 1]: ``dst`` frames (domain B), ``reals`` (their true
    swaps: A's identity in the frame's pose, light and background), ``fakes`` (DF's swaps of the first
    frames) and ``masks`` (those swaps' working masks, for merging them back)."""

    dst: torch.Tensor
    reals: torch.Tensor
    fakes: torch.Tensor
    masks: torch.Tensor

    @property
    def truth(self) -> torch.Tensor:
        """The true swaps of the swapped frames: what each fake pretends to be."""
        return self.reals[: len(self.fakes)]

    def labelled(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Reals then fakes as one batch, and its labels (0 real, 1 fake)."""
        return torch.cat([self.reals, self.fakes]), torch.cat(
            [torch.zeros(len(self.reals)), torch.ones(len(self.fakes))]
        )

    def merged(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Lab 07's blend task: (dst frames no merge touched, the fakes merged into their own frames)."""
        count = len(self.fakes)
        frames = merge(self.dst[:count], self.fakes, self.masks, blur_mask_modifier=BLUR_MASK_MODIFIER)
        return self.dst[count : 2 * count], frames.images


@torch.no_grad()
def split(name: str, df: torch.nn.Module) -> Split:
    """The split ``name`` of :data:`SPLITS`, its fakes drawn by lab 03's ``df``."""
    seed, fakes, reals = SPLITS[check_choice("name", name, tuple(SPLITS))]
    dst = faces.render(reals, resolution=RESOLUTION, domain="B", seed=seed)
    swap = df.swap(dst.images[:fakes])
    masks = working_mask(MASK_MODE, pred_src_dstm=swap.pred_src_dstm, pred_dst_dstm=swap.pred_dst_dstm)
    return Split(dst.images, faces.render_swap(dst, "A").images, swap.pred_src_dst, masks)


def cnn(seed: int, **options: Any) -> CNNDetector:
    """An unfitted plain CNN of the recipe, from ``seed``."""
    return CNNDetector(**CNN_RECIPE, seed=seed, **options)


def adversarial_cnn(seed: int, **options: Any) -> AdversarialCNNDetector:
    """An unfitted adversarially trained CNN of the recipe, from ``seed``."""
    return AdversarialCNNDetector(**ADVERSARIAL_RECIPE, **CNN_RECIPE, seed=seed, **options)


def augmented_cnn(seed: int, **options: Any) -> CNNDetector:
    """An unfitted CNN of the recipe trained with blur + JPEG augmentation, from ``seed``."""
    return CNNDetector(**CNN_RECIPE, augment=True, seed=seed, **options)


def spectral() -> SpectralDetector:
    """Durall et al.'s detector: logistic regression on the azimuthal average (fit in the lab)."""
    return SpectralDetector("azimuthal")


#: The shipped kinds of CNN: name -> its constructor.
KINDS = {"plain": cnn, "adversarial": adversarial_cnn, "augmented": augmented_cnn}


def restore(kind: str, state: dict) -> CNNDetector:
    """A shipped CNN of ``kind`` from its :meth:`~aelab.forensics.CNNDetector.state_dict`."""
    kind = check_choice("kind", kind, tuple(KINDS))
    return (AdversarialCNNDetector if kind == "adversarial" else CNNDetector).from_state_dict(state)


def train(kind: str, seed: int, data: Split, *, steps: int | None = None, progress: bool = False) -> CNNDetector:
    """A CNN of ``kind`` (:data:`KINDS`) from ``seed`` fit on ``data`` (the train split); ``steps``
    overrides the recipe's (the lab reruns the first steps of a shipped fit)."""
    kind = check_choice("kind", kind, tuple(KINDS))
    detector = KINDS[kind](seed, progress=progress)
    if steps is not None:
        detector.steps = check_int("steps", steps, minimum=1)
    return detector.fit(*data.labelled())


def make_detectors() -> dict:
    """Every shipped detector's state (``lab09/detectors.pt``): ``{kind: [state per seed of SEEDS]}`` for
    each kind of :data:`KINDS`, each a :meth:`aelab.forensics.CNNDetector.state_dict` (its settings,
    every step's loss, float16 weights) fit on the train split with lab 03's DF."""
    data = split("train", models.from_checkpoint(assets.load("lab03/df.pt")))
    return {kind: [train(kind, seed, data, progress=True).state_dict() for seed in SEEDS] for kind in KINDS}
