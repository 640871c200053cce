"""Degradations an image meets on its way to a detector: blur, resizing, noise and JPEG.

Wang et al. 2020 ("CNN-generated images are surprisingly easy to spot... for now", CNNDetection)
test detectors on blurred and JPEG-compressed images and train them with random blur
(sigma ~ U[0, 3], probability 0.5) and random JPEG (quality ~ U{30..100}, probability 0.5); that is
:func:`random_degrade`'s default. JPEG goes through Pillow, one image at a time, with the quality
passed as Pillow's ``quality`` argument. Frank et al.'s helper (RUB-SysSec/GANDCTAnalysis,
``create_perturbed_imagedata.py``, ``jpeg``) calls ``cv2.imencode(".jpg", image, [factor, 90])``:
OpenCV reads that list as (flag, value) pairs, so the random "quality factor" (10-74) is taken as
a flag id, none of which the JPEG encoder reads (``cv2.IMWRITE_JPEG_QUALITY`` is 1), and every
image is encoded at OpenCV's default quality, 95, whatever factor was drawn. The flag list went
wrong there, not Pillow; :func:`jpeg_bytes` is tested for the opposite (each quality gives
different bytes).

Images are tensors (N, 3, H, W) (or (N, 1, H, W)) of floats in [0, 1]; each function returns the
same shape. Everything random is drawn from a seed, so a degradation repeats exactly.
"""

from __future__ import annotations

import io

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from aelab.losses import gaussian_blur
from aelab.validate import check_float, check_images, check_int, check_seed

__all__ = ["to_uint8", "from_uint8", "jpeg_bytes", "compress", "png_roundtrip", "degrade", "random_degrade"]


