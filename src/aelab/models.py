"""DeepFaceLab's SAEHD autoencoders (DF and LIAE), a plain AE and VAE, and the U-Net patch discriminator.

One file, read top to bottom: the layers, the blocks, the three parts (encoder, inter, decoder), the two
archis that wire them, how a configuration becomes a model, the summary table, and the small models of
the first labs. Each block says which part of DeepFaceLab it reproduces:

- ``core/leras/archis/DeepFakeArchi.py`` -- ``Downscale``, ``Upscale``, ``ResidualBlock``, ``Encoder``,
  ``Inter``, ``Decoder`` and the archi options ``u``, ``d``, ``t``;
- ``models/Model_SAEHD/Model.py`` -- how ``df`` and ``liae`` wire those parts, the option and
  resolution rules, the parameter counts of the model summary;
- ``core/leras/models/PatchDiscriminator.py`` -- ``UNetPatchDiscriminator`` (used when gan_power > 0).

Conventions: images are tensors of shape (N, C, H, W), float32 in [0, 1]; masks are (N, 1, H, W) in
[0, 1]. Every model below ends in a sigmoid, so what it returns is in [0, 1] too.

Faithful details worth knowing:

- DeepFaceLab's ``Conv2D`` pads symmetrically by ``((k - 1) * dilation + 1) // 2`` and then runs a
  VALID convolution, which is exactly PyTorch's ``padding=(k - 1) // 2``.
- ``depth_to_space`` follows TensorFlow's channel order (channel = (i * 2 + j) * C + c for the output
  pixel (i, j) of each 2x2 block), not ``nn.PixelShuffle``'s (c * 4 + i * 2 + j). For the plain
  upscales the two differ only by a permutation of learned weights; for the ``-d`` output heads the
  order decides which head paints which pixel: ``out_conv[0]`` (the 1x1 head) the top-left one,
  ``out_conv[1]`` top-right, ``out_conv[2]`` bottom-left, ``out_conv[3]`` bottom-right.
- Flattening and reshaping follow DeepFaceLab's NCHW order (C, H, W), also when it runs NHWC.
- Initialisation: DeepFaceLab leaves ``kernel_initializer`` unset, so TensorFlow's default applies:
  Glorot (Xavier) uniform for every conv and dense kernel, zeros for biases. :func:`dfl_init_` does the
  same and is what SAEHD's pretraining uses to re-initialise the inter layers.
- Not reproduced: the ``c`` option (cos activation), fp16, and the older ``-hd`` archis.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "ARCHI_TYPES",
    "ARCHI_OPTIONS",
    "SAEHDCodes",
    "SAEHDOutput",
    "SAEHDSwap",
    "VAEOutput",
    "PatchLogits",
    "depth_to_space",
    "pixel_norm",
    "dfl_init_",
    "count_parameters",
    "Downscale",
    "Upscale",
    "ResidualBlock",
    "Encoder",
    "Inter",
    "Decoder",
    "SAEHD",
    "DF",
    "LIAE",
    "df_codes",
    "liae_codes",
    "parse_archi",
    "parse_options",
    "check_resolution",
    "build",
    "summary",
    "main",
    "ConvAutoencoder",
    "VAE",
    "UNetPatchDiscriminator",
    "CodeDiscriminator",
]

#: The two SAEHD archi types, as DeepFaceLab spells them.
ARCHI_TYPES: tuple[str, ...] = ("df", "liae")
#: The archi option letters the kit reproduces, in their canonical order, with what each does.
ARCHI_OPTIONS: dict[str, str] = {
    "u": "pixel norm of the encoder's code",
    "d": "double resolution: decoder works at res/2, four output heads pixel-shuffled to res",
    "t": "deeper encoder down to res/32 and a fourth decoder upscale",
}


# ----------------------------------------------------------------------------------------------------
# Checks shared by every public constructor
# ----------------------------------------------------------------------------------------------------


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int, got {value!r} ({type(value).__name__})")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return int(value)


def _check_images(x: object, name: str, channels: int, resolution: int) -> None:
    """Raise a clear error unless ``x`` is a float tensor of shape (N, channels, resolution, resolution)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of images (N, {channels}, H, W), got {type(x).__name__}")
    if x.ndim != 4 or x.shape[1] != channels or x.shape[2] != resolution or x.shape[3] != resolution:
        raise ValueError(
            f"{name} must have shape (N, {channels}, {resolution}, {resolution}) (images in [0, 1]), "
            f"got {tuple(x.shape)}; resize the images or build the model for this resolution"
        )
    if not x.is_floating_point():
        raise TypeError(f"{name} must hold floats in [0, 1], got dtype {x.dtype}; use x.float() / 255")


# ----------------------------------------------------------------------------------------------------
# Layers and ops, as core/leras builds them
# ----------------------------------------------------------------------------------------------------

