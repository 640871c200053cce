"""DeepFaceLab 1.0's H128: the half-face model SAEHD replaced, rebuilt for the seed card's benchmark (lab 08).

DeepFaceLab 1.0 (``models/Model_H128/Model.py``, ``Build``; removed from DeepFaceLab 2.0, so not in the
pinned commit; faceswap's ``plugins/train/model/dfl_h128.py`` documents the same network) is a DF-style
autoencoder with no inter block of its own: the bottleneck lives inside the encoder.

- ``encoder``: four Downscales (5×5, stride 2, leaky ReLU 0.1) of e, 2e, 4e, 8e channels (e = 128:
  128–1024), flatten, Dense(ae_dims) (512; 256 with DFL's "lighter_ae"), Dense(L·L·ae_dims) with
  L = resolution/16 (8 at 128 px), reshape (ae_dims, L, L), one Upscale(ae_dims) → (ae_dims, 2L, 2L);
  no activation after the dense layers.
- ``decoder_src``, ``decoder_dst``: an image branch Upscale(ae_dims), Upscale(ae_dims/2),
  Upscale(ae_dims/4) then a 5×5 conv to 3 channels, sigmoid; a mask branch of the same widths from the
  same input, a 5×5 conv to 1 channel, sigmoid. No residual blocks.
- swap = decoder_src(encoder(dst)), as DF's: DF's wiring (:func:`aelab.models.df_codes`) with the
  encoder holding what DF's ``inter`` holds.

The kit's :class:`aelab.models.Downscale` and :class:`aelab.models.Upscale` are DFL 1.0's ``downscale``
and ``upscale`` as well. H128 is a :class:`aelab.models.SwapModel` (an
:class:`aelab.models.EncoderTwoDecoders`): its forward passes return :class:`aelab.models.SAEHDOutput`
and :class:`aelab.models.SAEHDSwap`, so the kit's trainer, metrics and merge treat it like DF and LIAE.
Images are tensors (N, 3, R, R) of floats in [0, 1].
"""

from __future__ import annotations

from torch import Tensor, nn

from aelab.models.deepfakearchi import Downscale, Upscale
from aelab.models.saehd import EncoderTwoDecoders
from aelab.validate import check_int

__all__ = ["H128", "H128Decoder", "H128Encoder"]


def _glorot(layer: nn.Conv2d | nn.Linear) -> nn.Conv2d | nn.Linear:
    """Keras' default initialisation (DFL 1.0 ran on Keras): Glorot-uniform weights, zero biases."""
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class H128Encoder(nn.Module):
    """DFL 1.0 H128 ``Encoder``: four Downscales, Dense(ae_dims), Dense(L·L·ae_dims), reshape, Upscale.

    (N, 3, R, R) -> (N, ae_dims, R/8, R/8).
    """

    def __init__(self, resolution: int, ae_dims: int, e_dims: int) -> None:
        super().__init__()
        self.ae_dims, self.side = ae_dims, resolution // 16
        widths = [3, e_dims, 2 * e_dims, 4 * e_dims, 8 * e_dims]
        self.downscales = nn.Sequential(*(Downscale(a, b) for a, b in zip(widths, widths[1:])))
        self.dense1 = _glorot(nn.Linear(8 * e_dims * self.side**2, ae_dims))
        self.dense2 = _glorot(nn.Linear(ae_dims, ae_dims * self.side**2))
        self.upscale = Upscale(ae_dims, ae_dims)

    def forward(self, x: Tensor) -> Tensor:
        # Keras flattens (H, W, C); the kit's tensors are (C, H, W) -- as for SAEHD, a fixed
        # permutation of the dense layer's inputs, which changes nothing learnt.
        code = self.dense2(self.dense1(self.downscales(x).flatten(1)))
        return self.upscale(code.view(-1, self.ae_dims, self.side, self.side))


class H128Decoder(nn.Module):
    """DFL 1.0 H128 ``Decoder``: image and mask branches of three Upscales each (ae_dims, /2, /4) from
    the same input, each ending in a 5×5 conv and a sigmoid. (N, ae_dims, R/8, R/8) -> image
    (N, 3, R, R), mask (N, 1, R, R)."""

    def __init__(self, ae_dims: int) -> None:
        super().__init__()
        widths = [ae_dims, ae_dims, ae_dims // 2, ae_dims // 4]

        def branch(out_ch: int) -> nn.Sequential:
            ups = [Upscale(a, b) for a, b in zip(widths, widths[1:])]
            return nn.Sequential(*ups, _glorot(nn.Conv2d(widths[-1], out_ch, 5, padding=2)), nn.Sigmoid())

        self.image = branch(3)
        self.mask = branch(1)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return self.image(z), self.mask(z)


class H128(EncoderTwoDecoders):
    """DeepFaceLab 1.0's H128 at any resolution that is a multiple of 16: ``encoder``, ``decoder_src``,
    ``decoder_dst``. The defaults are DFL's (128 px, ae_dims 512, e_dims 128); ``ae_dims=256`` is its
    "lighter_ae" option. ``model(src, dst)`` and ``model.swap(dst)`` as :class:`aelab.models.DF`;
    ``parts()`` are what DeepFaceLab 1.0 saved as ``encoder.h5``, ``decoder_src.h5``, ``decoder_dst.h5``."""

    archi_type = archi = "h128"

    def __init__(self, *, resolution: int = 128, ae_dims: int = 512, e_dims: int = 128) -> None:
        super().__init__()
        self.resolution = check_int("resolution", resolution, minimum=16)
        if resolution % 16:
            raise ValueError(
                f"resolution must be a multiple of 16 (four stride-2 convs, then an upscale), got {resolution}"
            )
        self.ae_dims = check_int("ae_dims", ae_dims, minimum=4)
        if ae_dims % 4:
            raise ValueError(f"ae_dims must be a multiple of 4 (the decoder narrows to ae_dims / 4), got {ae_dims}")
        self.e_dims = check_int("e_dims", e_dims, minimum=1)
        self.encoder = H128Encoder(resolution, ae_dims, e_dims)
        self.decoder_src = H128Decoder(ae_dims)
        self.decoder_dst = H128Decoder(ae_dims)
