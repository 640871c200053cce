"""The layers and ops of DeepFaceLab's ``core/leras`` that the models are built from.

- ``core/leras/layers/Conv2D.py`` -- :func:`conv2d`: DeepFaceLab pads symmetrically by
  ``((k - 1) * dilation + 1) // 2`` and then runs a VALID convolution, which is exactly PyTorch's
  ``padding=(k - 1) // 2``.
- ``core/leras/layers/Dense.py`` -- :func:`dense`.
- ``core/leras/ops/__init__.py`` -- :func:`depth_to_space` (TensorFlow's channel order, not
  ``nn.PixelShuffle``'s) and :func:`pixel_norm`.
- Initialisation: leras leaves ``kernel_initializer`` unset, so TensorFlow's default applies: Glorot
  (Xavier) uniform for every conv and dense kernel, zeros for biases. :func:`dfl_init_` does the same
  and is what SAEHD's pretraining uses to re-initialise the inter layers.

Images are tensors (N, C, H, W) of floats.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["conv2d", "dense", "glorot_zero_", "dfl_init_", "depth_to_space", "pixel_norm", "count_parameters"]

_INITIALISED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def glorot_zero_(layer: nn.Conv2d | nn.ConvTranspose2d | nn.Linear) -> None:
    """TensorFlow's default initialisation, in place: Glorot uniform kernel, zero bias."""
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)


def dfl_init_(module: nn.Module) -> nn.Module:
    """Re-initialise every conv and dense layer of ``module`` in place the way DeepFaceLab does.

    TensorFlow's default initialiser (leras' ``Conv2D`` and ``Dense`` set none): Glorot uniform
    kernels, zero biases. SAEHD calls this on the inter layers when pretraining ends. Draws from
    torch's global generator (seed it with ``torch.manual_seed``). Returns ``module``.
    """
    for layer in module.modules():
        if isinstance(layer, _INITIALISED):
            glorot_zero_(layer)
    return module


def conv2d(in_ch: int, out_ch: int, kernel_size: int, stride: int = 1) -> nn.Conv2d:
    """leras ``Conv2D(padding='SAME')``: symmetric padding (k - 1) // 2, Glorot init."""
    layer = nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=(kernel_size - 1) // 2)
    glorot_zero_(layer)
    return layer


def dense(in_features: int, out_features: int) -> nn.Linear:
    """leras ``Dense``: Glorot init, zero bias."""
    layer = nn.Linear(in_features, out_features)
    glorot_zero_(layer)
    return layer


def depth_to_space(x: Tensor, size: int = 2) -> Tensor:
    """leras ``nn.depth_to_space`` (TensorFlow's DCR order): (N, C·s², H, W) -> (N, C, H·s, W·s).

    Output pixel (i, j) of each s×s block takes input channels ``(i·s + j)·C … (i·s + j)·C + C - 1``.
    For the plain upscales this differs from ``nn.PixelShuffle`` (c·4 + i·2 + j) only by a permutation
    of learned weights; for the ``-d`` output heads the order decides which head paints which pixel.
    """
    n, c, h, w = x.shape
    out_ch = c // (size * size)
    x = x.reshape(n, size, size, out_ch, h, w).permute(0, 3, 4, 1, 5, 2)
    return x.reshape(n, out_ch, h * size, w * size)


def pixel_norm(x: Tensor, dim: int = -1, eps: float = 1e-6) -> Tensor:
    """leras ``nn.pixel_norm``: ``x / sqrt(mean(x², dim) + eps)`` (the ``-u`` option, on the flat code)."""
    return x * torch.rsqrt(x.square().mean(dim=dim, keepdim=True) + eps)


def count_parameters(module: nn.Module) -> int:
    """Number of weights and biases in ``module``, as DeepFaceLab's model summary counts them."""
    return sum(p.numel() for p in module.parameters())
