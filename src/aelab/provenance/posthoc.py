"""The classic post-hoc watermark: invisible-watermark's DWT-DCT method (the ``dwtDct`` of the
``invisible-watermark`` package, which image generators such as Stable Diffusion's reference scripts
ship), applied to a finished image rather than built into the generator.

The method writes each bit into the largest coefficient of the DCT of 4x4 blocks of the wavelet (Haar)
low band of the U and V channels, cycling the bits over the blocks; the library refuses images under
256x256 pixels. The kit's swaps are 32 px, so :func:`embed` publishes each swap upscaled (bicubic) to
:data:`SIZE` px before signing it, and :func:`read` decodes with the library's own ``EmbedMaxDct``
decoder, which reads any size (a cropped image included). Images are (N, 3, H, W) floats in [0, 1];
the key a tensor (k,) of 0s and 1s.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from aelab.forensics.degrade import from_uint8, to_uint8
from aelab.validate import check_images, check_tensor

__all__ = ["SIZE", "publish", "embed", "read"]

#: The side of the published image: the smallest invisible-watermark signs.
SIZE = 256


def publish(images: Tensor) -> Tensor:
    """Images (N, 3, h, w) upscaled bicubic to (N, 3, SIZE, SIZE), clipped to [0, 1]."""
    images = check_images("images", images, channels=3)
    return F.interpolate(images, size=(SIZE, SIZE), mode="bicubic", align_corners=False).clamp(0, 1)


def embed(images: Tensor, key: Tensor) -> Tensor:
    """Published images (N, 3, SIZE, SIZE) in [0, 1] signed with ``key`` by invisible-watermark's DWT-DCT."""
    from imwatermark import WatermarkEncoder  # a heavy import (OpenCV): only where it is used

    images = check_images("images", images, channels=3, resolution=SIZE)
    key = check_tensor("key", key, ndim=1)
    encoder = WatermarkEncoder()
    encoder.set_watermark("bits", [int(b) for b in key.tolist()])
    bgr = to_uint8(images)[..., ::-1]
    signed = np.stack([encoder.encode(np.ascontiguousarray(x), "dwtDct")[..., ::-1] for x in bgr])
    return from_uint8(signed)


def read(images: Tensor, bits: int) -> Tensor:
    """The ``bits`` bits DWT-DCT reads from each image (N, 3, H, W), any size: a bool tensor (N, bits)."""
    from imwatermark.maxDct import EmbedMaxDct

    images = check_images("images", images, channels=3)
    decoder = EmbedMaxDct(watermarks=[], wmLen=bits)
    out = [decoder.decode(np.ascontiguousarray(x[..., ::-1])) for x in to_uint8(images)]
    return torch.from_numpy(np.stack(out).astype(bool))
