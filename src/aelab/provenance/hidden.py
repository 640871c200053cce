"""A small HiDDeN encoder/extractor pair (Zhu et al. 2018, "HiDDeN: Hiding Data With Deep Networks"),
trained to hide a k-bit message in an image and read it back through a noise layer.

Stable Signature (Fernandez et al. 2023) trains HiDDeN first only to obtain its **extractor**: the
encoder is thrown away and a generator's decoder is fine-tuned instead to write what the extractor
reads (:mod:`aelab.provenance.signing`). As in HiDDeN the encoder sees the image's features and the
message, and adds a residual; the extractor is convolutional with a linear head, and
reads a fixed size (any other is resized to it first: a cropped image is read at full size).

The noise layer (:func:`noise_layer`) applies one transformation of the laundering chain to a batch,
differentiably: blur, down-and-back resizing, Gaussian noise, a random crop, a per-image colour change
(gain and offset per channel, standing in for colour transfer), and JPEG through Pillow with a
straight-through gradient (the forward pass is the real JPEG, the backward pass the identity), as
Stable Signature's HiDDeN training does. Images are (N, 3, H, W) floats in [0, 1]; messages (N, k)
floats of 0s and 1s.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aelab.forensics.degrade import compress
from aelab.losses import gaussian_blur
from aelab.validate import check_images, check_int, check_positive_int

__all__ = ["Encoder", "Extractor", "NOISES", "noise_layer", "message_bits", "bits_loss"]


def _block(a: int, b: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(a, b, 3, stride=stride, padding=1), nn.BatchNorm2d(b), nn.ReLU())


class Encoder(nn.Module):
    """HiDDeN's encoder: image (N, 3, H, W) and message (N, k) -> the signed image, x + strength·tanh(r).

    The message reaches the mixing conv as a learned carrier, a linear map of the ±1 bits to a
    (width, 8, 8) grid upsampled to the image (HiDDeN repeats the raw bits at every pixel instead, which
    takes far longer to start learning on a CPU budget).
    """

    def __init__(self, bits: int, width: int = 16, strength: float = 0.3) -> None:
        super().__init__()
        self.bits = check_positive_int("bits", bits)
        self.width = check_positive_int("width", width)
        self.strength = strength
        self.features = nn.Sequential(_block(3, width), _block(width, width))
        self.carrier = nn.Linear(bits, width * 8 * 8)
        self.mix = nn.Sequential(_block(2 * width + 3, width), nn.Conv2d(width, 3, 1))

    def forward(self, images: Tensor, message: Tensor) -> Tensor:
        images = check_images("images", images, channels=3)
        carrier = self.carrier(message * 2 - 1).view(-1, self.width, 8, 8)
        carrier = F.interpolate(carrier, size=images.shape[2:], mode="nearest")
        residual = self.mix(torch.cat([self.features(images), carrier, images], dim=1))
        return (images + self.strength * torch.tanh(residual)).clamp(0, 1)


class Extractor(nn.Module):
    """HiDDeN's decoder, the watermark extractor: images (N, 3, H, W) -> k logits (N, k).

    Four conv blocks (two of stride 2) and a linear layer on the flattened map; an image of another
    size (a crop) is first resized, bilinear, to ``resolution``, as a detector would.
    """

    def __init__(self, bits: int, width: int = 16, resolution: int = 32) -> None:
        super().__init__()
        self.bits = check_positive_int("bits", bits)
        self.resolution = check_positive_int("resolution", resolution)
        self.net = nn.Sequential(
            _block(3, width), _block(width, 2 * width, 2), _block(2 * width, 2 * width), _block(2 * width, 4 * width, 2)
        )
        self.head = nn.Linear(4 * width * (resolution // 4) ** 2, bits)

    def forward(self, images: Tensor) -> Tensor:
        images = check_images("images", images, channels=3)
        if tuple(images.shape[2:]) != (self.resolution, self.resolution):
            images = F.interpolate(
                images, size=(self.resolution, self.resolution), mode="bilinear", align_corners=False, antialias=True
            )
        return self.head(self.net(images * 2 - 1).flatten(1))


#: The noise layer's transformations, one drawn per batch.
NOISES = ("identity", "jpeg", "crop", "resize", "blur", "noise", "colour")


def _straight_through(images: Tensor, transformed: Tensor) -> Tensor:
    """``transformed`` in the forward pass, the gradient of the identity in the backward pass."""
    return images + (transformed - images).detach()


def noise_layer(images: Tensor, generator: torch.Generator) -> tuple[Tensor, str]:
    """One transformation of :data:`NOISES` drawn from ``generator``, at a random strength, applied to
    (N, 3, H, W) images in [0, 1] so that gradients pass; returns the images and the transformation's name."""
    images = check_images("images", images, channels=3)

    def uniform(low: float, high: float) -> float:
        return low + (high - low) * float(torch.rand((), generator=generator))

    name = NOISES[int(torch.randint(len(NOISES), (), generator=generator))]
    h, w = images.shape[2:]
    if name == "jpeg":
        quality = int(torch.randint(30, 91, (), generator=generator))
        return _straight_through(images, compress(images.detach(), quality)), name
    if name == "crop":
        keep = uniform(0.5, 1.0)
        ch, cw = max(4, round(h * keep)), max(4, round(w * keep))
        top = int(torch.randint(h - ch + 1, (), generator=generator))
        left = int(torch.randint(w - cw + 1, (), generator=generator))
        return images[:, :, top : top + ch, left : left + cw], name
    if name == "resize":
        scale = uniform(0.5, 1.0)
        small = F.interpolate(
            images,
            size=(max(1, round(h * scale)), max(1, round(w * scale))),
            mode="bilinear",
            align_corners=False,
            antialias=True,
        )
        return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False), name
    if name == "blur":
        return gaussian_blur(images, uniform(0.3, 1.5), border="replicate"), name
    if name == "noise":
        sigma = uniform(0.0, 0.1)
        return (images + sigma * torch.randn(images.shape, generator=generator)).clamp(0, 1), name
    if name == "colour":
        n = len(images)
        gain = 1 + 0.3 * (torch.rand(n, 3, 1, 1, generator=generator) - 0.5)
        offset = 0.2 * (torch.rand(n, 3, 1, 1, generator=generator) - 0.5)
        return (images * gain + offset).clamp(0, 1), name
    return images, name


def message_bits(n: int, bits: int, generator: torch.Generator) -> Tensor:
    """(n, bits) random messages of 0s and 1s (floats), drawn from ``generator``."""
    n, bits = check_int("n", n, minimum=1), check_positive_int("bits", bits)
    return torch.randint(0, 2, (n, bits), generator=generator).float()


def bits_loss(logits: Tensor, message: Tensor) -> Tensor:
    """Binary cross-entropy of the extractor's logits (N, k) against the message's bits (N, k)."""
    return F.binary_cross_entropy_with_logits(logits, message)