_INITIALISED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def _glorot_zero_(layer: nn.Conv2d | nn.ConvTranspose2d | nn.Linear) -> None:
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
            _glorot_zero_(layer)
    return module


def _conv(in_ch: int, out_ch: int, kernel_size: int, stride: int = 1) -> nn.Conv2d:
    """leras ``Conv2D(padding='SAME')``: symmetric padding (k - 1) // 2, Glorot init."""
    layer = nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=(kernel_size - 1) // 2)
    _glorot_zero_(layer)
    return layer


def _dense(in_features: int, out_features: int) -> nn.Linear:
    """leras ``Dense``: Glorot init, zero bias."""
    layer = nn.Linear(in_features, out_features)
    _glorot_zero_(layer)
    return layer


def depth_to_space(x: Tensor, size: int = 2) -> Tensor:
    """leras ``nn.depth_to_space`` (TensorFlow's DCR order): (N, C·s², H, W) -> (N, C, H·s, W·s).

    Output pixel (i, j) of each s×s block takes input channels ``(i·s + j)·C … (i·s + j)·C + C - 1``.
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


# ----------------------------------------------------------------------------------------------------
# Blocks: core/leras/archis/DeepFakeArchi.py
# ----------------------------------------------------------------------------------------------------


class Downscale(nn.Module):
    """DeepFakeArchi ``Downscale``: 5×5 conv with stride 2 ("SAME" padding), leaky ReLU 0.1.

    (N, in_ch, H, W) -> (N, out_ch, ceil(H/2), ceil(W/2)).
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 5) -> None:
        super().__init__()
        self.conv1 = _conv(in_ch, out_ch, kernel_size, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(self.conv1(x), 0.1)


class Upscale(nn.Module):
    """DeepFakeArchi ``Upscale``: 3×3 conv to 4·out_ch, leaky ReLU 0.1, depth-to-space ×2.

    (N, in_ch, H, W) -> (N, out_ch, 2H, 2W). The sub-pixel upsampling that leaves the Nyquist-line
    peaks the forensics lab finds in the spectra of generated images.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv1 = _conv(in_ch, out_ch * 4, kernel_size)

    def forward(self, x: Tensor) -> Tensor:
        return depth_to_space(F.leaky_relu(self.conv1(x), 0.1), 2)


class ResidualBlock(nn.Module):
    """DeepFakeArchi ``ResidualBlock``: conv3×3, leaky 0.2, conv3×3, then leaky 0.2 of (input + that)."""

    def __init__(self, ch: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv1 = _conv(ch, ch, kernel_size)
        self.conv2 = _conv(ch, ch, kernel_size)

    def forward(self, inp: Tensor) -> Tensor:
        x = F.leaky_relu(self.conv1(inp), 0.2)
        return F.leaky_relu(inp + self.conv2(x), 0.2)


# ----------------------------------------------------------------------------------------------------
# The three parts: encoder, inter, decoder (DeepFakeArchi.py, mod=None, opts u/d/t)
# ----------------------------------------------------------------------------------------------------


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


class Encoder(nn.Module):
    """DeepFakeArchi ``Encoder``: the shared encoder of both archis.

    Default: four ``Downscale`` with e, 2e, 4e, 8e channels -> (8e, res/16, res/16).
    ``-t``: down(e), res(e), down(2e), down(4e), down(8e), down(8e), res(8e) -> (8e, res/32, res/32).
    The map is flattened in (C, H, W) order; ``-u`` then pixel-normalises the flat code.
    Input: images (N, in_ch, res, res) in [0, 1]; output: (N, 8e·(res/16)²) (or res/32 with ``-t``).
    """

    def __init__(self, in_ch: int, e_dims: int, opts: str = "") -> None:
        super().__init__()
        self.opts = parse_options(opts)
        e = e_dims
        if "t" in self.opts:
            layers = [Downscale(in_ch, e), ResidualBlock(e), Downscale(e, 2 * e), Downscale(2 * e, 4 * e),
                      Downscale(4 * e, 8 * e), Downscale(8 * e, 8 * e), ResidualBlock(8 * e)]
        else:
            layers = [Downscale(in_ch, e), Downscale(e, 2 * e), Downscale(2 * e, 4 * e), Downscale(4 * e, 8 * e)]
        self.down = nn.Sequential(*layers)
        self.out_ch = 8 * e

    def get_out_res(self, resolution: int) -> int:
        """Side of the last feature map for input images of ``resolution`` (DFL's ``get_out_res``)."""
        return resolution // (32 if "t" in self.opts else 16)

    def forward(self, x: Tensor) -> Tensor:
        x = self.down(x).flatten(1)
        return pixel_norm(x) if "u" in self.opts else x


class Inter(nn.Module):
    """DeepFakeArchi ``Inter``: the bottleneck, Dense(in, ae_dims) -> Dense(ae_dims, L·L·ae_out_ch).

    No activation after either dense layer. The result is reshaped to (ae_out_ch, L, L) with
    L = res // 16 (res // 32 with ``-d``) and upscaled once to (ae_out_ch, 2L, 2L); ``-t`` drops that
    upscale. DF uses ae_out_ch = ae_dims, LIAE 2·ae_dims.
    """

    def __init__(self, in_features: int, ae_dims: int, ae_out_ch: int, resolution: int, opts: str = "") -> None:
        super().__init__()
        self.opts = parse_options(opts)
        self.lowest_dense_res = resolution // (32 if "d" in self.opts else 16)
        self.out_ch = ae_out_ch
        self.dense1 = _dense(in_features, ae_dims)
        self.dense2 = _dense(ae_dims, self.lowest_dense_res**2 * ae_out_ch)
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

    Image: Up(in, 8d) Res(8d), Up(8d, 4d) Res(4d), Up(4d, 2d) Res(2d), then ``out_conv`` 1×1 -> 3,
    sigmoid. Mask: Up(in, 8m), Up(8m, 4m), Up(4m, 2m), ``out_convm`` 1×1 -> 1, sigmoid.
    ``-t`` inserts Up(8d, 8d) Res(8d) after the first stage (mask: 8m, 8m, 4m, 2m).
    ``-d`` adds three 3×3 heads beside the 1×1 one (``out_conv`` holds all four, each 2d -> 3); their
    outputs are concatenated and depth-to-space'd ×2, and the mask gets one more Up(2m, m) before
    its 1×1 conv m -> 1.
    Returns (image (N, 3, res, res), mask (N, 1, res, res)), both in [0, 1].
    """

    def __init__(self, in_ch: int, d_dims: int, d_mask_dims: int, opts: str = "") -> None:
        super().__init__()
        self.opts = parse_options(opts)
        widths = (8, 8, 4, 2) if "t" in self.opts else (8, 4, 2)
        image_chs = [in_ch] + [w * d_dims for w in widths]
        mask_chs = [in_ch] + [w * d_mask_dims for w in widths] + ([d_mask_dims] if "d" in self.opts else [])
        self.upscale = nn.ModuleList(Upscale(a, b) for a, b in zip(image_chs, image_chs[1:]))
        self.res = nn.ModuleList(ResidualBlock(ch) for ch in image_chs[1:])
        kernels = (1, 3, 3, 3) if "d" in self.opts else (1,)
        self.out_conv = nn.ModuleList(_conv(image_chs[-1], 3, k) for k in kernels)
        self.upscalem = nn.ModuleList(Upscale(a, b) for a, b in zip(mask_chs, mask_chs[1:]))
        self.out_convm = _conv(mask_chs[-1], 1, 1)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        x = z
        for upscale, res in zip(self.upscale, self.res):
            x = res(upscale(x))
        x = torch.cat([head(x) for head in self.out_conv], dim=1)
        if len(self.out_conv) > 1:
            x = depth_to_space(x, 2)
        m = z
        for upscale in self.upscalem:
            m = upscale(m)
        return torch.sigmoid(x), torch.sigmoid(self.out_convm(m))


# ----------------------------------------------------------------------------------------------------
# The archis: how models/Model_SAEHD/Model.py wires the parts
# ----------------------------------------------------------------------------------------------------


class SAEHDCodes(NamedTuple):
    """The decoder inputs of one step, named as in Model_SAEHD (``gpu_src_code`` ...).

    ``src_code`` is None when only dst was given (inference: swapping dst faces).
    """

    src_code: Tensor | None
    dst_code: Tensor
    src_dst_code: Tensor


class SAEHDOutput(NamedTuple):
    """What one SAEHD step predicts, named as in Model_SAEHD. Images (N, 3, R, R), masks (N, 1, R, R), in [0, 1].

    ``pred_src_src`` / ``pred_dst_dst`` are the reconstructions, ``pred_src_dst`` the swap (dst's face
    drawn as src); the ``...m`` fields are the learned masks.
    """

    pred_src_src: Tensor
    pred_src_srcm: Tensor
    pred_dst_dst: Tensor
    pred_dst_dstm: Tensor
    pred_src_dst: Tensor
    pred_src_dstm: Tensor


class SAEHDSwap(NamedTuple):
    """A swap of dst faces: the image, its own mask, and dst's mask (the merge mask, DFL's "learned-dst")."""

    pred_src_dst: Tensor
    pred_src_dstm: Tensor
    pred_dst_dstm: Tensor


def _twice(code: Tensor) -> Tensor:
    return torch.cat([code, code], dim=1)


def df_codes(encoder: nn.Module, inter: nn.Module, src: Tensor | None, dst: Tensor) -> SAEHDCodes:
    """DF wiring (Model_SAEHD, ``'df' in archi_type``): one encoder and one inter for both sides.

    src code = inter(E(src)); dst code = inter(E(dst)); the swap decodes dst's code with decoder_src,
    so src_dst code = dst code.
    """
    src_code, dst_code = _shared(lambda x: inter(encoder(x)), src, dst)
    return SAEHDCodes(src_code=src_code, dst_code=dst_code, src_dst_code=dst_code)


def _shared(layers: Callable[[Tensor], Tensor], src: Tensor | None, dst: Tensor) -> tuple[Tensor | None, Tensor]:
    """``layers`` applied to src and dst, in one batch (src None: dst only).

    DeepFaceLab calls the shared encoder and inters once per side; no layer mixes samples (there is no
    batch norm), so one call on both batches gives the same results with larger, faster GEMMs.
    """
    if src is None:
        return None, layers(dst)
    src_out, dst_out = layers(torch.cat([src, dst])).split([len(src), len(dst)])
    return src_out, dst_out


def liae_codes(encoder: nn.Module, inter_AB: nn.Module, inter_B: nn.Module, src: Tensor | None,
               dst: Tensor) -> SAEHDCodes:
    """LIAE wiring (Model_SAEHD, ``'liae' in archi_type``), concatenating on channels.

    src code = [AB(E(src)), AB(E(src))]; dst code = [B(E(dst)), AB(E(dst))];
    src_dst code = [AB(E(dst)), AB(E(dst))]: dst's face as if it had only the shared (AB) part, which
    is how a src face is always coded -- the one decoder then draws it as src.
    """
    src_e, dst_e = _shared(encoder, src, dst)
    src_ab, dst_ab = _shared(inter_AB, src_e, dst_e)
    src_code = None if src_ab is None else _twice(src_ab)
    return SAEHDCodes(src_code=src_code, dst_code=torch.cat([inter_B(dst_e), dst_ab], dim=1),
                      src_dst_code=_twice(dst_ab))


def check_resolution(resolution: object, opts: str = "") -> int:
    """Check that an SAEHD model with these options can take ``resolution``; return it as an int.

    The encoder halves the image four times (five with ``-t``) and the inter reshapes to res // 16
    (res // 32 with ``-d``), so the resolution must be a multiple of 16, or of 32 with ``-d`` or
    ``-t``. (DeepFaceLab also clips it to 64..640 in its UI; the kit allows small models.)
    """
    resolution = _check_positive_int("resolution", resolution)
    opts = parse_options(opts)
    multiple = 32 if ("d" in opts or "t" in opts) else 16
    if resolution % multiple:
        why = "with options " + "/".join(f"-{o}" for o in opts if o in "dt") if multiple == 32 else "by default"
        lower = max(multiple, resolution // multiple * multiple)
        raise ValueError(
            f"resolution {resolution} does not suit this archi: {why} it must be a multiple of {multiple}; "
            f"use e.g. {lower} or {lower + multiple}"
        )
    return resolution


class SAEHD(nn.Module):
    """What DF and LIAE share: the dims, the options, ``forward``, ``swap`` and the checks.

    Subclasses build their parts after the encoder (:meth:`_build_parts`, attribute names as in
    DeepFaceLab), and say how they wire them (:meth:`_wire`) and which decoder draws each side
    (:meth:`decoders`). Keyword arguments default to the seed model card (LIAE.f.128.80.48.16).
    """

    archi_type: str = ""

    def __init__(self, *, resolution: int = 128, ae_dims: int = 128, e_dims: int = 80, d_dims: int = 48,
                 d_mask_dims: int = 16, options: str = "") -> None:
        super().__init__()
        self.options = parse_options(options)
        self.resolution = check_resolution(resolution, self.options)
        self.ae_dims = _check_positive_int("ae_dims", ae_dims)
        self.e_dims = _check_positive_int("e_dims", e_dims)
        self.d_dims = _check_positive_int("d_dims", d_dims)
        self.d_mask_dims = _check_positive_int("d_mask_dims", d_mask_dims)
        self.encoder = Encoder(3, self.e_dims, self.options)
        self._build_parts()

    @property
    def archi(self) -> str:
        """DeepFaceLab's archi string, e.g. "liae-ud"."""
        return self.archi_type + (f"-{self.options}" if self.options else "")

    @property
    def encoder_out_features(self) -> int:
        return self.encoder.out_ch * self.encoder.get_out_res(self.resolution) ** 2

    def _decoder(self, in_ch: int) -> Decoder:
        return Decoder(in_ch, self.d_dims, self.d_mask_dims, self.options)

    def _inter(self, ae_out_ch: int) -> Inter:
        return Inter(self.encoder_out_features, self.ae_dims, ae_out_ch, self.resolution, self.options)

    def _build_parts(self) -> None:
        raise NotImplementedError

    def _wire(self, src: Tensor | None, dst: Tensor) -> SAEHDCodes:
        raise NotImplementedError

    def decoders(self) -> tuple[Decoder, Decoder]:
        """(the decoder that draws src faces, the one that draws dst faces)."""
        raise NotImplementedError

    def decode_sides(self, codes: SAEHDCodes) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
        """((image, mask) of src from ``src_code``, (image, mask) of dst from ``dst_code``): the two
        reconstructions a training step needs. When one decoder draws both (LIAE) it runs once, on
        both batches: same results as two calls (no layer mixes samples), larger and faster GEMMs."""
        if codes.src_code is None:
            raise ValueError("decode_sides needs src codes: make them with codes(src, dst), src not None")
        decoder_src, decoder_dst = self.decoders()
        if decoder_src is not decoder_dst:
            return decoder_src(codes.src_code), decoder_dst(codes.dst_code)
        sizes = [len(codes.src_code), len(codes.dst_code)]
        images, masks = decoder_src(torch.cat([codes.src_code, codes.dst_code]))
        (src_image, dst_image), (src_mask, dst_mask) = images.split(sizes), masks.split(sizes)
        return (src_image, src_mask), (dst_image, dst_mask)

    def codes(self, src: Tensor | None, dst: Tensor) -> SAEHDCodes:
        """The decoder inputs for src and dst images (N, 3, R, R) in [0, 1]; ``src`` may be None."""
        if src is not None:
            _check_images(src, "src", 3, self.resolution)
        _check_images(dst, "dst", 3, self.resolution)
        return self._wire(src, dst)

    def encode(self, x: Tensor) -> Tensor:
        """The encoder's flat code of images (N, 3, R, R) in [0, 1]."""
        _check_images(x, "x", 3, self.resolution)
        return self.encoder(x)

    def forward(self, src: Tensor, dst: Tensor) -> SAEHDOutput:
        """One SAEHD step on src and dst images (N, 3, R, R) in [0, 1] (the two N may differ)."""
        codes = self.codes(src, dst)
        decoder_src, decoder_dst = self.decoders()
        pred_src_src, pred_src_srcm = decoder_src(codes.src_code)
        pred_dst_dst, pred_dst_dstm = decoder_dst(codes.dst_code)
        pred_src_dst, pred_src_dstm = decoder_src(codes.src_dst_code)
        return SAEHDOutput(pred_src_src, pred_src_srcm, pred_dst_dst, pred_dst_dstm, pred_src_dst, pred_src_dstm)

    def swap(self, dst: Tensor) -> SAEHDSwap:
        """Draw dst faces (N, 3, R, R) in [0, 1] as src, with the masks DeepFaceLab's merger uses."""
        codes = self.codes(None, dst)
        decoder_src, decoder_dst = self.decoders()
        pred_src_dst, pred_src_dstm = decoder_src(codes.src_dst_code)
        return SAEHDSwap(pred_src_dst, pred_src_dstm, decoder_dst(codes.dst_code)[1])

    def parts(self) -> dict[str, nn.Module]:
        """The parts DeepFaceLab saves as separate files, by name, in its order."""
        return dict(self.named_children())

    def extra_repr(self) -> str:
        return (f"archi={self.archi!r}, resolution={self.resolution}, ae_dims={self.ae_dims}, "
                f"e_dims={self.e_dims}, d_dims={self.d_dims}, d_mask_dims={self.d_mask_dims}")


class DF(SAEHD):
    """SAEHD "df": one ``encoder``, one ``inter`` (ae_out = ae_dims), ``decoder_src`` and ``decoder_dst``.

    swap = decoder_src(inter(encoder(dst))). Parts and wiring as in ``models/Model_SAEHD/Model.py``.
    """

    archi_type = "df"

    def _build_parts(self) -> None:
        self.inter = self._inter(self.ae_dims)
        self.decoder_src = self._decoder(self.inter.out_ch)
        self.decoder_dst = self._decoder(self.inter.out_ch)

    def _wire(self, src: Tensor | None, dst: Tensor) -> SAEHDCodes:
        return df_codes(self.encoder, self.inter, src, dst)

    def decoders(self) -> tuple[Decoder, Decoder]:
        return self.decoder_src, self.decoder_dst


class LIAE(SAEHD):
    """SAEHD "liae": one ``encoder``, ``inter_AB`` and ``inter_B`` (ae_out = 2·ae_dims), one ``decoder``.

    The decoder sees [inter_B, inter_AB] codes for dst and [inter_AB, inter_AB] for src (see
    :func:`liae_codes`); the swap is decoder([AB(E(dst)), AB(E(dst))]). As in ``Model_SAEHD/Model.py``.
    """

    archi_type = "liae"

    def _build_parts(self) -> None:
        self.inter_AB = self._inter(2 * self.ae_dims)
        self.inter_B = self._inter(2 * self.ae_dims)
        self.decoder = self._decoder(2 * self.inter_AB.out_ch)

    def _wire(self, src: Tensor | None, dst: Tensor) -> SAEHDCodes:
        return liae_codes(self.encoder, self.inter_AB, self.inter_B, src, dst)

    def decoders(self) -> tuple[Decoder, Decoder]:
        return self.decoder, self.decoder


_ARCHIS: dict[str, type[SAEHD]] = {"df": DF, "liae": LIAE}


# ----------------------------------------------------------------------------------------------------
# From a configuration to a model
# ----------------------------------------------------------------------------------------------------


def parse_archi(archi: str) -> tuple[str, str]:
    """Split a DeepFaceLab archi string: ``parse_archi("liae-ud") -> ("liae", "ud")``.

    The type is "df" or "liae"; the options after '-' are letters among u, d, t (see
    :data:`ARCHI_OPTIONS`), each at most once, returned in the canonical order u, d, t.
    """
    if not isinstance(archi, str):
        raise TypeError(f"archi must be a str such as 'liae-ud', got {archi!r} ({type(archi).__name__})")
    archi_type, dash, opts = archi.strip().lower().partition("-")
    if archi_type not in ARCHI_TYPES:
        raise ValueError(f"unknown archi type {archi_type!r} in archi {archi!r}; known types: "
                         f"{', '.join(map(repr, ARCHI_TYPES))} (with options, e.g. 'liae-ud')")
    if dash and not opts:
        raise ValueError(f"archi {archi!r} has a '-' but no options; drop the '-' or add letters from "
                         f"{', '.join(ARCHI_OPTIONS)}")
    return archi_type, parse_options(opts)


_CONFIG_KEYS = ("archi", "resolution", "ae_dims", "e_dims", "d_dims", "d_mask_dims")


def build(config: Any, *, seed: int | None = None) -> DF | LIAE:
    """Build the SAEHD model a configuration describes.

    ``config`` is an ``aelab.train.Config`` or any object with the attributes, or a mapping with the
    keys, ``archi`` (e.g. "liae-ud"), ``resolution``, ``ae_dims``, ``e_dims``, ``d_dims``,
    ``d_mask_dims``. With ``seed`` the initial weights are drawn from a generator seeded with it
    (torch's global generator is left as it was); without, from the global generator.
    """
    values = {}
    for key in _CONFIG_KEYS:
        found = config.get(key) if isinstance(config, Mapping) else getattr(config, key, None)
        if found is None:
            raise ValueError(f"config has no {key!r}; an SAEHD config needs {', '.join(_CONFIG_KEYS)}")
        values[key] = found
    archi_type, opts = parse_archi(values.pop("archi"))
    if seed is None:
        return _ARCHIS[archi_type](options=opts, **values)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _ARCHIS[archi_type](options=opts, **values)


# ----------------------------------------------------------------------------------------------------
# The model summary (DeepFaceLab's summary.txt) and `aelab summary`
# ----------------------------------------------------------------------------------------------------


def _shape_text(out: Tensor | Sequence[Tensor]) -> str:
    if isinstance(out, Tensor):
        return "(N, " + ", ".join(str(s) for s in out.shape[1:]) + ")"
    return " + ".join(_shape_text(o) for o in out)


def summary(model: SAEHD) -> str:
    """A text table like DeepFaceLab's summary.txt: the model's options, then each part's parameter
    count and output shape, then the total.

    The shapes come from a forward pass on PyTorch's "meta" device, which computes shapes only: it
    is instant even for large models and leaves the model untouched.
    """
    if not isinstance(model, SAEHD):
        raise TypeError(f"summary expects a DF or LIAE model (see aelab.models.build), got {type(model).__name__}")
    shapes: dict[str, str] = {}
    hooks = [part.register_forward_hook(lambda _m, _i, out, name=name: shapes.__setitem__(name, _shape_text(out)))
             for name, part in model.parts().items()]
    try:
        meta = {name: torch.empty_like(p, device="meta") for name, p in model.named_parameters()}
        image = torch.empty(1, 3, model.resolution, model.resolution, device="meta")
        torch.func.functional_call(model, meta, (image, image))
    finally:
        for hook in hooks:
            hook.remove()
    options = {"archi": model.archi, "resolution": model.resolution, "ae_dims": model.ae_dims,
               "e_dims": model.e_dims, "d_dims": model.d_dims, "d_mask_dims": model.d_mask_dims}
    counts = {name: count_parameters(part) for name, part in model.parts().items()}
    rule = "=" * 64
    lines = [rule, "Model summary".center(64), rule]
    lines += [f"{key:>20}: {value}" for key, value in options.items()]
    lines += ["-" * 64, f"{'part':<12}{'parameters':>14}   output shape (image + mask for decoders)", "-" * 64]
    lines += [f"{name:<12}{count:>14,}   {shapes[name]}" for name, count in counts.items()]
    lines += ["-" * 64, f"{'total':<12}{sum(counts.values()):>14,}", rule]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``aelab summary``: print the summary of the model given by flags, or by a preset of
    :meth:`aelab.train.Config.preset` that the flags then override."""
    from aelab.train import PRESETS, Config  # lazily: aelab.train imports this module

    parser = argparse.ArgumentParser(prog="aelab summary",
                                     description="Print a SAEHD model's per-part parameter table.")
    parser.add_argument("--preset", choices=sorted(PRESETS), help="start from a named configuration, e.g. seed")
    parser.add_argument("--archi", help="df or liae, with options, e.g. liae-ud")
    for key in _CONFIG_KEYS[1:]:
        parser.add_argument("--" + key.replace("_", "-"), type=int, dest=key)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    config = Config.preset(args.preset).to_dict() if args.preset else {}
    config.update({key: value for key in _CONFIG_KEYS if (value := getattr(args, key)) is not None})
    missing = [key for key in _CONFIG_KEYS if key not in config]
    if missing:
        parser.error(f"missing {', '.join('--' + m.replace('_', '-') for m in missing)} (or give --preset seed)")
    try:
        model = build(config, seed=0)
    except (TypeError, ValueError) as error:
        parser.error(str(error))
    print(summary(model))
    return 0


# ----------------------------------------------------------------------------------------------------
# The first labs: a plain convolutional autoencoder and a VAE, from the same blocks
# ----------------------------------------------------------------------------------------------------


class ConvAutoencoder(nn.Module):
    """A small convolutional autoencoder built from SAEHD's own blocks (``Downscale``, ``Upscale``).

    Encoder: the image is zero-padded to 4·2ⁿ pixels (n = ceil(log2(resolution / 4)), at least 1),
    halved n times by ``Downscale`` (width, 2·width, ... up to 8·width channels) to a 4×4 map,
    flattened and mapped by one dense layer to ``latent_dims``. Decoder: the mirror image, dense ->
    (C, 4, 4), n ``Upscale``, a 1×1 conv and a sigmoid, cropped back to ``resolution``.
    So 64 px -> 4 halvings, 32 px -> 3, 28 px (digits) padded to 32 -> 3, 8 px -> 1.

    Images are (N, in_channels, resolution, resolution) in [0, 1]; ``forward`` returns the
    reconstruction, same shape, in [0, 1]. Weights are initialised as DeepFaceLab's.
    """

    _code_multiplier = 1  # the VAE's encoder outputs mean and log-variance

    def __init__(self, resolution: int = 64, in_channels: int = 3, latent_dims: int = 64, width: int = 32) -> None:
        super().__init__()
        self.resolution = _check_positive_int("resolution", resolution)
        if self.resolution < 4:
            raise ValueError(f"resolution must be at least 4 pixels, got {resolution}")
        self.in_channels = _check_positive_int("in_channels", in_channels)
        self.latent_dims = _check_positive_int("latent_dims", latent_dims)
        width = _check_positive_int("width", width)
        halvings = max(1, math.ceil(math.log2(self.resolution / 4)))
        pad = 4 * 2**halvings - self.resolution
        self._crop = pad // 2
        chs = [width * min(2**i, 8) for i in range(halvings)]
        flat = chs[-1] * 16
        self.encoder = nn.Sequential(
            nn.ZeroPad2d((pad // 2, pad - pad // 2, pad // 2, pad - pad // 2)),
            *(Downscale(a, b) for a, b in zip([self.in_channels] + chs, chs)),
            nn.Flatten(),
            _dense(flat, self.latent_dims * self._code_multiplier),
        )
        up_chs = chs[::-1] + chs[:1]
        self.decoder = nn.Sequential(
            _dense(self.latent_dims, flat),
            nn.Unflatten(1, (chs[-1], 4, 4)),
            *(Upscale(a, b) for a, b in zip(up_chs, up_chs[1:])),
            _conv(chs[0], self.in_channels, 1),
            nn.Sigmoid(),
        )

    def encode(self, x: Tensor) -> Tensor:
        """Codes (N, latent_dims) of images (N, C, R, R) in [0, 1]."""
        _check_images(x, "x", self.in_channels, self.resolution)
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        """Images (N, C, R, R) in [0, 1] from codes (N, latent_dims)."""
        if not isinstance(z, Tensor) or z.ndim != 2 or z.shape[1] != self.latent_dims:
            shape = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
            raise ValueError(f"z must be a tensor of shape (N, {self.latent_dims}), got {shape}")
        c, r = self._crop, self.resolution
        return self.decoder(z)[:, :, c:c + r, c:c + r]

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))


class VAEOutput(NamedTuple):
    """A VAE step: the reconstruction (N, C, R, R) in [0, 1], and the posterior's mean and log-variance."""

    recon: Tensor
    mu: Tensor
    logvar: Tensor


class VAE(ConvAutoencoder):
    """A variational autoencoder on the :class:`ConvAutoencoder` backbone (Kingma & Welling 2014).

    ``encode`` returns the Gaussian posterior's (mu, logvar); ``forward`` samples z = mu + σ·ε with
    the reparameterisation trick in training mode and takes z = mu in eval mode (repeatable
    outputs), then decodes. Pair it with ``aelab.losses.kl_divergence``.
    """

    _code_multiplier = 2

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        """(mu, logvar), each (N, latent_dims), of images (N, C, R, R) in [0, 1]."""
        mu, logvar = super().encode(x).chunk(2, dim=1)
        return mu, logvar

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> VAEOutput:  # type: ignore[override]
        mu, logvar = self.encode(x)
        z = mu
        if self.training:
            eps = torch.randn(mu.shape, generator=generator, device=mu.device if generator is None else generator.device)
            z = mu + torch.exp(0.5 * logvar) * eps.to(mu.device)
        return VAEOutput(self.decode(z), mu, logvar)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Decode ``n`` codes drawn from the prior N(0, I): images (n, C, R, R) in [0, 1]."""
        n = _check_positive_int("n", n)
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dims, generator=generator,
                        device=device if generator is None else generator.device)
        return self.decode(z.to(device))


# ----------------------------------------------------------------------------------------------------
# The GAN's discriminator: core/leras/models/PatchDiscriminator.py, UNetPatchDiscriminator
# ----------------------------------------------------------------------------------------------------


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
        self.patch_size = _check_positive_int("patch_size", patch_size)
        self.in_channels = _check_positive_int("in_channels", in_channels)
        base_ch = _check_positive_int("base_ch", base_ch)
        layers = _find_archi(self.patch_size)
        self.total_stride = int(np.prod([s for _, s in layers]))
        chs = [min(base_ch * 2**i, 512) for i in range(len(layers) + 1)]  # DFL's level_chs[-1], [0], ...
        self.in_conv = _conv(self.in_channels, chs[0], 1)
        self.convs = nn.ModuleList(_conv(chs[i], chs[i + 1], k, s) for i, (k, s) in enumerate(layers))
        self._strides = [s for _, s in layers][::-1]
        ups = []
        for i, (k, s) in reversed(list(enumerate(layers))):
            layer = nn.ConvTranspose2d(chs[i + 1] * (1 if i == len(layers) - 1 else 2), chs[i], k, stride=s)
            _glorot_zero_(layer)
            ups.append(layer)
        self.upconvs = nn.ModuleList(ups)
        self.out_conv = _conv(chs[0] * 2, 1, 1)
        self.center_out = _conv(chs[-1], 1, 1)
        self.center_conv = _conv(chs[-1], chs[-1], 1)

    def forward(self, x: Tensor) -> PatchLogits:
        if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[1] != self.in_channels:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must be images (N, {self.in_channels}, H, W) in [0, 1], got {shape}")
        if x.shape[2] % self.total_stride or x.shape[3] % self.total_stride:
            raise ValueError(f"image sides must be multiples of {self.total_stride} for patch_size "
                             f"{self.patch_size}, got {tuple(x.shape[2:])}")
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
            up = upconv(x)[:, :, start:start + skip.shape[2], start:start + skip.shape[3]]
            x = torch.cat([skip, F.leaky_relu(up, 0.2)], dim=1)
        return PatchLogits(center=center, pixel=self.out_conv(x))


# ----------------------------------------------------------------------------------------------------
# The true-face discriminator: core/leras/models/CodeDiscriminator.py
# ----------------------------------------------------------------------------------------------------


class CodeDiscriminator(nn.Module):
    """DeepFaceLab's ``CodeDiscriminator``: tells src's inter codes from dst's (SAEHD's ``true_face_power``).

    1 + code_res // 8 convolutions with stride 2 (the first 4×4, the rest 3×3; leras' "SAME" pads
    kernel // 2 on every side), ch·min(2^i, 8) channels, leaky ReLU 0.1, then a 1×1 conv to one logit
    per position. Glorot-uniform kernels and zero biases (leras sets no initialiser: TensorFlow's
    default). Input: codes (N, in_ch, code_res, code_res), DF's ``inter`` output.
    """

    def __init__(self, in_ch: int, code_res: int, ch: int = 256) -> None:
        super().__init__()
        in_ch, code_res, ch = (_check_positive_int(n, v) for n, v in (("in_ch", in_ch), ("code_res", code_res), ("ch", ch)))
        self.convs = nn.ModuleList()
        previous = in_ch
        for i in range(1 + code_res // 8):
            current = ch * min(2**i, 8)
            kernel = 4 if i == 0 else 3
            layer = nn.Conv2d(previous, current, kernel, stride=2, padding=kernel // 2)
            _glorot_zero_(layer)
            self.convs.append(layer)
            previous = current
        self.out_conv = _conv(previous, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.1)
        return self.out_conv(x)
