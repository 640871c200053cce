"""The first labs' models: a plain convolutional autoencoder and a VAE, built from SAEHD's own blocks,
and the plain autoencoder wired to swap faces.

Not part of DeepFaceLab: :class:`ConvAutoencoder` stacks DeepFakeArchi's ``Downscale`` and ``Upscale``
(:mod:`aelab.models.deepfakearchi`) with leras' initialisation, so that the first labs already meet the
blocks of DF and LIAE; :class:`VAE` puts a Gaussian posterior on the same backbone (Kingma & Welling
2014); :class:`SwapAutoencoder` is lab 01's autoencoder with DF's wiring, the baseline of the
benchmark of architectures (lab 08). Images are tensors (N, C, H, W) of floats in [0, 1]; every model
ends in a sigmoid.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from aelab.models.deepfakearchi import Downscale, Upscale
from aelab.models.leras import conv2d, dense
from aelab.models.saehd import EncoderTwoDecoders
from aelab.validate import check_images, check_positive_int, check_tensor

__all__ = ["ConvAutoencoder", "VAEOutput", "VAE", "SwapAutoencoder"]


class ConvAutoencoder(nn.Module):
    """A small convolutional autoencoder built from SAEHD's own blocks (``Downscale``, ``Upscale``).

    Encoder: the image is zero-padded to 4·2ⁿ pixels (n = ceil(log2(resolution / 4)), at least 1),
    halved n times by ``Downscale`` (width, 2·width, ... up to 8·width channels) to a 4×4 map,
    flattened and mapped by one dense layer to ``latent_dims``. Decoder: the mirror image, dense ->
    (C, 4, 4), n ``Upscale``, a 1×1 conv and a sigmoid, cropped back to ``resolution``.
    So 64 px -> 4 halvings, 32 px -> 3, 28 px (digits) padded to 32 -> 3, 8 px -> 1.

    Images are (N, in_channels, resolution, resolution) in [0, 1]; ``forward`` returns the
    reconstruction, same shape, in [0, 1] (``out_channels`` channels: ``in_channels`` unless given).
    Weights are initialised as DeepFaceLab's.
    """

    _code_multiplier = 1  # the VAE's encoder outputs mean and log-variance

    def __init__(
        self,
        resolution: int = 64,
        in_channels: int = 3,
        latent_dims: int = 64,
        width: int = 32,
        out_channels: int | None = None,
    ) -> None:
        super().__init__()
        self.resolution = check_positive_int("resolution", resolution)
        if self.resolution < 4:
            raise ValueError(f"resolution must be at least 4 pixels, got {resolution}")
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.out_channels = in_channels if out_channels is None else check_positive_int("out_channels", out_channels)
        self.latent_dims = check_positive_int("latent_dims", latent_dims)
        width = check_positive_int("width", width)
        halvings = max(1, math.ceil(math.log2(self.resolution / 4)))
        pad = 4 * 2**halvings - self.resolution
        self._crop = pad // 2
        chs = [width * min(2**i, 8) for i in range(halvings)]
        flat = chs[-1] * 16
        self.encoder = nn.Sequential(
            nn.ZeroPad2d((pad // 2, pad - pad // 2, pad // 2, pad - pad // 2)),
            *(Downscale(a, b) for a, b in zip([self.in_channels] + chs, chs)),
            nn.Flatten(),
            dense(flat, self.latent_dims * self._code_multiplier),
        )
        up_chs = chs[::-1] + chs[:1]
        self.decoder = nn.Sequential(
            dense(self.latent_dims, flat),
            nn.Unflatten(1, (chs[-1], 4, 4)),
            *(Upscale(a, b) for a, b in zip(up_chs, up_chs[1:])),
            conv2d(chs[0], self.out_channels, 1),
            nn.Sigmoid(),
        )

    def encode(self, x: Tensor) -> Tensor:
        """Codes (N, latent_dims) of images (N, C, R, R) in [0, 1]."""
        check_images("x", x, channels=self.in_channels, resolution=self.resolution)
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        """Images (N, out_channels, R, R) in [0, 1] from codes (N, latent_dims)."""
        check_tensor("z", z, floating=True)
        if z.ndim != 2 or z.shape[1] != self.latent_dims:
            raise ValueError(f"z must be a tensor of shape (N, {self.latent_dims}), got {tuple(z.shape)}")
        c, r = self._crop, self.resolution
        return self.decoder(z)[:, :, c : c + r, c : c + r]

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
            eps = torch.randn(
                mu.shape, generator=generator, device=mu.device if generator is None else generator.device
            )
            z = mu + torch.exp(0.5 * logvar) * eps.to(mu.device)
        return VAEOutput(self.decode(z), mu, logvar)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Decode ``n`` codes drawn from the prior N(0, I): images (n, C, R, R) in [0, 1]."""
        n = check_positive_int("n", n)
        device = next(self.parameters()).device
        z = torch.randn(
            n, self.latent_dims, generator=generator, device=device if generator is None else generator.device
        )
        return self.decode(z.to(device))


class _ImageAndMask(nn.Module):
    """A :class:`ConvAutoencoder`'s decoder drawing four channels, split as an SAEHD decoder returns
    them: (image (N, 3, R, R), mask (N, 1, R, R)), both in [0, 1]."""

    def __init__(self, autoencoder: ConvAutoencoder) -> None:
        super().__init__()
        self.decoder = autoencoder.decoder
        self._crop, self._resolution = autoencoder._crop, autoencoder.resolution

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        c, r = self._crop, self._resolution
        drawn = self.decoder(z)[:, :, c : c + r, c : c + r]
        return drawn[:, :3], drawn[:, 3:]


class SwapAutoencoder(EncoderTwoDecoders):
    """Lab 01's plain autoencoder (:class:`ConvAutoencoder`) wired to swap faces as DF is: one
    ``encoder`` for both people, ``decoder_src`` and ``decoder_dst``; swap = decoder_src(encoder(dst)).

    The benchmark's baseline (lab 08): what DeepFaceLab's blocks give without SAEHD's inter, residual
    blocks and mask branch. Each decoder is a :class:`ConvAutoencoder`'s decoder that draws a fourth
    channel, the face mask (SAEHD gives the mask a branch of its own), so the model trains on SAEHD's
    loss and merges through its learned mask like DF. The code is the encoder's flat vector of
    ``latent_dims`` numbers; the defaults are lab 01's (``latent_dims`` 64, ``width`` 16).
    """

    archi_type = archi = "ae"

    def __init__(self, *, resolution: int = 32, latent_dims: int = 64, width: int = 16) -> None:
        super().__init__()
        src = ConvAutoencoder(resolution, 3, latent_dims, width, out_channels=4)
        dst = ConvAutoencoder(resolution, 3, latent_dims, width, out_channels=4)
        self.resolution, self.latent_dims, self.width = src.resolution, src.latent_dims, width
        self.encoder = src.encoder
        self.decoder_src = _ImageAndMask(src)
        self.decoder_dst = _ImageAndMask(dst)