def to_uint8(images: Tensor) -> np.ndarray:
    """(N, C, H, W) floats in [0, 1] -> (N, H, W, C) uint8, rounded to nearest (what an 8-bit file stores)."""
    images = check_images("images", images, channels=(1, 3))
    return (images.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def from_uint8(pixels: np.ndarray) -> Tensor:
    """(N, H, W, C) uint8 -> (N, C, H, W) float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(0, 3, 1, 2).float() / 255.0


def _pil(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)


def jpeg_bytes(image: Tensor, quality: int) -> bytes:
    """One image (C, H, W) in [0, 1] encoded as JPEG by Pillow at ``quality`` (1-100, 4:2:0 chroma)."""
    quality = check_int("quality", quality, minimum=1, maximum=100)
    if not isinstance(image, Tensor) or image.ndim != 3:
        raise ValueError(f"image must be one image (C, H, W), got {getattr(image, 'shape', type(image).__name__)}")
    buffer = io.BytesIO()
    _pil(to_uint8(image[None])[0]).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _decode(data: bytes, channels: int) -> np.ndarray:
    decoded = np.asarray(Image.open(io.BytesIO(data)).convert("L" if channels == 1 else "RGB"))
    return decoded[..., None] if channels == 1 else decoded


def compress(images: Tensor, quality: int | Tensor) -> Tensor:
    """Images (N, C, H, W) in [0, 1] through a JPEG encode and decode at ``quality`` (one, or one per image)."""
    images = check_images("images", images, channels=(1, 3))
    qualities = quality.tolist() if isinstance(quality, Tensor) else [quality] * len(images)
    if len(qualities) != len(images):
        raise ValueError(f"quality must be one int or one per image ({len(images)}), got {len(qualities)}")
    out = np.stack([_decode(jpeg_bytes(x, int(q)), images.shape[1]) for x, q in zip(images, qualities)])
    return from_uint8(out).to(images.device)


def png_roundtrip(images: Tensor) -> Tensor:
    """Images (N, C, H, W) in [0, 1] stored as 8-bit PNG and read back (lossless: rounded to 1/255)."""
    images = check_images("images", images, channels=(1, 3))
    pixels = []
    for x in to_uint8(images):
        buffer = io.BytesIO()
        _pil(x).save(buffer, format="PNG")
        pixels.append(_decode(buffer.getvalue(), images.shape[1]))
    return from_uint8(np.stack(pixels)).to(images.device)


def _resize(images: Tensor, scale: float) -> Tensor:
    """Down (or up) to ``scale`` times the size and back, bilinear with anti-aliasing."""
    h, w = images.shape[2:]
    small = (max(1, round(h * scale)), max(1, round(w * scale)))
    x = F.interpolate(images, size=small, mode="bilinear", align_corners=False, antialias=scale < 1)
    return F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=scale > 1)


def degrade(
    images: Tensor,
    *,
    blur: float = 0.0,
    jpeg: int | None = None,
    resize: float = 1.0,
    noise: float = 0.0,
    seed: int = 0,
) -> Tensor:
    """Degrade (N, C, H, W) images in [0, 1], in the order a photo meets them: blur, resize, noise, JPEG.

    Args:
        blur: sigma of a Gaussian blur in pixels (0: none); edges replicated.
        jpeg: JPEG quality 1-100 through Pillow (None: no JPEG).
        resize: scale to resize to and back (1: none), bilinear, anti-aliased when shrinking.
        noise: sigma of additive Gaussian noise (0: none), drawn from ``seed``.
        seed: seeds the noise.

    Returns images of the same shape, clipped to [0, 1].
    """
    images = check_images("images", images, channels=(1, 3))
    blur = check_float("blur", blur, minimum=0.0)
    resize = check_float("resize", resize, minimum=0.0, min_inclusive=False, maximum=4.0)
    noise = check_float("noise", noise, minimum=0.0)
    seed = check_seed("seed", seed)
    x = images
    if blur > 0:
        x = gaussian_blur(x, blur, border="replicate")
    if resize != 1.0:
        x = _resize(x, resize)
    if noise > 0:
        generator = torch.Generator().manual_seed(seed)
        x = x + noise * torch.randn(x.shape, generator=generator).to(x)
    x = x.clamp(0.0, 1.0)
    if jpeg is not None:
        x = compress(x, check_int("jpeg", jpeg, minimum=1, maximum=100))
    return x


def random_degrade(
    images: Tensor,
    *,
    seed: int,
    blur_prob: float = 0.5,
    blur_max: float = 3.0,
    jpeg_prob: float = 0.5,
    jpeg_min: int = 30,
    jpeg_max: int = 100,
) -> Tensor:
    """Wang et al.'s training augmentation of (N, C, H, W) images in [0, 1], drawn per image from ``seed``.

    With probability ``blur_prob`` a Gaussian blur of sigma ~ U[0, blur_max]; then with probability
    ``jpeg_prob`` JPEG at a quality ~ U{jpeg_min..jpeg_max}.
    """
    images = check_images("images", images, channels=(1, 3))
    seed = check_seed("seed", seed)
    blur_prob = check_float("blur_prob", blur_prob, minimum=0.0, maximum=1.0)
    jpeg_prob = check_float("jpeg_prob", jpeg_prob, minimum=0.0, maximum=1.0)
    blur_max = check_float("blur_max", blur_max, minimum=0.0)
    jpeg_min = check_int("jpeg_min", jpeg_min, minimum=1, maximum=100)
    jpeg_max = check_int("jpeg_max", jpeg_max, minimum=jpeg_min, maximum=100)
    generator = torch.Generator().manual_seed(seed)
    n = len(images)
    blurred = torch.rand(n, generator=generator) < blur_prob
    sigmas = torch.rand(n, generator=generator) * blur_max
    compressed = torch.rand(n, generator=generator) < jpeg_prob
    qualities = torch.randint(jpeg_min, jpeg_max + 1, (n,), generator=generator)
    out = images.clone()
    for i in blurred.nonzero().flatten().tolist():
        if sigmas[i] > 0.1:  # below that a Gaussian of 3 taps is the identity to 8 bits
            out[i : i + 1] = gaussian_blur(images[i : i + 1], float(sigmas[i]), border="replicate")
    if compressed.any():
        out[compressed] = compress(out[compressed], qualities[compressed])
    return out
