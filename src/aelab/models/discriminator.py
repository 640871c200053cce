"""DeepFaceLab's ``core/leras/models/PatchDiscriminator.py``: ``UNetPatchDiscriminator``, the GAN's
discriminator (SAEHD builds it when gan_power > 0).

After Schönfeld et al. 2020, "A U-Net Based Discriminator for Generative Adversarial Networks", as in
DeepFaceLab's final version (no residual blocks). Images are tensors (N, C, H, W) of floats in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aelab.models.leras import conv2d, glorot_zero_
from aelab.validate import check_images, check_positive_int

__all__ = ["PatchLogits", "UNetPatchDiscriminator"]


class PatchLogits(NamedTuple):
    """The discriminator's two outputs (logits, apply a sigmoid for probabilities).

    ``center``: (N, 1, H/s, W/s) at the U-Net's bottom (s = the product of the strides), one logit
    per receptive-field patch; ``pixel``: (N, 1, H, W), one logit per pixel, from the decoder side.
    """

    center: Tensor
    pixel: Tensor


def _receptive_field(layers: Sequence[tuple[int, int]]) -> int:
    """``UNetPatchDiscriminator.calc_receptive_field_size`` for (kernel, stride) layers."""
    rf, total_stride = 0, 1
    for i, (k, s) in enumerate(layers):
        rf = k if i == 0 else rf + (k - 1) * total_stride
        total_stride *= s
    return rf


def _find_archi(target_patch_size: int, max_layers: int = 9) -> list[tuple[int, int]]:
    """``UNetPatchDiscriminator.find_archi``: the 3×3 conv stack whose receptive field is nearest the
    patch size, preferring fewer layers, then more striding. The first layer always has stride 2."""
    best: dict[int, tuple[int, int, list[tuple[int, int]]]] = {}
    for count in range(1, max_layers + 1):
        for val in range((1 << (count - 1)) - 1, -1, -1):
            layers = [(3, 2)] + [(3, 2 if val & (1 << i) else 1) for i in range(count - 1)]
            strides = sum(s for _, s in layers)
            rf = _receptive_field(layers)
            if rf not in best or count < best[rf][0] or (count == best[rf][0] and strides > best[rf][1]):
                best[rf] = (count, strides, layers)
    sizes = sorted(best)
    return best[sizes[int(np.abs(np.array(sizes) - target_patch_size).argmin())]][2]


class UNetPatchDiscriminator(nn.Module):
    """DeepFaceLab's ``UNetPatchDiscriminator`` (after Schönfeld et al. 2020, "A U-Net Based
    Discriminator for Generative Adversarial Networks"), as in its final version (no residual blocks).

    The layer stack is chosen from ``patch_size`` (SAEHD: ``gan_patch_size`` = resolution // 8) by
    :func:`_find_archi`; channels grow base_ch, 2·base_ch, ... up to 512. A 1×1 ``in_conv``, the
    strided 3×3 ``convs`` down, a 1×1 ``center_out`` logit map at the bottom, then transposed
    ``upconvs`` back up with skip connections and a 1×1 ``out_conv`` per-pixel logit map. Leaky
    ReLU 0.2 throughout. Input: images (N, in_channels, H, W) in [0, 1], H and W divisible by
    :attr:`total_stride`.
    """

    def __init__(self, patch_size: int, in_channels: int = 3, base_ch: int = 16) -> None:
        super().__init__()
        self.patch_size = check_positive_int("patch_size", patch_size)
        self.in_channels = check_positive_int("in_channels", in_channels)
        base_ch = check_positive_int("base_ch", base_ch)
        layers = _find_archi(self.patch_size)
        self.total_stride = int(np.prod([s for _, s in layers]))
        chs = [min(base_ch * 2**i, 512) for i in range(len(layers) + 1)]  # DFL's level_chs[-1], [0], ...
        self.in_conv = conv2d(self.in_channels, chs[0], 1)
        self.convs = nn.ModuleList(conv2d(chs[i], chs[i + 1], k, s) for i, (k, s) in enumerate(layers))
        self._strides = [s for _, s in layers][::-1]
        ups = []
        for i, (k, s) in reversed(list(enumerate(layers))):
            layer = nn.ConvTranspose2d(chs[i + 1] * (1 if i == len(layers) - 1 else 2), chs[i], k, stride=s)
            glorot_zero_(layer)
            ups.append(layer)
        self.upconvs = nn.ModuleList(ups)
        self.out_conv = conv2d(chs[0] * 2, 1, 1)
        self.center_out = conv2d(chs[-1], 1, 1)
        self.center_conv = conv2d(chs[-1], chs[-1], 1)

    def forward(self, x: Tensor) -> PatchLogits:
        check_images("x", x, channels=self.in_channels)
        if x.shape[2] % self.total_stride or x.shape[3] % self.total_stride:
            raise ValueError(
                f"image sides must be multiples of {self.total_stride} for patch_size "
                f"{self.patch_size}, got {tuple(x.shape[2:])}"
            )
        x = F.leaky_relu(self.in_conv(x), 0.2)
        skips = []
        for conv in self.convs:
            skips.insert(0, x)
            x = F.leaky_relu(conv(x), 0.2)
        center = self.center_out(x)
        x = F.leaky_relu(self.center_conv(x), 0.2)
        for upconv, stride, skip in zip(self.upconvs, self._strides, skips):
            # TensorFlow's "SAME" transposed conv: the full output cropped at (k - stride) // 2.
            start = (upconv.kernel_size[0] - stride) // 2
            up = upconv(x)[:, :, start : start + skip.shape[2], start : start + skip.shape[3]]
            x = torch.cat([skip, F.leaky_relu(up, 0.2)], dim=1)
        return PatchLogits(center=center, pixel=self.out_conv(x))
