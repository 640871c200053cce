"""DeepFaceLab's ``core/leras/archis/DeepFakeArchi.py`` (``mod=None``, options ``u``, ``d``, ``t``).

The blocks (``Downscale``, ``DownscaleBlock``, ``Upscale``, ``ResidualBlock``) and the three parts
every SAEHD model is made of (``Encoder``, ``Inter``, ``Decoder``). Attributes carry DeepFakeArchi's
names, so a layer found in DeepFaceLab's source has the same name here and in the ``state_dict``
(``encoder.down1.downs.0.conv1.weight``, ``decoder.upscale0``, ``decoder.res0``, ``decoder.out_conv1``,
``decoder.upscalem3``, ``decoder.out_convm`` ...). How the parts are wired into DF and LIAE is
:mod:`aelab.models.saehd`.

Conventions: images are tensors of shape (N, C, H, W), float32 in [0, 1]; the decoder's outputs end
in a sigmoid, so they are in [0, 1] too. Flattening and reshaping follow DeepFaceLab's NCHW order
(C, H, W), also when it runs NHWC. Not reproduced: the ``c`` option (cos activation), fp16, the
``quick`` mod.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aelab.models.leras import conv2d, dense, depth_to_space, pixel_norm

__all__ = [
    "ARCHI_OPTIONS",
    "parse_options",
    "Downscale",
    "DownscaleBlock",
    "Upscale",
    "ResidualBlock",
    "Encoder",
    "Inter",
    "Decoder",
]

#: The archi option letters the kit reproduces, in their canonical order, with what each does.
ARCHI_OPTIONS: dict[str, str] = {
    "u": "pixel norm of the encoder's code",
    "d": "double resolution: decoder works at res/2, four output heads pixel-shuffled to res",
    "t": "deeper encoder down to res/32 and a fourth decoder upscale",
}


def parse_options(letters: str) -> str:
    """Validate DeepFaceLab archi option letters (the part after '-' in "liae-ud").

    Returns them in the canonical order u, d, t (so "du" and "ud" name the same model).
    """
    if not isinstance(letters, str):
        raise TypeError(f"archi options must be a str of letters from {', '.join(ARCHI_OPTIONS)}, got {letters!r}")
    known = "; ".join(f"{k} ({v})" for k, v in ARCHI_OPTIONS.items())
    for letter in letters:
        if letter not in ARCHI_OPTIONS:
            raise ValueError(f"unknown archi option {letter!r} in {letters!r}; known options: {known}")
        if letters.count(letter) > 1:
            raise ValueError(f"archi option {letter!r} is repeated in {letters!r}; give each letter once")
    return "".join(k for k in ARCHI_OPTIONS if k in letters)


# ----------------------------------------------------------------------------------------------------
# Blocks
# ----------------------------------------------------------------------------------------------------


class Downscale(nn.Module):
    """DeepFakeArchi ``Downscale``: 5×5 conv with stride 2 ("SAME" padding), leaky ReLU 0.1.

    (N, in_ch, H, W) -> (N, out_ch, ceil(H/2), ceil(W/2)).
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 5) -> None:
        super().__init__()
        self.conv1 = conv2d(in_ch, out_ch, kernel_size, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(self.conv1(x), 0.1)


class DownscaleBlock(nn.Module):
    """DeepFakeArchi ``DownscaleBlock``: ``n_downscales`` ``Downscale`` (in ``downs``) with ch, 2·ch,
    4·ch, 8·ch, 8·ch ... channels. (N, in_ch, H, W) -> (N, ch·min(2^(n-1), 8), H/2^n, W/2^n)."""

    def __init__(self, in_ch: int, ch: int, n_downscales: int, kernel_size: int = 5) -> None:
        super().__init__()
        chs = [in_ch] + [ch * min(2**i, 8) for i in range(n_downscales)]
        self.downs = nn.ModuleList(Downscale(a, b, kernel_size) for a, b in zip(chs, chs[1:]))
        self.out_ch = chs[-1]

    def forward(self, x: Tensor) -> Tensor:
        for down in self.downs:
            x = down(x)
        return x


class Upscale(nn.Module):
    """DeepFakeArchi ``Upscale``: 3×3 conv to 4·out_ch, leaky ReLU 0.1, depth-to-space ×2.

    (N, in_ch, H, W) -> (N, out_ch, 2H, 2W). The sub-pixel upsampling that leaves the Nyquist-line
    peaks the forensics lab finds in the spectra of generated images.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv1 = conv2d(in_ch, out_ch * 4, kernel_size)

    def forward(self, x: Tensor) -> Tensor:
        return depth_to_space(F.leaky_relu(self.conv1(x), 0.1), 2)


class ResidualBlock(nn.Module):
    """DeepFakeArchi ``ResidualBlock``: conv3×3, leaky 0.2, conv3×3, then leaky 0.2 of (input + that)."""

    def __init__(self, ch: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv1 = conv2d(ch, ch, kernel_size)
        self.conv2 = conv2d(ch, ch, kernel_size)

    def forward(self, inp: Tensor) -> Tensor:
        x = F.leaky_relu(self.conv1(inp), 0.2)
        return F.leaky_relu(inp + self.conv2(x), 0.2)


# ----------------------------------------------------------------------------------------------------
# The three parts
# ----------------------------------------------------------------------------------------------------


class Encoder(nn.Module):
    """DeepFakeArchi ``Encoder``: the shared encoder of both archis.

    Default: ``down1``, a ``DownscaleBlock`` of four ``Downscale`` with e, 2e, 4e, 8e channels ->
    (8e, res/16, res/16). ``-t``: ``down1`` (e), ``res1``, ``down2`` (2e), ``down3`` (4e), ``down4``
    (8e), ``down5`` (8e), ``res5`` -> (8e, res/32, res/32). The map is flattened in (C, H, W) order;
    ``-u`` then pixel-normalises the flat code.
    Input: images (N, in_ch, res, res) in [0, 1]; output: (N, 8e·(res/16)²) (or res/32 with ``-t``).
    """

    def __init__(self, in_ch: int, e_dims: int, opts: str = "") -> None:
        super().__init__()
        self.opts = parse_options(opts)
        e = e_dims
        if "t" in self.opts:
            self.down1 = Downscale(in_ch, e)
            self.res1 = ResidualBlock(e)
            self.down2 = Downscale(e, 2 * e)
            self.down3 = Downscale(2 * e, 4 * e)
            self.down4 = Downscale(4 * e, 8 * e)
            self.down5 = Downscale(8 * e, 8 * e)
            self.res5 = ResidualBlock(8 * e)
        else:
            self.down1 = DownscaleBlock(in_ch, e, n_downscales=4)
        self.out_ch = 8 * e

    def get_out_res(self, resolution: int) -> int:
        """Side of the last feature map for input images of ``resolution`` (DFL's ``get_out_res``)."""
        return resolution // (32 if "t" in self.opts else 16)

    def forward(self, x: Tensor) -> Tensor:
        x = self.down1(x)
        if "t" in self.opts:
            x = self.res5(self.down5(self.down4(self.down3(self.down2(self.res1(x))))))
        x = x.flatten(1)
        return pixel_norm(x) if "u" in self.opts else x


class Inter(nn.Module):
    """DeepFakeArchi ``Inter``: the bottleneck, ``dense1`` (in -> ae_dims) -> ``dense2`` (ae_dims ->
    L·L·ae_out_ch).

    No activation after either dense layer. The result is reshaped to (ae_out_ch, L, L) with
    L = res // 16 (res // 32 with ``-d``) and upscaled once (``upscale1``) to (ae_out_ch, 2L, 2L);
    ``-t`` drops that upscale. DF uses ae_out_ch = ae_dims, LIAE 2·ae_dims.
    """

    def __init__(self, in_features: int, ae_dims: int, ae_out_ch: int, resolution: int, opts: str = "") -> None:
        super().__init__()
        self.opts = parse_options(opts)
        self.lowest_dense_res = resolution // (32 if "d" in self.opts else 16)
        self.out_ch = ae_out_ch
        self.dense1 = dense(in_features, ae_dims)
        self.dense2 = dense(ae_dims, self.lowest_dense_res**2 * ae_out_ch)
        self.upscale1 = None if "t" in self.opts else Upscale(ae_out_ch, ae_out_ch)

    @property
    def out_res(self) -> int:
        """The side of the output code (``Inter.get_out_res``): 2L, or L with ``-t``."""
        return self.lowest_dense_res * (1 if self.upscale1 is None else 2)

    def forward(self, x: Tensor) -> Tensor:
        side = self.lowest_dense_res
        x = self.dense2(self.dense1(x)).reshape(-1, self.out_ch, side, side)
        return x if self.upscale1 is None else self.upscale1(x)


class Decoder(nn.Module):
    """DeepFakeArchi ``Decoder``: an image branch and a mask branch, both from the same code.

    Image: ``upscale0`` (in -> 8d) ``res0``, ``upscale1`` (8d -> 4d) ``res1``, ``upscale2`` (4d -> 2d)
    ``res2``, then ``out_conv`` 1×1 -> 3, sigmoid. Mask: ``upscalem0`` (in -> 8m), ``upscalem1``
    (-> 4m), ``upscalem2`` (-> 2m), ``out_convm`` 1×1 -> 1, sigmoid.
    ``-t`` inserts a stage of 8d after the first (image: upscale0..3, res0..3; mask: 8m, 8m, 4m, 2m).
    ``-d`` adds three 3×3 heads ``out_conv1..3`` beside the 1×1 ``out_conv`` (each 2d -> 3); their
    outputs are concatenated and depth-to-space'd ×2, so ``out_conv`` paints the top-left pixel of each
    2×2 block, ``out_conv1`` the top-right, ``out_conv2`` bottom-left, ``out_conv3`` bottom-right; the
    mask gets one more upscale (2m -> m) before its 1×1 ``out_convm`` m -> 1.
    Returns (image (N, 3, res, res), mask (N, 1, res, res)), both in [0, 1].
    """

    def __init__(self, in_ch: int, d_dims: int, d_mask_dims: int, opts: str = "") -> None:
        super().__init__()
        self.opts = parse_options(opts)
        widths = (8, 8, 4, 2) if "t" in self.opts else (8, 4, 2)
        image_chs = [in_ch] + [w * d_dims for w in widths]
        mask_chs = [in_ch] + [w * d_mask_dims for w in widths] + ([d_mask_dims] if "d" in self.opts else [])
        # Built in this order (not DeepFakeArchi's) so that a seed draws the same initial weights as ever.
        self.stages = len(widths)
        for i, (a, b) in enumerate(zip(image_chs, image_chs[1:])):
            self.add_module(f"upscale{i}", Upscale(a, b))
        for i, ch in enumerate(image_chs[1:]):
            self.add_module(f"res{i}", ResidualBlock(ch))
        self.out_conv = conv2d(image_chs[-1], 3, 1)
        if "d" in self.opts:
            self.out_conv1 = conv2d(image_chs[-1], 3, 3)
            self.out_conv2 = conv2d(image_chs[-1], 3, 3)
            self.out_conv3 = conv2d(image_chs[-1], 3, 3)
        self.mask_stages = len(mask_chs) - 1
        for i, (a, b) in enumerate(zip(mask_chs, mask_chs[1:])):
            self.add_module(f"upscalem{i}", Upscale(a, b))
        self.out_convm = conv2d(mask_chs[-1], 1, 1)

    def heads(self) -> list[nn.Conv2d]:
        """The image output heads: [out_conv], or [out_conv, out_conv1, out_conv2, out_conv3] with ``-d``."""
        if "d" in self.opts:
            return [self.out_conv, self.out_conv1, self.out_conv2, self.out_conv3]
        return [self.out_conv]

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        x = z
        for i in range(self.stages):
            x = getattr(self, f"res{i}")(getattr(self, f"upscale{i}")(x))
        if "d" in self.opts:
            x = depth_to_space(torch.cat([head(x) for head in self.heads()], dim=1), 2)
        else:
            x = self.out_conv(x)
        m = z
        for i in range(self.mask_stages):
            m = getattr(self, f"upscalem{i}")(m)
        return torch.sigmoid(x), torch.sigmoid(self.out_convm(m))
