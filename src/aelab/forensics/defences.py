"""Defences of a detector against a forger: adversarial training, and an ensemble of detectors.

- :class:`AdversarialCNNDetector` -- Madry et al. 2018's adversarial training of the kit's
  :class:`~aelab.forensics.detectors.CNNDetector`: each training batch is attacked by PGD against the
  network as it stands (:func:`aelab.forensics.attacks.pgd` with the batch's true labels, ``epsilon``,
  ``attack_steps`` steps, a random start), and the network steps on the attacked batch; a share
  ``clean_share`` of each batch stays clean, which keeps more of the clean accuracy (Madry et al.
  trained on attacked batches only). With ``augment`` the batch is first blurred and compressed as
  :class:`CNNDetector`'s is.
- :class:`Ensemble` -- several fitted detectors, scored by the mean of their probabilities. An
  attacker who knows the ensemble attacks that mean (:func:`aelab.forensics.attacks.mean_logit`);
  one who attacks a single member is only a transfer attack on the rest.

Images are tensors (N, 3, H, W) of floats in [0, 1]; labels 1 for a fake, 0 for a real.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from aelab.forensics.attacks import pgd
from aelab.forensics.detectors import CNNDetector, Detector
from aelab.validate import check_float, check_images, check_int

__all__ = ["AdversarialCNNDetector", "Ensemble"]


class AdversarialCNNDetector(CNNDetector):
    """:class:`CNNDetector` trained on PGD-attacked batches (L∞ ``epsilon``, ``attack_steps`` steps).

    The other arguments are :class:`CNNDetector`'s. Each step's attack starts from seed
    ``seed·1000003 + step`` (of its member), so a fit repeats exactly.
    """

    def __init__(
        self, *, epsilon: float = 4 / 255, attack_steps: int = 3, clean_share: float = 0.5, **options: Any
    ) -> None:
        super().__init__(**options)
        self.epsilon = check_float("epsilon", epsilon, minimum=0.0, maximum=1.0)
        self.attack_steps = check_int("attack_steps", attack_steps, minimum=1)
        self.clean_share = check_float("clean_share", clean_share, minimum=0.0, maximum=1.0, max_inclusive=False)

    def _prepare(self, net: nn.Module, images: Tensor, labels: Tensor, seed: int) -> Tensor:
        images = super()._prepare(net, images, labels, seed)
        keep = int(round(self.clean_share * len(images)))
        attacked = pgd(net, images[keep:], labels[keep:], epsilon=self.epsilon, steps=self.attack_steps, seed=seed)
        return torch.cat([images[:keep], attacked])

    def _params(self) -> dict[str, Any]:
        return {
            **super()._params(),
            "epsilon": self.epsilon,
            "attack_steps": self.attack_steps,
            "clean_share": self.clean_share,
        }


class Ensemble(Detector):
    """Fitted detectors scored together: the mean of their probabilities of "fake" (N,)."""

    def __init__(self, members: Sequence[Detector]) -> None:
        members = list(members)
        if not members or not all(callable(getattr(m, "score", None)) for m in members):
            raise TypeError("members must be a non-empty sequence of fitted detectors (with a score method)")
        self.members = members

    def fit(self, images: Tensor, labels: Tensor) -> Ensemble:
        raise TypeError("an Ensemble combines fitted detectors: fit each member, then build the Ensemble")

    def score(self, images: Tensor) -> Tensor:
        images = check_images("images", images, channels=3)
        return torch.stack([member.score(images).float() for member in self.members]).mean(dim=0)
