"""The feature network of the realism metrics (lab 06): :class:`FeatureNet`, the factor reader of lab
03 grown up -- a CNN trained on whole rendered faces to read back every generative factor (pose,
expression, light, background, identity), whose last hidden layer is the feature vector that
:mod:`aelab.realism` measures sets of images in, where FID would use an Inception network trained on
ImageNet (Heusel et al. 2017). Images are tensors (N, 3, R, R) of floats in [0, 1].
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from aelab.data import faces
from aelab.metrics import FactorReader
from aelab.validate import check_float, check_images, check_int

__all__ = ["FEATURE_FACTORS", "FeatureNet"]


#: What :class:`FeatureNet` learns to read: every factor of the renderer, with the light as a vector
#: (``light_x``, ``light_y``, see :func:`aelab.metrics.factor_targets`) instead of its azimuth and
#: strength.
FEATURE_FACTORS: tuple[str, ...] = tuple(
    name for name in faces.FACTORS if name not in ("light_azimuth", "light_strength")
) + ("light_x", "light_y")

#: The stream index from which :meth:`FeatureNet.for_faces` takes the faces that set its target
#: scale: far beyond any training run, and the same for every number of steps, so that a short run
#: repeats the first steps of a long one.
_REFERENCE_START = 2**24


class FeatureNet(FactorReader):
    """A :class:`aelab.metrics.FactorReader` that reads every factor of whole images (background and
    hair included), used as the feature extractor of the realism metrics.

    :meth:`features` returns its last hidden layer (N, 128): the network had to put there everything
    it reads -- pose, expression, light, identity, background -- so two sets of faces that differ in
    any of these differ in these features. ``history`` holds the training loss of every step (MSE on
    standardised targets), so a short retrain can be compared with the shipped network's first steps.
    """

    def __init__(
        self, names: Sequence[str] = FEATURE_FACTORS, *, resolution: int = 32, width: int = 16, seed: int = 0
    ) -> None:
        super().__init__(names, resolution=resolution, width=width, seed=seed)
        self.history: list[float] = []

    @classmethod
    def for_faces(
        cls,
        *,
        resolution: int = 32,
        steps: int = 3000,
        batch_size: int = 64,
        lr: float = 2e-3,
        seed: int = 0,
        progress: bool = True,
        **kwargs: Any,
    ) -> FeatureNet:  # type: ignore[override]
        """A network trained on whole faces of the "mixed" domain, ``batch_size`` new faces at each of
        ``steps`` Adam steps (it never sees a face twice). The targets are standardised with 1024 faces
        of the same stream that training never reaches; the first k steps of any run are the same.
        Other keyword arguments go to the constructor."""
        steps = check_int("steps", steps, minimum=1)
        batch_size = check_int("batch_size", batch_size, minimum=2)
        lr = check_float("lr", lr, minimum=0.0, min_inclusive=False)
        net = cls(resolution=resolution, seed=seed, **kwargs)
        net.history = net._fit_faces(
            steps,
            batch_size,
            lr,
            seed,
            masked=False,
            reference_start=_REFERENCE_START,
            progress=progress,
            desc="feature net",
        )
        return net

    @torch.no_grad()
    def features(self, images: torch.Tensor, *, batch_size: int = 512) -> torch.Tensor:
        """The features (N, D) of images (N, 3, R, R) in [0, 1]: the last hidden layer, float32 on the CPU."""
        if not self.fitted:
            raise RuntimeError("this FeatureNet is not trained yet: use FeatureNet.for_faces or from_state_dict")
        images = check_images("images", images, channels=3, resolution=self.resolution)
        batch_size = check_int("batch_size", batch_size, minimum=1)
        body = self.net[:-1]
        body.eval()
        device = next(body.parameters()).device
        return torch.cat(
            [body(images[i : i + batch_size].to(device)).float().cpu() for i in range(0, len(images), batch_size)]
        )

    def state_dict(self) -> dict[str, Any]:
        """The reader's :meth:`~aelab.metrics.FactorReader.state_dict` plus the loss ``history``."""
        return {**super().state_dict(), "history": torch.tensor(self.history, dtype=torch.float64)}

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> FeatureNet:
        net = super().from_state_dict(state)
        net.history = [float(v) for v in state.get("history", [])]
        return net  # type: ignore[return-value]
