"""DeepFaceLab's ``core/leras/models/CodeDiscriminator.py``: the true-face discriminator (SAEHD builds it
for DF when ``true_face_power`` > 0). Codes are tensors (N, C, H, W).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from aelab.models.leras import conv2d, glorot_zero_
from aelab.validate import check_int

__all__ = ["CodeDiscriminator"]


class CodeDiscriminator(nn.Module):
    """DeepFaceLab's ``CodeDiscriminator``: tells src's inter codes from dst's (SAEHD's ``true_face_power``).

    1 + code_res // 8 convolutions with stride 2 (the first 4×4, the rest 3×3; leras' "SAME" pads
    kernel // 2 on every side), ch·min(2^i, 8) channels, leaky ReLU 0.1, then a 1×1 conv to one logit
    per position. Glorot-uniform kernels and zero biases (leras sets no initialiser: TensorFlow's
    default). Input: codes (N, in_ch, code_res, code_res), DF's ``inter`` output.
    """

    def __init__(self, in_ch: int, code_res: int, ch: int = 256) -> None:
        super().__init__()
        previous = check_int("in_ch", in_ch, minimum=1)
        code_res = check_int("code_res", code_res, minimum=1)
        ch = check_int("ch", ch, minimum=1)
        self.convs = nn.ModuleList()
        for i in range(1 + code_res // 8):
            current = ch * min(2**i, 8)
            kernel = 4 if i == 0 else 3
            layer = nn.Conv2d(previous, current, kernel, stride=2, padding=kernel // 2)
            glorot_zero_(layer)
            self.convs.append(layer)
            previous = current
        self.out_conv = conv2d(previous, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.1)
        return self.out_conv(x)
