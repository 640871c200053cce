"""Attacks of a forger who wants a signed image to pass as unsigned (Stable Signature, sec. 5, tests
the same three kinds against its watermark).

- :func:`pgd_remove`: white-box PGD (Madry et al. 2018) on the image, against the extractor: ascend the
  binary cross-entropy between its logits and the key, within an L-infinity budget ``eps``.
- :func:`average_pattern` and :func:`subtract_pattern`: the averaging attack. A watermark that adds the
  same pattern to every image shows in the mean of many signed images minus the mean of unsigned ones;
  subtracting that estimate removes it. A watermark that depends on the content averages away instead.
- Fine-tuning the decoder without the watermark term is a training run: the lab's recipe
  (``aelab.course.lab10``) runs it with :func:`aelab.losses.reconstruction_loss`.

Images are (N, 3, H, W) floats in [0, 1]; the key a tensor (k,) of 0s and 1s.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from aelab.provenance.signing import key_loss
from aelab.validate import check_float, check_images, check_int, check_same_shape

__all__ = ["pgd_remove", "average_pattern", "subtract_pattern"]


def pgd_remove(extractor: nn.Module, images: Tensor, key: Tensor, *, eps: float, steps: int = 10) -> Tensor:
    """Images within ``eps`` (L-infinity) of ``images`` on which ``extractor`` reads the key worst.

    ``steps`` signed-gradient steps of ``2.5 · eps / steps`` each (Madry et al.'s step), projected back
    into the ``eps`` ball and [0, 1] after each. The extractor's own mode and weights are left as they are.
    """
    images = check_images("images", images, channels=3)
    eps = check_float("eps", eps, minimum=0.0)
    steps = check_int("steps", steps, minimum=1)
    step = 2.5 * eps / steps
    x = images.detach().clone()
    for _ in range(steps):
        x.requires_grad_(True)
        loss = key_loss(extractor(x), key)
        (gradient,) = torch.autograd.grad(loss, x)
        with torch.no_grad():
            x = images + (x + step * gradient.sign() - images).clamp(-eps, eps)
            x = x.clamp(0, 1)
    return x.detach()


def average_pattern(signed: Tensor, unsigned: Tensor) -> Tensor:
    """The forger's estimate of the watermark: mean of ``signed`` minus mean of ``unsigned`` (1, 3, H, W)."""
    signed = check_images("signed", signed, channels=3)
    unsigned = check_images("unsigned", unsigned, channels=3)
    if signed.shape[1:] != unsigned.shape[1:]:
        raise ValueError(f"signed {tuple(signed.shape)} and unsigned {tuple(unsigned.shape)} differ in image size")
    return signed.mean(dim=0, keepdim=True) - unsigned.mean(dim=0, keepdim=True)


def subtract_pattern(images: Tensor, pattern: Tensor) -> Tensor:
    """``images`` minus the estimated pattern (1, 3, H, W), clipped to [0, 1]."""
    images = check_images("images", images, channels=3)
    check_same_shape(("images[:1]", "pattern"), images[:1], pattern)
    return (images - pattern).clamp(0, 1)
