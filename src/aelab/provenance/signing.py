"""Stable Signature (Fernandez et al. 2023): fine-tune a generator's decoder so that every image it draws
carries a fixed key that a frozen extractor reads, while staying close to what the decoder drew before.

The paper fine-tunes a latent-diffusion model's VAE decoder with ``L = L_m + lambda_i · L_i``: ``L_m``
the binary cross-entropy between the extractor's logits on the decoded image and the key, ``L_i`` a
perceptual distance (Watson-VGG there) between that image and the original decoder's image of the same
latent. Here the decoder is a DeepFaceLab LIAE decoder and the perceptual distance the kit's own
(DSSIM with a 5-pixel window plus MSE, :func:`perceptual_distance`), since no VGG weights can be
downloaded. Images are (N, 3, H, W) floats in [0, 1]; the key a tensor (k,) of 0s and 1s.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from aelab.losses import dssim
from aelab.validate import check_float, check_image_pair, check_tensor

__all__ = ["perceptual_distance", "key_loss", "watermark_loss", "make_key"]


def perceptual_distance(x: Tensor, y: Tensor) -> Tensor:
    """``DSSIM(x, y)`` with a 5-pixel Gaussian window plus ``MSE(x, y)``, averaged over the batch (a scalar)."""
    check_image_pair(("x", "y"), x, y)
    return dssim(x, y, kernel_size=5) + F.mse_loss(x, y)


def key_loss(logits: Tensor, key: Tensor) -> Tensor:
    """Binary cross-entropy of logits (N, k) against the key (k,) repeated for every image (a scalar)."""
    logits = check_tensor("logits", logits, ndim=2, floating=True)
    key = check_tensor("key", key, ndim=1)
    return F.binary_cross_entropy_with_logits(logits, key.to(logits).expand_as(logits))


def watermark_loss(signed: Tensor, unsigned: Tensor, logits: Tensor, key: Tensor, weight: float) -> Tensor:
    """Stable Signature's loss: ``key_loss(logits, key) + weight · perceptual_distance(signed, unsigned)``.

    ``signed``: the fine-tuned decoder's images; ``unsigned``: the original decoder's images of the same
    codes; ``logits``: the extractor's on ``signed`` (after any transformation); ``weight``: lambda_i.
    """
    weight = check_float("weight", weight, minimum=0.0)
    return key_loss(logits, key) + weight * perceptual_distance(signed, unsigned)


@torch.no_grad()
def make_key(bits: int, seed: int) -> Tensor:
    """A model's key: (bits,) uniform random 0s and 1s (long) from ``seed``."""
    return torch.randint(0, 2, (bits,), generator=torch.Generator().manual_seed(seed))
