"""Training SAEHD as DeepFaceLab's ``models/Model_SAEHD/Model.py`` does (pinned commit 46fc239).

One module per idea, imported in this order (each only from the ones above it):

- :mod:`aelab.train.config` -- :class:`Config`, the model card's table and DFL's options, validated,
  saved as JSON, with named presets (:data:`PRESETS`: "seed", "cpu", "dfl-defaults").
- :mod:`aelab.train.samples` -- the face pools, DFL's epoch-wise sample order (``IndexHost``,
  uniform yaw) and its sample processing (colour transfer, random HSV, warp, affine, flips, masks).
- :mod:`aelab.train.terms` -- the per-sample loss terms of one iteration (``Model_SAEHD``'s graph:
  reconstruction, style, true face, GAN and the discriminators' losses).
- :mod:`aelab.train.checkpoint` -- checkpoint folders (one file per DFL part, a SHA-256 manifest,
  loading without unpickling).
- :mod:`aelab.train.trainer` -- :class:`Trainer`: ``step()`` runs one SAEHD iteration, ``fit()``
  many, ``evaluate()`` measures masked SSIM on held-out faces, ``preview()`` draws DFL's preview
  grid, ``save()`` / ``Trainer.load()`` write and verify checkpoints that resume exactly.

``from aelab.train import Config, Trainer`` is the usual entry point.
"""

from aelab.train.config import (
    CT_MODES,
    DFL_RANGES,
    FACE_TYPES,
    LR_COS_WITH_DROPOUT,
    LR_DROPOUT_ON,
    OPTIMIZERS,
    PRESETS,
    Config,
)
from aelab.train.samples import Samples, face_pool
from aelab.train.trainer import EVAL_SEED, Trainer

__all__ = [
    "Config",
    "Trainer",
    "PRESETS",
    "FACE_TYPES",
    "CT_MODES",
    "OPTIMIZERS",
    "LR_DROPOUT_ON",
    "LR_COS_WITH_DROPOUT",
    "DFL_RANGES",
    "EVAL_SEED",
    "Samples",
    "face_pool",
]
