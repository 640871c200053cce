"""torch ``Dataset`` wrappers for SynthFaces and digit sets, for use with a ``DataLoader``.

:class:`FaceDataset` renders lazily: a face is drawn when it is asked for, and a ``DataLoader``
batch is drawn in one vectorised pass (``__getitems__``), so no image is held in memory and any
index order (``shuffle=True``) costs the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from aelab.data import faces
from aelab.validate import check_int


class FaceDataset(Dataset):
    """The first ``n`` faces of the SynthFaces stream ``(seed, domain)`` at ``resolution``.

    Each item is a dict: ``image`` (3, R, R) float32 in [0, 1], ``face_mask`` and
    ``eyes_mouth_mask`` (1, R, R) in [0, 1], ``factors`` (name -> 0-d tensor) and ``index``; item
    ``i`` equals image ``i`` of :func:`aelab.data.faces.render` with the same arguments. The default
    collate turns a list of items into batched tensors (images (B, 3, R, R)).
    """

    def __init__(self, n: int, resolution: int = 64, domain: str = "A", seed: int = 0) -> None:
        self.n = check_int("n", n, minimum=0)
        faces.render(0, resolution=resolution, domain=domain, seed=seed)  # checks the arguments
        self.resolution, self.domain, self.seed = resolution, domain, seed

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        """Items ``indices``, rendered together (the ``DataLoader`` calls this once per batch)."""
        positions = [self._position(i) for i in indices]
        batch = faces.draw(
            faces.factors_at(positions, domain=self.domain, seed=self.seed),
            resolution=self.resolution,
            domain=self.domain,
        )
        return [
            {
                "image": batch.images[k],
                "face_mask": batch.face_mask[k],
                "eyes_mouth_mask": batch.eyes_mouth_mask[k],
                "factors": {name: value[k] for name, value in batch.factors.items()},
                "index": position,
            }
            for k, position in enumerate(positions)
        ]

    def _position(self, index: int) -> int:
        index = int(index)
        position = index + self.n if index < 0 else index
        if not 0 <= position < self.n:
            raise IndexError(f"index {index} is out of range for a FaceDataset of {self.n} faces")
        return position


class DigitDataset(Dataset):
    """Digit images and labels as ``(image (1, H, W) float32 in [0, 1], label int64)`` pairs.

    ``images``: uint8 (N, H, W) as :func:`aelab.data.digits.mnist` returns them, or float
    (N, 1, H, W) in [0, 1] as in :class:`aelab.data.digits.Digits`; ``labels``: (N,) integers.
    """

    def __init__(self, images: Tensor | np.ndarray, labels: Tensor | np.ndarray) -> None:
        images, labels = torch.as_tensor(images), torch.as_tensor(labels)
        if images.dtype == torch.uint8 and images.ndim == 3:
            images = images.unsqueeze(1).float().div_(255)
        elif not (images.is_floating_point() and images.ndim == 4 and images.shape[1] == 1):
            raise ValueError(
                f"images must be uint8 (N, H, W) or float (N, 1, H, W), got {images.dtype} {tuple(images.shape)}"
            )
        if labels.ndim != 1 or labels.is_floating_point() or len(labels) != len(images):
            raise ValueError(
                f"labels must be integers of shape ({len(images)},) to match the images, got "
                f"{labels.dtype} {tuple(labels.shape)}"
            )
        self.images, self.labels = images.float(), labels.long()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.images[index], self.labels[index]
